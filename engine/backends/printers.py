"""sympy code printers for the two generated kernels: vectorised numpy and
plain Python. They print plan variables under the names the generator
chooses, and keep the numeric meaning identical between the two."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from ..language.normal import ncdf


class _Named:
    names: dict[str, str]

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return self.names.get(expr.name, expr.name)


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

    def _nested(self, fn: str, args: tuple[Any, ...]) -> str:
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

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

    def _print_BooleanTrue(self, expr: Any) -> str:
        return "True"

    def _print_BooleanFalse(self, expr: Any) -> str:
        return "False"


class PythonCode(_Named, PythonCodePrinter):
    """Plain-Python printer over floats (math module); if() stays lazy."""

    def __init__(self, names: dict[str, str]):
        super().__init__({"fully_qualified_modules": True, "inline": True})
        self.names = names

    def _print_Min(self, expr: sympy.Min) -> str:
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_Max(self, expr: sympy.Max) -> str:
        return f"max({', '.join(self._print(a) for a in expr.args)})"

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
