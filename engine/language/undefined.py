"""The undefinedness of a comparison, made explicit in formulas.

IEEE comparisons with NaN are false, so `total_equity / mmr <= 1` with both
zero would read as "not triggered". The parser pairs every condition that
compares values which may be undefined with `undefined(a, b)`: 0 when a and b
are numbers, NaN when one is not. Added to a value chosen by the condition
(an if() branch, a member of an aggregation), it makes that value undefined
exactly when the choice is; every backend prints or evaluates it the same way
(see backends/semantics.py)."""

from __future__ import annotations

from typing import Any

import sympy


class undefined(sympy.Function):  # noqa: N801 - named as the formula language's functions are (ncdf, erf)
    """0 if every argument is a number, NaN if one is NaN."""

    @classmethod
    def eval(cls, *args: Any) -> Any:  # sympy's evaluation hook for a Function (its required name), not Python's eval
        if any(a is sympy.nan for a in args):
            return sympy.nan
        if all(a.is_number for a in args):
            return sympy.S.Zero
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        return sympy.S.Zero

    def _eval_is_extended_real(self) -> bool:
        return True

    def _eval_is_zero(self) -> bool | None:
        return None


def undefined_of(*exprs: Any) -> Any:
    """The undefinedness of values given as sympy expressions (0 for none that can be undefined)."""
    return undefined(*exprs) if exprs else sympy.S.Zero


def combine(*parts: Any) -> Any:
    """The undefinedness of a condition built from parts (None: cannot be undefined)."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return sympy.Add(*present)
