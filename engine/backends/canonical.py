"""The canonical form `diff` compares: a plan's formulas with temporaries
expanded and every aggregation, reference and table read as a named function
of its (expanded) arguments, so two formula texts that compile to the same
computation are equal as sympy expressions."""

from __future__ import annotations

import sympy

from ..ir.plan import Aggregate, Elementwise, Gather, Lookup, Plan, Step
from .semantics import StepVisitor


class Canonical(StepVisitor[sympy.Basic]):
    """Formulas of a plan with temporaries expanded into named functions of their arguments."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.producer: dict[str, Step] = {s.out.name: s for s in plan.steps}
        self.memo: dict[str, sympy.Basic] = {}

    def symbol(self, name: str) -> sympy.Basic:
        step = self.producer.get(name)
        if step is None or not name.startswith("_"):
            return sympy.Symbol(name)
        if name not in self.memo:
            self.memo[name] = self.visit(step)
        return self.memo[name]

    def expand(self, expr: sympy.Basic) -> sympy.Basic:
        return expr.xreplace({s: self.symbol(s.name) for s in expr.free_symbols if s.name.startswith("_")})

    def elementwise(self, step: Elementwise) -> sympy.Basic:
        return self.expand(step.expr)

    def gather(self, step: Gather) -> sympy.Basic:
        return sympy.Function(f"at_{step.index.lstrip('_')}")(self.symbol(step.source))

    def aggregate(self, step: Aggregate) -> sympy.Basic:
        args = [self.symbol(n) if n else sympy.S.One for n in (step.source, step.mask, step.take)]
        how = f"{step.op}_{(step.index or 'grid').lstrip('_')}" + (f"_default_{step.default}" if step.default is not None else "")
        return sympy.Function(how)(*args)

    def lookup(self, step: Lookup) -> sympy.Basic:
        iv = self.plan.indexes[step.key] if step.key else None  # named by what it reads: its own name is a number
        key = sympy.Symbol(repr((iv.axis, iv.field, iv.allow_missing))) if iv else sympy.S.Zero
        return sympy.Function(f"{step.mode}_{step.table}_{step.column}")(self.symbol(step.arg), key)

    def quantity(self, name: str) -> sympy.Basic:
        """The canonical formula of a quantity or threshold."""
        return self.visit(self.producer[name])
