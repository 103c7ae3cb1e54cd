"""Units: a small algebra of unit symbols, parsed by our own whitelist parser
(Python's `ast`, then sympy constructors), and the rules the formula parser
applies: addition, comparison, min/max and both branches of if() need equal
units; products and powers combine them; exp/log/erf/ncdf need a plain
number; aggregating across rows an amount in each row's own coin is an error.

`ratio` and `1` are both dimensionless (3 means 300%); `percent` is a unit of
its own, so a ratio and a percentage never mix silently."""

from __future__ import annotations

import ast
import warnings
from decimal import Decimal
from typing import TypeAlias

import sympy

SYMBOLS = ("USD", "coin", "settle", "base", "quote", "face", "contract", "hour", "year", "percent")
"""In order of preference: when an identity makes two symbols equal, the earlier one is kept."""
ROW_RELATIVE = ("coin", "settle", "base", "quote", "face")
"""Symbols that mean a different currency on each row: a sum across rows must not keep them."""

_SYM = {name: sympy.Symbol(name, positive=True) for name in SYMBOLS}
ONE = sympy.Integer(1)
Unit: TypeAlias = sympy.Expr


class UnitSyntaxError(ValueError):
    pass


def parse_unit(text: str) -> Unit:
    """`USD/coin`, `face/contract`, `1/year^0.5`, `ratio`, `1` -> a sympy product of unit symbols."""
    try:
        with warnings.catch_warnings():  # `1/year^0.5and` is a warning to Python, a syntax error here
            warnings.simplefilter("error", SyntaxWarning)
            tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise UnitSyntaxError(f"cannot read unit {text!r}") from None

    def build(node: ast.AST) -> Unit:
        if isinstance(node, ast.Name):
            if node.id == "ratio":
                return ONE
            if node.id not in _SYM:
                raise UnitSyntaxError(f"unknown unit {node.id!r} in {text!r} (units: ratio, 1, {', '.join(SYMBOLS)})")
            return _SYM[node.id]
        if isinstance(node, ast.Constant) and node.value == 1 and not isinstance(node.value, bool):
            return ONE
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            left, right = build(node.left), build(node.right)
            return left * right if isinstance(node.op, ast.Mult) else left / right
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exp = node.right
            sign = -1 if isinstance(exp, ast.UnaryOp) and isinstance(exp.op, ast.USub) else 1
            lit = exp.operand if isinstance(exp, ast.UnaryOp) else exp
            if isinstance(lit, ast.Constant) and isinstance(lit.value, (int, float)) and not isinstance(lit.value, bool) and abs(lit.value) <= 4:
                num, den = Decimal(repr(lit.value)).as_integer_ratio()
                return build(node.left) ** (sign * sympy.Rational(num, den))
        raise UnitSyntaxError(f"cannot read unit {text!r}: write symbols with *, / and ^ (e.g. USD/coin)")

    return build(tree.body)


def canon(unit: Unit, subs: dict[sympy.Symbol, sympy.Symbol]) -> Unit:
    """The unit with the symbols made equal by the active identities replaced (to a fixed point)."""
    if not subs:
        return unit
    for _ in range(len(subs) + 1):
        replaced = unit.xreplace(subs)
        if replaced == unit:
            break
        unit = replaced
    return sympy.powsimp(unit, force=True)


def show(unit: Unit | None) -> str:
    """A unit as a person writes it: USD/coin, 1 (a plain number)."""
    if unit is None:
        return "any unit"
    if unit == ONE:
        return "1 (a plain number)"
    num, den = sympy.fraction(sympy.powsimp(unit, force=True))

    def factor(f: sympy.Expr) -> str:
        base, exp = f.as_base_exp()
        if exp == 1:
            return str(base)
        shown = str(float(exp)) if exp.q in (2, 4, 5, 8, 10) else str(exp)
        return f"{base}^{shown if '/' not in shown else '(' + shown + ')'}"

    text = lambda e: "*".join(factor(f) for f in sympy.Mul.make_args(e))
    return text(num) if den == 1 else f"{text(num)}/{text(den) if len(sympy.Mul.make_args(den)) == 1 else '(' + text(den) + ')'}"


def row_relative(unit: Unit | None) -> list[str]:
    """The row-relative symbols a unit still contains."""
    if unit is None:
        return []
    return sorted(s.name for s in unit.free_symbols if s.name in ROW_RELATIVE)


class UnitMismatch(ValueError):
    """Raised by the checks below; the formula parser adds the location."""


def same(a: Unit | None, b: Unit | None, subs: dict[sympy.Symbol, sympy.Symbol], what: str) -> Unit | None:
    """The common unit of two values that are added or compared (None: a literal 0 or inf fits any unit)."""
    if a is None or b is None:
        return b if a is None else a
    if canon(a, subs) != canon(b, subs):
        raise UnitMismatch(f"{what} values in {show(canon(a, subs))} and in {show(canon(b, subs))}")
    return canon(a, subs)


def times(a: Unit | None, b: Unit | None) -> Unit:
    return (ONE if a is None else a) * (ONE if b is None else b)


def plain(a: Unit | None, subs: dict[sympy.Symbol, sympy.Symbol], what: str) -> None:
    """exp, log, erf and ncdf take plain numbers."""
    if a is not None and canon(a, subs) != ONE:
        raise UnitMismatch(f"{what} takes a plain number, not a value in {show(canon(a, subs))}")


def through_ref(unit: Unit | None, as_unit: str | None, inward: bool) -> Unit | None:
    """A value's unit read through a reference (inward=False: target row -> this row, `coin` becomes
    as_unit) or aggregated along it (inward=True: as_unit becomes the target row's `coin`)."""
    if unit is None or as_unit is None:
        return unit
    here, there = _SYM[as_unit], _SYM["coin"]
    return unit.xreplace({here: there} if inward else {there: here})


def identity_pairs(lines: tuple[str, ...]) -> dict[sympy.Symbol, sympy.Symbol]:
    """`["settle = quote"]` -> {quote: settle}: of two equal symbols, the one later in SYMBOLS is
    rewritten as the earlier one, whichever side it is written on."""
    out = {}
    for line in lines:
        left, _, right = (p.strip() for p in line.partition("="))
        if left not in _SYM or right not in _SYM or left == right:
            raise UnitSyntaxError(f"unit identity {line!r}: two different unit symbols ({', '.join(SYMBOLS)})")
        keep, drop = sorted((left, right), key=SYMBOLS.index)
        out[_SYM[drop]] = _SYM[keep]
    return out
