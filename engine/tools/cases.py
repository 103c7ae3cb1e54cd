"""Cases: the venues' worked examples as data beside the rules. A case is a
snapshot, the values the document gives (with a tolerance), and the quoted
source; `marginspec check` and pytest both run them through this module."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MarginspecError, RuleFileError
from ..run.result import Result
from ..run.rules import Rules, snapshot_date
from ..run.snapshot import read_snapshot_file
from ..source.catalog import Catalog
from ..source.validation import checked_document
from ..source.yamlfile import Document

DEFAULT_REL = 1e-9
DEFAULT_ABS = 1e-12
TARGET = re.compile(r"^([a-z][a-z0-9_]*)((?:\[[^\]]+\])*)$")


@dataclass
class CaseOutcome:
    file: str
    case: str
    ruleset: str
    failures: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    version: str | None = None  # the rule-set version the case ran on (venue/mode@date)
    build: str | None = None  # the version with the table versions it was built with (RuleSet.key)
    rows: dict[str, int] = field(default_factory=dict)  # rows per axis in the case's snapshot

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class Case:
    file: str
    name: str
    ruleset: str
    body: dict[str, Any]
    doc: Document
    exchanges: tuple[Path, ...]


def case_files(catalog: Catalog, extra: Iterable[Path] = ()) -> list[tuple[Path, str, tuple[Path, ...]]]:
    """Every `*.cases.yaml` in a `<venue>/<mode>/` folder of a visible rules folder (beside rule files or
    not: a user may keep cases for a bundled rule set in a folder of their own), then the case files
    `extra` names wherever they are: (path, display name, exchange roots for `snapshot_file`). A case
    belongs to the rule set its file names in `ruleset:`, not to the folder it lies in."""
    out: dict[Path, tuple[Path, str, tuple[Path, ...]]] = {}
    for root in catalog.roots:
        for path in sorted(root.glob("*/*/*.cases.yaml")):
            out.setdefault(path.resolve(), (path, str(path.relative_to(root.parent)), catalog.exchanges_beside(root)))
    every_exchanges = tuple(dict.fromkeys(x for root in reversed(catalog.roots) for x in catalog.exchanges_beside(root)))
    for path in extra:
        out.setdefault(path.resolve(), (path, str(path), every_exchanges))
    return list(out.values())


def load_cases(path: Path, display: str, exchanges: tuple[Path, ...]) -> list[Case]:
    doc = checked_document(path, display, "cases")
    return [Case(display, name, doc.data["ruleset"], body, doc, exchanges) for name, body in doc.data["cases"].items()]


def case_quote_problems(cases: list[Case], rule_sets: list[Any], texts: dict[str, Any]) -> list[RuleFileError]:
    """Verbatim quotes of cases that the stored text of their document does not contain. A case cites its
    file's documents or those of its rule set's versions."""
    from types import SimpleNamespace

    from ..source.model import Citation, SourceDocument
    from ..source.provenance import missing_quotes

    entries = []
    for case in cases:
        docs: dict[str, Any] = {}
        for rs in rule_sets:
            if rs.id == case.ruleset:
                docs.update(rs.documents)
        docs.update({k: SourceDocument.model_validate(v) for k, v in (case.doc.data.get("documents") or {}).items()})
        cited = SimpleNamespace(sources=[Citation.model_validate(c) for c in case.body.get("sources", [])])
        entries.append((cited, docs, lambda *p, c=case: c.doc.where(("cases", c.name) + p)))
    return missing_quotes(entries, texts)


def snapshot_data(case: Case) -> Any:
    if "snapshot" in case.body:
        return case.body["snapshot"]
    rel = case.body["snapshot_file"]
    where = case.doc.where(("cases", case.name, "snapshot_file"))
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise RuleFileError(f"cases.{case.name}.snapshot_file: {rel!r} must be a path below exchanges/ (no '..', not absolute)", where)
    for root in case.exchanges:
        if (root / rel).is_file():
            return read_snapshot_file(root / rel)
    raise RuleFileError(f"cases.{case.name}.snapshot_file: {rel!r} not found below exchanges/", case.doc.where(("cases", case.name, "snapshot_file")))


def actual_value(result: Result, target: str) -> Any:
    """Read `name`, `name[key]`, `name[key][grid index]`, `state` or `state[axis:key]` from a result."""
    m = TARGET.match(target)
    if not m:
        raise KeyError(target)
    name, subs = m.group(1), re.findall(r"\[([^\]]+)\]", m.group(2))
    if name == "state":
        if not subs:
            return result.state()
        axis, _, key = subs[0].partition(":")
        return result.state(axis, key)
    value: Any = result.trace[name].value
    for s in subs:
        value = value[int(s)] if isinstance(value, list) else value[s]
    return value


def compare(expected: Any, actual: Any, rel: float, abs_: float) -> str | None:
    """None when equal within tolerance, else a description of the difference."""
    if isinstance(expected, bool) or (isinstance(expected, str) and expected not in ("inf", "-inf")):
        return None if actual == expected else f"expected {expected!r}, got {actual!r}"
    want = float(expected) if not isinstance(expected, str) else (math.inf if expected == "inf" else -math.inf)
    if not isinstance(actual, (int, float)) or isinstance(actual, bool):
        return f"expected a number {want!r}, got {actual!r}"
    if math.isinf(want) or math.isinf(actual):
        return None if want == actual else f"expected {want!r}, got {actual!r}"
    diff = abs(actual - want)
    if diff <= max(rel * abs(want), abs_):
        return None
    return f"expected {want!r}, got {actual!r} (difference {diff:.3g}; tolerance rel {rel:g}, abs {abs_:g})"


def run_case(catalog: Catalog, case: Case, compiled: dict[str, Rules]) -> CaseOutcome:
    out = CaseOutcome(case.file, case.name, case.ruleset)
    try:
        data = snapshot_data(case)
        spec = f"{case.ruleset}@{case.body['version']}" if "version" in case.body else case.ruleset
        rs = catalog.load(spec, snapshot_date(data))  # the snapshot's date picks the tables (and the version, unless pinned)
        rules = compiled.setdefault(rs.key, Rules(rs))
        snap = rules.snapshot(data, f"{case.file}:{case.name}")
        result = rules.evaluate(snap)
        out.version, out.build, out.rows = rs.ref, rs.key, dict(snap.counts)
    except MarginspecError as exc:
        out.failures.append(str(exc))
        return out
    tol = case.body.get("tolerance", {})
    for target, want in case.body["expect"].items():
        rel, abs_ = tol.get("rel", DEFAULT_REL), tol.get("abs", DEFAULT_ABS)
        if isinstance(want, dict):
            rel, abs_, want = want.get("rel", rel), want.get("abs", abs_), want["value"]
        try:
            got = actual_value(result, target)
        except (KeyError, IndexError, ValueError):
            loc = case.doc.where(("cases", case.name, "expect", target), key=True)
            out.failures.append(f"{loc}: {target}: no such value in the result of {result.ruleset}")
            continue
        problem = compare(want, got, rel, abs_)
        out.checked.append(target)
        if problem:
            out.failures.append(f"{target}: {problem}")
    return out
