"""The Python API: load a rule set, validate snapshots, evaluate one or many.

    import marginspec
    result = marginspec.evaluate("venue/mode", snapshot_dict)   # version chosen by the snapshot's as_of
    result.value("margin_ratio"), result.state()

    rules = marginspec.load("venue/mode@2025-01-01")             # one pinned version
    for snap in snapshots:
        rules.evaluate(snap)          # compiled once, cached on disk
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SnapshotError
from .ir.select import selection
from .run.batch import BLOCK_ACCOUNTS, Batch
from .run.evaluate import Evaluation, evaluate_batch, evaluate_snapshot
from .run.kernel import Kernel, batch_backend, load_fused, load_kernel
from .run.result import Result, build_result
from .run.snapshot import Snapshot, SnapshotFormat, parse_as_of
from .source.catalog import Catalog, parse_date
from .source.ruleset import RuleSet

if TYPE_CHECKING:
    from .ingest import Imported
    from .tools.reconcile import Reconciliation

Payloads = list[str | Path] | list[Any] | dict[str, Any]
"""Payload files (paths), payload data (parsed JSON), or a dict of payload data by name."""


class Rules:
    """One loaded rule-set version, ready to evaluate snapshots."""

    def __init__(self, rs: RuleSet, source: tuple[str, dt.date | None, list[Path]] | None = None):
        self.ruleset = rs
        self.source = source  # (spec, date, rules folders) it was loaded with: how another process loads the same

    @cached_property
    def kernel(self) -> Kernel:
        return load_kernel(self.ruleset)

    @cached_property
    def format(self) -> SnapshotFormat:
        return SnapshotFormat(self.kernel.plan, self.ruleset)

    @cached_property
    def ignored_collections(self) -> dict[str, str]:
        """Snapshot collections the rule set accepts and ignores (with a warning): {collection: not_modelled name}."""
        return {nm.collection: n for n, nm in self.ruleset.not_modelled.items() if nm.collection}

    def snapshot_schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of this rule set's snapshots."""
        schema = self.format.json_schema()
        for collection, name in self.ignored_collections.items():
            schema.setdefault("properties", {})[collection] = {
                "type": "array", "items": {"type": "object"},
                "description": f"not modelled: accepted and ignored with a warning ({self.ruleset.not_modelled[name].description})"}
        return schema

    def snapshot(self, data: Any, source: str | None = None) -> Snapshot:
        """Validate plain data (parsed JSON or YAML); raises SnapshotError with JSON paths. Collections the
        rule set does not model (`not_modelled` with `collection`) are set aside and counted for the warning."""
        if isinstance(data, Snapshot):
            return data
        ignored: dict[str, int] = {}
        if isinstance(data, dict) and any(c in data for c in self.ignored_collections):
            for c in self.ignored_collections:
                if c in data and not (isinstance(data[c], list) and all(isinstance(r, dict) for r in data[c])):
                    raise SnapshotError([(c, "expected a list of objects (a collection this rule set accepts and ignores)")], source)
            ignored = {c: len(data[c]) for c in self.ignored_collections if c in data}
            data = {k: v for k, v in data.items() if k not in self.ignored_collections}
        snap = self.format.validate(data, source)
        snap.ignored = ignored
        return snap

    def values(self, data: Any) -> Evaluation:
        """Values and states only (no trace): the fast path for programs."""
        return evaluate_snapshot(self.kernel, self.snapshot(data))

    def evaluate(self, data: Any, at: dt.date | str | None = None, source: str | None = None) -> Result:
        """Evaluate one snapshot; `at` (default: the snapshot's as_of date) is recorded in the receipt."""
        snap = self.snapshot(data, source)
        when = parse_date(at, "--at") if isinstance(at, str) else (at or snap.as_of.astimezone(dt.UTC).date())
        return build_result(self.ruleset, self.kernel.plan, snap, evaluate_snapshot(self.kernel, snap), when)

    def batch(self, snapshots: list[Any]) -> Batch:
        """A columnar batch from snapshot data (each one validated)."""
        return Batch.from_snapshots(self.kernel.plan, [self.snapshot(s, f"snapshot[{i}]") for i, s in enumerate(snapshots)])

    def columns(self, n: int, account: dict[str, Any] | None = None, **collections: dict[str, Any]) -> Batch:
        """A columnar batch from arrays (see Batch.from_columns)."""
        return Batch.from_columns(self.kernel.plan, n, account, **collections)

    def from_arrow(self, source: Any) -> Batch:
        """A batch from accounts in the columnar layout (`marginspec schema columns`): an Arrow table, a pandas or
        polars DataFrame, or a Parquet or Arrow IPC file path. Needs pyarrow (the `arrow` extra)."""
        from .run.columnar import batch_from_arrow, read_table

        return batch_from_arrow(self.kernel.plan, read_table(source))[0]

    def evaluate_table(self, source: Any, names: Iterable[str] | None = None, block: int | None = None) -> Any:
        """The results of accounts in the columnar layout as an Arrow table: account_id, the account outputs, and
        per row axis a list of rows with their key and outputs (`.to_pandas()` for a DataFrame)."""
        from .run.columnar import evaluate_arrow, read_table

        return evaluate_arrow(self.selected_kernel(names), read_table(source), BLOCK_ACCOUNTS if block is None else block)

    def selected_kernel(self, names: Iterable[str] | None = None, backend: str = "numpy") -> Kernel:
        """The batch kernel computing `names` (quantities and thresholds) and what they need (all of them for
        None), on `backend`: "numpy", "fused" (numba), or "auto" (fused where numba is installed). The
        kernel's `.backend` says which it is."""
        chosen = selection(self.kernel.plan, names)
        if batch_backend(backend) == "fused":
            return load_fused(self.ruleset, chosen)
        return self.kernel if chosen is None else load_kernel(self.ruleset, names=chosen)

    def evaluate_batch(self, batch: Batch, block: int | None = None, names: Iterable[str] | None = None,
                       out: dict[str, np.ndarray] | None = None, backend: str = "numpy", threads: int = 1) -> dict[str, np.ndarray]:
        """Every quantity and threshold (or those in `names`, computing only what they need) as one array over
        the batch's rows. `out` (for example the result of the previous call on a batch of the same rows)
        gives arrays to write into instead of new ones. backend="fused" (or "auto") runs the numba kernel:
        several times faster on large batches, after a compilation of seconds once per process. threads=N
        evaluates N blocks at once (worth it with the fused kernel, which releases the GIL)."""
        return evaluate_batch(self.selected_kernel(names, backend), batch, BLOCK_ACCOUNTS if block is None else block, out, threads)


