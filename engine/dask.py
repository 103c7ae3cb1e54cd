"""Evaluation beyond one machine, on Dask (`pip install "marginspec[dask]"`).

    import dask.dataframe as dd, marginspec, marginspec.dask
    rules = marginspec.load("venue/mode@2024-11-08")
    accounts = dd.read_parquet("accounts/*.parquet", dtype_backend="pyarrow")   # the columnar layout
    results = marginspec.dask.evaluate(accounts, rules, select=["margin_ratio", "liquidation"])
    results.to_parquet("results/")

Each partition is evaluated by a task that names the rule set (its pinned
version, the rules folders and the outputs), not by a pickled kernel: a
worker process compiles the kernel once, or loads it from its own kernel
cache, keeps it in memory and reuses it for every partition it is given.
`marginspec batch --dask SCHEDULER` and `sweep --dask` send one task per
Parquet row group (the workers read the file themselves: a path every
worker can read) and write the results in order into one file, with a bounded
number of row groups in flight."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import UsageError

IN_FLIGHT = 8  # row groups evaluated at once per run of batch --dask, beyond those being written


def _require() -> tuple[Any, Any]:
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:
        raise UsageError('Dask evaluation needs dask and distributed: pip install "marginspec[dask]"') from None
    return dd, distributed


Job = tuple[str, Any, tuple[str, ...], str]  # (spec, date, rules folders, content sha256 of the rule set)


@functools.cache
def _rules(job: Job) -> Any:
    """The rule set version on this worker, loaded once per process and checked to be the client's."""
    from .run.rules import Rules
    from .source.catalog import Catalog

    spec, at, folders, sha = job
    rules = Rules(Catalog([Path(f) for f in folders]).load(spec, at))
    if rules.ruleset.content_sha256 != sha:
        raise UsageError(f"a Dask worker read other files for {rules.ruleset.ref} than this process did "
                         f"(content sha256 {rules.ruleset.content_sha256[:12]} instead of {sha[:12]}): give the workers the same rules")
    return rules


def _job(rules: Any) -> Job:
    """What a task needs to load the same rule set version on a worker."""
    if rules.source is None:
        raise UsageError("rules to evaluate on Dask must come from marginspec.load(...), which records how to load them")
    spec, at, folders = rules.source
    return spec, at, tuple(str(Path(f).resolve()) for f in folders), rules.ruleset.content_sha256


def _partition(frame: Any, job: Job, names: tuple[str, ...] | None, backend: str, block: int) -> Any:
    import pandas as pd
    import pyarrow as pa

    from .run.columnar import evaluate_arrow

    kernel = _rules(job).selected_kernel(names, backend)
    table = evaluate_arrow(kernel, pa.Table.from_pandas(frame, preserve_index=False), block)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def evaluate(ddf: Any, rules: Any, select: Iterable[str] | None = None, backend: str = "auto", block: int | None = None) -> Any:
    """A dask DataFrame of results (account_id, the account outputs, and per row axis a list column), one
    partition per partition of `ddf`, which holds accounts in the columnar layout (`marginspec schema columns`)."""
    _require()
    import pandas as pd

    from .ir.select import selection
    from .run.batch import BLOCK_ACCOUNTS
    from .run.columnar import output_schema

    names = selection(rules.kernel.plan, select)
    plan = rules.selected_kernel(names, "numpy").plan
    ids = ddf.dtypes.get("account_id") if hasattr(ddf.dtypes, "get") else None
    import pyarrow as pa

    if isinstance(ids, pd.ArrowDtype):
        id_type = ids.pyarrow_dtype
    else:
        id_type = pa.from_numpy_dtype(ids) if ids is not None and getattr(ids, "kind", "O") in "iuf" else pa.string()
    meta = output_schema(plan, id_type).empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    return ddf.map_partitions(_partition, _job(rules), names, backend, block or BLOCK_ACCOUNTS, meta=meta)


def _row_groups(path: str, groups: list[int], job: Job, names: tuple[str, ...] | None, backend: str, block: int, sweep: Any) -> Any:
    """Evaluate some row groups of a Parquet file on a worker; the results as one Arrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .run.columnar import evaluate_arrow
    from .run.sweep import sweep_table

    kernel = _rules(job).selected_kernel(names, backend)
    records = pq.ParquetFile(path).read_row_groups(groups)
    if sweep is None:
        return evaluate_arrow(kernel, records, block)
    varied, grid = sweep
    return pa.concat_tables([sweep_table(kernel, r, varied, grid, block) for r in records.to_batches(max(1, block // len(grid)))])


def run_file(rules: Any, source: Path, output: Path, select: list[str] | None, scheduler: str, block: int, backend: str,
             metadata: dict[str, str], sweep: Any = None) -> int:
    """Evaluate (or sweep) a Parquet file on the Dask cluster at `scheduler`, writing the results in order."""
    _, distributed = _require()
    import pyarrow.parquet as pq

    from .ir.select import selection
    from .run.columnar import Writer

    if Path(source).suffix.lower() not in (".parquet", ".pq"):
        raise UsageError("--dask reads Parquet files (one task per row group)")
    names = selection(rules.kernel.plan, select)
    job = _job(rules)
    groups = pq.ParquetFile(source).metadata.num_row_groups
    path = str(Path(source).resolve())
    writer = Writer(Path(output), None, metadata)
    done = 0
    try:
        with distributed.Client(scheduler) as client:
            pending = []
            for g in range(groups):
                pending.append(client.submit(_row_groups, path, [g], job, names, backend, block, sweep, pure=False))
                if len(pending) > IN_FLIGHT:
                    done += _write(writer, pending.pop(0))
            for future in pending:
                done += _write(writer, future)
    finally:
        writer.close()
    return done // (len(sweep[1]) if sweep else 1)


def _write(writer: Any, future: Any) -> int:
    table = future.result()
    writer.write(table)
    return int(table.num_rows)
