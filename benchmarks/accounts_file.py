"""Synthetic accounts written to a Parquet file in marginspec's columnar layout (one row per account, each
collection a list of structs; `marginspec schema columns RULESET`), row group by row group, so that a file of
any size is written in bounded memory.

    python benchmarks/accounts_file.py mcm accounts.parquet 10000000
    python benchmarks/accounts_file.py pm accounts.parquet 100000"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import okx_mcm
import okx_pm

ROW_GROUP = 65536


def _text(values: list[str], codes: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(values, pa.string()))


def _nested(n: int, fields: dict[str, Any], per_account: int) -> pa.Array:
    """A list<struct> column of n accounts with `per_account` rows each."""
    children = [(_text(*v) if isinstance(v, tuple) else pa.array(v)) for v in fields.values()]
    rows = pa.StructArray.from_arrays(children, names=list(fields))
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * per_account), rows)


def mcm_table(n: int, seed: int, first_id: int = 0) -> pa.Table:
    """n accounts of okx_mcm.synthetic_columns as one Arrow table."""
    c = okx_mcm.synthetic_columns(n, seed)
    e = okx_mcm.engine_collections(c)
    cur, pos = dict(e["currencies"]), dict(e["positions"])
    del cur["account"], pos["account"]
    pos["contract_type"] = (["linear", "inverse", "option"], c["contract_type"])
    pos["margin_mode"] = (["cross", "isolated"], c["margin_mode"])
    pos["settle_currency"] = (okx_mcm.CURRENCIES, c["settle_local"])
    return pa.table({"account_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
                     "currencies": _nested(n, cur, len(okx_mcm.CURRENCIES)), "positions": _nested(n, pos, len(okx_mcm.SLOTS))})


def pm_table(n: int, seed: int, first_id: int = 0) -> pa.Table:
    """n accounts of okx_pm.synthetic_columns as one Arrow table."""
    c = okx_pm.synthetic_columns(n, seed)
    e = okx_pm.engine_collections(c)
    cur, pos = dict(e["currencies"]), dict(e["positions"])
    del cur["account"], pos["account"]
    pos["contract_type"] = (okx_pm.CONTRACT_TYPES, c["contract_type"])
    pos["option_type"] = (["call", "put"], c["option_type"])
    pos["quote_ccy"] = (okx_pm.QUOTES, c["quote_ccy"])
    pos["settle_currency"] = (okx_pm.CURRENCIES, c["settle_local"])
    return pa.table({"account_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
                     "currencies": _nested(n, cur, len(okx_pm.CURRENCIES)), "positions": _nested(n, pos, len(okx_pm.SLOTS))})


def write(kind: str, path: Path, n: int, row_group: int = ROW_GROUP) -> None:
    make = mcm_table if kind == "mcm" else pm_table
    writer = None
    for k, a0 in enumerate(range(0, n, row_group)):
        table = make(min(row_group, n - a0), seed=k + 1, first_id=a0)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=row_group)
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["mcm", "pm"])
    ap.add_argument("path", type=Path)
    ap.add_argument("n", type=int)
    a = ap.parse_args()
    write(a.kind, a.path, a.n)
