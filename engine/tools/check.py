"""`marginspec check`: load and compile every selected rule file (so every
formula is parsed and every name resolved), then run the cases beside them."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import MarginspecError, RuleFileError, RuleFileErrors, UsageError
from ..ir.compiler import compile_plan
from ..run.kernel import load_kernel
from ..run.rules import Rules
from ..source.catalog import RULE_FILE, Catalog
from ..source.provenance import rule_set_problems
from .cases import CaseOutcome, case_files, case_quote_problems, load_cases, run_case
from .coverage import uncovered

CASES = re.compile(r".*\.cases\.yaml$")


def roots_and_selection(paths: list[Path]) -> tuple[list[Path], set[Path] | None]:
    """Extra rule roots implied by the paths, and the rule/case files they select (None: everything)."""
    if not paths:
        return [], None
    roots: list[Path] = []
    chosen: set[Path] = set()
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
        files = [p] if p.is_file() else list(p.rglob("*.yaml"))
        for f in files:
            if RULE_FILE.match(f.name) or CASES.match(f.name):
                chosen.add(f.resolve())
                roots.append(f.resolve().parents[2])
        if p.is_file() and not (RULE_FILE.match(p.name) or CASES.match(p.name)):
            raise UsageError(f"{p}: not a rule file (<venue>/<mode>/YYYY-MM-DD.yaml) or a case file (*.cases.yaml)")
    return list(dict.fromkeys(roots)), chosen


def run_check(paths: list[Path], rule_folders: list[Path], coverage: bool) -> int:
    """Load and compile the selected rule files, run their cases, print a line per file; the exit status."""
    roots, chosen = roots_and_selection(paths)
    catalog = Catalog(rule_folders + roots)
    invalid = failed = 0
    loaded = 0
    broken: set[str] = set()
    compiled: dict[str, Rules] = {}
    quoted: set[str] = set()  # files whose quotes were checked against the stored document texts
    for rid, versions in sorted(catalog.files.items()):
        for e in versions:
            if chosen is not None and e.path.resolve() not in chosen and not any(
                c.parent == e.path.resolve().parent and CASES.match(c.name) for c in chosen
            ):
                continue
            try:
                days = catalog.table_dates(e, catalog.window_end(e))
                for day in days:  # every combination of table versions the version is used with
                    rs = catalog.load_file(e, at=day)
                    plan = compile_plan(rs)
                    load_kernel(rs, plan)
                    compiled[rs.key] = Rules(rs)
                    own = {e.display} | {v.file for v in rs.table_versions.values()} - quoted
                    problems = rule_set_problems(rs, catalog.document_texts, own)
                    quoted |= own
                    if problems:
                        raise RuleFileErrors(problems)
                loaded += 1
                dated = f", built with the tables of {len(days)} dates" if len(days) > 1 else ""
                print(f"ok    {e.display}  ({len(rs.quantities)} quantities, {len(rs.thresholds)} thresholds, {len(rs.tables)} tables{dated})")
            except (RuleFileError, RuleFileErrors) as exc:
                invalid += 1
                broken.add(rid)
                print(f"FAIL  {e.display}\n{_indent(str(exc))}")
    outcomes: list[CaseOutcome] = []
    for path, display, exchanges in case_files(catalog):
        if chosen is not None and path.resolve() not in chosen and not any(c.parent == path.resolve().parent for c in chosen):
            continue
        if f"{path.parent.parent.name}/{path.parent.name}" in broken:
            print(f"skip  {display}  (a version of its rule set does not load)")
            continue
        try:
            cases = load_cases(path, display, exchanges)
            problems = case_quote_problems(cases, [r.ruleset for r in compiled.values()], catalog.document_texts)
            if problems:
                raise RuleFileErrors(problems)
        except MarginspecError as exc:
            invalid += 1
            print(f"FAIL  {display}\n{_indent(str(exc))}")
            continue
        results = [run_case(catalog, c, compiled) for c in cases]
        outcomes += results
        bad = [r for r in results if not r.ok]
        failed += len(bad)
        print(f"{'ok   ' if not bad else 'FAIL '} {display}  ({len(results) - len(bad)}/{len(results)} cases pass)")
        for r in bad:
            print(f"      case {r.case} ({r.ruleset}):")
            for f in r.failures:
                print(_indent(f, 10))
    invalid += _check_mappings(catalog, compiled)
    passed = sum(1 for o in outcomes if o.ok)
    print(f"\n{loaded} rule file(s) loaded, {invalid} invalid; {passed} case(s) passed, {failed} failed")
    if coverage:
        missing, total = uncovered(compiled, outcomes)
        print(f"coverage: {total - len(missing)} of {total} quantities and thresholds are exercised by a passing case")
        for entry in missing:
            print(f"      not exercised: {entry.file}:{entry.line}: {entry.section}.{entry.name}")
        if missing and not (invalid or failed):
            return 1
    if chosen is not None and loaded + invalid + len(outcomes) == 0:
        raise UsageError("nothing to check in the given paths")
    return 3 if invalid else (1 if failed else 0)


def _check_mappings(catalog: Catalog, compiled: dict[str, Rules]) -> int:
    """Load the payload mappings of the venues checked, and check the names they target against every loaded
    version of those venues' rule sets; print a line per file, return the number of invalid files."""
    from ..ingest import exchange_roots
    from ..ingest.mapping import check_against_rules, load_mapping, mapping_files
    from ..ingest.tables import target_problems
    from ..source.catalog import bundled_dir

    invalid = 0
    for venue in sorted({r.ruleset.venue for r in compiled.values()}):
        for path, shown in mapping_files(exchange_roots(catalog), venue, bundled_dir("exchanges")):
            try:
                mapping = load_mapping(path, shown)
                problems = check_against_rules(mapping, [r.ruleset for r in compiled.values() if r.ruleset.venue == venue])
                problems += target_problems(mapping, catalog)
                if problems:
                    raise RuleFileErrors(problems)
                print(f"ok    {shown}  ({len(mapping.endpoints)} endpoints, {sum(len(r.fields) for r in mapping.reported)} reported values, "
                      f"{len(mapping.tables)} tables)")
            except (RuleFileError, RuleFileErrors) as exc:
                invalid += 1
                print(f"FAIL  {shown}\n{_indent(str(exc))}")
    return invalid


def _indent(text: str, n: int = 6) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())
