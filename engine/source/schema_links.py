"""The editor's link from a marginspec YAML file to its JSON Schema: a first line
`# yaml-language-server: $schema=<relative path>`, which the YAML language
server (VS Code's YAML extension, and editors built on it) reads to offer
completion, hover text and validation as the file is typed.

A file's kind is the one its `schema: marginspec/<kind>/vN` line declares;
the link is a path relative to the file, so it works offline and in any
checkout. `write_schemas` writes the schemas shipped with the package to a
folder (for rules folders outside this repository), and `annotate` puts or
updates the link in each file of a folder, the rest of the file untouched."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import UsageError
from .validation import SCHEMA_FILES, schema

LINK = re.compile(r"\A# yaml-language-server: \$schema=(\S+)[ \t]*\r?\n")
DECLARED = re.compile(r"^schema:[ \t]*['\"]?marginspec/([a-z-]+)/v[0-9]+['\"]?[ \t]*(?:#.*)?$", re.M)
MAX_BYTES = 2_000_000


def kind_of(text: str) -> str | None:
    """The file kind a marginspec YAML text declares (`rule-file`, `table`, ...), None for other files."""
    m = DECLARED.search(text)
    return m.group(1) if m and m.group(1) in SCHEMA_FILES else None


def link_target(path: Path, text: str) -> Path | None:
    """The schema file the text's link points at (resolved against the file's folder), None without a link."""
    m = LINK.match(text)
    return (path.parent / m.group(1)).resolve() if m else None


def link_line(path: Path, schema_dir: Path, kind: str) -> str:
    rel = Path(os.path.relpath(schema_dir.resolve() / SCHEMA_FILES[kind], path.resolve().parent)).as_posix()
    return f"# yaml-language-server: $schema={rel}\n"


def write_schemas(folder: Path) -> list[Path]:
    """Write the JSON Schema of every file kind, as shipped with the package, into `folder` (created)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for kind, name in SCHEMA_FILES.items():
            target = folder / name
            target.write_text(json.dumps(schema(kind), indent=1) + "\n", encoding="utf-8")
            out.append(target)
        return out
    except OSError as exc:
        raise UsageError(f"--write {folder}: cannot write ({exc.strerror})") from None


def marginspec_files(folder: Path) -> Iterator[tuple[Path, str, str]]:
    """(path, text, kind) of every marginspec YAML file below `folder`."""
    for path in sorted(folder.rglob("*.yaml")):
        if path.stat().st_size > MAX_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        kind = kind_of(text)
        if kind is not None:
            yield path, text, kind


def annotate(folder: Path, schema_dir: Path) -> list[Path]:
    """Put (or update) the link line at the top of every marginspec file below `folder`, pointing into
    `schema_dir`; return the files changed."""
    if not folder.is_dir():
        raise UsageError(f"--annotate {folder}: no such folder")
    changed = []
    for path, text, kind in marginspec_files(folder):
        body = LINK.sub("", text, count=1)
        new = link_line(path, schema_dir, kind) + body
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed
