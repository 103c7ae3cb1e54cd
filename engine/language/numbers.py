"""Numbers as rule files write them: a YAML number is the decimal it was
written as, so 0.1 is exactly 1/10 on the exact path, not the nearest double."""

from __future__ import annotations

import math
from decimal import Decimal

import sympy


def rational_of(value: float) -> sympy.Expr:
    """The decimal a number was written as, as an exact sympy rational (inf stays inf)."""
    if not math.isfinite(value):
        return sympy.oo if value > 0 else -sympy.oo
    num, den = Decimal(repr(float(value))).as_integer_ratio()
    return sympy.Rational(num, den)
