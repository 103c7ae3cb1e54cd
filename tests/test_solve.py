"""Solve and sensitivity: the solved input value reproduces the target when evaluated,
symbolic where the algebra allows, and derivatives match finite differences."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import marginspec
import pytest
from marginspec.api import Rules
from marginspec.errors import EvaluationError
from marginspec.source.catalog import Catalog
from marginspec.tools.solve import parse_cells, sensitivity, solve, with_value

from conftest import DEMO_RULES, DEMO_SNAPSHOT, quantity

EXAMPLES = Path(__file__).resolve().parents[1] / "exchanges"
# bundled example -> (rule set, target quantity, cells moved together)
CASES = [
    ("okx/examples/multi_currency_margin.json", "okx/multi_currency_margin", "margin_ratio",
     ["usd_price[BTC]", "mark_price[BTC-USDT-SWAP]", "mark_price[BTC-USD-SWAP]"]),
    ("okx/examples/multi_currency_margin.json", "okx/multi_currency_margin", "margin_ratio", ["usd_price[ETH]"]),
    ("gate/examples/multi_currency_margin.json", "gate/multi_currency_margin", "maintenance_margin_ratio", ["index_price[BTC]"]),
]


def value_at(rules: Rules, data: dict, cells: list[str], x: float, name: str) -> float:
    return rules.values(with_value(rules, data, parse_cells(rules, data, cells), x)).values[name]


def bisect(rules: Rules, data: dict, cells: list[str], name: str, target: float, lo: float, hi: float) -> float:
    """An independent bisection over evaluations of the whole snapshot."""
    f = lambda x: value_at(rules, data, cells, x, name) - target
    flo = f(lo)
    for _ in range(200):
        mid = (lo + hi) / 2
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2


@pytest.mark.parametrize("example, spec, name, cells", CASES, ids=[f"{c[1]}:{c[3][0]}" for c in CASES])
def test_solve_agrees_with_a_bisection_over_evaluate(example, spec, name, cells):
    data = json.loads((EXAMPLES / example).read_text())
    rules = marginspec.load(spec, at=data["as_of"][:10])
    base = parse_cells(rules, data, cells)[0].base
    target = value_at(rules, data, cells, base * 0.9, name)  # a level the account reaches 10% below today's value
    sol = solve(rules, data, name, target, cells)
    # bracketed near the root: a margin ratio with short options margined is not monotone over wide moves
    expected = bisect(rules, data, cells, name, target, base * 0.8, base * 0.99)
    assert sol.root == pytest.approx(expected, rel=1e-6)
    assert sol.method == "symbolic" and sol.closed_form


def test_solve_through_tier_boundaries_is_symbolic_on_the_active_tier():
    rules = Rules(Catalog([DEMO_RULES]).load("demo/basic@2025-01-01"))
    data = json.loads(DEMO_SNAPSHOT.read_text())
    # BTC collateral is discounted progressively (1, 0.97, 0.95 by USD slices): solve inside the 0.97 slice
    sol = solve(rules, data, "discounted_equity[BTC]", 8_000_000, ["index_price[BTC]"])
    # 5M at 1 + (x - 5M) * 0.97 = 8M  ->  x = 5M + 3M / 0.97 USD of BTC, over 200 BTC
    assert sol.method == "symbolic"
    assert sol.root == pytest.approx((5_000_000 + 3_000_000 / 0.97) / 200, rel=1e-12)


def test_unreachable_targets_say_so():
    rules = Rules(Catalog([DEMO_RULES]).load("demo/basic@2025-01-01"))
    data = json.loads(DEMO_SNAPSHOT.read_text())
    sol = solve(rules, data, "discounted_equity[USDT]", -1, ["index_price[BTC]"])
    assert sol.root is None and sol.method == "none"


def test_sensitivities_match_finite_differences():
    rules = Rules(Catalog([DEMO_RULES]).load("demo/basic@2025-01-01"))
    data = json.loads(DEMO_SNAPSHOT.read_text())
    before = copy.deepcopy(data)
    d = sensitivity(rules, data, ["margin_ratio", "adjusted_equity"], ["index_price[BTC]"])
    assert data == before  # the caller's snapshot is not changed
    h = 1e-3
    up, down = (value_at(rules, data, ["index_price[BTC]"], 70000 + dx, "adjusted_equity") for dx in (h, -h))
    assert d["adjusted_equity"] == pytest.approx((up - down) / (2 * h), rel=1e-6)
    assert d["adjusted_equity"] == pytest.approx(200 * 0.95, rel=1e-12)  # 200 BTC in the 0.95 slice at 14M USD
    assert d["margin_ratio"] > 0


def test_sensitivity_and_solve_follow_the_worst_scenario(make_rules):
    """A worst-scenario pick (take=) depends on the varied input; both answers use the scenario that is worst
    at the point they are computed at."""
    root = make_rules(
        axes={"scenario": {"grid": {"move": "moves"}, "description": "grid"}},
        parameters={"moves": {"value": [-0.1, 0.05, 0.1], "unit": "ratio", "assumption": "test"},
                    "limit": {"value": -0.5, "unit": "contract", "assumption": "test"}},
        quantities={
            "pnl": quantity("size * move", axis="position x scenario", unit="contract"),
            "worst": quantity("min(pnl, over=scenario)", axis="position", unit="contract"),
            "worst_move": quantity("min(pnl, over=scenario, take=move)", axis="position", unit="ratio"),
            "exposure": quantity("sum(worst_move * size)", unit="contract"),
            "charge": quantity("if(sum(worst) < limit, -2 * sum(worst), 0)", unit="contract"),
        },
    )
    rules = Rules(Catalog([root]).load("t/m@2025-01-01"))
    data = {"as_of": "2025-02-01", "currencies": [{"currency": "USDT"}],
            "positions": [{"inst_id": "A", "settle": "USDT", "size": 10}, {"inst_id": "B", "settle": "USDT", "size": -4}]}
    d = sensitivity(rules, data, ["exposure", "charge", "worst[A]"], ["size[A]"])
    assert d == {"exposure": pytest.approx(-0.1, rel=1e-12), "charge": pytest.approx(0.2, rel=1e-12),
                 "worst[A]": pytest.approx(-0.1, rel=1e-12)}
    sol = solve(rules, data, "charge", 5, ["size[A]"])  # -2 (-0.1 size - 0.4) = 5  ->  size = 21
    assert sol.method == "symbolic" and sol.root == pytest.approx(21, rel=1e-12)


def test_a_target_undefined_for_the_snapshot_as_given_is_that_error_not_a_crash(make_rules):
    """The search compared 'undefined' with 0 at its starting point (TypeError, exit 4)."""
    root = make_rules(quantities={"ratio": quantity("balance / price", axis="currency", unit="coin^2/USD")})
    rules = Rules(Catalog([root]).load("t/m@2025-01-01"))
    data = {"as_of": "2025-02-01", "currencies": [{"currency": "USDT", "balance": 0, "price": 0}]}
    with pytest.raises(EvaluationError, match="ratio has no defined value"):
        solve(rules, data, "ratio[USDT]", 1, ["balance[USDT]"])
