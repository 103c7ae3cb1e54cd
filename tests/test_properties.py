"""Properties over random snapshots, for the demo rule set and every bundled rule set:
the compiled kernels agree with the exact path; more collateral never lowers
the margin ratio; a rule set that extends another without changes evaluates the same."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import math
from collections.abc import Callable
from typing import Any

import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from marginspec.api import Rules
from marginspec.backends.exact import ExactEvaluator, as_float
from marginspec.backends.semantics import BeyondTable
from marginspec.errors import EvaluationError
from marginspec.ir.compiler import compile_plan
from marginspec.ir.plan import Aggregate, Elementwise
from marginspec.language.shape import ACCOUNT
from marginspec.run.evaluate import evaluate_snapshot
from marginspec.source.catalog import Catalog

from conftest import DEMO_RULES
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


def _has_grid(spec: str) -> bool:
    return any(a.grid for a in CATALOG.load(spec).axes.values())


PLAIN = [r for r in RULESETS if not _has_grid(r)]
GRIDS = [r for r in RULESETS if _has_grid(r)]  # stress grids: the exact path takes seconds per snapshot


@pytest.fixture(scope="module")
def loaded(request):
    rs = CATALOG.load(request.param)
    return Rules(rs), compile_plan(rs)


def tie_dependent(plan, ev: ExactEvaluator, got: dict, scale: float) -> set[str]:
    """Outputs that may differ because a `take=` picked another of several grid points whose values tie
    to within rounding (floats cannot order those, so either pick is right), and what is computed from them.
    A pick the exact path would rank worse than such a tie still fails the test."""
    ambiguous: set[str] = set()
    for step in plan.steps:
        if not (isinstance(step, Aggregate) and step.take and step.out.name in got):
            continue
        picks = got[step.out.name] if isinstance(got[step.out.name], list) else [got[step.out.name]]
        for i, pick in enumerate(picks):
            row = None if step.out.shape.rows in (None, ACCOUNT) else i
            points = [s for s in range(plan.grid_size(plan.vars[step.source].shape.grid))
                      if not step.mask or ev.cell(step.mask, row, s) is not sympy.false]
            values = {s: float(sympy.N(ev.cell(step.source, row, s), 30)) for s in points}
            extreme = (min if step.op == "min" else max)(values.values(), default=None)
            ties = [s for s, v in values.items() if math.isclose(v, extreme, rel_tol=1e-9, abs_tol=1e-12 * scale)]
            if len(ties) > 1 and any(close(pick, as_float(ev.cell(step.take, row, s)), scale) for s in ties):
                ambiguous.add(step.out.name)
    return with_readers(plan, ambiguous)


def with_readers(plan, names: set[str]) -> set[str]:
    """The outputs named, and every output computed from them."""
    readers = {name: [q for q, deps in plan.deps.items() if name in deps] for name in plan.outputs}
    out, todo = set(names), list(names)
    while todo:
        for reader in readers.get(todo.pop(), []):
            if reader not in out:
                out.add(reader)
                todo.append(reader)
    return out


SMALLEST_DOUBLE = 2.2250738585072014e-308


def beyond_doubles(plan, exact: dict) -> set[str]:
    """Outputs whose exact value is not zero but smaller than any normal double (a far out-of-the-money option
    is worth 1e-5000), and what is computed from them: floats hold 0 there, and a guard such as
    if(margin > 0, ...) rightly decides the other way."""
    tiny = {name for name, v in exact.items() if any(isinstance(x, float) and 0 < abs(x) < SMALLEST_DOUBLE for x in _flat(v))}
    return with_readers(plan, tiny)


PERTURBATION = 1e-9
UNIT_ROUNDOFF = 2.0**-53


def perturbed(snap, sign: int):
    """The snapshot with every input number x made x * (1 - PERTURBATION * (1 + (sign * k) % 2)), k counting the
    numbers: a small change of mixed size that keeps each number's sign and stays inside its declared limits."""
    out = copy.deepcopy(snap)
    count = 0
    for row in [out.account] + [r for rows in out.rows.values() for r in rows]:
        for field, x in row.items():
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                count += 1
                row[field] = x * (1 - PERTURBATION * (1 + (sign * count) % 2))
    return out


