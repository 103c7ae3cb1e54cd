"""What a plan means, said once.

Every backend (the numpy batch kernel, the plain-Python kernel, the exact
sympy path, the canonical form diff compares) is a StepVisitor: one method
per kind of step, checked when the backend's class is defined, so a new
kind of step cannot be forgotten by one of them. The scalar functions below
are the definition of each step's corner cases; the plain-Python kernel and
the exact path call them, and the numpy runtime's vectorised forms are
tested against them (tests/test_semantics.py).

The meaning, for every backend:

- Numbers are IEEE-754 doubles. x/0 is +inf or -inf by the sign of x. A value
  that is NaN (0/0, inf - inf, 0 * inf, sqrt of a negative number) is
  *undefined*; an output that is undefined anywhere is an EvaluationError
  naming the quantity, the row and the formula's file:line:column.
- Undefined spreads: through arithmetic, min/max and abs; through a
  comparison (its result is undefined, never false); through and/or/not; through
  if(c, a, b) when c is undefined (an undefined branch that is not taken is
  no error); through a tier read at an undefined x; through an aggregation
  whose selected rows, or whose where= condition on any row, are undefined.
  The compiler makes a comparison's undefinedness explicit in the plan (the
  `undefined` function below, 0 or NaN), so every backend computes it alike.
- Aggregations: the rows of `index` that point to a target row and whose mask
  holds are its members (a row whose optional reference points nowhere,
  index -1, is no member). sum over no members is 0, count is 0, min is
  +inf, max is -inf; with default= (sum, min, max) the default instead.
- take= (over a grid): the value of `take` at the first grid point (lowest
  index) among the selected ones where the reduced value is smallest (min)
  or largest (max); ties go to the first. No selected point: the default,
  else undefined.
- Tier reads: lower_open tiers hold lower < x <= upper, upper_open tiers
  lower <= x < upper; x below the first tier reads the first tier. A key the
  table does not list reads the "*" row, else the read's default=, else it
  is a snapshot error. progressive(x) is the sum over tiers of the rate
  times the part of x inside the tier (0 at or below the first lower bound).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ..ir.plan import STEP_KINDS, Aggregate, Elementwise, Gather, Lookup, Step

R = TypeVar("R")

EMPTY = {"sum": 0.0, "count": 0.0, "min": math.inf, "max": -math.inf}
"""The value of an aggregation over no members (without default=)."""


class Undefined(ArithmeticError):
    """Raised by the plain-Python kernel where a value is undefined (NaN): the numpy kernel then computes
    the snapshot and reports the quantity, row and formula (README, 'Numbers')."""


class BeyondTable(Undefined):
    """A tier read above the last tier of a table whose last tier is bounded (and which does not say what
    applies beyond): an error naming the table, the key, the value and where the tiers end. The kernels fill
    in what they know: the numpy one the table, key and row, the plain-Python one stops for numpy to say it."""

    def __init__(self, value: float, limit: float, table: str = "", key: str = "", axis: str = "", row: int = -1):
        super().__init__(f"{value!r} is beyond the last tier of table {table!r}")
        self.value, self.limit, self.table, self.key, self.axis, self.row = value, limit, table, key, axis, row


class StepVisitor(Generic[R]):
    """A backend: one method per kind of step. A subclass that lacks one fails when it is defined."""

    METHODS: ClassVar[dict[type, str]] = {Elementwise: "elementwise", Gather: "gather", Aggregate: "aggregate", Lookup: "lookup"}
    abstract: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        cls.abstract = False
        missing = [m for m in cls.METHODS.values() if getattr(cls, m, None) is getattr(StepVisitor, m, None)]
        if missing or set(cls.METHODS) != set(STEP_KINDS):
            raise TypeError(f"backend {cls.__name__} does not say what {', '.join(missing) or 'every step'} means")

    def visit(self, step: Step) -> R:
        method: Callable[[Step], R] = getattr(self, self.METHODS[type(step)])
        return method(step)

    def elementwise(self, step: Elementwise) -> R:
        raise NotImplementedError

    def gather(self, step: Gather) -> R:
        raise NotImplementedError

    def aggregate(self, step: Aggregate) -> R:
        raise NotImplementedError

    def lookup(self, step: Lookup) -> R:
        raise NotImplementedError


# ---------- the scalar definitions (plain floats; the exact path passes its own numbers through `key`)


def empty_value(op: str, default: float | None) -> float:
    """An aggregation over no members."""
    return default if default is not None and op != "count" else EMPTY[op]


def extreme(op: str, values: Sequence[float], default: float | None) -> float:
    """min or max over members; undefined if any member is; empty_value for none."""
    if not values:
        return empty_value(op, default)
    for v in values:
        if v != v:
            raise Undefined(f"{op} of an undefined value")
    return min(values) if op == "min" else max(values)


def first_extreme(op: str, values: Sequence[Any], selected: Sequence[bool], key: Any = float) -> int | None:
    """The first selected position where `values` is smallest (min) or largest (max); None when no position
    is selected; Undefined when a selected value is. `key` turns a value into a comparable number."""
    best: int | None = None
    best_value = 0.0
    for s, (v, chosen) in enumerate(zip(values, selected)):
        if not chosen:
            continue
        x = key(v)
        if x != x:
            raise Undefined("the extreme of an undefined value")
        if best is None or (x < best_value if op == "min" else x > best_value):
            best, best_value = s, x
    return best


def beyond(limit: float, x: float, lower_open: bool) -> bool:
    """Whether x lies above a table's last tier, which ends at `limit` (inf for an open last tier)."""
    return limit != math.inf and (x > limit if lower_open else x >= limit)


