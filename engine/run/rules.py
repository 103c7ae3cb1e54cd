"""A loaded rule-set version: its compiled kernel, its snapshot format, and
evaluation of one snapshot or many. What the API, the tools and the CLI hold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SnapshotError, UsageError, argument
from ..ir.select import selection
from ..source.catalog import date_argument
from ..source.ruleset import RuleSet
from .batch import BLOCK_ACCOUNTS, MAX_BATCH_ACCOUNTS, Batch
from .evaluate import evaluate_batch, evaluate_snapshot
from .kernel import Kernel, batch_backend, load_fused, load_kernel
from .result import Result, Values, build_result
from .snapshot import Snapshot, SnapshotFormat, parse_as_of


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

    def values(self, data: Any) -> Values:
        """Values and states only (no trace): the fast path for programs. `.values` and `.states` are keyed by row
        key (built when first read); `.evaluation.values` has the kernel's lists in snapshot row order."""
        snap = self.snapshot(data)
        return Values(self.kernel.plan, snap.keys, evaluate_snapshot(self.kernel, snap))

    def __repr__(self) -> str:
        rs = self.ruleset
        tables = ", ".join(f"{v.table}@{v.valid_from}" for v in rs.table_versions.values())
        return (f"<Rules {rs.ref}: {rs.title}; {len(rs.quantities)} quantities, {len(rs.thresholds)} thresholds"
                + (f"; tables {tables}" if tables else "") + ">")

    def evaluate(self, data: Any, at: dt.date | str | None = None, source: str | None = None) -> Result:
        """Evaluate one snapshot; `at` (default: the snapshot's as_of date) is recorded in the receipt."""
        snap = self.snapshot(data, source)
        when = date_argument(at, "at") or snap.as_of.astimezone(dt.UTC).date()
        return build_result(self.ruleset, self.kernel.plan, snap, evaluate_snapshot(self.kernel, snap), when)

    def batch(self, snapshots: list[Any]) -> Batch:
        """A columnar batch from snapshot data (each one validated)."""
        listed = argument(snapshots, (list, tuple), "snapshots", "a list of snapshots (dicts)")
        return Batch.from_snapshots(self.kernel.plan, [self.snapshot(s, f"snapshot[{i}]") for i, s in enumerate(listed)])

    def columns(self, n: int, account: dict[str, Any] | None = None, **collections: dict[str, Any]) -> Batch:
        """A columnar batch from arrays (see Batch.from_columns)."""
        count = argument(n, int, "n", "the number of accounts (an int)")
        if not 0 <= count <= MAX_BATCH_ACCOUNTS:
            raise UsageError(f"n: expected a number of accounts from 0 to {MAX_BATCH_ACCOUNTS:,} (split larger books), got {count}")
        for name, columns in {"account": account or {}, **collections}.items():
            argument(columns, dict, name, "a dict of arrays by field name")
        return Batch.from_columns(self.kernel.plan, count, account, **collections)

    def from_arrow(self, source: Any) -> Batch:
        """A batch from accounts in the columnar layout (`marginspec schema columns`): an Arrow table, a pandas or
        polars DataFrame, or a Parquet or Arrow IPC file path. Needs pyarrow (the `arrow` extra)."""
        from .columnar import batch_from_arrow, read_table

        return batch_from_arrow(self.kernel.plan, read_table(source))[0]

    def evaluate_table(self, source: Any, names: Iterable[str] | None = None, block: int | None = None) -> Any:
        """The results of accounts in the columnar layout as an Arrow table: account_id, the account outputs, and
        per row axis a list of rows with their key and outputs (`.to_pandas()` for a DataFrame)."""
        from .columnar import evaluate_arrow, read_table

        return evaluate_arrow(self.selected_kernel(names), read_table(source), _block(block))

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
        argument(batch, Batch, "batch", "a Batch from rules.batch(...) or rules.columns(...)")
        return evaluate_batch(self.selected_kernel(names, backend), batch, _block(block), out, threads)


def _block(block: int | None) -> int:
    return BLOCK_ACCOUNTS if block is None else argument(block, int, "block", "a number of accounts (an int)")


def snapshot_date(data: Any) -> dt.date:
    """The UTC date of a snapshot's as_of, which chooses the rule-set version."""
    text = data.get("as_of") if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise SnapshotError([("as_of", "required: the ISO 8601 date or date-time the snapshot was taken")])
    try:
        return parse_as_of(text).astimezone(dt.UTC).date()
    except ValueError:
        raise SnapshotError([("as_of", f"not a valid ISO 8601 date or date-time: {text!r}")]) from None
