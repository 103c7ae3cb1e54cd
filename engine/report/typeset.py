"""Formulas as mathematics, for people reading an audit.

The engine's sympy expressions are built for computing (references hoisted into
steps, enums coded as numbers, sums simplified), so an auditor could not match
them to the documentation. This module builds a separate *display* expression
that keeps the formula as written and prints it through sympy's LaTeX and
presentation-MathML printers.

Rule text is untrusted: it is read once into its syntax tree by
language/syntax.py (Python's `ast` as a parser only) and only the node types
below are walked; everything is built with constructor calls. Nothing
reaches eval, exec, sympify or parse_expr. Operators are small custom sympy
Function classes with their own `_latex`/`_mathml_presentation` methods: sympy's
own MathML printer reorders products and drops the brackets of `a - (b + c)`,
which an audit must never do."""

from __future__ import annotations

import ast
import html
import re
from dataclasses import dataclass
from functools import reduce
from typing import Any

import sympy
from sympy.core.symbol import Str
from sympy.printing.mathml import mathml

from ..errors import Location, RuleFileError
from ..language import syntax

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
NUMBER = re.compile(r"^[0-9][0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9]+)?$|^\.[0-9_]+([eE][+-]?[0-9]+)?$")

# Binding strength: an operand binding less tightly than its place needs gets brackets.
P_OR, P_AND, P_NOT, P_REL, P_ADD, P_NEG, P_MUL, P_POW, P_ATOM = 1, 2, 3, 4, 10, 15, 20, 30, 100


class Unsupported(Exception):
    """A construct the display does not handle; the audit shows the formula as text instead."""


def _tex_text(s: str) -> str:
    """Text for \\text{} or \\mathrm{}: LaTeX's special characters escaped."""
    out = []
    for ch in s:
        if ch in "\\{}$&#^_%~":
            out.append({"\\": r"\backslash{}", "^": r"\^{}", "~": r"\~{}"}.get(ch, "\\" + ch))
        else:
            out.append(ch)
    return "".join(out)


def _el(p: Any, tag: str, *children: Any, text: str | None = None, **attrs: str) -> Any:
    """A MathML element; text is escaped here because sympy's serializer writes text nodes verbatim."""
    e = p.dom.createElement(tag)
    for k, v in attrs.items():
        e.setAttribute(k, v)
    if text is not None:
        e.appendChild(p.dom.createTextNode(html.escape(text, quote=False)))
    for c in children:
        e.appendChild(c)
    return e


def _prec(e: Any) -> int:
    return e.prec if isinstance(e, Display) else (P_POW if isinstance(e, sympy.Pow) else P_ATOM)


def _tex(p: Any, e: Any, need: int) -> str:
    s = p._print(e)
    return rf"\left({s}\right)" if _prec(e) < need else s


def _mml(p: Any, e: Any, need: int) -> Any:
    inner = p._print(e)
    return _el(p, "mrow", _el(p, "mo", text="("), inner, _el(p, "mo", text=")")) if _prec(e) < need else inner


class Name(sympy.Symbol):
    """A rule-set name, upright and whole (sympy would make `a_b` into a subscript)."""

    def _latex(self, p: Any) -> str:
        return rf"\mathrm{{{_tex_text(self.name)}}}"

    def _mathml_presentation(self, p: Any) -> Any:
        return _el(p, "mi", text=self.name, mathvariant="normal")


class Display(sympy.Function):
    """Base of the display nodes: first argument(s) may be `Str` labels."""

    prec = P_ATOM

    def lab(self, i: int) -> str:
        return str(self.args[i].name)


