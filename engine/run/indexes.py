"""The index builder: row counts, row keys and every index a plan needs (the
account of each row, references resolved to target rows, grouping axes and
their members, table keys), for one snapshot, a list of snapshots or columnar
arrays alike.

What an index is, stated once: rows of a collection in the order given,
accounts in order; rows of a grouping axis ordered by account, then by key
text; a reference is the row of its account's target collection with that
key, -1 for an optional one that has none; a table key is the table's row of
that key, else its "*" row, else -1 (read with default=). Problems (a
duplicate row key within an account, a reference to no row, a key no table
lists) are collected and raised as one SnapshotError, each located by the
caller's `where(axis, row, field)`, with the messages below.

It has a vectorised form for batches (`build_indexes`: text as categoricals,
so that millions of rows are joined as integers, not strings) and a form for
one account (`build_one`: Python lists and dicts; numpy costs microseconds
per call on a snapshot's dozen rows, which would be most of an evaluation).
tests/test_indexes.py holds the two to the same results on random snapshots
of every bundled rule set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SnapshotError
from ..ir.plan import IndexVar, Plan
from ..language.shape import ACCOUNT

MAX_REPORTED = 25
INDEX = np.int64  # row numbers as built; the indexes a batch keeps are int32 where they fit (index_dtype)
DENSE = 4  # a join or grouping is done with a lookup array when its key range is at most this many times the rows


def index_dtype(rows: int) -> type:
    """int32 for row numbers below 2**31 (half the memory and cache of int64), else int64."""
    return np.int32 if rows < 2**31 - 1 else np.int64


@dataclass(frozen=True)
class Categorical:
    """Text as distinct values and one integer code per row (codes index `values`)."""

    values: np.ndarray  # object array of str, each distinct
    codes: np.ndarray  # int64

    @classmethod
    def of(cls, texts: list[Any]) -> Categorical:
        """From a list of strings, values in first-seen order (no sort: cheap for one snapshot)."""
        seen: dict[Any, int] = {}
        codes = [seen.setdefault(t, len(seen)) for t in texts]
        values = np.empty(len(seen), dtype=object)
        values[:] = list(seen)
        return cls(values, np.array(codes, dtype=INDEX))

    def text(self, row: int) -> str:
        return str(self.values[self.codes[row]])

    def rank(self) -> np.ndarray:
        """Each value's position in sorted text order."""
        order = np.argsort(self.values.astype(str), kind="stable")
        rank = np.empty(len(order), dtype=INDEX)
        rank[order] = np.arange(len(order), dtype=INDEX)
        return rank


@dataclass
class Indexes:
    """What the builder produces; the kernels read `counts` and `index`."""

    n: int
    counts: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, np.ndarray] = field(default_factory=dict)  # per axis: first row of each account, n + 1 entries
    index: dict[str, np.ndarray] = field(default_factory=dict)
    keys: dict[str, Categorical] = field(default_factory=dict)  # the row keys of every row axis, grouping axes included


Where = Callable[[str, int, str], str]
TextOf = Callable[[str, str], Categorical]


