"""Solve and sensitivity: at which value of an input does a quantity reach a
target (margin ratio 1: the account's liquidation price), and how fast does a
quantity move with an input.

The varied input cells become one sympy symbol on the exact path, so every
quantity is an expression in it. The root is bracketed and found numerically
with the compiled kernel (the ground truth); then the exact path builds the
quantity with every if()/min/max/tier/worst-scenario choice fixed to the
branch it takes at that root, and that expression is solved symbolically. When the algebra works, the answer is the
exact root (checked against the numeric one); otherwise the numeric root is
given. Several cells may be varied together: they move by the same factor,
and the answer is the value of the first one."""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

import sympy

from ..backends.exact import evaluate_exact
from ..errors import EvaluationError, SnapshotError, UsageError
from ..ir.compiler import compile_plan
from ..ir.plan import ACCOUNT
from ..language.numbers import rational_of
from ..run.evaluate import evaluate_snapshot
from ..run.rules import Rules

CELL = re.compile(r"^([a-z][a-z0-9_]*)(?:\[([^\]]+)\])?$")
MAX_SOLVE_OPS = 2000  # larger expressions are solved numerically only
MAX_DEGREE = 4  # polynomials of higher degree have no closed roots in general
COIN = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,31}$")


@dataclass
class Cell:
    name: str
    key: str | None
    row: int
    base: float


@dataclass
class Solution:
    target: str
    value: float
    vary: str
    root: float | None
    closed_form: str | None  # the root as sympy wrote it, when the symbolic step worked
    method: str  # symbolic | numeric | none
    base: float
    note: str = ""


def coin_cells(rules: Rules, data: dict[str, Any], coin: str) -> list[Cell]:
    """Every price of `coin` in the snapshot (the rule file's analysis.prices), its own USD price first: the cells
    a shock of the coin moves by one factor. Prices quoted in the coin would move by the inverse factor: `solve`
    and `plot` refuse them (whatif moves them)."""
    from .shocks import price_cells

    snap = rules.snapshot(data)
    cells = [c for c in price_cells(rules.ruleset, data) if coin in (c.coin, c.quote) and c.coin != c.quote]
    if not cells:
        raise UsageError(f"--vary {coin}: no input of this snapshot is a price of {coin} (see the rule file's analysis.prices)")
    inverse = [f"{c.field}[{c.key}]" for c in cells if c.quote == coin]
    if inverse:
        raise UsageError(f"--vary {coin}: {', '.join(inverse[:3])} are quoted in {coin} and would move the other way; "
                         f"vary one input (--vary {inverse[0]}) or use `marginspec whatif --shock {coin}=...`")
    own = [c for c in cells if rules.ruleset.inputs[c.field].unit == "USD/coin" and c.quote is None]
    out = []
    for c in sorted(cells, key=lambda c: c not in own):
        axis = rules.ruleset.inputs[c.field].axis
        out.append(Cell(c.field, c.key, snap.keys[axis].index(c.key), c.value))
    return out


def parse_cells(rules: Rules, data: dict[str, Any], specs: list[str]) -> list[Cell]:
    """`usd_price[BTC]` -> the cell of input usd_price in the row whose key is BTC (account inputs: no key);
    a coin (`BTC`, upper case) -> every price of the coin (coin_cells)."""
    snap = rules.snapshot(data)
    cells = []
    for spec in specs:
        if COIN.match(spec):
            cells += coin_cells(rules, data, spec)
            continue
        m = CELL.match(spec)
        inp = rules.ruleset.inputs.get(m.group(1)) if m else None
        if m is None or inp is None or inp.type != "number":
            raise UsageError(f"--vary {spec!r}: not a number input of {rules.ruleset.ref} (write name or name[row key], or a coin such as BTC for all its prices)")
        name = m.group(1)
        if inp.axis == ACCOUNT:
            if m.group(2) is not None:
                raise UsageError(f"--vary {spec!r}: {name} is an account input; write it without a row key")
            cells.append(Cell(name, None, 0, float(snap.account[name])))
            continue
        keys = snap.keys[inp.axis]
        if m.group(2) is None:
            raise UsageError(f"--vary {spec!r}: {name} has one value per {inp.axis} row: name the row, e.g. {name}[{keys[0] if keys else 'KEY'}] "
                             f"(rows: {', '.join(keys) or 'none in this snapshot'})")
        if m.group(2) not in keys:
            raise UsageError(f"--vary {spec!r}: no {inp.axis} row {m.group(2)!r} (rows: {', '.join(keys)})")
        row = keys.index(m.group(2))
        cells.append(Cell(name, m.group(2), row, float(snap.rows[inp.axis][row][name])))
    if any(c.base == 0 for c in cells[1:]) or (len(cells) > 1 and cells[0].base == 0):
        raise UsageError("--vary: cells that move together must not start at 0 (they move by a common factor)")
    return cells


