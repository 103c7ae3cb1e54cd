"""`list`, `show` and `schema`: what rule sets there are and what they say."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from ..errors import UsageError
from ..run.rules import Rules
from ..source.catalog import Catalog
from . import common


def _tables(cat: Catalog, rid: str) -> list[dict[str, Any]]:
    """The dated tables a rule set uses, each with its versions, their days in force and their status."""
    out = []
    for name, tid in cat.tables_of(rid):
        spans = [{"valid_from": s.entry.valid_from, "until": s.until, "status": s.status, "rows": s.rows, "file": s.entry.display}
                 for s in cat.table_spans(tid)]
        out.append({"name": name, "table": tid, "versions": spans})
    return out


def _versions(rows: list[tuple[str, str | None, str]], today: dt.date) -> list[dict[str, Any]]:
    """Each version with the first day it is no longer in force (its own valid_to, else the next version's
    valid_from; None while open-ended), its title, and whether it is in force today."""
    out = []
    for i, (start, end, title) in enumerate(rows):
        until = end or (rows[i + 1][0] if i + 1 < len(rows) else None)
        live = dt.date.fromisoformat(start) <= today and (until is None or today < dt.date.fromisoformat(until))
        out.append({"valid_from": start, "valid_to": until, "title": title, "in_force_today": live})
    return out


def cmd_list(args: argparse.Namespace) -> int:
    cat = common.catalog(args)
    listing = cat.listing()
    today = common.today()
    entries = []
    for rid, rows in listing:
        venue, mode = rid.split("/")
        v = cat.venues.get(venue)
        spec = v.modes.get(mode, {}) if v else {}
        entries.append({"ruleset": rid, "venue": v.name if v else venue, "title": spec.get("title", rows[-1][2]),
                        "aliases": list(spec.get("aliases", [])), "versions": _versions(rows, today), "tables": _tables(cat, rid)})
    if args.json:
        print(json.dumps(entries, indent=2))
        return common.EXIT_OK
    for entry in entries:
        aliases = ", ".join(entry["aliases"])
        print(f"{entry['ruleset']}  {entry['title']}" + (f"  (also: {aliases})" if aliases else ""))
        for ver in entry["versions"]:
            print(f"  @{ver['valid_from']}  valid {ver['valid_from']} .. {ver['valid_to'] or 'open'}" + ("  <- in force today" if ver["in_force_today"] else ""))
        if entry["tables"]:
            print("  tables (the version in force on the evaluation date is used):")
        for t in entry["tables"]:
            print(f"    {t['name']} = {t['table']}")
            for tv in t["versions"]:
                print(f"      @{tv['valid_from']}  .. {tv['until'] or 'open':10}  {tv['status']}")
    return common.EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from ..report.text import show

    rs = common.catalog(args).load(args.ruleset, common.date_option(args, common.today()))
    if args.json:
        print(json.dumps({s: {k: v.model_dump(exclude_none=True) for k, v in rs.section(s).items()} for s in ("parameters", "functions", "quantities", "thresholds")}
                         | {"ruleset": rs.ref, "documents": {k: d.model_dump(exclude_none=True) for k, d in rs.documents.items()}}, indent=2))
    else:
        print(show(rs))
    return common.EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from ..source.validation import schema

    if args.write or args.annotate:
        return _write_schemas(args)
    if not args.kind:
        raise UsageError("give a KIND (rule-file, table, cases, venue, payload-mapping, snapshot, columns), or --write DIR")
    if args.kind == "columns":
        from .batch import columns_schema

        if not args.ruleset:
            raise UsageError("schema columns needs a RULESET, e.g. marginspec schema columns venue/mode")
        print(columns_schema(Rules(common.catalog(args).load(args.ruleset, common.date_option(args, common.today()))), args.json))
    elif args.kind == "snapshot":
        if not args.ruleset:
            raise UsageError("schema snapshot needs a RULESET, e.g. marginspec schema snapshot venue/mode")
        catalog = common.catalog(args)
        rules = Rules(catalog.load(args.ruleset, common.date_option(args, common.today())))
        out = rules.snapshot_schema()
        if args.payload_paths:
            from ..ingest import snapshot_mapping
            from ..ingest.schema import with_payload_paths

            out = with_payload_paths(out, snapshot_mapping(catalog, rules.ruleset.venue), rules.ruleset)
        print(json.dumps(out, indent=2))
    else:
        print(json.dumps(schema(args.kind), indent=2))
    return common.EXIT_OK


def _write_schemas(args: argparse.Namespace) -> int:
    """--write DIR: the schemas shipped with the package into DIR; --annotate FOLDER: the editor's link to them at
    the top of every marginspec file below FOLDER."""
    from pathlib import Path

    from ..source.schema_links import annotate, write_schemas

    if not args.write or args.kind:
        raise UsageError("schema --write DIR [--annotate FOLDER ...] takes no KIND: it writes the schema of every file kind")
    written = write_schemas(Path(args.write))
    print(f"wrote {len(written)} schemas to {args.write}: {', '.join(p.name for p in written)}")
    for folder in args.annotate or []:
        changed = annotate(Path(folder), Path(args.write))
        print(f"{folder}: linked {len(changed)} file(s) to them" + (f" ({', '.join(str(p) for p in changed[:5])}{', ...' if len(changed) > 5 else ''})" if changed else ""))
    if not args.annotate:
        print("link a file to its schema with a first line such as: # yaml-language-server: $schema=<path to>/rule-file.v2.json "
              "(or run again with --annotate FOLDER)")
    return common.EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from ..ir.compiler import compile_plan
    from ..ir.listing import plan_data, plan_text

    plan = compile_plan(common.catalog(args).load(args.ruleset, common.date_option(args, common.today())))
    print(json.dumps(plan_data(plan), indent=2) if args.json else "\n".join(plan_text(plan)))
    return common.EXIT_OK


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("list", parents=[parent], help="venues, modes and versions with their valid dates")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", parents=[parent], help="formulas, parameters, thresholds and sources of one rule set")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("--at", metavar="DATE", help="choose the version in force on DATE (default: today)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("plan", parents=[parent], help="the compiled plan: steps on axes in order, what each computes and reads",
                       description="Print the plan a rule set compiles to: its axes, the inputs and indexes a snapshot provides, "
                       "its tables, and every step in evaluation order with its shape, what it computes, what it reads and the "
                       "entry whose formula made it. Every backend (numpy, plain Python, exact) evaluates this plan.")
    s.add_argument("ruleset", metavar="RULESET")
    s.add_argument("--at", metavar="DATE", help="choose the version in force on DATE (default: today)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("schema", parents=[parent], help="print a JSON Schema, or write them all for an editor (--write DIR)",
                       description="Print the JSON Schema of a file kind, of a rule set's snapshots, or the Arrow layout of a rule "
                       "set's accounts and results files (columns). --write DIR writes the schema "
                       "of every file kind into DIR; --annotate FOLDER (with --write) puts a first line '# yaml-language-server: "
                       "$schema=...' into every marginspec file below FOLDER, so that editors with the YAML language server "
                       "complete and check them as they are typed.")
    s.add_argument("kind", nargs="?", choices=["rule-file", "table", "cases", "venue", "payload-mapping", "snapshot", "columns"])
    s.add_argument("ruleset", nargs="?", metavar="RULESET",
                   help="for `schema snapshot` and `schema columns` (the Arrow layout of accounts and results files)")
    s.add_argument("--json", action="store_true", help="for `schema columns`: the fields as JSON")
    s.add_argument("--at", metavar="DATE")
    s.add_argument("--payload-paths", action="store_true",
                   help="for `schema snapshot`: add where each field comes from in the venue's payloads (x-payload-path)")
    s.add_argument("--write", metavar="DIR", help="write the schema of every file kind into DIR")
    s.add_argument("--annotate", metavar="FOLDER", action="append",
                   help="with --write: link every marginspec YAML file below FOLDER to the schemas in DIR (a first comment line); repeatable")
    s.set_defaults(func=cmd_schema)