def tier_position(lowers: Sequence[float], x: float, lower_open: bool, limit: float = math.inf) -> int:
    """The tier containing x: the last tier whose lower bound is below x (lower_open) or at most x
    (upper_open); the first tier for x below every bound; BeyondTable above a bounded last tier (`limit`).
    (A binary search written out, not bisect, so that numba compiles this very definition for the fused kernel.)"""
    if x != x:
        raise Undefined("a tier read at an undefined value")
    if beyond(limit, x, lower_open):
        raise BeyondTable(x, limit)
    below, above = 0, len(lowers)  # the bounds below x (or at most x) are lowers[:below]
    while below < above:
        middle = (below + above) // 2
        if lowers[middle] < x or (not lower_open and lowers[middle] == x):
            below = middle + 1
        else:
            above = middle
    return max(below - 1, 0)


def progressive(lowers: Sequence[float], uppers: Sequence[float], rates: Sequence[float], x: float, lower_open: bool,
                limit: float) -> float:
    """Sum over tiers of rate x (the part of x inside the tier); BeyondTable above a bounded last tier, which
    ends at `limit` (inf when open). Plain loops: numba compiles it too."""
    if x != x:
        raise Undefined("a tier read at an undefined value")
    if beyond(limit, x, lower_open):
        raise BeyondTable(x, limit)
    total = 0.0
    for lo, hi, rate in zip(lowers, uppers, rates):
        if x <= lo:
            break
        total += rate * (min(x, hi) - lo)
    return total


def undefined(*values: float) -> float:
    """0 when every value is a number, NaN when one is undefined: added to a value whose meaning depends
    on a comparison of these values (see the module docstring)."""
    return math.nan if any(v != v for v in values) else 0.0


def undefined_value() -> float:
    """Stop the plain-Python kernel at an undefined value (see Undefined)."""
    raise Undefined("an undefined value")


def defined(kept: float, other: float) -> float:
    """`kept`, after checking that `other`, which a min/max passed over, is not undefined."""
    if other != other:
        raise Undefined("an extreme of an undefined value")
    return kept


def minimum(x: float, y: float) -> float:
    """min(x, y), undefined if either is (Python's own min keeps or drops a NaN by the order of its arguments;
    the plain-Python printer inlines this test, the fused kernel calls this function compiled)."""
    return x if x <= y else y if y < x else math.nan


def maximum(x: float, y: float) -> float:
    """max(x, y), undefined if either is."""
    return x if x >= y else y if y > x else math.nan


def floor(x: float) -> float:
    """floor as a double, undefined and infinite values kept (math.floor raises on both)."""
    return x if x != x or math.isinf(x) else float(math.floor(x))


def ceiling(x: float) -> float:
    return x if x != x or math.isinf(x) else float(math.ceil(x))