def snapshot_date(data: Any) -> dt.date:
    """The UTC date of a snapshot's as_of, which chooses the rule-set version."""
    text = data.get("as_of") if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise SnapshotError([("as_of", "required: the ISO 8601 date or date-time the snapshot was taken")])
    try:
        return parse_as_of(text).astimezone(dt.UTC).date()
    except ValueError:
        raise SnapshotError([("as_of", f"not a valid ISO 8601 date or date-time: {text!r}")]) from None


def load(spec: str, at: dt.date | str | None = None, rules: list[Path] | None = None) -> Rules:
    """`venue/mode@valid_from`, or `venue/mode` with the date `at` choosing the version."""
    when = parse_date(at, "at") if isinstance(at, str) else at
    return Rules(Catalog(rules).load(spec, when), (spec, when, list(rules or [])))


def evaluate(spec: str, snapshot: Any, at: dt.date | str | None = None, rules: list[Path] | None = None) -> Result:
    """Evaluate one snapshot with the version in force on `at` (default: the snapshot's as_of date)."""
    when = parse_date(at, "at") if isinstance(at, str) else (at or snapshot_date(snapshot))
    return Rules(Catalog(rules).load(spec, when)).evaluate(snapshot, when)



def _from_payloads(venue: str, payloads: Payloads, mode: str | None, ruleset: str | None, as_of: dt.datetime | str | None,
                   at: dt.date | str | None, rules: list[Path] | None) -> tuple[Imported, Rules, Snapshot]:
    from .ingest import import_snapshot, load_payloads, payload_sources, snapshot_mapping

    catalog = Catalog(rules)
    mapping = snapshot_mapping(catalog, venue)
    loaded = load_payloads(mapping, payload_sources(payloads))
    when = parse_as_of(as_of) if isinstance(as_of, str) else as_of
    day = parse_date(at, "at") if isinstance(at, str) else at
    imported = import_snapshot(mapping, loaded, catalog, mode, ruleset, when, day)
    r = Rules(imported.ruleset)
    try:
        snap = r.snapshot(imported.snapshot, "imported snapshot")
    except SnapshotError as exc:
        raise imported.payload_error(exc) from None
    return imported, r, snap


def import_payloads(venue: str, payloads: Payloads, mode: str | None = None, ruleset: str | None = None,
                    as_of: dt.datetime | str | None = None, at: dt.date | str | None = None,
                    rules: list[Path] | None = None) -> Imported:
    """A snapshot from a venue's REST responses through its payload mapping (exchanges/<venue>/payloads/):
    for the mode the payloads say (or `mode`, or the mode of `ruleset`), checked against the rule set in
    force on `at` (default: the snapshot's date). `.snapshot` is the snapshot; `.ruleset` the rule set.
    Raises PayloadError (file, JSON path, message) for anything wrong in the payloads."""
    return _from_payloads(venue, payloads, mode, ruleset, as_of, at, rules)[0]


def evaluate_payloads(spec: str, payloads: Payloads, as_of: dt.datetime | str | None = None, at: dt.date | str | None = None,
                      rules: list[Path] | None = None) -> Result:
    """Evaluate straight from payloads with the rule set `spec` (venue/mode or venue/mode@date)."""
    _imported, r, snap = _from_payloads(spec.split("/", maxsplit=1)[0], payloads, None, spec, as_of, at, rules)
    return r.evaluate(snap, at)


def reconcile(spec: str, payloads: Payloads, as_of: dt.datetime | str | None = None, at: dt.date | str | None = None,
              rules: list[Path] | None = None, explain: bool = True) -> Reconciliation:
    """Every value the venue reports in the payloads held against the engine's value (see tools/reconcile)."""
    from .ingest import reported_values
    from .tools.reconcile import reconcile as run_reconcile

    imported, r, snap = _from_payloads(spec.split("/", maxsplit=1)[0], payloads, None, spec, as_of, at, rules)
    result = r.evaluate(snap, at)
    return run_reconcile(imported, reported_values(imported.mapping, imported.payloads), result, snap, explain)
