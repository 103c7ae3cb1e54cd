"""One meaning for a plan: the corner cases where the backends used to
disagree, the numpy runtime held against the scalar definitions in
backends/semantics.py, and the fallback to numpy only for IEEE reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marginspec.api import Rules
from marginspec.backends import runtime, semantics
from marginspec.backends.exact import as_float, evaluate_exact
from marginspec.errors import EvaluationError
from marginspec.ir.compiler import compile_plan
from marginspec.ir.plan import STEP_KINDS, TierTable
from marginspec.run.batch import Batch
from marginspec.run.evaluate import evaluate_batch, evaluate_snapshot
from marginspec.run.kernel import fused_available
from marginspec.source.catalog import Catalog

from conftest import quantity

GRID = {"scenario": {"grid": {"move": "moves"}, "description": "grid"}}
MOVES = {"moves": {"value": [-0.1, 0, 0.1], "unit": "ratio", "assumption": "test"}}


def load(root) -> Rules:
    return Rules(Catalog([root]).load("t/m@2025-01-01"))


def snap(currencies=(), positions=(), **extra):
    return {"as_of": "2025-02-01", "currencies": list(currencies), "positions": list(positions), **extra}


def three_paths(rules: Rules, data: dict) -> list[object]:
    """The values of the plain-Python kernel, the numpy kernel and the exact path; an EvaluationError counts
    as the value "undefined"; the plain-Python kernel must be the one that ran unless it reports why not."""
    out: list[object] = []
    s = rules.snapshot(data)
    for force in (False, True):
        try:
            ev = evaluate_snapshot(rules.kernel, s, force_numpy=force)
            assert ev.backend == ("numpy" if force else ev.backend)
            out.append(ev.values)
        except EvaluationError:
            out.append("undefined")
    exact = evaluate_exact(compile_plan(rules.ruleset), s)
    values = {k: as_float(v) for k, v in exact.items()}
    out.append("undefined" if any(_has_nan(v) for v in values.values()) else values)
    if fused_available():  # the fused kernel (numba) gives the numpy kernel's values, undefined where it is
        assert _same(fused_values(rules, s), out[1]), "the fused kernel disagrees with the numpy kernel"
    return out


def fused_values(rules: Rules, s) -> object:
    kernel = rules.selected_kernel(backend="fused")
    assert kernel.backend == "fused"
    try:
        arrays = evaluate_batch(kernel, Batch.from_snapshots(kernel.plan, [s], labelled=False))
    except EvaluationError:
        return "undefined"
    return {name: a[0].tolist() if kernel.plan.vars[name].shape.rows in ("account", None) else a.tolist() for name, a in arrays.items()}


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)
    return a == b


def _has_nan(v: object) -> bool:
    return any(_has_nan(x) for x in v) if isinstance(v, list) else isinstance(v, float) and math.isnan(v)


def test_every_backend_is_a_visitor_of_every_step_kind():
    from marginspec.backends.canonical import Canonical
    from marginspec.backends.exact import ExactEvaluator
    from marginspec.backends.numpy_kernel import NumpyGenerator
    from marginspec.backends.python_kernel import PythonGenerator

    for backend in (Canonical, ExactEvaluator, NumpyGenerator, PythonGenerator):
        assert issubclass(backend, semantics.StepVisitor)
        for kind in STEP_KINDS:
            assert getattr(backend, semantics.StepVisitor.METHODS[kind]) is not getattr(semantics.StepVisitor, semantics.StepVisitor.METHODS[kind])
    with pytest.raises(TypeError, match="does not say what aggregate"):
        class Incomplete(semantics.StepVisitor[None]):
            def elementwise(self, step): ...
            def gather(self, step): ...
            def lookup(self, step): ...


def test_take_with_no_selected_grid_point_is_the_default_or_undefined_on_every_path(make_rules):
    """The numpy kernel used to return `take` at grid point 0; the Python kernel gave NaN and fell back."""
    root = make_rules(axes=GRID, parameters=MOVES, quantities={
        "pnl": quantity("size * move", axis="position x scenario", unit="contract"),
        "worst_move": quantity("min(pnl, over=scenario, where=move > 1, take=move)", axis="position", unit="ratio"),
        "worst_or_zero": quantity("min(pnl, over=scenario, where=move > 1, take=move, default=0)", axis="position", unit="ratio"),
    })
    rules = load(root)
    data = snap([{"currency": "USDT"}], [{"inst_id": "A", "settle": "USDT", "size": 3}])
    assert three_paths(rules, data) == ["undefined"] * 3
    with pytest.raises(EvaluationError, match=r"worst_move has no defined value for position 'A'.*2025-01-01.yaml:\d+:\d+"):
        rules.evaluate(data)
    root = make_rules(axes=GRID, parameters=MOVES, quantities={
        "pnl": quantity("size * move", axis="position x scenario", unit="contract"),
        "worst_or_zero": quantity("min(pnl, over=scenario, where=move > 1, take=move, default=0)", axis="position", unit="ratio"),
        "worst_move": quantity("min(pnl, over=scenario, take=move)", axis="position", unit="ratio"),
    })
    python, numpy_, exact = three_paths(load(root), data)
    assert python == numpy_ and python["worst_or_zero"] == [0] and python["worst_move"] == [-0.1]
    assert exact["worst_move"] == [-0.1]


def test_take_reads_a_value_that_another_quantity_also_names(make_rules):
    """The aliasing pass renamed source, mask and arg but not take: a dangling name, then an internal error."""
    root = make_rules(
        axes={"family": {"group": "position", "by": "fam", "description": "families"}, **GRID},
        inputs={"fam": {"axis": "position", "type": "text", "description": "family"}},
        parameters=MOVES,
        quantities={
            "pnl": quantity("size * move", axis="position x scenario", unit="contract"),
            "fam_pnl": quantity("sum(pnl, by=family)", axis="family x scenario", unit="contract"),
            "fam_moved": quantity("sum(size * move * 2, by=family)", axis="family x scenario", unit="contract"),
            "worst_moved": quantity("min(fam_pnl, over=scenario, take=sum(size * move * 2, by=family))", axis="family", unit="contract"),
        })
    data = snap([{"currency": "USDT"}], [{"inst_id": "A", "settle": "USDT", "fam": "X", "size": 3},
                                         {"inst_id": "B", "settle": "USDT", "fam": "X", "size": 1}])
    python, numpy_, exact = three_paths(load(root), data)
    assert python == numpy_
    assert python["worst_moved"] == pytest.approx([-0.8])
    assert exact["worst_moved"] == pytest.approx([-0.8])


def test_a_threshold_whose_condition_is_undefined_is_an_error_not_normal(make_rules):
    accounts = {n: {"axis": "account", "type": "number", "unit": "USD", "description": n} for n in ("eq", "mmr")}
    root = make_rules(inputs=accounts, quantities={"q": quantity("eq + mmr")},
                      thresholds={"liquidation": {"axis": "account", "when": "eq / mmr <= 1", "severity": 2, "assumption": "test"}})
    rules = load(root)
    assert three_paths(rules, snap(account={"eq": 0, "mmr": 0})) == ["undefined"] * 3
    with pytest.raises(EvaluationError, match=r"the condition of liquidation has no defined value"):
        rules.evaluate(snap(account={"eq": 0, "mmr": 0}))
    assert rules.evaluate(snap(account={"eq": 1, "mmr": 0})).state() == "normal"  # 1/0 = inf: defined
    assert rules.evaluate(snap(account={"eq": 1, "mmr": 2})).state() == "liquidation"


def test_an_undefined_condition_makes_its_if_undefined_but_an_untaken_branch_does_not(make_rules):
    accounts = {n: {"axis": "account", "type": "number", "unit": "USD", "description": n} for n in ("eq", "mmr")}
    root = make_rules(inputs=accounts, quantities={
        "guarded": quantity("if(mmr > 0, eq / mmr, 99)", unit="1"),
        "chooses": quantity("if(eq / mmr > 1, 1, 0)", unit="1"),
    })
    rules = load(root)
    python, numpy_, exact = three_paths(rules, snap(account={"eq": 0, "mmr": 0}))
    assert python == numpy_ == exact == "undefined"
    root = make_rules(inputs=accounts, quantities={"guarded": quantity("if(mmr > 0, eq / mmr, 99)", unit="1")})
    python, numpy_, exact = three_paths(load(root), snap(account={"eq": 0, "mmr": 0}))
    assert python["guarded"] == numpy_["guarded"] == exact["guarded"] == 99


RATIOS = {n: {"axis": "currency", "type": "number", "unit": "1", "description": n, "default": 2} for n in ("w", "v")}


def test_a_where_condition_undefined_on_a_row_makes_the_aggregation_undefined(make_rules):
    # (w - 1) / (v - 1): 0/0 on a row with w = v = 1 (sympy would cancel w/w when the formula is read)
    root = make_rules(inputs=RATIOS, quantities={"n_big": quantity("count((w - 1) / (v - 1) > 0.5)", unit="1"),
                                                 "big": quantity("sum(balance * price, where=(w - 1) / (v - 1) > 0.5)")})
    rules = load(root)
    python, numpy_, exact = three_paths(rules, snap([{"currency": "A", "balance": 2}, {"currency": "B", "balance": 3}]))
    assert python["n_big"] == numpy_["n_big"] == exact["n_big"] == 2
    assert three_paths(rules, snap([{"currency": "A", "balance": 2}, {"currency": "B", "w": 1, "v": 1}])) == ["undefined"] * 3


INF_A, INF_B = "min(balance * price)", "min(2 * balance * price)"  # +inf on an account with no currency rows (two temporaries,
# or sympy would cancel them when the formula is read): inf - inf without a division, so no fallback


def test_min_and_max_of_an_undefined_value_are_undefined_whatever_the_order(make_rules):
    for formula in (f"max(0, {INF_A} - {INF_B})", f"max({INF_A} - {INF_B}, 0)", f"min(0, {INF_A} - {INF_B})"):
        root = make_rules(quantities={"m": quantity(formula, unit="USD")})
        assert three_paths(load(root), snap()) == ["undefined"] * 3, formula


def test_a_tier_read_at_an_undefined_value_is_undefined(make_rules):
    table = {"bound": {"unit": "USD", "description": "x"}, "interval": "lower_open",
             "columns": {"rate": {"unit": "ratio", "description": "rate"}},
             "tiers": {"*": [{"lower": 0, "upper": 10, "rate": 0.5}, {"lower": 10, "upper": None, "rate": 0.25}]}, "status": "illustrative", "assumption": "test"}
    for formula, unit in ((f"tier(t.rate, {INF_A} - {INF_B})", "ratio"), (f"progressive(t.rate, {INF_A} - {INF_B})", "USD")):
        root = make_rules(tables={"t": table}, quantities={"r": quantity(formula, unit=unit)})
        assert three_paths(load(root), snap()) == ["undefined"] * 3, formula


def test_the_normal_distribution_is_one_primary_wherever_it_is_printed(make_rules):
    """The plain-Python printer wrote Φ as an unbracketed (1/2)*erfc(...): y / Φ(x) came out y / 1/2 * erfc."""
    accounts = {n: {"axis": "account", "type": "number", "unit": "1", "description": n} for n in ("x", "y")}
    root = make_rules(inputs=accounts, quantities={
        "ratio": quantity("y / ncdf(x)", unit="1"), "square": quantity("ncdf(x) ** 2", unit="1"),
    })
    python, numpy_, exact = three_paths(load(root), snap(account={"x": 0.3, "y": 62}))
    phi = 0.5 * math.erfc(-0.3 / math.sqrt(2))
    for values in (python, numpy_, exact):
        assert values["ratio"] == pytest.approx(62 / phi, rel=1e-12)
        assert values["square"] == pytest.approx(phi**2, rel=1e-12) and values["square"] <= 1


def test_constants_beyond_an_int64_are_printed_as_the_double_they_are(make_rules):
    """A literal 1e299 is read exactly (a 300-digit integer): printed as such, numpy could not take it
    (OverflowError, exit 4) and the plain-Python kernel compared a double with the exact integer."""
    accounts = {"x": {"axis": "account", "type": "number", "unit": "1", "description": "x"}}
    root = make_rules(inputs=accounts, quantities={
        "capped": quantity("if(1e299 <= x, -0.0, 1e299)", unit="1"), "big": quantity("x + 12345678901234567890", unit="1"),
    })
    for values in three_paths(load(root), snap(account={"x": 1e299})):
        assert values["capped"] == 0.0 and values["big"] == pytest.approx(1e299, rel=1e-15)
    for values in three_paths(load(root), snap(account={"x": 2})):
        assert values["capped"] == 1e299 and values["big"] == 12345678901234567892.0


def test_or_and_and_of_a_grid_value_and_a_rows_x_grid_value_broadcast(make_rules):
    """sympy printed `or` for numpy as logical_or.reduce((a, b)), which stacks a (scenario) and b (position x
    scenario) into one array first: a ValueError (exit 4) on the numpy kernel, found by the fuzz suite."""
    root = make_rules(
        axes={"scenario": {"grid": {"move": "moves"}, "description": "grid"}},
        parameters={"moves": {"value": [-0.1, 0.05, 0.1], "unit": "ratio", "assumption": "test"}},
        quantities={"hit": quantity("if(move == 0.05 or size * move > 0, 1, 0)", axis="position x scenario", unit="ratio"),
                    "both": quantity("if(move > 0 and size * move > 0, 1, 0)", axis="position x scenario", unit="ratio")})
    data = snap([{"currency": "USDT"}], [{"inst_id": "A", "settle": "USDT", "size": 10}, {"inst_id": "B", "settle": "USDT", "size": -4}])
    for values in three_paths(load(root), data):
        assert values["hit"] == [[0, 1, 1], [1, 1, 0]] and values["both"] == [[0, 1, 1], [0, 0, 0]]


def test_generated_names_never_collide(make_rules):
    """Tables a.b_c and a_b.c, and references built from axis and input names, used to share one name."""
    col = lambda c: {c: {"unit": "ratio", "description": c}}
    table = lambda c, rate: {"bound": {"unit": "coin", "description": "x"}, "interval": "lower_open", "columns": col(c),
                             "tiers": {"*": [{"lower": 0, "upper": None, c: rate}]}, "status": "illustrative", "assumption": "test"}
    root = make_rules(tables={"a": table("b_c", 0.25), "a_b": table("c", 0.75)}, quantities={
        "first": quantity("tier(a.b_c, balance)", axis="currency", unit="ratio"),
        "second": quantity("tier(a_b.c, balance)", axis="currency", unit="ratio"),
    })
    python, numpy_, _ = three_paths(load(root), snap([{"currency": "A", "balance": 1}]))
    assert python["first"] == numpy_["first"] == [0.25] and python["second"] == numpy_["second"] == [0.75]


def test_a_broken_plain_python_kernel_is_an_error_not_a_silent_fallback(make_rules, monkeypatch):
    root = make_rules(quantities={"total": quantity("sum(balance * price)")})
    rules = load(root)
    data = rules.snapshot(snap([{"currency": "A", "balance": 2, "price": 3}]))
    assert evaluate_snapshot(rules.kernel, data).backend == "python"

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(rules.kernel, "single", broken)
    with pytest.raises(TypeError, match="a bug"):
        evaluate_snapshot(rules.kernel, data)

    def dividing(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(rules.kernel, "single", dividing)
    ev = evaluate_snapshot(rules.kernel, data)
    assert (ev.backend, ev.fallback, ev.values["total"]) == ("numpy", "division by zero", 6)


def test_the_three_batch_constructors_give_one_row_order(make_rules):
    root = make_rules(
        axes={"family": {"group": "position", "by": "fam", "description": "families"}},
        inputs={"fam": {"axis": "position", "type": "text", "description": "family"}},
        quantities={"fam_size": quantity("sum(size, by=family)", axis="family", unit="contract")})
    rules = load(root)
    positions = [{"inst_id": "A", "settle": "USDT", "fam": "ZZZ", "size": 1}, {"inst_id": "B", "settle": "USDT", "fam": "AAA", "size": 2},
                 {"inst_id": "C", "settle": "USDT", "fam": "MMM", "size": 4}, {"inst_id": "D", "settle": "USDT", "fam": "ZZZ", "size": 8}]
    data = snap([{"currency": "USDT"}], positions)
    one = rules.evaluate(data)
    assert list(one.value("fam_size")) == ["AAA", "MMM", "ZZZ"]
    assert rules.snapshot(data).keys["family"] == ["AAA", "MMM", "ZZZ"]
    listed = evaluate_batch(rules.kernel, rules.batch([data, data]))["fam_size"].tolist()
    cols = Batch.from_columns(rules.kernel.plan, 2, positions={
        "account": np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        "inst_id": np.array([p["inst_id"] for p in positions] * 2, dtype=object),
        "settle": np.array(["USDT"] * 8, dtype=object),
        "fam": np.array([p["fam"] for p in positions] * 2, dtype=object),
        "size": np.array([p["size"] for p in positions] * 2, dtype=float)},
        currencies={"account": np.array([0, 1]), "currency": np.array(["USDT", "USDT"], dtype=object)})
    columns = evaluate_batch(rules.kernel, cols)["fam_size"].tolist()
    assert listed == columns == [2, 4, 9, 2, 4, 9]
    assert [cols.indexes.keys["family"].text(i) for i in range(6)] == ["AAA", "MMM", "ZZZ"] * 2


# ---------- the numpy runtime against the scalar definitions

values = st.floats(-1e6, 1e6, allow_nan=False) | st.just(math.nan) | st.just(math.inf) | st.just(-math.inf)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(values, st.booleans()), min_size=1, max_size=6), min_size=1, max_size=5).filter(
    lambda rows: len({len(r) for r in rows}) == 1), st.sampled_from(["min", "max"]))
def test_numpy_first_extreme_is_the_scalar_definition(rows, op):
    grid = np.array([[v for v, _ in r] for r in rows])
    mask = np.array([[m for _, m in r] for r in rows])
    at = runtime.first_extreme(op, grid, mask)
    for i, r in enumerate(rows):
        try:
            want = semantics.first_extreme(op, [v for v, _ in r], [m for _, m in r])
            assert at[i] == (-1 if want is None else want)
        except semantics.Undefined:
            assert at[i] == -2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=5, unique=True).map(sorted),
       st.lists(values, min_size=1, max_size=8), st.booleans())
def test_numpy_tier_reads_are_the_scalar_definition(bounds, xs, lower_open):
    lowers = tuple(bounds)
    uppers = tuple(bounds[1:]) + (math.inf,)
    rates = tuple(float(i + 1) for i in range(len(bounds)))
    table = runtime.numpy_table(TierTable("t", ("*",), "lower_open" if lower_open else "upper_open", (lowers,), (uppers,), {"r": (rates,)}))
    x = np.array(xs)
    read = runtime.tier_read(table, "r", runtime.tier_index(table, x, None), None)
    summed = runtime.tier_progressive(table, "r", x, None)
    for i, v in enumerate(xs):
        try:
            assert read[i] == rates[semantics.tier_position(lowers, v, lower_open)]
        except semantics.Undefined:
            assert math.isnan(read[i])
        try:
            want = semantics.progressive(lowers, uppers, rates, v, lower_open, math.inf)
            assert summed[i] == pytest.approx(want, rel=1e-12, nan_ok=True) or (math.isinf(want) and summed[i] == want)
        except semantics.Undefined:
            assert math.isnan(summed[i])


@settings(max_examples=200, deadline=None)
@given(st.lists(values, max_size=6), st.sampled_from(["min", "max"]), st.none() | st.floats(-10, 10))
def test_numpy_grouped_extremes_are_the_scalar_definition(xs, op, default):
    index = np.zeros(len(xs), dtype=np.int64)
    with np.errstate(invalid="ignore"):  # as evaluate_batch runs the kernels
        got = runtime.group_extreme(op, index, np.array(xs, dtype=float), 1, None, default)[0]
    try:
        want = semantics.extreme(op, xs, default)
        assert got == want
    except semantics.Undefined:
        assert math.isnan(got)
