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
from ..source.validation import checked_document
from .cases import CaseOutcome, case_files, case_quote_problems, load_cases, run_case
from .coverage import uncovered

CASES = re.compile(r".*\.cases\.yaml$")


def roots_and_selection(paths: list[Path]) -> tuple[list[Path], set[Path] | None]:
    """Extra rule roots implied by the paths, and the rule/case files they select (None: everything). A case
    file's folder is a rules folder only when it holds rule files: a user's own cases for a bundled rule set
    may lie anywhere."""
    if not paths:
        return [], None
    roots: list[Path] = []
    chosen: set[Path] = set()
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
        if p.is_file() and not (RULE_FILE.match(p.name) or CASES.match(p.name)):
            raise UsageError(f"{p}: not a rule file (<venue>/<mode>/YYYY-MM-DD.yaml) or a case file (*.cases.yaml)")
        files = [p] if p.is_file() else list(p.rglob("*.yaml"))
        for f in files:
            f = f.resolve()
            if RULE_FILE.match(f.name) or (CASES.match(f.name) and any(RULE_FILE.match(x.name) for x in f.parent.glob("*.yaml"))):
                roots.append(f.parents[2])
            if RULE_FILE.match(f.name) or CASES.match(f.name):
                chosen.add(f)
    return list(dict.fromkeys(roots)), chosen


def _case_rule_sets(catalog: Catalog, case_paths: list[Path]) -> set[str]:
    """The rule sets the given case files name (`ruleset:`, aliases resolved); unreadable files name none
    here and fail later with their own message."""
    out = set()
    for path in case_paths:
        try:
            ruleset = checked_document(path, str(path), "cases").data["ruleset"]
        except MarginspecError:
            continue
        out.add(catalog.resolve_id(*ruleset.split("/", 1)))
    return out


def run_check(paths: list[Path], rule_folders: list[Path], coverage: bool) -> int:
    """Load and compile the selected rule files, run their cases, print a line per file; the exit status.
    A rule set on which no case ran fails the check: its formulas are unproven."""
    roots, chosen = roots_and_selection(paths)
    catalog = Catalog(rule_folders + roots)
    chosen_cases = sorted(c for c in chosen or () if CASES.match(c.name))
    targeted = _case_rule_sets(catalog, chosen_cases)
    invalid = failed = 0
    loaded = 0
    broken: set[str] = set()
    selected: set[str] = set()
    compiled: dict[str, Rules] = {}
    quoted: set[str] = set()  # files whose quotes were checked against the stored document texts
    for rid, versions in sorted(catalog.files.items()):
        for e in versions:
            if chosen is not None and e.path.resolve() not in chosen and rid not in targeted and not any(
                c.parent == e.path.resolve().parent and CASES.match(c.name) for c in chosen
            ):
                continue
            selected.add(rid)
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
    ran: dict[str, int] = {}
    chosen_rules = {c.parent for c in chosen or () if RULE_FILE.match(c.name)}
    for path, display, exchanges in case_files(catalog, chosen_cases):
        if chosen is not None and path.resolve() not in chosen and path.resolve().parent not in chosen_rules:
            continue
        try:
            cases = load_cases(path, display, exchanges)
            if cases and catalog.resolve_id(*cases[0].ruleset.split("/", 1)) in broken:
                print(f"skip  {display}  (a version of its rule set does not load)")
                continue
            problems = case_quote_problems(cases, [r.ruleset for r in compiled.values()], catalog.document_texts)
            if problems:
                raise RuleFileErrors(problems)
        except MarginspecError as exc:
            invalid += 1
            print(f"FAIL  {display}\n{_indent(str(exc))}")
            continue
        results = [run_case(catalog, c, compiled) for c in cases]
        outcomes += results
        for c in cases:
            rid = catalog.resolve_id(*c.ruleset.split("/", 1))
            ran[rid] = ran.get(rid, 0) + 1
        bad = [r for r in results if not r.ok]
        failed += len(bad)
        print(f"{'ok   ' if not bad else 'FAIL '} {display}  ({len(results) - len(bad)}/{len(results)} cases pass)")
        for r in bad:
            print(f"      case {r.case} ({r.ruleset}):")
            for f in r.failures:
                print(_indent(f, 10))
    untested = sorted(rid for rid in selected - broken if not ran.get(rid))
    for rid in untested:
        print(f"FAIL  {rid}: no case ran on it: nothing shows its formulas give the venue's numbers "
              "(add worked examples as *.cases.yaml beside its rule files; see rules/README.md, Cases)")
    invalid += _check_mappings(catalog, compiled)
    passed = sum(1 for o in outcomes if o.ok)
    print(f"\n{loaded} rule file(s) loaded, {invalid} invalid; {passed} case(s) passed, {failed} failed"
          + (f"; {len(untested)} rule set(s) without a case" if untested else ""))
    if coverage:
        missing, total = uncovered(compiled, outcomes)
        print(f"coverage: {total - len(missing)} of {total} quantities and thresholds are exercised by a passing case")
        for entry in missing:
            print(f"      not exercised: {entry.file}:{entry.line}: {entry.section}.{entry.name}")
        if missing and not (invalid or failed):
            return 1
    if chosen is not None and loaded + invalid + len(outcomes) == 0:
        raise UsageError("nothing to check in the given paths")
    return 3 if invalid else (1 if failed or untested else 0)


def _check_mappings(catalog: Catalog, compiled: dict[str, Rules]) -> int:
    """Load the payload mappings of the venues all of whose rule sets were checked, and check the names they
    target against every loaded version of those rule sets; print a line per file, return the number of
    invalid files."""
    from ..ingest import exchange_roots
    from ..ingest.mapping import check_against_rules, load_mapping, mapping_files
    from ..ingest.tables import target_problems
    from ..source.catalog import bundled_dir

    invalid = 0
    checked = {r.ruleset.id for r in compiled.values()}
    for venue in sorted({r.ruleset.venue for r in compiled.values()}):
        if any(rid.split("/")[0] == venue and rid not in checked for rid in catalog.files):
            continue  # a mapping may fill any of the venue's rule sets: it is checked when all of them are
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
