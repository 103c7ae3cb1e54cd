"""Reading data files from strangers: snapshots and venue payloads, as JSON
(or YAML, read by yamlfile's safe loader), from a file or standard input.

Python's json module parses; this module refuses what it would accept
silently or fail on without a location: duplicate keys (json keeps the last),
NaN and Infinity, numbers too large for a double, integers of more digits
than any amount has, and nesting deeper than any payload needs. Each refusal
says where: line, column and the JSON path of the offending value.

The locating scan runs only on the error path: it walks the text's tokens
(strings, numbers, brackets) to find the first problem the parse reported,
so the message can point at it."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import json_path

MAX_DEPTH = 64
MAX_INT_DIGITS = 40  # 10^40 is beyond any amount, count or size a venue reports

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|NaN|-?Infinity|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[{}\[\]:,]|\S', re.S)


@dataclass(frozen=True)
class JsonProblem(Exception):
    """What is wrong and where: 1-based line and column, and the JSON path (e.g. `data[0].details[2].eq`)."""

    message: str
    line: int | None = None
    column: int | None = None
    path: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.line is not None else ""
        if self.path:
            where = f"{self.path} ({where})" if where else self.path
        return f"{where}: {self.message}" if where else self.message


class _Refused(Exception):
    """Raised inside the json hooks; the scan then finds the place."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused("duplicate", key)
        out[key] = value
    return out


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused("integer", text)
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("float", text)
    return value


def _constant(text: str) -> float:
    raise _Refused("constant", text)


def _scan(text: str, hit: Callable[[str, list[str | int], int], str | None]) -> JsonProblem | None:
    """Walk the tokens of `text` keeping the JSON path; `hit(token, path, depth)` returns a message at the
    first offending token. Used only to locate a problem the parser already found."""
    stack: list[tuple[str, set[str] | int]] = []  # ("obj", keys seen) or ("arr", next index)
    path: list[str | int] = []
    expect_key = False
    pending_key: str | None = None
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        line = text.count("\n", 0, m.start()) + 1
        column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1

        def problem(message: str, line: int = line, column: int = column) -> JsonProblem:
            return JsonProblem(message, line, column, json_path("", *path))

        if tok in "{[":
            if stack and stack[-1][0] == "arr":
                path.append(stack[-1][1])  # type: ignore[arg-type]
            message = hit(tok, path, len(stack) + 1)
            if message:
                return problem(message)
            stack.append(("obj", set()) if tok == "{" else ("arr", 0))
            expect_key = tok == "{"
            continue
        if tok in "}]":
            stack.pop()
            if path and stack:
                path.pop()
            expect_key = False
            continue
        if tok == ",":
            if stack and stack[-1][0] == "arr":
                stack[-1] = ("arr", stack[-1][1] + 1)  # type: ignore[operator]
            else:
                expect_key = True
            continue
        if tok == ":":
            continue
        if expect_key and tok.startswith('"'):
            key = json.loads(tok)
            seen = stack[-1][1]
            assert isinstance(seen, set)
            if key in seen:
                message = hit("duplicate:" + key, path, len(stack))
                if message:
                    path.append(key)
                    return problem(message)
            seen.add(key)
            pending_key = key
            path.append(key)
            expect_key = False
            continue
        in_array = bool(stack) and stack[-1][0] == "arr"
        if in_array:
            path.append(stack[-1][1])  # type: ignore[arg-type]
        message = hit(tok, path, len(stack))
        if message:
            return problem(message)
        if path and (in_array or pending_key is not None):
            path.pop()
        pending_key = None
    return None


