"""Selecting rows and fields inside a payload, keeping the JSON path of every
value read so that an error (or a reconcile line) can point into the file.

A row is a JSON object somewhere in a response: a data row (`data[0]`), an item
of an array inside it (`details[]` gives `data[0].details[2]`), or a value of
an object keyed by name (`balances{}` gives `balances.ETH`, whose name is the
row's `@key`). A field path reads inside a row (`uTime`, `mr1FinalResult.pnl`,
`closeOrderAlgo[0]`); `^name` reads the enclosing row (`^^name` its parent),
so a position inside a risk unit can read the unit's name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import json_path

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")
_ROWSEG = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)?(\[\]|\{\})$")

MISSING = object()
"""The value of a field the payload does not have (as opposed to null or an empty string)."""


@dataclass(frozen=True)
class FieldPath:
    """A parsed field path: how many rows up, then keys (with an optional array index each)."""

    text: str
    ups: int
    steps: tuple[tuple[str, int | None], ...]
    is_key: bool = False

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        """Parse a path the mapping schema has already checked (raises ValueError otherwise)."""
        rest = text.lstrip("^")
        ups = len(text) - len(rest)
        if rest == "@key":
            return cls(text, ups, (), True)
        steps = []
        for seg in rest.split("."):
            m = _SEGMENT.match(seg)
            if not m:
                raise ValueError(f"not a field path: {text!r}")
            steps.append((m.group(1), int(m.group(2)) if m.group(2) is not None else None))
        return cls(text, ups, tuple(steps))

    @property
    def head(self) -> str:
        """The first key: the name a formula uses for this field."""
        return "@key" if self.is_key else self.steps[0][0]


@dataclass(frozen=True)
class RowsPath:
    """A parsed rows path: per step, a key to descend into (or none) and how to iterate (`[]` or `{}`)."""

    text: str
    steps: tuple[tuple[str | None, str], ...]

    @classmethod
    def parse(cls, text: str) -> RowsPath:
        steps = []
        for seg in text.split("."):
            m = _ROWSEG.match(seg)
            if not m:
                raise ValueError(f"not a rows path: {text!r}")
            steps.append((m.group(1), m.group(2)))
        return cls(text, tuple(steps))


@dataclass(frozen=True)
class Row:
    """One JSON object of a payload, where it is, and the rows it sits in."""

    data: Any
    path: str
    file: str
    parents: tuple[Row, ...] = ()
    key: str | None = None

    def read(self, fp: FieldPath) -> tuple[Any, str]:
        """(value or MISSING, JSON path of the value) of a field path in this row."""
        row: Row = self
        for _ in range(fp.ups):
            if not row.parents:
                return MISSING, row.path
            row = row.parents[-1]
        if fp.is_key:
            return (row.key if row.key is not None else MISSING), row.path
        value: Any = row.data
        path = row.path
        for name, index in fp.steps:
            if not isinstance(value, dict) or name not in value:
                return MISSING, json_path(path, name)
            value, path = value[name], json_path(path, name)
            if index is not None:
                if not isinstance(value, list) or index >= len(value):
                    return MISSING, json_path(path, index)
                value, path = value[index], json_path(path, index)
        return value, path


class RowsProblem(Exception):
    """A rows path does not lead to an array or an object of rows (the payload is not the documented shape)."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path, self.message = path, message


def select_rows(top: Row, rows: RowsPath | None) -> list[Row]:
    """The rows under `top` that a rows path names (`top` itself when there is none)."""
    current = [top]
    if rows is None:
        return current
    for name, how in rows.steps:
        found: list[Row] = []
        for row in current:
            value, path = (row.data, row.path) if name is None else row.read(FieldPath(name, 0, ((name, None),)))
            parents = row.parents + (row,)
            if how == "[]":
                if not isinstance(value, list):
                    raise RowsProblem(path, f"expected an array of rows, got {describe(value)}")
                found += [Row(item, json_path(path, i), row.file, parents) for i, item in enumerate(value)]
            else:
                if not isinstance(value, dict):
                    raise RowsProblem(path, f"expected an object of rows keyed by name, got {describe(value)}")
                found += [Row(item, json_path(path, k), row.file, parents, key=k) for k, item in value.items()]
        current = found
    for row in current:
        if not isinstance(row.data, dict):
            raise RowsProblem(row.path, f"expected an object (one row), got {describe(row.data)}")
    return current


def describe(value: Any) -> str:
    """A value's JSON type, with the value itself when it is short, for error messages."""
    if value is MISSING:
        return "nothing (the field is absent)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"text {value[:60]!r}" + ("..." if len(value) > 60 else "")
    return "an array" if isinstance(value, list) else "an object"
