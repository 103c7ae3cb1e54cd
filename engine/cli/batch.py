"""`batch`, `sweep` and `schema columns`: many accounts from a columnar file
(Parquet or Arrow IPC, one row per account; see run/columnar.py) through one
rule set, streamed block by block into a results file, on this machine or on a
Dask cluster."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..api import Rules
from ..errors import UsageError
from ..run.batch import BLOCK_ACCOUNTS
from ..run.kernel import BACKENDS
from . import common


def _rules(args: argparse.Namespace) -> Rules:
    """The version pinned in RULESET, else the one in force on --at, else today (stated on standard error)."""
    at = common.date_option(args, common.today())
    return Rules(common.catalog(args).load(args.ruleset, at), (args.ruleset, at, common.rule_folders(args)))


def _select(args: argparse.Namespace) -> list[str] | None:
    if not args.select:
        return None
    return [n.strip() for item in args.select for n in item.split(",") if n.strip()]


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Any]:
    """A progress bar on standard error when it is a terminal (tqdm), nothing in a pipe or a log file."""
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=total, unit=" accounts", unit_scale=True, desc=label, file=sys.__stderr__, dynamic_ncols=True)
        except ImportError:
            bar = None

    class Update:
        def __call__(self, k: int) -> None:
            if bar is not None:
                bar.update(k)

    try:
        yield Update()
    finally:
        if bar is not None:
            bar.close()


def _metadata(rules: Rules, selected: list[str] | None, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """What the results file says about how it was made (in its schema metadata, key "marginspec")."""
    from ..version import __version__

    rs = rules.ruleset
    receipt = {"ruleset": rs.ref, "content_sha256": rs.content_sha256, "engine": __version__,
               "tables": {name: f"{v.table}@{v.valid_from}" for name, v in rs.table_versions.items()},
               "outputs": selected or list(rules.kernel.plan.outputs), **(extra or {})}
    return {"marginspec": json.dumps(receipt, default=str)}


def cmd_batch(args: argparse.Namespace) -> int:
    from ..run.columnar import Writer, count_rows, evaluate_stream, iter_blocks

    rules = _rules(args)
    selected = _select(args)
    if args.dask:
        from ..dask import run_file

        started = time.perf_counter()
        try:
            n = run_file(rules, Path(args.accounts), Path(args.output), selected, args.dask, args.block, args.backend,
                         _metadata(rules, selected, {"dask": args.dask, "backend": args.backend}))
        except BaseException:
            Path(args.output).unlink(missing_ok=True)  # no partial result
            raise
        print(f"marginspec: {n:,} accounts through {rules.ruleset.ref} on Dask ({args.dask}) in {time.perf_counter() - started:.1f} s "
              f"-> {args.output}", file=sys.stderr)
        return common.EXIT_OK
    kernel = rules.selected_kernel(selected, args.backend)
    source, output = Path(args.accounts), Path(args.output)
    if output.resolve() == source.resolve():
        raise UsageError("the output file must not be the accounts file")
    writer = Writer(output, None, _metadata(rules, selected, {"backend": kernel.backend}))
    done = 0
    started = time.perf_counter()
    try:
        with progress(count_rows(source), rules.ruleset.ref) as advance:
            for n, table in evaluate_stream(kernel, iter_blocks(source, args.block), args.block):
                writer.write(table)
                done += n
                advance(n)
    except BaseException:
        writer.close()
        output.unlink(missing_ok=True)  # no partial result
        raise
    writer.close()
    seconds = time.perf_counter() - started
    print(f"marginspec: {done:,} accounts through {rules.ruleset.ref} ({kernel.backend} kernel) in {seconds:.1f} s "
          f"({done / seconds if seconds else 0:,.0f} accounts/s) -> {output}", file=sys.stderr)
    return common.EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..run.sweep import parse_grid, parse_vary, sweep_file

    rules = _rules(args)
    varied = [parse_vary(rules.kernel.plan, v) for v in args.vary]
    grid = parse_grid(args.grid)
    source, output = Path(args.accounts), Path(args.output)
    if output.resolve() == source.resolve():
        raise UsageError("the output file must not be the accounts file")
    started = time.perf_counter()
    try:
        with progress(None, f"{rules.ruleset.ref} sweep") as advance:
            metadata = _metadata(rules, _select(args), {"vary": args.vary, "grid": [float(g) for g in grid]})
            if args.dask:
                from ..dask import run_file

                n = run_file(rules, source, output, _select(args), args.dask, args.block, args.backend, metadata, sweep=(varied, grid))
            else:
                n = sweep_file(rules, source, output, varied, grid, _select(args), args.block, advance, args.backend, metadata)
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    print(f"marginspec: {n:,} accounts x {len(grid)} moves through {rules.ruleset.ref} in {time.perf_counter() - started:.1f} s "
          f"-> {output}", file=sys.stderr)
    return common.EXIT_OK


def columns_schema(rules: Rules, as_json: bool) -> str:
    """The Arrow schema of the rule set's accounts file and of its results file."""
    from ..run.columnar import input_schema, output_schema

    plan = rules.kernel.plan
    accounts, results = input_schema(plan), output_schema(plan)
    if as_json:
        def fields(schema: Any) -> list[dict[str, Any]]:
            return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]

        return json.dumps({"ruleset": rules.ruleset.ref, "accounts": fields(accounts), "results": fields(results)}, indent=2)
    defaults = {i.field: i.default for i in plan.inputs if i.default is not None}
    choices = {i.field: i.codes for i in plan.inputs if i.codes}

    def described(schema: Any) -> list[str]:
        lines = []
        for f in schema:
            t = f.type
            if hasattr(t, "value_type") and hasattr(t.value_type, "num_fields"):  # a collection: a list of structs
                lines.append(f"{f.name}: list of")
                for k in range(t.value_type.num_fields):
                    sub = t.value_type.field(k)
                    lines.append(f"    {sub.name}: {sub.type}" + _note(sub, defaults, choices))
            else:
                lines.append(f"{f.name}: {t}" + _note(f, defaults, choices))
        return lines

    return "\n".join([f"accounts file for {rules.ruleset.ref}: one row per account (Parquet or Arrow IPC)", ""]
                     + described(accounts)
                     + ["", "results file (marginspec batch; --select keeps only some outputs)", ""] + described(results))