class Num(Display):
    """A number literal exactly as written (1e-4 as 10^-4, not 0.000100000000000000)."""

    def _parts(self) -> tuple[str, int | None]:
        mant, _, exp = self.lab(0).replace("_", "").lower().partition("e")
        return mant, int(exp) if exp else None

    def _latex(self, p: Any) -> str:
        mant, exp = self._parts()
        if exp is None:
            return mant
        return f"10^{{{exp}}}" if float(mant) == 1 else rf"{mant} \cdot 10^{{{exp}}}"

    def _mathml_presentation(self, p: Any) -> Any:
        mant, exp = self._parts()
        if exp is None:
            return _el(p, "mn", text=mant)
        power = _el(p, "msup", _el(p, "mn", text="10"), _el(p, "mn", text=str(exp)))
        return power if float(mant) == 1 else _el(p, "mrow", _el(p, "mn", text=mant), _el(p, "mo", text="\u00b7"), power)


class Text(Display):
    """A choice value in a comparison, such as 'cross'."""

    def _latex(self, p: Any) -> str:
        return rf"\text{{'{_tex_text(self.lab(0))}'}}"

    def _mathml_presentation(self, p: Any) -> Any:
        return _el(p, "mtext", text=f"'{self.lab(0)}'")


class Infix(Display):
    """a op b: + - * and comparisons; args (Str(op), left, right)."""

    TEX = {"+": "+", "-": "-", "*": r"\cdot", "<": "<", "<=": r"\le", ">": ">", ">=": r"\ge", "==": "=", "!=": r"\ne",
           "and": r"\ \text{and}\ ", "or": r"\ \text{or}\ "}
    MML = {"*": "\u00b7", "<=": "\u2264", ">=": "\u2265", "==": "=", "!=": "\u2260", "-": "\u2212"}
    PREC = {"+": P_ADD, "-": P_ADD, "*": P_MUL, "and": P_AND, "or": P_OR}

    @property
    def prec(self) -> int:  # type: ignore[override]
        return self.PREC.get(self.lab(0), P_REL)

    def _needs(self) -> tuple[int, int]:
        op, pr = self.lab(0), self.prec
        if pr == P_REL:
            return P_REL + 1, P_REL + 1
        return pr, pr + 1 if op == "-" else pr

    def _latex(self, p: Any) -> str:
        left, right = self._needs()
        return f"{_tex(p, self.args[1], left)} {self.TEX[self.lab(0)]} {_tex(p, self.args[2], right)}"

    def _mathml_presentation(self, p: Any) -> Any:
        left, right = self._needs()
        op = self.lab(0)
        return _el(p, "mrow", _mml(p, self.args[1], left), _el(p, "mo", text=self.MML.get(op, op)), _mml(p, self.args[2], right))


class Frac(Display):
    def _latex(self, p: Any) -> str:
        return rf"\frac{{{p._print(self.args[0])}}}{{{p._print(self.args[1])}}}"

    def _mathml_presentation(self, p: Any) -> Any:
        return _el(p, "mfrac", _el(p, "mrow", p._print(self.args[0])), _el(p, "mrow", p._print(self.args[1])))


class Power(Display):
    prec = P_POW

    def _latex(self, p: Any) -> str:
        return f"{{{_tex(p, self.args[0], P_ATOM + 1 if isinstance(self.args[0], Frac) else P_POW + 1)}}}^{{{p._print(self.args[1])}}}"

    def _mathml_presentation(self, p: Any) -> Any:
        base = _mml(p, self.args[0], P_ATOM + 1 if isinstance(self.args[0], Frac) else P_POW + 1)
        return _el(p, "msup", base, p._print(self.args[1]))


class Prefix(Display):
    """-x and not x; args (Str(op), operand)."""

    @property
    def prec(self) -> int:  # type: ignore[override]
        return P_NEG if self.lab(0) == "-" else P_NOT

    def _latex(self, p: Any) -> str:
        op = "-" if self.lab(0) == "-" else r"\text{not}\ "
        return op + _tex(p, self.args[1], P_MUL if self.lab(0) == "-" else P_NOT)

    def _mathml_presentation(self, p: Any) -> Any:
        op = "\u2212" if self.lab(0) == "-" else "not"
        return _el(p, "mrow", _el(p, "mo", text=op, form="prefix"), _mml(p, self.args[1], P_MUL if self.lab(0) == "-" else P_NOT))


