"""sympy code printers for the two generated kernels: vectorised numpy and
plain Python. They print plan variables under the names the generator
chooses, and keep the numeric meaning identical between the two."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pycode import PythonCodePrinter

from ..language.normal import ncdf
from ..language.undefined import undefined


class _Named:
    """Plan variables under the generator's names, and every printed function or atom a primary."""

    names: dict[str, str]

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return self.names.get(expr.name, expr.name)

    def _nested(self, fn: str, args: tuple[Any, ...]) -> str:
        """fn(fn(a, b), c): an n-ary min or max as nested two-argument calls."""
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Integer(self, expr: sympy.Integer) -> str:
        """Integers a double holds exactly as integers; larger ones (a literal 1e299 is read exactly) as the
        double they are evaluated as, so that numpy can take them and both kernels compare the same number."""
        return str(int(expr)) if abs(int(expr)) <= 2**53 else repr(float(expr))

    def _print_Rational(self, expr: sympy.Rational) -> str:
        if max(abs(expr.p), expr.q) <= 2**53:
            return super()._print_Rational(expr)  # type: ignore[misc]
        return repr(float(expr))

    def _print(self, expr: Any, **kwargs: Any) -> str:
        """sympy parenthesises an operand by the precedence of the *sympy* expression: a function is an atom.
        A function this module prints as an expression (Φ as erfc(...)/2) must then come out as one primary,
        or `y / ncdf(x)` would read `y / 1/2*erfc(...)`."""
        text: str = super()._print(expr, **kwargs)  # type: ignore[misc]
        if isinstance(expr, sympy.Basic) and precedence(expr) >= PRECEDENCE["Func"] and not _is_primary(text):
            return f"({text})"
        return text


def _is_primary(text: str) -> bool:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, (ast.Call, ast.Name, ast.Constant, ast.Attribute, ast.Subscript)) and not (
        isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and text.lstrip().startswith("-"))


class NumpyCode(_Named, NumPyPrinter):
    """numpy printer: Piecewise as numpy.where, n-ary min/max nested, erf and Φ (ndtr) from scipy."""

    def __init__(self, names: dict[str, str]):
        super().__init__({"fully_qualified_modules": True, "inline": True})
        self.names = names

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        out = "numpy.nan"
        for value, cond in reversed(expr.args):
            if cond is sympy.true:
                out = self._print(value)
            else:
                out = f"numpy.where({self._print(cond)}, {self._print(value)}, {out})"
        return out

    def _print_Or(self, expr: sympy.Or) -> str:
        """Nested two-argument calls, which broadcast: sympy's logical_or.reduce((a, b)) first stacks its operands
        into one array, which fails for a value on the grid beside one on rows x grid."""
        return self._nested("numpy.logical_or", expr.args)

    def _print_And(self, expr: sympy.And) -> str:
        return self._nested("numpy.logical_and", expr.args)

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._nested("numpy.minimum", expr.args)

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._nested("numpy.maximum", expr.args)

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"numpy.abs({self._print(expr.args[0])})"

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        if exp.is_Integer and exp < 0:
            b = self.parenthesize(base, PRECEDENCE["Pow"])
            return f"(1.0/{b})" if exp == -1 else f"(1.0/{b}**{-int(exp)})"
        if exp == sympy.S.Half:
            return f"numpy.sqrt({self._print(base)})"
        return super()._print_Pow(expr, rational=rational)

    def _print_erf(self, expr: sympy.erf) -> str:
        return f"scipy.special.erf({self._print(expr.args[0])})"

    def _print_erfc(self, expr: sympy.erfc) -> str:
        return f"scipy.special.erfc({self._print(expr.args[0])})"

    def _print_ncdf(self, expr: ncdf) -> str:
        return f"scipy.special.ndtr({self._print(expr.args[0])})"

    def _print_undefined(self, expr: undefined) -> str:
        test = " | ".join(f"numpy.isnan({self._print(a)})" for a in expr.args)
        return f"numpy.where({test}, numpy.nan, 0.0)"

    def _print_floor(self, expr: Any) -> str:
        return f"numpy.floor({self._print(expr.args[0])})"

    def _print_ceiling(self, expr: Any) -> str:
        return f"numpy.ceil({self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr: Any) -> str:
        return "True"

    def _print_BooleanFalse(self, expr: Any) -> str:
        return "False"


class PythonCode(_Named, PythonCodePrinter):
    """Plain-Python printer over floats (math module); if() stays lazy. `prefix` makes the names it binds
    (min/max operands) unique within the generated function."""

    def __init__(self, names: dict[str, str], prefix: str = "_b"):
        super().__init__({"fully_qualified_modules": True, "inline": True})
        self.names = names
        self.prefix = prefix
        self.bound = 0

    def _extreme(self, args: tuple[Any, ...], less: str) -> str:
        """min (less "<") or max (">") of two or more values, undefined if one is: Python's own min and max
        drop a NaN or keep it depending on the order of the arguments. Each argument is computed once (a
        name bound where it is computed), and an if() branch that is not taken is still never computed."""
        out = self._print(args[0])
        for a in args[1:]:
            self.bound += 1
            x, y = f"{self.prefix}x{self.bound}", f"{self.prefix}y{self.bound}"
            out = f"({x} if ({x} := {out}) {less}= ({y} := {self._print(a)}) else {y} if {y} {less} {x} else math.nan)"
        return out

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._extreme(expr.args, "<")

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._extreme(expr.args, ">")

    def _print_undefined(self, expr: undefined) -> str:
        test = " and ".join(f"{x} == {x}" for x in map(self._print, expr.args))
        return f"(0.0 if {test} else math.nan)"

    def _print_floor(self, expr: Any) -> str:
        return f"semantics.floor({self._print(expr.args[0])})"

    def _print_ceiling(self, expr: Any) -> str:
        return f"semantics.ceiling({self._print(expr.args[0])})"

    def _print_Infinity(self, expr: Any) -> str:
        return "math.inf"

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        if exp == sympy.S.Half:
            return f"math.sqrt({self._print(base)})"
        if not exp.is_Integer:  # math.pow raises on a negative base instead of returning a complex number
            return f"math.pow({self._print(base)}, {self._print(exp)})"
        return super()._print_Pow(expr, rational=rational)

    def _print_NegativeInfinity(self, expr: Any) -> str:
        return "(-math.inf)"

    def _print_ncdf(self, expr: ncdf) -> str:
        return self._print(expr.rewrite(sympy.erfc))

    def _print_BooleanTrue(self, expr: Any) -> str:
        return "True"

    def _print_BooleanFalse(self, expr: Any) -> str:
        return "False"


def with_shared_subexpressions(expr: sympy.Basic, prefix: str) -> tuple[list[tuple[str, sympy.Basic]], sympy.Basic]:
    """sympy's common-subexpression pass on one step; temporaries are named `<prefix><k>`."""
    symbols: Iterator[sympy.Symbol] = sympy.numbered_symbols(prefix, real=True)
    replacements, reduced = sympy.cse([expr], symbols=symbols)
    return [(s.name, e) for s, e in replacements], reduced[0]


def needs_scipy(expr: sympy.Basic) -> bool:
    """Whether the numpy kernel of expr calls scipy.special (erf, erfc, ndtr)."""
    return expr.has(sympy.erf, sympy.erfc, ncdf)


def number_code(x: float) -> str:
    """A float literal that Python can read back (inf is not a literal)."""
    return repr(x) if x == x and abs(x) != float("inf") else ("math.inf" if x > 0 else "-math.inf")
