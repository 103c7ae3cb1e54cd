"""`evaluate` and `explain`: one snapshot through one rule set."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UsageError
from ..run.rules import Rules, snapshot_date
from ..run.snapshot import read_snapshot_file
from . import common


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..report.text import summary

    payloads = getattr(args, "payload", None) or []
    if bool(payloads) == bool(args.snapshot):
        raise UsageError("give a SNAPSHOT file, or the venue's payloads with --payload FILE (repeatable), not both")
    if payloads:
        from .payloads import from_payloads

        _imported, rules, snap = from_payloads(args, args.ruleset.split("/")[0], payloads, ruleset=args.ruleset)
        rs, at, shown = rules.ruleset, common.date_option(args), f"imported from {len(payloads)} payload(s)"
    else:
        data = read_snapshot_file(common.snapshot_path(args.snapshot))
        at = common.date_option(args) or snapshot_date(data)
        rs = common.catalog(args).load(args.ruleset, at)
        rules = Rules(rs)
        snap = rules.snapshot(data, args.snapshot)
        shown = args.snapshot
    result = rules.evaluate(snap, at)
    if args.explain and args.explain not in result.trace:
        raise UsageError(f"--explain: {args.explain!r} is not a quantity or threshold of {rs.ref} (see `marginspec show {rs.id}`)")
    if args.explain:  # imported here: explain reads formulas with sympy, which a plain evaluation never loads
        from ..report.text import render_explanation
        from ..tools.explain import explain_tree
    if args.json:
        payload = json.loads(result.to_json())
        if args.explain:
            payload["explain"] = explain_tree(rs, result, snap, args.explain)
        print(json.dumps(common.finite_json(payload), indent=2))
        for w in result.warnings:  # also on standard error, where a person running a script sees it
            print(f"marginspec: warning: not modelled: {w.message} ({w.name})", file=sys.stderr)
    elif args.explain:
        from ..report.text import warning_lines

        print("\n".join(warning_lines(result) + render_explanation(explain_tree(rs, result, snap, args.explain))))
    else:
        print(summary(rs, result, shown, snap))
    return common.EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    args.explain = args.name
    return cmd_evaluate(args)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("evaluate", parents=[parent], help="evaluate a snapshot (JSON or YAML), or a venue's payloads (--payload)")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT", nargs="?", help="snapshot file (.json, .yaml), or - for JSON on standard input")
    s.add_argument("--payload", metavar="FILE", action="append",
                   help="a venue REST response (JSON) instead of a snapshot; repeatable (see `marginspec import`)")
    s.add_argument("--as-of", metavar="TIME", help="with --payload: the snapshot's time when the payloads carry none")
    s.add_argument("--at", metavar="DATE", help="evaluation date choosing the version (default: the snapshot's as_of)")
    s.add_argument("--json", action="store_true", help="the full result as JSON (values, states, trace, receipt)")
    s.add_argument("--explain", metavar="NAME", help="the derivation of one quantity or threshold")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("explain", parents=[parent], help="the derivation of one value: formulas, numbers and sources down to the inputs")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT")
    s.add_argument("name", metavar="NAME", help="a quantity or threshold")
    s.add_argument("--at", metavar="DATE")
    s.add_argument("--json", action="store_true", help="the result with the derivation tree under \"explain\"")
    s.set_defaults(func=cmd_explain)
