"""Columnar batches: many accounts as one array per input, rows of every
axis in account order, with every index built by the one index builder
(indexes.py). The numpy kernel runs over blocks of accounts so that its
temporaries stay in cache.

Two ways in: `Batch.from_snapshots` (validated Snapshot objects) and
`Batch.from_columns` (arrays, for programs with millions of accounts; see
README, 'Batch evaluation'). Text columns (keys, references, text inputs,
choices) may be arrays of str, or `(values, codes)` pairs: a list of
distinct strings and an integer array indexing it, which avoids sorting
millions of strings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SnapshotError, UsageError
from ..ir.plan import InputCol, Plan
from ..language.shape import ACCOUNT
from .indexes import INDEX, Categorical, Indexes, build_indexes, index_dtype
from .snapshot import Snapshot

BLOCK_ACCOUNTS = 8192
MAX_BATCH_ACCOUNTS = 2**31 - 1  # account numbers are int32 where they fit; a larger book is several batches


@dataclass
class Batch:
    n: int
    columns: dict[str, np.ndarray]  # input variable -> one value per row of its axis
    indexes: Indexes
    labels: list[str] | None = None  # how to name account i in errors

    @property
    def counts(self) -> dict[str, int]:
        return self.indexes.counts

    @property
    def offsets(self) -> dict[str, np.ndarray]:
        return self.indexes.offsets

    @property
    def index(self) -> dict[str, np.ndarray]:
        return self.indexes.index

    @classmethod
    def from_snapshots(cls, plan: Plan, snaps: list[Snapshot], labelled: bool = True) -> Batch:
        """Stack validated snapshots; their indexes are built again over the whole batch, by the same builder.
        Unlabelled, errors name rows without saying which snapshot (for one snapshot evaluated alone)."""
        labels = [s.source or f"snapshot[{i}]" for i, s in enumerate(snaps)]
        rows = {a: [r for s in snaps for r in s.rows.get(a, [])] for a, ax in plan.row_axes.items() if ax.collection}
        rows[ACCOUNT] = [s.account for s in snaps]
        accounts = {a: np.repeat(np.arange(len(snaps), dtype=INDEX), [len(s.rows.get(a, [])) for s in snaps]) for a in rows if a != ACCOUNT}
        collection = {a.name: a.collection for a in plan.row_axes.values()}

        def where(axis: str, row: int, field: str) -> str:
            if axis == ACCOUNT:
                return f"{labels[row]}: account.{field}"
            a = int(np.searchsorted(indexes_offsets(axis), row, side="right") - 1)
            local = row - int(indexes_offsets(axis)[a])
            return f"{labels[a]}: {collection[axis]}[{local}].{field}"

        def indexes_offsets(axis: str) -> np.ndarray:
            return np.searchsorted(accounts[axis], np.arange(len(snaps) + 1))

        indexes = build_indexes(plan, len(snaps), accounts, lambda axis, field: Categorical.of([r.get(field) for r in rows[axis]]), where)
        columns = {inp.var.name: _from_values(inp, [r[inp.field] for r in rows[inp.axis]]) for inp in plan.inputs}
        return cls(len(snaps), columns, indexes, labels if labelled else None)

    @classmethod
    def from_columns(cls, plan: Plan, n: int, account: dict[str, Any] | None = None, **collections: dict[str, Any]) -> Batch:
        """Build from arrays. Each collection (e.g. positions=...) maps field names to arrays and has an
        `account` array (account number of each row, ascending). A reference may be given as text keys or as
        the row number within the account; a choice as its text or its code."""
        return _assemble(cls, plan, n, account or {}, collections)

    def describe(self, axis: str, row: int) -> str:
        """`<account label> <axis> <key>` for error messages."""
        def who(a: int) -> str:
            return self.labels[a] if self.labels else (f"account {a}" if self.n > 1 else "")

        if axis == ACCOUNT:
            return who(row)
        a = int(np.searchsorted(self.offsets[axis], row, side="right") - 1)
        return ", ".join(p for p in (who(a), f"{axis} {self.indexes.keys[axis].text(row)!r}") if p)

    def blocks(self, plan: Plan, size: int = BLOCK_ACCOUNTS) -> Iterator[tuple[dict[str, np.ndarray], dict[str, int], dict[str, slice]]]:
        """(columns, row counts, row slices) for each block of `size` accounts, indexes made block-local."""
        if size < 1:
            raise UsageError(f"block must be a positive number of accounts, not {size}")
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


def _from_values(inp: InputCol, values: list[Any]) -> np.ndarray:
    """A column from validated snapshot values."""
    if inp.codes:
        lookup = {c: i for i, c in enumerate(inp.codes)}
        return np.array([lookup[v] for v in values], dtype=np.int8)
    return np.array(values, dtype=bool if inp.var.kind == "bool" else np.float64)


# ---------- arrays in: validation, then the one index builder


def _fail(where: str, message: str) -> SnapshotError:
    return SnapshotError([(where, message)], "batch")


def _array(values: Any, where: str, dtype: Any = None) -> np.ndarray:
    """`values` as a numpy array; ragged or unconvertible data is the caller's error at `where`, not numpy's."""
    try:
        return np.asarray(values, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(where, f"expected an array of one value per row: {exc}") from None


def categorical(values: Any, rows: int, where: str) -> Categorical:
    """A Categorical from an array of strings or a (values, codes) pair, one per row."""
    if isinstance(values, tuple) and len(values) == 2:
        cats, codes = _array(values[0], where, object), _array(values[1], where)
        if codes.dtype.kind not in "iu":
            raise _fail(where, "codes must be integers")
        codes = codes.astype(INDEX)
        if not all(isinstance(c, str) for c in cats) or len(set(cats)) != len(cats):
            raise _fail(where, "values must be distinct strings (a repeated value would hide duplicate keys)")
        if codes.size and (codes.min() < 0 or codes.max() >= len(cats)):
            raise _fail(where, f"codes must index the {len(cats)} values")
    else:
        arr = _array(values, where, object)
        if arr.ndim != 1 or not all(isinstance(v, str) for v in arr):
            raise _fail(where, "expected a one-dimensional array of strings")
        cats, codes = np.unique(arr.astype(str), return_inverse=True)
        cats, codes = cats.astype(object), codes.astype(INDEX)
    if codes.shape != (rows,):
        raise _fail(where, f"expected {rows} values, got {codes.shape[0] if codes.ndim else 0}")
    return Categorical(cats, codes)


def _number(inp: InputCol, values: Any, rows: int, where: str) -> np.ndarray:
    col = _array(values, where)
    if col.dtype.kind not in "iuf" or col.shape != (rows,):
        raise _fail(where, f"expected {rows} numbers, got an array of {col.dtype} with shape {col.shape}")
    col = col.astype(np.float64, copy=False)  # float64 columns are used as given, not copied
    bad = ~np.isfinite(col)
    if inp.minimum is not None:
        bad |= col < inp.minimum
    if inp.maximum is not None:
        bad |= col > inp.maximum
    if inp.exclusive_minimum is not None:
        bad |= col <= inp.exclusive_minimum
    if bad.any():
        i = int(np.argmax(bad))
        limits = {k: v for k, v in (("minimum", inp.minimum), ("maximum", inp.maximum), ("exclusive_minimum", inp.exclusive_minimum)) if v is not None}
        raise _fail(f"{where}[{i}]", f"{col[i]!r} is not finite or is outside the declared limits {limits}")
    return col


def _boolean(values: Any, rows: int, where: str) -> np.ndarray:
    col = _array(values, where)
    if col.dtype != np.bool_ or col.shape != (rows,):
        raise _fail(where, f"expected {rows} booleans (a numpy bool array), got an array of {col.dtype} with shape {col.shape}")
    return col


def _choice(inp: InputCol, values: Any, rows: int, where: str) -> np.ndarray:
    if not isinstance(values, tuple) and _array(values, where).dtype.kind in "iu":
        arr = _array(values, where)
        if arr.shape != (rows,) or (arr.size and (arr.min() < 0 or arr.max() >= len(inp.codes))):
            raise _fail(where, f"codes must be 0..{len(inp.codes) - 1} ({', '.join(inp.codes)}), one per row")
        return arr.astype(np.int8)
    cat = categorical(values, rows, where)
    lookup = {c: i for i, c in enumerate(inp.codes)}
    unknown = [c for c in cat.values if c not in lookup]
    if unknown:
        raise _fail(where, f"{unknown[0]!r} is not one of {', '.join(inp.codes)}")
    return np.array([lookup[c] for c in cat.values], dtype=np.int8)[cat.codes] if cat.values.size else np.zeros(0, dtype=np.int8)


def _assemble(cls: Any, plan: Plan, n: int, account: dict[str, Any], collections: dict[str, dict[str, Any]]) -> Batch:
    by_collection = {a.collection: a for a in plan.row_axes.values() if a.collection}
    unknown = set(collections) - set(by_collection)
    if unknown:
        raise _fail(sorted(unknown)[0], f"not a collection of this rule set (known: {', '.join(sorted(by_collection))})")
    accounts: dict[str, np.ndarray] = {}
    source: dict[str, dict[str, Any]] = {ACCOUNT: account}
    for axis in by_collection.values():
        cols = collections.get(axis.collection or "", {})
        acct = _array(cols.get("account", np.zeros(0, dtype=INDEX)), f"{axis.collection}.account")
        if acct.ndim != 1 or acct.dtype.kind not in "iu" or (acct.size and (np.any(np.diff(acct) < 0) or acct[0] < 0 or acct[-1] >= n)):
            raise _fail(f"{axis.collection}.account", f"expected integer account numbers in 0..{n - 1}, ascending")
        known = {"account", axis.key} | {i.field for i in plan.inputs if i.axis == axis.name} | {
            iv.field for iv in plan.indexes.values() if iv.axis == axis.name and iv.field}
        extra = sorted(set(cols) - known)
        if extra:
            raise _fail(f"{axis.collection}.{extra[0]}", "unknown field (not an input of this rule set)")
        accounts[axis.name] = acct.astype(index_dtype(n), copy=False)
        source[axis.name] = cols
    collection = {a.name: a.collection or a.name for a in plan.row_axes.values()}
    rows = {a: len(v) for a, v in accounts.items()} | {ACCOUNT: n}
    columns: dict[str, np.ndarray] = {}
    for inp in plan.inputs:
        where = f"{collection.get(inp.axis, ACCOUNT)}.{inp.field}"
        values = source[inp.axis].get(inp.field)
        count = rows[inp.axis]
        if values is None:
            if inp.default is None and count:
                raise _fail(where, "required field is missing")
            # no rows, or the rule set's default (a required field with no rows gets any value: none is read)
            values = (list(inp.codes), np.full(count, 0 if inp.default is None else inp.codes.index(str(inp.default)), dtype=INDEX)) if inp.codes else \
                np.full(count, inp.default if inp.default is not None else 0, dtype=bool if inp.var.kind == "bool" else np.float64)
        if inp.codes:
            columns[inp.var.name] = _choice(inp, values, count, where)
        elif inp.var.kind == "bool":
            columns[inp.var.name] = _boolean(values, count, where)
        else:
            columns[inp.var.name] = _number(inp, values, count, where)
    refs = {(iv.axis, iv.field) for iv in plan.indexes.values() if iv.how == "ref"}

    def text(axis: str, field: str) -> Categorical:
        values = source[axis].get(field)
        where = f"{collection.get(axis, ACCOUNT)}.{field}"
        if values is None:
            if rows[axis] == 0:
                return Categorical(np.zeros(0, dtype=object), np.zeros(0, dtype=INDEX))
            raise _fail(where, "required field is missing")
        if (axis, field) in refs and not isinstance(values, tuple) and _array(values, where).dtype.kind in "iu":
            return _local_rows(values, axis, field)
        return categorical(values, rows[axis], where)

    ref_targets = {(iv.axis, iv.field): iv.target for iv in plan.indexes.values() if iv.how == "ref"}

    def _local_rows(values: Any, axis: str, field: str) -> Categorical:
        """A reference given as row numbers within the account: the keys of those target rows."""
        target = ref_targets[(axis, field)]
        local = _array(values, f"{collection.get(axis, ACCOUNT)}.{field}", INDEX)
        acct = np.arange(n, dtype=INDEX) if axis == ACCOUNT else accounts[axis]
        offsets = np.searchsorted(accounts[target], np.arange(n + 1))
        start, count = offsets[acct], offsets[acct + 1] - offsets[acct]
        where = f"{collection.get(axis, ACCOUNT)}.{field}"
        if local.shape != (rows[axis],) or (local.size and (local.min() < 0 or np.any(local >= count))):
            raise _fail(where, "row numbers must be within the account's rows of the target axis")
        keys = text(target, plan.row_axes[target].key or "")
        return Categorical(keys.values, keys.codes[start + local])

    def located(axis: str, row: int, field: str) -> str:
        return f"{collection.get(axis, ACCOUNT)}.{field}[{row}]" if axis in accounts or axis == ACCOUNT else f"{axis} row {row}"

    indexes = build_indexes(plan, n, accounts, text, located)
    return cls(n, columns, indexes)
