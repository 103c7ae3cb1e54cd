"""Vectorised validation and joins for `Batch.from_columns`: numbers finite
and within their declared limits, choices known, keys unique per account,
references resolved by a sort-and-search join on (account, key).

Text columns (keys, references, text inputs, choices) may be arrays of str,
or `(categories, codes)` pairs: a list of distinct strings and an integer
array indexing it, which avoids sorting millions of strings."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SnapshotError
from ..ir.plan import ACCOUNT, InputCol, Plan

Categorical = tuple[np.ndarray, np.ndarray]  # (distinct strings, int codes)


def _fail(where: str, message: str) -> SnapshotError:
    return SnapshotError([(where, message)], "batch")


def categorical(values: Any, n: int, where: str) -> Categorical:
    """(categories, codes) from an array of strings or a (categories, codes) pair."""
    if isinstance(values, tuple) and len(values) == 2:
        cats, codes = np.asarray(values[0], dtype=object), np.asarray(values[1], dtype=np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= len(cats)):
            raise _fail(where, f"codes must index the {len(cats)} categories")
    else:
        arr = np.asarray(values, dtype=object)
        if arr.size == 0:
            return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
        cats, codes = np.unique(arr.astype(str), return_inverse=True)
        cats, codes = cats.astype(object), codes.astype(np.int64)
    if codes.shape != (n,):
        raise _fail(where, f"expected {n} values, got {codes.shape[0] if codes.ndim else 0}")
    return cats, codes


def _number(inp: InputCol, values: Any, n: int, where: str) -> np.ndarray:
    col = np.asarray(values, dtype=np.float64)
    if col.shape != (n,):
        raise _fail(where, f"expected {n} values, got shape {col.shape}")
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


def _choice(inp: InputCol, values: Any, n: int, where: str) -> np.ndarray:
    arr = values if isinstance(values, tuple) else np.asarray(values)
    if not isinstance(arr, tuple) and arr.dtype.kind in "iu":
        if arr.shape != (n,) or (arr.size and (arr.min() < 0 or arr.max() >= len(inp.codes))):
            raise _fail(where, f"codes must be 0..{len(inp.codes) - 1} ({', '.join(inp.codes)}), one per row")
        return arr.astype(np.int8)
    cats, codes = categorical(arr, n, where)
    lookup = {c: i for i, c in enumerate(inp.codes)}
    unknown = [c for c in cats if c not in lookup]
    if unknown:
        raise _fail(where, f"{unknown[0]!r} is not one of {', '.join(inp.codes)}")
    return np.array([lookup[c] for c in cats], dtype=np.int8)[codes] if cats.size else np.zeros(0, dtype=np.int8)


def _in_target(cats: np.ndarray, target_cats: np.ndarray) -> np.ndarray:
    """Codes of `cats` in the target's category list (-1 where absent)."""
    pos = {c: i for i, c in enumerate(target_cats)}
    return np.array([pos.get(c, -1) for c in cats], dtype=np.int64)


