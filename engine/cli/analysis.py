"""`diff` and `solve`: how two versions differ, and where a quantity reaches a target."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..language.shape import ACCOUNT
from ..run.rules import Rules, snapshot_date
from ..run.snapshot import read_snapshot_file
from . import common


def cmd_diff(args: argparse.Namespace) -> int:
    from ..report.text import render_diff
    from ..tools.cases import case_files, load_cases
    from ..tools.check import roots_and_selection
    from ..tools.diff import semantic_diff

    paths = [Path(x) for x in (args.a, args.b) if Path(x).is_file()]
    roots, _ = roots_and_selection(paths)
    cat = common.catalog(args, roots)
    sides = []
    for spec in (args.a, args.b):
        p = Path(spec)
        if p.is_file():
            entry = next((e for v in cat.files.values() for e in v if e.path.resolve() == p.resolve()), None)
            if entry is None:
                raise UsageError(f"{spec}: not a rule file laid out as <venue>/<mode>/YYYY-MM-DD.yaml")
            sides.append(cat.load_file(entry))
        else:
            sides.append(cat.load(spec, common.date_option(args)))
    ids = {rs.id for rs in sides}
    cases = [c for path, display, ex in case_files(cat) for c in load_cases(path, display, ex)
             if cat.resolve_id(*c.ruleset.split("/", 1)) in ids]
    d = semantic_diff(sides[0], sides[1], cases)
    if args.json:
        print(json.dumps(common.finite_json({"a": d.a, "b": d.b, "equivalent": d.equivalent, "changes": [vars(c) for c in d.changes],
                                             "cases": [vars(i) for i in d.impacts], "case_errors": d.case_errors}), indent=2))
    else:
        print(render_diff(d))
    return common.EXIT_OK if d.equivalent else common.EXIT_FAILED


def cmd_solve(args: argparse.Namespace) -> int:
    from ..report.text import num
    from ..tools.solve import default_target, sensitivity, solve

    data = read_snapshot_file(common.snapshot_path(args.snapshot))
    at = common.date_option(args) or snapshot_date(data)
    rules = Rules(common.catalog(args).load(args.ruleset, at))
    out: dict[str, Any] = {}
    status = common.EXIT_OK
    if args.target or not args.sensitivity:
        if args.target:
            name, _, value = args.target.partition("=")
            try:
                target_value = float(value)
            except ValueError:
                raise UsageError(f"--target {args.target!r}: expected NAME=NUMBER, e.g. margin_ratio=1") from None
            why = ""
        else:
            name, target_value, threshold = default_target(rules)
            why = f" (no --target: where {threshold} triggers)"
        sol = solve(rules, data, name, target_value, args.vary)
        out["solve"] = vars(sol)
        if sol.root is None:
            status = common.EXIT_FAILED
            print(f"marginspec: {sol.target} does not reach {num(sol.value)} for any value of {sol.vary} tried{why} ({sol.note})",
                  file=sys.stderr)
        elif not args.json:
            print(f"{sol.target} = {num(sol.value)} when {sol.vary} = {num(sol.root)}  (now {num(sol.base)}; {sol.method}){why}")
            if sol.closed_form:
                print(f"  exact: {sol.closed_form}")
            if sol.note:
                print(f"  {sol.note}")
    if args.sensitivity:
        names = [args.target.partition("=")[0]] if args.target else [n for n, v in rules.kernel.plan.outputs.items()
                                                                      if v.shape.rows in (None, ACCOUNT) and v.kind == "number" and not v.shape.grid]
        out["sensitivity"] = sensitivity(rules, data, names, args.vary)
        if not args.json:
            print(f"sensitivity to {args.vary[0]} at its value in the snapshot:")
            for n, d in out["sensitivity"].items():
                print(f"  d {n} / d {args.vary[0]} = {num(d)}")
    if args.json:
        print(json.dumps(common.finite_json(out), indent=2))
    return status


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("diff", parents=[parent], help="what changed between two versions, with equivalence verdicts and case impacts (exit 1 if they differ)")
    s.add_argument("a", metavar="A", help="venue/mode@YYYY-MM-DD or a rule file")
    s.add_argument("b", metavar="B", help="venue/mode@YYYY-MM-DD or a rule file")
    s.add_argument("--at", metavar="DATE", help="for an unpinned venue/mode: the version in force on DATE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("solve", parents=[parent], help="the input value at which a quantity reaches a target (e.g. a liquidation price); sensitivities")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT")
    s.add_argument("--target", metavar="NAME=VALUE",
                   help="e.g. margin_ratio=1; NAME may be name[row key]. Default: the level at which the most severe account "
                   "threshold triggers (margin_ratio=1 where liquidation is margin_ratio <= 1), unless only --sensitivity is asked for")
    s.add_argument("--vary", metavar="INPUT", action="append", required=True,
                   help="input cell to vary, e.g. usd_price[BTC]; repeat to move several cells by the same factor (the answer is the first)")
    s.add_argument("--sensitivity", action="store_true", help="d(quantity)/d(input) at the snapshot's values, from the exact expressions")
    s.add_argument("--at", metavar="DATE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_solve)
