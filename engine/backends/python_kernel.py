"""Generate the plain-Python kernel of a plan, for one snapshot at a time.

numpy costs microseconds per call on tiny arrays, so one account is faster
in straight Python floats: steps are scheduled into as few loops as the
dependencies allow (one loop per row axis where possible, aggregations
accumulated inside the loop that produces their rows), like a hand-written
evaluator would be. Arithmetic errors (division by zero, overflow, a domain
error) raise, and the caller then evaluates with numpy's IEEE semantics, so
both paths define the same values.

Safety as in gen_numpy: only validated identifiers and sympy-printed numbers
reach the generated text."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..ir.plan import ACCOUNT, Aggregate, Elementwise, Gather, Lookup, Plan, Step
from .printers import PythonCode, number_code, with_shared_subexpressions
from .semantics import StepVisitor


@dataclass
class Block:
    axis: str | None  # None: the top level (account values and grid constants)
    steps: list[Step] = field(default_factory=list)


class PythonGenerator(StepVisitor[None]):
    def __init__(self, plan: Plan):
        self.plan = plan
        self.ids = {s.out.name: k for k, s in enumerate(plan.steps)}  # local names are numbered by step: injective
        self.block = Block(None)
        self.local: set[str] = set()
        self.inputs = {i.var.name: i for i in plan.inputs}
        self.producer = {s.out.name: s for s in plan.steps}
        self.lines: list[str] = []
        self.depth = 1
        self.table_names: dict[tuple[str, ...], str] = {}  # ("tl", table) / ("tc", table, column) -> a numbered local name
        self.tiers: dict[tuple[int, str, str, str], str] = {}  # (block, table, key, x) -> its tier position

    # ---------- scheduling

    def home(self, step: Step) -> str | None:
        if isinstance(step, Aggregate) and step.index is not None:
            return self.plan.vars[step.source or step.mask or ""].shape.rows
        rows = step.out.shape.rows
        return None if rows in (None, ACCOUNT) else rows

    def schedule(self) -> list[Block]:
        pending = list(self.plan.steps)
        complete = set(self.inputs) | {c for g in self.plan.grid_axes.values() for c in g.columns}
        blocks = [Block(None)]
        rowwise: set[str] = set()

        def ready(step: Step, block: Block) -> bool:
            return all(r in complete or (block.axis is not None and r in rowwise) for r in step.reads)

        while pending:
            block = blocks[-1]
            pick = next((s for s in pending if self.home(s) == block.axis and ready(s, block)), None)
            if pick is not None:
                pending.remove(pick)
                block.steps.append(pick)
                if block.axis is None:
                    complete.add(pick.out.name)
                elif not (isinstance(pick, Aggregate) and pick.index is not None):
                    rowwise.add(pick.out.name)
                continue
            complete |= {s.out.name for s in block.steps}
            rowwise = set()
            first = next(s for s in pending if all(r in complete for r in s.reads))
            blocks.append(Block(self.home(first)))
        return [b for b in blocks if b.steps]

    # ---------- emission helpers

    def emit(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def operand(self, name: str, block: Block, local: set[str], at_s: bool) -> str:
        """How a step in `block` reads variable `name` (per row, per grid point)."""
        var = self.plan.vars[name]
        if block.axis is not None and var.shape.rows == block.axis:
            code = f"e_{name}" if name in local or name in self.inputs else f"v_{name}[i]"
        else:
            code = f"v_{name}"
        return f"{code}[s]" if at_s and var.shape.grid else code

    def grid_loop(self, target: str, size: int, body: list[str], init: str = "0.0") -> None:
        self.emit(f"{target} = [{init}] * {size}")
        self.emit(f"for s in range({size}):")
        for line in body:
            self.emit("    " + line)

    def table_name(self, *what: str) -> str:
        """The local name bound to a table's lower bounds or to one of its columns; numbered, so injective."""
        return self.table_names.setdefault(what, f"{what[0]}{len(self.table_names)}")

    # ---------- steps

    def _elementwise(self, step: Elementwise, block: Block, local: set[str]) -> None:
        out, grid = step.out.name, step.out.shape.grid
        names = {s.name: self.operand(s.name, block, local, bool(grid)) for s in step.expr.free_symbols}
        temps, reduced = with_shared_subexpressions(step.expr, f"_c{self.ids[out]}_")
        printer = PythonCode(names, prefix=f"_m{self.ids[out]}_")
        body = []
        for name, sub in temps:
            body.append(f"{name} = {printer.doprint(sub)}")
            names[name] = name
        target = f"e_{out}" if block.axis else f"v_{out}"
        if grid:
            self.grid_loop(target, self.plan.grid_size(grid), body + [f"{target}[s] = {printer.doprint(reduced)}"])
        else:
            for line in body:
                self.emit(line)
            self.emit(f"{target} = {printer.doprint(reduced)}")

    def _gather(self, step: Gather, block: Block, local: set[str]) -> None:
        target = f"e_{step.out.name}" if block.axis else f"v_{step.out.name}"
        if self.plan.indexes[step.index].how == "account":
            self.emit(f"{target} = v_{step.source}")
        else:  # in a row loop the row's index; on the account, its one entry
            self.emit(f"{target} = v_{step.source}[{'e_' + step.index if block.axis else 'i_' + step.index + '[0]'}]")

    def _lookup(self, step: Lookup, block: Block, local: set[str]) -> None:
        key = f"e_{step.key}" if step.key and block.axis else (f"i_{step.key}[0]" if step.key else "0")
        target = f"e_{step.out.name}" if block.axis else f"v_{step.out.name}"
        arg = self.operand(step.arg, block, local, False)
        table = self.plan.tables[step.table]
        lower_open = table.interval == "lower_open"
        bounded = any(math.isfinite(hi[-1]) for hi in table.upper)
        if step.mode == "step" and bounded:  # semantics.tier_position also stops above the last tier
            limit = f"T[{step.table!r}].upper[{key}][-1]"
            tier = f"(0 if {key} < 0 else semantics.tier_position({self.table_name('tl', step.table)}[{key}], {{x}}, {lower_open}, {limit}))"
        elif step.mode == "step":  # inline: the column of the tier whose lower bound is the last one below x
            search = "bisect_left" if lower_open else "bisect_right"
            tier = f"(max({search}({self.table_name('tl', step.table)}[{key}], {{x}}) - 1, 0) if {{x}} == {{x}} else semantics.undefined_value())"
        if step.mode == "step":
            if not step.out.shape.grid:  # reads of several columns at one x in one block share the search
                found = (id(block), step.table, key, arg)
                if found not in self.tiers:
                    self.tiers[found] = f"{'e' if block.axis else 'v'}__tier{len(self.tiers)}"
                    self.emit(f"{self.tiers[found]} = {tier.format(x=arg)}")  # a key of -1 (default) reads a row unused
                tier = self.tiers[found]
            read = f"{self.table_name('tc', step.table, step.column)}[{key}][{tier}]"
        else:
            t = f"T[{step.table!r}]"
            read = f"semantics.progressive({t}.lower[{key}], {t}.upper[{key}], {t}.columns[{step.column!r}][{key}], {{x}}, {lower_open}, {t}.upper[{key}][-1])"
        if step.default is not None:
            read = f"({number_code(step.default)} if {key} < 0 else {read})"
        if step.out.shape.grid:
            self.emit(f"{target} = [{read.format(x='x')} for x in {arg}]")
        else:
            self.emit(f"{target} = {read.format(x=arg)}")

    def aggregate_over_grid(self, step: Aggregate, block: Block, local: set[str]) -> None:
        target = f"e_{step.out.name}" if block.axis else f"v_{step.out.name}"
        src = self.operand(step.source, block, local, False) if step.source else None
        mask = self.operand(step.mask, block, local, False) if step.mask else None
        if step.op == "count":
            self.emit(f"{target} = float(sum(1 for m in {mask} if m))")
            return
        items = f"(x for x, m in zip({src}, {mask}) if m)" if mask else src
        if step.take:
            take = self.operand(step.take, block, local, False)
            selected = mask or f"[True] * len({src})"
            fill = number_code(step.default) if step.default is not None else "semantics.undefined_value()"
            self.emit(f"_best = semantics.first_extreme({step.op!r}, {src}, {selected})")
            self.emit(f"{target} = {fill} if _best is None else {take}[_best]")
            return
        if step.op == "sum":
            code = f"sum({items})"
            if mask and step.default is not None:
                code = f"({code} if any({mask}) else {number_code(step.default)})"
            self.emit(f"{target} = {code}")
        else:
            default = number_code(step.default) if step.default is not None else "None"
            self.emit(f"{target} = semantics.extreme({step.op!r}, list({items}), {default})")

    def aggregate_init(self, step: Aggregate) -> None:
        out, target = step.out.name, step.out.shape
        zero = "None" if step.op in ("min", "max") else "0.0"
        cell = f"[{zero}] * {self.plan.grid_size(target.grid)}" if target.grid else zero
        if target.rows == ACCOUNT:
            self.emit(f"v_{out} = {cell}")
        else:
            self.emit(f"v_{out} = [{cell} for _ in range(n[{target.rows!r}])]" if target.grid else f"v_{out} = [{zero}] * n[{target.rows!r}]")
        if step.default is not None and step.op == "sum":
            self.emit(f"k_{out} = [0] * n[{target.rows!r}]" if target.rows != ACCOUNT else f"k_{out} = 0")

    def aggregate_row(self, step: Aggregate, block: Block, local: set[str]) -> None:
        out, target = step.out.name, step.out.shape
        to_account = target.rows == ACCOUNT
        cell = f"v_{out}" if to_account else f"v_{out}[e_{step.index}]"
        src = self.operand(step.source, block, local, False) if step.source else None
        mask = self.operand(step.mask, block, local, False) if step.mask else None
        grid = target.grid
        mask_grid = bool(step.mask and self.plan.vars[step.mask].shape.grid)
        value = "1.0" if step.op == "count" else src
        if grid:
            cond = f"if {mask}[s]: " if mask_grid else ""
            self.emit(f"acc = {cell}" if not to_account else f"acc = v_{out}")
            if mask and not mask_grid:
                self.emit(f"if {mask}:")
                self.depth += 1
            item = f"{value}[s]" if step.op != "count" else "1.0"
            if step.op in ("sum", "count"):
                self.emit(f"for s in range({self.plan.grid_size(grid)}): {cond}acc[s] += {item}")
            else:
                cmp = "<" if step.op == "min" else ">"
                self.emit(f"for s in range({self.plan.grid_size(grid)}):")
                self.emit(f"    {cond}acc[s] = {item} if acc[s] is None or {item} {cmp} acc[s] else semantics.defined(acc[s], {item})")
            if mask and not mask_grid:
                self.depth -= 1
            return
        optional = self.plan.indexes[step.index or ""].allow_missing
        if optional:  # a row whose optional reference points nowhere is left out
            self.emit(f"if e_{step.index} >= 0:")
            self.depth += 1
        if mask:
            self.emit(f"if {mask}:")
            self.depth += 1
        if step.op in ("sum", "count"):
            self.emit(f"{cell} += {value}")
            if step.default is not None and step.op == "sum":
                self.emit(f"k_{out} += 1" if to_account else f"k_{out}[e_{step.index}] += 1")
        else:
            cmp = "<" if step.op == "min" else ">"
            self.emit(f"if {cell} is None or {value} {cmp} {cell}: {cell} = {value}")
            self.emit(f"elif {value} != {value}: semantics.undefined_value()")
        if mask:
            self.depth -= 1
        if optional:
            self.depth -= 1

    def aggregate_finish(self, step: Aggregate) -> None:
        out, target = step.out.name, step.out.shape
        if step.op in ("min", "max"):
            fill = number_code(step.default if step.default is not None else (float("inf") if step.op == "min" else float("-inf")))
            if target.rows == ACCOUNT and not target.grid:
                self.emit(f"v_{out} = {fill} if v_{out} is None else v_{out}")
            elif target.rows == ACCOUNT or not target.grid:
                self.emit(f"v_{out} = [{fill} if x is None else x for x in v_{out}]")
            else:
                self.emit(f"v_{out} = [[{fill} if x is None else x for x in row] for row in v_{out}]")
        elif step.default is not None and step.op == "sum":
            d = number_code(step.default)
            if target.rows == ACCOUNT:
                self.emit(f"v_{out} = v_{out} if k_{out} else {d}")
            else:
                self.emit(f"v_{out} = [x if k else {d} for x, k in zip(v_{out}, k_{out})]")

    # ---------- blocks

    def needed_outside(self, blocks: list[Block]) -> dict[int, set[str]]:
        where = {s.out.name: b for b, block in enumerate(blocks) for s in block.steps}
        keep: dict[int, set[str]] = {b: set() for b in range(len(blocks))}
        for b, block in enumerate(blocks):
            for s in block.steps:
                for r in s.reads:
                    if r in where and where[r] != b:
                        keep[where[r]].add(r)
        for name in self.plan.returned:
            keep[where[name]].add(name)
        return keep

    def row_block(self, block: Block, keep: set[str]) -> None:
        axis = block.axis or ""
        aggs = [s for s in block.steps if isinstance(s, Aggregate) and s.index is not None]
        for s in aggs:
            self.aggregate_init(s)
        stored = [s.out.name for s in block.steps if s.out.name in keep and s not in aggs]
        for name in stored:
            self.emit(f"v_{name} = [None] * n[{axis!r}]")
        reads = {r for s in block.steps for r in s.reads}
        used_inputs = [self.inputs[r] for r in sorted(reads) if r in self.inputs and self.inputs[r].axis == axis]
        used_idx = sorted({i for s in block.steps for i in (getattr(s, "index", None), getattr(s, "key", None)) if i and self.plan.indexes[i].how != "account"})
        collection = self.plan.row_axes[axis].collection
        self.emit(f"for i, r in enumerate(rows[{axis!r}]):" if collection and used_inputs else f"for i in range(n[{axis!r}]):")
        self.depth += 1
        for inp in used_inputs:
            read = f"r[{inp.field!r}]"
            self.emit(f"e_{inp.var.name} = E_{inp.var.name}[{read}]" if inp.codes else f"e_{inp.var.name} = {read}")
        for iv in used_idx:
            self.emit(f"e_{iv} = i_{iv}[i]")
        local: set[str] = set()
        for step in block.steps:
            self.visit_in(step, block, local)
            if not (isinstance(step, Aggregate) and step.index is not None):
                local.add(step.out.name)
        for name in stored:
            self.emit(f"v_{name}[i] = e_{name}")
        self.depth -= 1
        for s in aggs:
            self.aggregate_finish(s)

    # ---------- the visitor: each step in the block and loop it was scheduled into

    def visit_in(self, step: Step, block: Block, local: set[str]) -> None:
        self.block, self.local = block, local
        self.visit(step)

    def elementwise(self, step: Elementwise) -> None:
        self._elementwise(step, self.block, self.local)

    def gather(self, step: Gather) -> None:
        self._gather(step, self.block, self.local)

    def lookup(self, step: Lookup) -> None:
        self._lookup(step, self.block, self.local)

    def aggregate(self, step: Aggregate) -> None:
        """Over the grid, in one go; into other rows, accumulated in the loop over the source rows
        (row_block starts and finishes the accumulation)."""
        if step.index is None:
            self.aggregate_over_grid(step, self.block, self.local)
        else:
            self.aggregate_row(step, self.block, self.local)

    def generate(self) -> str:
        self.emit('"""Evaluate one snapshot: acct/rows hold its data, i its index lists, n its row counts."""')
        for inp in self.plan.inputs:
            if inp.axis == ACCOUNT:
                read = f"acct[{inp.field!r}]"
                self.emit(f"v_{inp.var.name} = E_{inp.var.name}[{read}]" if inp.codes else f"v_{inp.var.name} = {read}")
        for name in sorted({s.source for s in self.plan.steps if isinstance(s, Gather)} & set(self.inputs)):
            inp = self.inputs[name]
            if inp.axis != ACCOUNT:
                read = f"E_{name}[x[{inp.field!r}]]" if inp.codes else f"x[{inp.field!r}]"
                self.emit(f"v_{name} = [{read} for x in rows[{inp.axis!r}]]")
        for iv in self.plan.indexes:
            self.emit(f"i_{iv} = i[{iv!r}]")
        for grid in self.plan.grid_axes.values():
            for col, values in grid.columns.items():
                self.emit(f"v_{col} = {list(map(float, values))!r}")
        blocks = self.schedule()
        keep = self.needed_outside(blocks)
        head = len(self.lines)
        for b, block in enumerate(blocks):
            if block.axis is None:
                for s in block.steps:
                    self.visit_in(s, block, set())
            else:
                self.row_block(block, keep[b])
        binds = [f"    {name} = T[{key[1]!r}].lower" if key[0] == "tl" else f"    {name} = T[{key[1]!r}].columns[{key[2]!r}]"
                 for key, name in self.table_names.items()]
        self.lines[head:head] = binds
        outs = ", ".join(f"{name!r}: v_{name}" for name in self.plan.returned)
        self.emit(f"return {{{outs}}}")
        consts = [f"E_{i.var.name} = { {c: k for k, c in enumerate(i.codes)}!r}" for i in self.plan.inputs if i.codes]
        imports = ["from bisect import bisect_left, bisect_right", ""]
        return "\n".join(imports + consts + ["", "", "def single_kernel(acct, rows, i, n, T):"] + self.lines) + "\n"


def generate_python(plan: Plan) -> str:
    """Source of `single_kernel(acct, rows, i, n, T)` and the enum code tables it uses."""
    return PythonGenerator(plan).generate()