def _note(field: Any, defaults: dict[str, Any], choices: dict[str, tuple[str, ...]]) -> str:
    one_of = f"one of {', '.join(choices[field.name])}; " if field.name in choices else ""
    if field.name in defaults:
        return f"  ({one_of}may be null or left out: default {defaults[field.name]})"
    return f"  ({one_of}required)" if not field.nullable else (f"  ({one_of[:-2]})" if one_of else "")


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("batch", parents=[parent], help="evaluate every account of a Parquet/Arrow file into a results file, streamed",
                       description="Evaluate the accounts of a Parquet or Arrow IPC file (one row per account; "
                       "`marginspec schema columns RULESET` gives the layout) block by block into a results file of the same "
                       "layout: memory stays bounded by the block size, whatever the number of accounts.")
    s.add_argument("ruleset", metavar="RULESET", help="venue/mode@version, or venue/mode with --at (default: in force today)")
    s.add_argument("accounts", metavar="ACCOUNTS", help="accounts file (.parquet or .arrow)")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="results file (.parquet or .arrow)")
    s.add_argument("--select", action="append", metavar="NAMES",
                   help="compute only these quantities and thresholds (comma-separated; repeatable); default: all")
    s.add_argument("--at", metavar="DATE", help="choose the version in force on DATE (default: today)")
    s.add_argument("--block", type=int, default=BLOCK_ACCOUNTS, metavar="N", help=f"accounts per block (default {BLOCK_ACCOUNTS})")
    s.add_argument("--dask", metavar="SCHEDULER", help="run on a Dask cluster (scheduler address, e.g. tcp://host:8786)")
    s.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="fused: the numba kernel (fastest; compiles for seconds once per process); numpy: the vectorised "
                   "kernel; auto (default): fused where numba is installed")
    s.set_defaults(func=cmd_batch)

    s = sub.add_parser("sweep", parents=[parent], help="evaluate every account under a grid of price moves (a scenario sweep)",
                       description="Shock inputs of every account by each move of a grid (x -> x * (1 + move)) and evaluate; "
                       "the results file has one row per account and move.")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("accounts", metavar="ACCOUNTS", help="accounts file (.parquet or .arrow)")
    s.add_argument("--vary", action="append", required=True, metavar="INPUT",
                   help="the input moved, e.g. 'usd_price[BTC]' (the BTC row of usd_price) or 'mark_price' (every row); repeatable")
    s.add_argument("--grid", required=True, metavar="FROM:TO:COUNT", help="the moves, e.g. -0.3:0.3:61 (-30%% to +30%%, 61 points)")
    s.add_argument("-o", "--output", required=True, metavar="FILE")
    s.add_argument("--select", action="append", metavar="NAMES", help="compute only these (comma-separated; repeatable)")
    s.add_argument("--at", metavar="DATE")
    s.add_argument("--block", type=int, default=BLOCK_ACCOUNTS, metavar="N")
    s.add_argument("--dask", metavar="SCHEDULER", help="run on a Dask cluster")
    s.add_argument("--backend", choices=BACKENDS, default="auto", help="as for batch")
    # `--grid -0.3:0.3:61` reads as the option's value, as a negative number would (argparse's own rule for them)
    s._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d*\.?\d*:")
    s.set_defaults(func=cmd_sweep)
