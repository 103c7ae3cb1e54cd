"""The Python API: load a rule set, validate snapshots, evaluate one or many.

    import marginspec
    result = marginspec.evaluate("venue/mode", snapshot_dict)   # version chosen by the snapshot's as_of
    result.value("margin_ratio"), result.state()

    rules = marginspec.load("venue/mode@2025-01-01")             # one pinned version
    for snap in snapshots:
        rules.evaluate(snap)          # compiled once, cached on disk
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SnapshotError, UsageError, argument
from .run.result import Result
from .run.rules import Rules, snapshot_date
from .run.snapshot import Snapshot, parse_as_of
from .source.catalog import Catalog, date_argument

if TYPE_CHECKING:
    from .ingest import Imported
    from .tools.reconcile import Reconciliation
    from .tools.whatif import WhatIf

Payloads = list[str | Path] | list[Any] | dict[str, Any]
"""Payload files (paths), payload data (parsed JSON), or a dict of payload data by name."""


def load(spec: str, at: dt.date | str | None = None, rules: list[Path] | None = None) -> Rules:
    """`venue/mode@valid_from`, or `venue/mode` with the date `at` choosing the version."""
    spec, when = argument(spec, str, "spec", "venue/mode or venue/mode@YYYY-MM-DD"), date_argument(at, "at")
    return Rules(Catalog(rules).load(spec, when), (spec, when, list(rules or [])))


def evaluate(spec: str, snapshot: Any, at: dt.date | str | None = None, rules: list[Path] | None = None) -> Result:
    """Evaluate one snapshot with the version in force on `at` (default: the snapshot's as_of date)."""
    spec = argument(spec, str, "spec", "venue/mode or venue/mode@YYYY-MM-DD")
    when = date_argument(at, "at") or snapshot_date(snapshot)
    return Rules(Catalog(rules).load(spec, when)).evaluate(snapshot, when)



def whatif(spec: str, snapshot: Any, shocks: dict[str, float] | None = None, add_positions: list[dict[str, Any]] | None = None,
           remove_positions: list[str] | None = None, at: dt.date | str | None = None, rules: list[Path] | None = None,
           collection: str | None = None, distance_coins: list[str] | None = None) -> WhatIf:
    """The account before and after moving the prices of coins (`shocks={"BTC": -0.10}`: every input the rule set's
    `analysis.prices` links to BTC, by -10%) and adding or removing positions (rows of `collection`); every key
    value and state before and after, and the move of each coin at which each threshold's state changes, from
    both states. The version is the one in force on `at` (default: the snapshot's as_of date). See tools/whatif.py."""
    from .tools.shocks import checked_move
    from .tools.whatif import whatif as run_whatif

    spec = argument(spec, str, "spec", "venue/mode or venue/mode@YYYY-MM-DD")
    moves = dict(checked_move(coin, move, f"shocks[{coin!r:.40}]") for coin, move in
                 argument(shocks or {}, dict, "shocks", "a dict of coin to relative move, like {'BTC': -0.1}").items())
    if len(moves) < len(shocks or {}):
        raise UsageError(f"shocks: a coin is shocked twice (names are not case-sensitive): {sorted(shocks or {})}")
    for given, name, items, what in ((add_positions, "add_positions", dict, "rows (dicts)"), (remove_positions, "remove_positions", str, "row keys"),
                                     (distance_coins, "distance_coins", str, "coin names")):
        if not all(isinstance(x, items) for x in argument(given or [], list, name, f"a list of {what}")):
            raise UsageError(f"{name}: expected a list of {what}")
    argument(collection, (str, type(None)), "collection", "a collection name such as positions")
    when = date_argument(at, "at") or snapshot_date(snapshot)
    return run_whatif(Rules(Catalog(rules).load(spec, when)), snapshot, moves, add_positions, remove_positions, collection, distance_coins, when)


def _from_payloads(venue: str, payloads: Payloads, mode: str | None, ruleset: str | None, as_of: dt.datetime | str | None,
                   at: dt.date | str | None, rules: list[Path] | None) -> tuple[Imported, Rules, Snapshot]:
    from .ingest import import_snapshot, load_payloads, payload_sources, snapshot_mapping

    catalog = Catalog(rules)
    mapping = snapshot_mapping(catalog, argument(venue, str, "venue", "a venue name such as the folders of exchanges/"))
    loaded = load_payloads(mapping, payload_sources(argument(payloads, (list, tuple, dict), "payloads",
                                                             "a list of payload files or parsed payloads, or a dict of them by name")))
    when = argument(as_of, (str, dt.datetime, type(None)), "as_of", "a date-time or ISO text")
    if isinstance(when, str):
        try:
            when = parse_as_of(when)
        except ValueError as exc:
            raise UsageError(f"as_of: not an ISO 8601 date-time ({exc})") from None
    day = date_argument(at, "at")
    imported = import_snapshot(mapping, loaded, catalog, mode, ruleset, when, day)
    r = Rules(imported.ruleset)
    try:
        snap = r.snapshot(imported.snapshot, "imported snapshot")
    except SnapshotError as exc:
        raise imported.payload_error(exc) from None
    return imported, r, snap


def import_payloads(venue: str, payloads: Payloads, mode: str | None = None, ruleset: str | None = None,
                    as_of: dt.datetime | str | None = None, at: dt.date | str | None = None,
                    rules: list[Path] | None = None) -> Imported:
    """A snapshot from a venue's REST responses through its payload mapping (exchanges/<venue>/payloads/):
    for the mode the payloads say (or `mode`, or the mode of `ruleset`), checked against the rule set in
    force on `at` (default: the snapshot's date). `.snapshot` is the snapshot; `.ruleset` the rule set.
    Raises PayloadError (file, JSON path, message) for anything wrong in the payloads."""
    return _from_payloads(venue, payloads, mode, ruleset, as_of, at, rules)[0]


def evaluate_payloads(spec: str, payloads: Payloads, as_of: dt.datetime | str | None = None, at: dt.date | str | None = None,
                      rules: list[Path] | None = None) -> Result:
    """Evaluate straight from payloads with the rule set `spec` (venue/mode or venue/mode@date)."""
    spec = argument(spec, str, "spec", "venue/mode or venue/mode@YYYY-MM-DD")
    _imported, r, snap = _from_payloads(spec.split("/", maxsplit=1)[0], payloads, None, spec, as_of, at, rules)
    return r.evaluate(snap, at)


def reconcile(spec: str, payloads: Payloads, as_of: dt.datetime | str | None = None, at: dt.date | str | None = None,
              rules: list[Path] | None = None, explain: bool = True) -> Reconciliation:
    """Every value the venue reports in the payloads held against the engine's value (see tools/reconcile)."""
    from .ingest import reported_values
    from .tools.reconcile import reconcile as run_reconcile

    spec = argument(spec, str, "spec", "venue/mode or venue/mode@YYYY-MM-DD")
    imported, r, snap = _from_payloads(spec.split("/", maxsplit=1)[0], payloads, None, spec, as_of, at, rules)
    result = r.evaluate(snap, at)
    return run_reconcile(imported, reported_values(imported.mapping, imported.payloads), result, snap, explain)