def within_rounding(plan, snap, name: str, got, want, scale: float) -> bool:
    """Whether compiled and exact values, not close to 1e-9, differ by no more than floats must: an output that
    cancels large terms, or divides by a small one, is ill-conditioned, and float rounding of its inputs (about
    2^-53 of each) moves it by about 2^-53 / PERTURBATION of what a PERTURBATION-sized change of the inputs
    moves it in the exact path. Allowed: 1000 times that, plus 1000 roundings of the terms it adds up (a
    difference of two option values of 8,192 times a size of 1e7 carries their rounding, however small it is)."""
    moved = [as_float(ExactEvaluator(plan, perturbed(snap, sign)).run()[name]) for sign in (1, -1)]
    allowed = [1000 * UNIT_ROUNDOFF / PERTURBATION * abs(_diff(m, want)) for m in moved]
    terms = max((abs(x) for x in _flat(as_float(ExactEvaluator(magnitudes(plan), snap).run()[name])) if math.isfinite(x)), default=0.0)
    return abs(_diff(got, want)) <= max(allowed) + 1000 * UNIT_ROUNDOFF * terms + 1e-12 * scale


def magnitudes(plan):
    """The plan made to compute, for each value, the size of what floats add up on the way to it: every sum
    and difference a sum of the terms' sizes, every min/max the larger size, every aggregation over rows or
    scenarios the largest or the total size. Evaluated, it bounds the rounding a compiled value can carry."""
    def sizes(e):
        if isinstance(e, sympy.Add):
            return sympy.Add(*[sizes(a) for a in e.args])
        if isinstance(e, (sympy.Mul, sympy.Pow)):
            return sympy.Abs(e.func(*[sizes(a) if not a.is_number else a for a in e.args]))
        if isinstance(e, (sympy.Min, sympy.Max)):  # the size of the operand taken (min(x, inf) is x's)
            return e.func(*[sizes(a) for a in e.args])
        if isinstance(e, sympy.Piecewise):
            return sympy.Piecewise(*[(sizes(v), c) for v, c in e.args])
        return sympy.Abs(e)
    steps = []
    for s in plan.steps:
        if isinstance(s, Elementwise) and s.out.kind != "bool":
            s = dataclasses.replace(s, expr=sizes(s.expr))
        elif isinstance(s, Aggregate) and s.op == "min":
            s = dataclasses.replace(s, op="max")
        steps.append(s)
    return dataclasses.replace(plan, steps=steps)


def _exact_floats(v):
    """An exact value as floats with the magnitude of values too small for a double kept (as +-1e-320)."""
    if isinstance(v, list):
        return [_exact_floats(x) for x in v]
    if v is sympy.true or v is sympy.false or not isinstance(v, sympy.Expr) or not v.is_number:
        return as_float(v)
    x = as_float(v)
    if x == 0 and v != 0 and v.is_finite:
        return 1e-320 if sympy.N(v, 30) > 0 else -1e-320
    return x


def _diff(a, b) -> float:
    """Largest difference between two values of the same shape (inf where an infinity is not matched)."""
    if isinstance(a, list):
        return max([_diff(x, y) for x, y in zip(a, b)], default=0.0)
    if isinstance(a, bool) or isinstance(b, bool):
        return 0.0 if bool(a) == bool(b) else math.inf
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return 0.0 if a == b else math.inf
    return abs(a - b)


Run = Callable[[], "tuple[dict[str, Any], str]"]
"""A compiled path under test: its values for the snapshot, and its name for messages; raises EvaluationError."""


def agree_with_exact(plan, snap, snapshot: dict, runs: list[Run]) -> None:
    """Every compiled path in `runs` gives the exact path's values (within rounding, ties and doubles' range
    allowed for), or refuses where the exact value is undefined; a read above a table's bounded last tier
    (the exact path raises BeyondTable) must be refused by every path too."""
    ev = ExactEvaluator(plan, snap)
    try:
        exact = {k: as_float(v) for k, v in ev.run().items()}
    except BeyondTable:
        for run in runs:
            with pytest.raises(EvaluationError, match="is beyond the last tier of table"):
                run()
        return
    # the absolute floor follows the largest value anywhere in the computation, temporaries included: a float
    # difference of two option values of 8,192 carries rounding of about 1e-12 of them, however small the result
    scale = max([largest_number(snapshot)] + [abs(x) for v in ev.values.values() for x in _flat(_exact_floats(v))
                                             if isinstance(x, float) and math.isfinite(x)])
    exact_tiny = {k: _exact_floats(v) for k, v in ev.values.items() if k in plan.outputs}
    for run in runs:
        try:
            got, path = run()
        except EvaluationError as err:
            name = str(err).split(" ")[2 if str(err).startswith("the condition of") else 0]
            assert any(isinstance(x, float) and math.isnan(x) for x in _flat(exact[name])), err
            continue
        assert got.keys() == exact.keys(), path
        tied = tie_dependent(plan, ev, got, scale) | beyond_doubles(plan, exact_tiny)
        for name, value in got.items():
            if name not in tied and not close(value, exact[name], scale):
                assert within_rounding(plan, snap, name, value, exact[name], scale), (name, value, exact[name], path)


