"""Generate the vectorised numpy kernel of a plan: one straight-line function
over a block of accounts, one statement group per step, with sympy's
common-subexpression pass inside each formula.

Safety: only plan variable names (validated identifiers), numbers printed by
sympy and fixed templates reach the generated text; no rule-file string does."""

from __future__ import annotations

import sympy

from .plan import Aggregate, Elementwise, Gather, Lookup, Plan, Shape
from .printers import NumpyCode, uses_erf, with_shared_subexpressions


def number_code(x: float) -> str:
    """A float literal that Python can read back (inf is not a literal)."""
    return repr(x) if x == x and abs(x) != float("inf") else ("math.inf" if x > 0 else "-math.inf")


def _shape_code(shape: Shape, plan: Plan) -> str:
    parts = []
    if shape.rows:
        parts.append(f"n[{shape.rows!r}]")
    if shape.grid:
        parts.append(str(plan.grid_size(shape.grid)))
    return f"({', '.join(parts)},)"


class NumpyGenerator:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.lines: list[str] = []
        self.erf = False

    def emit(self, text: str) -> None:
        self.lines.append("    " + text)

    def operand_names(self, expr: sympy.Basic, shape: Shape) -> dict[str, str]:
        """Code names for the variables of one step, with grid broadcasting made explicit."""
        names = {}
        for sym in expr.free_symbols:
            var = self.plan.vars[sym.name]
            code = f"v_{sym.name}"
            if shape.grid and var.shape.grid is None and var.shape.rows is not None:
                code += "[:, None]"
            names[sym.name] = code
        return names

    def covers(self, expr: sympy.Basic, shape: Shape) -> bool:
        """True when the expression already has the step's full shape."""
        rows_ok = shape.rows is None or any(self.plan.vars[s.name].shape.rows == shape.rows for s in expr.free_symbols)
        grid_ok = shape.grid is None or any(self.plan.vars[s.name].shape.grid == shape.grid for s in expr.free_symbols)
        return rows_ok and grid_ok

    def elementwise(self, step: Elementwise) -> None:
        out, shape = step.out.name, step.out.shape
        names = self.operand_names(step.expr, shape)
        temps, reduced = with_shared_subexpressions(step.expr, f"_c{out}_")
        printer = NumpyCode(names)
        for name, sub in temps:
            self.emit(f"{name} = {printer.doprint(sub)}")
            names[name] = name
        code = printer.doprint(reduced)
        self.erf = self.erf or uses_erf(step.expr)
        if not self.covers(step.expr, shape):
            dtype = ", dtype=bool" if step.out.kind == "bool" else ", dtype=float"
            code = f"numpy.broadcast_to(numpy.asarray({code}{dtype}), {_shape_code(shape, self.plan)})"
        self.emit(f"v_{out} = {code}")

    def gather(self, step: Gather) -> None:
        self.emit(f"v_{step.out.name} = v_{step.source}[i_{step.index}]")

    def aggregate(self, step: Aggregate) -> None:
        out, target = step.out.name, step.out.shape
        mask = f"v_{step.mask}" if step.mask else "None"
        if step.index is None:  # over the grid
            if step.op == "count":
                self.emit(f"v_{out} = {mask}.sum(axis=1).astype(float)")
                return
            fill = {"sum": "0.0", "min": "numpy.inf", "max": "-numpy.inf"}[step.op]
            src = f"numpy.where({mask}, v_{step.source}, {fill})" if step.mask else f"v_{step.source}"
            self.emit(f"v_{out} = {src}.{step.op}(axis=1)")
            if step.default is not None and step.mask:
                self.emit(f"v_{out} = numpy.where({mask}.any(axis=1), v_{out}, {number_code(step.default)})")
            return
        n = f"n[{target.rows!r}]"
        grid = self.plan.grid_size(target.grid) if target.grid else None
        if step.op == "sum":
            self.emit(f"v_{out} = runtime.group_sum(i_{step.index}, v_{step.source}, {n}, {mask})")
        elif step.op == "count":
            self.emit(f"v_{out} = runtime.group_count(i_{step.index}, {n}, {mask}, {grid})")
        else:
            self.emit(f"v_{out} = runtime.group_extreme({step.op!r}, i_{step.index}, v_{step.source}, {n}, {mask}, {number_code(step.default) if step.default is not None else None})")
        if step.default is not None and step.op == "sum":
            self.emit(f"v_{out} = numpy.where(runtime.group_count(i_{step.index}, {n}, {mask}, {grid}) > 0, v_{out}, {number_code(step.default)})")

    def lookup(self, step: Lookup) -> None:
        fn = "tier_step" if step.mode == "step" else "tier_progressive"
        key = f"i_{step.key}" if step.key else "None"
        default = f", {number_code(step.default)}" if step.default is not None else ""
        self.emit(f"v_{step.out.name} = runtime.{fn}(T[{step.table!r}], {step.column!r}, v_{step.arg}, {key}{default})")

    def generate(self) -> str:
        self.emit('"""Evaluate one block of accounts; c holds input columns and index arrays, n the row counts."""')
        for inp in self.plan.inputs:
            self.emit(f"v_{inp.var.name} = c[{inp.var.name!r}]")
        for iv in self.plan.indexes:
            self.emit(f"i_{iv} = c[{iv!r}]")
        for grid in self.plan.grid_axes.values():
            for col, values in grid.columns.items():
                self.emit(f"v_{col} = numpy.array({list(map(float, values))!r})")
        for step in self.plan.steps:
            getattr(self, type(step).__name__.lower())(step)
        outs = ", ".join(f"{name!r}: v_{name}" for name in self.plan.outputs)
        self.emit(f"return {{{outs}}}")
        head = ["def batch_kernel(c, n, T):"]
        return "\n".join(head + self.lines) + "\n"


def generate_numpy(plan: Plan) -> tuple[str, bool]:
    """Source of `batch_kernel(c, n, T)` and whether it needs scipy (for erf)."""
    gen = NumpyGenerator(plan)
    return gen.generate(), gen.erf