def with_value(rules: Rules, data: dict[str, Any], cells: list[Cell], x: float) -> dict[str, Any]:
    """The snapshot with the first cell at x and the others moved by the same factor."""
    out = copy.deepcopy(data)
    factor = x / cells[0].base if cells[0].base else None
    for i, c in enumerate(cells):
        value = x if i == 0 else c.base * factor  # type: ignore[operator]
        inp = rules.ruleset.inputs[c.name]
        if inp.axis == ACCOUNT:
            out.setdefault("account", {})[c.name] = value
        else:
            collection = rules.kernel.plan.row_axes[inp.axis].collection or ""
            axis_key = rules.kernel.plan.row_axes[inp.axis].key
            next(r for r in out[collection] if r[axis_key] == c.key)[c.name] = value
    return out


def quantity_at(rules: Rules, data: dict[str, Any], name: str, key: str | None) -> float:
    snap = rules.snapshot(data)
    values = evaluate_snapshot(rules.kernel, snap).values[name]
    if key is None:
        return float(values)
    return float(values[snap.keys[rules.kernel.plan.outputs[name].shape.rows or ACCOUNT].index(key)])


def expressions(rules: Rules, data: dict[str, Any], cells: list[Cell], targets: list[tuple[str, str | None]],
                point: float) -> tuple[list[sympy.Expr], sympy.Symbol]:
    """The quantities (name, row key or None) as exact expressions of the first varied cell's value, from one
    pass of the exact path, each the expression that holds near `point`: every if()/min/max/tier/worst-scenario
    choice is the branch it takes there."""
    s = sympy.Symbol("x", positive=True)
    snap = rules.snapshot(data)
    symbols = {}
    for i, c in enumerate(cells):
        symbols[(c.name, c.row)] = s if i == 0 else rational_of(c.base) * s / rational_of(cells[0].base)
    values = evaluate_exact(compile_plan(rules.ruleset), snap, symbols, at={s: sympy.Float(point, 30)})
    out = []
    for name, key in targets:
        value = values[name]
        if key is not None:
            value = value[snap.keys[rules.kernel.plan.outputs[name].shape.rows or ACCOUNT].index(key)]
        out.append(value)
    return out, s


def _solve_exactly(expr: sympy.Expr, s: sympy.Symbol, target: float, near: float) -> sympy.Expr | None:
    """The exact root of expr = target closest to `near`, where the algebra is bounded: expr - target, put over
    one denominator, has a polynomial numerator in s of degree 1 to 4 (closed forms exist, and sympy finds
    them at once). Otherwise None, and the root stays numeric. The work is bounded by the expression's form,
    not by a timer: a timer needs signals, which only a POSIX process's main thread has."""
    difference = expr - rational_of(target)
    if sympy.count_ops(difference) > MAX_SOLVE_OPS:
        return None
    numerator, _ = sympy.fraction(sympy.together(difference))
    try:
        poly = sympy.Poly(numerator, s)
    except (sympy.PolynomialError, sympy.GeneratorsNeeded):
        return None
    if not 1 <= poly.degree() <= MAX_DEGREE or not all(c.is_number for c in poly.all_coeffs()):
        return None
    real = [r for r in sympy.roots(poly, s) if abs(complex(sympy.N(r, 30)).imag) < 1e-12]
    if not real:
        return None
    return min(real, key=lambda r: abs(float(sympy.re(sympy.N(r, 30))) - near))


SCAN_STEPS = 400


def scan_limits(base: float) -> tuple[float, float]:
    """The two ends of the values `bracket` tries around `base`."""
    start = base if base != 0 else 1.0
    return (start * 1.05 ** -(SCAN_STEPS - 1), start * 1.05 ** (SCAN_STEPS - 1)) if base != 0 else (-(1.05 ** (SCAN_STEPS - 1)), 1.05 ** (SCAN_STEPS - 1))


def bracket(f: Any, base: float, steps: int = SCAN_STEPS) -> tuple[float, float] | None:
    """Two values around the root of f nearest to base, scanning outward geometrically by 5% a step (and
    through 0), `steps` steps each way."""
    f0 = f(base)
    if f0 == 0:
        return base, base
    start = base if base != 0 else 1.0
    for step in range(1, steps):
        for sign in (1, -1):
            x = start * (1.05 ** (sign * step)) if base != 0 else sign * 1.05 ** step
            fx = f(x)
            if fx is not None and (fx == 0 or (fx > 0) != (f0 > 0)):
                lo, hi = sorted((base, x))
                return lo, hi
    return None


def bisect(f: Any, lo: float, hi: float) -> float:
    """The root of f between lo and hi (where f changes sign), by bisection on the compiled kernel to 1e-13."""
    flo = f(lo)
    for _ in range(200):
        if hi - lo <= 1e-13 * max(abs(lo), abs(hi), 1e-300):
            break
        mid = (lo + hi) / 2
        fm = f(mid)
        if fm is None or fm == 0:
            return mid
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2


