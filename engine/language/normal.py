"""Φ, the standard normal distribution function, as one sympy function.

Written out as erfc(-x/√2)/2, sympy turns it into 1 - erfc(x/√2)/2 (it takes
the sign out of erfc's argument), which loses the left tail in floats: Φ(-10)
= 7.6e-24 becomes 1 - 1 = 0. Kept whole, it prints as scipy's ndtr in the numpy
kernel (one call, not four array operations) and as erfc(-x/√2)/2 in Python,
evaluates exactly through erfc, and differentiates to the normal density."""

from __future__ import annotations

from typing import Any

import sympy


class ncdf(sympy.Function):  # noqa: N801 - named as the formula language and sympy's own functions (erf, exp)
    """Φ(x) = erfc(-x/√2) / 2."""

    nargs = 1  # no automatic evaluation: numbers are evaluated by evalf, to any precision

    def fdiff(self, argindex: int = 1) -> Any:
        x = self.args[0]
        return sympy.exp(-x**2 / 2) / sympy.sqrt(2 * sympy.pi)

    def _eval_rewrite_as_erfc(self, x: Any, **kwargs: Any) -> Any:
        return sympy.erfc(-x / sympy.sqrt(2), evaluate=False) / 2

    def _eval_evalf(self, prec: int) -> Any:
        # erfc left unevaluated: sympy would turn erfc(-y) into 2 - erfc(y), and mpmath's erfc(-y) has no cancellation
        value = sympy.erfc(-self.args[0] / sympy.sqrt(2), evaluate=False)._eval_evalf(prec)
        return None if value is None else value / 2

    def _eval_is_extended_real(self) -> bool | None:
        return self.args[0].is_extended_real

    def _eval_is_finite(self) -> bool | None:
        return True if self.args[0].is_extended_real else None  # between 0 and 1

    def _eval_is_positive(self) -> bool | None:
        return True if self.args[0].is_extended_real and self.args[0].is_finite else None
