"""Scenario sweeps (marginspec sweep) and evaluation on a Dask cluster: a
LocalCluster of 2 worker processes on this machine gives the results of the
one-process run, through the CLI (batch --dask, sweep --dask) and through the
dask DataFrame API."""

from __future__ import annotations

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="needs pyarrow (pip install '.[arrow]'); CI installs it with .[test]")
import marginspec  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from marginspec.cli import main  # noqa: E402
from marginspec.run.columnar import snapshots_table  # noqa: E402

from conftest import DEMO_RULES  # noqa: E402
from test_columnar import SPEC, accounts  # noqa: E402

FLAGS = ["--rules", str(DEMO_RULES)]


@pytest.fixture(scope="module")
def rules():
    return marginspec.load(SPEC, rules=[DEMO_RULES])


@pytest.fixture(scope="module")
def accounts_file(rules, tmp_path_factory):
    path = tmp_path_factory.mktemp("accounts") / "accounts.parquet"
    pq.write_table(snapshots_table(rules.kernel.plan, accounts(30)), path, row_group_size=8)
    return path


def test_a_sweep_moves_one_row_of_an_input_by_each_point_of_the_grid(rules, accounts_file, tmp_path, capsys):
    out = tmp_path / "sweep.parquet"
    assert main(FLAGS + ["sweep", SPEC, str(accounts_file), "--vary", "index_price[BTC]", "--grid", "-0.5:0.5:3",
                         "-o", str(out), "--select", "margin_ratio,adjusted_equity", "--backend", "numpy"]) == 0
    got = pq.read_table(out).to_pylist()
    assert len(got) == 30 * 3 and [(r["account_id"], r["move"]) for r in got[:4]] == [(0, -0.5), (0, 0.0), (0, 0.5), (1, -0.5)]
    snaps = accounts(30)
    for row in got:
        snap = snaps[row["account_id"]]
        shocked = {**snap, "currencies": [{**c, "index_price": c["index_price"] * (1 + row["move"]) if c["currency"] == "BTC" else c["index_price"]}
                                          for c in snap["currencies"]]}
        want = rules.values(shocked).values
        assert row["margin_ratio"] == pytest.approx(want["margin_ratio"], rel=1e-12)
        assert row["adjusted_equity"] == pytest.approx(want["adjusted_equity"], rel=1e-12)
    assert main(FLAGS + ["sweep", SPEC, str(accounts_file), "--vary", "index_prise[BTC]", "--grid", "-0.5:0.5:3", "-o", str(out)]) == 2
    assert "'index_prise' is not a number input" in capsys.readouterr().err
    assert main(FLAGS + ["sweep", SPEC, str(accounts_file), "--vary", "index_price", "--grid", "-1:0:3", "-o", str(out)]) == 2
    assert "-100%" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed", reason="needs dask[distributed] (pip install '.[dask]'); CI installs it with .[test]")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_a_dask_cluster_of_two_processes_gives_the_one_process_results(rules, accounts_file, cluster, tmp_path):
    local, remote = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    assert main(FLAGS + ["batch", SPEC, str(accounts_file), "-o", str(local), "--backend", "numpy"]) == 0
    assert main(FLAGS + ["batch", SPEC, str(accounts_file), "-o", str(remote), "--dask", cluster.scheduler_address,
                         "--backend", "numpy"]) == 0  # the numpy kernel: workers compiling the fused one would double the time
    assert pq.read_table(remote).to_pylist() == pq.read_table(local).to_pylist()
    swept = tmp_path / "swept.parquet"
    assert main(FLAGS + ["sweep", SPEC, str(accounts_file), "--vary", "index_price[BTC]", "--grid", "-0.2:0.2:5", "-o", str(swept),
                         "--select", "margin_ratio", "--dask", cluster.scheduler_address, "--backend", "numpy"]) == 0
    here = tmp_path / "swept_here.parquet"
    assert main(FLAGS + ["sweep", SPEC, str(accounts_file), "--vary", "index_price[BTC]", "--grid", "-0.2:0.2:5", "-o", str(here),
                         "--select", "margin_ratio", "--backend", "numpy"]) == 0
    assert pq.read_table(swept).to_pylist() == pq.read_table(here).to_pylist()


def test_the_dask_dataframe_api_evaluates_partition_by_partition(rules, accounts_file, cluster):
    dd = pytest.importorskip("dask.dataframe")
    import distributed
    import marginspec.dask

    with distributed.Client(cluster):
        frame = dd.read_parquet(str(accounts_file), dtype_backend="pyarrow", split_row_groups=True)
        assert frame.npartitions > 1
        results = marginspec.dask.evaluate(frame, rules, select=["margin_ratio", "warning"], backend="numpy").compute()
    assert list(results.columns) == ["account_id", "margin_ratio", "warning"]
    want = [rules.values(s).values["margin_ratio"] for s in accounts(30)]
    assert np.allclose(results["margin_ratio"].to_numpy(dtype=float), want, rtol=1e-12)
