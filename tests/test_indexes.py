"""The index builder's two forms, for one account (lists) and for batches
(arrays), give the same counts, row keys, indexes and problems on random
snapshots of every bundled rule set (one row order for every constructor)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marginspec.errors import SnapshotError
from marginspec.ir.compiler import compile_plan
from marginspec.language.shape import ACCOUNT
from marginspec.run.batch import Batch
from marginspec.run.indexes import Categorical, build_indexes, build_one
from marginspec.source.catalog import Catalog

from conftest import DEMO_RULES
from snapshots import snapshots

CATALOG = Catalog([DEMO_RULES])
RULESETS = [f"{rid}@{v.valid_from}" for rid, versions in sorted(CATALOG.files.items()) for v in versions]


@pytest.fixture(scope="module")
def plans():
    return {spec: (CATALOG.load(spec), compile_plan(CATALOG.load(spec))) for spec in RULESETS}


def both_forms(plan, data):
    """(one-account result, batch result) as comparable plain data, or the problems each raised."""
    rows = {ACCOUNT: [data.get("account", {})]}
    for axis in plan.row_axes.values():
        if axis.collection:
            rows[axis.name] = data.get(axis.collection, [])
    where = lambda axis, row, field: f"{axis}[{row}].{field}"
    try:
        one = build_one(plan, rows, where)
        single = (one.counts, {a: [str(k) for k in ks] for a, ks in one.keys.items()}, one.index)
    except SnapshotError as exc:
        single = sorted(m for _, m in exc.problems)
    accounts = {a: np.zeros(len(r), dtype=np.int64) for a, r in rows.items() if a != ACCOUNT}
    try:
        built = build_indexes(plan, 1, accounts, lambda axis, field: Categorical.of([r.get(field) for r in rows[axis]]), where)
        batch = (dict(built.counts), {a: [c.text(i) for i in range(len(c.codes))] for a, c in built.keys.items()},
                 {n: ix.tolist() for n, ix in built.index.items()})
    except SnapshotError as exc:
        batch = sorted(m for _, m in exc.problems)
    return single, batch


@pytest.mark.parametrize("spec", RULESETS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_one_account_and_batch_forms_agree(plans, spec, data):
    rs, plan = plans[spec]
    snap = data.draw(snapshots(plan, rs))
    single, batch = both_forms(plan, snap)
    assert single == batch
    # the same with a duplicate row key and a reference to no row, where the rule set has them
    broken = copy.deepcopy(snap)
    for axis in plan.row_axes.values():
        if axis.collection and broken.get(axis.collection):
            broken[axis.collection].append(dict(broken[axis.collection][0]))
            break
    single, batch = both_forms(plan, broken)
    assert single == batch


def test_batches_keep_one_row_order_across_accounts(plans):
    """Grouping-axis rows come out by account, then by key text, however the snapshot lists them."""
    rs, plan = plans["demo/basic@2025-01-01"]
    group = next(a for a in plan.row_axes.values() if a.group_of)
    source = plan.row_axes[group.group_of]
    rows = [{source.key: f"P{i}", group.by: fam} for i, fam in enumerate(["ZZ", "AA", "MM", "AA"])]
    base = {"as_of": "2025-06-01", "currencies": [{"currency": "USDT", "cash_balance": 1, "index_price": 1}]}
    snaps = [dict(base, **{source.collection: [dict(r, **{k: v for k, v in template.items() if k not in r}) for r in rows]})
             for template in [_position_template(rs)]] * 2
    from marginspec.run.rules import Rules
    batch = Batch.from_snapshots(plan, [Rules(rs).snapshot(s) for s in snaps])
    keys = batch.indexes.keys[group.name]
    assert [keys.text(i) for i in range(len(keys.codes))] == ["AA", "MM", "ZZ"] * 2


def _position_template(rs) -> dict:
    """A valid position row of the demo rule set (its required inputs), from its bundled snapshot."""
    import json

    from conftest import DEMO_SNAPSHOT
    return json.loads(DEMO_SNAPSHOT.read_text())["positions"][0]
