"""What if: shocks move exactly the inputs a person would move by hand, the values after are the engine's at
those inputs, and every distance to a threshold is where the engine's state really changes. The cells each
shock should move are written out here, by reading the example snapshots, independently of the rule files'
`analysis` sections that the code reads."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import marginspec
import pytest
from marginspec.cli import main
from marginspec.errors import RuleFileErrors, UsageError
from marginspec.source.catalog import Catalog

from conftest import quantity

EXAMPLES = Path(__file__).resolve().parents[1] / "exchanges"

# (collection, row key, field, how): "coin" multiplies by (1 + move), "quote" divides by it
BTC_CELLS: dict[str, list[tuple[str, str, str, str]]] = {
    "okx/spot": [("currencies", "BTC", "usd_price", "coin")],
    "okx/multi_currency_margin": [("currencies", "BTC", "usd_price", "coin"), ("positions", "BTC-USDT-SWAP", "mark_price", "coin"),
                                  ("positions", "BTC-USD-SWAP", "mark_price", "coin")],
    "okx/single_currency_margin": [("currencies", "BTC", "usd_price", "coin"), ("positions", "BTC-USD-SWAP", "mark_price", "coin"),
                                   ("positions", "BTC-USD-260327", "mark_price", "coin"), ("positions", "BTC-USDT-SWAP", "mark_price", "coin"),
                                   ("positions", "BTC-USD-260327-110000-C", "forward_price", "coin"),
                                   ("positions", "BTC-USD-260327-85000-P", "forward_price", "coin")],
    # (its margin_positions are a collection the version in force ignores: quick margin was withdrawn in 2024)
    "okx/portfolio_margin": [("currencies", "BTC", "usd_price", "coin"), ("positions", "BTC-USDT-SWAP", "mark_price", "coin"),
                             ("positions", "BTC-USD-250627", "mark_price", "coin"), ("positions", "BTC-USDT-SWAP", "index_price", "coin"),
                             ("positions", "BTC-USD-250627", "index_price", "coin")],
    "gate/classic_spot": [("currencies", "BTC", "index_price", "coin")],
    "gate/multi_currency_margin": [("currencies", "BTC", "index_price", "coin"), ("positions", "BTC_USDT", "mark_price", "coin")],
    "gate/single_currency_margin": [("currencies", "BTC", "index_price", "coin"), ("positions", "BTC_USDT", "mark_price", "coin"),
                                    ("options_positions", "BTC_USDT-20261225-120000-C", "underlying_price", "coin")],
    "gate/portfolio_margin": [("currencies", "BTC", "index_price", "coin"), ("positions", "BTC_USDT", "mark_price", "coin"),
                              ("options_positions", "BTC_USDT-20261127-110000-C", "underlying_price", "coin"),
                              ("options_positions", "BTC_USDT-20261127-100000-P", "underlying_price", "coin"),
                              ("options_positions", "BTC_USDT-20261225-120000-C", "underlying_price", "coin")],
}
USDT_CELLS = {
    "gate/multi_currency_margin": [("currencies", "USDT", "index_price", "coin"), ("positions", "BTC_USDT", "mark_price", "quote"),
                                   ("positions", "ZTX_USDT", "mark_price", "quote")],
    "okx/multi_currency_margin": [("currencies", "USDT", "usd_price", "coin"), ("positions", "BTC-USDT-SWAP", "mark_price", "quote"),
                                  ("positions", "ETH-USDT-SWAP", "mark_price", "quote"), ("positions", "SOL-USDT-SWAP", "mark_price", "quote")],
}
KEYS = {"currencies": "currency", "positions": ("inst_id", "contract"), "margin_positions": "inst_id", "options_positions": "contract"}


def example(spec: str) -> dict[str, Any]:
    venue, mode = spec.split("/")
    return json.loads((EXAMPLES / venue / "examples" / f"{mode}.json").read_text())


def row(data: dict[str, Any], collection: str, key: str) -> dict[str, Any]:
    fields = KEYS[collection] if isinstance(KEYS[collection], tuple) else (KEYS[collection],)
    return next(r for r in data[collection] if any(r.get(f) == key for f in fields))


def by_hand(data: dict[str, Any], cells: list[tuple[str, str, str, str]], move: float) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for collection, key, field, how in cells:
        r = row(out, collection, key)
        r[field] = r[field] * (1 + move) if how == "coin" else r[field] / (1 + move)
    return out


def assert_same_values(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            assert_same_values(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_values(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-9) or (math.isinf(a) and a == b), (path, a, b)
    else:
        assert a == b, (path, a, b)


@pytest.mark.parametrize("spec, cells, coin, move", [(s, c, "BTC", -0.1) for s, c in BTC_CELLS.items()]
                         + [(s, c, "USDT", -0.02) for s, c in USDT_CELLS.items()], ids=lambda x: x if isinstance(x, str) else "")
def test_a_shock_moves_the_coins_prices_and_the_values_after_are_the_engines(spec, cells, coin, move):
    data = example(spec)
    w = marginspec.whatif(spec, data, {coin: move})
    assert sorted((m.cell.collection, m.cell.key, m.cell.field) for m in w.moved) == sorted(c[:3] for c in cells)
    expected = marginspec.evaluate(spec, by_hand(data, cells, move))
    assert_same_values(w.after.values, expected.values)
    assert w.after.states == expected.states
    assert_same_values(w.before.values, marginspec.evaluate(spec, data).values)
    assert any(c.before != c.after for c in w.changes)  # the shock moved something the table shows
    assert data == example(spec)  # the caller's snapshot is left as it was


def triggered(result: Any, threshold: str, axis: str) -> set[str]:
    if axis == "account":
        return {"account"} if threshold in result.states["account"]["triggered"] else set()
    return {k: v for k, v in result.states.get(axis, {}).items() if threshold in v["triggered"]}.keys() | set()


@pytest.mark.parametrize("spec", ["okx/single_currency_margin", "gate/single_currency_margin", "gate/multi_currency_margin"])
def test_every_distance_is_where_the_engines_state_changes(spec):
    data = example(spec)
    w = marginspec.whatif(spec, data, {"BTC": -0.1})
    found = 0
    for which, base in (("before", data), ("after", by_hand(data, BTC_CELLS[spec], -0.1))):
        now = marginspec.evaluate(spec, base)
        for d in w.distances[which]:
            assert set(d.triggered) == triggered(now, d.threshold, d.axis)
            for crossing in (d.down, d.up):
                if crossing is None:
                    continue
                found += 1
                there = marginspec.evaluate(spec, by_hand(base, BTC_CELLS[spec], crossing.move))
                short = marginspec.evaluate(spec, by_hand(base, BTC_CELLS[spec], crossing.move - math.copysign(2e-6, crossing.move)))
                assert triggered(there, d.threshold, d.axis) != triggered(now, d.threshold, d.axis), (which, d)
                assert triggered(short, d.threshold, d.axis) == triggered(now, d.threshold, d.axis), (which, d)
                assert set(crossing.rows) <= (triggered(there, d.threshold, d.axis) ^ triggered(now, d.threshold, d.axis))
    assert found >= 4
    # measured from before or after the shock, a crossing is at the same BTC price
    pairs = {(d.threshold, d.coin): d.down for d in w.distances["before"]}
    for d in w.distances["after"]:
        if d.down is not None and pairs[(d.threshold, d.coin)] is not None:
            assert d.down.price == pytest.approx(pairs[(d.threshold, d.coin)].price, rel=1e-5)


def test_adding_and_removing_a_position():
    spec = "okx/multi_currency_margin"
    data = example(spec)
    new = {"inst_id": "ETH-USDT-SWAP-2", "tier_family": "SWAP/ETH-USDT", "contract_type": "linear", "settle_currency": "USDT",
           "size": 100, "ct_val": 0.1, "avg_price": 3300, "mark_price": 3300}
    w = marginspec.whatif(spec, data, {"ETH": 0.05}, add_positions=[new], remove_positions=["SOL-USDT-SWAP"])
    hand = copy.deepcopy(data)
    hand["positions"] = [p for p in hand["positions"] if p["inst_id"] != "SOL-USDT-SWAP"] + [dict(new)]
    hand = by_hand(hand, [("currencies", "ETH", "usd_price", "coin"), ("positions", "ETH-USDT-SWAP", "mark_price", "coin"),
                          ("positions", "ETH-USDT-SWAP-2", "mark_price", "coin")], 0.05)
    assert_same_values(w.after.values, marginspec.evaluate(spec, hand).values)
    assert (w.added, w.removed, w.collection) == (["ETH-USDT-SWAP-2"], ["SOL-USDT-SWAP"], "positions")
    assert [(s.key, s.before, s.after) for s in w.states if s.key == "SOL-USDT-SWAP"] == [("SOL-USDT-SWAP", "normal", None)]
    with pytest.raises(UsageError, match="no row of positions has inst_id 'NOPE'"):
        marginspec.whatif(spec, data, remove_positions=["NOPE"])
    with pytest.raises(UsageError, match="XRP: no input of this snapshot is a price of it"):
        marginspec.whatif(spec, data, {"XRP": 0.1})


def test_cli_whatif_prints_before_after_and_distances(capsys, tmp_path):
    path = EXAMPLES / "okx" / "examples" / "single_currency_margin.json"
    assert main(["whatif", "okx/single_currency_margin", str(path), "--shock", "BTC=-10%"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("okx/single_currency_margin@2024-11-08  what if: BTC -10.00%")
    assert "moved 6 price(s): usd_price[BTC] 95,000 -> 85,500;" in out
    assert "held: avg_price (a position's average open price" in out
    assert re.search(r"liquidation +BTC +no +-70\.\d\d% \(BTC 27,9\d\d\.\d\d\) +not reached", out), out
    assert main(["whatif", "okx/single_currency_margin", str(path), "--shock", "BTC=-10%", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["moves"] == {"BTC": -0.1} and len(data["moved"]) == 6 and data["snapshot"]["currencies"][0]["usd_price"] == 85500
    for bad, message in ((["--shock", "BTC=10"], "expected COIN=MOVE%"), (["--shock", "BTC=-100%"], "cannot fall by 100%"),
                         (["--add-position", "{nope"], "--add-position '{nope': not JSON at line 1")):
        assert main(["whatif", "okx/single_currency_margin", str(path), *bad]) == 2
        assert message in capsys.readouterr().err


def test_every_bundled_rule_set_says_which_of_its_coin_prices_move():
    """Every number input quoted per coin (USD/coin, x/base) is a price a shock moves or one it holds, with the reason."""
    cat = Catalog()
    for versions in cat.files.values():
        for e in versions:
            rs = cat.load_file(e)
            priced = {n for n, i in rs.inputs.items() if i.type == "number" and i.unit and re.fullmatch(r"(USD|settle|quote)/(coin|base)", i.unit)}
            assert priced, rs.ref
            assert priced <= set(rs.analysis.prices) | set(rs.analysis.held), (rs.ref, priced - set(rs.analysis.prices) - set(rs.analysis.held))


def test_the_analysis_section_is_checked_at_load(make_rules):
    bad = {"prices": {"price": {"coin": "row_key"}, "size": {"coin": {"field": "nope"}},
                      "balance": {"coin": "row_key", "when": {"mode": ["cross"]}}},
           "held": {"settle": "not a number input"},
           "scenarios": {"quantity": "q", "x": "a", "y": "b"}}
    root = make_rules(quantities={"q": quantity("sum(balance * price)")}, analysis=bad)
    with pytest.raises(RuleFileErrors) as err:
        Catalog([root]).load("t/m@2025-01-01")
    text = str(err.value)
    assert re.search(r"2025-01-01\.yaml:\d+:\d+: analysis: prices\.size\.coin\.field: 'nope' is neither the key of the position rows", text)
    assert "prices.balance.when: 'mode' is not an enum, text, boolean or ref input on the currency axis" in text
    assert "held.settle: not a number input of t/m@2025-01-01" in text
    assert "scenarios.quantity: 'q' is not a quantity on rows x grid" in text
    assert "prices.price" not in text  # the one right entry


@pytest.mark.parametrize("spec, coin", [("gate/single_currency_margin", "BTC"), ("okx/multi_currency_margin", "ETH")])
def test_solve_on_a_coin_finds_the_liquidation_price_whatif_finds(spec, coin):
    """Two routes to one answer: solve --vary COIN (bisection, then the exact root of the active branch) and the
    distance whatif reports (bisection over threshold states)."""
    from marginspec.tools.solve import default_target, solve

    data = example(spec)
    rules = marginspec.load(spec, at=data["as_of"][:10])
    name, level, threshold = default_target(rules)
    sol = solve(rules, data, name, level, [coin])
    assert sol.method == "symbolic" and sol.vary.startswith(f"{'usd_price' if spec.startswith('okx') else 'index_price'}[{coin}] (with ")
    [d] = [d for d in marginspec.whatif(spec, data, distance_coins=[coin]).distances["before"] if d.threshold == threshold]
    crossing = d.down or d.up
    assert crossing is not None and crossing.price == pytest.approx(sol.root, rel=2e-6)