def agree(rules: Rules, plan, snapshot: dict) -> None:
    """The plain-Python kernel (or its documented numpy fallback) and the numpy kernel against the exact path."""
    snap = rules.snapshot(snapshot)

    def kernel(force_numpy: bool) -> Run:
        def run() -> tuple[dict[str, Any], str]:
            evaluation = evaluate_snapshot(rules.kernel, snap, force_numpy=force_numpy)
            # which backend ran: numpy when asked; else the plain-Python kernel, or numpy for a documented IEEE reason only
            assert evaluation.backend == "numpy" if force_numpy else (evaluation.backend == "python") == (evaluation.fallback is None)
            assert evaluation.fallback in (None, "asked for", "division by zero", "overflow", "math domain error", "undefined value")
            return evaluation.values, f"{evaluation.backend} ({evaluation.fallback})"
        return run

    agree_with_exact(plan, snap, snapshot, [kernel(False), kernel(True)])


def test_the_rounding_allowance_follows_the_condition_of_the_output():
    """A difference of 1e-9 relative is float rounding for equity that cancels two 1e6 terms down to 0.1, and a
    fault for equity that is one plain balance (the absolute floor, 1e-12 of the largest number, left out)."""
    rules = Rules(CATALOG.load("demo/basic@2025-01-01"))
    plan = compile_plan(rules.ruleset)
    position = {"inst_id": "P", "settle_currency": "USDT", "inst_family": "BTC-USDT", "contract_type": "linear",
                "size": 1000, "ct_val": 1, "avg_price": 2000, "mark_price": 1000}  # upl -1e6
    for positions, cash, ill_conditioned in (([position], 1e6 + 0.1, True), ([], 1000, False)):
        snap = rules.snapshot({"as_of": "2025-06-01", "positions": positions,
                               "currencies": [{"currency": "USDT", "cash_balance": cash, "index_price": 1}]})
        exact = as_float(ExactEvaluator(plan, snap).run()["equity"])[0]
        assert within_rounding(plan, snap, "equity", [exact * (1 + 1e-9)], [exact], scale=0) is ill_conditioned  # no floor


@pytest.mark.parametrize("loaded", PLAIN, indirect=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_and_exact_paths_agree(loaded, data):
    rules, plan = loaded
    agree(rules, plan, data.draw(snapshots(rules.kernel.plan, rules.ruleset)))


@pytest.mark.parametrize("loaded", GRIDS, indirect=True)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_and_exact_paths_agree_on_stress_grids(loaded, data):
    rules, plan = loaded
    agree(rules, plan, data.draw(snapshots(rules.kernel.plan, rules.ruleset, max_rows=2)))


def _flat(v):
    if isinstance(v, list):
        for x in v:
            yield from _flat(x)
    else:
        yield v


@pytest.mark.parametrize("spec", [r for r in RULESETS if r.split("@")[0] in COLLATERAL])
# about two random accounts in three are insolvent (ratio < 0) and filtered out; hypothesis still runs 60 solvent ones
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
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
        "schema: marginspec/rule-file/v2\nruleset: demo/basic\nvalid_from: '2025-03-01'\nextends: demo/basic@2025-01-01\n"
        "title: same rules, new date\n"
    )
    cat = Catalog([root])
    old = Rules(cat.load("demo/basic@2025-01-01")).evaluate(demo_snapshot)
    new = Rules(cat.load("demo/basic", at=datetime.date(2025, 6, 1))).evaluate(demo_snapshot)
    assert new.receipt.version == "2025-03-01"
    assert new.values == old.values and new.states == old.states
