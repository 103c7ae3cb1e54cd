"""A hypothesis strategy for random valid snapshots of any rule set, built from
its plan: numbers within the declared limits, choices from their values, keys
that the rule set's tables know, references to rows that exist."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from marginspec.ir.plan import Plan
from marginspec.language.shape import ACCOUNT
from marginspec.source.ruleset import RuleSet

GENERIC_KEYS = ["K1", "K2", "K3", "K4"]


def _number(inp: Any) -> st.SearchStrategy[float]:
    low = inp.minimum if inp.minimum is not None else (inp.exclusive_minimum if inp.exclusive_minimum is not None else -1e6)
    high = inp.maximum if inp.maximum is not None else 1e6
    lo_milli = int(low * 1000) + (1 if inp.exclusive_minimum is not None else 0)
    return st.integers(lo_milli, max(int(high * 1000), lo_milli)).map(lambda x: x / 1000)


def _keys_for(plan: Plan, axis: str, field: str) -> list[str]:
    """Keys a text field may take: what every table it keys knows (any key where a table has '*')."""
    pools = []
    for iv in plan.indexes.values():
        if iv.how == "table_key" and iv.field == field and (iv.axis == axis or (plan.row_axes.get(iv.axis, None) and plan.row_axes[iv.axis].group_of == axis)):
            keys = [k for k in plan.tables[iv.table or ""].keys if k != "*"]
            if "*" not in plan.tables[iv.table or ""].keys:
                pools.append(set(keys))
            elif keys:
                pools.append(set(keys) | set(GENERIC_KEYS))
    if not pools:
        return GENERIC_KEYS
    common = set.intersection(*pools)
    return sorted(common) or sorted(pools[0])


@st.composite
def snapshots(draw: st.DrawFn, plan: Plan, rs: RuleSet, max_rows: int = 3) -> dict[str, Any]:
    data: dict[str, Any] = {"as_of": "2030-01-01"}
    keys: dict[str, list[str]] = {}
    has_refs = {i.axis for i in rs.inputs.values() if i.type == "ref" and not i.from_}
    axes = sorted(plan.row_axes.values(), key=lambda a: a.name in has_refs)  # referenced rows first
    for axis in axes:
        if not axis.collection:
            continue
        pool = _keys_for(plan, axis.name, axis.key or "")
        refs = [n for n, i in rs.inputs.items() if i.axis == axis.name and i.type == "ref" and not i.from_]
        if any(not keys.get(rs.inputs[r].to or "") for r in refs):
            keys[axis.name] = []
            data[axis.collection] = []
            continue
        chosen = draw(st.lists(st.sampled_from(pool), unique=True, max_size=min(max_rows, len(pool))))
        keys[axis.name] = chosen
        rows = []
        for key in chosen:
            row: dict[str, Any] = {axis.key: key}
            for name, inp in rs.inputs.items():
                if inp.axis != axis.name or inp.from_:  # a ref taken from another field is not in the snapshot
                    continue
                if inp.type == "ref":
                    row[name] = draw(st.sampled_from(keys[inp.to or ""]))
                elif inp.type == "text":
                    row[name] = draw(st.sampled_from(_keys_for(plan, axis.name, name)))
                else:
                    row[name] = draw(_value(inp))
            rows.append(row)
        data[axis.collection] = rows
    account = {n: draw(_value(i)) for n, i in rs.inputs.items() if i.axis == ACCOUNT and i.type not in ("ref", "text")}
    if account:
        data["account"] = account
    return data


def _value(inp: Any) -> st.SearchStrategy[Any]:
    if inp.type == "number":
        return _number(inp)
    if inp.type == "boolean":
        return st.booleans()
    if inp.type == "enum":
        return st.sampled_from(list(inp.values))
    return st.sampled_from(GENERIC_KEYS)
