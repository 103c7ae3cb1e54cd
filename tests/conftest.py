"""Shared fixtures: an isolated kernel cache, the demo rule set, and a factory
for small rule files written to a temporary rules folder."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_RULES = FIXTURES / "rules"
DEMO_SNAPSHOT = FIXTURES / "exchanges" / "demo" / "snap1.json"


# A cache private to this test run, set before any test module builds a catalog at import time.
os.environ["MARGINSPEC_CACHE_DIR"] = tempfile.mkdtemp(prefix="marginspec-test-cache-")
os.environ.pop("MARGINSPEC_RULES", None)


@pytest.fixture
def demo_snapshot() -> dict[str, Any]:
    return json.loads(DEMO_SNAPSHOT.read_text())


BASE = {
    "schema": "marginspec/rule-file/v2",
    "ruleset": "t/m",
    "valid_from": "2025-01-01",
    "title": "test rule set",
    "documents": {"d": {"url": "https://example.org/d", "title": "doc"}},
    "axes": {
        "currency": {"collection": "currencies", "key": "currency", "description": "coins"},
        "position": {"collection": "positions", "key": "inst_id", "description": "positions"},
    },
    "inputs": {
        "balance": {"axis": "currency", "type": "number", "unit": "coin", "description": "balance", "default": 0},
        "price": {"axis": "currency", "type": "number", "unit": "USD/coin", "description": "price", "default": 1},
        "settle": {"axis": "position", "type": "ref", "to": "currency", "as_unit": "settle", "description": "settle coin"},
        "size": {"axis": "position", "type": "number", "unit": "contract", "description": "size", "default": 0},
        "ct_val": {"axis": "position", "type": "number", "unit": "settle/contract", "description": "contract value", "default": 1},
        "mode": {"axis": "position", "type": "enum", "values": ["cross", "isolated"], "default": "cross", "description": "mode"},
    },
}


@pytest.fixture
def make_rules(tmp_path: Path) -> Callable[..., Path]:
    """Write a rule file built from BASE plus overrides; return the rules root."""

    def make(text: str | None = None, valid_from: str = "2025-01-01", ruleset: str = "t/m", **sections: Any) -> Path:
        root = tmp_path / "rules"
        folder = root / ruleset
        folder.mkdir(parents=True, exist_ok=True)
        if text is None:
            doc = json.loads(json.dumps(BASE))
            doc["valid_from"] = valid_from
            doc["ruleset"] = ruleset
            for key, value in sections.items():
                if isinstance(value, dict) and isinstance(doc.get(key), dict):
                    doc[key].update(value)
                else:
                    doc[key] = value
            text = yaml.safe_dump(doc, sort_keys=False)
        (folder / f"{valid_from}.yaml").write_text(textwrap.dedent(text))
        return root

    return make


def quantity(formula: str, axis: str = "account", unit: str = "USD") -> dict[str, Any]:
    return {"axis": axis, "unit": unit, "formula": formula, "assumption": "test"}


@dataclass
class Ran:
    """What a CLI run gave: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None) -> Ran:
    """`marginspec ARGS` in this process (much faster than a subprocess: no start-up, no import, kernels already
    loaded); the subprocess is kept for what only a fresh process shows (imports, the real exit path)."""
    from marginspec.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    old_stdin = sys.stdin
    try:
        if cwd is not None:
            os.chdir(cwd)
        if stdin is not None:
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(here)
        sys.stdin = old_stdin
    ran = Ran(code, out.getvalue(), err.getvalue())
    assert "Traceback" not in ran.stdout + ran.stderr
    return ran


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fuzz suite's counts per class of input (tests/fuzz), when it ran."""
    fuzzing = sys.modules.get("fuzzing")
    if fuzzing is not None and fuzzing.TALLY.counts:
        fuzzing.report(terminalreporter)
