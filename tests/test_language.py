"""The rule language for authors: tables that stop at a bound, keyed parameters
and keyed tables, axis keys that keep the venue's field names, one rule for
min/max, and deduction columns derived from their tiers."""

from __future__ import annotations

import pytest
from marginspec.api import Rules
from marginspec.errors import EvaluationError, RuleFileError, RuleFileErrors, SnapshotError
from marginspec.source.catalog import Catalog

from conftest import quantity
from test_semantics import snap, three_paths

RATE = {"rate": {"unit": "ratio", "description": "rate"}}


def load(root) -> Rules:
    return Rules(Catalog([root]).load("t/m@2025-01-01"))


def table(tiers, **extra):
    return {"bound": {"unit": "coin", "description": "x"}, "interval": "lower_open", "columns": RATE, "tiers": tiers,
            "status": "illustrative", "assumption": "test", **extra}


def errors(exc) -> str:
    return str(exc.value)


BOUNDED = {"BTC": [{"lower": 0, "upper": 100, "rate": 0.5}, {"lower": 100, "upper": 200, "rate": 0.25}]}


def test_a_table_may_stop_at_a_bound_and_a_read_beyond_it_names_the_table_the_key_and_the_value(make_rules):
    root = make_rules(tables={"t": table(BOUNDED)}, quantities={
        "r": quantity("tier(t.rate, balance, currency)", axis="currency", unit="ratio"),
        "p": quantity("progressive(t.rate, balance, currency)", axis="currency", unit="coin")})
    rules = load(root)
    python, numpy_, exact = three_paths(rules, snap([{"currency": "BTC", "balance": 200}]))
    assert python["r"] == numpy_["r"] == exact["r"] == [0.25] and python["p"] == numpy_["p"] == [75]
    with pytest.raises(EvaluationError, match=r"250 is beyond the last tier of table 't' for 'BTC' \(its tiers end at 200\) for currency 'BTC'"):
        rules.evaluate(snap([{"currency": "BTC", "balance": 250}]))
    with pytest.raises(EvaluationError, match="beyond the last tier"):
        rules.evaluate_batch(rules.batch([snap([{"currency": "BTC", "balance": 1}]), snap([{"currency": "BTC", "balance": 201}])]))


def test_a_table_that_says_its_last_tier_goes_on_reads_it_beyond(make_rules):
    root = make_rules(tables={"t": table(BOUNDED, beyond="last")},
                      quantities={"r": quantity("tier(t.rate, balance, currency)", axis="currency", unit="ratio")})
    assert load(root).evaluate(snap([{"currency": "BTC", "balance": 1e9}])).value("r", "BTC") == 0.25


def test_an_open_tier_must_be_the_last_one(make_rules):
    tiers = {"BTC": [{"lower": 0, "upper": None, "rate": 0.5}, {"lower": 100, "upper": 200, "rate": 0.25}]}
    root = make_rules(tables={"t": table(tiers)}, quantities={"r": quantity("tier(t.rate, balance, currency)", axis="currency", unit="ratio")})
    with pytest.raises((RuleFileError, RuleFileErrors), match=r"tier BTC\[0\] has no upper bound, but tiers follow it"):
        load(root).kernel


KEYED = {"ltv": {"by": "currency", "values": {"ETH": 0.55, "BTC": 0.6}, "default": 1, "unit": "ratio", "assumption": "test"}}


def test_a_keyed_parameter_is_a_value_per_key_with_a_default(make_rules):
    root = make_rules(parameters=KEYED, quantities={
        "collateral": quantity("sum(balance * price * ltv)"),
        "ltv_of_settle": quantity("ltv[settle]", axis="position", unit="ratio")})
    rules = load(root)
    data = snap([{"currency": "BTC", "balance": 1, "price": 100}, {"currency": "ETH", "balance": 2, "price": 10},
                 {"currency": "DOGE", "balance": 5, "price": 1}], [{"inst_id": "P", "settle": "ETH"}])
    python, numpy_, exact = three_paths(rules, data)
    assert python["collateral"] == numpy_["collateral"] == pytest.approx(60 + 11 + 5) == exact["collateral"]
    assert python["ltv_of_settle"] == numpy_["ltv_of_settle"] == [0.55]
    root = make_rules(parameters={"ltv": {k: v for k, v in KEYED["ltv"].items() if k != "default"}},
                      quantities={"collateral": quantity("sum(balance * price * ltv)")})
    with pytest.raises(SnapshotError, match=r"currencies\[2\].currency: table 'ltv' has no tiers for 'DOGE'"):
        load(root).evaluate(data)


