"""Accounts in and results out as Arrow tables (Parquet, Arrow IPC, pandas and
polars DataFrames), with pyarrow, an optional dependency (`pip install
"marginspec[arrow]"`): it reads Parquet row group by row group and hands
numpy its columns without copying, which no plain-Python reader can.

One layout, for input and output alike: **one row per account**.

- `account_id`: any Arrow type (string or integer); carried to the results.
- each account input: a column of its own, named as in the snapshot.
- each collection (currencies, positions, ...): a column of type
  list<struct<...>> named after the collection, one struct per row with the
  row's key and input fields, as in the snapshot's JSON.

A field with a default may be left out of the schema, or be null (the default
is used); a null where there is no default is an error naming the column and
the account's row. A result table has `account_id`, every account-level
output as a column, and per row axis a list<struct<key, outputs...>> column;
a value over a grid (stress scenarios) is a list of doubles.

Rows arrive grouped by account (the lists), so the batch is built from the
list offsets without sorting, and text columns become (values, codes) pairs
through Arrow's dictionary encoding: no per-row Python object is made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SnapshotError, UsageError
from ..ir.plan import InputCol, Plan
from ..language.shape import ACCOUNT
from .batch import Batch

if TYPE_CHECKING:
    import pyarrow as pa

ACCOUNT_ID = "account_id"
PARQUET = (".parquet", ".pq")
ARROW = (".arrow", ".feather", ".ipc")


def arrow() -> Any:
    """pyarrow, or a UsageError saying how to install it."""
    try:
        import pyarrow
        import pyarrow.compute
    except ImportError:
        raise UsageError('columnar files need pyarrow: pip install "marginspec[arrow]"') from None
    return pyarrow


def _arrow_type(pa: Any, inp: InputCol) -> Any:
    return pa.bool_() if inp.var.kind == "bool" else pa.float64() if not inp.codes and inp.var.kind == "number" else pa.string()


def input_schema(plan: Plan, id_type: Any = None) -> pa.Schema:
    """The Arrow schema of a rule set's accounts (see the module docstring); fields with a default are nullable."""
    pa = arrow()
    fields = [pa.field(ACCOUNT_ID, id_type or pa.string(), nullable=False)]
    by_axis: dict[str, list[Any]] = {}
    for inp in plan.inputs:
        by_axis.setdefault(inp.axis, []).append(pa.field(inp.field, _arrow_type(pa, inp), nullable=inp.default is not None))
    for iv in plan.indexes.values():  # text fields read only to build indexes (references, grouping and table keys)
        if iv.field and iv.how in ("ref", "group", "table_key") and not any(f.name == iv.field for f in by_axis.get(iv.axis, [])):
            axis = plan.row_axes.get(iv.axis)
            if axis is None or axis.group_of is None:
                by_axis.setdefault(iv.axis, []).append(pa.field(iv.field, pa.string(), nullable=False))
    fields += by_axis.get(ACCOUNT, [])
    for axis in plan.row_axes.values():
        if axis.collection:
            row = [pa.field(axis.key or "", pa.string(), nullable=False)] + [f for f in by_axis.get(axis.name, []) if f.name != axis.key]
            fields.append(pa.field(axis.collection, pa.list_(pa.struct(row)), nullable=True))
    return pa.schema(fields)


def output_schema(plan: Plan, id_type: Any = None) -> pa.Schema:
    """The Arrow schema of the results of `plan` (all its outputs, or those it was selected for)."""
    pa = arrow()
    fields = [pa.field(ACCOUNT_ID, id_type or pa.string())]
    by_axis: dict[str, list[Any]] = {}
    for name, var in plan.outputs.items():
        t = pa.bool_() if var.kind == "bool" else pa.float64()
        if var.shape.grid:
            t = pa.list_(t, plan.grid_size(var.shape.grid))
        by_axis.setdefault(var.shape.rows or ACCOUNT, []).append(pa.field(name, t))
    fields += by_axis.pop(ACCOUNT, [])
    for axis, outs in by_axis.items():
        key = plan.row_axes[axis].key or plan.row_axes[axis].by or "key"
        fields.append(pa.field(_axis_column(plan, axis), pa.list_(pa.struct([pa.field(key, pa.string())] + outs))))
    return pa.schema(fields)


def _axis_column(plan: Plan, axis: str) -> str:
    return plan.row_axes[axis].collection or axis


# ---------- reading


def _where(column: str, field: str | None = None) -> str:
    return f"{column}.{field}" if field else column


def _numpy(pa: Any, array: Any, inp: InputCol | None, where: str) -> Any:
    """A column as numpy (numbers, booleans) or as a (values, codes) pair (text), nulls replaced by the default."""
    if array.null_count:
        if inp is None or inp.default is None:
            first = int(np.argmax(np.asarray(array.is_null())))
            raise SnapshotError([(f"{where}[{first}]", "null, and the field has no default")], "columns")
        array = array.fill_null(pa.scalar(inp.default, type=array.type))
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) or pa.types.is_dictionary(array.type):
        encoded = array if pa.types.is_dictionary(array.type) else array.dictionary_encode()
        return ([str(v) for v in encoded.dictionary.to_pylist()], encoded.indices.to_numpy(zero_copy_only=False))
    if pa.types.is_boolean(array.type):
        return array.to_numpy(zero_copy_only=False)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return array.to_numpy(zero_copy_only=False)
    raise SnapshotError([(where, f"expected numbers, booleans or text, got Arrow type {array.type}")], "columns")


