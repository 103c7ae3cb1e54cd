"""Dimensional analysis of formulas: every planted unit error is a load error with
file:line:column and both units; correct formulas pass."""

from __future__ import annotations

import pytest
from marginspec.errors import RuleFileError, RuleFileErrors
from marginspec.ir.compiler import compile_plan
from marginspec.language.units import parse_unit, show
from marginspec.source.catalog import Catalog

from conftest import quantity

POSITION_UNITS = {
    "ctv": {"axis": "position", "type": "number", "unit": "face/contract", "description": "contract value", "default": 1},
    "mark": {"axis": "position", "type": "number", "unit": "quote/base", "description": "mark price", "default": 1},
    "avg": {"axis": "position", "type": "number", "unit": "quote/base", "description": "entry price", "default": 1},
    "rate": {"axis": "currency", "type": "number", "unit": "ratio", "description": "a rate", "default": 0},
    "pct": {"axis": "currency", "type": "number", "unit": "percent", "description": "a percentage", "default": 0},
    "kind": {"axis": "position", "type": "enum", "values": ["linear", "inverse", "option"], "default": "linear", "description": "kind",
             "unit_identities": {"linear": ["face = base", "settle = quote"], "inverse": ["face = quote", "settle = base"],
                                 "option": ["face = base", "quote = settle"]}},
}


def compile_with(make_rules, **quantities):
    root = make_rules(inputs=POSITION_UNITS, quantities=quantities)
    return compile_plan(Catalog([root]).load("t/m@2025-01-01"))


@pytest.mark.parametrize(
    "formula, axis, unit, message",
    [
        ("balance + balance * price", "currency", "coin", "cannot add or subtract values in coin and in USD"),
        ("rate <= balance", "currency", "ratio", "cannot compare values in 1 (a plain number) and in coin"),
        ("if(rate > 0, balance, price)", "currency", "coin", "the branches of if() give values in coin and in USD/coin"),
        ("max(balance, price)", "currency", "coin", "max() of values in coin and in USD/coin"),
        ("exp(balance)", "currency", "1", "exp() takes a plain number, not a value in coin"),
        ("sum(balance)", "account", "coin", "totals values in coin into the account, but coin differs from row to row"),
        ("sum(size * ctv * mark)", "account", "USD", "totals values in"),
        ("rate + pct", "currency", "ratio", "cannot add or subtract values in 1 (a plain number) and in percent"),
        ("balance * price", "currency", "coin", "the formula gives a value in USD, but the entry declares unit coin"),
        ("size * ctv * (mark - avg)", "position", "settle", "gives a value in contract*face*quote/(base*contract)"),
    ],
)
def test_planted_unit_errors_name_the_place_and_both_units(make_rules, formula, axis, unit, message):
    with pytest.raises((RuleFileError, RuleFileErrors)) as info:
        compile_with(make_rules, q=quantity(formula, axis=axis, unit=unit))
    text = str(info.value)
    assert "rules/t/m/2025-01-01.yaml:" in text
    assert message.replace("contract*face*quote/(base*contract)", "face*quote/base") in text or message in text


def test_units_follow_linear_inverse_and_option_contracts_through_enum_identities(make_rules):
    pnl = ("if(kind == 'linear', size * ctv * (mark - avg), if(kind == 'inverse', size * ctv * (1 / avg - 1 / mark), "
           "size * ctv * (mark - avg)))")
    plan = compile_with(
        make_rules,
        upl=quantity(pnl, axis="position", unit="settle"),
        equity=quantity("balance + sum(upl, by=settle)", axis="currency", unit="coin"),
        equity_usd=quantity("sum(equity * price)"),
        settle_price=quantity("price[settle]", axis="position", unit="USD/settle"),
    )
    assert {"upl", "equity", "equity_usd", "settle_price"} <= set(plan.outputs)


def test_a_reference_without_as_unit_cannot_carry_a_row_coin(make_rules):
    inputs = dict(POSITION_UNITS, settle={"axis": "position", "type": "ref", "to": "currency", "description": "no as_unit"})
    root = make_rules(inputs=inputs, quantities={"q": quantity("balance[settle]", axis="position", unit="coin")})
    with pytest.raises(RuleFileErrors, match="own coin; give the reference an as_unit"):
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))


def test_table_reads_need_the_unit_of_the_tiers(make_rules):
    table = {"bound": {"unit": "USD", "description": "USD value"}, "interval": "lower_open", "status": "illustrative",
             "columns": {"r": {"unit": "ratio", "description": "rate"}}, "tiers": {"*": [{"lower": 0, "upper": None, "r": 1}]},
             "assumption": "test"}
    root = make_rules(tables={"t": table}, quantities={"q": quantity("progressive(t.r, balance)", axis="currency", unit="coin")})
    with pytest.raises(RuleFileErrors, match=r"table 't' is read at values in coin and in USD \(the table's tiers are in USD\)"):
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))


def test_a_function_declaring_a_unit_is_checked_where_it_is_called(make_rules):
    root = make_rules(functions={"usd": {"params": ["x"], "formula": "x * 2", "unit": "USD", "assumption": "test"}},
                      quantities={"q": quantity("usd(balance)", axis="currency", unit="coin")})
    with pytest.raises(RuleFileErrors, match="usd\\(\\) gives here values in coin and in USD"):
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))


def test_unknown_unit_symbols_are_load_errors_at_the_unit(make_rules):
    root = make_rules(quantities={"q": quantity("sum(balance * price)", unit="dollars")})
    with pytest.raises(RuleFileError, match="unknown unit 'dollars'") as info:
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))
    assert info.value.location.line is not None


@pytest.mark.parametrize("text, shown", [("USD/coin", "USD/coin"), ("ratio", "1 (a plain number)"), ("1/year^0.5", "1/year^0.5"), ("coin^2", "coin^2"),
                                         ("face/contract", "face/contract"), ("USD*contract/settle", "USD*contract/settle")])
def test_unit_text_round_trips(text, shown):
    assert show(parse_unit(text)) == shown
