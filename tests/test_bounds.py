"""Bounded work and clean refusals: what a hostile rule file, snapshot or API
caller can ask of the compiler and the engine, each refused with the limit
and the place, quickly, never with an internal error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import marginspec
import numpy as np
import pytest
from marginspec import MarginspecError
from marginspec.api import Rules
from marginspec.errors import RuleFileError, RuleFileErrors, SnapshotError, UsageError
from marginspec.source.catalog import Catalog

from conftest import quantity

EXAMPLE = Path(__file__).parents[1] / "exchanges" / "okx" / "examples" / "multi_currency_margin.json"


def compile_rules(root) -> Rules:
    rules = Rules(Catalog([root]).load("t/m@2025-01-01"))
    rules.kernel  # compiles
    return rules


@pytest.mark.parametrize("formula, message", [
    ("(-8) ** 0.5 * balance", "has no real value"),
    ("1e299 * 1e299 * balance", "constant is out of range"),
    ("0x1F * balance", "write numbers in decimal"),
    ("1" + "0" * 5000 + " * balance", r"formula: 5,0\d\d characters is too long \(at most 4,000\)"),
    ("max() * balance", r"max\(\) needs a value"),
])
def test_constants_and_calls_a_formula_cannot_mean_are_located_errors(make_rules, formula, message):
    root = make_rules(quantities={"q": quantity(formula, axis="currency", unit="coin")})
    with pytest.raises((RuleFileError, RuleFileErrors), match=message) as info:
        compile_rules(root)
    assert ".yaml:" in str(info.value) and len(str(info.value)) < 600  # located, and no 5,000-character echo


def test_a_long_chain_of_quantities_compiles_and_a_cycle_in_it_is_still_found(make_rules):
    chain = {f"q{i}": quantity(f"q{i + 1} + 1", unit="1") for i in range(1200)} | {"q1200": quantity("count(balance > 0)", unit="1")}
    rules = compile_rules(make_rules(quantities=chain))
    assert rules.values({"as_of": "2025-02-01", "currencies": [{"currency": "A", "balance": 2, "price": 3}]}).values["q0"] == 1201
    chain["q1200"] = quantity("q0 + 1", unit="1")
    with pytest.raises((RuleFileError, RuleFileErrors), match="cycle: q0 -> q1 -> q2"):
        compile_rules(make_rules(quantities=chain))


def test_functions_that_grow_at_every_call_are_refused_by_the_size_they_expand_to(make_rules):
    """One call per level, but the argument uses x three times: the expanded tree triples at each level while
    the text and the number of calls stay small (the syntax-node budget would not see it)."""
    functions = {"f0": {"params": ["x"], "formula": "x + 1", "assumption": "test"}}
    for level in range(1, 12):
        functions[f"f{level}"] = {"params": ["x"], "formula": f"f{level - 1}(x * a + x * a * a + x)", "assumption": "test"}
    root = make_rules(inputs={"a": {"axis": "account", "type": "number", "unit": "1", "description": "a"}},
                      functions=functions, quantities={"q": quantity("f11(a)", unit="1")})
    started = time.perf_counter()
    with pytest.raises(RuleFileErrors, match="expands to more than 20000 operations"):
        compile_rules(root)
    assert time.perf_counter() - started < 30  # refused on its size, not after expanding 2^23 calls (a hang)


def test_a_grid_with_too_many_points_is_refused_before_it_is_built(make_rules):
    def values() -> dict:
        return {"value": list(range(1000)), "unit": "ratio", "assumption": "test"}

    root = make_rules(axes={"scenario": {"grid": {"a": "p1", "b": "p2", "c": "p3"}, "description": "grid"}},
                      parameters={"p1": values(), "p2": values(), "p3": values()},
                      quantities={"q": quantity("a * b * c", axis="scenario", unit="1")})
    with pytest.raises(RuleFileError, match=r"the grid has 1,000,000,000 points; at most 10,000"):
        compile_rules(root)


def test_too_many_formulas_are_refused(make_rules):
    root = make_rules(quantities={f"q{i}": quantity("1") for i in range(2001)})
    with pytest.raises(RuleFileError, match="has 2,001 formulas"):
        compile_rules(root)


def test_a_snapshot_with_too_many_rows_is_refused_before_it_is_validated():
    rules = marginspec.load("okx/multi_currency_margin@2024-11-08")
    data = json.loads(EXAMPLE.read_text())
    data["positions"] = [dict(data["positions"][0], inst_id=f"P{i}") for i in range(100_001)]
    started = time.perf_counter()
    with pytest.raises(SnapshotError, match=r"has 100,00[0-9] rows; one snapshot holds at most 100,000"):
        rules.snapshot(data)
    assert time.perf_counter() - started < 5


DATA = json.loads(EXAMPLE.read_text())
RULES = marginspec.load("okx/multi_currency_margin", at=DATA["as_of"][:10])


@pytest.mark.parametrize("call", [
    lambda: marginspec.load(123),
    lambda: marginspec.load(None),
    lambda: marginspec.load("okx/mcm", at=5),
    lambda: marginspec.load("okx/mcm@2021-01-13", rules="not a list"),
    lambda: marginspec.load("okx/mcm@2021-01-13", rules=[1]),
    lambda: marginspec.evaluate(None, DATA),
    lambda: marginspec.evaluate("okx/mcm", None),
    lambda: marginspec.evaluate("okx/mcm", {"as_of": 5}),
    lambda: RULES.evaluate(DATA, at=5),
    lambda: RULES.evaluate("text"),
    lambda: RULES.values(None),
    lambda: RULES.batch(None),
    lambda: RULES.batch([1]),
    lambda: RULES.columns("x"),
    lambda: RULES.columns(-1),
    lambda: RULES.columns(2, positions=5),
    lambda: RULES.columns(2, account=5),
    lambda: RULES.columns(1, currencies={"account": np.array([0]), "currency": np.array(["BTC"], dtype=object), "cash_balance": ["1"]}),
    lambda: RULES.evaluate_batch(None),
    lambda: RULES.evaluate_batch(RULES.batch([DATA]), block="x"),
    lambda: RULES.evaluate_batch(RULES.batch([DATA]), block=-1),
    lambda: RULES.evaluate(DATA).value("nope"),
    lambda: RULES.evaluate(DATA).value("equity", "NOPE"),
    lambda: RULES.evaluate(DATA).state("nope"),
    lambda: marginspec.api.import_payloads("okx", None),
    lambda: marginspec.api.import_payloads(5, []),
    lambda: marginspec.api.reconcile("okx/mcm", 5),
    lambda: marginspec.api.evaluate_payloads(None, []),
])
def test_the_python_api_answers_a_wrong_argument_with_its_own_error(call):
    with pytest.raises(MarginspecError):
        call()


def test_a_wrong_argument_says_which_and_what_it_takes():
    with pytest.raises(UsageError, match=r"spec: expected venue/mode or venue/mode@YYYY-MM-DD, got int 123"):
        marginspec.load(123)
