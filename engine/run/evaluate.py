"""Run a compiled kernel on one snapshot or on a batch, check that every value
is defined, and read the risk states off the thresholds.

What values mean is stated once in backends/semantics.py. One snapshot runs
on the plain-Python kernel; where that kernel meets an IEEE special case it
does not compute with floats the way numpy does (a division by zero, an
overflow, a math domain error, an undefined value), it stops, and the numpy
kernel computes the snapshot: so the values are the same whichever kernel
ran, and the result records which one did and why. Any other exception is a
bug and is raised as one. An undefined value in any output (or a threshold
whose condition is undefined) is an EvaluationError naming the quantity,
the row and the formula's place in its rule file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.semantics import BeyondTable, Undefined
from ..errors import EvaluationError, UsageError
from ..ir.plan import NORMAL, Plan
from ..language.shape import ACCOUNT
from .batch import BLOCK_ACCOUNTS, Batch
from .kernel import Kernel
from .snapshot import Snapshot


@dataclass
class Evaluation:
    """Values of every quantity and threshold of one snapshot, plus its states."""

    values: dict[str, Any]
    states: dict[str, list[str]]  # axis -> state per row ("account" has one row)
    triggered: dict[str, list[list[str]]]  # axis -> threshold names triggered per row
    backend: str  # "python" or "numpy"
    fallback: str | None = None  # why the numpy kernel computed a single snapshot


def ieee_reason(exc: BaseException) -> str | None:
    """Why the plain-Python kernel stopped, if it is one of the documented IEEE special cases; None for a bug."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "overflow"
    if isinstance(exc, Undefined):
        return "undefined value"
    if type(exc) is ValueError and exc.args == ("math domain error",):
        return "math domain error"
    return None


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
    """Fast screen: a sum is NaN when any term is (or when inf and -inf meet; numpy's check decides)."""
    for name, _, has_rows, has_grid in plan.checked:
        v = values[name]
        if has_grid:
            total = sum(map(sum, v)) if has_rows else sum(v)
        else:
            total = sum(v) if has_rows else v
        if total != total:
            return True
    return False


def undefined_error(plan: Plan, name: str, where: str) -> EvaluationError:
    """The error for an undefined value of output `name` (`where`: which account and row, or empty)."""
    at = f"; the formula is at {plan.locations[name]}" if name in plan.locations else ""
    what = "the condition of " if name in plan.thresholds else ""
    return EvaluationError(f"{what}{name} has no defined value{' for ' + where if where else ''} "
                           f"(0/0, inf - inf or a similar undefined operation){at}; see README, 'Numbers'")


def beyond_error(exc: BeyondTable, describe: Callable[[str, int], str], rows: dict[str, slice]) -> EvaluationError:
    """The error for a tier read above a table's bounded last tier (semantics.BeyondTable); `describe` names
    row `exc.row` of the block whose rows are `rows`."""
    where = describe(exc.axis, rows[exc.axis].start + exc.row) if exc.row >= 0 else ""
    shown = f"{exc.value:,.10g}"
    return EvaluationError(f"{shown} is beyond the last tier of table {exc.table!r} for {exc.key!r} (its tiers end at {exc.limit:,.10g})"
                           f"{' for ' + where if where else ''}: the table does not say what applies beyond its last tier "
                           "(a table may say `beyond: last` if its last tier goes on); see README, 'Numbers'")


def evaluate_snapshot(kernel: Kernel, snap: Snapshot, force_numpy: bool = False) -> Evaluation:
    plan = kernel.plan
    values = None
    fallback = "asked for" if force_numpy else None
    if not force_numpy:
        try:
            values = kernel.single(snap.account, snap.rows, snap.index, snap.counts, plan.tables)
        except (ArithmeticError, ValueError) as exc:
            fallback = ieee_reason(exc)
            if fallback is None:
                raise
        if values is not None and _has_nan(plan, values):
            values, fallback = None, "undefined value"
    if values is None:  # numpy's IEEE semantics define the result, or find the undefined value and say where
        values = _from_arrays(plan, evaluate_batch(kernel, Batch.from_snapshots(plan, [snap], labelled=False)))
    states, triggered = read_states(plan, values, snap.counts)
    return Evaluation(values, states, triggered, "python" if fallback is None else "numpy", fallback)