def assemble(cls: Any, plan: Plan, n: int, account: dict[str, Any], collections: dict[str, dict[str, Any]]) -> Any:
    by_collection = {a.collection: a for a in plan.row_axes.values() if a.collection}
    unknown = set(collections) - set(by_collection)
    if unknown:
        raise _fail(sorted(unknown)[0], f"not a collection of this rule set (known: {', '.join(sorted(by_collection))})")
    batch = cls(n, {ACCOUNT: n}, {ACCOUNT: np.arange(n + 1)}, {}, {})
    text: dict[tuple[str, str], Categorical] = {}
    for axis in plan.row_axes.values():
        if not axis.collection:
            continue
        cols = collections.get(axis.collection, {})
        acct = np.asarray(cols.get("account", np.zeros(0)), dtype=np.int64)
        if acct.ndim != 1 or (acct.size and (np.any(np.diff(acct) < 0) or acct[0] < 0 or acct[-1] >= n)):
            raise _fail(f"{axis.collection}.account", f"expected account numbers in 0..{n - 1}, sorted ascending")
        rows = acct.size
        known = {"account", axis.key} | {i.field for i in plan.inputs if i.axis == axis.name} | {
            iv.field for iv in plan.indexes.values() if iv.axis == axis.name and iv.field}
        extra = sorted(set(cols) - known)
        if extra:
            raise _fail(f"{axis.collection}.{extra[0]}", "unknown field (not an input of this rule set)")
        batch.counts[axis.name] = rows
        batch.offsets[axis.name] = np.searchsorted(acct, np.arange(n + 1)).astype(np.int64)
        batch.index[f"_acct_{axis.name}"] = acct
        keys = categorical(cols.get(axis.key, np.zeros(0, dtype=object)), rows, f"{axis.collection}.{axis.key}")
        composite = acct * max(len(keys[0]), 1) + keys[1]
        order = np.argsort(composite, kind="stable")
        dup = np.nonzero(np.diff(composite[order]) == 0)[0]
        if dup.size:
            i = int(order[dup[0] + 1])
            raise _fail(f"{axis.collection}[{i}].{axis.key}", f"duplicate {axis.key} {keys[0][keys[1][i]]!r} in account {acct[i]}")
        text[(axis.name, axis.key or "")] = keys
        batch.key_codes[axis.name] = keys
    for inp in plan.inputs:
        rows = batch.counts[inp.axis]
        coll = "account" if inp.axis == ACCOUNT else plan.row_axes[inp.axis].collection or ""
        source = account if inp.axis == ACCOUNT else collections.get(coll, {})
        where = f"{coll}.{inp.field}"
        values = source.get(inp.field)
        if values is None:
            if inp.default is None and rows:
                raise _fail(where, "required field is missing")
            values = np.full(rows, inp.default if inp.default is not None else 0, dtype=object if isinstance(inp.default, str) else None)
        if inp.codes:
            batch.columns[inp.var.name] = _choice(inp, values, rows, where)
        elif inp.var.kind == "bool":
            batch.columns[inp.var.name] = np.asarray(values, dtype=bool)
        else:
            batch.columns[inp.var.name] = _number(inp, values, rows, where)
    deferred: list[tuple[Any, Any, str]] = []  # references: joined once the grouping axes they may point into exist
    for iv in plan.indexes.values():  # references and text fields, then groups and table keys that use them
        if iv.how == "ref" and iv.axis == ACCOUNT:
            batch.index[iv.name] = _join(batch, ACCOUNT, iv.target, account.get(iv.field or ""), f"account.{iv.field}")
            continue
        if iv.how not in ("ref", "group", "table_key") or iv.axis == ACCOUNT or plan.row_axes[iv.axis].group_of:
            continue
        coll = plan.row_axes[iv.axis].collection or ""
        if (iv.axis, iv.field or "") not in text and iv.how != "ref":
            text[(iv.axis, iv.field or "")] = categorical(collections.get(coll, {}).get(iv.field or "", np.zeros(0, dtype=object)), batch.counts[iv.axis], f"{coll}.{iv.field}")
        if iv.how == "ref":
            values = collections.get(coll, {}).get(iv.field or "")
            if values is None and iv.field == plan.row_axes[iv.axis].key:
                values = batch.key_codes[iv.axis]
            deferred.append((iv, values, f"{coll}.{iv.field}"))
    for iv in plan.indexes.values():
        if iv.how == "group":
            cats, code = text[(iv.axis, iv.field or "")]
            acct = batch.index[f"_acct_{iv.axis}"]
            width = max(len(cats), 1)
            groups, inverse = np.unique(acct * width + code, return_inverse=True)
            batch.index[iv.name] = inverse.astype(np.intp)
            batch.counts[iv.target] = groups.size
            batch.offsets[iv.target] = np.searchsorted(groups // width, np.arange(n + 1)).astype(np.int64)
            batch.index[f"_acct_{iv.target}"] = groups // width
            batch.key_codes[iv.target] = (cats, groups % width)
    for iv, values, where in deferred:
        batch.index[iv.name] = _join(batch, iv.axis, iv.target, values, where, iv.allow_missing)
    for iv in plan.indexes.values():
        if iv.how == "table_key":
            if iv.axis == ACCOUNT:
                cats, codes = categorical(account.get(iv.field or "", np.zeros(0, dtype=object)), n, f"account.{iv.field}")
            elif plan.row_axes[iv.axis].group_of:
                cats, codes = batch.key_codes[iv.axis]
            else:
                cats, codes = text[(iv.axis, iv.field or "")]
            table = plan.tables[iv.table or ""]
            mapped = _in_target(cats, np.asarray(table.keys, dtype=object))
            star = table.keys.index("*") if "*" in table.keys else -1
            mapped = np.where(mapped < 0, star, mapped)
            if not iv.allow_missing and (np.any(mapped[np.unique(codes)] < 0) if codes.size else False):
                missing = [c for c, m in zip(cats, mapped) if m < 0][0]
                raise _fail(f"{iv.axis}.{iv.field}", f"table {iv.table!r} has no tiers for {missing!r}")
            batch.index[iv.name] = mapped[codes].astype(np.intp) if codes.size else np.zeros(0, dtype=np.intp)
    return batch


def _join(batch: Any, axis: str, target: str, values: Any, where: str, optional: bool = False) -> np.ndarray:
    """Global target row of each row's reference, given as target keys or as row numbers within the account."""
    rows = batch.counts[axis]
    if rows == 0:
        return np.zeros(0, dtype=np.intp)
    if values is None:
        raise _fail(where, "required field is missing")
    acct = np.arange(batch.n) if axis == ACCOUNT else batch.index[f"_acct_{axis}"]
    start = batch.offsets[target][acct]
    if not isinstance(values, tuple) and np.asarray(values).dtype.kind in "iu":
        local = np.asarray(values, dtype=np.int64)
        count = batch.offsets[target][acct + 1] - start
        if local.shape != (rows,) or (local.size and (local.min() < 0 or np.any(local >= count))):
            raise _fail(where, "row numbers must be within the account's rows of the target axis")
        return (start + local).astype(np.intp)
    cats, codes = categorical(values, rows, where)
    tcats, tcodes = batch.key_codes[target]
    mapped = _in_target(cats, tcats)[codes] if cats.size else np.zeros(0, dtype=np.int64)
    width = max(len(tcats), 1)
    tcomp = batch.index[f"_acct_{target}"] * width + tcodes
    comp = acct * width + mapped
    order = np.argsort(tcomp, kind="stable")
    pos = np.minimum(np.searchsorted(tcomp[order], comp), max(order.size - 1, 0))
    hit = order[pos] if order.size else np.zeros(rows, dtype=np.int64)
    ok = (mapped >= 0) & ((tcomp[hit] == comp) if order.size else False)
    if optional:
        return np.where(ok, hit, -1).astype(np.intp)
    if not np.all(ok):
        i = int(np.argmin(ok))
        raise _fail(f"{where}[{i}]", f"{cats[codes[i]]!r} is not a {target} of account {acct[i]}")
    return hit.astype(np.intp)
