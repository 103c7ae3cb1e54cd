"""Computed fields of a payload mapping: formulas over one row's values.

A mapping's formula (`eqUsd / eq`, `pos * side`, `if(eq != 0, eqUsd / eq, 0)`)
is parsed by the rule files' whitelist parser (language/parser.py) through a
lowering of its own: every name is a number of the row (a payload field or a
`let` value), or a choice when the `let` value maps payload text to text, so
it can be compared (`kind == 'option'`). Aggregations, references, tables and
user functions are refused: a formula reads one row. It is evaluated exactly
on the row's decimal numbers (payloads are small) by replacing its symbols
with sympy rationals; nothing is ever passed to eval."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sympy

from ..errors import Location
from ..language.parser import FormulaParser
from ..language.shape import Shape
from ..language.terms import FunctionBinding, Refused, TableBinding, Term

ONE_ROW = "a payload formula reads the values of one row"


class _RowLowering:
    """Names resolve to the row's numbers (or choices); nothing that spans rows exists."""

    def __init__(self, choices: dict[str, tuple[str, ...]]):
        self.choices = choices
        self.names: set[str] = set()

    def resolve(self, name: str) -> Term | TableBinding | FunctionBinding | None:
        self.names.add(name)
        if name in self.choices:
            return Term("enum", Shape(None), sympy.Symbol(name), codes=self.choices[name])
        return Term("number", Shape(None), sympy.Symbol(name))

    def known_names(self) -> list[str]:
        return sorted(self.choices)

    def grid_axes(self) -> set[str]:
        return set()

    def is_group(self, axis: str) -> bool:
        return False

    def aggregate(self, *args: Any, **kwargs: Any) -> Term:
        raise Refused(f"aggregations are not available: {ONE_ROW}")

    def gather(self, source: Term, ref: Term) -> Term:
        raise Refused(f"references are not available: {ONE_ROW}")

    def lookup(self, *args: Any, **kwargs: Any) -> Term:
        raise Refused(f"tier tables are not available: {ONE_ROW}")


class _RowParser(FormulaParser):
    """The whitelist parser with everything that reads more than one row refused up front."""

    def _aggregate(self, node: ast.Call, name: str) -> Term:
        raise self.fail(node, f"{name}() over rows is not available: {ONE_ROW} (use min(a, b) or max(a, b) of values)")

    def _lookup(self, node: ast.Call, name: str) -> Term:
        raise self.fail(node, f"{name}() is not available: {ONE_ROW}; tier tables are read by the rule set")

    def visit_Subscript(self, node: ast.Subscript) -> Term:
        raise self.fail(node, f"x[ref] is not available: {ONE_ROW}")


class FormulaProblem(Exception):
    """A formula has no value for this row (division by zero, a missing or non-numeric operand)."""


@dataclass(frozen=True)
class RowFormula:
    """A parsed payload formula: its sympy form, the names it reads, and whether it is a condition."""

    text: str
    expr: Any
    names: tuple[str, ...]
    condition: bool
    choices: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, text: str, where: Location, choices: dict[str, tuple[str, ...]], condition: bool = False) -> RowFormula:
        """Parse `text`; raises a located RuleFileError for anything the language does not allow."""
        low = _RowLowering(choices)
        term = _RowParser(low, where).parse(text)
        want = "bool" if condition else "number"
        if term.kind != want:
            from ..errors import RuleFileError

            what = "a condition (a comparison)" if condition else "a number"
            raise RuleFileError(f"this formula must give {what}", where, text)
        names = tuple(sorted(str(s) for s in term.expr.free_symbols))
        return cls(text, term.expr, names, condition, choices)

    def evaluate(self, values: dict[str, Decimal | str]) -> float | bool:
        """The formula's value on one row: numbers as exact decimals, choices as their text."""
        subs: dict[Any, Any] = {}
        for name in self.names:
            v = values[name]
            if name in self.choices:
                subs[sympy.Symbol(name)] = sympy.Integer(self.choices[name].index(str(v)))
            else:
                num, den = Decimal(v).as_integer_ratio()
                subs[sympy.Symbol(name)] = sympy.Rational(num, den)
        out = self.expr.xreplace(subs)
        if self.condition:
            if out in (sympy.true, sympy.false):
                return bool(out == sympy.true)
            raise FormulaProblem(f"{self.text} is neither true nor false here")
        if out.free_symbols or out.has(sympy.zoo, sympy.nan):
            raise FormulaProblem(f"{self.text} has no value here (a division by zero?)")
        value = out.evalf(30)
        if not value.is_real or not value.is_finite:
            raise FormulaProblem(f"{self.text} has no finite real value here")
        return float(value)