class Ref(Display):
    """source[ref]: the value of the row the reference points to, written as a subscript."""

    def _latex(self, p: Any) -> str:
        return f"{p._print(self.args[0])}_{{{p._print(self.args[1])}}}"

    def _mathml_presentation(self, p: Any) -> Any:
        return _el(p, "msub", p._print(self.args[0]), p._print(self.args[1]))


class Apply(Display):
    """A named function applied to arguments: min(a, b), linear_pnl(...), tier_{table.column}(x, key)."""

    SYMBOL = {"ncdf": ("\\Phi", "\u03a6"), "min": ("\\min", "min"), "max": ("\\max", "max")}

    def _latex(self, p: Any) -> str:
        name, sub, args = self.lab(0), self.lab(1), self.args[2:]
        head = self.SYMBOL.get(name, (rf"\operatorname{{{_tex_text(name)}}}", ""))[0]
        if sub:
            head += rf"_{{\mathrm{{{_tex_text(sub)}}}}}"
        return head + r"\left(" + ", ".join(p._print(a) for a in args) + r"\right)"

    def _mathml_presentation(self, p: Any) -> Any:
        name, sub, args = self.lab(0), self.lab(1), self.args[2:]
        head = _el(p, "mi", text=self.SYMBOL.get(name, ("", name))[1], mathvariant="normal")
        if sub:
            head = _el(p, "msub", head, _el(p, "mi", text=sub, mathvariant="normal"))
        row = [head, _el(p, "mo", text="\u2061"), _el(p, "mo", text="(")]
        for i, a in enumerate(args):
            row += ([_el(p, "mo", text=",")] if i else []) + [p._print(a)]
        return _el(p, "mrow", *row, _el(p, "mo", text=")"))


class Labelled(Display):
    """`label value` inside an aggregation's limits: `by settle_currency`, `default 0`."""

    def _latex(self, p: Any) -> str:
        return rf"\text{{{_tex_text(self.lab(0))} }}{p._print(self.args[1])}"

    def _mathml_presentation(self, p: Any) -> Any:
        return _el(p, "mrow", _el(p, "mtext", text=self.lab(0) + "\u00a0"), p._print(self.args[1]))


class Aggregate(Display):
    """sum/min/max/count/any/all over rows; args (Str(op), body, limit...). Limits go under the operator."""

    prec = P_MUL
    TEX = {"sum": r"\sum", "min": r"\min", "max": r"\max"}
    MML = {"sum": "\u2211", "min": "min", "max": "max"}

    def _latex(self, p: Any) -> str:
        op, limits = self.lab(0), self.args[2:]
        head = self.TEX.get(op, rf"\operatorname*{{{op}}}")
        if limits:
            head += r"_{\substack{" + r" \\ ".join(p._print(x) for x in limits) + "}}"
        return f"{head} {_tex(p, self.args[1], P_MUL + 1)}"

    def _mathml_presentation(self, p: Any) -> Any:
        op, limits = self.lab(0), self.args[2:]
        head = _el(p, "mo", text=self.MML.get(op, op), movablelimits="false", largeop="true" if op == "sum" else "false")
        if op not in self.MML:
            head = _el(p, "mi", text=op, mathvariant="normal")
        if limits:
            rows = [_el(p, "mtr", _el(p, "mtd", p._print(x))) for x in limits]
            head = _el(p, "munder", head, _el(p, "mtable", *rows, **{"class": "limits"}))
        return _el(p, "mrow", head, _el(p, "mspace", width="0.2em"), _mml(p, self.args[1], P_MUL + 1))


