"""Reading venue payloads and telling which endpoint each one answers.

A payload is a REST response saved as JSON, from a stranger: it is read by
source/datafile (duplicate keys, NaN, huge numbers and deep nesting refused
with line, column and JSON path), checked for the venue's error envelope
({"code": "50011", "msg": ...} is an answer, not data), unwrapped (`data`), and
matched to an endpoint of the mapping by the fields its rows carry. Every
refusal names the file and the JSON path inside it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import json_path
from ..source.datafile import JsonProblem, parse_json, read_data
from .mapping import Endpoint, Mapping
from .paths import MISSING, FieldPath, Row, describe

MAX_PAYLOAD_BYTES = 50_000_000

Problem = tuple[str, str, str]  # (file, JSON path, message)


@dataclass
class Payload:
    """One response, matched to an endpoint: its data rows and when they were taken."""

    file: str
    endpoint: str
    data: Any
    rows: list[Row]
    sha256: str
    times: list[dt.datetime]
    params: dict[str, str] = field(default_factory=dict)  # the request's query parameters, where known


class UnreadablePayload(Exception):
    """A payload file that is not JSON marginspec accepts (the problem says where)."""

    def __init__(self, problem: Problem):
        super().__init__(problem[2])
        self.problem = problem


def data_digest(data: Any) -> str:
    """sha256 of a payload given as data (its canonical JSON)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_payload(source: str | Path) -> tuple[Any, str]:
    """(parsed JSON, sha256 of the file's bytes) of a payload file; raises UnreadablePayload."""
    name = str(source)
    try:
        data = read_data(name, MAX_PAYLOAD_BYTES)
    except JsonProblem as exc:
        raise UnreadablePayload(_unreadable(name, exc)) from None
    if name == "-":
        return data, data_digest(data)
    return data, hashlib.sha256(Path(name).read_bytes()).hexdigest()