def _offsets(acct: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(acct, np.arange(n + 1)).astype(INDEX)


def build_indexes(plan: Plan, n: int, accounts: dict[str, np.ndarray], read_text: TextOf, where: Where) -> Indexes:
    """Indexes of `n` accounts. `accounts[axis]` is the account of each row of each collection axis (ascending);
    `text(axis, field)` gives a text field (the row key, a reference, a grouping or table key) as a Categorical,
    on ACCOUNT one value per account."""
    out = Indexes(n, {ACCOUNT: n}, {ACCOUNT: np.arange(n + 1, dtype=INDEX)})
    problems: list[tuple[str, str]] = []
    read: dict[tuple[str, str], Categorical] = {}

    def text(axis: str, field: str) -> Categorical:  # each text field is read once
        if (axis, field) not in read:
            read[(axis, field)] = read_text(axis, field)
        return read[(axis, field)]

    for axis in plan.row_axes.values():
        if axis.collection:
            acct = accounts[axis.name]
            out.counts[axis.name] = len(acct)
            out.offsets[axis.name] = _offsets(acct, n)
            out.index[f"_acct_{axis.name}"] = acct
            keys = out.keys[axis.name] = text(axis.name, axis.key or "")
            _duplicates(axis.name, axis.key or "", acct, keys, where, problems)
    for iv in plan.indexes.values():
        if iv.how == "group":
            _group(out, iv, text(iv.axis, iv.field or ""))
    for iv in plan.indexes.values():
        if iv.how == "ref":
            shown = plan.row_axes[iv.target].collection or iv.target
            out.index[iv.name] = _reference(out, iv, text(iv.axis, iv.field or ""), shown, where, problems)
        elif iv.how == "table_key":
            keys = out.keys[iv.axis] if plan.row_axes.get(iv.axis) and plan.row_axes[iv.axis].group_of else text(iv.axis, iv.field or "")
            out.index[iv.name] = _table_key(plan, iv, keys, where, problems, iv.axis not in accounts)
    if problems:
        raise SnapshotError(problems[:MAX_REPORTED], None)
    small = index_dtype(max(list(out.counts.values()) + [n]))
    out.index = {name: ix.astype(small, copy=False) for name, ix in out.index.items()}
    return out


def duplicate_problem(axis: str, key: str, text: str, first: int, again: int, where: Where) -> tuple[str, str]:
    return where(axis, again, key), f"duplicate {key} {text!r} (also at {where(axis, first, key)})"


def reference_problem(iv: IndexVar, row: int, text: str, shown: str, listed: list[str], where: Where) -> tuple[str, str]:
    return where(iv.axis, row, iv.field or ""), f"{text!r} is not in {shown} (known: {', '.join(map(str, listed[:10])) or 'none'})"


def table_key_problem(iv: IndexVar, row: int, text: str, table_keys: tuple[str, ...], where: Where, grouped: bool) -> tuple[str, str]:
    """A key no table row lists; on a grouping axis the place is the group's key (its rows were made here)."""
    place = f"{iv.axis} {text!r}" if grouped else where(iv.axis, row, iv.field or "")
    return place, f"table {iv.table!r} has no tiers for {text!r} (it has: {', '.join(table_keys[:12])})"


def _duplicates(axis: str, key: str, acct: np.ndarray, keys: Categorical, where: Where, problems: list[tuple[str, str]]) -> None:
    if len(keys.values) == len(acct):  # every key distinct in the whole batch (one snapshot's, typically)
        return
    composite = acct.astype(INDEX) * max(len(keys.values), 1) + keys.codes
    size = int(composite[-1] // max(len(keys.values), 1) + 1) * max(len(keys.values), 1)  # acct ascending: its last is its largest
    if size <= DENSE * len(acct) and np.bincount(composite, minlength=size).max() <= 1:
        return  # no key twice in an account, found in one pass (no sort) when the key range is small
    order = np.argsort(composite, kind="stable")
    repeated = np.nonzero(np.diff(composite[order]) == 0)[0]
    for i in repeated[:MAX_REPORTED]:
        first, again = int(order[i]), int(order[i + 1])
        problems.append(duplicate_problem(axis, key, keys.text(again), first, again, where))


def _group(out: Indexes, iv: IndexVar, by: Categorical) -> None:
    """The rows of grouping axis iv.target: one per account and distinct value, ordered by account then text."""
    acct = out.index[f"_acct_{iv.axis}"].astype(INDEX)
    width = max(len(by.values), 1)
    rank = by.rank()
    composite = acct * width + rank[by.codes]
    if len(composite) and out.n * width <= DENSE * len(composite):  # groups by a lookup array: no sort
        present = np.zeros(out.n * width, dtype=bool)
        present[composite] = True
        groups = np.flatnonzero(present)
        number = np.cumsum(present) - 1
        member = number[composite]
    else:
        groups, member = np.unique(composite, return_inverse=True)
    by_rank = np.empty(len(rank), dtype=INDEX)
    by_rank[rank] = np.arange(len(rank), dtype=INDEX)
    out.index[iv.name] = member.astype(INDEX)
    out.index[f"_acct_{iv.target}"] = (groups // width).astype(INDEX)
    out.counts[iv.target] = len(groups)
    out.offsets[iv.target] = _offsets(groups // width, out.n)
    out.keys[iv.target] = Categorical(by.values, by_rank[groups % width])


def _reference(out: Indexes, iv: IndexVar, refs: Categorical, shown: str, where: Where, problems: list[tuple[str, str]]) -> np.ndarray:
    """The target row of each row's reference, within its own account; -1 where it points nowhere."""
    target = out.keys[iv.target]
    known = {v: i for i, v in enumerate(target.values)}
    mapped = np.array([known.get(v, -1) for v in refs.values], dtype=INDEX)[refs.codes]
    acct = np.arange(out.n, dtype=INDEX) if iv.axis == ACCOUNT else out.index[f"_acct_{iv.axis}"].astype(INDEX)
    target_acct = out.index[f"_acct_{iv.target}"].astype(INDEX)
    if len(target.values) == len(target.codes):  # every target key distinct in the batch: its code is its row
        row_of = np.empty(len(target.codes), dtype=INDEX)
        row_of[target.codes] = np.arange(len(target.codes), dtype=INDEX)
        hit = row_of[np.maximum(mapped, 0)] if len(row_of) else np.zeros(len(mapped), dtype=INDEX)
        found = (mapped >= 0) & (target_acct[hit] == acct) if len(row_of) else np.zeros(len(mapped), dtype=bool)
    else:  # a join on (account, key)
        width = max(len(target.values), 1)
        target_composite = target_acct * width + target.codes
        wanted = acct * width + mapped
        if out.n * width <= DENSE * max(len(target_composite), len(wanted)):  # by a lookup array over (account, key): no sort
            row_of = np.full(out.n * width, -1, dtype=INDEX)
            row_of[target_composite] = np.arange(len(target_composite), dtype=INDEX)
            hit = np.where(mapped >= 0, row_of[np.where(mapped >= 0, wanted, 0)], -1)
            found = hit >= 0
            hit = np.maximum(hit, 0)
        else:
            order = np.argsort(target_composite, kind="stable")
            pos = np.minimum(np.searchsorted(target_composite[order], wanted), max(len(order) - 1, 0))
            hit = order[pos] if len(order) else np.zeros(len(wanted), dtype=INDEX)
            found = (mapped >= 0) & (target_composite[hit] == wanted) if len(order) else np.zeros(len(wanted), dtype=bool)
    if not iv.allow_missing and not found.all():
        for row in np.nonzero(~found)[0][:MAX_REPORTED]:
            a = int(acct[row])
            listed = list(target.values[target.codes[out.offsets[iv.target][a]:out.offsets[iv.target][a + 1]]])
            problems.append(reference_problem(iv, int(row), refs.text(int(row)), shown, listed, where))
    return np.where(found, hit, -1).astype(INDEX)


def _table_key(plan: Plan, iv: IndexVar, keys: Categorical, where: Where, problems: list[tuple[str, str]], grouped: bool) -> np.ndarray:
    """The table row of each row's key: its own, else the table's "*" row, else -1 (read as default=) or an error."""
    table = plan.tables[iv.table or ""]
    star = table.position.get("*", -1)
    mapped = np.array([table.position.get(v, star) for v in keys.values], dtype=INDEX)[keys.codes]
    if not iv.allow_missing and (mapped < 0).any():
        for row in np.nonzero(mapped < 0)[0][:MAX_REPORTED]:
            problems.append(table_key_problem(iv, int(row), keys.text(int(row)), table.keys, where, grouped and iv.axis != ACCOUNT))
    return mapped


# ---------- one account


@dataclass
class OneAccount:
    """The indexes of one account, as the plain-Python kernel reads them: lists."""

    counts: dict[str, int] = field(default_factory=dict)
    keys: dict[str, list[Any]] = field(default_factory=dict)  # text, as the snapshot gave it
    index: dict[str, list[int]] = field(default_factory=dict)


def build_one(plan: Plan, rows: dict[str, list[dict[str, Any]]], where: Where) -> OneAccount:
    """The indexes of one account (rows per axis, ACCOUNT holding its one row), as build_indexes gives them for
    a batch of one; see the module docstring for what they mean."""
    out = OneAccount({ACCOUNT: 1})
    problems: list[tuple[str, str]] = []
    collections, groups, refs, table_keys = plan.index_kinds
    for name, key in collections:
        keys = [r.get(key) for r in rows[name]]
        out.counts[name], out.keys[name], out.index[f"_acct_{name}"] = len(keys), keys, [0] * len(keys)
        if len(set(keys)) != len(keys):
            seen: dict[Any, int] = {}
            for i, k in enumerate(keys):
                if k in seen:
                    problems.append(duplicate_problem(name, key, str(k), seen[k], i, where))
                seen.setdefault(k, i)
    for iv in groups:
        members = [r.get(iv.field or "") for r in rows[iv.axis]]
        order = sorted(set(members), key=str)
        position = {v: i for i, v in enumerate(order)}
        out.index[iv.name] = [position[v] for v in members]
        out.keys[iv.target], out.counts[iv.target], out.index[f"_acct_{iv.target}"] = order, len(order), [0] * len(order)
    for iv in refs:
        target = out.keys[iv.target]
        at = {k: i for i, k in enumerate(target)}
        found = [at.get(r.get(iv.field or ""), -1) for r in rows[iv.axis]]
        if not iv.allow_missing and -1 in found:
            shown = plan.row_axes[iv.target].collection or iv.target
            problems += [reference_problem(iv, i, str(rows[iv.axis][i].get(iv.field or "")), shown, target, where)
                         for i, j in enumerate(found) if j < 0]
        out.index[iv.name] = found
    for iv, grouped in table_keys:
        table = plan.tables[iv.table or ""]
        star = table.position.get("*", -1)
        texts: list[Any] = out.keys[iv.axis] if grouped else [r.get(iv.field or "") for r in rows[iv.axis]]
        found = [table.position.get(k, star) for k in texts]
        if not iv.allow_missing and -1 in found:
            problems += [table_key_problem(iv, i, str(k), table.keys, where, grouped) for i, (k, j) in enumerate(zip(texts, found)) if j < 0]
        out.index[iv.name] = found
    if problems:
        raise SnapshotError(problems[:MAX_REPORTED], None)
    return out
