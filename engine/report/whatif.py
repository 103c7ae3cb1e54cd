"""`marginspec whatif` as text: what moved, the key values and states before
and after, and the distance of each threshold from both states."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..ir.plan import ACCOUNT
from ..source.ruleset import RuleSet
from .amounts import COIN_SYMBOLS, amount, row_coin_field, table, unit_label, usd_prices
from .text import printable, warning_lines

if TYPE_CHECKING:
    from ..run.snapshot import Snapshot
    from ..tools.whatif import Change, Crossing, Distance, WhatIf

MOVED_SHOWN = 12


def _pct(move: float) -> str:
    return f"{move * 100:+,.2f}%"


def _change(before: object, after: object, unit: str, coin: str | None, prices: dict[str, float]) -> str:
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)) or isinstance(before, bool):
        return ""
    if before == after:
        return "="
    if unit == "ratio":
        return f"{(after - before) * 100:+,.2f} pt"
    delta = amount(after - before, unit, coin, prices)
    return delta if delta.startswith("-") else "+" + delta


def _crossing(c: Crossing | None, coin: str) -> str:
    if c is None:
        return "not reached"
    rows = f" {', '.join(c.rows[:3])}{', ...' if len(c.rows) > 3 else ''}" if c.rows else ""
    price = f" ({coin} {amount(c.price, 'USD')})" if c.price is not None else ""
    return f"{_pct(c.move)}{price}{rows}"


def _now(d: Distance) -> str:
    if not d.triggered:
        return "no"
    return "yes" if d.axis == ACCOUNT else ", ".join(d.triggered[:3]) + (", ..." if len(d.triggered) > 3 else "")


def _coin_of(rs: RuleSet, c: Change, snaps: list[Snapshot]) -> str | None:
    """The coin a row-currency symbol in the unit stands for: the row's key for `coin`, the row's reference for
    `settle` and the like (from the snapshot after the changes, else before)."""
    symbol = next((sym for sym in COIN_SYMBOLS if re.search(rf"\b{sym}\b", c.unit)), None)
    if c.key is None or symbol is None:
        return None
    if symbol == "coin":
        return c.key
    field = row_coin_field(rs, c.axis, symbol)
    for snap in snaps:
        if field and c.key in snap.keys.get(c.axis, []):
            return str(snap.rows[c.axis][snap.keys[c.axis].index(c.key)].get(field))
    return None


def render(w: WhatIf, rs: RuleSet, source: str, snaps: list[Snapshot]) -> str:
    """The what-if report for a terminal; `snaps` are the validated snapshots after and before the changes."""
    prices = {**usd_prices(rs, snaps[-1].keys, snaps[-1].rows), **usd_prices(rs, snaps[0].keys, snaps[0].rows)} if snaps else {}
    what = ", ".join(f"{c} {_pct(m)}" for c, m in w.moves.items()) or "no price move"
    out = [f"{w.ruleset}  what if: {what}" + (f"; + {', '.join(w.added)}" if w.added else "") + (f"; - {', '.join(w.removed)}" if w.removed else ""),
           f"snapshot {source}, as of {w.before.receipt.as_of}; rules in force on {w.before.receipt.evaluation_date}"]
    if w.moved:
        out.append(f"moved {len(w.moved)} price(s): " + "; ".join(f"{m.label} {amount(m.cell.value, None)} -> {amount(m.after, None)}"
                                                               for m in w.moved[:MOVED_SHOWN]) + ("; ..." if len(w.moved) > MOVED_SHOWN else ""))
    if w.moves and w.held:
        out.append("held: " + "; ".join(f"{name} ({why})" for name, why in w.held.items()))
    if w.added or w.removed:
        out.append(f"rows of {w.collection}: " + ", ".join([f"added {k}" for k in w.added] + [f"removed {k}" for k in w.removed]))
    out += [f"after: {line}" for line in warning_lines(w.after)] + [""]
    axes = sorted(dict.fromkeys(c.axis for c in w.changes), key=lambda a: a != ACCOUNT)
    for axis in axes:
        keys = list(dict.fromkeys(c.key for c in w.changes if c.axis == axis))
        rows = []
        for key in keys:
            for c in (c for c in w.changes if c.axis == axis and c.key == key):
                coin = _coin_of(rs, c, snaps)
                before = "-" if c.before is None else amount(c.before, c.unit, coin, prices)
                after = "-" if c.after is None else amount(c.after, c.unit, coin, prices)
                if axis != ACCOUNT and before == after:
                    continue
                unit = re.sub(rf"\b({'|'.join(COIN_SYMBOLS)})\b", coin, c.unit) if coin else c.unit
                rows.append([c.name if key is None else f"{key}  {c.name}", before, after,
                             "=" if before == after else _change(c.before, c.after, c.unit, coin, prices), unit_label(unit)])
        if rows:
            out += table([axis, "before", "after", "change", "unit"], rows) + [""]
        elif axis != ACCOUNT:
            out += [f"{axis}: no key value changed", ""]
    out += table(["state", "before", "after"], [[s.axis if s.key is None else f"{s.axis} {s.key}", s.before or "-", s.after or "-"] for s in w.states])
    for which in ("before", "after"):
        ds = w.distances.get(which, [])
        if not ds:
            continue
        out += ["", f"distance to thresholds from the state {which} (a move of each coin's prices)"]
        out += table(["threshold", "coin", "holds now", "down", "up"],
                     [[f"{d.threshold}" + ("" if d.axis == ACCOUNT else f" ({d.axis})"), d.coin, _now(d), _crossing(d.down, d.coin), _crossing(d.up, d.coin)]
                      for d in ds])
    return printable("\n".join(out))
