"""Account snapshots: the schema generated from a rule set's declared inputs,
validation with JSON-path errors, and preparation into rows and index lists
that the kernels read.

A snapshot is JSON or YAML:

    {"as_of": "2025-06-01T00:00:00Z",
     "account": {...account inputs...},
     "currencies": [{"currency": "BTC", ...}, ...],     # one list per row axis
     "meta": {...anything, ignored...}}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from ..errors import RuleFileError, SnapshotError, json_path
from ..ir.plan import ACCOUNT, Plan
from ..source.datafile import JsonProblem, read_data
from ..source.ruleset import RuleSet
from .indexes import build_one

MAX_SNAPSHOT_BYTES = 64_000_000  # 640 bytes for each of the most rows, ample for the fields a row has
MAX_REPORTED = 25
MAX_SNAPSHOT_ROWS = 100_000  # rows of one snapshot, all collections together: one account, not a book
MAX_SNAPSHOT_OBJECTS = 2 * MAX_SNAPSHOT_ROWS  # every row is an object; the rest leaves room for `meta`
KEY_TEXT = Annotated[str, Field(min_length=1, max_length=128)]


def parse_as_of(text: str) -> dt.datetime:
    """ISO 8601 date or date-time; a date means midnight UTC, a time without zone means UTC."""
    value = dt.datetime.fromisoformat(text)
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        value.astimezone(dt.UTC)  # year 1 or 9999 with an offset has no UTC date
    except OverflowError:
        raise ValueError(f"{text} is out of range in UTC") from None
    return value


@dataclass
class Snapshot:
    """A validated snapshot, prepared for evaluation."""

    as_of: dt.datetime
    account: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]
    counts: dict[str, int]
    keys: dict[str, list[str]]
    index: dict[str, list[int]] = field(default_factory=dict)
    source: str | None = None
    ignored: dict[str, int] = field(default_factory=dict)  # rows of collections the rule set accepts and ignores


class SnapshotFormat:
    """The snapshot format of one rule set: its JSON Schema and its validator."""

    def __init__(self, plan: Plan, rs: RuleSet):
        self.plan = plan
        self.rs = rs
        self.defaults: dict[str, dict[str, Any]] = {}
        self.widths: dict[str, int] = {}  # fields a row of each axis has when none is left out
        self.adapter = TypeAdapter(self._model())

    def _field(self, name: str) -> Any:
        inp = self.rs.inputs[name]
        meta: dict[str, Any] = {"description": inp.description + (f" [{inp.unit}]" if inp.unit else "")}
        if inp.default is not None:
            meta["json_schema_extra"] = {"default": inp.default}
        if inp.type == "number":
            limits = {"ge": inp.minimum, "le": inp.maximum, "gt": inp.exclusive_minimum}
            typ: Any = Annotated[float, Field(strict=True, allow_inf_nan=False, **{k: v for k, v in limits.items() if v is not None}, **meta)]  # type: ignore[call-overload]
        elif inp.type == "boolean":
            typ = Annotated[bool, Field(strict=True, **meta)]
        elif inp.type == "enum":
            typ = Annotated[Literal[inp.values], Field(**meta)]
        else:
            typ = Annotated[str, Field(min_length=1, max_length=128, **meta)]
        if inp.default is not None:
            self.defaults.setdefault(inp.axis, {})[name] = inp.default
            return NotRequired[typ]
        return Required[typ]

    def _typed_dict(self, title: str, fields: dict[str, Any]) -> Any:
        td = TypedDict(title, fields)  # type: ignore[misc]  # built from the rule set's inputs at run time
        td.__pydantic_config__ = ConfigDict(extra="forbid", title=title)  # type: ignore[attr-defined]
        return td

    def _model(self) -> Any:
        by_axis: dict[str, dict[str, Any]] = {}
        for name, inp in self.rs.inputs.items():
            if not inp.from_:  # a ref that takes its key from another field is not in the snapshot
                by_axis.setdefault(inp.axis, {})[name] = self._field(name)
        top: dict[str, Any] = {
            "as_of": Required[Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$",
                                                  description="when the snapshot was taken (ISO 8601); it chooses the rule-set version")]],
            "meta": NotRequired[Annotated[dict[str, Any], Field(description="free-form notes, ignored")]],
        }
        account_fields = by_axis.get(ACCOUNT, {})
        self.widths[ACCOUNT] = len(account_fields)
        if account_fields:
            required = any(getattr(t, "__origin__", None) is Required for t in account_fields.values())
            wrap = Required if required else NotRequired
            top["account"] = wrap[self._typed_dict("Account", account_fields)]
        for axis in self.plan.row_axes.values():
            if not axis.collection:
                continue
            fields = {axis.key or "": Required[Annotated[KEY_TEXT, Field(description=f"identifies the row ({axis.key}); unique within the snapshot")]]}
            fields.update(by_axis.get(axis.name, {}))
            self.widths[axis.name] = len(fields)
            top[axis.collection] = NotRequired[list[self._typed_dict(axis.name.title().replace("_", ""), fields)]]  # type: ignore[misc]  # a type built at run time
        return self._typed_dict("Snapshot", top)

    def json_schema(self) -> dict[str, Any]:
        body = self.adapter.json_schema()
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"marginspec snapshot for {self.rs.ref}", **body}

    # ---------- validation and preparation

    def validate(self, data: Any, source: str | None = None) -> Snapshot:
        """Validate plain data (parsed JSON/YAML) and prepare it; raises SnapshotError."""
        if not isinstance(data, dict):
            raise SnapshotError([("", f"a snapshot is a JSON object (a dict), not {type(data).__name__}")], source)
        count = sum(len(v) for v in data.values() if isinstance(v, list))
        if count > MAX_SNAPSHOT_ROWS:
            raise SnapshotError([("", f"the snapshot has {count:,} rows; one snapshot holds at most {MAX_SNAPSHOT_ROWS:,} "
                                      "(evaluate larger books as a batch of accounts, see README 'Batches')")], source)
        try:
            clean = self.adapter.validate_python(data)
        except ValidationError as exc:
            problems = [(json_path("", *e["loc"]), _message(e)) for e in exc.errors()[:MAX_REPORTED]]
            raise SnapshotError(problems, source) from None
        try:
            as_of = parse_as_of(clean["as_of"])
        except ValueError:
            raise SnapshotError([("as_of", f"not a valid ISO 8601 date or date-time: {clean['as_of']!r}")], source) from None
        account = clean.get("account", {})
        _fill([account], self.defaults.get(ACCOUNT), self.widths[ACCOUNT])
        rows: dict[str, list[dict[str, Any]]] = {}
        for axis in self.plan.row_axes.values():
            if axis.collection:
                rows[axis.name] = clean.get(axis.collection, [])
                _fill(rows[axis.name], self.defaults.get(axis.name), self.widths[axis.name])
        snap = Snapshot(as_of, account, rows, {}, {}, source=source)
        prepare_indexes(self.plan, snap)
        return snap


def _fill(rows: list[dict[str, Any]], defaults: dict[str, Any] | None, width: int) -> None:
    """Put in the defaults of fields rows leave out (validation returned new dicts, so this changes no input).
    A row with `width` fields has them all, as validation refuses unknown ones."""
    if not defaults:
        return
    for row in rows:
        if len(row) < width:
            for name, value in defaults.items():
                row.setdefault(name, value)


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (not an input of this rule set; see `marginspec schema snapshot RULESET`)"
    got = err.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
    return f"{err['msg']} (got {shown})" if kind != "literal_error" else f"{err['msg']}, got {shown}"


def prepare_indexes(plan: Plan, snap: Snapshot) -> None:
    """Row counts, row keys and index lists of one snapshot (indexes.build_one)."""
    collection = {a.name: a.collection for a in plan.row_axes.values()}

    def where(axis: str, row: int, field: str) -> str:
        return f"account.{field}" if axis == ACCOUNT else f"{collection[axis]}[{row}].{field}"

    try:
        built = build_one(plan, {ACCOUNT: [snap.account], **snap.rows}, where)
    except SnapshotError as exc:
        raise SnapshotError(exc.problems, snap.source) from None
    snap.counts, snap.keys, snap.index = built.counts, built.keys, built.index


def read_snapshot_file(source: str | Path) -> Any:
    """Parse a snapshot file (JSON, or YAML by extension; `-` for standard input) into plain data;
    raises SnapshotError saying where."""
    name = str(source)
    try:
        return read_data(name, MAX_SNAPSHOT_BYTES, MAX_SNAPSHOT_OBJECTS)
    except JsonProblem as exc:
        raise SnapshotError([(exc.path, f"{'line ' + str(exc.line) + ', column ' + str(exc.column) + ': ' if exc.line else ''}{exc.message}")], name) from None
    except RuleFileError as exc:
        raise SnapshotError([("", exc.render())], None) from None
