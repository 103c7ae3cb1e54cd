"""What if: the account after a price shock (see shocks.py) and a hypothetical
position added or removed, beside the account as it is: every key value and
state before and after, and how far each threshold is, as a move of a coin's
price, from each of the two.

A distance is found on the compiled kernel: the coin's prices are moved along a
grid of moves (down to -99%, up to +1,000%), and the first move at which the
threshold's state changes (an account threshold triggers or clears, or a row's
does) is refined by bisection to 1e-6 of a move. A threshold that flips and
flips back between two grid points may be missed; the grid is dense near 0,
where it matters."""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import EvaluationError, SnapshotError, UsageError
from ..ir.plan import ACCOUNT
from ..run.evaluate import evaluate_snapshot
from ..run.result import Result
from ..run.rules import Rules
from .shocks import Moved, coins, price_cells, shocked

DOWN = (-0.001, -0.0025, -0.005, -0.01, -0.02, -0.03, -0.05, -0.075, -0.1, -0.15, -0.2, -0.25, -0.3, -0.4, -0.5, -0.6, -0.7,
        -0.8, -0.9, -0.95, -0.99)
UP = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
RESOLUTION = 1e-6  # of a move: bisection stops when the crossing is known to this


@dataclass
class Crossing:
    """Where a threshold's state changes: the coin's move from the state measured (a ratio: -0.25 is -25%),
    the rows whose state changes there (row thresholds), and the coin's USD price there when known."""

    move: float
    rows: list[str] = field(default_factory=list)
    price: float | None = None


@dataclass
class Distance:
    threshold: str
    axis: str
    coin: str
    triggered: list[str]  # rows where it holds now ("account" for an account threshold)
    down: Crossing | None
    up: Crossing | None


@dataclass
class Change:
    """A key value (a quantity marked `show`) before and after; None where the row does not exist."""

    name: str
    axis: str
    key: str | None
    unit: str
    before: Any
    after: Any


@dataclass
class StateChange:
    axis: str
    key: str | None
    before: str | None
    after: str | None


@dataclass
class WhatIf:
    """The account before and after the changes, with the distance to every threshold from each."""

    ruleset: str
    moves: dict[str, float]
    added: list[str]
    removed: list[str]
    collection: str | None
    moved: list[Moved]
    held: dict[str, str]
    before: Result
    after: Result
    changes: list[Change]
    states: list[StateChange]
    distances: dict[str, list[Distance]]
    snapshot: dict[str, Any]  # the snapshot after the changes (data)

    def to_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "moves": self.moves, "added": self.added, "removed": self.removed,
                "collection": self.collection,
                "moved": [{"input": m.cell.field, "collection": m.cell.collection, "row": m.cell.key, "coin": m.cell.coin,
                           "quote": m.cell.quote, "before": m.cell.value, "after": m.after} for m in self.moved],
                "held": self.held, "changes": [asdict(c) for c in self.changes], "states": [asdict(s) for s in self.states],
                "distances": {k: [asdict(d) for d in v] for k, v in self.distances.items()},
                "before": json.loads(self.before.to_json()), "after": json.loads(self.after.to_json()), "snapshot": self.snapshot}

    def __repr__(self) -> str:
        what = ", ".join(f"{c} {m:+.2%}" for c, m in self.moves.items()) or "no price move"
        return (f"<WhatIf {self.ruleset}: {what}; +{len(self.added)}/-{len(self.removed)} rows; "
                f"state {self.before.state()} -> {self.after.state()}; {len(self.moved)} prices moved>")


