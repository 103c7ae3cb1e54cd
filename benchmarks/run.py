"""marginspec benchmarks. Prints figures; asserts nothing about speed.

    python benchmarks/run.py                  # everything (1M accounts needs about 9 GB of memory)
    python benchmarks/run.py --quick          # smaller sizes, fewer repeats
    python benchmarks/run.py --whole-arrays   # also the whole-array hand-written numpy (about 10 GB more at 1M)

1. cold `marginspec evaluate` on the bundled OKX example: a fresh process, with an empty kernel
   cache (compile) and with a warm one;
2. one warm evaluation of okx/multi_currency_margin (5 currencies, 20 positions) beside the same
   formulas hand-written in plain Python;
3. batch throughput on synthetic accounts: the engine's numpy and fused (numba) kernels, all outputs and
   the account-level ones only, beside the same formulas hand-written in numpy (in blocks of 8,192
   accounts, outputs written into arrays allocated once) and the time to read the inputs once, in the
   same run, as ratios.
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
    values = rules.values(data).evaluation.values
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


def batch(n: int, repeat: int, whole_arrays: bool) -> None:
    rules = marginspec.load(RULESET, okx_mcm.DATE)
    cols = okx_mcm.synthetic_columns(n)
    t = time.perf_counter()
    b = rules.columns(n, **okx_mcm.engine_collections(cols))
    prep = time.perf_counter() - t
    plan = rules.kernel.plan
    account_level = [name for name, v in plan.outputs.items() if v.shape.rows == "account"]
    fused = rules.selected_kernel(None, "fused")
    fused_account = rules.selected_kernel(account_level, "fused")
    numpy_account = rules.selected_kernel(account_level, "numpy")
    hand = baseline.blocked(okx_mcm, cols, n)
    engine = evaluate_batch(rules.kernel, b)
    agree(engine, hand, list(engine))  # every output of the engine, both kernels
    out_numpy = engine
    out_fused = evaluate_batch(fused, b)  # compiles the fused kernel (not timed)
    agree(out_fused, hand, list(out_fused))
    out_account = evaluate_batch(fused_account, b)
    out_numpy_account = evaluate_batch(numpy_account, b)
    agree(out_account, hand, account_level)
    contenders = {
        "engine numpy kernel, all, new arrays": lambda: evaluate_batch(rules.kernel, b),
        "engine numpy kernel, all, out= reused": lambda: evaluate_batch(rules.kernel, b, out=out_numpy),
        "engine fused kernel, all, out= reused": lambda: evaluate_batch(fused, b, out=out_fused),
        "engine numpy kernel, account outputs": lambda: evaluate_batch(numpy_account, b, out=out_numpy_account),
        "engine fused kernel, account outputs": lambda: evaluate_batch(fused_account, b, out=out_account),
        "hand-written numpy, blocks of 8,192": lambda: baseline.blocked(okx_mcm, cols, n, out=hand),
        "reading the inputs once": lambda: read_inputs_once(cols),
    }
    if whole_arrays:
        contenders["hand-written numpy, whole arrays"] = lambda: okx_mcm.handwritten_numpy(cols, n)
    with np.errstate(all="ignore"):
        t = best_interleaved({k: (f, 1) for k, f in contenders.items()}, repeat)
    best_hand = min(v for k, v in t.items() if k.startswith("hand-written"))
    read = t["reading the inputs once"]
    print(f"  {n:,} accounts ({len(plan.outputs)} outputs, {len(account_level)} on the account), best of {repeat}; "
          "x hand = time / best hand-written numpy, x read = time / reading the inputs once")
    for name, seconds in t.items():
        print(f"    {name:40s} {seconds:7.3f} s  {seconds / n * 1e9:6.0f} ns/account  x hand {seconds / best_hand:5.2f}  x read {seconds / read:5.1f}")
    print(f"    building the columnar batch (rules.columns: validation, joins) {prep:.2f} s ({prep / n * 1e9:.0f} ns/account)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller batches and fewer repeats")
    ap.add_argument("--whole-arrays", action="store_true",
                    help="also time the hand-written numpy on whole arrays (at 1M accounts it needs about 10 GB more memory)")
    args = ap.parse_args()
    print(f"marginspec {marginspec.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    print(f"\n1. Cold start ({RULESET.split('@', maxsplit=1)[0]}, bundled example)")
    cold_cli(3 if args.quick else 7)
    print(f"\n2. One warm evaluation ({RULESET}, 5 currencies, 20 positions)")
    warm_single(3 if args.quick else 7)
    print("\n3. Batch throughput (5 currencies, 20 positions per account)")
    for n in ((10_000, 100_000) if args.quick else (100_000, 1_000_000)):
        batch(n, 2 if args.quick else 3, args.whole_arrays)


if __name__ == "__main__":
    main()
