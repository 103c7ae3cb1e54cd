"""Scenario sweeps: every account evaluated again with some of its inputs
moved by each value of a grid (x -> x * (1 + move)), e.g. BTC's price from
-30% to +30% in 61 steps. A block of accounts is read and indexed once and
evaluated once per move, so a sweep costs the moves times the evaluation, not
times the reading.

The results have one row per account and move: the account's id, `move`, and
the selected outputs in the layout of run/columnar.py."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SnapshotError, UsageError
from ..ir.plan import InputCol, Plan
from ..language.shape import ACCOUNT
from .batch import Batch

VARY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(\[(?P<key>[^\]]+)\])?")


@dataclass(frozen=True)
class Varied:
    """An input moved by the sweep: every row of it, or the rows whose key is `key`."""

    input: InputCol
    key: str | None
    text: str


def parse_vary(plan: Plan, text: str) -> Varied:
    """`usd_price[BTC]` (the BTC row of a row input), `mark_price` (every row) or an account input."""
    m = VARY.fullmatch(text.strip())
    if m is None:
        raise UsageError(f"--vary {text!r}: expected INPUT or INPUT[KEY], e.g. usd_price[BTC]")
    inputs = {i.field: i for i in plan.inputs if i.var.kind == "number" and not i.codes}
    inp = inputs.get(m["name"])
    if inp is None:
        raise UsageError(f"--vary {text!r}: {m['name']!r} is not a number input of {plan.ruleset} (numbers: {', '.join(sorted(inputs))})")
    if m["key"] is not None and inp.axis == ACCOUNT:
        raise UsageError(f"--vary {text!r}: {inp.field} is an account input; it has no rows to choose by key")
    return Varied(inp, m["key"], text)


def parse_grid(text: str) -> np.ndarray:
    """FROM:TO:COUNT as COUNT evenly spaced moves (ratios: -0.3 is -30%), each above -1."""
    parts = text.split(":")
    try:
        lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise UsageError(f"--grid {text!r}: expected FROM:TO:COUNT, e.g. -0.3:0.3:61") from None
    if not (1 <= count <= 100_000) or not np.isfinite([lo, hi]).all():
        raise UsageError(f"--grid {text!r}: COUNT must be 1 to 100000 and the bounds finite")
    if min(lo, hi) <= -1:
        raise UsageError(f"--grid {text!r}: a move of -1 (-100%) or below makes the input zero or negative")
    return np.linspace(lo, hi, count)


def moved(plan: Plan, batch: Batch, varied: list[Varied], move: float) -> Batch:
    """The batch with each varied input multiplied by 1 + move (on the rows with its key), its limits checked."""
    from .batch import _number

    columns = dict(batch.columns)
    for v in varied:
        name = v.input.var.name
        col = columns[name].copy()
        if v.key is None:
            col *= 1.0 + move
        else:
            keys = batch.indexes.keys[v.input.axis]
            hit = np.flatnonzero(keys.values == v.key)
            rows = np.isin(keys.codes, hit)
            col[rows] *= 1.0 + move
        try:
            columns[name] = _number(v.input, col, len(col), v.text)
        except SnapshotError as exc:
            raise SnapshotError([(f"{p} at move {move:+g}", m) for p, m in exc.problems], "sweep") from None
    return dataclasses.replace(batch, columns=columns)


def sweep_table(kernel: Any, records: Any, varied: list[Varied], grid: np.ndarray, block: int) -> Any:
    """The results of one record batch of accounts under every move, ordered by account, then move: the batch
    is built once and evaluated once per move."""
    from .columnar import arrow, batch_from_arrow, result_table
    from .evaluate import evaluate_batch

    pa = arrow()
    batch, ids = batch_from_arrow(kernel.plan, records)
    tables = []
    for move in grid:
        values = evaluate_batch(kernel, moved(kernel.plan, batch, varied, float(move)), block)
        table = result_table(kernel.plan, batch, ids, values)
        tables.append(table.add_column(1, "move", pa.array(np.full(batch.n, move))))
    by_account = (np.arange(len(grid))[None, :] * batch.n + np.arange(batch.n)[:, None]).reshape(-1)
    return pa.concat_tables(tables).take(pa.array(by_account))


def sweep_file(rules: Any, source: Any, output: Any, varied: list[Varied], grid: np.ndarray, names: list[str] | None,
               block: int, advance: Callable[[int], None], backend: str, metadata: dict[str, str]) -> int:
    """Sweep every account of a file into a results file in this process (marginspec.dask.run_file on a
    cluster); returns the number of accounts."""
    from .columnar import Writer, iter_blocks

    kernel = rules.selected_kernel(names, backend)
    writer = Writer(output, None, metadata)
    done = 0
    try:
        for records in iter_blocks(source, max(1, block // len(grid))):  # a block of results stays about `block` rows
            writer.write(sweep_table(kernel, records, varied, grid, block))
            done += records.num_rows
            advance(records.num_rows)
    finally:
        writer.close()
    return done
