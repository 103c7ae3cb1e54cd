"""The on-disk cache: generated kernels, and rule files already parsed and
checked against their schema (keyed by the hash of the file's bytes), so that
a repeated `marginspec evaluate` neither re-parses YAML nor imports sympy.

The folder is $MARGINSPEC_CACHE_DIR, else $XDG_CACHE_HOME/marginspec, else
~/.cache/marginspec; when it cannot be written, a temporary folder is used.
Like __pycache__, it holds code that will be loaded: it must be the user's own folder."""

from __future__ import annotations

import hashlib
import os
import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from .version import __version__

CACHE_ENV = "MARGINSPEC_CACHE_DIR"


@cache
def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marginspec"
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
        return base
    except OSError:
        return Path(tempfile.mkdtemp(prefix="marginspec-cache-"))


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@cache
def engine_fingerprint() -> bytes:
    """Hash of the engine's own source and schemas: any change to the code invalidates the cache."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(__version__.encode())
    for path in sorted(list(here.rglob("*.py")) + list(here.rglob("*.json"))):
        h.update(str(path.relative_to(here)).encode() + b"\0" + path.read_bytes())
    return h.digest()


def key_of(*parts: str | bytes) -> str:
    h = hashlib.sha256(engine_fingerprint())
    for p in parts:
        h.update(b"\0" + (p if isinstance(p, bytes) else p.encode()))
    return h.hexdigest()[:40]


def load_json(name: str) -> Any | None:
    """A cached JSON value, or None when absent or unreadable (a stale or foreign entry is ignored)."""
    try:
        return json.loads((cache_dir() / name).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def store_json(name: str, value: Any) -> None:
    try:
        write_atomic(cache_dir() / name, json.dumps(value).encode("utf-8"))
    except OSError:
        pass  # a cache that cannot be written only costs time
