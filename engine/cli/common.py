"""What every command shares: exit codes, the rules folders, dates and JSON output."""

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..source.catalog import Catalog, parse_date

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


def rule_folders(args: argparse.Namespace) -> list[Path]:
    """--rules given before the command and after it, in that order."""
    return [Path(p) for p in (getattr(args, "rules_global", None) or []) + (getattr(args, "rules", None) or [])]


def catalog(args: argparse.Namespace, extra: list[Path] | None = None) -> Catalog:
    return Catalog(rule_folders(args) + (extra or []))


def snapshot_path(arg: str) -> Path:
    """A SNAPSHOT argument: `-` (standard input) or a file that exists. A missing file is a usage error that
    says so, not an invalid snapshot."""
    path = Path(arg)
    if arg != "-" and not path.exists():
        raise UsageError(f"{arg}: no such file")
    if arg != "-" and path.is_dir():
        raise UsageError(f"{arg}: is a folder, not a snapshot file")
    return path


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def date_option(args: argparse.Namespace, default: dt.date | None = None) -> dt.date | None:
    """--at as a date, else `default`."""
    return parse_date(args.at, "--at") if getattr(args, "at", None) else default


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, so that they may come before or after the command's name."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--rules", action="append", metavar="DIR",
                   help="add a rules folder (<DIR>/<venue>/<mode>/<valid_from>.yaml); repeatable")
    return p
