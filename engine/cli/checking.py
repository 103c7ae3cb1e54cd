"""`check` and `audit`: are the rule files right, and what do they say beside their sources."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from . import common


def cmd_check(args: argparse.Namespace) -> int:
    from ..tools.check import run_check

    return run_check([Path(p) for p in args.paths], common.rule_folders(args), args.coverage)


def cmd_audit(args: argparse.Namespace) -> int:
    from ..report.audit import audit

    cat = common.catalog(args)
    text = audit(cat, cat.load(args.ruleset, common.date_option(args, common.today())), args.format)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {args.output}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text)
    return common.EXIT_OK


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("check", parents=[parent], help="validate rule files and run every case")
    s.add_argument("paths", nargs="*", metavar="PATH", help="rule files, case files or folders (default: every visible rule set)")
    s.add_argument("--coverage", action="store_true", help="also list quantities and thresholds no case exercises (exit 1 if any)")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("audit", parents=[parent],
                       help="an audit report: formulas as mathematics beside the quoted documentation, with the cases that exercise them",
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
