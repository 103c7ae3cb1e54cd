"""Properties over random snapshots, for the demo rule set and every bundled rule set:
the compiled kernels agree with the exact path; more collateral never lowers
the margin ratio; a rule set that extends another without changes evaluates the same."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import DEMO_RULES
from marginspec.api import Rules
from marginspec.catalog import Catalog
from marginspec.compiler import compile_plan
from marginspec.errors import EvaluationError
from marginspec.evaluate import evaluate_snapshot
from marginspec.exact import as_float, evaluate_exact
from snapshots import snapshots

CATALOG = Catalog([DEMO_RULES])  # the bundled rule sets plus the demo
RULESETS = [f"{rid}@{v.valid_from}" for rid, versions in sorted(CATALOG.files.items()) for v in versions]

# rule set -> (an input that adds collateral, the ratio that must not fall)
COLLATERAL = {
    "demo/basic": ("cash_balance", "margin_ratio"),
    "okx/multi_currency_margin": ("cash_balance", "margin_ratio"),
    "gate/multi_currency_margin": ("available", "maintenance_margin_ratio"),
    "gate/single_currency_margin": ("available", "maintenance_margin_ratio"),
}


def close(a, b, scale: float) -> bool:
    """Equal to 1e-9 relative, with an absolute floor of 1e-12 of the largest magnitude in the account
    (a float sum of terms that large carries rounding errors of about 1e-16 of them: cancellation
    can leave a small exact result that floats cannot resolve)."""
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, scale) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if math.isnan(b):  # the exact path says undefined (complex infinity): compiled must give an infinity
        return math.isinf(a)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12 * scale)


def largest_number(data) -> float:
    if isinstance(data, dict):
        return max([largest_number(v) for v in data.values()] + [1.0])
    if isinstance(data, list):
        return max([largest_number(v) for v in data] + [1.0])
    return abs(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else 1.0


@pytest.fixture(scope="module", params=RULESETS)
def loaded(request):
    rs = CATALOG.load(request.param)
    return Rules(rs), compile_plan(rs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_and_exact_paths_agree(loaded, data):
    rules, plan = loaded
    snapshot = data.draw(snapshots(rules.kernel.plan, rules.ruleset))
    snap = rules.snapshot(snapshot)
    exact = {k: as_float(v) for k, v in evaluate_exact(plan, snap).items()}
    scale = max([largest_number(snapshot)] + [abs(x) for v in exact.values() for x in _flat(v)
                                             if isinstance(x, float) and math.isfinite(x)])
    for force_numpy in (False, True):
        try:
            got = evaluate_snapshot(rules.kernel, snap, force_numpy=force_numpy).values
        except EvaluationError as err:
            name = str(err).split(" ")[0]
            assert any(isinstance(x, float) and math.isnan(x) for x in _flat(exact[name])), err
            continue
        for name, value in got.items():
            assert close(value, exact[name], scale), (name, value, exact[name], force_numpy)


def _flat(v):
    if isinstance(v, list):
        for x in v:
            yield from _flat(x)
    else:
        yield v


@pytest.mark.parametrize("spec", [r for r in RULESETS if r.split("@")[0] in COLLATERAL])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), extra=st.integers(0, 10**9).map(lambda x: x / 1000))
def test_more_collateral_never_lowers_the_margin_ratio(spec, data, extra):
    """For a solvent account (ratio >= 0): with a negative balance the ratio's numerator is negative and
    a smaller requirement makes the quotient more negative, so the property is stated for ratio >= 0."""
    rules = Rules(CATALOG.load(spec))
    field, ratio = COLLATERAL[spec.split("@")[0]]
    snapshot = data.draw(snapshots(rules.kernel.plan, rules.ruleset))
    axis = rules.ruleset.inputs[field].axis
    collection = rules.kernel.plan.row_axes[axis].collection
    assume(snapshot.get(collection))
    row = data.draw(st.integers(0, len(snapshot[collection]) - 1))
    richer = copy.deepcopy(snapshot)
    richer[collection][row][field] = snapshot[collection][row][field] + extra
    try:
        before = rules.values(snapshot).values[ratio]
        after = rules.values(richer).values[ratio]
    except EvaluationError:
        assume(False)
    assume(before >= 0)
    assert after >= before or math.isclose(after, before, rel_tol=1e-12), (before, after)


def test_a_rule_set_that_extends_without_changes_evaluates_identically(tmp_path, demo_snapshot):
    import shutil

    root = tmp_path / "rules"
    shutil.copytree(DEMO_RULES, root)
    shutil.copytree(DEMO_RULES.parent / "exchanges", tmp_path / "exchanges")
    (root / "demo" / "basic" / "2025-03-01.yaml").write_text(
        "schema: marginspec/rule-file/v1\nruleset: demo/basic\nvalid_from: '2025-03-01'\nextends: demo/basic@2025-01-01\n"
        "title: same rules, new date\n"
    )
    cat = Catalog([root])
    old = Rules(cat.load("demo/basic@2025-01-01")).evaluate(demo_snapshot)
    new = Rules(cat.load("demo/basic", at=__import__("datetime").date(2025, 6, 1))).evaluate(demo_snapshot)
    assert new.receipt.version == "2025-03-01"
    assert new.values == old.values and new.states == old.states
