"""The exact path: interpret a plan with sympy numbers, row by row.

Numbers from the snapshot become the exact decimals they were written as,
so + - * / are exact rational arithmetic; a value that is not rational (exp,
log, sqrt, erf of a number) is carried as a 40-digit float. It is slow and
exists for checking the compiled kernels and for algebra on one account: any
input cell may be replaced by a symbol, and every quantity then comes out as
an expression in it (tier reads become Piecewise over the tiers), or, given a
point, as the expression that holds near that point (every choice resolved
there, a worst-scenario pick included), which is what solve needs."""

from __future__ import annotations

import math
from typing import Any, Protocol

import sympy

from ..ir.plan import ACCOUNT, Aggregate, Elementwise, Gather, Lookup, Plan, Shape
from ..language.numbers import rational_of
from ..language.undefined import undefined
from .semantics import BeyondTable, StepVisitor, Undefined, beyond, empty_value, first_extreme

Cell = tuple[str, int]  # (input name, row); row 0 on the account
CHOICES = (sympy.Min, sympy.Max, sympy.Abs, sympy.core.relational.Relational)  # resolved at a point (substitute)
LOGIC = (sympy.core.relational.Relational, sympy.And, sympy.Or, sympy.Not)
DIGITS = 40
MAX_WORKING_DIGITS = 2000


class RowData(Protocol):
    """One account's data as the kernels read it (a validated snapshot is one)."""

    account: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]
    counts: dict[str, int]
    index: dict[str, list[int]]


def _rows(plan: Plan, snap: RowData, shape: Shape) -> int | None:
    """Row count of a shape (None for values without rows)."""
    if shape.rows is None:
        return None
    return 1 if shape.rows == ACCOUNT else snap.counts[shape.rows]


def at_point(expr: Any, point: dict[sympy.Symbol, Any]) -> float:
    """The value of an expression in the symbols at `point`, to 30 digits."""
    return float(sympy.N(expr.xreplace(point), 30))


def substitute(expr: Any, values: dict[Any, Any], point: dict[sympy.Symbol, Any] | None = None) -> Any:
    """expr with `values` put in, deciding each Piecewise's conditions before building its branches:
    a branch its guard rules out (the 0/0 in `if(b != 0, max(0, a / b), 0)`) is never built, as sympy
    cannot build Max(0, nan). A condition still undecided (a symbol in it) keeps its branch, unless `point`
    gives the symbols' values: then every choice that depends on them (if, min, max, abs, a comparison) is
    the one taken there, so the expression is the one that holds near the point (what solve and sensitivity
    need), and stays small: sympy would otherwise compare symbolic min/max arguments pairwise, for minutes
    on a stress grid of option values."""
    if expr in values:
        return values[expr]
    if not expr.args:
        return expr
    if isinstance(expr, sympy.Piecewise):
        pieces = []
        for branch, guard in expr.args:
            decided = substitute(guard, values, point)
            if decided is sympy.nan:  # an undefined condition: the value is undefined (semantics.py)
                return sympy.nan
            if decided is sympy.false:
                continue
            pieces.append((substitute(branch, values, point), decided))
            if decided is sympy.true:
                break
        if not pieces:  # every guard false: undefined, as sympy's own Piecewise has it
            return sympy.nan
        return pieces[0][0] if pieces[0][1] is sympy.true else sympy.Piecewise(*pieces)
    args = [substitute(a, values, point) for a in expr.args]
    if point and isinstance(expr, undefined) and any(a.free_symbols for a in args):
        return sympy.nan if any(math.isnan(at_point(a, point)) for a in args) else sympy.S.Zero  # its value near the point
    if point and isinstance(expr, CHOICES) and any(a.free_symbols for a in args):
        if isinstance(expr, (sympy.Min, sympy.Max)):
            sign = 1 if isinstance(expr, sympy.Min) else -1
            return min(args, key=lambda a: sign * at_point(a, point))
        if isinstance(expr, sympy.Abs):
            return args[0] if at_point(args[0], point) >= 0 else -args[0]
        return sympy.true if expr.func(*[sympy.Float(at_point(a, point), 30) for a in args]) else sympy.false
    if all(a is b for a, b in zip(args, expr.args)):
        return expr
    if isinstance(expr, LOGIC + CHOICES) and any(a is sympy.nan for a in args):
        return sympy.nan  # min/max/abs/a comparison of an undefined value, or and/or/not of one, is undefined
    return expr.func(*args)


