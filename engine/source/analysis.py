"""The rule file's `analysis` section: which inputs are prices of which coin
(so that a what-if shock moves every input linked to a coin together), which
coin-priced inputs a shock leaves alone, and how to label a stress grid.

This is data about the inputs that the formulas cannot say: a mark price and an
entry price have the same unit, but only the first moves with the market. It is
merged over `extends` like the other sections and checked against the rule
set's inputs at load, each problem with its file:line:column."""

from __future__ import annotations

from typing import Any

from ..errors import RuleFileError, RuleFileErrors
from . import model
from .ruleset import Origin, RuleSet
from .yamlfile import Document

SECTION = "analysis"


def merged_analysis(rs: RuleSet, parent: RuleSet | None, data: dict[str, Any] | None, doc: Document) -> model.Analysis:
    """The parent's analysis with this file's entries over it (by name; `scenarios` replaced); entries naming
    inputs this file removed are dropped with them. Origins are recorded for error messages."""
    prices = {k: v for k, v in (parent.analysis.prices if parent else {}).items() if k in rs.inputs}
    held = {k: v for k, v in (parent.analysis.held if parent else {}).items() if k in rs.inputs}
    scenarios = parent.analysis.scenarios if parent else None
    data = data or {}
    for name, body in data.get("prices", {}).items():
        prices[name] = model.PriceInput.model_validate(body)
        rs.origins[("analysis.prices", name)] = Origin(doc, (SECTION, "prices", name))
    for name, reason in data.get("held", {}).items():
        held[name] = reason
        rs.origins[("analysis.held", name)] = Origin(doc, (SECTION, "held", name))
    if "scenarios" in data:
        scenarios = model.Scenarios.model_validate(data["scenarios"])
        rs.origins[(SECTION, "scenarios")] = Origin(doc, (SECTION, "scenarios"))
    return model.Analysis(prices=prices, held=held, scenarios=scenarios)


def check_analysis(rs: RuleSet) -> None:
    """Every name in the analysis section is an input (or quantity, or grid column) of the right kind."""
    problems: list[RuleFileError] = []

    def fail(key: tuple[str, str], message: str, *sub: str) -> None:
        problems.append(RuleFileError(f"analysis: {message}", rs.origin(*key).loc(*sub)))

    for name, price in rs.analysis.prices.items():
        key = ("analysis.prices", name)
        inp = rs.inputs.get(name)
        if inp is None or inp.type != "number":
            fail(key, f"prices.{name}: not a number input of {rs.ref}")
            continue
        axis = rs.axes.get(inp.axis)
        if axis is None or axis.kind != "rows":
            fail(key, f"prices.{name}: a price input must be on a row axis (a snapshot collection), not {inp.axis}")
            continue
        for part in ("coin", "quote"):
            spec = getattr(price, part)
            if isinstance(spec, model.CoinField) and spec.field != axis.key:
                coin = rs.inputs.get(spec.field)
                if coin is None or coin.axis != inp.axis or coin.type not in ("ref", "text", "enum"):
                    fail(key, f"prices.{name}.{part}.field: {spec.field!r} is neither the key of the {inp.axis} rows ({axis.key}) "
                         f"nor a ref, text or enum input on that axis", part, "field")
        for field, values in price.when.items():
            cond = rs.inputs.get(field)
            if cond is None or cond.axis != inp.axis or cond.type not in ("enum", "text", "boolean", "ref"):
                fail(key, f"prices.{name}.when: {field!r} is not an enum, text, boolean or ref input on the {inp.axis} axis", "when", field)
            elif cond.type == "enum" and (bad := [v for v in values if v not in cond.values]):
                fail(key, f"prices.{name}.when.{field}: {', '.join(map(str, bad))} not among {', '.join(cond.values)}", "when", field)
    for name in rs.analysis.held:
        inp = rs.inputs.get(name)
        if inp is None or inp.type != "number":
            fail(("analysis.held", name), f"held.{name}: not a number input of {rs.ref}")
    sc = rs.analysis.scenarios
    if sc is not None:
        key = (SECTION, "scenarios")
        q = rs.quantities.get(sc.quantity)
        if q is None or " x " not in q.axis:
            fail(key, f"scenarios.quantity: {sc.quantity!r} is not a quantity on rows x grid", "quantity")
        else:
            grid = q.axis.split(" x ")[1]
            columns = rs.axes[grid].grid or {}
            for label in ("x", "y"):
                name = getattr(sc, label)
                other = rs.quantities.get(name)
                if name not in columns and (other is None or other.axis != q.axis):
                    fail(key, f"scenarios.{label}: {name!r} is neither a column of the grid {grid} ({', '.join(columns)}) "
                         f"nor a quantity on {q.axis}", label)
    if problems:
        raise RuleFileErrors(problems)
