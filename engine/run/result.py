"""The result of evaluating a snapshot: values per axis, risk states, the trace
of every quantity (formula, what it read, value, cited sources) and a receipt
that says exactly which rules produced it. These are pydantic models: the JSON
output is their serialisation (infinite values are written "Infinity")."""

from __future__ import annotations

import datetime as dt
import math
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import UsageError
from ..ir.plan import ACCOUNT, Plan
from ..source.ruleset import RuleSet
from ..version import __version__
from .evaluate import Evaluation
from .snapshot import Snapshot

SCHEMA_VERSION = "marginspec/rule-file/v2"


class _Model(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings", frozen=True)


class Citation(_Model):
    document: str
    title: str
    url: str
    quote: str
    retrieved: str | None = None


class TraceEntry(_Model):
    """How one quantity or threshold was made."""

    name: str
    kind: str  # quantity | threshold
    axis: str
    unit: str | None
    formula: str
    reads: list[str]
    value: Any
    description: str | None = None
    sources: list[Citation] = []
    assumption: str | None = None
    ambiguity: str | None = None


class TableUsed(_Model):
    """A dated table version the evaluation read, with its status (real, illustrative or mixed)."""

    name: str  # the rule set's name for it
    table: str  # venue/name
    valid_from: str
    valid_to: str | None = None
    file: str
    status: str


class Warning(_Model):
    """Something in the snapshot that the version in force does not margin (a `not_modelled` entry)."""

    name: str
    message: str
    rows: list[str] = []  # the rows where the condition holds (row axes), or of the ignored collection
    collection: str | None = None


class Receipt(_Model):
    ruleset: str
    version: str
    file: str
    file_sha256: str
    content_sha256: str
    files: list[str]
    tables: list[TableUsed]
    schema_version: str
    engine_version: str
    evaluation_date: str
    as_of: str
    computed_at: str
    backend: str
    illustrative: dict[str, list[str]] = {}  # table name -> keys read whose rows include illustrative ones (see illustrative_reads)


class Result(_Model):
    """Values, states, trace and receipt of one evaluation."""

    ruleset: str
    title: str
    receipt: Receipt
    values: dict[str, Any]
    states: dict[str, Any]
    grids: dict[str, dict[str, list[float]]]
    trace: dict[str, TraceEntry]
    warnings: list[Warning] = []

    def value(self, name: str, key: str | None = None) -> Any:
        """A quantity or threshold: `value("adjusted_equity")`, `value("equity", "BTC")`; rows as {key: value}."""
        if name not in self.trace:
            raise UsageError(f"{name!r} is not a quantity or threshold of {self.ruleset} (it has: {', '.join(list(self.trace)[:12])}, ...)")
        v = self.trace[name].value
        if key is not None and not (isinstance(v, dict) and key in v):
            rows = ", ".join(map(str, v)) if isinstance(v, dict) else "none: it is an account value"
            raise UsageError(f"{name} has no row {key!r} (rows: {rows})")
        return v if key is None else v[key]

    def state(self, axis: str = ACCOUNT, key: str | None = None) -> str:
        if axis not in self.states or (key is not None and key not in self.states[axis]):
            raise UsageError(f"no state for {axis}{' ' + repr(key) if key else ''} (axes with states: {', '.join(self.states)})")
        node = self.states[axis] if key is None else self.states[axis][key]
        if "state" not in node:
            raise UsageError(f"the states of {axis} are per row: state({axis!r}, key) with a key of {', '.join(map(str, node))}")
        return str(node["state"])

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    def __repr__(self) -> str:
        """One line: what was evaluated, the state, and the account values (the full result is `to_json()`)."""
        account = self.values.get(ACCOUNT, {})
        shown = ", ".join(f"{k}={_short(v)}" for k, v in list(account.items())[:6]) + (", ..." if len(account) > 6 else "")
        rows = {axis: len(v) for axis, v in self.values.items() if axis != ACCOUNT}
        counts = ", ".join(f"{n} {axis}" for axis, n in rows.items())
        warned = f"; {len(self.warnings)} warning(s)" if self.warnings else ""
        return (f"<Result {self.ruleset} as of {self.receipt.as_of[:10]}: state {self.state()}; {shown}"
                + (f"; rows: {counts}" if counts else "") + f"{warned}>")

    __str__ = __repr__

    def to_pandas(self) -> dict[str, Any]:
        """The values as pandas DataFrames, one per axis: `account` has one row; a row axis is indexed by its
        row keys with one column per quantity (and `state` when it has thresholds); a quantity on rows x grid
        is its own frame, indexed by row key and grid point, with the grid's columns beside the values.
        Needs pandas (`pip install pandas`), which marginspec does not otherwise use."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Result.to_pandas() needs pandas: pip install pandas") from None
        frames: dict[str, Any] = {}
        for axis, table in self.values.items():
            if axis == ACCOUNT:
                frame = pd.DataFrame([table], index=pd.Index([ACCOUNT], name=ACCOUNT))
                frame["state"] = self.state()
            else:
                frame = pd.DataFrame.from_dict(table, orient="index")
                frame.index.name = axis
                if axis in self.states:
                    frame["state"] = [self.states[axis][k]["state"] for k in frame.index]
            frames[axis] = frame
        for name, entry in self.trace.items():
            if " x " not in entry.axis or entry.kind != "quantity":
                continue
            rows_axis, grid = entry.axis.split(" x ")
            columns = self.grids.get(grid, {})
            records = [{rows_axis: key, grid: i, **{c: columns[c][i] for c in columns}, name: v}
                       for key, series in entry.value.items() for i, v in enumerate(series)]
            frames[name] = pd.DataFrame.from_records(records, index=[rows_axis, grid]) if records else pd.DataFrame()
        return frames


class Values:
    """The fast path's answer (`Rules.values`): values and states without trace or receipt. `values` and
    `states` put row values under their row keys; `evaluation` holds the kernel's own lists (row order as in
    the snapshot), which a program that wants speed may read directly."""

    def __init__(self, plan: Plan, keys: dict[str, list[str]], evaluation: Evaluation):
        self.plan = plan
        self.keys = keys
        self.evaluation = evaluation

    @cached_property
    def values(self) -> dict[str, Any]:
        """{name: value} for account values, {name: {row key: value}} for row values (grid values: a list per row)."""
        return {name: _value_of(self.plan, name, self.evaluation.values, self.keys) for name in self.plan.outputs}

    @cached_property
    def states(self) -> dict[str, Any]:
        """{"account": state, axis: {row key: state}}."""
        return {axis: per_row[0] if axis == ACCOUNT else dict(zip(self.keys.get(axis, []), per_row))
                for axis, per_row in self.evaluation.states.items()}

    def value(self, name: str, key: str | None = None) -> Any:
        """One value: `value("margin_ratio")`, `value("equity", "BTC")`."""
        v = self.values[name]
        return v if key is None else v[key]

    def state(self, axis: str = ACCOUNT, key: str | None = None) -> str:
        node = self.states[axis]
        return node if key is None else node[key]

    def __repr__(self) -> str:
        return f"<Values of {len(self.plan.outputs)} quantities and thresholds: state {self.state()} ({self.evaluation.backend} kernel)>"


def _short(v: Any) -> str:
    return format(v, ".6g") if isinstance(v, float) and math.isfinite(v) else str(v)


def citations(rs: RuleSet, entry: Any, documents: dict[str, Any] | None = None) -> list[Citation]:
    docs = documents or rs.documents
    out = []
    for c in getattr(entry, "sources", ()) or ():
        d = docs[c.ref]
        out.append(Citation(document=c.ref, title=d.title, url=d.url, quote=c.quote, retrieved=d.retrieved))
    return out


def _by_row(plan: Plan, values: dict[str, Any], keys: dict[str, list[str]], skip: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {ACCOUNT: {}}
    for name, var in plan.outputs.items():
        if name in plan.thresholds or name in skip:
            continue
        rows = var.shape.rows
        if rows in (None, ACCOUNT):
            out[ACCOUNT][name] = values[name]
        else:
            table = out.setdefault(rows, {k: {} for k in keys.get(rows, [])})
            for key, v in zip(keys.get(rows, []), values[name]):
                table[key][name] = v
    return out


def _value_of(plan: Plan, name: str, values: dict[str, Any], keys: dict[str, list[str]]) -> Any:
    rows = plan.outputs[name].shape.rows
    if rows in (None, ACCOUNT):
        return values[name]
    return dict(zip(keys.get(rows, []), values[name]))


def warnings_of(rs: RuleSet, plan: Plan, snap: Snapshot, values: dict[str, Any]) -> list[Warning]:
    """The `not_modelled` entries that the snapshot trips: a condition that holds, or an ignored collection with rows."""
    out = []
    for name, nm in rs.not_modelled.items():
        if nm.collection and snap.ignored.get(nm.collection):
            out.append(Warning(name=name, message=nm.description, collection=nm.collection,
                               rows=[f"{snap.ignored[nm.collection]} row(s) ignored"]))
        elif nm.when and name in plan.outputs:
            v = _value_of(plan, name, values, snap.keys)
            rows = [k for k, hit in v.items() if hit] if isinstance(v, dict) else []
            if rows if isinstance(v, dict) else bool(v):
                out.append(Warning(name=name, message=nm.description, rows=rows))
    return out


def illustrative_reads(rs: RuleSet, plan: Plan, snap: Snapshot) -> dict[str, list[str]]:
    """The tables this snapshot reads where what it reads is not all the venue's: per table, each key it reads
    whose tiers include an illustrative row (`"ETH (via *)"` where the key falls to the table's "*" rows), or
    `["*"]` for a table read without a key. Rows are judged per key, not per tier read."""
    illustrative = {name: set(table.illustrative_keys()) for name, table in rs.tables.items() if name in plan.tables}
    out: dict[str, list[str]] = {}
    keyed = set()
    for iv, grouped in plan.index_kinds[3]:
        name = iv.table or ""
        keyed.add(name)
        if name not in illustrative:  # a keyed parameter, compiled as a table: a parameter is cited, not marked by rows
            continue
        texts = snap.keys[iv.axis] if grouped else [r.get(iv.field or "") for r in ({ACCOUNT: [snap.account]} | snap.rows).get(iv.axis, [])]
        keys = plan.tables[name].keys
        for text, at in zip(texts, snap.index[iv.name]):
            if at >= 0 and keys[at] in illustrative[name]:
                out.setdefault(name, []).append(str(text) if keys[at] == str(text) else f"{text} (via {keys[at]})")
    for name, keys_with in illustrative.items():
        if name not in keyed and "*" in keys_with:
            out[name] = ["*"]
    return {name: sorted(set(shown)) for name, shown in out.items()}


def build_result(rs: RuleSet, plan: Plan, snap: Snapshot, ev: Evaluation, at: dt.date) -> Result:
    trace: dict[str, TraceEntry] = {}
    for section, kind, formula_field in (("quantities", "quantity", "formula"), ("thresholds", "threshold", "when")):
        for name, entry in rs.section(section).items():
            trace[name] = TraceEntry(
                name=name, kind=kind, axis=entry.axis, unit=getattr(entry, "unit", None),
                formula=getattr(entry, formula_field), reads=plan.deps.get(name, []),
                value=_value_of(plan, name, ev.values, snap.keys), description=entry.description,
                sources=citations(rs, entry), assumption=entry.assumption, ambiguity=entry.ambiguity,
            )
    states: dict[str, Any] = {}
    for axis, per_row in ev.states.items():
        if axis == ACCOUNT:
            states[axis] = {"state": per_row[0], "triggered": ev.triggered[axis][0]}
        else:
            states[axis] = {k: {"state": s, "triggered": t} for k, s, t in zip(snap.keys[axis], per_row, ev.triggered[axis])}
    receipt = Receipt(
        ruleset=rs.id, version=rs.version, file=rs.file.path, file_sha256=rs.file.sha256,
        content_sha256=rs.content_sha256, files=[f.path for f in rs.files],
        tables=[TableUsed(name=n, table=v.table, valid_from=v.valid_from, valid_to=v.valid_to, file=v.file, status=rs.tables[n].status_text())
                for n, v in rs.table_versions.items()],
        schema_version=SCHEMA_VERSION,
        engine_version=__version__, evaluation_date=at.isoformat(), as_of=snap.as_of.isoformat(),
        computed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), backend=ev.backend,
        illustrative=illustrative_reads(rs, plan, snap),
    )
    grids = {g.name: {c: list(v) for c, v in g.columns.items()} for g in plan.grid_axes.values()}
    return Result(ruleset=rs.ref, title=rs.title, receipt=receipt, values=_by_row(plan, ev.values, snap.keys, set(rs.not_modelled)),
                  states=states, grids=grids, trace=trace, warnings=warnings_of(rs, plan, snap, ev.values))
