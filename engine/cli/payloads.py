"""`import` and `reconcile`: a venue's REST responses (payloads) in, a snapshot
out, and the venue's reported numbers held against the engine's."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import SnapshotError, UsageError
from ..run.snapshot import parse_as_of
from . import common


def _as_of(args: argparse.Namespace) -> Any:
    if not getattr(args, "as_of", None):
        return None
    try:
        return parse_as_of(args.as_of)
    except ValueError:
        raise UsageError(f"--as-of: expected an ISO 8601 date or date-time, got {args.as_of!r}") from None


def from_payloads(args: argparse.Namespace, venue: str, files: list[str], mode: str | None = None, ruleset: str | None = None,
                  quiet: bool = False) -> Any:
    """(imported, rules, snapshot) for the command's payload files; payload problems are PayloadError (exit 3)."""
    from ..ingest import import_snapshot, load_payloads, payload_sources, snapshot_mapping
    from ..run.rules import Rules

    catalog = common.catalog(args)
    mapping = snapshot_mapping(catalog, venue)
    loaded = load_payloads(mapping, payload_sources(files))
    imported = import_snapshot(mapping, loaded, catalog, mode, ruleset, _as_of(args), common.date_option(args))
    rules = Rules(imported.ruleset)
    try:
        snap = rules.snapshot(imported.snapshot, "imported snapshot")
    except SnapshotError as exc:
        raise imported.payload_error(exc) from None
    for note in [] if quiet else imported.notes:
        print(f"marginspec: note: {note}", file=sys.stderr)
    return imported, rules, snap


def write_output(text: str, target: str | None) -> None:
    """Print, or write `target` whole (a temporary file renamed into place: never half a file)."""
    if not target:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(target)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None


def cmd_import(args: argparse.Namespace) -> int:
    imported, _rules, _snap = from_payloads(args, args.venue, args.payloads, mode=args.mode)
    write_output(json.dumps(imported.snapshot, indent=2), args.output)
    if args.output:
        print(f"marginspec: wrote {args.output}: a snapshot for {imported.ruleset.ref} ({imported.mode}, {imported.mode_evidence})", file=sys.stderr)
    return common.EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    from ..ingest import reported_values
    from ..report.reconcile import render_html, render_text
    from ..tools.reconcile import reconcile

    venue = args.ruleset.split("/")[0]
    imported, rules, snap = from_payloads(args, venue, args.payloads, ruleset=args.ruleset, quiet=True)
    result = rules.evaluate(snap, common.date_option(args))
    rec = reconcile(imported, reported_values(imported.mapping, imported.payloads), result, snap)
    if args.json:
        text = json.dumps(common.finite_json(rec.to_json()), indent=2)
    elif args.format == "html":
        text = render_html(rec)
    else:
        text = render_text(rec)
    write_output(text, args.output)
    return common.EXIT_OK if rec.agrees else common.EXIT_FAILED


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    s = sub.add_parser("import", parents=[parent], help="a snapshot from a venue's REST responses (payloads), through its payload mapping",
                       description="Read a venue's saved REST responses (JSON) and write the snapshot they make for the account mode they say "
                                   "(or --mode), checked against the rule set in force. Exit 3 when a payload is wrong (nothing is written).")
    s.add_argument("venue", metavar="VENUE", help="a venue with a payload mapping (exchanges/<venue>/payloads/*.yaml)")
    s.add_argument("payloads", metavar="PAYLOAD", nargs="+", help="payload files (JSON); '-' reads one from standard input")
    s.add_argument("-o", "--output", metavar="FILE", help="write the snapshot here (default: standard output)")
    s.add_argument("--mode", metavar="MODE", help="the account mode, when no payload says it (or to check that they say this one)")
    s.add_argument("--as-of", metavar="TIME", help="the snapshot's time (ISO 8601), when the payloads carry none or to override them")
    s.add_argument("--at", metavar="DATE", help="choose the rule-set version in force on DATE (default: the snapshot's date)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("reconcile", parents=[parent], help="hold every value the venue reports in the payloads against the engine's (exit 1 if one differs)",
                       description="Import the payloads, evaluate, and compare each reported value the payload mapping pairs with a quantity, "
                                   "with the mapping's tolerance. Exit 0 when everything compared agrees, 1 when something differs (or nothing "
                                   "could be compared), 3 on a bad payload.")
    s.add_argument("ruleset", metavar="RULESET", help="venue/mode or venue/mode@YYYY-MM-DD")
    s.add_argument("payloads", metavar="PAYLOAD", nargs="+", help="payload files (JSON)")
    s.add_argument("--json", action="store_true", help="the lines, counts and derivations as JSON")
    s.add_argument("--format", choices=["text", "html"], default="text", help="text (default) or one self-contained HTML page in the audit's style")
    s.add_argument("-o", "--output", metavar="FILE", help="write the report here (default: standard output)")
    s.add_argument("--as-of", metavar="TIME", help="the snapshot's time (ISO 8601), when the payloads carry none")
    s.add_argument("--at", metavar="DATE", help="choose the rule-set version in force on DATE")
    s.set_defaults(func=cmd_reconcile)
