"""`whatif`: the account after a price shock and a hypothetical position, beside the account as it is."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..api import Rules, snapshot_date
from ..errors import UsageError
from ..run.snapshot import read_snapshot_file
from ..source.datafile import JsonProblem, parse_json
from . import common


def position_argument(text: str, option: str) -> Any:
    """A JSON object given inline, or `@FILE` for one in a file (parsed as strictly as snapshots are)."""
    source = text
    if text.startswith("@"):
        path = common.snapshot_path(text[1:])
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{option} {text}: cannot read the file ({exc})") from None
    try:
        return parse_json(source)
    except JsonProblem as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
        raise UsageError(f"{option} {text[:80]!r}: not JSON{where}: {exc.message}") from None


def cmd_whatif(args: argparse.Namespace) -> int:
    from ..report.whatif import render
    from ..tools.shocks import parse_shock
    from ..tools.whatif import whatif

    moves: dict[str, float] = {}
    for text in args.shock or []:
        coin, move = parse_shock(text)
        if coin in moves:
            raise UsageError(f"--shock {text!r}: {coin} is shocked twice")
        moves[coin] = move
    added = [position_argument(t, "--add-position") for t in args.add_position or []]
    data = read_snapshot_file(common.snapshot_path(args.snapshot))
    at = common.date_option(args) or snapshot_date(data)
    rules = Rules(common.catalog(args).load(args.ruleset, at))
    w = whatif(rules, data, moves, added, args.remove_position or [], args.collection, args.distance, at)
    if args.json:
        print(json.dumps(common.finite_json(w.to_dict()), indent=2))
    else:
        print(render(w, rules.ruleset, args.snapshot, [rules.snapshot(w.snapshot), rules.snapshot(data)]))
    return common.EXIT_OK


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("whatif", parents=[parent],
                       help="the account after a price shock or a hypothetical position: values and states before and after, distance to each threshold",
                       description="Evaluate the snapshot as it is and after the changes: --shock moves every input the rule set declares a price "
                       "of the coin (its analysis.prices: USD and index prices, mark prices of its contracts, underlying prices of its options) "
                       "by the same percentage; --add-position and --remove-position change the positions (or the rows of --collection). "
                       "Prints the key values and states before and after, and for each threshold the move of each coin's prices, down and "
                       "up, at which its state changes, from both states.")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file (.json, .yaml), or - for JSON on standard input")
    s.add_argument("--shock", metavar="COIN=MOVE%", action="append", help="e.g. BTC=-10%% or ETH=+5%%; repeatable")
    s.add_argument("--add-position", metavar="JSON", action="append",
                   help="a row to add, as JSON (or @FILE), with the fields the snapshot schema gives (marginspec schema snapshot RULESET); repeatable")
    s.add_argument("--remove-position", metavar="ID", action="append", help="the key of a row to remove (inst_id, contract, ...); repeatable")
    s.add_argument("--collection", metavar="NAME", help="the collection --add-position/--remove-position change (default: the positions)")
    s.add_argument("--distance", metavar="COIN", action="append",
                   help="coins whose price moves the distances are measured along (default: the shocked coins, else the coins of the derivatives)")
    s.add_argument("--at", metavar="DATE", help="evaluation date choosing the version (default: the snapshot's as_of)")
    s.add_argument("--json", action="store_true", help="everything as JSON: moves, changes, states, distances, both results and the changed snapshot")
    s.set_defaults(func=cmd_whatif)
