"""Every case beside every rule set (the venues' worked examples) as its own test."""

from __future__ import annotations

import pytest
from marginspec.api import Rules
from marginspec.source.catalog import Catalog
from marginspec.tools.cases import case_files, load_cases, run_case

from conftest import DEMO_RULES

CATALOG = Catalog([DEMO_RULES])
CASES = [case for path, display, exchanges in case_files(CATALOG) for case in load_cases(path, display, exchanges)]
COMPILED: dict[str, Rules] = {}


def test_every_bundled_rule_set_has_cases():
    with_cases = {c.ruleset for c in CASES}
    assert set(CATALOG.files) <= with_cases, set(CATALOG.files) - with_cases


@pytest.mark.parametrize("case", CASES, ids=[f"{c.ruleset}:{c.name}" for c in CASES])
def test_case(case):
    outcome = run_case(CATALOG, case, COMPILED)
    assert outcome.ok, "\n".join(outcome.failures)
    assert outcome.checked, "a case must check at least one value"


def test_every_bundled_quantity_and_threshold_is_exercised_by_a_case():
    from marginspec.tools.coverage import uncovered

    compiled: dict[str, Rules] = {}
    outcomes = [run_case(CATALOG, case, compiled) for case in CASES if not case.ruleset.startswith("demo/")]
    bundled = {ref: r for ref, r in compiled.items() if not ref.startswith("demo/")}
    for rid, versions in CATALOG.files.items():  # versions no case runs on still count: their own entries need cases
        for v in versions:
            if not rid.startswith("demo/"):
                bundled.setdefault(f"{rid}@{v.valid_from}", Rules(CATALOG.load(f"{rid}@{v.valid_from}")))
    missing, _total = uncovered(bundled, outcomes)
    assert not missing, "\n".join(f"{e.file}:{e.line}: {e.section}.{e.name}" for e in missing)