def parse_payload(name: str, raw: bytes) -> Any:
    """The JSON of a response received as bytes (a download), refused as a payload file would be."""
    try:
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise JsonProblem(f"the response is larger than {MAX_PAYLOAD_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonProblem(f"not UTF-8 text (byte {exc.start})") from None
        return parse_json(text)
    except JsonProblem as exc:
        raise UnreadablePayload(_unreadable(name, exc)) from None


def _unreadable(name: str, exc: JsonProblem) -> Problem:
    where = f"line {exc.line}, column {exc.column}: " if exc.line else ""
    return (name, exc.path, f"{where}{exc.message}")


def _venue_error(mapping: Mapping, file: str, data: Any) -> Problem | None:
    """The venue's error envelope, if the response is one."""
    if not isinstance(data, dict):
        return None
    top = Row(data, "", file)
    for rule in mapping.errors:
        value, path = top.read(rule.path)
        if value is MISSING or (rule.allowed is not None and value in rule.allowed):
            continue
        msg, _ = top.read(rule.message)
        said = f"{msg!r}" if isinstance(msg, str) and msg else "(no message)"
        code = f" ({rule.path.text} {value!r})" if rule.allowed is not None else f" ({value!r})"
        return (file, path, f"an error response, not data: the venue answered{code} {said}")
    return None


def _data_rows(mapping: Mapping, endpoint: Endpoint, file: str, data: Any) -> list[Row] | None:
    """The data rows of a response as this endpoint wraps them, or None when it does not."""
    where = endpoint.data if endpoint.data is not None else (mapping.data if endpoint.envelope else "")
    top = Row(data, "", file)
    value, path = (data, "") if not where else top.read(FieldPath.parse(where))
    if value is MISSING:
        return None
    parents = (top,) if where else ()
    if isinstance(value, list) and endpoint.flatten and value and all(isinstance(item, list) for item in value):
        return [Row(item, json_path(path, i, j), file, parents) for i, inner in enumerate(value) for j, item in enumerate(inner)]
    if isinstance(value, list):
        return [Row(item, json_path(path, i), file, parents) for i, item in enumerate(value)]
    return [Row(value, path, file, parents)]


def _fits(endpoint: Endpoint, rows: list[Row]) -> bool:
    first = rows[0].data
    return isinstance(first, dict) and all(k in first for k in endpoint.identify)


def recognise(mapping: Mapping, file: str, data: Any, digest: str, endpoint: str | None = None,
              params: dict[str, str] | None = None) -> Payload | list[Problem]:
    """Match one parsed response to an endpoint of the mapping (or check it is the response of `endpoint`, the
    one requested) and check its rows' shape; `params` are the request's query parameters, where known."""
    bad = _venue_error(mapping, file, data)
    if bad:
        return [bad]
    candidates: list[tuple[Endpoint, list[Row]]] = []
    empty = False
    for ep in mapping.endpoints.values():
        if endpoint is not None and ep.name != endpoint:
            continue
        rows = _data_rows(mapping, ep, file, data)
        if rows is None:
            continue
        if not rows:
            empty = True
            continue
        if _fits(ep, rows):
            candidates.append((ep, rows))
    if not candidates:
        if empty:
            where = mapping.data or "the response"
            return [(file, mapping.data, f"{where} is an empty array: there are no rows to read (an account without positions "
                                         "needs no positions payload; leave the file out)")]
        keys = _keys_of(mapping, data)
        if endpoint is not None:
            ep = mapping.endpoints[endpoint]
            return [(file, "", f"not the response of {ep.request} that {mapping.file} reads: its rows have {keys}; expected rows with "
                               f"{', '.join(ep.identify)}")]
        known = "; ".join(f"{ep.request} ({', '.join(ep.identify)})" for ep in mapping.endpoints.values())
        return [(file, "", f"not a payload that {mapping.file} reads: its rows have {keys}; expected the response of one of: {known}")]
    best = max(len(ep.identify) for ep, _ in candidates)
    top = [(ep, rows) for ep, rows in candidates if len(ep.identify) == best]
    if len(top) > 1:
        names = ", ".join(ep.name for ep, _ in top)
        return [(file, "", f"ambiguous payload: it fits endpoints {names} of {mapping.file} equally well")]
    ep, rows = top[0]
    problems: list[Problem] = []
    for row in rows[1:]:
        if not isinstance(row.data, dict):
            problems.append((file, row.path, f"expected an object (a row of {ep.request}), got {describe(row.data)}"))
            continue
        missing = [k for k in ep.identify if k not in row.data]
        if missing:
            problems.append((file, json_path(row.path, missing[0]), f"missing field {missing[0]!r} (every row of {ep.request} has it)"))
    if ep.single and len(rows) != 1:
        problems.append((file, mapping.data, f"{ep.request} answers with one row; this payload has {len(rows)}"))
    times: list[dt.datetime] = []
    if ep.time is not None:
        path, unit = ep.time
        for row in rows:
            value, at = row.read(path)
            when = _epoch(value, unit)
            if isinstance(when, str):
                problems.append((file, at, when))
            elif when is not None:
                times.append(when)
    if problems:
        return problems
    return Payload(file, ep.name, data, rows, digest, times, dict(params or {}))


def _epoch(value: Any, unit: str) -> dt.datetime | str | None:
    """An epoch time in milliseconds or seconds (a number or a decimal string) as a UTC date-time."""
    if value is MISSING or value in ("", None):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f"expected a time in epoch {unit}, got {describe(value)}"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return f"expected a time in epoch {unit}, got {describe(value)}"
    seconds = number / 1000 if unit == "ms" else number
    if not number.is_finite() or not (0 <= seconds < 10_000_000_000):
        return f"time {value!r} is out of range for epoch {unit}"
    return dt.datetime.fromtimestamp(float(seconds), dt.UTC)


def _keys_of(mapping: Mapping, data: Any) -> str:
    """The top keys of the data rows (or of the response), for the wrong-endpoint message."""
    sample = data
    if isinstance(data, dict) and mapping.data and isinstance(data.get(mapping.data), list) and data[mapping.data]:
        sample = data[mapping.data][0]
    elif isinstance(data, list) and data:
        sample = data[0]
    if isinstance(sample, dict):
        keys = list(sample)
        return "fields " + ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
    return describe(sample)
