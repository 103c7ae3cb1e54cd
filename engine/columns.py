"""Vectorised validation and joins for `Batch.from_columns`: numbers finite
and within their declared limits, choices known, keys unique per account,
references resolved by a sort-and-search join on (account, key)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import SnapshotError
from .plan import ACCOUNT, InputCol, Plan

MAX_REPORTED = 25


def _fail(where: str, message: str) -> SnapshotError:
    return SnapshotError([(where, message)], "batch")


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inverse = np.unique(values.astype(str), return_inverse=True)
    return uniq, inverse.astype(np.int64)


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


def assemble(cls: Any, plan: Plan, n: int, account: dict[str, Any], collections: dict[str, dict[str, Any]]) -> Any:
    by_collection = {a.collection: a for a in plan.row_axes.values() if a.collection}
    unknown = set(collections) - set(by_collection)
    if unknown:
        raise _fail(sorted(unknown)[0], f"not a collection of this rule set (known: {', '.join(sorted(by_collection))})")
    batch = cls(n, {ACCOUNT: n}, {ACCOUNT: np.arange(n + 1)}, {}, {})
    text: dict[tuple[str, str], np.ndarray] = {}
    for axis in plan.row_axes.values():
        if not axis.collection:
            continue
        cols = collections.get(axis.collection, {"account": np.zeros(0, dtype=np.int64), axis.key: np.zeros(0, dtype=str)})
        acct = np.asarray(cols.get("account"), dtype=np.int64)
        if acct.ndim != 1 or (acct.size and (np.any(np.diff(acct) < 0) or acct[0] < 0 or acct[-1] >= n)):
            raise _fail(f"{axis.collection}.account", f"expected account numbers in 0..{n - 1}, sorted ascending")
        rows = acct.size
        batch.counts[axis.name] = rows
        batch.offsets[axis.name] = np.searchsorted(acct, np.arange(n + 1)).astype(np.int64)
        batch.index[f"_acct_{axis.name}"] = acct
        keys = np.asarray(cols.get(axis.key, np.zeros(0)), dtype=object)
        if keys.shape != (rows,):
            raise _fail(f"{axis.collection}.{axis.key}", f"expected {rows} keys")
        batch.keys[axis.name] = keys
        uniq, code = _codes(keys) if rows else (np.zeros(0, dtype=str), np.zeros(0, dtype=np.int64))
        composite = acct * max(len(uniq), 1) + code
        order = np.argsort(composite, kind="stable")
        dup = np.nonzero(np.diff(composite[order]) == 0)[0]
        if dup.size:
            i = int(order[dup[0] + 1])
            raise _fail(f"{axis.collection}[{i}].{axis.key}", f"duplicate {axis.key} {keys[i]!r} in account {acct[i]}")
        text[(axis.name, axis.key)] = keys
        for name in cols:
            if name not in ("account", axis.key) and not any(i.axis == axis.name and i.field == name for i in plan.inputs) and name not in _ref_fields(plan, axis.name) and name not in _text_fields(plan, axis.name):
                raise _fail(f"{axis.collection}.{name}", "unknown field (not an input of this rule set)")
    for inp in plan.inputs:
        source = account if inp.axis == ACCOUNT else collections.get(plan.row_axes[inp.axis].collection or "", {})
        rows = batch.counts[inp.axis]
        where = f"{'account' if inp.axis == ACCOUNT else plan.row_axes[inp.axis].collection}.{inp.field}"
        values = source.get(inp.field)
        if values is None:
            if inp.default is None:
                if rows == 0:
                    values = np.zeros(0)
                else:
                    raise _fail(where, "required field is missing")
            else:
                values = np.full(rows, inp.default, dtype=object if isinstance(inp.default, str) else None)
        if inp.codes:
            arr = np.asarray(values)
            if arr.dtype.kind in "iu":
                codes = arr.astype(np.int8)
                if codes.size and (codes.min() < 0 or codes.max() >= len(inp.codes)):
                    raise _fail(where, f"codes must be 0..{len(inp.codes) - 1} ({', '.join(inp.codes)})")
            else:
                lookup = {c: i for i, c in enumerate(inp.codes)}
                uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
                missing = [u for u in uniq if u not in lookup]
                if missing:
                    raise _fail(where, f"{missing[0]!r} is not one of {', '.join(inp.codes)}")
                codes = np.array([lookup[u] for u in uniq], dtype=np.int8)[inverse] if uniq.size else np.zeros(0, dtype=np.int8)
            batch.columns[inp.var.name] = codes
        elif inp.var.kind == "bool":
            batch.columns[inp.var.name] = np.asarray(values, dtype=bool)
        else:
            batch.columns[inp.var.name] = _number(inp, values, rows, where)
    for iv in plan.indexes.values():
        if iv.how == "ref":
            batch.index[iv.name] = _join(plan, batch, iv.axis, iv.target, collections[plan.row_axes[iv.axis].collection or ""], iv.field or "")
            text[(iv.axis, iv.field or "")] = np.asarray(collections[plan.row_axes[iv.axis].collection or ""][iv.field or ""], dtype=object)
        elif iv.how == "group":
            src = plan.row_axes[iv.axis]
            values = text.get((iv.axis, iv.field or "")) if (iv.axis, iv.field) in text else np.asarray(collections[src.collection or ""][iv.field or ""], dtype=object)
            uniq, code = _codes(values)
            acct = batch.index[f"_acct_{iv.axis}"]
            groups, inverse = np.unique(acct * max(len(uniq), 1) + code, return_inverse=True)
            batch.index[iv.name] = inverse.astype(np.intp)
            g_acct = groups // max(len(uniq), 1)
            batch.counts[iv.target] = groups.size
            batch.offsets[iv.target] = np.searchsorted(g_acct, np.arange(n + 1)).astype(np.int64)
            batch.index[f"_acct_{iv.target}"] = g_acct
            batch.keys[iv.target] = uniq[groups % max(len(uniq), 1)].astype(object) if groups.size else np.zeros(0, dtype=object)
    for iv in plan.indexes.values():
        if iv.how == "table_key":
            table = plan.tables[iv.table or ""]
            if iv.axis == ACCOUNT:
                values = np.asarray(account.get(iv.field or ""), dtype=object)
            elif plan.row_axes[iv.axis].group_of:
                values = batch.keys[iv.axis]
            else:
                values = np.asarray(collections[plan.row_axes[iv.axis].collection or ""][iv.field or ""], dtype=object)
            pos = {k: i for i, k in enumerate(table.keys)}
            star = pos.get("*")
            uniq, inverse = np.unique(values.astype(str), return_inverse=True) if values.size else (np.zeros(0, dtype=str), np.zeros(0, dtype=np.int64))
            mapped = []
            for u in uniq:
                j = pos.get(str(u), star)
                if j is None:
                    raise _fail(f"{iv.axis}.{iv.field}", f"table {iv.table!r} has no tiers for {u!r}")
                mapped.append(j)
            batch.index[iv.name] = np.asarray(mapped, dtype=np.intp)[inverse] if uniq.size else np.zeros(0, dtype=np.intp)
    return batch


def _ref_fields(plan: Plan, axis: str) -> set[str]:
    return {iv.field or "" for iv in plan.indexes.values() if iv.how == "ref" and iv.axis == axis}


def _text_fields(plan: Plan, axis: str) -> set[str]:
    return {iv.field or "" for iv in plan.indexes.values() if iv.how in ("group", "table_key") and iv.axis == axis}


def _join(plan: Plan, batch: Any, axis: str, target: str, cols: dict[str, Any], field: str) -> np.ndarray:
    """Global target row of each row's reference, given as target keys or as row numbers within the account."""
    where = f"{plan.row_axes[axis].collection}.{field}"
    values = np.asarray(cols.get(field))
    acct = batch.index[f"_acct_{axis}"]
    start = batch.offsets[target][acct]
    count = batch.offsets[target][acct + 1] - start
    if values.dtype.kind in "iu":
        if values.size and (values.min() < 0 or np.any(values >= count)):
            raise _fail(where, "row numbers must be within the account's rows of the target axis")
        return (start + values).astype(np.intp)
    tkeys = batch.keys[target].astype(str)
    tacct = batch.index[f"_acct_{target}"]
    uniq, inverse = np.unique(np.concatenate([tkeys, values.astype(str)]), return_inverse=True)
    k = max(len(uniq), 1)
    tcomp = tacct * k + inverse[: tkeys.size]
    comp = acct * k + inverse[tkeys.size:]
    order = np.argsort(tcomp, kind="stable")
    pos = np.searchsorted(tcomp[order], comp)
    pos = np.minimum(pos, max(order.size - 1, 0))
    found = order.size > 0 and True
    hit = order[pos] if order.size else np.zeros_like(comp)
    ok = (tcomp[hit] == comp) if found else np.zeros(comp.shape, dtype=bool)
    if not np.all(ok):
        i = int(np.argmin(ok))
        raise _fail(f"{where}[{i}]", f"{values[i]!r} is not a {target} of account {acct[i]}")
    return hit.astype(np.intp)
