"""Evaluation semantics, checked against numbers worked out by hand, on all
three paths: the plain-Python kernel, the numpy kernel and the exact one."""

from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest
from marginspec.api import Rules
from marginspec.backends.exact import as_float, evaluate_exact
from marginspec.errors import EvaluationError
from marginspec.ir.compiler import compile_plan
from marginspec.run.batch import Batch
from marginspec.run.evaluate import evaluate_batch, evaluate_snapshot
from marginspec.source.catalog import Catalog

from conftest import quantity

TIERS = {
    "bound": {"unit": "coin", "description": "amount"},
    "interval": "lower_open", "status": "illustrative",
    "columns": {"rate": {"unit": "ratio", "description": "rate"}},
    "tiers": {
        "BTC": [{"lower": 0, "upper": 100, "rate": 1}, {"lower": 100, "upper": 200, "rate": 0.5}, {"lower": 200, "upper": None, "rate": 0.25}],
        "*": [{"lower": 0, "upper": None, "rate": 0.9}],
    },
    "assumption": "test table",
}


def all_paths(rules: Rules, data: dict) -> list[dict]:
    """Outputs from the three paths, as floats."""
    snap = rules.snapshot(data)
    python = evaluate_snapshot(rules.kernel, snap)
    numpy_ = evaluate_snapshot(rules.kernel, snap, force_numpy=True)
    exact = as_float_dict(evaluate_exact(compile_plan(rules.ruleset), snap))
    return [python.values, numpy_.values, exact]


def as_float_dict(values: dict) -> dict:
    return {k: as_float(v) for k, v in values.items()}


