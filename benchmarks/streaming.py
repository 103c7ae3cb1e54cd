"""Streaming and Dask benchmarks. Prints figures; asserts nothing about speed.

    python benchmarks/streaming.py              # 1M accounts streamed from Parquet; Dask (2 workers) vs one process
    python benchmarks/streaming.py --large      # also 10M accounts (writes a 5 GB Parquet file; about 15 minutes)
    python benchmarks/streaming.py --dir DIR    # where the Parquet files go (default: a temporary folder)

1. `marginspec batch` over okx/multi_currency_margin@2021-01-13 accounts (5 currencies, 20 positions) read
   from a Parquet file written row group by row group (accounts_file.py), in a fresh process: wall time,
   throughput, cost per account and the peak resident memory of that process (ru_maxrss), for the
   account-level outputs (--select) and for all outputs, on the fused and the numpy kernel;
2. the same job (account-level outputs) on a dask.distributed LocalCluster of 2 worker processes
   (`batch --dask`) beside one process."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import pyarrow as pa
import pyarrow.parquet as pq

import accounts_file
import okx_mcm

RULESET = okx_mcm.RULESET
AT = okx_mcm.DATE.isoformat()
ACCOUNT_OUTPUTS = "margin_ratio,mmr,imr,adjusted_equity,total_equity,warning,liquidation"


HELPER = """
import resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - t
if done.returncode:
    sys.exit(done.stderr)
print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
print(done.stderr.strip().splitlines()[-1])
"""


def measured(source: Path, output: Path, *extra: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB) of one `marginspec batch` in a fresh process, run by a helper process of its own
    so that the peak resident memory reported (ru_maxrss of the helper's children) is this run's alone."""
    cmd = [sys.executable, "-m", "marginspec.cli", "batch", RULESET, str(source), "-o", str(output), "--at", AT, *extra]
    done = subprocess.run([sys.executable, "-c", HELPER, *cmd], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr}")
    figures, said = done.stdout.split("\n", 1)
    seconds, mb = figures.split()
    return float(seconds), float(mb), said.strip()


def stream(folder: Path, n: int) -> None:
    source = folder / f"accounts_{n}.parquet"
    if not source.exists():
        t = time.perf_counter()
        accounts_file.write("mcm", source, n)
        print(f"  wrote {n:,} accounts to {source.name}: {source.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t:.0f} s")
    out = folder / "results.parquet"
    cases = [("fused, account outputs", ["--select", ACCOUNT_OUTPUTS, "--backend", "fused"]),
             ("numpy, account outputs", ["--select", ACCOUNT_OUTPUTS, "--backend", "numpy"])]
    if n <= 1_000_000:
        cases += [("fused, all 47 outputs", ["--backend", "fused"]), ("numpy, all 47 outputs", ["--backend", "numpy"])]
    runs = [(label, source, extra) for label, extra in cases]
    if n <= 1_000_000:  # the same accounts from an Arrow IPC file: no decoding, the file memory-mapped
        ipc = folder / f"accounts_{n}.arrow"
        with pq.ParquetFile(source) as f, pa.ipc.new_file(ipc, f.schema_arrow) as w:
            for g in range(f.metadata.num_row_groups):
                w.write_table(f.read_row_group(g))
        runs.insert(1, ("fused, account outputs, from Arrow IPC", ipc, cases[0][1]))
    for label, path, extra in runs:
        seconds, mb, said = measured(path, out, *extra)
        print(f"  {n:>10,} accounts, {label:40s} {seconds:7.1f} s  {n / seconds:9,.0f} accounts/s  {seconds / n * 1e9:6.0f} ns/account"
              f"  peak RSS {mb:6.0f} MB  (results {out.stat().st_size / 1e6:,.0f} MB)")
        print(f"      the command said: {said}")


def dask_vs_one(folder: Path, n: int) -> None:
    from distributed import LocalCluster

    source = folder / f"accounts_{n}.parquet"
    out = folder / "results_dask.parquet"
    one, _, _ = measured(source, out, "--select", ACCOUNT_OUTPUTS)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        warm, _, _ = measured(source, out, "--select", ACCOUNT_OUTPUTS, "--dask", cluster.scheduler_address)  # workers compile
        again, _, _ = measured(source, out, "--select", ACCOUNT_OUTPUTS, "--dask", cluster.scheduler_address)
    print(f"  {n:,} accounts, account outputs, fused kernel: one process {one:.1f} s; LocalCluster 2 workers "
          f"{warm:.1f} s (first run, the workers compile), {again:.1f} s (warm workers); speed-up {one / again:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="also 10M accounts (a 5 GB file)")
    ap.add_argument("--dir", type=Path, help="folder for the Parquet files (default: a temporary one)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; {RULESET} on {AT}; times are of whole `marginspec batch` processes (start-up, kernel load and,")
    print("for the fused kernel, its compilation of about 4 s included); `the command said` is its own count, from the kernel's load")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        print("\n1. marginspec batch, streamed from Parquet (block 8,192 accounts)")
        for n in (1_000_000, 10_000_000) if args.large else (1_000_000,):
            stream(folder, n)
        print("\n2. Dask LocalCluster (2 worker processes) vs one process")
        dask_vs_one(folder, 1_000_000)


if __name__ == "__main__":
    main()
