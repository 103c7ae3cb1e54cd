"""The fused backend (numba) against the exact path on random snapshots, as
test_properties.py holds the other kernels, asserting that the fused kernel is
the one that ran. Compiling a rule set's fused kernel takes seconds, so a few
rule sets stand for the rest: the demo, the richest multi-currency version
(options, order margin, three tier tables) and a portfolio-margin version
(stress grids, take=)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("numba", reason="the fused backend needs numba (pip install '.[fast]'); CI installs it with .[test]")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marginspec.api import Rules
from marginspec.errors import EvaluationError
from marginspec.ir.compiler import compile_plan
from marginspec.run.batch import Batch
from marginspec.run.evaluate import evaluate_batch

from snapshots import snapshots
from test_properties import CATALOG, agree_with_exact

PLAIN = ["demo/basic@2025-01-01", "okx/multi_currency_margin@2024-11-08"]
GRIDS = ["gate/portfolio_margin@2025-01-01"]


@pytest.fixture(scope="module")
def loaded(request):
    rs = CATALOG.load(request.param)
    rules = Rules(rs)
    return rules, compile_plan(rs), rules.selected_kernel(backend="fused")


def agree(rules: Rules, plan, kernel, snapshot: dict) -> None:
    assert kernel.backend == "fused"
    snap = rules.snapshot(snapshot)

    def fused() -> tuple[dict[str, Any], str]:
        arrays = evaluate_batch(kernel, Batch.from_snapshots(kernel.plan, [snap], labelled=False))
        return {name: a[0].tolist() if kernel.plan.vars[name].shape.rows in ("account", None) else a.tolist()
                for name, a in arrays.items()}, "fused"

    agree_with_exact(plan, snap, snapshot, [fused])


@pytest.mark.parametrize("loaded", PLAIN, indirect=True)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_the_fused_kernel_agrees_with_the_exact_path(loaded, data):
    rules, plan, kernel = loaded
    agree(rules, plan, kernel, data.draw(snapshots(rules.kernel.plan, rules.ruleset)))


@pytest.mark.parametrize("loaded", GRIDS, indirect=True)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_the_fused_kernel_agrees_with_the_exact_path_on_stress_grids(loaded, data):
    rules, plan, kernel = loaded
    agree(rules, plan, kernel, data.draw(snapshots(rules.kernel.plan, rules.ruleset, max_rows=2)))


def test_a_read_beyond_a_bounded_table_stops_the_fused_kernel_with_the_numpy_kernels_located_error(make_rules):
    """Keys with fewer tiers are padded in the fused kernel's rectangles: each key's own bound must still hold."""
    from marginspec.source.catalog import Catalog

    from conftest import quantity
    from test_language import table
    from test_semantics import snap

    tiers = {"BTC": [{"lower": 0, "upper": 100, "rate": 0.5}, {"lower": 100, "upper": 200, "rate": 0.25}],
             "ETH": [{"lower": 0, "upper": 50, "rate": 0.1}]}
    root = make_rules(tables={"t": table(tiers)}, quantities={
        "r": quantity("tier(t.rate, balance, currency)", axis="currency", unit="ratio"),
        "p": quantity("progressive(t.rate, balance, currency)", axis="currency", unit="coin")})
    rules = Rules(Catalog([root]).load("t/m@2025-01-01"))
    inside = snap([{"currency": "BTC", "balance": 150}, {"currency": "ETH", "balance": 50}])
    fused = rules.evaluate_batch(rules.batch([inside]), backend="fused")
    assert list(fused["r"]) == [0.25, 0.1] and list(fused["p"]) == [62.5, 5.0]
    beyond = rules.batch([inside, snap([{"currency": "BTC", "balance": 150}, {"currency": "ETH", "balance": 60}])])
    with pytest.raises(EvaluationError) as numpy_error:
        rules.evaluate_batch(beyond)
    with pytest.raises(EvaluationError) as fused_error:
        rules.evaluate_batch(beyond, backend="fused")
    assert str(fused_error.value) == str(numpy_error.value)
    assert "60 is beyond the last tier of table 't' for 'ETH' (its tiers end at 50) for " in str(fused_error.value)