def modify_rows(rules: Rules, data: dict[str, Any], add: list[dict[str, Any]], remove: list[str],
                collection: str | None) -> tuple[dict[str, Any], str | None, list[str], list[str]]:
    """The snapshot data with rows added to and removed from a collection (default: the `position` axis's, else
    the only row collection besides the first); (data, collection, added keys, removed keys)."""
    if not add and not remove:
        return data, collection, [], []
    axes = {a.collection: a for a in rules.ruleset.axes.values() if a.collection}
    if collection is None:
        position = rules.ruleset.axes.get("position")
        if position is None or not position.collection:
            raise UsageError(f"{rules.ruleset.ref} has no position axis: name the collection with --collection "
                             f"({', '.join(axes)})")
        collection = position.collection
    if collection not in axes:
        raise UsageError(f"--collection {collection!r}: not a collection of {rules.ruleset.ref} ({', '.join(axes)})")
    key = axes[collection].key or ""
    out = copy.deepcopy(data)
    rows = out.setdefault(collection, [])
    present = [str(r.get(key)) for r in rows if isinstance(r, dict)]
    for k in remove:
        if k not in present:
            raise UsageError(f"--remove-position {k!r}: no row of {collection} has {key} {k!r} ({', '.join(present) or 'none'})")
    out[collection] = [r for r in rows if not (isinstance(r, dict) and str(r.get(key)) in remove)]
    added = []
    for i, row in enumerate(add):
        if not isinstance(row, dict) or not isinstance(row.get(key), str):
            raise UsageError(f"--add-position #{i + 1}: expected a JSON object with its key field {key!r} (a text), as a row of {collection}")
        if row[key] in present and row[key] not in remove:
            raise UsageError(f"--add-position #{i + 1}: {collection} already has {key} {row[key]!r} (remove it, or give another key)")
        out[collection].append(row)
        added.append(row[key])
    return out, collection, added, list(remove)


def _states(rules: Rules, data: dict[str, Any], moves: dict[str, float]) -> dict[str, frozenset[str]] | None:
    """Per threshold, the rows where it holds after the moves (account thresholds: {"account"} or {});
    None where the snapshot cannot be evaluated (a price out of its declared range, an undefined value)."""
    try:
        moved, _ = shocked(rules.ruleset, data, moves)
        snap = rules.snapshot(moved)
        ev = evaluate_snapshot(rules.kernel, snap)
    except (EvaluationError, SnapshotError):
        return None
    out: dict[str, set[str]] = {name: set() for name in rules.ruleset.thresholds}
    for axis, rows in ev.triggered.items():
        for i, names in enumerate(rows):
            for name in names:
                out[name].add(ACCOUNT if axis == ACCOUNT else snap.keys[axis][i])
    return {k: frozenset(v) for k, v in out.items()}


def _usd_price(rules: Rules, data: dict[str, Any], coin: str) -> float | None:
    for cell in price_cells(rules.ruleset, data):
        price = rules.ruleset.analysis.prices[cell.field]
        if cell.coin == coin and price.coin == "row_key" and cell.quote is None and rules.ruleset.inputs[cell.field].unit == "USD/coin":
            return cell.value
    return None


class _Scan:
    """The thresholds' states along moves of one coin's prices, each move evaluated once."""

    def __init__(self, rules: Rules, data: dict[str, Any], coin: str):
        self.rules, self.data, self.coin = rules, data, coin
        self.memo: dict[float, dict[str, frozenset[str]] | None] = {}

    def __call__(self, move: float) -> dict[str, frozenset[str]] | None:
        if move not in self.memo:
            self.memo[move] = _states(self.rules, self.data, {self.coin: move} if move else {})
        return self.memo[move]


def distances(rules: Rules, data: dict[str, Any], coin_list: list[str]) -> list[Distance]:
    """For every coin and threshold: the nearest move of the coin's prices, down and up, at which the threshold's
    state changes (see the module's doc)."""
    out = []
    for coin in coin_list:
        at = _Scan(rules, data, coin)
        now = at(0.0)
        if now is None:
            raise UsageError("the snapshot does not evaluate")  # evaluate() would already have said why
        price = _usd_price(rules, data, coin)
        for name, threshold in rules.ruleset.thresholds.items():
            down, up = (_crossing(at, name, now[name], grid, price) for grid in (DOWN, UP))
            out.append(Distance(name, threshold.axis, coin, sorted(now[name]), down, up))
    return out


