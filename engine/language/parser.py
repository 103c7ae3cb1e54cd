"""The whitelist formula parser.

Formula text from rule files is read once into a located syntax tree
(syntax.py; Python's `ast` as a parser only, nothing is compiled or run),
and this visitor accepts a short list of node types from it and turns them
into sympy objects built by constructor calls. Anything else is a located
RuleFileError. The text never reaches eval, exec, sympify or parse_expr.

Work is bounded: formula length, AST size (including user-function
expansions), call depth, exponents (number literals only, |e| <= 64) and the
size of constants."""

from __future__ import annotations

import ast
import difflib
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sympy

from ..errors import Location, RuleFileError
from . import syntax, units
from .calls import BuiltinCalls
from .shape import Shape
from .terms import (
    AGGREGATES,
    BUILTIN_NAMES,
    ELEMENTWISE,
    LOOKUPS,
    FunctionBinding,
    Lowering,
    Refused,
    TableBinding,
    Term,
    broadcast,
    kind_name,
)
from .undefined import combine, undefined
from .units import UnitMismatch

MAX_NODES = 5000  # syntax nodes of a formula, counting the function bodies it expands
MAX_EXPANDED = 20_000  # operations of a formula once its user functions are expanded (a tree, shared parts counted each time)
MAX_CALL_DEPTH = 12
MAX_EXPONENT = 64
MAX_LOG10 = 300


@dataclass
class _Budget:
    nodes: int = 0
    stack: list[str] = field(default_factory=list)


