"""The `marginspec` command. Exit codes: 0 ok; 1 a check or case failed;
2 usage error; 3 invalid input (rule file, snapshot or payload); 4 internal
error (a bug). User errors print a message, never a traceback.

Each module of this package registers its commands; this one assembles them
and maps errors to exit codes. Everything written to standard output and
error passes through report.text.printable: text from rule files and
snapshots reaches the terminal with its control characters escaped."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any, TextIO

from ..cache import CacheWarning
from ..errors import MarginspecError, RuleFileError, RuleFileErrors, UsageError
from ..report.text import printable
from ..source.catalog import RULES_ENV
from ..version import __version__
from . import analysis, batch, checking, common, evaluate, payloads, plot, rules, tables, whatif

COMMAND_MODULES = (rules, evaluate, checking, analysis, whatif, plot, payloads, tables, batch)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="marginspec",
        description="Crypto venues' margin rules as versioned, cited data: list, show, evaluate and check them.",
        epilog=f"RULESET is venue/mode (the version in force on the date) or venue/mode@YYYY-MM-DD. "
        f"Extra rule folders: --rules DIR (before or after the command) or ${RULES_ENV}. "
        "Exit codes: 0 ok, 1 check/case failed, 2 usage, 3 invalid input, 4 internal error.",
    )
    p.add_argument("--version", action="version", version=f"marginspec {__version__}")
    p.add_argument("--rules", dest="rules_global", action="append", metavar="DIR",
                   help="add a rules folder (<DIR>/<venue>/<mode>/<valid_from>.yaml); repeatable")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = common.common_options()
    for module in COMMAND_MODULES:
        module.register(sub, parent)
    return p


class _Printable:
    """A text stream whose writes have their control characters escaped (see report.text.printable)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    print(f"marginspec: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Printable(out), _Printable(err)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", CacheWarning)
            warnings.showwarning = _show_warning
            return _run(argv)
    finally:
        sys.stdout, sys.stderr = out, err


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"marginspec: error: {exc}", file=sys.stderr)
        return common.EXIT_USAGE
    except (RuleFileError, RuleFileErrors) as exc:
        print(f"marginspec: invalid rule file:\n{exc}", file=sys.stderr)
        return common.EXIT_INVALID
    except MarginspecError as exc:
        print(f"marginspec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return common.EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug in marginspec, not in the input: say so, and how to see the traceback
        if os.environ.get("MARGINSPEC_DEBUG"):
            raise
        print(f"marginspec: internal error ({type(exc).__name__}: {exc}). This is a bug in marginspec, not in your input; "
              "rerun with MARGINSPEC_DEBUG=1 to see the traceback, and please report it.", file=sys.stderr)
        return common.EXIT_INTERNAL
