"""Accounts in columnar files (one row per account, collections as lists of
structs) and results written back the same way: the values are those of the
snapshot path, the layout carries account ids and row keys, bad columns are
located errors, and `marginspec batch` streams a file block by block."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="columnar I/O needs pyarrow (pip install '.[arrow]'); CI installs it with .[test]")
import pyarrow.parquet as pq  # noqa: E402
from marginspec.api import Rules  # noqa: E402
from marginspec.cli import main  # noqa: E402
from marginspec.errors import SnapshotError  # noqa: E402
from marginspec.run.columnar import input_schema, snapshots_table  # noqa: E402
from marginspec.source.catalog import Catalog  # noqa: E402

from conftest import DEMO_RULES  # noqa: E402

SPEC = "demo/basic@2025-01-01"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules(Catalog([DEMO_RULES]).load(SPEC))


def accounts(k: int) -> list[dict]:
    rng = np.random.default_rng(k)
    out = []
    for a in range(k):
        coins = ["BTC", "USDT", "ETH"][: 1 + a % 3]
        cur = [{"currency": c, "cash_balance": float(rng.uniform(-5, 500)), "index_price": float(rng.uniform(1, 9))} for c in coins]
        pos = [{"inst_id": f"P{j}", "settle_currency": coins[j % len(coins)], "inst_family": "BTC-USDT" if j % 2 else "X-Y",
                "contract_type": "linear", "size": float(rng.integers(-9, 9)), "ct_val": 0.01,
                "avg_price": float(rng.uniform(90, 110)), "mark_price": float(rng.uniform(90, 110))} for j in range(a % 4)]
        out.append({"as_of": "2025-06-01", "currencies": cur, "positions": pos})
    return out


def same(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12))


def test_a_table_of_accounts_gives_the_snapshot_paths_values_with_ids_and_row_keys(rules, demo_snapshot):
    snaps = accounts(9) + [demo_snapshot]
    table = snapshots_table(rules.kernel.plan, snaps, ids=[f"acct-{i}" for i in range(len(snaps))])
    result = rules.evaluate_table(table, block=4).to_pylist()
    assert [r["account_id"] for r in result] == [f"acct-{i}" for i in range(len(snaps))]
    for row, snap in zip(result, snaps):
        single = rules.values(snap).evaluation.values
        for name, var in rules.kernel.plan.outputs.items():
            if var.shape.rows == "account":
                assert same(row[name], single[name]), name
        assert [p["inst_id"] for p in row["positions"]] == [p["inst_id"] for p in snap["positions"]]
        for name in ("upl", "notional"):
            assert same([p[name] for p in row["positions"]], single[name])
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"account_id": [1, 2], "currencies": [snaps[1]["currencies"], snaps[2]["currencies"]],
                              "positions": [snaps[1]["positions"], []]})
    got = rules.evaluate_table(frame, names=["margin_ratio"]).to_pylist()
    assert got[0] == {"account_id": 1, "margin_ratio": rules.values(snaps[1]).values["margin_ratio"]}
    assert got[1]["margin_ratio"] == rules.values({**snaps[2], "positions": []}).values["margin_ratio"]


def test_defaults_fill_null_fields_and_bad_columns_are_located_errors(rules, demo_snapshot):
    table = snapshots_table(rules.kernel.plan, [demo_snapshot])
    assert table.column("positions").to_pylist()[0][0]["margin_mode"] is None  # left out: null, read as the default
    assert rules.evaluate_table(table).column("margin_ratio").to_pylist() == [rules.values(demo_snapshot).values["margin_ratio"]]
    with pytest.raises(SnapshotError, match="account_id: required column is missing"):
        rules.from_arrow(table.drop_columns(["account_id"]))
    with pytest.raises(SnapshotError, match="colour: unknown column"):
        rules.from_arrow(table.append_column("colour", pa.array(["red"])))
    bad = snapshots_table(rules.kernel.plan, [demo_snapshot, {**demo_snapshot, "currencies": [{"currency": "USDT", "cash_balance": None, "index_price": 1}]}])
    with pytest.raises(SnapshotError, match=r"currencies.cash_balance\[2\]: null, and the field has no default"):
        rules.from_arrow(bad)
    with pytest.raises(SnapshotError, match=r"positions.settle_currency\[0\]: 'XRP' is not in currencies"):
        rules.from_arrow(snapshots_table(rules.kernel.plan, [{**demo_snapshot, "positions": [{**demo_snapshot["positions"][0], "settle_currency": "XRP"}]}]))


def test_marginspec_batch_streams_a_parquet_file_into_a_results_file(rules, tmp_path, capsys):
    snaps = accounts(50)
    source = tmp_path / "accounts.parquet"
    pq.write_table(snapshots_table(rules.kernel.plan, snaps), source, row_group_size=16)
    out = tmp_path / "results.parquet"
    assert main(["--rules", str(DEMO_RULES), "batch", SPEC, str(source), "-o", str(out), "--block", "7"]) == 0
    assert "50 accounts through demo/basic@2025-01-01" in capsys.readouterr().err  # and no progress bar: not a terminal
    streamed = pq.read_table(out)
    assert json.loads(streamed.schema.metadata[b"marginspec"])["ruleset"] == SPEC
    assert streamed.to_pylist() == rules.evaluate_table(snapshots_table(rules.kernel.plan, snaps)).to_pylist()
    arrow_out = tmp_path / "ratio.arrow"
    assert main(["--rules", str(DEMO_RULES), "batch", SPEC, str(source), "-o", str(arrow_out), "--select", "margin_ratio"]) == 0
    with pa.ipc.open_file(arrow_out) as f:
        got = f.read_all()
    assert got.column_names == ["account_id", "margin_ratio"]
    assert got.column("margin_ratio").to_pylist() == streamed.column("margin_ratio").to_pylist()
    arrow_in = tmp_path / "accounts.arrow"
    with pa.ipc.new_file(arrow_in, pq.read_schema(source)) as w:
        w.write_table(pq.read_table(source))
    assert main(["--rules", str(DEMO_RULES), "batch", SPEC, str(arrow_in), "-o", str(tmp_path / "from_ipc.parquet"), "--block", "7"]) == 0
    assert pq.read_table(tmp_path / "from_ipc.parquet").to_pylist() == streamed.to_pylist()
    assert main(["--rules", str(DEMO_RULES), "batch", SPEC, str(source), "-o", str(tmp_path / "x.parquet"), "--select", "margin_ratoi"]) == 2
    assert "'margin_ratoi' is not a quantity or threshold" in capsys.readouterr().err
    broken = tmp_path / "broken.parquet"
    pq.write_table(snapshots_table(rules.kernel.plan, snaps).drop_columns(["currencies"]).append_column(
        "currencies", pa.array([[{"currency": "USDT", "cash_balance": None, "index_price": 1.0}]] * 50)), broken)
    assert main(["--rules", str(DEMO_RULES), "batch", SPEC, str(broken), "-o", str(tmp_path / "none.parquet")]) == 3
    assert not (tmp_path / "none.parquet").exists()  # no partial result


def test_schema_columns_prints_the_layout(rules, capsys):
    assert main(["--rules", str(DEMO_RULES), "schema", "columns", SPEC]) == 0
    text = capsys.readouterr().out
    assert "account_id: string  (required)" in text and "positions: list of" in text
    assert "margin_mode: string  (one of cross, isolated; may be null or left out: default cross)" in text
    assert main(["--rules", str(DEMO_RULES), "schema", "columns", SPEC, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in data["accounts"]] == input_schema(rules.kernel.plan).names