class ExactEvaluator(StepVisitor[Any]):
    def __init__(self, plan: Plan, snap: RowData, symbols: dict[Cell, Any] | None = None, at: dict[sympy.Symbol, Any] | None = None):
        """symbols: input cells replaced by symbols (or expressions in them); at: the symbols' values at which
        every choice that depends on them is resolved (see substitute), a `take=` included."""
        self.plan = plan
        self.snap = snap
        self.symbols = symbols or {}
        self.at = at or {}
        self.values: dict[str, Any] = {}

    def input_values(self) -> None:
        for inp in self.plan.inputs:
            rows = [self.snap.account] if inp.axis == ACCOUNT else self.snap.rows[inp.axis]
            column = []
            for i, row in enumerate(rows):
                raw = row[inp.field]
                if (inp.var.name, i) in self.symbols:
                    column.append(self.symbols[(inp.var.name, i)])
                elif inp.codes:
                    column.append(sympy.Integer(inp.codes.index(raw)))
                elif inp.var.kind == "bool":
                    column.append(sympy.true if raw else sympy.false)
                else:
                    column.append(rational_of(raw))
            self.values[inp.var.name] = column
        for grid in self.plan.grid_axes.values():
            for col, values in grid.columns.items():
                self.values[col] = [rational_of(v) for v in values]

    def cell(self, name: str, i: int | None, s: int | None) -> Any:
        """Value of variable `name` at row i (None: no rows) and grid point s (None: no grid)."""
        var = self.plan.vars[name]
        v = self.values[name]
        if var.shape.rows is not None:
            v = v[0 if var.shape.rows == ACCOUNT else i]
        if var.shape.grid is not None:
            v = v[s]
        return v

    def for_each(self, shape: Shape, fn: Any) -> Any:
        """Build a value of `shape` by calling fn(row, grid point) for every cell."""
        n = _rows(self.plan, self.snap, shape)
        g = self.plan.grid_size(shape.grid) if shape.grid else None
        per_row = (lambda i: [fn(i, s) for s in range(g)]) if g else (lambda i: fn(i, None))
        if n is None:
            return per_row(None)
        return [per_row(i) for i in range(n)]

    def elementwise(self, step: Elementwise) -> Any:
        syms = list(step.expr.free_symbols)

        def at(i: int | None, s: int | None) -> Any:
            value = substitute(step.expr, {sym: self.cell(sym.name, i, s) for sym in syms}, self.at)
            if isinstance(value, sympy.Expr) and not value.is_Rational and not value.free_symbols and value.is_finite:
                # keep transcendental values as numbers, not growing trees; the generous working precision
                # lets evalf resolve cancellations (S N(d1) - K N(d2) far out of the money is ~1e-500)
                number = value.evalf(DIGITS, maxn=MAX_WORKING_DIGITS)
                # a result evalf cannot tell from 0 even at MAX_WORKING_DIGITS ("0.e-2789") is 0
                return sympy.S.Zero if isinstance(number, sympy.Float) and number._prec < 4 else number
            return value

        return self.for_each(step.out.shape, at)

    def gather(self, step: Gather) -> Any:
        index = self.snap.index[step.index]
        how = self.plan.indexes[step.index].how
        src = self.values[step.source]
        out = [src[0] if how == "account" else src[index[i]] for i in range(len(index))]
        return out

    def aggregate(self, step: Aggregate) -> Any:
        target = step.out.shape
        src_name = step.source or step.mask or ""
        src_shape = self.plan.vars[src_name].shape

        def reduce(items: list[tuple[Any, Any]]) -> Any:
            if any((x is sympy.nan and m is not sympy.false) or m is sympy.nan for x, m in items):
                return sympy.nan  # an undefined member, or an undefined condition on any row
            if step.op == "count":
                return sympy.Add(*[sympy.Piecewise((1, m), (0, True)) for _, m in items])
            if step.op == "sum":
                terms = [x if m is sympy.true else sympy.Piecewise((x, m), (0, True)) for x, m in items]
                total = sympy.Add(*terms)
            else:
                kept = [x for x, m in items if m is not sympy.false]
                if any(m is not sympy.true for _, m in items if m is not sympy.false):
                    fill = sympy.oo if step.op == "min" else -sympy.oo
                    kept = [x if m is sympy.true else sympy.Piecewise((x, m), (fill, True)) for x, m in items if m is not sympy.false]
                if not kept:
                    return rational_of(empty_value(step.op, step.default))
                if self.at or not any(x.free_symbols for x in kept):
                    # numbers (or values at the point): the extreme at 30 digits, as substitute() picks min/max
                    # (sympy's Min compares pairwise and gives up on near-equal values)
                    sign = 1 if step.op == "min" else -1
                    return min(kept, key=lambda x: sign * at_point(x, self.at))
                return (sympy.Min if step.op == "min" else sympy.Max)(*kept)
            if step.default is not None and not any(m is not sympy.false for _, m in items):
                return rational_of(step.default)
            return total

        def item(i: int, s: int | None) -> tuple[Any, Any]:
            x = self.cell(step.source, i, s) if step.source else sympy.Integer(1)
            m = self.cell(step.mask, i, s) if step.mask else sympy.true
            return x, m

        n_src = _rows(self.plan, self.snap, src_shape)
        n_src = 1 if n_src is None else n_src
        if step.index is None:  # over the grid
            g = self.plan.grid_size(src_shape.grid)
            if step.take:
                return [self._take(step, [item(i, s) for s in range(g)], i) for i in range(n_src)]
            return [reduce([item(i, s) for s in range(g)]) for i in range(n_src)]
        index = self.snap.index[step.index] if self.plan.indexes[step.index].how != "account" else [0] * n_src
        n_target = _rows(self.plan, self.snap, target)
        n_target = 1 if n_target is None else n_target
        points = self.plan.grid_size(target.grid) if target.grid else None

        def group(j: int) -> Any:
            members = [i for i in range(n_src) if index[i] == j]
            if points:
                return [reduce([item(i, s) for i in members]) for s in range(points)]
            return reduce([item(i, None) for i in members])

        return [group(j) for j in range(n_target)]

    def _take(self, step: Aggregate, items: list[tuple[Any, Any]], i: int) -> Any:
        """The `take` value at the grid point where the value is smallest (min) or largest (max), by
        semantics.first_extreme (values at 30 digits, at the point when one is given)."""
        try:
            best = first_extreme(step.op, [x for x, _ in items], [m is not sympy.false for _, m in items],
                                 key=lambda x: at_point(x, self.at))
        except Undefined:
            return sympy.nan
        if best is None:
            return rational_of(step.default) if step.default is not None else sympy.nan
        return self.cell(step.take or "", i, best)

    def lookup(self, step: Lookup) -> Any:
        table = self.plan.tables[step.table]
        keys = self.snap.index[step.key] if step.key else None
        column = table.rationals[step.column]

        def read(x: Any, k: int) -> Any:
            lows, highs, values = table.lower[k], table.upper[k], column[k]
            if step.mode == "progressive":
                parts = []
                for lo, hi, rate in zip(lows, highs, values):
                    width = sympy.oo if hi == float("inf") else rational_of(hi) - rational_of(lo)
                    parts.append(rate * sympy.Min(sympy.Max(x - rational_of(lo), 0), width))
                return sympy.Add(*parts)
            pieces = []
            for hi, value in zip(highs, values):
                bound = rational_of(hi)
                if not bound.is_finite:
                    break
                pieces.append((value, x <= bound if table.interval == "lower_open" else x < bound))
            pieces.append((values[-1] if math.isinf(highs[-1]) else sympy.nan, True))  # above a bounded last tier: undefined
            return sympy.Piecewise(*pieces)

        def at(i: int | None, s: int | None) -> Any:
            k = keys[i or 0] if keys else 0
            if k < 0:
                return rational_of(step.default if step.default is not None else math.nan)
            x = self.cell(step.arg, i, s)
            if x is sympy.nan:
                return sympy.nan
            limit = table.upper[k][-1]
            if x.is_number and math.isfinite(limit) and beyond(limit, at_point(x, self.at), table.interval == "lower_open"):
                raise BeyondTable(at_point(x, self.at), limit, table.name, table.keys[k], step.out.shape.rows or ACCOUNT, i or 0)
            value = read(x, k)
            return substitute(value, {}, self.at) if self.at else value  # its tier at the point

        return self.for_each(step.out.shape, at)

    def run(self) -> dict[str, Any]:
        self.input_values()
        for step in self.plan.steps:
            self.values[step.out.name] = self.visit(step)
        out = {}
        for name, var in self.plan.outputs.items():
            v = self.values[name]
            out[name] = v[0] if var.shape.rows == ACCOUNT else v
        return out


def evaluate_exact(plan: Plan, snap: RowData, symbols: dict[Cell, Any] | None = None,
                   at: dict[sympy.Symbol, Any] | None = None) -> dict[str, Any]:
    """Every output as sympy values (account outputs as one value, rows as lists)."""
    return ExactEvaluator(plan, snap, symbols, at).run()


def as_float(value: Any) -> Any:
    """A float (or bool, or nested list) from an exact value; complex infinity and NaN become nan."""
    if isinstance(value, list):
        return [as_float(v) for v in value]
    if value is sympy.true or value is sympy.false:
        return bool(value)
    if value in (sympy.zoo, sympy.nan):
        return float("nan")
    return float(sympy.N(value, 30, maxn=MAX_WORKING_DIGITS))