def test_a_keyed_parameter_by_a_text_field_or_a_grouping_axis(make_rules):
    root = make_rules(
        axes={"family": {"group": "position", "by": "fam", "description": "families"}},
        inputs={"fam": {"axis": "position", "type": "text", "description": "family"}},
        parameters={"move": {"by": "fam", "values": {"BTC": 0.1, "ETH": 0.2}, "unit": "ratio", "assumption": "test"},
                    "cap": {"by": "family", "values": {"BTC": 5, "ETH": 7}, "unit": "contract", "assumption": "test"}},
        quantities={"shock": quantity("size * move", axis="position", unit="contract"),
                    "room": quantity("cap - sum(size, by=family)", axis="family", unit="contract")})
    data = snap([{"currency": "USDT"}], [{"inst_id": "A", "settle": "USDT", "fam": "ETH", "size": 10},
                                         {"inst_id": "B", "settle": "USDT", "fam": "BTC", "size": 3}])
    python, numpy_, exact = three_paths(load(root), data)
    assert python["shock"] == numpy_["shock"] == pytest.approx([2, 0.3])
    assert python["room"] == numpy_["room"] == exact["room"] == [2, -3]  # families in key order: BTC, ETH


def test_a_keyed_table_is_read_by_key_alone(make_rules):
    keyed = {"columns": {"mr1": {"unit": "ratio", "description": "move"}, "mr6": {"unit": "ratio", "description": "extreme"}},
             "values": {"BTC": {"mr1": 0.15, "mr6": 0.24}, "*": {"mr1": 0.3, "mr6": 0.5}}, "status": "illustrative", "assumption": "test"}
    root = make_rules(tables={"pm": keyed}, quantities={"worst": quantity("balance * max(pm.mr1[currency], pm.mr6[currency] / 2)",
                                                                          axis="currency", unit="coin")})
    python, numpy_, exact = three_paths(load(root), snap([{"currency": "BTC", "balance": 10}, {"currency": "XRP", "balance": 2}]))
    assert python["worst"] == numpy_["worst"] == pytest.approx([1.5, 0.6]) == exact["worst"]
    root = make_rules(tables={"pm": keyed}, quantities={"w": quantity("tier(pm.mr1, balance, currency)", axis="currency", unit="ratio")})
    with pytest.raises(RuleFileErrors, match=r"table 'pm' has no tiers: read it by key alone, pm.mr1\[key\]"):
        load(root).kernel
    root = make_rules(tables={"t": table(BOUNDED)}, quantities={"w": quantity("t.rate[currency]", axis="currency", unit="ratio")})
    with pytest.raises(RuleFileErrors, match=r"table 't' has tiers: read it at a value with tier\(t.rate, x, key\)"):
        load(root).kernel


def test_a_grouping_axis_key_reads_a_keyed_table_on_the_groups_rows(make_rules):
    """`family.fam`: the value a grouping axis groups by, on its own rows; a keyed table read by it is a value
    per group, without lifting a per-position read with max(..., by=family)."""
    keyed = {"columns": {"move": {"unit": "ratio", "description": "move"}},
             "values": {"BTC": {"move": 0.12}, "*": {"move": 0.25}}, "status": "illustrative", "assumption": "test"}
    root = make_rules(
        axes={"family": {"group": "position", "by": "fam", "description": "families"}},
        inputs={"fam": {"axis": "position", "type": "text", "description": "family"}},
        tables={"pm": keyed},
        quantities={"move": quantity("pm.move[family.fam]", axis="family", unit="ratio"),
                    "shock": quantity("move * sum(size, by=family)", axis="family", unit="contract")})
    data = snap([{"currency": "USDT"}], [{"inst_id": "A", "settle": "USDT", "fam": "ETH", "size": 10},
                                         {"inst_id": "B", "settle": "USDT", "fam": "BTC", "size": 3},
                                         {"inst_id": "C", "settle": "USDT", "fam": "BTC", "size": 1}])
    python, numpy_, exact = three_paths(load(root), data)
    assert python["move"] == numpy_["move"] == exact["move"] == [0.12, 0.25]  # families in key order: BTC, ETH
    assert python["shock"] == numpy_["shock"] == pytest.approx([0.48, 2.5])
    root = make_rules(axes={"family": {"group": "position", "by": "fam", "description": "families"}},
                      inputs={"fam": {"axis": "position", "type": "text", "description": "family"}}, tables={"pm": keyed},
                      quantities={"move": quantity("pm.move[fam]", axis="family", unit="ratio")})
    with pytest.raises(RuleFileErrors, match=r"live on position, but the entry says axis family"):
        load(root).kernel


