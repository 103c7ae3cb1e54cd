"""Building the plan's steps: each formula's aggregations, references and
tier-table reads are hoisted into steps of their own (shared when identical),
account values used on other rows are gathered, temporaries that only copy a
quantity are folded away, and the steps are put in dependency order."""

from __future__ import annotations

import itertools
from typing import Any

import sympy

from ..language.terms import Refused, TableBinding, Term
from ..language.undefined import combine
from .plan import ACCOUNT, Aggregate, Elementwise, Gather, IndexVar, Lookup, RowAxis, Shape, Step, Var


def number_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def var_symbol(var: Var) -> sympy.Symbol:
    return sympy.Symbol(var.name) if var.kind == "bool" else number_symbol(var.name)


def var_term(var: Var, codes: tuple[str, ...] = ()) -> Term:
    """The term that reads one plan variable."""
    if var.kind == "bool":
        return Term("bool", var.shape, sympy.Symbol(var.name), var=var.name)
    kind = "enum" if codes else "number"
    return Term(kind, var.shape, number_symbol(var.name), codes=codes, var=var.name)


class StepBuilder:
    """The steps and variables of a plan under construction; the Lowering side of the formula parser."""

    def __init__(self) -> None:
        self.row_axes: dict[str, RowAxis] = {}
        self.indexes: dict[str, IndexVar] = {}
        self.vars: dict[str, Var] = {}
        self.steps: list[Step] = []
        self.memo: dict[Any, str] = {}
        self.counter = itertools.count(1)
        self.origin = ""  # the entry whose formula is being lowered: recorded on every step it makes

    def add_var(self, var: Var) -> Var:
        self.vars[var.name] = var
        return var

    def numbered(self, what: tuple[Any, ...], prefix: str) -> str:
        """A generated name for `what`: numbered, so that two different things never share one (joining
        names with "_" would make `a`+`b_c` and `a_b`+`c` the same)."""
        if what not in self.memo:
            self.memo[what] = f"{prefix}{next(self.counter)}"
        return self.memo[what]

    def index_var(self, iv: IndexVar) -> str:
        self.indexes.setdefault(iv.name, iv)
        return iv.name

    def temp(self, prefix: str, shape: Shape, kind: str) -> Var:
        return self.add_var(Var(f"_{prefix}{next(self.counter)}", shape, kind))  # type: ignore[arg-type]

    def elementwise(self, shape: Shape, expr: Any, kind: str, out: Var | None = None) -> str:
        """Add a step computing `expr` on `shape`; account values used on other rows are gathered first."""
        swap = {}
        for sym in expr.free_symbols:
            v = self.vars[sym.name]
            if v.shape.rows == ACCOUNT and shape.rows not in (None, ACCOUNT):
                gathered = self.gather_var(v, f"_acct_{shape.rows}", Shape(shape.rows, v.shape.grid))
                swap[sym] = sympy.Symbol(gathered, **sym.assumptions0)
        expr = expr.xreplace(swap) if swap else expr
        if out is None:
            key = ("el", shape, expr)
            if key in self.memo:
                return self.memo[key]
            if isinstance(expr, sympy.Symbol) and self.vars[expr.name].shape == shape:
                return expr.name
            out = self.temp("t", shape, kind)
            self.memo[key] = out.name
        self.steps.append(Elementwise(out, expr, origin=self.origin))
        return out.name

    def hoist(self, term: Term, shape: Shape | None = None) -> str:
        shape = shape or term.shape
        if term.var and self.vars[term.var].shape == shape:
            return term.var
        return self.elementwise(shape, term.expr, "bool" if term.kind == "bool" else "number")

    def gather_var(self, source: Var, index: str, shape: Shape) -> str:
        key = ("ga", source.name, index)
        if key not in self.memo:
            out = self.temp("g", shape, source.kind)
            self.steps.append(Gather(out, source.name, index, origin=self.origin))
            self.memo[key] = out.name
        return self.memo[key]

    def gather(self, source: Term, ref: Term) -> Term:
        src = self.vars[self.hoist(source)]
        name = self.gather_var(src, ref.index or "", Shape(ref.shape.rows, src.shape.grid))
        out = var_term(self.vars[name])
        if source.undefined is not None:  # a condition read through a reference keeps its undefinedness
            u = self.vars[self.elementwise(source.shape, source.undefined, "number")]
            out.undefined = var_term(self.vars[self.gather_var(u, ref.index or "", Shape(ref.shape.rows, u.shape.grid))]).expr
        return out

    def aggregate(self, op: str, source: Term, by: Term | None, over: str | None, where: Term | None, default: Any,
                  take: Term | None = None) -> Term:
        if over:
            if source.shape.rows is None:
                raise Refused("over= reduces a value that also varies by rows (a constant grid column has nothing to reduce per row)")
            target, index = Shape(source.shape.rows), None
        elif by is not None:
            target, index = Shape(by.target, source.shape.grid), by.index
        else:
            target, index = Shape(ACCOUNT, source.shape.grid), f"_acct_{source.shape.rows}"
        mask_term = where
        if op == "count":
            mask_term = source if where is None else Term("bool", source.shape, sympy.And(source.expr, where.expr),
                                                          undefined=combine(source.undefined, where.undefined))
        u = mask_term.undefined if mask_term is not None else None
        if mask_term is not None and u is not None:  # rows whose condition is undefined are members, and make the aggregation undefined
            mask_term = Term("bool", mask_term.shape, sympy.Or(mask_term.expr, sympy.Ne(u, 0)))
            if op == "count":
                op, source = "sum", Term("number", source.shape, 1 + u)
            else:
                source = Term("number", source.shape, source.expr + u)
        src = None if op == "count" else self.hoist(source)
        mask = self.hoist(mask_term, source.shape) if mask_term is not None else None
        dflt = float(default) if default is not None else None
        taken = self.hoist(take, source.shape) if take is not None else None
        key = ("ag", op, src, index, mask, dflt, target, taken)
        if key not in self.memo:
            out = self.temp("a", target, "number")
            self.steps.append(Aggregate(out, op, src, index, mask, dflt, taken, origin=self.origin))  # type: ignore[arg-type]
            self.memo[key] = out.name
        return var_term(self.vars[self.memo[key]])

    def lookup(self, table: TableBinding, column: str, mode: str, arg: Term, key: Term | None, default: Any) -> Term:
        shape = arg.shape if arg.shape.rows else Shape(ACCOUNT, arg.shape.grid)
        kidx = None
        if key is not None:
            rows = shape.rows
            if rows == ACCOUNT and key.shape.rows != ACCOUNT:
                rows = key.shape.rows
            grouped = self.row_axes.get(rows or "")
            by_group = grouped is not None and grouped.group_of == key.shape.rows and grouped.by == key.field
            if key.shape.rows != rows and not by_group:
                raise Refused(f"the key {key.field!r} lives on {key.shape.rows}, the value on {shape}; they must be on the same rows (or the key must be what a grouping axis groups by)")
            shape = Shape(rows, shape.grid)
            lenient = default is not None  # keys the table does not list read the default instead of being an error
            kidx = self.index_var(IndexVar(self.numbered(("key", table.name, rows, key.field, lenient), "_key"), rows or ACCOUNT,
                                           table.name, "table_key", field=key.field, table=table.name, allow_missing=lenient))
        argvar = self.hoist(arg, shape)
        dflt = float(default) if default is not None else None
        memo = ("lk", table.name, column, mode, argvar, kidx, dflt)
        if memo not in self.memo:
            out = self.temp("l", shape, "number")
            self.steps.append(Lookup(out, table.name, column, mode, argvar, kidx, dflt, origin=self.origin))  # type: ignore[arg-type]
            self.memo[memo] = out.name
        return var_term(self.vars[self.memo[memo]])

    def inline_aliases(self) -> dict[str, Var]:
        """`q = sum(...)` makes a temporary and a copy; let the step that makes the temporary make q.
        Returns the temporaries renamed."""
        producer = {s.out.name: s for s in self.steps}
        rename: dict[str, Var] = {}
        kept = []
        for s in self.steps:
            if isinstance(s, Elementwise) and isinstance(s.expr, sympy.Symbol) and s.expr.name.startswith("_"):
                src = producer.get(s.expr.name)
                if src is not None and src.out.shape == s.out.shape and src.out.name not in rename:
                    rename[src.out.name] = s.out
                    continue
            kept.append(s)
        if not rename:
            return {}
        fixed = [s.renamed(rename) for s in kept]
        if any(isinstance(s, Elementwise) and s.expr.has(sympy.zoo, sympy.nan) for s in fixed):
            return {}  # q/(q - q) would fold to complex infinity: keep the copies
        self.steps = fixed
        for t in rename:
            del self.vars[t]
        return rename

    def ordered_steps(self) -> list[Step]:
        produced = {s.out.name: i for i, s in enumerate(self.steps)}
        order: list[Step] = []
        done: set[int] = set()
        for start in range(len(self.steps)):  # depth first, what a step reads before it; a stack, not recursion
            stack = [(start, False)]
            while stack:
                i, expanded = stack.pop()
                if expanded:
                    order.append(self.steps[i])
                    continue
                if i in done:
                    continue
                done.add(i)
                stack.append((i, True))
                stack.extend((produced[d], False) for d in reversed(self.steps[i].reads) if d in produced and produced[d] not in done)
        return order
