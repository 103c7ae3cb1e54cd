"""Generate the fused kernel of a plan: one numba-compiled loop over the
accounts of a block, and inside it, per account, the plan's steps in the
order the plain-Python kernel schedules them (one loop per row axis where the
dependencies allow, aggregations accumulated in the loop over their rows,
grid values in small scratch arrays). Each value is computed once per cell,
written straight into the caller's output array, and checked for NaN there:
no temporary array per step, which is what costs the numpy kernel its time.

The meaning of each step is semantics.py's: tier reads and progressive sums
call its definitions compiled by numba (fused_runtime), empty aggregations
take semantics.empty_value, ties and undefined values follow its rules, and
formulas are printed by the plain-Python kernel's printer (min/max that keep
NaN, Φ as erfc). Arithmetic is IEEE (numba's numpy error model), as in the
numpy kernel: x/0 is inf, 0/0 is NaN and reported by the caller.

Safety as for the other generators: only plan variable names (validated
identifiers), numbers printed by sympy and fixed templates reach the text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy

from ..ir.plan import ACCOUNT, Aggregate, Elementwise, Gather, Lookup, Plan, runtime_json
from .printers import PythonCode, number_code, with_shared_subexpressions
from .python_kernel import Block, PythonGenerator
from .semantics import StepVisitor, empty_value


class FusedCode(PythonCode):
    """The plain-Python printer for numba: min, max, floor and ceiling call the compiled definitions of
    semantics.py, and a Piecewise whose conditions all fail is undefined (NaN), not None."""

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._nested("rt.minimum", expr.args)

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._nested("rt.maximum", expr.args)

    def _print_floor(self, expr: Any) -> str:
        return f"rt.floor({self._print(expr.args[0])})"

    def _print_ceiling(self, expr: Any) -> str:
        return f"rt.ceiling({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        out = "math.nan"
        for value, cond in reversed(expr.args):
            out = self._print(value) if cond is sympy.true else f"(({self._print(value)}) if ({self._print(cond)}) else ({out}))"
        return out


class FusedGenerator(StepVisitor[None]):
    def __init__(self, plan: Plan):
        self.plan = plan
        scheduler = PythonGenerator(plan)
        self.blocks = scheduler.schedule()
        self.keep = scheduler.needed_outside(self.blocks)
        self.ids = {s.out.name: k for k, s in enumerate(plan.steps)}
        self.inputs = {i.var.name: i for i in plan.inputs}
        self.grid_columns = {c for g in plan.grid_axes.values() for c in g.columns}
        self.returned = set(plan.returned)
        self.checked = {name: k for k, (name, _, _, _) in enumerate(plan.checked)}
        self.stored: set[str] = set()  # row values kept in arrays (returned, or read in another block)
        self.scratch: dict[str, int] = {}  # grid values of the current account or row: name -> grid size
        self.table_ids = {t: k for k, t in enumerate(plan.tables)}
        self.tables: list[str] = []  # the tables read, in the order they are passed
        self.lines: list[str] = []
        self.depth = 2
        self.block = Block(None)
        self.local: set[str] = set()
        self.scratch_counts: dict[str, int] = {}  # counts of an account-level grid aggregation with default=
        self.row_counts: dict[str, int] = {}  # counts of a row aggregation with default=

    # ---------- names

    def emit(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def array(self, name: str) -> str:
        """The array a row value is stored in: the caller's output array, or a temporary of the block."""
        return f"o_{name}" if name in self.returned else f"t_{name}"

    def is_rows(self, name: str) -> bool:
        return self.plan.vars[name].shape.rows not in (None, ACCOUNT)

    def grid(self, name: str) -> int:
        g = self.plan.vars[name].shape.grid
        return self.plan.grid_size(g) if g else 0

    def value(self, name: str, at_s: bool = True) -> str:
        """How code in the current block reads `name` (at grid point s for a grid value)."""
        if name in self.grid_columns:
            return f"g_{name}[s]"
        if name in self.inputs:
            return f"in_{name}[a]" if self.inputs[name].axis == ACCOUNT else f"in_{name}[i]"
        grid = self.grid(name) > 0
        if self.is_rows(name) and name not in self.local:
            return f"{self.array(name)}[i, s]" if grid and at_s else f"{self.array(name)}[i]"
        if grid:
            self.scratch[name] = self.grid(name)
            return f"w_{name}[s]" if at_s else f"w_{name}"
        return f"e_{name}" if self.is_rows(name) else f"v_{name}"

    def index(self, name: str) -> str:
        """The row of an index variable for the current row (or the account's one row)."""
        return f"i_{name}[i]" if self.block.axis is not None else f"i_{name}[a]"

    def store(self, name: str, got: str) -> None:
        """After `got` (the value's code at grid point s, if any) is computed: keep it where later blocks or the
        caller read it, and check it for NaN if it is checked."""
        if self.is_rows(name) and name in self.stored and self.block.axis is not None:
            self.emit(f"{self.array(name)}[i{', s' if self.grid(name) else ''}] = {got}")
        elif name in self.returned and not self.is_rows(name):
            self.emit(f"o_{name}[a{', s' if self.grid(name) else ''}] = {got}")
        if name in self.checked:
            self.emit(f"if {got} != {got}: bad[{self.checked[name]}] = True")

    def target(self, name: str) -> str:
        """Where the step computing `name` puts its value (store() then keeps it where it is read)."""
        if self.grid(name):
            self.scratch[name] = self.grid(name)
            return f"w_{name}[s]"
        return f"e_{name}" if self.is_rows(name) else f"v_{name}"

    def loop_grid(self, size: int, mask: str | None = None) -> None:
        """Open a loop over `size` grid points (s), skipping the points where the grid value `mask` is false."""
        self.emit(f"for s in range({size}):")
        self.depth += 1
        if mask:
            self.emit(f"if not {self.value(mask)}: continue")

    # ---------- steps

    def row_value(self, out: str, compute: Callable[[], str]) -> None:
        """The value of `out` for the current row (at each of its grid points, if it has a grid): `compute()`
        emits what it needs and returns the value's code, which goes to out's target and is stored and checked."""
        grid = self.grid(out) > 0
        if grid:
            self.loop_grid(self.grid(out))
        target = self.target(out)
        self.emit(f"{target} = {compute()}")
        self.store(out, target)
        if grid:
            self.depth -= 1

    def elementwise(self, step: Elementwise) -> None:
        out = step.out.name
        names = {sym.name: self.value(sym.name) for sym in step.expr.free_symbols}
        temps, reduced = with_shared_subexpressions(step.expr, f"_c{self.ids[out]}_")
        printer = FusedCode(names, prefix=f"_m{self.ids[out]}_")

        def compute() -> str:
            for name, sub in temps:
                self.emit(f"{name} = {printer.doprint(sub)}")
                names[name] = name
            return printer.doprint(reduced)

        self.row_value(out, compute)

    def gather(self, step: Gather) -> None:
        src = step.source
        if self.plan.indexes[step.index].how == "account":
            read = self.value(src)
        else:
            array = f"in_{src}" if src in self.inputs else self.array(src)
            read = f"{array}[{self.index(step.index)}{', s' if self.grid(src) else ''}]"
        self.row_value(step.out.name, lambda: read)

    def lookup(self, step: Lookup) -> None:
        t = step.table
        if t not in self.tables:
            self.tables.append(t)
        k = self.index(step.key) if step.key else "0"
        x = self.value(step.arg)
        tid, cid = self.table_ids[t], list(self.plan.tables[t].columns).index(step.column)  # numbered: injective
        tiers = f"tl{tid}[{k}]"
        lower_open = self.plan.tables[t].interval == "lower_open"
        if step.mode == "step":
            read = f"tc{tid}_{cid}[{k}, rt.tier_position({tiers}, {x}, {lower_open}, tb{tid}[{k}])]"
        else:
            read = f"rt.progressive({tiers}, tu{tid}[{k}], tc{tid}_{cid}[{k}], {x}, {lower_open}, tb{tid}[{k}])"
        read = f"(math.nan if {x} != {x} else {read})"
        if step.default is not None:
            read = f"({number_code(step.default)} if {k} < 0 else {read})"
        self.row_value(step.out.name, lambda: read)

    def aggregate(self, step: Aggregate) -> None:
        if step.index is None:
            self.over_grid(step)
        else:
            self.into_rows(step)

    def over_grid(self, step: Aggregate) -> None:
        """A reduction over the grid points of one row (or of the account)."""
        out, k = step.out.name, self.ids[step.out.name]
        src = self.value(step.source) if step.source else "1.0"
        size = self.grid(step.source or step.mask or "")
        target = self.target(out)
        if step.take:  # the value of `take` at the first selected point where the value is extreme (semantics.first_extreme)
            self.emit(f"_best{k} = -1")
            self.emit(f"_value{k} = 0.0")
            self.emit(f"_undefined{k} = False")
            self.loop_grid(size, step.mask)
            self.emit(f"_x = {src}")
            self.emit(f"if _x != _x: _undefined{k} = True")
            self.emit(f"elif _best{k} < 0 or _x {'<' if step.op == 'min' else '>'} _value{k}: _best{k}, _value{k} = s, _x")
            self.depth -= 1
            none = number_code(step.default) if step.default is not None else "math.nan"
            self.emit(f"s = _best{k}")
            self.emit(f"{target} = math.nan if _undefined{k} else ({none} if s < 0 else {self.value(step.take or '')})")
        else:
            self.emit(f"{target} = {number_code(empty_value(step.op, None))}")
            self.emit(f"_seen{k} = 0")
            self.loop_grid(size, step.mask)
            self.emit(f"_seen{k} += 1")
            self.accumulate(step.op, target, src)
            self.depth -= 1
            if step.default is not None and step.op != "count":
                self.emit(f"if _seen{k} == 0: {target} = {number_code(step.default)}")
        self.store(out, target)

    def accumulate(self, op: str, cell: str, src: str) -> None:
        """cell op= src: a sum, a count, or a min/max that keeps an undefined member (semantics.extreme)."""
        if op == "sum":
            self.emit(f"{cell} += {src}")
        elif op == "count":
            self.emit(f"{cell} += 1.0")
        else:
            self.emit(f"_x = {src}")
            self.emit(f"if _x {'<' if op == 'min' else '>'} {cell} or _x != _x: {cell} = _x")

    def into_rows(self, step: Aggregate) -> None:
        """Accumulated in the loop over the source rows; the target rows of the account are started in the block's
        prologue and finished in its epilogue (row_block)."""
        out = step.out.name
        grid = self.grid(out)
        src = self.value(step.source, at_s=True) if step.source else "1.0"
        cell = self.cell(step)
        counting = step.default is not None and step.op != "count"
        opened = 0
        if self.plan.indexes[step.index or ""].allow_missing:  # a row whose optional reference points nowhere is no member
            self.emit(f"if {self.index(step.index or '')} >= 0:")
            self.depth += 1
            opened += 1
        mask_grid = bool(step.mask and self.grid(step.mask))
        if step.mask and not mask_grid:
            self.emit(f"if {self.value(step.mask)}:")
            self.depth += 1
            opened += 1
        if grid:
            self.loop_grid(grid, step.mask if mask_grid else None)
            opened += 1
        self.accumulate(step.op, cell, src)
        if counting:
            self.emit(f"{self.cell(step, counts=True)} += 1")
        self.depth -= opened

    def cell(self, step: Aggregate, counts: bool = False) -> str:
        """Where an aggregation accumulates for the current row (at grid point s): its value, or with `counts`
        the number of rows it has taken (for a default over no rows)."""
        out = step.out.name
        s = ", s" if self.grid(out) else ""
        if step.out.shape.rows == ACCOUNT:
            name = f"k_{out}" if counts else f"w_{out}" if s else f"v_{out}"
            return f"{name}[s]" if s else name
        return f"{f'k_{out}' if counts else self.array(out)}[{self.index(step.index or '')}{s}]"

    # ---------- blocks

    def target_rows(self, step: Aggregate) -> str:
        rows = step.out.shape.rows or ACCOUNT
        return f"range(off_{rows}[a], off_{rows}[a + 1])"

    def start(self, step: Aggregate) -> None:
        out, grid = step.out.name, self.grid(step.out.name)
        init = number_code(empty_value(step.op, None))
        counting = step.default is not None and step.op != "count"
        if step.out.shape.rows == ACCOUNT:
            if grid:
                self.scratch[out] = grid
                self.emit(f"w_{out}[:] = {init}")
                if counting:
                    self.scratch_counts[out] = grid
                    self.emit(f"k_{out}[:] = 0")
            else:
                self.emit(f"v_{out} = {init}")
                if counting:
                    self.emit(f"k_{out} = 0")
            return
        self.stored.add(out)
        if counting:
            self.row_counts[out] = grid
        self.emit(f"for j in {self.target_rows(step)}:")
        self.emit(f"    {self.array(out)}[j{', :' if grid else ''}] = {init}")
        if counting:
            self.emit(f"    k_{out}[j{', :' if grid else ''}] = 0")

    def finish(self, step: Aggregate) -> None:
        out, grid = step.out.name, self.grid(step.out.name)
        counting = step.default is not None and step.op != "count"
        default = number_code(step.default) if step.default is not None else ""
        if step.out.shape.rows == ACCOUNT:
            if grid:
                self.loop_grid(grid)
                if counting:
                    self.emit(f"if k_{out}[s] == 0: w_{out}[s] = {default}")
                self.store(out, f"w_{out}[s]")
                self.depth -= 1
            else:
                if counting:
                    self.emit(f"if k_{out} == 0: v_{out} = {default}")
                self.store(out, f"v_{out}")
            return
        if not counting and out not in self.checked:
            return
        self.emit(f"for j in {self.target_rows(step)}:")
        self.depth += 1
        if grid:
            self.loop_grid(grid)
        cell = f"{self.array(out)}[j{', s' if grid else ''}]"
        if counting:
            self.emit(f"if k_{out}[j{', s' if grid else ''}] == 0: {cell} = {default}")
        if out in self.checked:
            self.emit(f"if {cell} != {cell}: bad[{self.checked[out]}] = True")
        self.depth -= 2 if grid else 1

    def row_block(self, block: Block, keep: set[str]) -> None:
        axis = block.axis or ""
        aggs = [s for s in block.steps if isinstance(s, Aggregate) and s.index is not None]
        for s in block.steps:
            if s not in aggs and (s.out.name in keep or s.out.name in self.returned):
                self.stored.add(s.out.name)
        for s in aggs:
            self.start(s)
        self.emit(f"for i in range(off_{axis}[a], off_{axis}[a + 1]):")
        self.depth += 1
        self.block, self.local = block, set()
        for step in block.steps:
            self.visit(step)
            if not (isinstance(step, Aggregate) and step.index is not None):
                self.local.add(step.out.name)
        self.depth -= 1
        self.block, self.local = Block(None), set()
        for s in aggs:
            self.finish(s)

    def generate(self) -> str:
        for b, block in enumerate(self.blocks):
            if block.axis is None:
                self.block, self.local = block, set()
                for step in block.steps:
                    self.visit(step)
            else:
                self.row_block(block, self.keep[b])
        return self.module()

    def module(self) -> str:
        plan = self.plan
        row_axes = list(plan.row_axes)
        temps = sorted(n for n in self.stored if n not in self.returned)
        counts = sorted(self.row_counts)
        params = (["n_acc"] + [f"off_{a}" for a in row_axes] + [f"in_{i}" for i in self.inputs] + [f"i_{x}" for x in plan.indexes]
                  + [f"g_{c}" for c in sorted(self.grid_columns)]
                  + [p for t in self.tables for p in [f"tl{self.table_ids[t]}", f"tu{self.table_ids[t]}", f"tb{self.table_ids[t]}"]
                     + [f"tc{self.table_ids[t]}_{c}" for c in range(len(plan.tables[t].columns))]]
                  + [f"o_{n}" for n in plan.returned] + [f"t_{n}" for n in temps] + [f"k_{n}" for n in counts] + ["bad"])
        head = ["@numba.njit(nogil=True, cache=False, error_model='numpy')",
                f"def _fused({', '.join(params)}):"]
        scratch = [f"    w_{n} = numpy.empty({g})" for n, g in sorted(self.scratch.items())]
        scratch += [f"    k_{n} = numpy.zeros({g}, dtype=numpy.int64)" for n, g in sorted(self.scratch_counts.items())]
        body = ["    for a in range(n_acc):"] + self.lines
        args = (["n['account']"] + [f"rt.offsets(c[{f'_acct_{a}'!r}], n['account'])" for a in row_axes]
                + [f"c[{i!r}]" for i in self.inputs] + [f"c[{x!r}]" for x in plan.indexes]
                + [f"G_{c}" for c in sorted(self.grid_columns)]
                + [a for t in self.tables for a in [f"TABLES[{t!r}].lower", f"TABLES[{t!r}].upper", f"TABLES[{t!r}].limit"]
                   + [f"TABLES[{t!r}].columns[{c!r}]" for c in plan.tables[t].columns]]
                + [f"out[{n!r}]" for n in plan.returned]
                + [f"numpy.empty({self.shape_code(n)})" for n in temps]
                + [f"numpy.zeros({self.shape_code(n)}, dtype=numpy.int64)" for n in counts] + ["bad"])
        grids = [f"G_{c} = numpy.array({[float(v) for v in values]!r})" for g in plan.grid_axes.values() for c, values in g.columns.items()]
        wrapper = [
            "",
            "",
            "def fused_kernel(c, n, T, out):",
            '    """Evaluate one block of accounts into `out`, as batch_kernel does; returns the checked names that are undefined."""',
            f"    bad = numpy.zeros({len(plan.checked)}, dtype=numpy.bool_)",
            f"    _fused({', '.join(args)})",
            "    return [name for name, b in zip(CHECKED, bad) if b]",
        ]
        top = [
            "import math",
            "import numba",
            "import numpy",
            "from marginspec.backends import fused_runtime as rt",
            "from marginspec.ir.plan import plan_from_json",
            "",
            f"PLAN_JSON = {runtime_json(plan)!r}",
            "TABLES = {name: rt.fused_table(t) for name, t in plan_from_json(PLAN_JSON).tables.items()}",
            f"CHECKED = {tuple(name for name, _, _, _ in plan.checked)!r}",
            *grids,
            "",
            "",
        ]
        return "\n".join(top + head + scratch + body + wrapper) + "\n"

    def shape_code(self, name: str) -> str:
        var = self.plan.vars[name]
        rows = f"n[{(var.shape.rows or ACCOUNT)!r}]"
        return f"({rows}, {self.grid(name)})" if var.shape.grid else f"{rows}"


def generate_fused(plan: Plan) -> str:
    """Source of the module defining `fused_kernel(c, n, T, out)` (the batch kernel's signature) for `plan`."""
    return FusedGenerator(plan).generate()

