"""`tables import`: the responses of a venue's public endpoints (saved, or
downloaded with --fetch) into dated table files of a user folder."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from ..errors import UsageError
from ..source.catalog import Catalog, parse_date
from . import common


def _params(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"--param {item!r}: expected NAME=VALUE")
        out.append((name, value))
    return out


def _retrieved(text: str | None) -> dt.datetime | None:
    from ..run.snapshot import parse_as_of

    if text is None:
        return None
    try:
        return parse_as_of(text)
    except ValueError:
        raise UsageError(f"--retrieved: expected an ISO 8601 date or date-time, got {text!r}") from None


def cmd_import(args: argparse.Namespace) -> int:
    from ..ingest import table_mapping
    from ..tools.table_import import fetched_payloads, import_tables, output_root, saved_payloads, write_tables

    if bool(args.payloads) == bool(args.fetch):
        raise UsageError("give the saved responses (PAYLOAD ...) or --fetch ENDPOINT, not both")
    valid_from = parse_date(args.valid_from, "--valid-from")
    if not 0 < args.timeout <= 600:
        raise UsageError(f"--timeout: expected seconds between 0 and 600, got {args.timeout:g}")
    folders = common.rule_folders(args)
    root = output_root(Path(args.output) if args.output else None, folders)
    catalog = Catalog(folders, exchange_dirs=[root / "exchanges"])
    mapping = table_mapping(catalog, args.venue)
    params = _params(args.param or [])
    if args.fetch:
        if args.retrieved:
            raise UsageError("--retrieved is for saved responses; a download is dated when it is made")
        payloads, retrievals = fetched_payloads(mapping, args.fetch, params, args.timeout, Path(args.save) if args.save else None)
    else:
        if args.save:
            raise UsageError("--save keeps downloaded responses: it goes with --fetch")
        payloads, retrievals = saved_payloads(mapping, args.payloads, params, _retrieved(args.retrieved))
    versions = import_tables(catalog, mapping, payloads, retrievals, valid_from, root, args.table, args.status, args.replace)
    write_tables(versions)
    rules = root / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for v in versions:
        imported = ", ".join(f"{k} ({n} tiers)" for k, n in v.imported.items())
        carried = "".join(f"; {len(keys)} key(s) carried over from {v.table}@{day}" for day, keys in v.carried)
        print(f"wrote {v.path}: {v.table}@{v.valid_from}, imported {imported}{carried}")
        for note in v.notes:
            print(f"marginspec: note: {note}", file=sys.stderr)
    if not any(r.resolve() == rules.resolve() for r in folders):
        print(f"the rule sets use them with: marginspec --rules {rules} ... (from {valid_from} on)")
    return common.EXIT_OK


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    group = sub.add_parser("tables", parents=[parent], help="dated tables: import them from a venue's public endpoints",
                           description="Dated tables (exchanges/<venue>/tables/<name>/<valid_from>.yaml) from the venues' own answers.")
    tables = group.add_subparsers(dest="tables_command", required=True, metavar="COMMAND")
    s = tables.add_parser("import", parents=[parent], help="write table versions from responses of a venue's public endpoints",
                          description="Turn saved responses of a venue's public endpoints (or --fetch: downloaded now) into table versions "
                                      "valid from --valid-from, through the venue's payload mapping (its `tables` section). Each table's "
                                      "version takes its bound and columns from the version in force on that date; keys the responses do "
                                      "not give are carried over from it (listed under carried_over), or left out with --replace; a version "
                                      "of the same date is merged into. Written to DIR/exchanges/<venue>/tables/<name>/<DATE>.yaml, whole "
                                      "or not at all; DIR/rules is the folder to give to --rules. Exit 3 on a bad payload (nothing is written).")
    s.add_argument("venue", metavar="VENUE", help="a venue with a payload mapping that has tables (exchanges/<venue>/payloads/*.yaml)")
    s.add_argument("payloads", metavar="PAYLOAD", nargs="*", help="saved responses (JSON); '-' reads one from standard input")
    s.add_argument("--valid-from", required=True, metavar="DATE", help="the date the tables took effect (the new versions' valid_from)")
    s.add_argument("--table", metavar="NAME", help="only this table (its name, venue/name, or the mapping's target name)")
    s.add_argument("-o", "--output", metavar="DIR", help="write under DIR/exchanges/ (default: the folder of the --rules folder, else the current folder)")
    s.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a query parameter of the request the responses answer (the endpoint's `params` in the mapping): the responses "
                        "do not repeat them; with --fetch, sent, and given several times, one request per value")
    s.add_argument("--fetch", action="append", metavar="ENDPOINT",
                   help="download this endpoint of the mapping (one marked `public`) over https; repeatable")
    s.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS", help="per request, with --fetch (default 20)")
    s.add_argument("--save", metavar="DIR", help="with --fetch, keep each downloaded response as a file in DIR")
    s.add_argument("--retrieved", metavar="TIME", help="when the saved responses were retrieved (default: each file's modification time)")
    s.add_argument("--status", choices=["real", "illustrative"], default="real",
                   help="real (default): the venue's figures; illustrative, for a documentation sample")
    s.add_argument("--replace", action="store_true", help="the new versions hold the imported keys only (nothing carried over)")
    s.set_defaults(func=cmd_import)
