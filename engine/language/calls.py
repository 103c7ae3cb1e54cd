"""The built-in calls of the formula language (if, min/max, the elementwise
functions, aggregations and tier-table reads) with their shape and unit rules.
A mixin of FormulaParser, kept apart so that each file stays one concern: it
uses the parser's visit/number/boolean/combine/fail and its unit context."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

import sympy

from ..errors import RuleFileError
from . import units
from .normal import ncdf
from .shape import ACCOUNT, Shape
from .terms import ELEMENTWISE, LOOKUPS, Lowering, Refused, TableBinding, Term, broadcast, kind_name
from .undefined import combine, undefined
from .units import UnitMismatch


class BuiltinCalls:
    """Needs from the parser it is mixed into: its lowering, locals, unit context and visiting methods."""

    low: Lowering
    locals: dict[str, Term]
    used: set[str]
    subs: dict[Any, Any]
    excluded: dict[str, set[str]]

    if TYPE_CHECKING:  # provided by FormulaParser
        def visit(self, node: ast.AST) -> Term: ...
        def number(self, node: ast.AST, what: str) -> Term: ...
        def boolean(self, node: ast.AST, what: str) -> Term: ...
        def combine(self, node: ast.AST, *terms: Term) -> Shape: ...
        def fail(self, node: ast.AST, message: str) -> RuleFileError: ...
        def _arity(self, node: ast.Call, name: str, low: int, high: int | None = None) -> None: ...
        def _no_keywords(self, node: ast.Call, name: str) -> None: ...

    def _branch_facts(self, cond: ast.AST) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Choice values ruled out when `cond` is true and when it is false, from tests such as
        contract_type == 'linear' (alone or joined by `and`)."""
        on_true: dict[str, set[str]] = {}
        on_false: dict[str, set[str]] = {}
        tests = cond.values if isinstance(cond, ast.BoolOp) and isinstance(cond.op, ast.And) else [cond]
        for test in tests:
            if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.NotEq))):
                continue
            sides = [test.left, test.comparators[0]]
            names = [s.id for s in sides if isinstance(s, ast.Name)]
            texts = [s.value for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str)]
            term = (self.locals.get(names[0]) or self.low.resolve(names[0])) if len(names) == 1 and len(texts) == 1 else None
            if not isinstance(term, Term) or not term.identities:
                continue
            value, others = texts[0], set(term.codes) - {texts[0]}
            is_eq = isinstance(test.ops[0], ast.Eq)
            on_true.setdefault(names[0], set()).update(others if is_eq else {value})
            if len(tests) == 1:
                on_false.setdefault(names[0], set()).update({value} if is_eq else others)
        return on_true, on_false

    def _identities(self, excluded: dict[str, set[str]]) -> dict[Any, Any]:
        """The unit identities of every choice input whose value is known (all its other values excluded)."""
        subs: dict[Any, Any] = {}
        for name, out in excluded.items():
            term = self.locals.get(name) or self.low.resolve(name)
            if not isinstance(term, Term):
                continue
            left = [v for v in term.codes if v not in out]
            if len(left) == 1 and term.identities:
                subs.update(term.identities.get(left[0], {}))
        return subs

    def _if(self, node: ast.Call) -> Term:
        self._no_keywords(node, "if")
        self._arity(node, "if", 3)
        cond = self.boolean(node.args[0], "the first argument of if()")
        on_true, on_false = self._branch_facts(node.args[0])
        outer, outer_excluded = self.subs, self.excluded
        units_of = []
        for arg, facts in ((node.args[1], on_true), (node.args[2], on_false)):
            self.excluded = {k: outer_excluded.get(k, set()) | facts.get(k, set()) for k in set(outer_excluded) | set(facts)}
            self.subs = {**outer, **self._identities(self.excluded)}
            term = self.visit(arg)
            units_of.append((term, units.canon(term.unit, self.subs) if term.unit is not None else None))
        self.subs, self.excluded = outer, outer_excluded
        (a, a_unit), (b, b_unit) = units_of
        if a.kind != b.kind or a.kind not in ("number", "bool"):
            raise self.fail(node, "both branches of if() must be numbers (or both conditions)")
        shape = self.combine(node, cond, a, b)
        if a.kind == "bool":
            branches = None if a.undefined is None and b.undefined is None else \
                sympy.Piecewise((a.undefined if a.undefined is not None else 0, cond.expr), (b.undefined if b.undefined is not None else 0, True))
            return Term("bool", shape, sympy.Or(sympy.And(cond.expr, a.expr), sympy.And(sympy.Not(cond.expr), b.expr)),
                        undefined=combine(cond.undefined, branches))
        if a_unit is not None and b_unit is not None and a_unit != b_unit:
            raise self.fail(node, f"the branches of if() give values in {units.show(a_unit)} and in {units.show(b_unit)}")
        value = sympy.Piecewise((a.expr, cond.expr), (b.expr, True))
        if cond.undefined is not None:  # an undefined condition makes the chosen value undefined
            value = value + cond.undefined
        return Term("number", shape, value, unit=a_unit if a_unit is not None else b_unit)

    def _minmax(self, node: ast.Call, name: str) -> Term:
        """min/max of two or more values, value by value. (With one argument they reduce rows: _aggregate.)"""
        if node.keywords:
            raise self.fail(node.keywords[0].value, f"{name}() of two or more values compares them value by value and takes no keywords; "
                                                    f"to reduce rows, give one value: {name}(x, by=..., where=...)")
        if not node.args:
            raise self.fail(node, f"{name}() needs a value: {name}(x) over rows, or {name}(a, b, ...) of values")
        terms = [self.number(a, f"each argument of {name}()") for a in node.args]
        shape = self.combine(node, *terms)
        unit = None
        try:
            for t in terms:
                unit = units.same(unit, t.unit, self.subs, f"{name}() of")
        except UnitMismatch as exc:
            raise self.fail(node, str(exc)) from None
        fn = sympy.Min if name == "min" else sympy.Max
        return Term("number", shape, fn(*(t.expr for t in terms)), unit=unit)

    def _elementwise(self, node: ast.Call, name: str) -> Term:
        self._no_keywords(node, name)
        self._arity(node, name, ELEMENTWISE[name])
        t = self.number(node.args[0], f"the argument of {name}()")
        x = t.expr
        if isinstance(x, sympy.Number) and name in ("sqrt", "log") and x <= 0 and not (name == "sqrt" and x == 0):
            raise self.fail(node, f"{name}() of {x} has no real value")
        value = {
            "abs": sympy.Abs, "sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log, "erf": sympy.erf,
            "floor": sympy.floor, "ceil": sympy.ceiling,
            "ncdf": ncdf,
        }[name](x)
        if name in ("exp", "log", "erf", "ncdf"):
            try:
                units.plain(t.unit, self.subs, f"{name}()")
            except UnitMismatch as exc:
                raise self.fail(node, str(exc)) from None
            unit = units.ONE
        else:
            unit = t.unit**sympy.S.Half if name == "sqrt" and t.unit is not None else t.unit
        return Term("number", t.shape, value, unit=unit)

    def _aggregate(self, node: ast.Call, name: str) -> Term:
        allowed = {"by", "where", "over"} | ({"default"} if name in ("sum", "min", "max") else set()) | ({"take"} if name in ("min", "max") else set())
        kw: dict[str, ast.AST] = {}
        for k in node.keywords:
            if k.arg not in allowed:
                raise self.fail(k.value, f"{name}() takes the keywords {', '.join(sorted(allowed))}, not {k.arg!r}")
            kw[k.arg] = k.value
        self._arity(node, name, 1)
        if name in ("count", "any", "all"):
            cond = self.boolean(node.args[0], f"the argument of {name}()")
            source = Term("bool", cond.shape, sympy.Not(cond.expr) if name == "all" else cond.expr, undefined=cond.undefined)
        else:
            source = self.number(node.args[0], f"the argument of {name}()")
        by = self.visit(kw["by"]) if "by" in kw else None
        if by is not None and by.kind != "ref":
            raise self.fail(kw["by"], f"by= takes a reference input or a grouping axis, not a {kind_name(by)}")
        if by is not None and by.shape.rows != source.shape.rows:
            raise self.fail(kw["by"], f"by= must be a reference on {source.shape.rows}, the axis being summed; this one is on {by.shape.rows}")
        over = None
        if "over" in kw:
            o = kw["over"]
            if not isinstance(o, ast.Name) or o.id not in self.low.grid_axes():
                raise self.fail(o, f"over= takes a grid axis ({', '.join(sorted(self.low.grid_axes())) or 'none declared'})")
            over = o.id
            if source.shape.grid != over:
                raise self.fail(o, f"the value being reduced does not vary over {over}")
        if by is None and over is None and source.shape.rows in (None, ACCOUNT):
            hint = f" (the {name} of two values is {name}(a, b))" if name in ("min", "max") else ""
            raise self.fail(node, f"{name}() of a value on {source.shape} has nothing to reduce; say by= or over={hint}")
        where = self.boolean(kw["where"], "where=") if "where" in kw else None
        if where is not None and broadcast(source.shape, where.shape) != source.shape:
            raise self.fail(kw["where"], f"where= must live on {source.shape}, like the value it filters")
        default = None
        if "default" in kw:
            d = self.number(kw["default"], "default=")
            if not isinstance(d.expr, sympy.Number):
                raise self.fail(kw["default"], "default= must be a constant")
            default = d.expr
        take = None
        if "take" in kw:
            if over is None:
                raise self.fail(kw["take"], "take= works with over= (the value at the grid point where the minimum or maximum is)")
            take = self.number(kw["take"], "take=")
            if broadcast(source.shape, take.shape) != source.shape:
                raise self.fail(kw["take"], f"take= must live on {source.shape}, like the value reduced")
        op = "count" if name in ("count", "any", "all") else name
        try:
            out = self.low.aggregate(op, source, by, over, where, default, take)
        except Refused as exc:
            raise self.fail(node, str(exc)) from None
        out.unit = units.ONE if op == "count" else (take.unit if take is not None else self._aggregated_unit(node, source, by, over))
        loose = undefined(out.expr) if (source.undefined is not None or (where is not None and where.undefined is not None)) else None
        if name == "any":
            return Term("bool", out.shape, sympy.Gt(out.expr, 0), undefined=loose)
        if name == "all":
            return Term("bool", out.shape, sympy.Eq(out.expr, 0), undefined=loose)
        return out

    def _aggregated_unit(self, node: ast.AST, source: Term, by: Term | None, over: str | None) -> Any:
        """The unit of a sum/min/max: along a reference the settlement symbol becomes the target's coin;
        into the account, an amount in each row's own currency cannot be totalled."""
        unit = units.canon(source.unit, self.subs) if source.unit is not None else None
        if over is not None or (by is not None and self.low.is_group(by.target or "")):
            return unit
        if by is not None:
            unit = units.through_ref(unit, by.as_unit, inward=True)
            left = [s for s in units.row_relative(unit) if s != "coin"]
        else:
            left = units.row_relative(unit)
        if left:
            into = by.target if by is not None else "the account"
            raise self.fail(node, f"this totals values in {units.show(unit)} into {into}, but {', '.join(left)} differs from row to row; "
                                  "convert to a common unit (e.g. multiply by a USD price) first")
        return unit

    def _lookup(self, node: ast.Call, name: str) -> Term:
        for k in node.keywords:
            if k.arg != "default":
                raise self.fail(k.value, f"{name}() takes only the keyword default= (the value for keys the table does not list)")
        self._arity(node, name, 2, 3)
        first = node.args[0]
        if not (isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name)):
            raise self.fail(first, f"the first argument of {name}() is table.column")
        table = self.low.resolve(first.value.id)
        if not isinstance(table, TableBinding):
            raise self.fail(first.value, f"{first.value.id!r} is not a table")
        if table.by_key:
            raise self.fail(node, f"table {table.name!r} has no tiers: read it by key alone, {table.name}.{first.attr}[key]")
        if first.attr not in table.columns:
            raise self.fail(first, f"table {table.name!r} has no column {first.attr!r} (columns: {', '.join(table.columns)})")
        self.used.add(table.name)
        arg = self.number(node.args[1], f"the second argument of {name}()")
        key = None
        if len(node.args) == 3:
            key = self.visit(node.args[2])
            if key.kind != "text":
                raise self.fail(node.args[2], f"the key must be a text input such as a currency code, not a {kind_name(key)}")
        elif table.keyed:
            raise self.fail(node, f"table {table.name!r} has tiers per key; pass the key as the third argument")
        default = None
        if node.keywords:
            d = self.number(node.keywords[0].value, "default=")
            if not isinstance(d.expr, sympy.Number) or key is None:
                raise self.fail(node.keywords[0].value, "default= must be a constant, and needs a key")
            default = d.expr
        try:
            units.same(arg.unit, table.bound, self.subs, f"table {table.name!r} is read at")
        except UnitMismatch as exc:
            raise self.fail(node.args[1], f"{exc} (the table's tiers are in {units.show(table.bound)})") from None
        try:
            out = self.low.lookup(table, first.attr, LOOKUPS[name], arg, key, default)
        except Refused as exc:
            raise self.fail(node, str(exc)) from None
        column = table.columns[first.attr]
        out.unit = column * table.bound if LOOKUPS[name] == "progressive" else column
        return out