class FormulaParser(BuiltinCalls):
    """Parse one formula against a rule set's names; emits hoisted steps through `lowering`."""

    def __init__(self, lowering: Lowering, where: Location, locals_: dict[str, Term] | None = None, budget: _Budget | None = None):
        self.low = lowering
        self.where = where
        self.locals = locals_ or {}
        self.budget = budget or _Budget()
        self.formula: syntax.Formula
        self.used: set[str] = set()
        self.subs: dict[Any, Any] = {}  # unit identities in force in the current if() branch
        self.excluded: dict[str, set[str]] = {}  # choice values ruled out by enclosing if() tests

    # ---------- entry points and errors

    def parse(self, text: str) -> Term:
        formula = syntax.parse(text, self.where)
        self.formula = formula
        self.budget.nodes += formula.nodes
        if self.budget.nodes > MAX_NODES:
            raise RuleFileError(f"formula is too large (more than {MAX_NODES} syntax nodes, counting function expansions)", self.where)
        try:
            return self.visit(formula.tree)
        except RecursionError:
            raise RuleFileError("formula is nested too deeply", self.where, text[:120]) from None

    def fail(self, node: ast.AST, message: str) -> RuleFileError:
        return self.formula.error(self.where, message, node)

    # ---------- dispatch

    def visit(self, node: ast.AST) -> Term:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"{_describe(node)} is not allowed in formulas")
        try:
            term: Term = method(node)
        except (TypeError, ValueError, ArithmeticError) as exc:
            if not _from_sympy(exc):
                raise
            raise self.fail(node, f"this cannot be built ({exc})") from None  # sympy refusing what the formula asks of it
        return term

    def bounded(self, node: ast.AST, term: Term) -> Term:
        """The term, unless it expands to more operations than a formula may (checked where user functions are
        expanded, which is where a formula can grow faster than its text)."""
        if term.expr is not None and _size(term.expr) > MAX_EXPANDED:
            raise self.fail(node, f"this expands to more than {MAX_EXPANDED} operations (user functions are expanded where they are called); "
                                  "compute parts as quantities")
        return term

    def number(self, node: ast.AST, what: str) -> Term:
        t = self.visit(node)
        if t.kind != "number":
            raise self.fail(node, f"{what} must be a number, not a {kind_name(t)}")
        return t

    def boolean(self, node: ast.AST, what: str) -> Term:
        t = self.visit(node)
        if t.kind != "bool":
            raise self.fail(node, f"{what} must be a condition (a comparison), not a {kind_name(t)}")
        return t

    def combine(self, node: ast.AST, *terms: Term) -> Shape:
        shape = terms[0].shape
        for t in terms[1:]:
            merged = broadcast(shape, t.shape)
            if merged is None:
                raise self.fail(node, f"cannot combine values on {shape} with values on {t.shape}; use an aggregation such as sum(...) or a reference such as name[ref]")
            shape = merged
        return shape

    # ---------- leaves

    def visit_Constant(self, node: ast.Constant) -> Term:
        value = node.value
        if isinstance(value, bool):
            return Term("bool", Shape(None), sympy.true if value else sympy.false)
        if isinstance(value, (int, float)):
            segment = self.formula.segment(node) or repr(value)
            if segment[:2].lower() in ("0x", "0o", "0b"):
                raise self.fail(node, f"write numbers in decimal, not {segment[:12]}")
            try:
                dec = Decimal(segment.replace("_", ""))
            except InvalidOperation:
                dec = Decimal(repr(value))
            if not dec.is_finite() or (dec != 0 and not (-MAX_LOG10 < dec.copy_abs().adjusted() < MAX_LOG10)):
                raise self.fail(node, f"number {segment} is out of range (1e-{MAX_LOG10} .. 1e{MAX_LOG10})")
            num, den = dec.as_integer_ratio()
            return Term("number", Shape(None), sympy.Rational(num, den), unit=None if dec == 0 else units.ONE)
        if isinstance(value, str):
            raise self.fail(node, "text is only allowed when comparing a choice input, e.g. margin_mode == 'cross'")
        raise self.fail(node, f"{type(value).__name__} literals are not allowed")

    def visit_Name(self, node: ast.Name) -> Term:
        name = node.id
        if name in self.locals:
            return self.locals[name]
        if name == "inf":
            return Term("number", Shape(None), sympy.oo)
        found = self.low.resolve(name)
        if found is None:
            near = difflib.get_close_matches(name, list(self.locals) + self.low.known_names(), n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise self.fail(node, f"unknown name {name!r}{hint}")
        if isinstance(found, TableBinding):
            raise self.fail(node, f"{name!r} is a table; read it with tier({name}.<column>, x, key) or progressive(...)")
        if isinstance(found, FunctionBinding):
            raise self.fail(node, f"{name!r} is a function; call it with arguments")
        self.used.add(name)
        return found

    # ---------- operators

    def visit_BinOp(self, node: ast.BinOp) -> Term:
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
        op = ops.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {_op_text(node.op)} is not allowed (use + - * / **)")
        left = self.number(node.left, f"the left side of {op}")
        right = self.number(node.right, f"the right side of {op}")
        shape = self.combine(node, left, right)
        a, b = left.expr, right.expr
        try:
            if op in "+-":
                unit = units.same(left.unit, right.unit, self.subs, "cannot add or subtract")
            elif op == "*":
                unit = units.times(left.unit, right.unit)
            elif op == "/":
                unit = units.times(left.unit, 1 / right.unit if right.unit is not None else None)
        except UnitMismatch as exc:
            raise self.fail(node, str(exc)) from None
        if op == "**":
            if not (isinstance(b, sympy.Number) and b.is_finite):
                raise self.fail(node.right, "exponents must be number literals (use exp() and log() for anything else)")
            if abs(b) > MAX_EXPONENT:
                raise self.fail(node.right, f"exponent {b} is larger than {MAX_EXPONENT} in size")
            if isinstance(a, sympy.Number) and a != 0 and a.is_finite and float(abs(b)) * abs(math.log10(abs(float(a)) or 1e-300)) > MAX_LOG10:
                raise self.fail(node, "constant is too large")
            value = a**b
            unit = left.unit**b if left.unit is not None else None
        elif op == "+":
            value = a + b
        elif op == "-":
            value = a - b
        elif op == "*":
            value = a * b
        else:
            value = a / b
        if value.has(sympy.zoo, sympy.nan):
            raise self.fail(node, "this has no value (division of a constant by zero?)")
        if value.has(sympy.I) or (value.is_number and value.is_extended_real is False):
            raise self.fail(node, "this has no real value (a negative number to a fractional power?)")
        magnitude = abs(float(value)) if value.is_Number and value.is_finite and value != 0 else None
        if magnitude is not None and not (0 < magnitude < math.inf and -MAX_LOG10 < math.log10(magnitude) < MAX_LOG10):  # 0: underflowed
            raise self.fail(node, f"constant is out of range (1e-{MAX_LOG10} .. 1e{MAX_LOG10})")
        return Term("number", shape, value, unit=unit)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Term:
        if isinstance(node.op, ast.Not):
            t = self.boolean(node.operand, "the operand of not")
            return Term("bool", t.shape, sympy.Not(t.expr), undefined=t.undefined)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            t = self.number(node.operand, "the operand of a sign")
            return Term("number", t.shape, -t.expr if isinstance(node.op, ast.USub) else t.expr, unit=t.unit)
        raise self.fail(node, f"operator {_op_text(node.op)} is not allowed")

    def visit_BoolOp(self, node: ast.BoolOp) -> Term:
        terms = [self.boolean(v, "each side of and/or") for v in node.values]
        shape = self.combine(node, *terms)
        fn = sympy.And if isinstance(node.op, ast.And) else sympy.Or
        return Term("bool", shape, fn(*(t.expr for t in terms)), undefined=combine(*(t.undefined for t in terms)))

    def visit_Compare(self, node: ast.Compare) -> Term:
        rel = {ast.Lt: sympy.Lt, ast.LtE: sympy.Le, ast.Gt: sympy.Gt, ast.GtE: sympy.Ge, ast.Eq: sympy.Eq, ast.NotEq: sympy.Ne}
        parts = []
        left_node = node.left
        for op, right_node in zip(node.ops, node.comparators):
            fn = rel.get(type(op))
            if fn is None:
                raise self.fail(node, f"comparison {_op_text(op)} is not allowed (use < <= > >= == !=)")
            parts.append(self._compare(node, fn, left_node, right_node))
            left_node = right_node
        shape = self.combine(node, *parts)
        if len(parts) == 1:
            return parts[0]
        return Term("bool", shape, sympy.And(*(p.expr for p in parts)), undefined=combine(*(p.undefined for p in parts)))

    def _compare(self, node: ast.AST, fn: Any, left_node: ast.AST, right_node: ast.AST) -> Term:
        text_side = [isinstance(n, ast.Constant) and isinstance(n.value, str) for n in (left_node, right_node)]
        if any(text_side):
            if fn not in (sympy.Eq, sympy.Ne):
                raise self.fail(node, "choices can only be compared with == or !=")
            other_node, lit_node = (right_node, left_node) if text_side[0] else (left_node, right_node)
            other = self.visit(other_node)
            if other.kind != "enum":
                raise self.fail(other_node, f"only choice inputs can be compared with text, not a {kind_name(other)}")
            value = lit_node.value  # type: ignore[attr-defined]
            if value not in other.codes:
                raise self.fail(lit_node, f"{value!r} is not one of the choices {', '.join(other.codes)}")
            return Term("bool", other.shape, fn(other.expr, other.codes.index(value)))
        left, right = self.visit(left_node), self.visit(right_node)
        if left.kind == right.kind == "enum":
            if left.codes != right.codes:
                raise self.fail(node, "these two choices have different values and cannot be compared")
            if fn not in (sympy.Eq, sympy.Ne):
                raise self.fail(node, "choices can only be compared with == or !=")
        elif left.kind != "number" or right.kind != "number":
            bad = left if left.kind != "number" else right
            raise self.fail(node, f"cannot compare a {kind_name(bad)}; comparisons take numbers (or a choice and its text)")
        else:
            try:
                units.same(left.unit, right.unit, self.subs, "cannot compare")
            except UnitMismatch as exc:
                raise self.fail(node, str(exc)) from None
        shape = self.combine(node, left, right)
        value = fn(left.expr, right.expr)
        loose = [t.expr for t in (left, right) if t.may_be_undefined()]
        return Term("bool", shape, value, undefined=undefined(*loose) if loose else None)

    # ---------- references and calls

    def visit_Subscript(self, node: ast.Subscript) -> Term:
        if isinstance(node.value, ast.Attribute) and isinstance(node.value.value, ast.Name):
            return self._by_key(node, node.value)
        if not isinstance(node.value, ast.Name):
            raise self.fail(node, "only a name can be indexed, as in index_price[settle_currency], or a keyed table, as in table.column[key]")
        source = self.visit(node.value)
        ref = self.visit(node.slice)
        if ref.kind != "ref":
            raise self.fail(node.slice, f"the index must be a reference input (a row of another axis), not a {kind_name(ref)}")
        if ref.optional:
            raise self.fail(node.slice, "this reference is optional (a row may have no target), so it cannot be read through; "
                                        "aggregate along it instead, e.g. sum(x, by=ref)")
        if source.shape.rows != ref.target:
            raise self.fail(node, f"{node.value.id!r} lives on {source.shape}, but this reference points into {ref.target}")
        if source.kind not in ("number", "bool"):
            raise self.fail(node.value, f"only numbers and conditions can be read through a reference, not a {kind_name(source)}")
        if source.kind == "number" and ref.as_unit is None and "coin" in units.row_relative(source.unit) and not self.low.is_group(ref.target or ""):
            raise self.fail(node, f"{node.value.id!r} is in each {ref.target} row's own coin; give the reference an as_unit (e.g. settle) to read it here")
        try:
            out = self.low.gather(source, ref)
        except Refused as exc:
            raise self.fail(node, str(exc)) from None
        out.unit = units.through_ref(source.unit, ref.as_unit, inward=False)
        return out

    def visit_Attribute(self, node: ast.Attribute) -> Term:
        """`axis.key`: the row key of an axis, by its qualified name (needed where two collections' keys, or a key
        and another collection's field, share a field name)."""
        if isinstance(node.value, ast.Name):
            found = self.low.resolve(f"{node.value.id}.{node.attr}")
            if isinstance(found, Term):
                self.used.add(f"{node.value.id}.{node.attr}")
                return found
            if isinstance(self.low.resolve(node.value.id), TableBinding):
                raise self.fail(node, f"read a table with tier({node.value.id}.{node.attr}, x, key), progressive(...) or, for a keyed table, "
                                      f"{node.value.id}.{node.attr}[key]")
        raise self.fail(node, "attribute access is not allowed (axis.key names an axis' row key; tables are read with tier(table.column, x, key), "
                              "progressive(...) or table.column[key])")

    def _by_key(self, node: ast.Subscript, column: ast.Attribute) -> Term:
        """`table.column[key]`: a keyed table (`values`, no tiers) read by key alone."""
        table = self.low.resolve(column.value.id)  # type: ignore[attr-defined]
        if not isinstance(table, TableBinding):
            raise self.fail(column.value, f"{column.value.id!r} is not a table")  # type: ignore[attr-defined]
        if column.attr not in table.columns:
            raise self.fail(column, f"table {table.name!r} has no column {column.attr!r} (columns: {', '.join(table.columns)})")
        if not table.by_key:
            raise self.fail(node, f"table {table.name!r} has tiers: read it at a value with tier({table.name}.{column.attr}, x, key)")
        key = self.visit(node.slice)
        if key.kind != "text":
            raise self.fail(node.slice, f"the key must be a text value such as a currency code or a row key, not a {kind_name(key)}")
        self.used.add(table.name)
        try:
            out = self.low.lookup(table, column.attr, "step", Term("number", Shape(None), sympy.S.Zero), key, None)
        except Refused as exc:
            raise self.fail(node, str(exc)) from None
        out.unit = table.columns[column.attr]
        return out

    def visit_Call(self, node: ast.Call) -> Term:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only named functions can be called")
        name = node.func.id
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise self.fail(node, "* and ** arguments are not allowed")
        if name == "IF":
            return self._if(node)
        if name in AGGREGATES and (name not in ("min", "max") or len(node.args) == 1):
            return self._aggregate(node, name)
        if name in ("min", "max"):
            return self._minmax(node, name)
        if name in ELEMENTWISE:
            return self._elementwise(node, name)
        if name in LOOKUPS:
            return self._lookup(node, name)
        found = self.locals.get(name) or self.low.resolve(name)
        if isinstance(found, FunctionBinding):
            return self._user_call(node, found)
        if found is None:
            near = difflib.get_close_matches(name, BUILTIN_NAMES + self.low.known_names(), n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise self.fail(node.func, f"unknown function {name!r}{hint}")
        raise self.fail(node.func, f"{name!r} is not a function")

    def _no_keywords(self, node: ast.Call, name: str) -> None:
        if node.keywords:
            raise self.fail(node.keywords[0].value, f"{name}() takes no keyword arguments")

    def _arity(self, node: ast.Call, name: str, low: int, high: int | None = None) -> None:
        n = len(node.args)
        high = low if high is None else high
        if n < low or (high >= 0 and n > high):
            want = f"{low}" if low == high else (f"at least {low}" if high < 0 else f"{low} to {high}")
            raise self.fail(node, f"{name}() takes {want} argument{'s' if want != '1' else ''}, got {n}")

    def _user_call(self, node: ast.Call, fn: FunctionBinding) -> Term:
        self._no_keywords(node, fn.name)
        self._arity(node, fn.name, len(fn.params))
        if fn.name in self.budget.stack:
            raise self.fail(node, f"function {fn.name!r} calls itself ({' -> '.join(self.budget.stack + [fn.name])})")
        if len(self.budget.stack) >= MAX_CALL_DEPTH:
            raise self.fail(node, f"function calls nest deeper than {MAX_CALL_DEPTH}")
        args = [self.visit(a) for a in node.args]
        self.used.add(fn.name)
        inner = FormulaParser(self.low, fn.where, dict(zip(fn.params, args)), self.budget)
        inner.subs, inner.excluded = self.subs, self.excluded
        self.budget.stack.append(fn.name)
        try:
            result = inner.parse(fn.formula)
        finally:
            self.budget.stack.pop()
        self.used |= inner.used
        if fn.unit is not None and result.kind == "number":
            try:
                units.same(result.unit, fn.unit, self.subs, f"{fn.name}() gives here")
            except UnitMismatch as exc:
                raise self.fail(node, f"{exc}; the function declares unit {units.show(fn.unit)}") from None
        return self.bounded(node, result)


def _from_sympy(exc: BaseException) -> bool:
    """Whether an exception was raised inside sympy (a formula it cannot build), not by this package."""
    tb = exc.__traceback__
    last = ""
    while tb is not None:
        last = str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return last == "sympy" or last.startswith(("sympy.", "mpmath"))


def _size(expr: Any) -> int:
    """Operations in an expression as a tree (a shared subexpression counted at every use), in time linear in
    its distinct parts: user functions that call each other twice per level double the tree at each level."""
    sizes: dict[int, int] = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        if id(e) in sizes:
            stack.pop()
            continue
        pending = [a for a in e.args if id(a) not in sizes]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        sizes[id(e)] = min(1 + sum(sizes[id(a)] for a in e.args), 10 * MAX_EXPANDED)
    return sizes[id(expr)]


def _describe(node: ast.AST) -> str:
    names = {
        "Lambda": "lambda", "IfExp": "`a if c else b` (write if(c, a, b))", "ListComp": "a list comprehension",
        "GeneratorExp": "a generator", "DictComp": "a dict comprehension", "SetComp": "a set comprehension",
        "List": "a list", "Tuple": "a tuple", "Dict": "a dict", "Set": "a set", "JoinedStr": "an f-string",
        "NamedExpr": "`:=`", "Await": "await", "Yield": "yield", "Starred": "`*`", "Slice": "a slice",
    }
    return names.get(type(node).__name__, f"`{type(node).__name__}`")


def _op_text(op: ast.AST) -> str:
    return {
        "Mod": "%", "FloorDiv": "//", "MatMult": "@", "BitAnd": "&", "BitOr": "|", "BitXor": "^",
        "LShift": "<<", "RShift": ">>", "Invert": "~", "Is": "is", "IsNot": "is not", "In": "in", "NotIn": "not in",
    }.get(type(op).__name__, type(op).__name__)