class Cases(Display):
    """if(c1, a, if(c2, b, d)) as one brace: a if c1, b if c2, d otherwise; args (value, cond, ..., value)."""

    def _pairs(self) -> list[tuple[Any, Any]]:
        a = self.args
        return [(a[i], a[i + 1]) for i in range(0, len(a) - 1, 2)] + [(a[-1], None)]

    def _latex(self, p: Any) -> str:
        rows = [f"{p._print(v)} & " + (rf"\text{{if }} {p._print(c)}" if c is not None else r"\text{otherwise}") for v, c in self._pairs()]
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    def _mathml_presentation(self, p: Any) -> Any:
        rows = []
        for v, c in self._pairs():
            cond = _el(p, "mrow", _el(p, "mtext", text="if\u00a0"), p._print(c)) if c is not None else _el(p, "mtext", text="otherwise")
            rows.append(_el(p, "mtr", _el(p, "mtd", p._print(v)), _el(p, "mtd", cond)))
        brace = _el(p, "mo", text="{", stretchy="true", fence="true", form="prefix")
        return _el(p, "mrow", brace, _el(p, "mtable", *rows, **{"class": "piecewise"}))


@dataclass
class Rendered:
    """A formula as LaTeX and presentation MathML, or None for both when only the text can be shown."""

    text: str
    latex: str | None
    mathml: str | None


