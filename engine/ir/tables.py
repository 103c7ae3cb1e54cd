"""Tables as the plan holds them: tier tables checked (contiguous tiers, a
bounded or open last tier, derived deduction columns consistent with their
rates) and laid out as arrays, and keyed parameters as one-tier tables read
by key."""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy

from ..errors import Location, RuleFileError
from ..language.numbers import rational_of
from ..source import model
from .plan import TierTable

Locate = Callable[..., Location]


def tier_table(name: str, t: model.Table, loc: Locate) -> TierTable:
    """The plan's form of a rule set's table; located RuleFileErrors for tiers that do not fit together."""
    part = "values" if t.keyed else "tiers"
    derived = {c: col.deduction_of for c, col in t.columns.items() if col.deduction_of}
    for c, rate in derived.items():
        if rate not in t.columns or rate in derived:
            raise RuleFileError(f"tables.{name}.columns.{c}: deduction_of {rate!r} must be a rate column of the table", loc("columns", c, "deduction_of"))
    lower: list[tuple[float, ...]] = []
    upper: list[tuple[float, ...]] = []
    cols: dict[str, list[tuple[float, ...]]] = {c: [] for c in t.columns}
    rationals: dict[str, list[tuple[sympy.Expr, ...]]] = {c: [] for c in t.columns}
    for key, rows in t.tiers.items():
        for i, row in enumerate(rows):
            where = (part, key) if t.keyed else (part, key, i)
            missing = [c for c in t.columns if c not in row and c not in derived]
            extra = [c for c in row if c not in t.columns and c not in ("lower", "upper")]
            if missing or extra:
                what = f"lacks {missing}" if missing else f"has undeclared columns {extra}"
                raise RuleFileError(f"tables.{name}: {'key' if t.keyed else 'tier'} {key}{'' if t.keyed else f'[{i}]'} {what}", loc(*where))
            if i and row["lower"] != rows[i - 1]["upper"]:
                raise RuleFileError(f"tables.{name}: tier {key}[{i}] starts at {row['lower']} but the tier before ends at {rows[i - 1]['upper']}",
                                    loc(*where, "lower"))
            if row["upper"] is None and i < len(rows) - 1:
                raise RuleFileError(f"tables.{name}: tier {key}[{i}] has no upper bound, but tiers follow it (only the last tier may be open)",
                                    loc(*where, "upper"))
            if row["upper"] is not None and row["upper"] <= (row["lower"] or 0):
                raise RuleFileError(f"tables.{name}: tier {key}[{i}] needs upper > lower ({row['upper']} is not above {row['lower']})",
                                    loc(*where, "upper"))
        lows = tuple(float(r["lower"] or 0) for r in rows)
        highs = [math.inf if r["upper"] is None else float(r["upper"]) for r in rows]
        if t.beyond == "last":  # the table says its last tier goes on
            highs[-1] = math.inf
        lower.append(lows)
        upper.append(tuple(highs))
        exact: dict[str, list[sympy.Expr | None]] = {c: [_rational(r.get(c)) for r in rows] for c in t.columns}
        for c, rate in derived.items():
            _deductions(name, key, rows, exact, c, rate, t.keyed, loc)
        for c in t.columns:
            filled = [v for v in exact[c] if v is not None]  # every value a row left out is derived by now
            cols[c].append(tuple(float(v) for v in filled))
            rationals[c].append(tuple(filled))
    return TierTable(name, tuple(t.tiers), t.interval, tuple(lower), tuple(upper),
                     {c: tuple(v) for c, v in cols.items()}, rationals={c: tuple(v) for c, v in rationals.items()})


def _deductions(name: str, key: str, rows: tuple[dict[str, float | None], ...], exact: dict[str, list[sympy.Expr | None]],
                column: str, rate: str, keyed: bool, loc: Locate) -> None:
    """A deduction column must make x * rate - deduction equal the progressive sum of the tiers in every tier:
    deduction_k = rate_k * lower_k - sum over j < k of rate_j * (upper_j - lower_j). Filled in where left out,
    a located error where it disagrees (a table whose tiers were replaced but not its deductions)."""
    below = sympy.S.Zero
    for i, row in enumerate(rows):
        lo = rational_of(row["lower"] or 0)
        expected = exact[rate][i] * lo - below
        given = exact[column][i]
        if given is None:
            exact[column][i] = expected
        elif given != expected:
            raise RuleFileError(f"tables.{name}: tier {key}[{i}] {column} is {float(given):g}, but its tiers give {float(expected):g} "
                                f"({rate} x lower - the {rate} of the tiers below; {column} is declared deduction_of {rate})",
                                loc("values" if keyed else "tiers", key, i, column))
        if row["upper"] is not None:
            below += exact[rate][i] * (rational_of(row["upper"]) - lo)


def _rational(value: float | None) -> sympy.Expr | None:
    return None if value is None else rational_of(value)


def keyed_parameter_table(name: str, p: model.Parameter) -> TierTable:
    """A keyed parameter as a one-tier table with one column, `value`, read at 0 by key."""
    keys = tuple(p.values or {})
    values = [float((p.values or {})[k]) for k in keys]
    return TierTable(name, keys, "lower_open", tuple((0.0,) for _ in keys), tuple((math.inf,) for _ in keys),
                     {"value": tuple((v,) for v in values)}, rationals={"value": tuple((rational_of(v),) for v in values)})