def output_arrays(plan: Plan, counts: dict[str, int], out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The arrays a batch's values are written into: those of `out` (reused: no allocation, no page faults on
    fresh memory) where given, checked for shape and type, and new ones for the rest."""
    arrays: dict[str, np.ndarray] = {}
    for name in plan.returned:
        var = plan.vars[name]
        rows = counts[var.shape.rows or ACCOUNT]
        shape = (rows, plan.grid_size(var.shape.grid)) if var.shape.grid else (rows,)
        dtype = np.dtype(bool if var.kind == "bool" else np.float64)
        given = (out or {}).get(name)
        if given is None:
            arrays[name] = np.empty(shape, dtype=dtype)
        elif not isinstance(given, np.ndarray) or given.shape != shape or given.dtype != dtype or not given.flags.writeable:
            raise UsageError(f"out[{name!r}] must be a writeable numpy array of {dtype} with shape {shape}")
        else:
            arrays[name] = given
    return arrays


def evaluate_batch(kernel: Kernel, batch: Batch, block: int = BLOCK_ACCOUNTS, out: dict[str, np.ndarray] | None = None,
                   threads: int = 1) -> dict[str, np.ndarray]:
    """Every output of the kernel (all of the rule set's, or those it was selected for) as one array over the
    batch's rows (account outputs: one entry per account), written into `out`'s arrays where it has them.
    The kernel checks what it computed for undefined values, block by block, while the block is in cache.
    threads > 1 runs that many blocks at once (the fused kernel releases the GIL; blocks write disjoint rows);
    an undefined value is reported for the first block that has one, whatever the threads."""
    plan = kernel.plan
    arrays = output_arrays(plan, batch.counts, out)
    axes = {name: plan.vars[name].shape.rows or ACCOUNT for name in plan.returned}
    shown = {name: reported for name, reported, _, _ in plan.checked}

    def run(c: dict[str, np.ndarray], n: dict[str, int], sl: dict[str, slice]) -> tuple[dict[str, slice], dict[str, np.ndarray], list[str]]:
        views = {name: arrays[name][sl[axes[name]]] for name in plan.returned}
        with np.errstate(all="ignore"):
            try:
                return sl, views, kernel.batch(c, n, kernel.numpy_tables, views)
            except BeyondTable as exc:
                raise beyond_error(locate(exc, c, n, views), batch.describe, sl) from None

    def locate(exc: BeyondTable, c: dict[str, np.ndarray], n: dict[str, int], views: dict[str, np.ndarray]) -> BeyondTable:
        """The fused kernel stops at a read beyond a table without saying where; the numpy kernel says."""
        if exc.row < 0 and kernel.locate is not None:
            try:
                kernel.locate(c, n, kernel.numpy_tables, views)
            except BeyondTable as found:
                return found
        return exc

    def check(sl: dict[str, slice], views: dict[str, np.ndarray], undefined: list[str]) -> None:
        if undefined:
            name = undefined[0]
            bad = np.isnan(views[name]).reshape(len(views[name]), -1).any(axis=1)
            row = sl[axes[name]].start + int(np.argmax(bad))
            raise undefined_error(plan, shown[name], batch.describe(axes[name], row))

    if threads <= 1:
        for c, n, sl in batch.blocks(plan, block):
            check(*run(c, n, sl))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            pending: list[Any] = []
            for c, n, sl in batch.blocks(plan, block):  # at most 2 blocks per thread in flight: memory stays bounded
                pending.append(pool.submit(run, c, n, sl))
                if len(pending) >= 2 * threads:
                    check(*pending.pop(0).result())
            for future in pending:
                check(*future.result())
    return {name: arrays[name] for name in plan.outputs}
