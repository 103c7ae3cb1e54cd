"""Batches asked for some outputs (names=, --select): only those are computed
and returned, their values are the full kernel's, output arrays given with
out= are written in place, and the NaN check covers what was computed."""

from __future__ import annotations

import numpy as np
import pytest
from marginspec.api import Rules
from marginspec.errors import EvaluationError, UsageError
from marginspec.source.catalog import Catalog

from conftest import quantity


def load(root) -> Rules:
    return Rules(Catalog([root]).load("t/m@2025-01-01"))


SNAPS = [
    {"as_of": "2025-02-01", "currencies": [{"currency": "BTC", "balance": 2, "price": 3}, {"currency": "USDT", "balance": 0, "price": 1}],
     "positions": [{"inst_id": "P", "settle": "USDT", "size": 4}]},
    {"as_of": "2025-02-01", "currencies": [{"currency": "USDT", "balance": 5, "price": 1}], "positions": []},
]


@pytest.fixture
def rules(make_rules) -> Rules:
    return load(make_rules(
        quantities={
            "usd": quantity("balance * price", axis="currency"),
            "total": quantity("sum(usd)"),
            "ratio": quantity("usd / balance", axis="currency", unit="USD/coin"),  # 0/0 on a zero balance: undefined
            "exposure": quantity("sum(size * ct_val * price[settle])"),
        },
        thresholds={"poor": {"axis": "account", "when": "total / exposure < 7", "severity": 1, "assumption": "test"}}))


def test_only_the_selected_outputs_are_computed_and_they_equal_the_full_kernels(rules):
    batch = rules.batch(SNAPS)
    with pytest.raises(EvaluationError, match="ratio has no defined value for snapshot\\[0\\], currency 'USDT'"):
        rules.evaluate_batch(batch)
    got = rules.evaluate_batch(batch, names=["poor", "total"])
    assert list(got) == ["total", "poor"]
    assert got["total"].tolist() == [6.0, 5.0] and got["poor"].tolist() == [True, False]
    assert "ratio" not in rules.selected_kernel(["total"]).plan.vars  # not computed, so not checked
    assert rules.evaluate_batch(batch, names=["exposure"])["exposure"].tolist() == [4.0, 0.0]


def test_unknown_or_no_names_are_usage_errors(rules):
    batch = rules.batch(SNAPS)
    with pytest.raises(UsageError, match="'totl' is not a quantity or threshold of t/m@2025-01-01 \\(it has: usd, total"):
        rules.evaluate_batch(batch, names=["totl"])
    with pytest.raises(UsageError, match="at least one"):
        rules.evaluate_batch(batch, names=[])


def test_output_arrays_given_are_written_in_place(rules):
    batch = rules.batch(SNAPS)
    first = rules.evaluate_batch(batch, names=["usd", "total"])
    kept = dict(first)
    first["usd"][:] = -1.0
    again = rules.evaluate_batch(batch, names=["usd", "total"], out=first, block=1)
    assert again["usd"] is kept["usd"] and again["total"] is kept["total"]
    assert again["usd"].tolist() == [6.0, 0.0, 5.0]
    with pytest.raises(UsageError, match="out\\['total'\\] must be a writeable numpy array of float64 with shape \\(2,\\)"):
        rules.evaluate_batch(batch, names=["total"], out={"total": np.zeros(3)})


def test_blocks_on_threads_give_the_values_and_the_first_error_of_one_thread(rules):
    snaps = SNAPS * 20  # 40 accounts, snapshot[0], [2], ... undefined at their USDT row
    batch = rules.batch(snaps)
    one = rules.evaluate_batch(batch, names=["usd", "total"], block=3)
    two = rules.evaluate_batch(batch, names=["usd", "total"], block=3, threads=2)
    assert all(np.array_equal(one[k], two[k]) for k in one)
    with pytest.raises(EvaluationError, match=r"ratio has no defined value for snapshot\[0\]"):
        rules.evaluate_batch(batch, block=3, threads=2)
