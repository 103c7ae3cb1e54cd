"""Shared by the payload and reconcile tests: the bundled sample sets and small edits of JSON payloads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from marginspec.source.yamlfile import parse_yaml

from conftest import Ran, run_cli

ROOT = Path(__file__).parents[1]
SAMPLES = {venue: ROOT / "exchanges" / venue / "payloads" / "samples" for venue in ("okx", "gate")}


def sample_index(venue: str) -> dict[str, Any]:
    path = SAMPLES[venue] / "index.yaml"
    return parse_yaml(path.read_text(encoding="utf-8"), str(path)).data


def sample_sets() -> list[tuple[str, str, dict[str, Any]]]:
    """(venue, set name, set) for every sample set of every venue."""
    return [(venue, name, body) for venue in SAMPLES for name, body in sample_index(venue)["sets"].items()]


def as_of_option(body: dict[str, Any]) -> str | None:
    options = list(body.get("options", []))
    return options[options.index("--as-of") + 1] if "--as-of" in options else None


def set_path(data: Any, path: str, value: Any) -> None:
    """Set the value at a JSON path such as data[0].details[0].eq or [0].value (as reconcile reports them)."""
    parts = list(re.findall(r"\[(\d+)\]|\.?([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]", path))
    keys: list[Any] = [int(i) if i else (name or quoted) for i, name, quoted in parts]
    target = data
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value


def get_path(data: Any, path: str) -> Any:
    parts = re.findall(r"\[(\d+)\]|\.?([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]", path)
    for i, name, quoted in parts:
        data = data[int(i)] if i else data[name or quoted]
    return data


def copy_with(src: Path, dst: Path, edits: dict[str, Any]) -> Path:
    data = json.loads(src.read_text(encoding="utf-8"))
    for path, value in edits.items():
        set_path(data, path, value)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return dst


def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> Ran:
    return run_cli(*args, cwd=cwd, stdin=stdin)