def solve(rules: Rules, data: dict[str, Any], target: str, value: float, specs: list[str]) -> Solution:
    name, _, key_text = target.partition("[")
    key = key_text.rstrip("]") or None
    if name not in rules.kernel.plan.outputs:
        raise UsageError(f"--target {target!r}: not a quantity of {rules.ruleset.ref}")
    cells = parse_cells(rules, data, specs)
    label = f"{cells[0].name}[{cells[0].key}]" if cells[0].key else cells[0].name
    if len(cells) > 1:
        label += f" (with {len(cells) - 1} more input(s) moving by the same factor)"

    def f(x: float) -> float | None:
        try:
            return quantity_at(rules, with_value(rules, data, cells, x), name, key) - value
        except (EvaluationError, SnapshotError):  # undefined there, or outside the input's declared range
            return None

    # undefined for the snapshot as given: that evaluation error (quantity, row, formula's place), not a search
    quantity_at(rules, with_value(rules, data, cells, cells[0].base), name, key)
    found = bracket(f, cells[0].base)
    if found is None:
        low, high = sorted(scan_limits(cells[0].base))
        return Solution(target, value, label, None, None, "none", cells[0].base, f"tried from {low:.3g} to {high:.3g}")
    root = bisect(f, *found)
    (expr,), s = expressions(rules, data, cells, [(name, key)], root)
    closed = _solve_exactly(expr, s, value, root)
    if closed is not None:
        x = float(sympy.re(sympy.N(closed, 30)))
        if math.isclose(x, root, rel_tol=1e-6, abs_tol=1e-12):
            return Solution(target, value, label, x, str(closed), "symbolic", cells[0].base)
    return Solution(target, value, label, root, None, "numeric", cells[0].base, "no closed form: the root is numeric (bisection on the compiled kernel)")


def threshold_levels(rules: Rules) -> dict[str, tuple[str, float]]:
    """{threshold: (quantity, level)} for the thresholds that compare one quantity with a constant (parameters
    are constants once compiled): `margin_ratio <= liquidation_level` gives ("margin_ratio", 1.0)."""
    rs = rules.ruleset
    out = {}
    for step in compile_plan(rs).steps:
        expr = getattr(step, "expr", None)
        if step.out.name not in rs.thresholds or not isinstance(expr, sympy.core.relational.Relational):
            continue
        for side, other in ((expr.lhs, expr.rhs), (expr.rhs, expr.lhs)):
            if isinstance(side, sympy.Symbol) and side.name in rs.quantities and other.is_Number:
                out[step.out.name] = (side.name, float(other))
    return out


def default_target(rules: Rules) -> tuple[str, float, str]:
    """(quantity, value, threshold) that `solve` aims at without --target: the level at which the rule set's
    most severe account threshold triggers, when that threshold compares one quantity with a constant
    (`margin_ratio <= liquidation_level`: margin_ratio = 1). Otherwise a UsageError that says what to give."""
    rs = rules.ruleset
    account = sorted(((t.severity, n) for n, t in rs.thresholds.items() if t.axis == ACCOUNT), reverse=True)
    if not account:
        raise UsageError(f"--target: {rs.ref} has no account threshold to aim at; give --target NAME=VALUE")
    name = account[0][1]
    levels = threshold_levels(rules)
    if name in levels and rs.quantities[levels[name][0]].axis == ACCOUNT:
        return levels[name][0], levels[name][1], name
    hints = [f"'{q}[KEY]={v:g}' ({t} on {rs.thresholds[t].axis})" if rs.quantities[q].axis != ACCOUNT else f"'{q}={v:g}' ({t})"
             for t, (q, v) in sorted(levels.items(), key=lambda kv: -rs.thresholds[kv[0]].severity)]
    raise UsageError(f"--target: the most severe account threshold, {name} (when {rs.thresholds[name].when}), does not compare one "
                     "account quantity with a constant; give --target NAME=VALUE" + (f", e.g. {hints[0]}" if hints else ""))


def sensitivity(rules: Rules, data: dict[str, Any], names: list[str], specs: list[str]) -> dict[str, float]:
    """d(quantity)/d(first varied cell) at the snapshot's own values, from the exact expressions."""
    cells = parse_cells(rules, data, specs)
    targets = [(name, key.rstrip("]") or None) for name, _, key in (t.partition("[") for t in names)]
    exprs, s = expressions(rules, data, cells, targets, cells[0].base)
    out = {}
    for target, expr in zip(names, exprs):
        out[target] = float(sympy.N(sympy.diff(expr, s).xreplace({s: rational_of(cells[0].base)}), 30))
    return out