def _locate(text: str, refused: _Refused) -> JsonProblem:
    if refused.kind == "duplicate":
        found = _scan(text, lambda tok, path, depth: f"duplicate key {refused.detail!r} (JSON would keep the last silently)"
                      if tok == "duplicate:" + refused.detail else None)
    elif refused.kind == "integer":
        found = _scan(text, lambda tok, path, depth: f"integer of {len(refused.detail.lstrip('-'))} digits is out of range "
                      f"(at most {MAX_INT_DIGITS})" if tok == refused.detail else None)
    elif refused.kind == "float":
        found = _scan(text, lambda tok, path, depth: f"number {tok} is out of range for a double" if tok == refused.detail else None)
    else:
        found = _scan(text, lambda tok, path, depth: f"{tok} is not a JSON number (NaN and Infinity are refused)"
                      if tok == refused.detail else None)
    return found or JsonProblem(f"refused value {refused.detail!r}")


def parse_json(text: str) -> Any:
    """Parse JSON text; raises JsonProblem with a location for anything refused or malformed."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except _Refused as refused:
        raise _locate(text, refused) from None
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"JSON syntax: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        found = _scan(text, lambda tok, path, depth: f"nested deeper than {MAX_DEPTH} levels" if depth > MAX_DEPTH else None)
        raise (found or JsonProblem(f"nested deeper than {MAX_DEPTH} levels")) from None
    except ValueError as exc:  # e.g. a lone surrogate that json decodes but cannot hold
        raise JsonProblem(f"cannot read JSON: {exc}") from None
    _walk(data, text)
    return data


def _walk(data: Any, text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH (json itself goes to about 1000) and text json decodes but
    Python cannot print (a lone surrogate such as \\ud800), with the place it happens."""
    bad: list[str] = []

    def visit(x: Any, d: int) -> None:
        if bad:
            return
        if d > MAX_DEPTH:
            bad.append("depth")
        elif isinstance(x, str):
            if any("\ud800" <= ch <= "\udfff" for ch in x):
                bad.append(x)
        elif isinstance(x, dict):
            for k, v in x.items():
                visit(k, d)
                visit(v, d + 1)
        elif isinstance(x, list):
            for v in x:
                visit(v, d + 1)

    visit(data, 0)
    if not bad:
        return
    if bad[0] == "depth":
        found = _scan(text, lambda tok, path, d: f"nested deeper than {MAX_DEPTH} levels" if d > MAX_DEPTH else None)
        raise found or JsonProblem(f"nested deeper than {MAX_DEPTH} levels")
    found = _scan(text, lambda tok, path, d: "text with a lone surrogate (not a character)"
                  if tok.startswith('"') and json.loads(tok) == bad[0] else None)
    raise found or JsonProblem("text with a lone surrogate (not a character)")


def read_data(source: str, max_bytes: int, max_objects: int | None = None) -> Any:
    """The data in a JSON or YAML file (by extension; `-` reads JSON from standard input), at most
    `max_bytes` (checked before reading) and, when given, at most `max_objects` `{` characters (checked before
    parsing: a file of more objects than its reader accepts is refused at the cost of reading it, not of
    building millions of dicts); raises JsonProblem, or RuleFileError for YAML."""
    from .yamlfile import parse_yaml

    if source == "-":
        raw = sys.stdin.buffer.read(max_bytes + 1)
    else:
        path = Path(source)
        try:
            if path.stat().st_size > max_bytes:
                raise JsonProblem(f"file is larger than {max_bytes} bytes")
            raw = path.read_bytes()
        except FileNotFoundError:
            raise JsonProblem("no such file") from None
        except IsADirectoryError:
            raise JsonProblem("is a folder, not a file") from None
        except OSError as exc:
            raise JsonProblem(f"cannot read file: {exc.strerror}") from None
    if len(raw) > max_bytes:
        raise JsonProblem(f"input is larger than {max_bytes} bytes")
    if max_objects is not None and raw.count(b"{") > max_objects:
        raise JsonProblem(f"holds more than {max_objects:,} objects ('{{' characters, counted before parsing)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"not UTF-8 text (byte {exc.start})") from None
    if source != "-" and Path(source).suffix.lower() in (".yaml", ".yml"):
        return parse_yaml(text, source).data
    return parse_json(text)