class _Builder:
    """Walks a whitelisted Python syntax tree into display nodes."""

    BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}
    CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
    SYMPY_FUNCS = {"abs": sympy.Abs, "exp": sympy.exp, "log": sympy.log, "erf": sympy.erf, "floor": sympy.floor, "ceil": sympy.ceiling}

    def __init__(self, formula: syntax.Formula):
        self.formula = formula

    def build(self, node: ast.AST) -> Any:
        method = getattr(self, f"b_{type(node).__name__}", None)
        if method is None:
            raise Unsupported(type(node).__name__)
        return method(node)

    def b_Constant(self, node: ast.Constant) -> Any:
        v = node.value
        if isinstance(v, bool):
            return Name("true" if v else "false")
        if isinstance(v, (int, float)):
            seg = self.formula.segment(node) or repr(v)
            if not NUMBER.match(seg):
                raise Unsupported(seg)
            return Num(Str(seg))
        if isinstance(v, str) and NAME.match(v):
            return Text(Str(v))
        raise Unsupported(type(v).__name__)

    def b_Name(self, node: ast.Name) -> Any:
        if node.id == "inf":
            return sympy.oo
        if not NAME.match(node.id):
            raise Unsupported(node.id)
        return Name(node.id)

    def b_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.build(node.left), self.build(node.right)
        if isinstance(node.op, ast.Div):
            return Frac(left, right)
        if isinstance(node.op, ast.Pow):
            if not (isinstance(node.right, ast.Constant) or (isinstance(node.right, ast.UnaryOp) and isinstance(node.right.operand, ast.Constant))):
                raise Unsupported("exponent")
            if isinstance(node.right, ast.Constant) and node.right.value == 0.5:
                return sympy.sqrt(left, evaluate=False)
            return Power(left, right)
        op = self.BINOPS.get(type(node.op))
        if op is None:
            raise Unsupported(type(node.op).__name__)
        return Infix(Str(op), left, right)

    def b_UnaryOp(self, node: ast.UnaryOp) -> Any:
        inner = self.build(node.operand)
        if isinstance(node.op, ast.UAdd):
            return inner
        if isinstance(node.op, (ast.USub, ast.Not)):
            return Prefix(Str("-" if isinstance(node.op, ast.USub) else "not"), inner)
        raise Unsupported(type(node.op).__name__)

    def b_BoolOp(self, node: ast.BoolOp) -> Any:
        op = Str("and" if isinstance(node.op, ast.And) else "or")
        return reduce(lambda a, b: Infix(op, a, b), [self.build(v) for v in node.values])

    def b_Compare(self, node: ast.Compare) -> Any:
        out, left = None, self.build(node.left)
        for op, comp in zip(node.ops, node.comparators):
            sym = self.CMP.get(type(op))
            if sym is None:
                raise Unsupported(type(op).__name__)
            right = self.build(comp)
            part = Infix(Str(sym), left, right)
            out = part if out is None else Infix(Str("and"), out, part)
            left = right
        return out

    def b_Subscript(self, node: ast.Subscript) -> Any:
        if not (isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Name)):
            raise Unsupported("subscript")
        return Ref(self.build(node.value), self.build(node.slice))

    def b_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or not NAME.match(node.func.id):
            raise Unsupported("call")
        name = node.func.id
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise Unsupported("starred")
        kw: dict[str, ast.AST] = {k.arg or "": k.value for k in node.keywords}
        if name == "IF":
            return self._cases(node)
        if name in ("sum", "count", "any", "all") or (name in ("min", "max") and len(node.args) == 1):
            return self._aggregate(name, node, kw)
        if name in self.SYMPY_FUNCS and len(node.args) == 1 and not kw:
            return self.SYMPY_FUNCS[name](self.build(node.args[0]), evaluate=False)
        if name == "sqrt" and len(node.args) == 1 and not kw:
            return sympy.sqrt(self.build(node.args[0]), evaluate=False)
        if name in ("tier", "progressive"):
            col = node.args[0] if node.args else None
            if not (isinstance(col, ast.Attribute) and isinstance(col.value, ast.Name) and NAME.match(col.value.id) and NAME.match(col.attr)):
                raise Unsupported("table read")
            extra = [Labelled(Str("default"), self.build(kw["default"]))] if "default" in kw else []
            return Apply(Str(name), Str(f"{col.value.id}.{col.attr}"), *[self.build(a) for a in node.args[1:]], *extra)
        if kw:
            raise Unsupported("keywords")
        return Apply(Str(name), Str(""), *[self.build(a) for a in node.args])

    def _aggregate(self, op: str, node: ast.Call, kw: dict[str, ast.AST]) -> Any:
        if len(node.args) != 1 or set(kw) - {"by", "over", "where", "default", "take"}:
            raise Unsupported("aggregation")
        limits = [Labelled(Str(k), self.build(kw[k])) for k in ("by", "over") if k in kw]
        if "where" in kw:
            limits.append(self.build(kw["where"]))
        limits += [Labelled(Str(label), self.build(kw[k])) for k, label in (("take", "value of"), ("default", "default")) if k in kw]
        return Aggregate(Str(op), self.build(node.args[0]), *limits)

    def _cases(self, node: ast.Call) -> Any:
        args: list[Any] = []
        while True:
            if len(node.args) != 3 or node.keywords:
                raise Unsupported("if")
            cond, then, other = node.args
            args += [self.build(then), self.build(cond)]
            if isinstance(other, ast.Call) and isinstance(other.func, ast.Name) and other.func.id == "IF":
                node = other
                continue
            args.append(self.build(other))
            return Cases(*args)


def display_expr(text: str) -> Any:
    """The display expression of a formula, from its one syntax tree (language/syntax.py); raises Unsupported
    for anything outside what it can typeset."""
    try:
        formula = syntax.parse(text, Location("formula"))
    except RuleFileError:
        raise Unsupported("syntax") from None
    return _Builder(formula).build(formula.tree)


def render(text: str, lhs: str | None = None, params: tuple[str, ...] | None = None) -> Rendered:
    """LaTeX and MathML of `lhs = formula`, `lhs(params) = formula` (a user function) or the formula alone;
    only the text when it cannot be shown as mathematics."""
    try:
        expr = display_expr(text)
        if lhs is not None:
            if not all(NAME.match(x) for x in (lhs, *(params or ()))):
                raise Unsupported(lhs)
            head = Name(lhs) if params is None else Apply(Str(lhs), Str(""), *(Name(x) for x in params))
            expr = Infix(Str("=="), head, expr)
        return Rendered(text, sympy.latex(expr), mathml(expr, printer="presentation"))
    except Exception:
        return Rendered(text, None, None)
