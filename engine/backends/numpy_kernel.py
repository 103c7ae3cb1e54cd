"""Generate the vectorised numpy kernel of a plan: one straight-line function
over a block of accounts, one statement group per step, with sympy's
common-subexpression pass inside each formula.

Safety: only plan variable names (validated identifiers), numbers printed by
sympy and fixed templates reach the generated text; no rule-file string does."""

from __future__ import annotations

import sympy

from ..ir.plan import Aggregate, Elementwise, Gather, Lookup, Plan, Shape
from ..language.normal import ncdf
from .printers import NumpyCode, needs_scipy, number_code
from .semantics import StepVisitor

MAX_SHARED_OPS = 5000  # above this, CSE one formula at a time (sympy's CSE grows fast on huge inputs)
MIN_MASKED_OPS = 40  # `if(row condition, value, constant)` with a value this costly is computed on its rows only
DEAR_CALLS = (sympy.exp, sympy.log, sympy.erf, sympy.erfc, ncdf)  # each costs about as much as ten arithmetic operations


def cost(expr: sympy.Basic) -> int:
    """Rough cost of evaluating expr once, in arithmetic operations."""
    return sympy.count_ops(expr) + 9 * sum(1 for f in expr.atoms(sympy.Function) if isinstance(f, DEAR_CALLS))


def _shape_code(shape: Shape, plan: Plan) -> str:
    parts = []
    if shape.rows:
        parts.append(f"n[{shape.rows!r}]")
    if shape.grid:
        parts.append(str(plan.grid_size(shape.grid)))
    return f"({', '.join(parts)},)"


