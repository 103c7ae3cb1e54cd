"""`plot`: pictures of an account and a rule set, as SVG (or PNG, PDF) files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api import Rules, snapshot_date
from ..errors import UsageError
from ..run.snapshot import read_snapshot_file
from . import common


def _span(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    low, _, high = text.partition(":")
    try:
        return float(low), float(high)
    except ValueError:
        raise UsageError(f"--range {text!r}: expected LOW:HIGH, values of the varied input, e.g. 40000:120000") from None


def cmd_plot(args: argparse.Namespace) -> int:
    from ..report import plots

    chosen = [x for x in ("vary", "scenarios", "tiers") if getattr(args, x)]
    if len(chosen) != 1:
        raise UsageError("give one of --vary INPUT (a curve), --scenarios (the stress grid) or --tiers TABLE (step charts)")
    if args.tiers:
        at = common.date_option(args, common.today())
        rs = common.catalog(args).load(args.ruleset, at)
        picture = plots.tier_picture(rs, args.tiers, args.key)
    else:
        if not args.snapshot:
            raise UsageError(f"--{chosen[0]} needs a SNAPSHOT")
        data = read_snapshot_file(common.snapshot_path(args.snapshot))
        at = common.date_option(args) or snapshot_date(data)
        rules = Rules(common.catalog(args).load(args.ruleset, at))
        rules.snapshot(data, args.snapshot)
        if args.vary:
            picture = plots.curve_picture(plots.margin_curve(rules, data, args.vary, args.quantity, _span(args.range)), rules.ruleset)
        else:
            picture = plots.grid_picture(plots.scenario_grid(rules, data, args.quantity), rules.ruleset.ref)
    if args.output in (None, "-"):
        sys.stdout.write(picture.svg)
    else:
        picture.save(Path(args.output))
        print(f"wrote {args.output}: {picture.caption}", file=sys.stderr)
    return common.EXIT_OK


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("plot", parents=[parent],
                       help="pictures (SVG): a quantity against a price with the liquidation point, the stress grid, tier tables",
                       description="Draw one picture (needs matplotlib: pip install 'marginspec[plot]'). --vary INPUT: the margin ratio "
                       "(or --quantity) against an input (usd_price[BTC]; or a coin, BTC, moving all its prices together), with the "
                       "thresholds' levels and where they are crossed. --scenarios: the portfolio-margin stress grid as a heatmap per "
                       "risk unit, in price moves and volatility shocks. --tiers TABLE: a tier table as step charts (no snapshot needed).")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("snapshot", metavar="SNAPSHOT", nargs="?", help="snapshot file (.json, .yaml), or - for standard input")
    s.add_argument("--vary", metavar="INPUT", action="append",
                   help="input on the x axis (usd_price[BTC]), or a coin (BTC) for every price of it; repeat to move more inputs with the first")
    s.add_argument("--scenarios", action="store_true", help="the stress grid of a portfolio-margin rule set, as a heatmap")
    s.add_argument("--tiers", metavar="TABLE", help="a tier table of the rule set, as step charts")
    s.add_argument("--key", metavar="KEY", action="append", help="with --tiers: the keys to draw (default: the first 6)")
    s.add_argument("--quantity", metavar="NAME", help="what to draw (default: what the most severe threshold reads, e.g. margin_ratio)")
    s.add_argument("--range", metavar="LOW:HIGH", help="with --vary: the x range, in values of the input (default: now and the liquidation point)")
    s.add_argument("--at", metavar="DATE", help="evaluation date choosing the version (default: the snapshot's as_of; with --tiers, today)")
    s.add_argument("-o", "--output", metavar="FILE", help="write FILE (.svg, .png or .pdf); default: SVG on standard output")
    s.set_defaults(func=cmd_plot)