def _whole(column: Any) -> Any:
    """A column as one array: its only chunk as it is (combine_chunks copies even one chunk)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def batch_from_arrow(plan: Plan, table: Any) -> tuple[Batch, Any]:
    """A Batch from an Arrow table or record batch in the layout above, and its account_id column."""
    pa = arrow()
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    names = set(table.column_names)
    if ACCOUNT_ID not in names:
        raise SnapshotError([(ACCOUNT_ID, "required column is missing (one row per account; see `marginspec schema columns RULESET`)")], "columns")
    n = table.num_rows
    collections = {a.collection: a for a in plan.row_axes.values() if a.collection}
    account_fields = {i.field: i for i in plan.inputs if i.axis == ACCOUNT} | {
        iv.field: None for iv in plan.indexes.values() if iv.axis == ACCOUNT and iv.field}
    unknown = sorted(names - {ACCOUNT_ID} - set(collections) - set(account_fields))
    if unknown:
        raise SnapshotError([(unknown[0], "unknown column (not an account input or a collection of this rule set)")], "columns")
    account = {f: _numpy(pa, _whole(table.column(f)), inp, f) for f, inp in account_fields.items() if f in names}
    given: dict[str, dict[str, Any]] = {}
    for collection, axis in collections.items():
        if collection not in names:
            continue
        lists = _whole(table.column(collection))
        if (pa.types.is_list(lists.type) or pa.types.is_large_list(lists.type)) and pa.types.is_null(lists.type.value_type) \
                and len(lists.flatten()) == 0:
            continue  # every list empty (a DataFrame's type inference found no row to type)
        if (not pa.types.is_list(lists.type) and not pa.types.is_large_list(lists.type)) or not pa.types.is_struct(lists.type.value_type):
            raise SnapshotError([(collection, f"expected a list of structs (one per row), got Arrow type {lists.type}")], "columns")
        if lists.null_count:  # a null list: an account without rows
            counts = pa.compute.list_value_length(lists).fill_null(0).to_numpy()
        else:
            counts = np.diff(lists.offsets.to_numpy())
        rows = lists.flatten()  # the rows inside the lists, whatever the slice and the nulls
        if rows.null_count:
            raise SnapshotError([(collection, "a row is null (expected an object with the row's fields)")], "columns")
        inputs = {i.field: i for i in plan.inputs if i.axis == axis.name}
        cols: dict[str, Any] = {"account": np.repeat(np.arange(n, dtype=np.int64), counts)}
        for k, child in enumerate(rows.flatten()):
            field = rows.type.field(k).name
            cols[field] = _numpy(pa, child, inputs.get(field), _where(collection, field))
        given[collection] = cols
    batch = Batch.from_columns(plan, n, account, **given)
    return batch, table.column(ACCOUNT_ID)


def read_table(source: Any) -> Any:
    """An Arrow table from a pandas or polars DataFrame, an Arrow table, or a Parquet or Arrow IPC file path."""
    pa = arrow()
    if isinstance(source, (pa.Table, pa.RecordBatch)):
        return source
    if isinstance(source, (str, Path)):
        return pa.Table.from_batches(list(iter_blocks(Path(source), 1 << 20)))
    if hasattr(source, "to_arrow"):  # polars
        return source.to_arrow()
    if type(source).__module__.startswith("pandas"):
        return pa.Table.from_pandas(source, preserve_index=False)
    raise UsageError(f"expected a DataFrame, an Arrow table or a file path, not {type(source).__name__}")


def iter_blocks(path: Path, block: int, columns: list[str] | None = None) -> Iterator[Any]:
    """Record batches of at most `block` accounts from a Parquet or Arrow IPC file, read as they are needed."""
    pa = arrow()
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if suffix in PARQUET:
        import pyarrow.parquet as pq

        try:
            f = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering keeps what it read: memory grew with the file
        except (pa.ArrowException, OSError) as exc:
            raise SnapshotError([("", f"not a readable Parquet file ({exc})")], str(path)) from None
        present = [c for c in (columns or f.schema_arrow.names) if c in f.schema_arrow.names]
        # decoding on the calling thread: the kernel waits for it anyway, and on 2 cores the reader's threads
        # made it 2.4x slower (benchmarks/README.md)
        yield from f.iter_batches(batch_size=block, columns=present, use_threads=False)
    elif suffix in ARROW:
        try:
            reader = pa.ipc.open_file(pa.OSFile(str(path)))  # read, not memory-mapped: mapped pages would stay resident
        except (pa.ArrowException, OSError) as exc:
            raise SnapshotError([("", f"not a readable Arrow IPC file ({exc})")], str(path)) from None
        for i in range(reader.num_record_batches):
            records = reader.get_batch(i)
            for start in range(0, records.num_rows, block):
                yield records.slice(start, block)
    else:
        raise UsageError(f"{path}: expected a .parquet or .arrow (Arrow IPC) file")


def count_rows(path: Path) -> int | None:
    """The number of accounts in a file, from its metadata (for a progress bar)."""
    pa = arrow()
    if path.suffix.lower() in PARQUET:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return int(pa.ipc.open_file(pa.memory_map(str(path))).count_rows()) if path.suffix.lower() in ARROW else None


# ---------- writing


def result_table(plan: Plan, batch: Batch, ids: Any, values: dict[str, np.ndarray]) -> Any:
    """The results of one batch as an Arrow table: account_id, account outputs, and per row axis a list of
    structs holding each row's key and outputs (built on the batch's offsets, no copy per row)."""
    pa = arrow()
    schema = output_schema(plan, ids.type)
    columns: list[Any] = [ids]
    by_axis: dict[str, list[str]] = {}
    for name, var in plan.outputs.items():
        by_axis.setdefault(var.shape.rows or ACCOUNT, []).append(name)
    for name in by_axis.pop(ACCOUNT, []):
        columns.append(_array(pa, plan, name, values[name]))
    for axis, names in by_axis.items():
        keys = batch.indexes.keys[axis]
        key_array = pa.DictionaryArray.from_arrays(pa.array(keys.codes.astype(np.int32)), pa.array(list(keys.values), pa.string())).cast(pa.string())
        field = schema.field(_axis_column(plan, axis)).type.value_type
        rows = pa.StructArray.from_arrays([key_array] + [_array(pa, plan, n, values[n]) for n in names], fields=list(field))
        columns.append(pa.ListArray.from_arrays(pa.array(batch.offsets[axis].astype(np.int32)), rows))
    return pa.Table.from_arrays(columns, schema=schema)


def _array(pa: Any, plan: Plan, name: str, value: np.ndarray) -> Any:
    var = plan.vars[name]
    if var.shape.grid:
        return pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), value.shape[1])
    return pa.array(value)


@dataclass
class Writer:
    """Writes result tables to a Parquet or Arrow IPC file as they come (one row group per block)."""

    path: Path
    schema: Any
    metadata: dict[str, str]
    sink: Any = None

    def write(self, table: Any) -> None:
        pa = arrow()
        if self.sink is None:
            schema = table.schema.with_metadata(self.metadata)
            if self.path.suffix.lower() in PARQUET:
                import pyarrow.parquet as pq

                self.sink = pq.ParquetWriter(self.path, schema)
            elif self.path.suffix.lower() in ARROW:
                self.sink = pa.ipc.new_file(str(self.path), schema)
            else:
                raise UsageError(f"{self.path}: the output must be a .parquet or .arrow file")
        self.sink.write_table(table) if hasattr(self.sink, "write_table") else self.sink.write(table)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


# ---------- evaluation, block by block


def evaluate_arrow(kernel: Any, table: Any, block: int) -> Any:
    """The results of an Arrow table of accounts (all in memory) as an Arrow table."""
    from .evaluate import evaluate_batch

    batch, ids = batch_from_arrow(kernel.plan, table)
    return result_table(kernel.plan, batch, ids, evaluate_batch(kernel, batch, block))


def evaluate_stream(kernel: Any, blocks: Iterator[Any], block: int) -> Iterator[tuple[int, Any]]:
    """(accounts, result table) for each record batch of accounts. The output arrays are allocated once, at the
    largest block's size, and reused: a result table is valid until the next one is asked for (write it first)."""
    from .evaluate import evaluate_batch, output_arrays

    pool: dict[str, np.ndarray] = {}
    for records in blocks:
        batch, ids = batch_from_arrow(kernel.plan, records)
        if not pool:
            pool = output_arrays(kernel.plan, batch.counts)
        views = {}
        for name in kernel.plan.returned:
            rows = batch.counts[kernel.plan.vars[name].shape.rows or ACCOUNT]
            if pool[name].shape[0] < rows:
                pool[name] = np.empty((rows,) + pool[name].shape[1:], dtype=pool[name].dtype)
            views[name] = pool[name][:rows]
        values = evaluate_batch(kernel, batch, block, views)
        yield batch.n, result_table(kernel.plan, batch, ids, values)


def snapshots_table(plan: Plan, snapshots: list[dict[str, Any]], ids: list[Any] | None = None) -> Any:
    """Snapshot dicts (as in JSON) as an Arrow table in the layout above, e.g. to write a Parquet file of them;
    values are checked when the table is evaluated, not here. `ids` default to 0, 1, 2, ..."""
    pa = arrow()
    schema = input_schema(plan, pa.int64() if ids is None else None)
    names = set(schema.names)
    rows = [{ACCOUNT_ID: i if ids is None else ids[i], **s.get("account", {}),
             **{k: v for k, v in s.items() if k in names and k != ACCOUNT_ID}} for i, s in enumerate(snapshots)]
    return pa.Table.from_pylist(rows, schema=schema)
