"""Fuzz: inputs built to exhaust time and memory (formulas nested or chained
thousands deep, grids of up to 10^12 points, billion-laughs YAML, snapshots of
millions of rows), each run by the CLI in its own process under an
address-space limit, with its peak memory and CPU time measured by the kernel
(wait4). Each must be refused (exit 3, with the place) or answered within the
bounds, never killed or left to swap."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fuzzing import RULE_LOCATION, SUBPROCESS_ADDRESS_SPACE, SUBPROCESS_RSS, SUBPROCESS_SECONDS, Ran, cli_verdict, fuzz_settings, judged, write_json
from hostile import FUZZ_RULES, FUZZ_SNAPSHOT, FUZZ_SPEC, deep_formulas, formula_rules, rule_text
from hypothesis import given
from hypothesis import strategies as st

FOLDER = Path(tempfile.mkdtemp(prefix="marginspec-fuzz-resources-"))
ROOT = FOLDER / "rules"
RULE_FILE = ROOT / "fuzz" / "m" / "2025-01-01.yaml"
RULE_FILE.parent.mkdir(parents=True)
SNAPSHOT = FOLDER / "snapshot.json"


def huge_grid(parameters: int, points: int) -> dict:
    """The fuzz rule set with a scenario grid over `parameters` parameters of `points` values each."""
    doc = copy.deepcopy(FUZZ_RULES)
    doc["axes"]["scenario"]["grid"] = {f"m{i}": f"moves{i}" for i in range(parameters)}
    for i in range(parameters):
        doc["parameters"][f"moves{i}"] = {"value": [round(k / points, 9) for k in range(points)], "unit": "1", "assumption": "fuzz"}
    doc["quantities"]["q"]["formula"] = "min(" + " + ".join(f"m{i}" for i in range(parameters)) + ", over=scenario)"
    return doc


def many_quantities(n: int) -> dict:
    """The fuzz rule set with a chain of `n` quantities, each reading the one before."""
    doc = copy.deepcopy(FUZZ_RULES)
    for i in range(n):
        doc["quantities"][f"c{i}"] = {"axis": "account", "unit": "1", "formula": f"c{i - 1} + 1" if i else "fees", "assumption": "fuzz"}
    return doc


def laughs(levels: int) -> str:
    """Billion laughs: each anchor repeats the one before nine times."""
    lines = ["lol0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"lol{k}: &l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, levels)]
    return "\n".join(lines) + "\n" + rule_text(FUZZ_RULES)


def many_rows(rows: int) -> dict:
    data = copy.deepcopy(FUZZ_SNAPSHOT)
    data["positions"] = [{"inst_id": f"P{i}", "settle": "A", "size": 1, "fam": "X"} for i in range(rows)]
    return data


@st.composite
def exhausting_inputs(draw: st.DrawFn) -> tuple[str, str | None, dict]:
    """(description, rule file text or None for the valid fuzz rule set, snapshot data)."""
    kind = draw(st.sampled_from(["formula", "grid", "chain", "laughs", "rows"]))
    if kind == "formula":
        formula = draw(deep_formulas())
        return f"formula {formula[:60]!r}... ({len(formula)} characters)", rule_text(formula_rules(formula, "account", "quantity")), FUZZ_SNAPSHOT
    if kind == "grid":
        parameters, points = draw(st.sampled_from([(1, 10_001), (2, 1000), (3, 1000), (4, 1000), (2, 101)]))
        return f"a grid of {points}^{parameters} points", rule_text(huge_grid(parameters, points)), FUZZ_SNAPSHOT
    if kind == "chain":
        n = draw(st.sampled_from([500, 1999, 2001, 5000]))
        return f"a chain of {n} quantities", rule_text(many_quantities(n)), FUZZ_SNAPSHOT
    if kind == "laughs":
        levels = draw(st.sampled_from([3, 9, 12]))
        return f"billion laughs, {levels} levels", laughs(levels), FUZZ_SNAPSHOT
    rows = draw(st.sampled_from([99_999, 100_001, 1_000_000]))
    return f"a snapshot of {rows} positions", None, many_rows(rows)


# the child limits its own address space, runs the CLI, and reports its CPU time and peak RSS as it exits
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from marginspec.cli import main
try:
    code = main(sys.argv[2:])
finally:
    used = resource.getrusage(resource.RUSAGE_SELF)  # its ru_maxrss would count the parent's memory at fork: VmHWM does not
    peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as fh:
        json.dump([used.ru_utime + used.ru_stime, peak], fh)
sys.exit(code)
"""


def run_bounded(*args: str) -> tuple[Ran, float, int]:
    """`marginspec ARGS` in a new process under the address-space limit: its outcome, CPU seconds and peak RSS
    (bytes); a process that dies before it can report has used everything (inf, a huge RSS)."""
    report = FOLDER / "usage.json"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "MARGINSPEC_DEBUG"}
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD.format(limit=SUBPROCESS_ADDRESS_SPACE), str(report), *args],
                              capture_output=True, text=True, env=env, timeout=SUBPROCESS_SECONDS * 2)
    except subprocess.TimeoutExpired:
        return Ran(-9, "", f"killed after {SUBPROCESS_SECONDS * 2:.0f} s"), float("inf"), 2**62
    if not report.exists():
        return Ran(proc.returncode, proc.stdout, proc.stderr), float("inf"), 2**62
    seconds, rss = json.loads(report.read_text(encoding="utf-8"))
    return Ran(proc.returncode, proc.stdout, proc.stderr), seconds, rss


@fuzz_settings(12)
@given(chosen=exhausting_inputs())
def test_exhausting_inputs_stay_within_the_bounds(chosen):
    described, text, data = chosen
    RULE_FILE.write_text(text if text is not None else rule_text(FUZZ_RULES), encoding="utf-8")
    write_json(SNAPSHOT, data)
    with judged("exhausting", lambda: described, bound=SUBPROCESS_SECONDS) as say:  # its process's CPU time, start-up included
        run, seconds, rss = run_bounded("--rules", str(ROOT), "evaluate", FUZZ_SPEC, str(SNAPSHOT))
        if rss > SUBPROCESS_RSS or seconds > SUBPROCESS_SECONDS:
            return say("internal errors", f"{described}: {seconds:.1f} CPU s, peak {rss / 1024**2:.0f} MB (bounds {SUBPROCESS_SECONDS:.0f} s, "
                                          f"{SUBPROCESS_RSS // 1024**2} MB); exit {run.returncode}: {run.stderr[-500:]}")
        verdict, detail = cli_verdict(run, lambda err: bool(RULE_LOCATION.search(err) or "snapshot.json" in err))
        return say(verdict, detail, seconds=seconds)
