"""The `marginspec` command. Exit codes: 0 ok; 1 a check or case failed;
2 usage error; 3 invalid input (rule file or snapshot); 4 internal error (a
bug). User errors print a message, never a traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from .version import __version__
from .api import Rules, snapshot_date
from .source.catalog import RULES_ENV, Catalog, parse_date
from .errors import MarginspecError, RuleFileError, RuleFileErrors, UsageError
from .ir.plan import ACCOUNT
from .run.snapshot import read_snapshot_file

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 3, 4


def finite_json(obj: Any) -> Any:
    """Infinite numbers as the strings "Infinity"/"-Infinity", as in the result's own JSON (strict JSON has no inf)."""
    if isinstance(obj, float) and math.isinf(obj):
        return "Infinity" if obj > 0 else "-Infinity"
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite_json(v) for v in obj]
    return obj


def _catalog(args: argparse.Namespace, extra: list[Path] | None = None) -> Catalog:
    return Catalog([Path(p) for p in (args.rules or [])] + (extra or []))


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def cmd_list(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    listing = cat.listing()
    if args.json:
        print(json.dumps([{"ruleset": rid, "versions": [{"valid_from": f, "valid_to": t} for f, t in rows]} for rid, rows in listing], indent=2))
        return EXIT_OK
    today = _today()
    for rid, rows in listing:
        venue, mode = rid.split("/")
        v = cat.venues.get(venue)
        title = v.modes.get(mode, {}).get("title", "") if v else ""
        aliases = ", ".join(v.modes.get(mode, {}).get("aliases", [])) if v else ""
        print(f"{rid}  {title}" + (f"  (also: {aliases})" if aliases else ""))
        for i, (start, end) in enumerate(rows):
            until = end or (rows[i + 1][0] if i + 1 < len(rows) else None)
            live = dt.date.fromisoformat(start) <= today and (until is None or today < dt.date.fromisoformat(until))
            print(f"  @{start}  valid {start} .. {until or 'open'}" + ("  <- in force today" if live else ""))
    return EXIT_OK


def _load(args: argparse.Namespace, spec: str, at: dt.date | None) -> Any:
    return _catalog(args).load(spec, at)


def cmd_show(args: argparse.Namespace) -> int:
    from .report.text import show

    at = parse_date(args.at, "--at") if args.at else _today()
    rs = _load(args, args.ruleset, at)
    if args.json:
        print(json.dumps({s: {k: v.model_dump(exclude_none=True) for k, v in rs.section(s).items()} for s in ("parameters", "functions", "quantities", "thresholds")}
                         | {"ruleset": rs.ref, "documents": {k: d.model_dump(exclude_none=True) for k, d in rs.documents.items()}}, indent=2))
    else:
        print(show(rs))
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .report.text import summary

    data = read_snapshot_file(Path(args.snapshot))
    at = parse_date(args.at, "--at") if args.at else snapshot_date(data)
    rs = _load(args, args.ruleset, at)
    rules = Rules(rs)
    snap = rules.snapshot(data, args.snapshot)
    result = rules.evaluate(snap, at)
    if args.explain and args.explain not in result.trace:
        raise UsageError(f"--explain: {args.explain!r} is not a quantity or threshold of {rs.ref} (see `marginspec show {rs.id}`)")
    if args.explain:  # imported here: explain reads formulas with sympy, which a plain evaluation never loads
        from .tools.explain import explain_tree, render
    if args.json:
        payload = json.loads(result.to_json())
        if args.explain:
            payload["explain"] = explain_tree(rs, result, snap, args.explain)
        print(json.dumps(finite_json(payload), indent=2))
    elif args.explain:
        print("\n".join(render(explain_tree(rs, result, snap, args.explain))))
    else:
        print(summary(rs, result, args.snapshot))
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    args.explain = args.name
    return cmd_evaluate(args)


def cmd_diff(args: argparse.Namespace) -> int:
    from .tools.cases import case_files, load_cases
    from .tools.check import roots_and_selection
    from .tools.diff import render, semantic_diff

    paths = [Path(x) for x in (args.a, args.b) if Path(x).is_file()]
    roots, _ = roots_and_selection(paths)
    catalog = _catalog(args, roots)
    sides = []
    for spec in (args.a, args.b):
        p = Path(spec)
        if p.is_file():
            entry = next((e for v in catalog.files.values() for e in v if e.path.resolve() == p.resolve()), None)
            if entry is None:
                raise UsageError(f"{spec}: not a rule file laid out as <venue>/<mode>/YYYY-MM-DD.yaml")
            sides.append(catalog.load_file(entry))
        else:
            sides.append(catalog.load(spec, parse_date(args.at, "--at") if args.at else None))
    ids = {rs.id for rs in sides}
    cases = [c for path, display, ex in case_files(catalog) if f"{path.parent.parent.name}/{path.parent.name}" in ids
             for c in load_cases(path, display, ex)]
    d = semantic_diff(sides[0], sides[1], cases)
    if args.json:
        print(json.dumps(finite_json({"a": d.a, "b": d.b, "equivalent": d.equivalent, "changes": [vars(c) for c in d.changes],
                                      "cases": [vars(i) for i in d.impacts], "case_errors": d.case_errors}), indent=2))
    else:
        print(render(d))
    return EXIT_OK if d.equivalent else EXIT_FAILED


def cmd_solve(args: argparse.Namespace) -> int:
    from .report.text import num
    from .tools.solve import sensitivity, solve

    if not (args.target or args.sensitivity):  # before any file is read or rule set compiled
        raise UsageError("give --target NAME=VALUE, --sensitivity, or both")
    data = read_snapshot_file(Path(args.snapshot))
    at = parse_date(args.at, "--at") if args.at else snapshot_date(data)
    rules = Rules(_load(args, args.ruleset, at))
    out: dict[str, Any] = {}
    if args.target:
        name, sep, value = args.target.partition("=")
        try:
            target_value = float(value)
        except ValueError:
            raise UsageError(f"--target {args.target!r}: expected NAME=NUMBER, e.g. margin_ratio=1") from None
        sol = solve(rules, data, name, target_value, args.vary)
        out["solve"] = vars(sol)
        if not args.json:
            if sol.root is None:
                print(f"{sol.target} does not reach {num(sol.value)} for any value of {sol.vary} tried ({sol.note})")
            else:
                print(f"{sol.target} = {num(sol.value)} when {sol.vary} = {num(sol.root)}  (now {num(sol.base)}; {sol.method})")
                if sol.exact:
                    print(f"  exact: {sol.exact}")
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
        print(json.dumps(finite_json(out), indent=2))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .source.validation import schema

    if args.kind == "snapshot":
        if not args.ruleset:
            raise UsageError("schema snapshot needs a RULESET, e.g. marginspec schema snapshot venue/mode")
        at = parse_date(args.at, "--at") if args.at else _today()
        print(json.dumps(Rules(_load(args, args.ruleset, at)).snapshot_schema(), indent=2))
    else:
        print(json.dumps(schema(args.kind), indent=2))
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    from .report.audit import audit

    at = parse_date(args.at, "--at") if args.at else _today()
    catalog = _catalog(args)
    text = audit(catalog, catalog.load(args.ruleset, at), args.format)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {args.output}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .tools.check import run_check

    return run_check(args, _catalog)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="marginspec",
        description="Crypto venues' margin rules as versioned, cited data: list, show, evaluate and check them.",
        epilog=f"RULESET is venue/mode (the version in force on the date) or venue/mode@YYYY-MM-DD. "
        f"Extra rule folders: --rules DIR or ${RULES_ENV}. Exit codes: 0 ok, 1 check/case failed, 2 usage, 3 invalid input.",
    )
    p.add_argument("--version", action="version", version=f"marginspec {__version__}")
    p.add_argument("--rules", action="append", metavar="DIR", help="add a rules folder (<DIR>/<venue>/<mode>/<valid_from>.yaml); repeatable")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="venues, modes and versions with their valid dates")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", help="formulas, parameters, thresholds and sources of one rule set")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("--at", metavar="DATE", help="choose the version in force on DATE (default: today)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("evaluate", help="evaluate a snapshot (JSON or YAML)")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file (.json, .yaml)")
    s.add_argument("--at", metavar="DATE", help="evaluation date choosing the version (default: the snapshot's as_of)")
    s.add_argument("--json", action="store_true", help="the full result as JSON (values, states, trace, receipt)")
    s.add_argument("--explain", metavar="NAME", help="the derivation of one quantity or threshold")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("explain", help="the derivation of one value: formulas, numbers and sources down to the inputs")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT")
    s.add_argument("name", metavar="NAME", help="a quantity or threshold")
    s.add_argument("--at", metavar="DATE")
    s.add_argument("--json", action="store_true", help="the result with the derivation tree under \"explain\"")
    s.set_defaults(func=cmd_explain)

    s = sub.add_parser("diff", help="what changed between two versions, with equivalence verdicts and case impacts (exit 1 if they differ)")
    s.add_argument("a", metavar="A", help="venue/mode@YYYY-MM-DD or a rule file")
    s.add_argument("b", metavar="B", help="venue/mode@YYYY-MM-DD or a rule file")
    s.add_argument("--at", metavar="DATE", help="for an unpinned venue/mode: the version in force on DATE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("solve", help="the input value at which a quantity reaches a target (e.g. a liquidation price); sensitivities")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT")
    s.add_argument("--target", metavar="NAME=VALUE", help="e.g. margin_ratio=1; NAME may be name[row key]")
    s.add_argument("--vary", metavar="INPUT", action="append", required=True,
                   help="input cell to vary, e.g. usd_price[BTC]; repeat to move several cells by the same factor (the answer is the first)")
    s.add_argument("--sensitivity", action="store_true", help="d(quantity)/d(input) at the snapshot's values, from the exact expressions")
    s.add_argument("--at", metavar="DATE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_solve)

    s = sub.add_parser("check", help="validate rule files and run every case")
    s.add_argument("paths", nargs="*", metavar="PATH", help="rule files, case files or folders (default: every visible rule set)")
    s.add_argument("--coverage", action="store_true", help="also list quantities and thresholds no case exercises (exit 1 if any)")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("audit", help="an audit report: formulas as mathematics beside the quoted documentation, with the cases that exercise them",
                       description="Write the audit report of one rule-set version: per quantity and threshold the formula typeset as "
                       "mathematics (LaTeX in Markdown, MathML in HTML), the quoted documentation with URL and retrieval date, the unit, "
                       "assumptions and ambiguities, and the cases that exercise it with pass or fail. The HTML is one self-contained "
                       "file (no scripts, no network). Exit status is 0 even when a case fails: the report shows the failure "
                       "(use `marginspec check` to fail on a case); 3 for an invalid rule file.")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("--at", metavar="DATE", help="choose the version in force on DATE (default: today)")
    s.add_argument("--format", choices=["md", "html"], default="md", help="md (default) or html")
    s.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE (default: standard output)")
    s.set_defaults(func=cmd_audit)

    s = sub.add_parser("schema", help="print a JSON Schema")
    s.add_argument("kind", choices=["rule-file", "table", "cases", "venue", "snapshot"])
    s.add_argument("ruleset", nargs="?", metavar="RULESET", help="for `schema snapshot`")
    s.add_argument("--at", metavar="DATE")
    s.set_defaults(func=cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"marginspec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (RuleFileError, RuleFileErrors) as exc:
        print(f"marginspec: invalid rule file:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    except MarginspecError as exc:
        print(f"marginspec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug in marginspec, not in the input: say so, and how to see the traceback
        if os.environ.get("MARGINSPEC_DEBUG"):
            raise
        print(f"marginspec: internal error ({type(exc).__name__}: {exc}). This is a bug in marginspec, not in your input; "
              "rerun with MARGINSPEC_DEBUG=1 to see the traceback, and please report it.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
