"""Run a compiled kernel on one snapshot or on a batch, check that every value
is defined, and read the risk states off the thresholds.

Arithmetic semantics (README, 'Numbers'): IEEE-754 doubles. x/0 is +inf or
-inf by the sign of x; a value that is NaN anywhere (0/0, inf-inf, sqrt of a
negative number) is an EvaluationError naming the quantity and the row, never
a result. The plain-Python kernel raises on such arithmetic, and the
snapshot is then evaluated by the numpy kernel, so the values are the same
whichever kernel ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .batch import BLOCK_ACCOUNTS, Batch
from ..errors import EvaluationError
from .kernel import Kernel
from ..ir.plan import ACCOUNT, NORMAL, Plan
from .snapshot import Snapshot

FALLBACK = (ZeroDivisionError, OverflowError, ValueError, TypeError)


@dataclass
class Evaluation:
    """Values of every quantity and threshold of one snapshot, plus its states."""

    values: dict[str, Any]
    states: dict[str, list[str]]  # axis -> state per row ("account" has one row)
    triggered: dict[str, list[list[str]]]  # axis -> threshold names triggered per row
    backend: str


def _rows(value: Any, axis: str) -> list[Any]:
    return [value] if axis == ACCOUNT else list(value)


def read_states(plan: Plan, values: dict[str, Any], counts: dict[str, int]) -> tuple[dict[str, list[str]], dict[str, list[list[str]]]]:
    states: dict[str, list[str]] = {ACCOUNT: [NORMAL]}  # an account without thresholds is simply normal
    triggered: dict[str, list[list[str]]] = {ACCOUNT: [[]]}
    for name in plan.state_names[1:]:
        axis = plan.thresholds[name][0]
        n = 1 if axis == ACCOUNT else counts[axis]
        states.setdefault(axis, [NORMAL] * n)
        trig = triggered.setdefault(axis, [[] for _ in range(n)])
        for i, hit in enumerate(_rows(values[name], axis)):
            if hit:
                trig[i].append(name)
                states[axis][i] = name  # names come least to most severe, so the last hit wins
    return states, triggered


def _from_arrays(plan: Plan, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    out = {}
    for name, var in plan.outputs.items():
        a = arrays[name]
        out[name] = a[0].tolist() if var.shape.rows in (ACCOUNT, None) else a.tolist()
    return out


def _has_nan(plan: Plan, values: dict[str, Any]) -> bool:
    """Fast screen: a sum is NaN when any term is (or when inf and -inf meet; _undefined decides)."""
    for name, has_rows, has_grid in plan.number_outputs:
        v = values[name]
        if has_grid:
            total = sum(map(sum, v)) if has_rows else sum(v)
        else:
            total = sum(v) if has_rows else v
        if total != total:
            return True
    return False


def _undefined(plan: Plan, values: dict[str, Any], keys: dict[str, list[str]]) -> None:
    """Raise EvaluationError naming the first quantity and row that is NaN."""
    for name, var in plan.outputs.items():
        if var.kind == "bool":
            continue
        rows = _rows(values[name], var.shape.rows or ACCOUNT)
        for i, v in enumerate(rows):
            cells = v if isinstance(v, list) else [v]
            if any(c != c for c in cells):
                where = "" if var.shape.rows in (None, ACCOUNT) else f" for {var.shape.rows} {keys[var.shape.rows][i]!r}"
                raise EvaluationError(f"{name} has no defined value{where} (0/0, inf - inf or a similar undefined operation); see README, 'Numbers'")


def evaluate_snapshot(kernel: Kernel, snap: Snapshot, force_numpy: bool = False) -> Evaluation:
    plan = kernel.plan
    values = None
    if not force_numpy:
        try:
            values = kernel.single(snap.account, snap.rows, snap.index, snap.counts, kernel.row_tables)
            backend = "python"
        except FALLBACK:
            values = None
    if values is None or _has_nan(plan, values):  # numpy's IEEE semantics define the result (or the error)
        values = _from_arrays(plan, evaluate_batch(kernel, Batch.from_snapshots(plan, [snap]), check=False))
        backend = "numpy"
        if _has_nan(plan, values):
            _undefined(plan, values, snap.keys)
    states, triggered = read_states(plan, values, snap.counts)
    return Evaluation(values, states, triggered, backend)


def evaluate_batch(kernel: Kernel, batch: Batch, block: int = BLOCK_ACCOUNTS, check: bool = True) -> dict[str, np.ndarray]:
    """Every output as one array over the batch's rows (account outputs: one entry per account)."""
    plan = kernel.plan
    out: dict[str, np.ndarray] = {}
    for name, var in plan.outputs.items():
        rows = batch.counts[var.shape.rows or ACCOUNT]
        shape = (rows, plan.grid_size(var.shape.grid)) if var.shape.grid else (rows,)
        out[name] = np.empty(shape, dtype=bool if var.kind == "bool" else np.float64)
    with np.errstate(all="ignore"):
        for c, n, sl in batch.blocks(plan, block):
            got = kernel.batch(c, n, kernel.numpy_tables)
            for name, var in plan.outputs.items():
                rows = sl[var.shape.rows or ACCOUNT]
                out[name][rows] = got[name]
                if check and var.kind != "bool":  # checked per block, while the block is in cache
                    bad = np.isnan(out[name][rows])
                    if bad.any():
                        row = rows.start + int(np.argwhere(bad)[0][0])
                        raise EvaluationError(f"{name} has no defined value for {batch.describe(var.shape.rows or ACCOUNT, row)} "
                                              "(0/0, inf - inf or similar); see README, 'Numbers'")
    return out


def batch_states(plan: Plan, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per axis, the state of each row as an index into plan.state_names."""
    names = plan.state_names
    states: dict[str, np.ndarray] = {}
    for code, name in enumerate(names[1:], start=1):
        axis = plan.thresholds[name][0]
        hit = outputs[name]
        current = states.setdefault(axis, np.zeros(hit.shape[0], dtype=np.int8))
        current[hit] = code
    return states