class NumpyGenerator(StepVisitor[None]):
    def __init__(self, plan: Plan):
        self.plan = plan
        self.ids = {s.out.name: k for k, s in enumerate(plan.steps)}  # local names are numbered by step: injective
        self.lines: list[str] = []
        self.scipy = False
        self.tiers: dict[tuple[str, str, str | None], str] = {}
        self.temps: dict[str, sympy.Basic] = {}
        self.reduced: dict[str, sympy.Basic] = {}
        self.emitted: set[str] = set()
        self.extremes: dict[tuple[str, str], str] = {}  # (reduced code, min/max) -> name of its arg-extreme
        self.masked: dict[str, tuple[sympy.Basic, sympy.Basic, sympy.Basic]] = {}
        self.gathers: dict[str, Gather] = {}
        self.unneeded: set[str] = set()  # gathers that only masked branches read

    def emit(self, text: str) -> None:
        self.lines.append("    " + text)

    def operand_names(self, expr: sympy.Basic, shape: Shape) -> dict[str, str]:
        """Code names for the variables of one step, with grid broadcasting made explicit."""
        names = {}
        for sym in expr.free_symbols:
            if sym.name in self.temps:
                names[sym.name] = sym.name
                continue
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

    def masked_branch(self, step: Elementwise) -> tuple[sympy.Basic, sympy.Basic, sympy.Basic] | None:
        """(condition, value, constant) of a formula `if(condition, value, constant)` whose condition reads
        only row inputs and whose value is costly, e.g. an option revaluation that only option rows need:
        numpy.where would compute the value on every row and grid point and throw most of it away."""
        expr, shape = step.expr, step.out.shape
        if not (isinstance(expr, sympy.Piecewise) and len(expr.args) == 2 and shape.rows and step.out.kind == "number"):
            return None
        (value, condition), (constant, otherwise) = expr.args
        if otherwise is not sympy.true or not constant.is_number or not condition.free_symbols:
            return None
        if any(self.plan.vars[s.name].shape != Shape(shape.rows, None) for s in condition.free_symbols):
            return None
        return (condition, value, constant) if cost(value) >= MIN_MASKED_OPS else None

    def masked_elementwise(self, step: Elementwise, condition: sympy.Basic, value: sympy.Basic, constant: sympy.Basic) -> None:
        """The value on the rows where the condition holds (with its own CSE), the constant elsewhere."""
        out, shape = step.out.name, step.out.shape
        k = self.ids[out]
        rows = f"_rows{k}"
        self.emit(f"{rows} = numpy.flatnonzero({NumpyCode({s.name: f'v_{s.name}' for s in condition.free_symbols}).doprint(condition)})")
        temps, (reduced,) = sympy.cse([value], symbols=sympy.numbered_symbols(f"_m{k}_"))
        names: dict[str, str] = {}
        for sym in sorted(value.free_symbols, key=lambda x: x.name):  # each operand's rows, taken once
            var = self.plan.vars[sym.name]
            names[sym.name] = f"v_{sym.name}"
            if var.shape.rows is not None:
                names[sym.name] = f"_rows{k}_{len(names)}"
                gather = self.gathers.get(sym.name)  # a value read through a reference: read only these rows of it
                taken = f"v_{gather.source}[i_{gather.index}[{rows}]]" if gather else f"v_{sym.name}[{rows}]"
                self.emit(f"{names[sym.name]} = {taken}" + ("[:, None]" if shape.grid and var.shape.grid is None else ""))
        for temp, sub in temps:
            names[temp.name] = temp.name
            self.emit(f"{temp.name} = {NumpyCode(names).doprint(sub)}")
        fill = "numpy.zeros(" if constant == 0 else "numpy.full("
        self.emit(f"v_{out} = {fill}{_shape_code(shape, self.plan)}{'' if constant == 0 else ', ' + number_code(float(constant))})")
        self.emit(f"v_{out}[{rows}] = {NumpyCode(names).doprint(reduced)}")

    def share_subexpressions(self) -> None:
        """sympy's CSE over all formulas of one shape at once, so that a comparison or a product used by
        several quantities is computed once; very large groups fall back to one pass per formula."""
        groups: dict[Shape, list[Elementwise]] = {}
        for step in self.plan.steps:
            if isinstance(step, Elementwise) and step.out.name not in self.masked:
                groups.setdefault(step.out.shape, []).append(step)
        for g, steps in enumerate(groups.values()):
            batches = [steps] if sum(sympy.count_ops(s.expr) for s in steps) <= MAX_SHARED_OPS else [[s] for s in steps]
            for b, batch in enumerate(batches):
                temps, reduced = sympy.cse([s.expr for s in batch], symbols=sympy.numbered_symbols(f"_c{g}_{b}_"))
                self.temps.update({t.name: e for t, e in temps})
                self.reduced.update({s.out.name: r for s, r in zip(batch, reduced)})

    def emit_temps(self, expr: sympy.Basic, shape: Shape) -> None:
        """Emit the shared subexpressions `expr` uses that are not computed yet (dependencies first)."""
        for sym in sorted(expr.free_symbols, key=lambda x: x.name):
            if sym.name in self.temps and sym.name not in self.emitted:
                sub = self.temps[sym.name]
                self.emit_temps(sub, shape)
                self.emitted.add(sym.name)
                self.emit(f"{sym.name} = {NumpyCode(self.operand_names(sub, shape)).doprint(sub)}")

    def elementwise(self, step: Elementwise) -> None:
        out, shape = step.out.name, step.out.shape
        if out in self.masked:
            self.scipy = self.scipy or needs_scipy(step.expr)
            self.masked_elementwise(step, *self.masked[out])
            return
        reduced = self.reduced[out]
        self.emit_temps(reduced, shape)
        code = NumpyCode(self.operand_names(reduced, shape)).doprint(reduced)
        self.scipy = self.scipy or needs_scipy(step.expr)
        if not self.covers(step.expr, shape):
            dtype = ", dtype=bool" if step.out.kind == "bool" else ", dtype=float"
            code = f"numpy.broadcast_to(numpy.asarray({code}{dtype}), {_shape_code(shape, self.plan)})"
        self.emit(f"v_{out} = {code}")

    def gather(self, step: Gather) -> None:
        if step.out.name in self.unneeded:  # read by masked branches only, each taking its own rows
            return
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
            if step.take:  # the value of `take` at the grid point of the extreme (the first one on ties)
                at = self.extremes.get((src, step.op))
                if at is None:  # several `take`s of one extreme share its search
                    at = self.extremes[(src, step.op)] = f"_at{self.ids[out]}"
                    self.emit(f"{at} = runtime.first_extreme({step.op!r}, v_{step.source}, {mask})")
                fill = number_code(step.default) if step.default is not None else "numpy.nan"
                self.emit(f"v_{out} = runtime.take_at(v_{step.take}, {at}, {fill})")
                return
            else:
                self.emit(f"v_{out} = {src}.{step.op}(axis=1)")
            if step.default is not None and step.mask:
                self.emit(f"v_{out} = numpy.where({mask}.any(axis=1), v_{out}, {number_code(step.default)})")
            return
        n = f"n[{target.rows!r}]"
        grid = self.plan.grid_size(target.grid) if target.grid else None
        index = f"i_{step.index}"
        if self.plan.indexes[step.index].allow_missing:  # rows whose optional reference points nowhere are left out
            keep = f"_keep{self.ids[out]}"
            self.emit(f"{keep} = {index} >= 0")
            index = f"{index}[{keep}]"
            source = f"v_{step.source}[{keep}]" if step.source else None
            mask = f"v_{step.mask}[{keep}]" if step.mask else "None"
        else:
            source = f"v_{step.source}" if step.source else None
        if step.op == "sum":
            self.emit(f"v_{out} = runtime.group_sum({index}, {source}, {n}, {mask})")
        elif step.op == "count":
            self.emit(f"v_{out} = runtime.group_count({index}, {n}, {mask}, {grid})")
        else:
            self.emit(f"v_{out} = runtime.group_extreme({step.op!r}, {index}, {source}, {n}, {mask}, {number_code(step.default) if step.default is not None else None})")
        if step.default is not None and step.op == "sum":
            self.emit(f"v_{out} = numpy.where(runtime.group_count({index}, {n}, {mask}, {grid}) > 0, v_{out}, {number_code(step.default)})")

    def lookup(self, step: Lookup) -> None:
        key = f"i_{step.key}" if step.key else "None"
        default = f", {number_code(step.default)}" if step.default is not None else ""
        table = f"T[{step.table!r}]"
        axis = step.out.shape.rows or "account"  # names the rows in a BeyondTable error
        if step.mode == "progressive":
            self.emit(f"v_{step.out.name} = runtime.tier_progressive({table}, {step.column!r}, v_{step.arg}, {key}{default or ', None'}, {axis!r})")
            return
        tier = self.tiers.get((step.table, step.arg, step.key))
        if tier is None:  # reads of several columns at the same x share one search
            tier = self.tiers[(step.table, step.arg, step.key)] = f"_tier{len(self.tiers)}"
            self.emit(f"{tier} = runtime.tier_index({table}, v_{step.arg}, {key}, {axis!r})")
        self.emit(f"v_{step.out.name} = runtime.tier_read({table}, {step.column!r}, {tier}, {key}{default})")

    def generate(self) -> str:
        self.emit('"""Evaluate one block of accounts into `out` (arrays of the block\'s rows, written in place); c holds input\n'
                  '    columns and index arrays, n the row counts. Returns the names of the checked values that are undefined."""')
        for inp in self.plan.inputs:
            self.emit(f"v_{inp.var.name} = c[{inp.var.name!r}]")
        for iv in self.plan.indexes:
            self.emit(f"i_{iv} = c[{iv!r}]")
        for grid in self.plan.grid_axes.values():
            for col, values in grid.columns.items():
                self.emit(f"v_{col} = numpy.array({list(map(float, values))!r})")
        self.masked = {s.out.name: m for s in self.plan.steps if isinstance(s, Elementwise) and (m := self.masked_branch(s))}
        readers: dict[str, list[str]] = {}
        for s in self.plan.steps:
            for name in s.reads:
                readers.setdefault(name, []).append(s.out.name)
        self.gathers = {s.out.name: s for s in self.plan.steps if isinstance(s, Gather)}
        self.unneeded = {g for g in self.gathers if g not in self.plan.returned and set(readers.get(g, [])) <= set(self.masked)}
        self.share_subexpressions()
        for step in self.plan.steps:
            self.visit(step)
        # the NaN check on what was computed, while it is in cache; then the values into the caller's arrays
        self.emit("_undefined = []")
        for name, _, _, _ in self.plan.checked:
            self.emit(f"if numpy.isnan(v_{name}).any(): _undefined.append({name!r})")
        for name in self.plan.returned:
            self.emit(f"out[{name!r}][...] = v_{name}")
        self.emit("return _undefined")
        head = ["def batch_kernel(c, n, T, out):"]
        return "\n".join(head + self.lines) + "\n"


def generate_numpy(plan: Plan) -> tuple[str, bool]:
    """Source of `batch_kernel(c, n, T, out)` and whether it needs scipy (erf, Φ)."""
    gen = NumpyGenerator(plan)
    return gen.generate(), gen.scipy