def _crossing(at: _Scan, name: str, now: frozenset[str], grid: tuple[float, ...], price: float | None) -> Crossing | None:
    last = 0.0
    for move in grid:
        states = at(move)
        if states is None:
            return None
        if states[name] != now:
            lo, hi = last, move
            while abs(hi - lo) > RESOLUTION:
                mid = (lo + hi) / 2
                s = at(mid)
                if s is not None and s[name] == now:
                    lo = mid
                else:
                    hi = mid
            there = at(hi)
            rows = sorted(there[name] ^ now) if there is not None else []
            return Crossing(hi, [r for r in rows if r != ACCOUNT], price * (1 + hi) if price is not None else None)
        last = move
    return None


def _changes(rules: Rules, before: Result, after: Result) -> tuple[list[Change], list[StateChange]]:
    rs = rules.ruleset
    shown = [n for n, q in rs.quantities.items() if q.show and " x " not in q.axis] or [n for n, q in rs.quantities.items() if q.axis == ACCOUNT]
    changes = []
    for name in shown:
        q = rs.quantities[name]
        a, b = before.value(name), after.value(name)
        if q.axis == ACCOUNT:
            changes.append(Change(name, q.axis, None, q.unit, a, b))
        else:
            for key in dict.fromkeys(list(a) + list(b)):
                changes.append(Change(name, q.axis, key, q.unit, a.get(key), b.get(key)))
    states = [StateChange(ACCOUNT, None, before.state(), after.state())]
    for axis in dict.fromkeys(list(before.states) + list(after.states)):
        if axis == ACCOUNT:
            continue
        sa, sb = before.states.get(axis, {}), after.states.get(axis, {})
        for key in dict.fromkeys(list(sa) + list(sb)):
            x, y = (sa.get(key) or {}).get("state"), (sb.get(key) or {}).get("state")
            if x != y or x != "normal":
                states.append(StateChange(axis, key, x, y))
    return changes, states


def whatif(rules: Rules, data: dict[str, Any], moves: dict[str, float], add: list[dict[str, Any]] | None = None,
           remove: list[str] | None = None, collection: str | None = None, distance_coins: list[str] | None = None,
           at: dt.date | None = None) -> WhatIf:
    """The account `data` before and after moving the prices of coins (`{"BTC": -0.1}`) and adding or removing
    rows (positions by default), with the distance to each threshold from both (default coins: the moved ones,
    else the coins the snapshot's derivatives are priced in, else every coin with a price)."""
    rules.snapshot(data, "snapshot")  # the snapshot as given must be valid before anything is changed
    changed, collection, added, removed = modify_rows(rules, data, add or [], remove or [], collection)
    after_data, moved = shocked(rules.ruleset, changed, moves)
    before = rules.evaluate(data, at)
    try:
        after = rules.evaluate(after_data, at, "the snapshot after the changes")
    except SnapshotError as exc:
        raise SnapshotError(exc.problems, "the snapshot after --add-position/--remove-position") from None
    if distance_coins is None:
        derivative = [c.coin for c in price_cells(rules.ruleset, after_data) if rules.ruleset.analysis.prices[c.field].coin != "row_key"]
        distance_coins = list(moves) or list(dict.fromkeys(derivative)) or coins(rules.ruleset, after_data)
    distance_coins = [c.upper() for c in distance_coins]
    changes, states = _changes(rules, before, after)
    return WhatIf(rules.ruleset.ref, dict(moves), added, removed, collection if (added or removed) else None, moved,
                  dict(rules.ruleset.analysis.held), before, after, changes, states,
                  {"before": distances(rules, data, distance_coins), "after": distances(rules, after_data, distance_coins)}, after_data)
