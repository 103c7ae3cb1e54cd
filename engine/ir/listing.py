"""The compiled plan as a person reads it (`marginspec plan`): the axes, the
inputs and indexes a snapshot provides, the tables, and every step in order
with its shape, what it computes, what it reads and which entry's formula
made it. For rule authors checking what a formula became, and for whoever
changes a backend."""

from __future__ import annotations

from typing import Any

from .plan import Aggregate, Elementwise, Gather, Lookup, Plan, Step


def describe(step: Step) -> str:
    """What a step computes, in the plan's own terms."""
    if isinstance(step, Elementwise):
        return str(step.expr)
    if isinstance(step, Gather):
        return f"{step.source}[{step.index}]"
    if isinstance(step, Aggregate):
        parts = [step.source or "1"] + [f"{k}={v}" for k, v in (("by", step.index), ("where", step.mask), ("take", step.take),
                                                               ("default", step.default)) if v is not None]
        return f"{step.op}({', '.join(parts)})" + ("  over the grid" if step.index is None else "")
    assert isinstance(step, Lookup)
    key = f", key={step.key}" if step.key else ""
    default = f", default={step.default}" if step.default is not None else ""
    return f"{'tier' if step.mode == 'step' else 'progressive'}({step.table}.{step.column}, {step.arg}{key}{default})"


def plan_data(plan: Plan) -> dict[str, Any]:
    """The plan as JSON data."""
    return {
        "ruleset": plan.ruleset,
        "axes": {a.name: {k: v for k, v in vars(a).items() if v is not None and k != "name"} for a in plan.row_axes.values()}
        | {g.name: {"grid": {c: list(v) for c, v in g.columns.items()}} for g in plan.grid_axes.values()},
        "inputs": [{"name": i.var.name, "axis": i.axis, "kind": i.var.kind, "codes": list(i.codes)} for i in plan.inputs],
        "indexes": [{"name": iv.name, "on": iv.axis, "into": iv.target, "how": iv.how, "field": iv.field} for iv in plan.indexes.values()],
        "tables": {t.name: {"keys": len(t.keys), "columns": list(t.columns)} for t in plan.tables.values()},
        "steps": [{"out": s.out.name, "shape": str(s.out.shape), "kind": type(s).__name__.lower(), "computes": describe(s),
                   "reads": list(s.reads), "from": s.origin} for s in plan.steps],
        "outputs": {n: plan.locations.get(n, "") for n in plan.outputs},
        "guards": plan.guards,
    }


def plan_text(plan: Plan) -> list[str]:
    """The plan as lines of text."""
    out = [f"plan of {plan.ruleset}: {len(plan.steps)} steps, {len(plan.outputs)} outputs", "", "axes"]
    for a in plan.row_axes.values():
        what = f"rows of {a.collection} keyed by {a.key}" if a.collection else f"{a.group_of} grouped by {a.by}"
        out.append(f"  {a.name}: {what}")
    for g in plan.grid_axes.values():
        out.append(f"  {g.name}: grid of {g.size} points ({', '.join(g.columns)})")
    out += ["", "inputs"] + [f"  {i.var.name} [{'choice' if i.codes else i.var.kind}] on {i.axis}" + (f" ({', '.join(i.codes)})" if i.codes else "")
                             for i in plan.inputs]
    out += ["", "indexes"] + [f"  {iv.name}: {iv.axis} -> {iv.target} by {iv.how}" + (f" ({iv.field})" if iv.field else "") for iv in plan.indexes.values()]
    out += ["", "tables"] + [f"  {t.name}: {len(t.keys)} keys, columns {', '.join(t.columns)}" for t in plan.tables.values()]
    out += ["", "steps (in order)"]
    for k, s in enumerate(plan.steps):
        mark = "  (output)" if s.out.name in plan.outputs else ""
        out.append(f"  {k:>3} {s.out.name} [{s.out.shape}] = {describe(s)}{mark}")
        out.append(f"      reads {', '.join(s.reads) or 'nothing'}" + (f"; from {s.origin} ({plan.locations.get(s.origin, '')})" if s.origin else ""))
    if plan.guards:
        out += ["", "guards (NaN where a threshold's condition is undefined)"] + [f"  {t}: {g}" for t, g in plan.guards.items()]
    return out