def same(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def load(root) -> Rules:
    return Rules(Catalog([root]).load("t/m@2025-01-01"))


def snap(currencies=(), positions=(), **extra):
    return {"as_of": "2025-02-01", "currencies": list(currencies), "positions": list(positions), **extra}


def test_aggregations_references_and_filters(make_rules):
    root = make_rules(quantities={
        "usd": quantity("balance * price", axis="currency"),
        "total": quantity("sum(usd)"),
        "cross_size": quantity("sum(size, by=settle, where=mode == 'cross')", axis="currency", unit="contract"),
        "priced": quantity("size * ct_val * price[settle]", axis="position"),
        "n_isolated": quantity("count(mode == 'isolated')", unit="1"),
        "largest": quantity("max(size)", unit="contract"),
        "smallest": quantity("min(size, where=mode == 'isolated', default=-1)", unit="contract"),
        "any_short": quantity("if(any(size < 0), 1, 0)", unit="1"),
    })
    data = snap(
        [{"currency": "BTC", "balance": 2, "price": 50000}, {"currency": "USDT", "balance": 100, "price": 1}],
        [{"inst_id": "A", "settle": "USDT", "size": 3}, {"inst_id": "B", "settle": "USDT", "size": -5, "mode": "isolated"},
         {"inst_id": "C", "settle": "BTC", "size": 7}],
    )
    for values in all_paths(load(root), data):
        assert values["usd"] == [100000, 100]
        assert values["total"] == 100100
        assert values["cross_size"] == [7, 3]
        assert values["priced"] == [3, -5, 350000]
        assert values["n_isolated"] == 1
        assert values["largest"] == 7
        assert values["smallest"] == -5
        assert values["any_short"] == 1


def test_empty_collections_have_defined_values(make_rules):
    root = make_rules(quantities={
        "s": quantity("sum(size)", unit="contract"),
        "c": quantity("count(size > 0)", unit="1"),
        "lo": quantity("min(size)", unit="contract"),
        "hi": quantity("max(size)", unit="contract"),
        "hi0": quantity("max(size, default=0)", unit="contract"),
        "by": quantity("sum(size, by=settle, default=-7)", axis="currency", unit="contract"),
    })
    data = snap([{"currency": "BTC"}], [])
    for values in all_paths(load(root), data):
        assert values["s"] == 0 and values["c"] == 0
        assert values["lo"] == math.inf and values["hi"] == -math.inf
        assert values["hi0"] == 0
        assert values["by"] == [-7]


def test_division_by_zero_follows_the_sign_and_zero_over_zero_is_an_error(make_rules):
    accounts = {n: {"axis": "account", "type": "number", "unit": "USD", "description": n} for n in ("a", "b")}
    root = make_rules(inputs=accounts, quantities={"r": quantity("a / b", unit="1")})
    rules = load(root)
    for a, want in ((5, math.inf), (-5, -math.inf)):
        values = all_paths(rules, snap(account={"a": a, "b": 0}))
        assert [v["r"] for v in values[:2]] == [want, want]
        assert math.isnan(values[2]["r"])  # sympy: complex infinity, reported as undefined by the exact path
    with pytest.raises(EvaluationError, match="r has no defined value"):
        rules.evaluate(snap(account={"a": 0, "b": 0}))


def test_a_division_its_guard_rules_out_is_never_made(make_rules):
    """The exact path decides a guard before building its branch: sympy cannot build max(0, 0/0)."""
    accounts = {n: {"axis": "account", "type": "number", "unit": "USD", "description": n} for n in ("a", "b")}
    root = make_rules(inputs=accounts, quantities={"r": quantity("if(b != 0, max(0, a / b), -1)", unit="1")})
    rules = load(root)
    for a, b, want in ((0, 0, -1), (-3, 2, 0), (3, 2, 1.5)):
        assert [v["r"] for v in all_paths(rules, snap(account={"a": a, "b": b}))] == [want] * 3


def test_ncdf_keeps_its_far_left_tail(make_rules):
    """Φ(-10) = 7.6e-24: written as 1 - erfc(x/√2)/2 (as sympy rewrites erfc(-x/√2)/2) it would round to 0."""
    accounts = {"a": {"axis": "account", "type": "number", "unit": "1", "description": "a"}}
    root = make_rules(inputs=accounts, quantities={"p": quantity("ncdf(a)", unit="1"), "q": quantity("ncdf(-a)", unit="1")})
    rules = load(root)
    for a, want in ((-10, 7.619853024160527e-24), (-40, 0.0), (0, 0.5), (1.5, 0.9331927987311419)):  # Φ(-40) = 3.7e-350 < the least double
        for values in all_paths(rules, snap(account={"a": a})):
            assert values["p"] == pytest.approx(want, rel=1e-12, abs=1e-300)
            assert values["q"] == pytest.approx(1 - want, rel=1e-12)


def test_nan_in_one_row_names_the_quantity_and_the_row(make_rules):
    root = make_rules(quantities={"q": quantity("sqrt(balance)", axis="currency", unit="coin^0.5")})
    with pytest.raises(EvaluationError, match="q has no defined value for currency 'ETH'"):
        load(root).evaluate(snap([{"currency": "BTC", "balance": 4}, {"currency": "ETH", "balance": -1}]))


@pytest.mark.parametrize("interval, at_bound", [("lower_open", 1.0), ("upper_open", 0.5)])
def test_tier_reads_at_the_boundaries(make_rules, interval, at_bound):
    table = dict(TIERS, interval=interval)
    root = make_rules(tables={"t": table}, quantities={"r": quantity("tier(t.rate, balance, currency)", axis="currency", unit="ratio")})
    rules = load(root)
    for balance, want in ((-5, 1.0), (0, 1.0), (50, 1.0), (100, at_bound), (100.000001, 0.5), (250, 0.25)):
        for values in all_paths(rules, snap([{"currency": "BTC", "balance": balance}, {"currency": "ETH", "balance": balance}])):
            assert values["r"] == [want, 0.9], (balance, values["r"])


def test_progressive_tiers_sum_each_slice_at_its_rate(make_rules):
    root = make_rules(tables={"t": TIERS}, quantities={"p": quantity("progressive(t.rate, balance, currency)", axis="currency", unit="coin")})
    rules = load(root)
    for balance, want in ((-10, 0), (0, 0), (60, 60), (150, 125), (1000, 100 + 50 + 800 * 0.25)):
        for values in all_paths(rules, snap([{"currency": "BTC", "balance": balance}, {"currency": "XRP", "balance": balance}])):
            assert values["p"] == [pytest.approx(want), pytest.approx(max(balance, 0) * 0.9)]


def test_unknown_table_key_is_a_snapshot_error(make_rules):
    table = dict(TIERS, tiers={"BTC": TIERS["tiers"]["BTC"]})
    root = make_rules(tables={"t": table}, quantities={"r": quantity("tier(t.rate, balance, currency)", axis="currency", unit="ratio")})
    from marginspec.errors import SnapshotError

    with pytest.raises(SnapshotError, match=r"currencies\[1\].currency: table 't' has no tiers for 'DOGE'"):
        load(root).snapshot(snap([{"currency": "BTC"}, {"currency": "DOGE"}]))


def test_group_axes_and_grids(make_rules):
    root = make_rules(
        axes={"family": {"group": "position", "by": "fam", "description": "families"},
              "scenario": {"grid": {"move": "moves", "vol": "vols"}, "description": "grid"}},
        inputs={"fam": {"axis": "position", "type": "text", "description": "family"}},
        parameters={"moves": {"value": [-0.1, 0, 0.1], "unit": "ratio", "assumption": "test"},
                    "vols": {"value": [1, 2], "unit": "ratio", "assumption": "test"}},
        quantities={
            "fam_size": quantity("sum(abs(size), by=family)", axis="family", unit="contract"),
            "share": quantity("abs(size) / fam_size[family]", axis="position", unit="ratio"),
            "pnl": quantity("size * move * vol", axis="position x scenario", unit="contract"),
            "fam_pnl": quantity("sum(pnl, by=family)", axis="family x scenario", unit="contract"),
            "worst": quantity("min(fam_pnl, over=scenario)", axis="family", unit="contract"),
            "worst_total": quantity("sum(worst)", unit="contract"),
            "move_x": quantity("move * 2", axis="scenario", unit="ratio"),
        },
    )
    data = snap([{"currency": "USDT"}], [
        {"inst_id": "A", "settle": "USDT", "fam": "BTC", "size": 10},
        {"inst_id": "B", "settle": "USDT", "fam": "BTC", "size": -30},
        {"inst_id": "C", "settle": "USDT", "fam": "ETH", "size": 5},
    ])
    grid_moves = [-0.1, -0.1, 0, 0, 0.1, 0.1]
    grid_vols = [1, 2, 1, 2, 1, 2]
    for values in all_paths(load(root), data):
        assert values["fam_size"] == [40, 5]
        assert values["share"] == [0.25, 0.75, 1.0]
        want_btc = [-20 * m * v for m, v in zip(grid_moves, grid_vols)]
        want_eth = [5 * m * v for m, v in zip(grid_moves, grid_vols)]
        assert same(values["fam_pnl"], [want_btc, want_eth])
        assert same(values["worst"], [min(want_btc), min(want_eth)])
        assert same(values["worst_total"], min(want_btc) + min(want_eth))
        assert same(values["move_x"], [2 * m for m in grid_moves])


def test_states_take_the_most_severe_threshold(make_rules):
    root = make_rules(
        parameters={"one_usd": {"value": 1, "unit": "USD", "assumption": "test"}},
        quantities={"ratio": quantity("sum(balance * price) / one_usd", unit="ratio")},
        thresholds={
            "warn": {"axis": "account", "when": "ratio <= 3", "severity": 1, "assumption": "test"},
            "liq": {"axis": "account", "when": "ratio <= 1", "severity": 2, "assumption": "test"},
            "neg": {"axis": "currency", "when": "balance < 0", "severity": 1, "assumption": "test"},
        },
    )
    rules = load(root)
    for total, state, triggered in ((5, "normal", []), (2, "warn", ["warn"]), (1, "liq", ["warn", "liq"])):
        r = rules.evaluate(snap([{"currency": "A", "balance": total + 1}, {"currency": "B", "balance": -1}]))
        assert r.state() == state
        assert r.states["account"]["triggered"] == triggered
        assert r.state("currency", "B") == "neg" and r.state("currency", "A") == "normal"


def test_a_batch_gives_the_same_values_as_one_snapshot_at_a_time(make_rules):
    root = make_rules(tables={"t": dict(TIERS, bound={"unit": "USD", "description": "USD value"})}, quantities={
        "usd": quantity("progressive(t.rate, balance * price, currency)", axis="currency"),
        "pos": quantity("sum(size * ct_val * price[settle], where=mode == 'cross')"),
        "total": quantity("sum(usd) + pos"),
    })
    rules = load(root)
    rng = np.random.default_rng(7)
    snaps = []
    for a in range(40):
        coins = ["BTC", "ETH", "USDT"][: 1 + a % 3]
        cur = [{"currency": c, "balance": float(rng.uniform(-50, 500)), "price": float(rng.uniform(0.5, 3))} for c in coins]
        pos = [{"inst_id": f"P{k}", "settle": coins[k % len(coins)], "size": float(rng.uniform(-9, 9)),
                "mode": "cross" if k % 2 else "isolated"} for k in range(a % 5)]
        snaps.append(snap(cur, pos))
    batch = rules.batch(snaps)
    for block in (1, 7, 1000):
        out = evaluate_batch(rules.kernel, batch, block)
        for i, s in enumerate(snaps):
            single = rules.values(s).values
            assert out["total"][i] == pytest.approx(single["total"], rel=1e-12)
    cols = Batch.from_columns(
        rules.kernel.plan, 2,
        currencies={"account": np.array([0, 0, 1]), "currency": np.array(["BTC", "USDT", "BTC"], dtype=object),
                    "balance": np.array([150.0, 10, 50]), "price": np.array([1.0, 1, 2])},
        positions={"account": np.array([1]), "inst_id": np.array(["X"], dtype=object), "settle": np.array(["BTC"], dtype=object),
                   "size": np.array([2.0])},
    )
    out = evaluate_batch(rules.kernel, cols)
    assert out["usd"].tolist() == [125.0, 9.0, 100.0]
    assert out["total"].tolist() == [134.0, 104.0]


def test_a_costly_branch_on_a_row_condition_is_computed_on_its_rows_only(make_rules):
    """The numpy kernel computes `if(row condition, value, constant)` with a costly value on the rows where the
    condition holds: the other rows get the constant even where the value is undefined (log of a negative).
    A value it reads through a reference (price[settle]) is read for those rows only."""
    costly = " + ".join(f"log(x * price[settle] * {k}) / {k}" for k in range(1, 12))  # = log(x) sum(1 / k) + sum(log k / k)
    root = make_rules(inputs={"x": {"axis": "position", "type": "number", "unit": "settle/USD", "description": "x", "default": 1}},
                      quantities={"q": quantity(f"if(mode == 'cross', {costly}, 7)", axis="position", unit="1")})
    rules = load(root)
    cross = sum(1 / k for k in range(1, 12)) + sum(math.log(k) / k for k in range(1, 12))  # at x = e
    snaps = [snap([{"currency": "USDT", "price": 1}], [{"inst_id": "A", "settle": "USDT", "x": math.e, "mode": "cross"},
                                                       {"inst_id": "B", "settle": "USDT", "x": -2.0, "mode": "isolated"}]),
             snap([{"currency": "USDT", "price": 1}], [{"inst_id": "C", "settle": "USDT", "x": -1.0, "mode": "isolated"}])]
    source = inspect.getsource(rules.kernel.batch)
    assert re.search(r"_rows\d+ = numpy.flatnonzero", source)
    assert "v_price[i_" in source and not re.search(r"= v_price\[i_\w+\]$", source, re.M)  # no gather to every row
    for values in all_paths(rules, snaps[0]):
        assert values["q"] == pytest.approx([cross, 7], rel=1e-12)
    out = evaluate_batch(rules.kernel, rules.batch(snaps))
    assert out["q"].tolist() == pytest.approx([cross, 7, 7], rel=1e-12)


def test_a_lookup_default_covers_keys_the_table_does_not_list(make_rules):
    table = dict(TIERS, tiers={"BTC": TIERS["tiers"]["BTC"]})
    root = make_rules(tables={"t": table}, quantities={
        "p": quantity("if(balance > 0, progressive(t.rate, balance, currency, default=0), balance)", axis="currency", unit="coin"),
        "r": quantity("tier(t.rate, balance, currency, default=-1)", axis="currency", unit="ratio"),
    })
    for values in all_paths(load(root), snap([{"currency": "BTC", "balance": 150}, {"currency": "XRP", "balance": -50},
                                              {"currency": "DOGE", "balance": 70}])):
        assert values["p"] == [125, -50, 0]
        assert values["r"] == [0.5, -1, -1]


def test_a_reference_on_the_account_reads_one_row(make_rules):
    root = make_rules(
        inputs={"margin_coin": {"axis": "account", "type": "ref", "to": "currency", "as_unit": "settle", "default": "USDT", "description": "margin coin"}},
        quantities={"margin_available": quantity("balance[margin_coin]", unit="settle")},
    )
    rows = [{"currency": "BTC", "balance": 2}, {"currency": "USDT", "balance": 5}]
    for values in all_paths(load(root), snap(rows)):
        assert values["margin_available"] == 5
    for values in all_paths(load(root), snap(rows, account={"margin_coin": "BTC"})):
        assert values["margin_available"] == 2
    out = evaluate_batch(load(root).kernel, Batch.from_columns(
        load(root).kernel.plan, 2, account={"margin_coin": np.array(["USDT", "BTC"], dtype=object)},
        currencies={"account": np.array([0, 0, 1, 1]), "currency": np.array(["BTC", "USDT", "BTC", "USDT"], dtype=object),
                    "balance": np.array([2.0, 5, 7, 9])}))
    assert out["margin_available"].tolist() == [5.0, 7.0]
