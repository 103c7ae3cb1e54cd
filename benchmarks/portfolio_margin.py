"""Portfolio-margin benchmarks. Prints figures; asserts nothing about speed.

    python benchmarks/portfolio_margin.py            # 100,000 accounts
    python benchmarks/portfolio_margin.py --quick    # 10,000 accounts, fewer repeats

1. compile time of each portfolio-margin rule set: load (parse) and kernel (plan, code generation,
   import) in a fresh process with an empty cache folder, then again with the folder that run filled;
2. batch throughput of okx/portfolio_margin@2024-12-30 on 2025-02-01 (4 currencies, 10 positions of which 4
   options, 2 risk units, 21 MR1 scenarios per account) beside the same formulas hand-written in
   numpy (okx_pm.py, whole arrays and in blocks of 8,192 accounts), for the numpy and the fused (numba)
   kernels, in the same run, as a ratio. The baseline computes every quantity and
   threshold of the rule set and is checked to agree with the engine first."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import marginspec
from marginspec.run.evaluate import evaluate_batch

import baseline
import okx_pm

RULESETS = ["okx/portfolio_margin@2024-12-30", "gate/portfolio_margin@2025-01-01"]
# Run in a fresh interpreter, so that nothing is cached in memory; the timer starts after `import marginspec`.
PROBE = """
import sys, time
import marginspec
t0 = time.perf_counter()
rules = marginspec.load(sys.argv[1])
t1 = time.perf_counter()
kernel = rules.kernel
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, kernel.cached, rules.ruleset.ref)
"""


def probe(spec: str, env: dict[str, str]) -> tuple[float, float, bool, str]:
    """(load seconds, kernel seconds, whether the kernel came from the cache, resolved version) in a fresh process."""
    run = subprocess.run([sys.executable, "-c", PROBE, spec], env=env, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{spec}: {run.stderr.strip().splitlines()[-1]}")
    out = run.stdout.split()
    return float(out[0]), float(out[1]), out[2] == "True", out[3]


def compile_times(repeats: int) -> None:
    """Python's bytecode cache is kept in a folder of its own (PYTHONPYCACHEPREFIX) and filled by a first, untimed
    run, so that the figures do not include byte-compiling marginspec's own modules (PYTHONDONTWRITEBYTECODE would)."""
    with tempfile.TemporaryDirectory() as pyc, tempfile.TemporaryDirectory() as scratch:
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPYCACHEPREFIX": pyc}
        for spec in RULESETS:
            probe(spec, base | {"MARGINSPEC_CACHE_DIR": scratch})
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import marginspec"], env=base, check=True)
        print(f"  (python start-up + `import marginspec`, not in the figures below: {(time.perf_counter() - t) * 1000:.0f} ms)")
        for spec in RULESETS:
            cold, warm = [], []
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as cache:
                    env = base | {"MARGINSPEC_CACHE_DIR": cache}
                    load, kernel, cached, ref = probe(spec, env)
                    assert not cached, "the kernel cache was not empty"
                    cold.append((load, kernel))
                    load, kernel, cached, _ = probe(spec, env)
                    assert cached, "the kernel was not cached by the first run"
                    warm.append((load, kernel))
            print(f"  {ref:33s} empty cache: {split(cold)};  warm cache: {split(warm)}")


def split(times: list[tuple[float, float]]) -> str:
    load, kernel = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
    return f"load {load * 1000:4.0f} + kernel {kernel * 1000:4.0f} = {(load + kernel) * 1000:4.0f} ms"


def agree(engine: dict[str, np.ndarray], hand: dict[str, np.ndarray]) -> list[str]:
    """Names both compute, after checking each to rtol 1e-9 (absolute slack 1e-12 of the largest finite value)."""
    names = list(engine)
    for name in names:
        if name not in hand:
            raise SystemExit(f"the baseline does not compute {name}")
        a, b = np.asarray(engine[name], dtype=float), np.asarray(hand[name], dtype=float)
        finite = np.isfinite(a)
        scale = float(np.abs(a[finite]).max()) if finite.any() else 0.0
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=1e-12 * scale):
            raise SystemExit(f"baseline disagrees with the engine on {name}: {a.ravel()[:5]} vs {b.ravel()[:5]}")
    return names


def best_of(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Minimum time of each function, running them in turn so that all see the same machine state."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [min(ts) for ts in times]


def batch(n: int, repeat: int, check_n: int) -> None:
    rules = marginspec.load(okx_pm.RULESET, okx_pm.DATE)
    cols = okx_pm.synthetic_columns(check_n, seed=2)
    b = rules.columns(check_n, **okx_pm.engine_collections(cols))
    engine = evaluate_batch(rules.kernel, b)
    names = agree(engine, okx_pm.handwritten_numpy(cols, check_n))
    agree(engine, baseline.blocked(okx_pm, cols, check_n, block=1000))
    print(f"  agreement on {check_n:,} accounts: {len(names)} of the engine's {len(engine)} outputs, rtol 1e-9")
    del engine
    cols = okx_pm.synthetic_columns(n)
    t = time.perf_counter()
    b = rules.columns(n, **okx_pm.engine_collections(cols))
    prep = time.perf_counter() - t
    fused = rules.selected_kernel(None, "fused")
    hand = baseline.blocked(okx_pm, cols, n)
    out_numpy, out_fused = evaluate_batch(rules.kernel, b), evaluate_batch(fused, b)  # the second compiles (not timed)
    agree(out_fused, hand)
    contenders = {
        "engine numpy kernel, new arrays": lambda: evaluate_batch(rules.kernel, b),
        "engine numpy kernel, out= reused": lambda: evaluate_batch(rules.kernel, b, out=out_numpy),
        "engine fused kernel, out= reused": lambda: evaluate_batch(fused, b, out=out_fused),
        "hand-written numpy, whole arrays": lambda: okx_pm.handwritten_numpy(cols, n),
        "hand-written numpy, blocks of 8,192": lambda: baseline.blocked(okx_pm, cols, n, out=hand),
    }
    with np.errstate(all="ignore"):
        times = dict(zip(contenders, best_of(list(contenders.values()), repeat)))
    best_hand = min(times["hand-written numpy, whole arrays"], times["hand-written numpy, blocks of 8,192"])
    print(f"  {n:,} accounts x 21 scenarios x 10 positions, min of {repeat}; ratio = time / best hand-written numpy")
    for name, seconds in times.items():
        print(f"    {name:40s} {seconds:7.3f} s  {seconds / n * 1e9:7.0f} ns/account  ratio {seconds / best_hand:5.2f}")
    print(f"    building the columnar batch (rules.columns: validation, joins, grouping): {prep:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 accounts and fewer repeats")
    args = ap.parse_args()
    print(f"marginspec {marginspec.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    repeats = 2 if args.quick else 5
    print(f"\n1. Compile time in a fresh process, medians of {repeats}. Empty cache: load = parse and check the rule files")
    print("   and tables, kernel = plan, generate, write and import the module. Warm cache: the same cache folder again")
    print("   (parsed files and kernel module cached; importing the kernel imports scipy.special, for ndtr)")
    compile_times(repeats)
    print(f"\n2. Batch throughput ({okx_pm.RULESET})")
    batch(10_000 if args.quick else 100_000, 3 if args.quick else 5, 5_000)


if __name__ == "__main__":
    main()
