"""Columnar batches: many accounts as one array per input, rows of every
axis sorted by account, with the index arrays (references, groups, table
keys) built once by vectorised joins. The numpy kernel runs over blocks of
accounts so that its temporaries stay in cache.

Two ways in: `Batch.from_snapshots` (validated Snapshot objects) and
`Batch.from_columns` (numpy arrays, for programs with millions of accounts;
see README, 'Batch evaluation')."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SnapshotError
from ..ir.plan import ACCOUNT, Plan
from .snapshot import Snapshot

BLOCK_ACCOUNTS = 8192


@dataclass
class Batch:
    n: int
    counts: dict[str, int]
    offsets: dict[str, np.ndarray]  # per axis: first row of each account, length n + 1
    columns: dict[str, np.ndarray]
    index: dict[str, np.ndarray]
    keys: dict[str, np.ndarray] = field(default_factory=dict)  # row keys (from snapshots)
    key_codes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # row keys as (categories, codes)
    labels: list[str] | None = None  # how to name account i in errors

    @classmethod
    def from_snapshots(cls, plan: Plan, snaps: list[Snapshot]) -> "Batch":
        """Stack validated snapshots (their indexes are already resolved)."""
        raw: dict[str, dict[str, list[Any]]] = {}
        accounts: dict[str, list[int]] = {}
        for a, snap in enumerate(snaps):
            for axis, rows in snap.rows.items():
                accounts.setdefault(axis, []).extend([a] * len(rows))
                cols = raw.setdefault(axis, {})
                for inp in plan.inputs:
                    if inp.axis == axis:
                        cols.setdefault(inp.field, []).extend(r[inp.field] for r in rows)
            for inp in plan.inputs:
                if inp.axis == ACCOUNT:
                    raw.setdefault(ACCOUNT, {}).setdefault(inp.field, []).append(snap.account[inp.field])
        b = cls(len(snaps), {ACCOUNT: len(snaps)}, {}, {}, {}, labels=[s.source or f"snapshot[{i}]" for i, s in enumerate(snaps)])
        b.offsets[ACCOUNT] = np.arange(len(snaps) + 1)
        for axis in plan.row_axes:
            counts = [s.counts.get(axis, 0) for s in snaps]
            b.offsets[axis] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            b.counts[axis] = int(b.offsets[axis][-1])
            b.keys[axis] = np.array([k for s in snaps for k in s.keys.get(axis, [])], dtype=object)
            b.index.setdefault(f"_acct_{axis}", np.repeat(np.arange(len(snaps)), counts))
        for inp in plan.inputs:
            values = raw.get(inp.axis, {}).get(inp.field, [])
            b.columns[inp.var.name] = _column(inp.codes, inp.var.kind, values)
        for iv in plan.indexes.values():
            if iv.how == "account":
                continue
            if iv.how == "table_key":
                b.index[iv.name] = np.array([j for s in snaps for j in s.index[iv.name]], dtype=np.intp)
            else:  # -1 (an optional reference with no target) stays -1
                b.index[iv.name] = np.array(
                    [b.offsets[iv.target][a] + j if j >= 0 else -1 for a, s in enumerate(snaps) for j in s.index[iv.name]], dtype=np.intp
                )
        return b

    @classmethod
    def from_columns(cls, plan: Plan, n: int, account: dict[str, Any] | None = None, **collections: dict[str, Any]) -> "Batch":
        """Build from arrays. Each collection (e.g. positions=...) maps field names to arrays and
        has an `account` array (account number of each row, sorted ascending). A reference may be
        given as text keys or as the row number within the account; a choice as its text or code."""
        from .columns import assemble  # the vectorised validation and joins

        return assemble(cls, plan, n, account or {}, collections)

    def describe(self, axis: str, row: int) -> str:
        """`<account label> <axis> <key>` for error messages."""
        if axis == ACCOUNT:
            return self.labels[row] if self.labels else f"account {row}"
        a = int(np.searchsorted(self.offsets[axis], row, side="right") - 1)
        who = self.labels[a] if self.labels else f"account {a}"
        if axis in self.keys and len(self.keys[axis]) > row:
            key = self.keys[axis][row]
        elif axis in self.key_codes:
            cats, codes = self.key_codes[axis]
            key = cats[codes[row]]
        else:
            key = row
        return f"{who}, {axis} {key}"

    def blocks(self, plan: Plan, size: int = BLOCK_ACCOUNTS) -> Iterator[tuple[dict[str, np.ndarray], dict[str, int], dict[str, slice]]]:
        """(columns, row counts, row slices) for each block of `size` accounts, indexes made block-local."""
        axis_of = {i.var.name: i.axis for i in plan.inputs}
        for a0 in range(0, self.n, size):
            a1 = min(a0 + size, self.n)
            sl = {ax: slice(int(off[a0]), int(off[a1])) for ax, off in self.offsets.items()}
            c: dict[str, np.ndarray] = {name: col[sl[axis_of[name]]] for name, col in self.columns.items()}
            for iv in plan.indexes.values():
                start = a0 if iv.how == "account" else (0 if iv.how == "table_key" else sl[iv.target].start)
                index = self.index[iv.name][sl[iv.axis]]
                c[iv.name] = np.where(index >= 0, index - start, -1) if iv.allow_missing and start else index - start
            yield c, {ax: s.stop - s.start for ax, s in sl.items()}, sl


def _column(codes: tuple[str, ...], kind: str, values: list[Any]) -> np.ndarray:
    if codes:
        lookup = {c: i for i, c in enumerate(codes)}
        return np.array([lookup[v] for v in values], dtype=np.int8)
    if kind == "bool":
        return np.array(values, dtype=bool)
    return np.array(values, dtype=np.float64)


def bad(problems: list[tuple[str, str]]) -> SnapshotError:
    return SnapshotError(problems[:25], "batch")
