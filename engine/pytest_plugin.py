"""A pytest plugin (entry point `pytest11`): `pytest --marginspec-rules DIR` collects
a rules folder's worked examples as tests, as OpenFisca's YAML tests are: one test
per rule-file version (it loads and compiles: every formula parses, every unit
agrees, every quote is in its stored document) and one per case in every
`*.cases.yaml` of the folder (for the folder's own rule sets or for bundled ones).
A failure shows the case's differences or the rule file's file:line:column.

Nothing is imported from marginspec until the option is given, so the plugin costs
other test runs nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

OPTION = "--marginspec-rules"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("marginspec")
    group.addoption(OPTION, action="append", metavar="DIR", default=[],
                    help="collect the rule files and cases of a marginspec rules folder (<DIR>/<venue>/<mode>/...) as tests; repeatable")


class MarginspecFailure(Exception):
    """What a failed rule file or case says, shown as the test's failure without a traceback."""


class _Item(pytest.Item):
    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, MarginspecFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class RuleFileItem(_Item):
    """One rule-file version loads and compiles, with every combination of table versions it is used with."""

    def __init__(self, *, entry: Any, state: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.entry, self.state = entry, state

    def runtest(self) -> None:
        from .api import Rules
        from .errors import RuleFileError, RuleFileErrors
        from .ir.compiler import compile_plan
        from .run.kernel import load_kernel
        from .source.provenance import rule_set_problems

        catalog = self.state["catalog"]
        try:
            for day in catalog.table_dates(self.entry, catalog.window_end(self.entry)):
                rs = catalog.load_file(self.entry, at=day)
                load_kernel(rs, compile_plan(rs))
                self.state["compiled"].setdefault(rs.key, Rules(rs))
                problems = rule_set_problems(rs, catalog.document_texts, {self.entry.display})
                if problems:
                    raise RuleFileErrors(problems)
        except (RuleFileError, RuleFileErrors) as exc:
            raise MarginspecFailure(str(exc)) from None

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.entry.path, None, f"rule file {self.entry.display}"


class CaseItem(_Item):
    """One case: its snapshot evaluated by the version it names (or its date chooses), every expected value checked."""

    def __init__(self, *, case: Any, state: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.case, self.state = case, state

    def runtest(self) -> None:
        from .tools.cases import run_case

        outcome = run_case(self.state["catalog"], self.case, self.state["compiled"])
        if not outcome.ok:
            raise MarginspecFailure(f"case {self.case.name} ({outcome.version or self.case.ruleset}) in {self.case.file}:\n  "
                                    + "\n  ".join(outcome.failures))
        if not outcome.checked:
            raise MarginspecFailure(f"case {self.case.name} in {self.case.file} checks no value")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"case {self.case.name}"


class CaseFile(pytest.File):
    """A `*.cases.yaml` file of the folder: one test per case (a file that does not load is one failing test)."""

    def __init__(self, *, state: dict[str, Any], display: str, exchanges: tuple[Path, ...], **kwargs: Any):
        super().__init__(**kwargs)
        self.state, self.display, self.exchanges = state, display, exchanges

    def collect(self) -> Any:
        from .errors import MarginspecError
        from .tools.cases import load_cases

        try:
            cases = load_cases(self.path, self.display, self.exchanges)
        except MarginspecError as exc:
            yield BrokenFile.from_parent(self, name="load", message=str(exc))
            return
        for case in cases:
            yield CaseItem.from_parent(self, name=case.name, case=case, state=self.state)


class RuleFile(pytest.File):
    """A rule file of the folder: one test, that it loads and compiles."""

    def __init__(self, *, state: dict[str, Any], entry: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.state, self.entry = state, entry

    def collect(self) -> Any:
        yield RuleFileItem.from_parent(self, name=f"{self.entry.id}@{self.entry.valid_from}", entry=self.entry, state=self.state)


class BrokenFile(_Item):
    def __init__(self, *, message: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.message = message

    def runtest(self) -> None:
        raise MarginspecFailure(self.message)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the folders' rule files and cases to the tests pytest found (first, so that -k and -m select among them)."""
    folders = [Path(d) for d in config.getoption(OPTION) or []]
    if not folders:
        return
    from .errors import UsageError
    from .source.catalog import Catalog
    from .tools.cases import case_files

    for folder in folders:
        if not folder.is_dir():
            raise pytest.UsageError(f"{OPTION} {folder}: no such folder")
    try:
        catalog = Catalog(folders)
    except UsageError as exc:
        raise pytest.UsageError(f"{OPTION}: {exc}") from None
    state: dict[str, Any] = {"catalog": catalog, "compiled": {}}
    roots = {f.resolve() for f in folders}
    for versions in catalog.files.values():
        for e in versions:
            if any(r in e.path.resolve().parents for r in roots):
                items.extend(RuleFile.from_parent(session, path=e.path, nodeid=_node_id(config, e.path), state=state, entry=e).collect())
    for path, display, exchanges in case_files(catalog):
        if any(r in path.resolve().parents for r in roots):
            items.extend(CaseFile.from_parent(session, path=path, nodeid=_node_id(config, path), state=state, display=display,
                                              exchanges=exchanges).collect())


def _node_id(config: pytest.Config, path: Path) -> str:
    """The file's path relative to pytest's root folder (absolute when outside it), as pytest names test files."""
    try:
        return path.resolve().relative_to(config.rootpath.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