def test_axis_keys_keep_each_collections_field_name(make_rules):
    """Two collections keyed by `symbol` (as the venue names both): each key is axis.symbol in formulas."""
    root = make_rules(
        axes={"unit": {"collection": "risk_units", "key": "symbol", "description": "units"},
              "position": {"collection": "positions", "key": "symbol", "description": "positions"}},
        inputs={"settle": {"axis": "position", "type": "ref", "to": "currency", "as_unit": "settle", "description": "settle"},
                "unit_of": {"axis": "position", "type": "ref", "to": "unit", "description": "unit"},
                "size": {"axis": "position", "type": "number", "unit": "contract", "description": "size", "default": 0},
                "ct_val": {"axis": "position", "type": "number", "unit": "settle/contract", "description": "value", "default": 1},
                "mode": {"axis": "position", "type": "enum", "values": ["cross", "isolated"], "default": "cross", "description": "mode"}},
        parameters={"limit": {"by": "unit", "values": {"BTC": 100}, "default": 10, "unit": "contract", "assumption": "test"}},
        quantities={"room": quantity("limit - sum(size, by=unit_of)", axis="unit", unit="contract"),
                    "rate": quantity("tier(t.rate, size, position.symbol, default=0)", axis="position", unit="ratio")},
        tables={"t": table({"P1": [{"lower": 0, "upper": None, "rate": 0.5}]}, bound={"unit": "contract", "description": "x"})})
    data = {"as_of": "2025-02-01", "currencies": [{"currency": "USDT"}], "risk_units": [{"symbol": "BTC"}, {"symbol": "ETH"}],
            "positions": [{"symbol": "P1", "settle": "USDT", "unit_of": "BTC", "size": 30}, {"symbol": "P2", "settle": "USDT", "unit_of": "ETH", "size": 4}]}
    values = load(root).evaluate(data)
    assert values.value("room") == {"BTC": 70, "ETH": 6}
    assert values.value("rate") == {"P1": 0.5, "P2": 0}


@pytest.mark.parametrize("formula, message", [
    ("max()", r"max\(\) needs a value"),
    ("min(balance, price, where=balance > 0)", r"compares them value by value and takes no keywords; to reduce rows, give one value"),
    ("max(sum(balance * price))", r"has nothing to reduce; say by= or over= \(the max of two values is max\(a, b\)\)"),
])
def test_min_and_max_have_one_rule_and_say_it(make_rules, formula, message):
    root = make_rules(quantities={"q": quantity(formula)})
    with pytest.raises(RuleFileErrors, match=message):
        load(root).kernel


GATE_LIKE = {"BTC_USDT": [{"lower": 0, "upper": 1000000, "mm": 0.004, "deduction": 0},
                          {"lower": 1000000, "upper": 1500000, "mm": 0.0045, "deduction": 500},
                          {"lower": 1500000, "upper": None, "mm": 0.005}]}  # the last deduction is derived: 1250


def deduction_table(tiers):
    return {"bound": {"unit": "USD", "description": "value"}, "interval": "lower_open", "status": "illustrative", "assumption": "test",
            "columns": {"mm": {"unit": "ratio", "description": "rate"}, "deduction": {"unit": "USD", "description": "d", "deduction_of": "mm"}},
            "tiers": tiers}


def test_a_deduction_column_is_derived_from_its_rates_or_checked_against_them(make_rules):
    inputs = {"value": {"axis": "account", "type": "number", "unit": "USD", "description": "v"},
              "contract": {"axis": "account", "type": "text", "description": "c", "default": "BTC_USDT"}}
    formulas = {"quick": quantity("value * tier(risk.mm, value, contract) - tier(risk.deduction, value, contract)"),
                "sliced": quantity("progressive(risk.mm, value, contract)")}
    root = make_rules(tables={"risk": deduction_table(GATE_LIKE)}, inputs=inputs, quantities=formulas)
    for v in (900_000, 1_200_000, 4_000_000):
        result = load(root).evaluate(snap(account={"value": v}))
        assert result.value("quick") == pytest.approx(result.value("sliced"), rel=1e-12)
    wrong = {"BTC_USDT": [dict(r) for r in GATE_LIKE["BTC_USDT"]]}
    wrong["BTC_USDT"][1]["deduction"] = 600  # the tiers were replaced, the deductions were not
    root = make_rules(tables={"risk": deduction_table(wrong)}, inputs=inputs, quantities=formulas)
    with pytest.raises((RuleFileError, RuleFileErrors), match=r"tier BTC_USDT\[1\] deduction is 600, but its tiers give 500"):
        load(root).kernel
