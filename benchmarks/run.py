"""marginspec benchmarks. Prints figures; asserts nothing about speed.

    python benchmarks/run.py            # everything (1M accounts needs about 10 GB of memory)
    python benchmarks/run.py --quick    # smaller sizes, fewer repeats

1. cold `marginspec evaluate` on the bundled OKX example: a fresh process, with an empty kernel
   cache (compile) and with a warm one;
2. one warm evaluation of okx/multi_currency_margin (5 currencies, 20 positions) beside the same
   formulas hand-written in plain Python;
3. batch throughput on synthetic accounts beside the same formulas hand-written in numpy, in the
   same run, as a ratio.
The baselines compute every quantity and threshold of the rule set, and are checked to agree with the
engine on every one of its outputs first."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import marginspec
from marginspec.run.evaluate import evaluate_batch, evaluate_snapshot

import baseline
import okx_mcm

ROOT = Path(__file__).resolve().parents[1]
RULESET = okx_mcm.RULESET
EXAMPLE = ROOT / "exchanges" / "okx" / "examples" / "multi_currency_margin.json"


def agree(engine: dict, hand: dict, names: list[str]) -> None:
    for name in names:
        if name not in hand:
            raise SystemExit(f"the baseline does not compute {name}")
        a, b = np.asarray(engine[name], dtype=float), np.asarray(hand[name], dtype=float)
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-12, atol=1e-9, equal_nan=False):
            raise SystemExit(f"baseline disagrees with the engine on {name}: {a.ravel()[:5]} vs {b.ravel()[:5]}")


def cold_cli(repeats: int) -> None:
    cmd = [sys.executable, "-m", "marginspec.cli", "evaluate", RULESET.split("@", maxsplit=1)[0], str(EXAMPLE)]
    for label, fresh in (("empty kernel cache (parse + compile)", True), ("warm kernel cache", False)):
        times = []
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as pyc:
            # as after an install: Python's bytecode cached (some sandboxes set PYTHONDONTWRITEBYTECODE)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env.update(MARGINSPEC_CACHE_DIR=cache, PYTHONPYCACHEPREFIX=pyc)
            subprocess.run(cmd, env=env, capture_output=True, check=True)  # untimed: writes the bytecode (and the kernel)
            for _ in range(repeats):
                if fresh:
                    for p in Path(cache).glob("*"):
                        p.unlink() if p.is_file() else None
                t = time.perf_counter()
                subprocess.run(cmd, env=env, capture_output=True, check=True)
                times.append(time.perf_counter() - t)
        print(f"  cold `marginspec evaluate`, {label}: median {statistics.median(times) * 1000:.0f} ms over {repeats} runs")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"  (python start-up alone: {(time.perf_counter() - t) * 1000:.0f} ms)")


def best_interleaved(fns: dict[str, tuple[Callable[[], object], int]], repeat: int) -> dict[str, float]:
    """Seconds per call of each function, the fastest of `repeat` rounds; the rounds take each function in turn,
    so that a machine whose speed drifts (shared or throttled CPUs) slows every one of them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, (fn, number) in fns.items():
            times[name].append(timeit.timeit(fn, number=number) / number)
    return {name: min(t) for name, t in times.items()}


def warm_single(repeat: int) -> None:
    rules = marginspec.load(RULESET, okx_mcm.DATE)
    data = okx_mcm.synthetic_snapshot(0)
    snap = rules.snapshot(data)
    values = rules.values(data).values
    hand_values = okx_mcm.handwritten_python(data)
    agree(values, hand_values, list(values))
    n = 300
    t = best_interleaved({"hand": (lambda: okx_mcm.handwritten_python(data), n),
                          "kernel": (lambda: evaluate_snapshot(rules.kernel, snap), n),
                          "fast": (lambda: rules.values(data), n),
                          "full": (lambda: rules.evaluate(data), n // 10)}, repeat * 5)
    hand, kernel, fast, full = t["hand"], t["kernel"], t["fast"], t["full"]
    print(f"  hand-written Python:                        {hand * 1e6:8.1f} us")
    print(f"  engine kernel on a validated snapshot:      {kernel * 1e6:8.1f} us   ratio {kernel / hand:.2f}x")
    print(f"  rules.values(dict): validate + evaluate:    {fast * 1e6:8.1f} us   ratio {fast / hand:.2f}x")
    print(f"  rules.evaluate(dict): + trace and receipt:  {full * 1e6:8.1f} us   ratio {full / hand:.2f}x")


def read_inputs_once(cols: dict) -> float:
    """Touch every input column once (a sum per column): the floor any evaluation of these accounts has to pay."""
    return sum(float(np.sum(v)) for v in cols.values() if isinstance(v, np.ndarray))


def batch(n: int, repeat: int) -> None:
    rules = marginspec.load(RULESET, okx_mcm.DATE)
    cols = okx_mcm.synthetic_columns(n)
    t = time.perf_counter()
    b = rules.columns(n, **okx_mcm.engine_collections(cols))
    prep = time.perf_counter() - t
    engine = evaluate_batch(rules.kernel, b)
    agree(engine, baseline.blocked(okx_mcm, cols, n), list(engine))  # every output of the engine
    del engine
    contenders = {
        "engine (numpy kernel), all outputs": lambda: evaluate_batch(rules.kernel, b),
        "hand-written numpy, whole arrays": lambda: okx_mcm.handwritten_numpy(cols, n),
        "hand-written numpy, blocks of 8,192": lambda: baseline.blocked(okx_mcm, cols, n),
        "reading the inputs once": lambda: read_inputs_once(cols),
    }
    with np.errstate(all="ignore"):
        t = best_interleaved({k: (f, 1) for k, f in contenders.items()}, repeat)
    best_hand = min(t["hand-written numpy, whole arrays"], t["hand-written numpy, blocks of 8,192"])
    print(f"  {n:,} accounts, best of {repeat}; ratio = time / best hand-written numpy")
    for name, seconds in t.items():
        print(f"    {name:42s} {seconds:7.3f} s  {seconds / n * 1e9:6.0f} ns/account  ratio {seconds / best_hand:5.2f}")
    print(f"    building the columnar batch (rules.columns: validation, joins) {prep:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller batches and fewer repeats")
    args = ap.parse_args()
    print(f"marginspec {marginspec.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    print(f"\n1. Cold start ({RULESET.split('@', maxsplit=1)[0]}, bundled example)")
    cold_cli(3 if args.quick else 7)
    print(f"\n2. One warm evaluation ({RULESET}, 5 currencies, 20 positions)")
    warm_single(3 if args.quick else 7)
    print("\n3. Batch throughput (5 currencies, 20 positions per account)")
    for n in ((10_000, 100_000) if args.quick else (100_000, 1_000_000)):
        batch(n, 2 if args.quick else 3)


if __name__ == "__main__":
    main()
