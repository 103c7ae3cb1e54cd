"""Every case beside every rule set (the venues' worked examples) as its own test."""

from __future__ import annotations

import pytest

from conftest import DEMO_RULES
from marginspec.api import Rules
from marginspec.cases import case_files, load_cases, run_case
from marginspec.catalog import Catalog

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
