"""The fuzz suite's harness: the settings every fuzz test runs under, the marker
file a successful injection would create, the verdict on one input (accepted,
refused cleanly, internal error, silent wrong, refused without a location) and
the count of verdicts per class of input that the run prints at its end.

Budget: MARGINSPEC_FUZZ_SCALE multiplies every test's number of examples
(default 1: about 2,600 inputs in all, the size CI runs); MARGINSPEC_FUZZ_SEED
replays a run (the seed is printed in the summary); every run draws new inputs.
MARGINSPEC_FUZZ_FINDINGS=FILE is for exploring: every finding is appended to
FILE and the run goes on instead of stopping at the first."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed

from conftest import Ran, run_cli

SEED = int(os.environ.get("MARGINSPEC_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
SCALE = float(os.environ.get("MARGINSPEC_FUZZ_SCALE") or 1)
FINDINGS = os.environ.get("MARGINSPEC_FUZZ_FINDINGS")  # exploring: findings go to this file (JSON lines), the tests go on

# Bounds every input is held to (README, "Safety"), in CPU seconds: a refusal comes within REFUSE_SECONDS, anything else
# (compiling a new rule set and running both kernels included) within ACCEPT_SECONDS; the CLI in a subprocess
# runs under an address-space limit of SUBPROCESS_ADDRESS_SPACE and must peak below SUBPROCESS_RSS.
REFUSE_SECONDS = 1.0
ACCEPT_SECONDS = 5.0
SUBPROCESS_SECONDS = 30.0
SUBPROCESS_ADDRESS_SPACE = 2 * 1024**3
SUBPROCESS_RSS = 400 * 1024**2

# What a successful injection would create: every hostile input that tries to run code writes into this folder.
MARKER_DIR = Path(tempfile.mkdtemp(prefix="marginspec-fuzz-marker-"))
MARKER = MARKER_DIR / "pwned"

ACCEPTED, REFUSED, INTERNAL, SILENT_WRONG, UNLOCATED = "accepted", "refused cleanly", "internal errors", "silent wrong", "unlocated"


@dataclass
class Tally:
    """Verdicts per class of input, and the slowest input of each class."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    slowest: dict[str, float] = field(default_factory=dict)
    first: float | None = None  # wall-clock time of the first and the last input judged
    last: float = 0.0

    def add(self, kind: str, verdict: str, seconds: float) -> None:
        self.counts.setdefault(kind, Counter())[verdict] += 1
        self.slowest[kind] = max(self.slowest.get(kind, 0.0), seconds)
        self.last = time.perf_counter()
        self.first = self.first if self.first is not None else self.last - seconds

    def table(self) -> list[str]:
        head = f"{'class':<12} {'inputs':>7} {'accepted':>9} {'refused cleanly':>16} {'internal errors':>16} {'silent wrong':>13} {'unlocated':>10} {'max CPU s':>10}"
        lines = [head, "-" * len(head)]
        total: Counter[str] = Counter()
        for kind, c in self.counts.items():
            total.update(c)
            lines.append(f"{kind:<12} {sum(c.values()):>7} {c[ACCEPTED]:>9} {c[REFUSED]:>16} {c[INTERNAL]:>16} {c[SILENT_WRONG]:>13} "
                         f"{c[UNLOCATED]:>10} {self.slowest[kind]:>10.2f}")
        lines.append(f"{'total':<12} {sum(total.values()):>7} {total[ACCEPTED]:>9} {total[REFUSED]:>16} {total[INTERNAL]:>16} "
                     f"{total[SILENT_WRONG]:>13} {total[UNLOCATED]:>10}")
        return lines


TALLY = Tally()


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    """The settings of a fuzz test: `examples` inputs (times MARGINSPEC_FUZZ_SCALE), the run's seed, no example
    database (a run is replayed from its seed), no deadline (the bounds above are asserted per input)."""
    profile = settings(max_examples=max(1, round(examples * SCALE)), deadline=None, database=None, derandomize=False, print_blob=True,
                       suppress_health_check=list(HealthCheck),
                       phases=(Phase.explicit, Phase.generate, Phase.shrink))  # no explain phase: its tracer slows a shrink tenfold

    def decorate(test: Any) -> Any:
        return hypothesis_seed(SEED)(profile(test))

    return decorate


class Finding(AssertionError):
    """An input the engine handled wrongly; the message says what and how to replay it."""






@contextlib.contextmanager
def judged(kind: str, what: Callable[[], str], bound: float | None = None) -> Iterator[Callable[..., None]]:
    """Judge one input of class `kind`: the body calls `say(verdict, detail)` (and `seconds=` for work done in
    another process); an exception other than a Finding escaping the body is an internal error. Checks the
    marker and the time bound, counts the verdict, and raises a Finding for anything but accepted or refused
    cleanly. `what()` describes the input for the message; `bound` replaces the CPU-time bounds."""
    said: list[tuple[str, str]] = []
    child: list[float] = []
    if FINDINGS:  # exploring: what runs now, in case it takes the process down
        Path(FINDINGS + ".current").write_text(what()[:100_000], encoding="utf-8", errors="backslashreplace")
    started = time.process_time()  # CPU time: the bound is on the work an input causes, not on the machine's other load
    try:
        def say(verdict: str, detail: str = "", seconds: float | None = None) -> None:
            said.append((verdict, detail))
            child.extend([] if seconds is None else [seconds])

        yield say
    except Finding as exc:
        said.append((SILENT_WRONG, str(exc)))
    except Exception as exc:  # an exception the engine let escape: a bug, whatever the input
        said.append((INTERNAL, f"{type(exc).__name__}: {exc}"))
    seconds = time.process_time() - started + sum(child)
    verdict, detail = said[-1] if said else (INTERNAL, "no verdict")
    if MARKER_DIR.exists() and any(MARKER_DIR.iterdir()):
        for p in MARKER_DIR.iterdir():
            p.unlink()
        verdict, detail = SILENT_WRONG, "code from the input ran: the marker file was created"
    bound = bound if bound is not None else REFUSE_SECONDS if verdict == REFUSED else ACCEPT_SECONDS
    if verdict in (ACCEPTED, REFUSED) and seconds > bound:
        verdict, detail = INTERNAL, f"took {seconds:.2f} s, over the bound of {bound} s"
    TALLY.add(kind, verdict, seconds)
    if verdict not in (ACCEPTED, REFUSED) and FINDINGS:  # exploring: record every finding and go on
        with open(FINDINGS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"kind": kind, "verdict": verdict, "detail": detail[:3000], "input": what()[:3000]}) + "\n")
        return
    if verdict not in (ACCEPTED, REFUSED):
        raise Finding(f"{kind}: {verdict}: {detail[:3000]}\ninput: {what()[:3000]}\n(replay: MARGINSPEC_FUZZ_SEED={SEED})")


# ---------- the CLI, in this process

def cli(*args: str) -> Ran:
    """`marginspec ARGS` in this process, with its output captured (a traceback fails as an internal error)."""
    env = os.environ.pop("MARGINSPEC_DEBUG", None)
    try:
        return run_cli(*args)
    finally:
        if env is not None:
            os.environ["MARGINSPEC_DEBUG"] = env


RULE_LOCATION = re.compile(r"\.(?:yaml|yml|json):\d+:\d+")


def cli_verdict(run: Ran, located: Callable[[str], bool]) -> tuple[str, str]:
    """The verdict on an exit status and its messages: 0 (and 1: a check or a comparison failed) accepted; 3 refused,
    cleanly when `located(stderr)`; anything else, or a traceback, an internal error."""
    text = run.stdout + run.stderr
    if "Traceback" in text or run.returncode not in (0, 1, 3):
        return INTERNAL, f"exit {run.returncode}: {run.stderr[-2000:]}"
    if run.returncode == 3:  # the message is on standard error (check lists its findings on standard output)
        return (REFUSED, text) if located(text) else (UNLOCATED, text[-2000:])
    return ACCEPTED, ""


# ---------- the two kernels

def same_value(a: Any, b: Any) -> bool:
    """Two kernels' values are the same: equal floats (rounding of the last bits allowed: numpy and the C library
    may round exp, log and the like a unit apart), equal infinities, equal booleans; NaN never."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    if math.isnan(a) or math.isnan(b):
        return False
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def defined(value: Any) -> bool:
    """A value a result may hold: a real number (finite or infinite) or a boolean, or lists of them; never NaN."""
    if isinstance(value, list):
        return all(defined(v) for v in value)
    if isinstance(value, bool):
        return True
    return isinstance(value, (int, float)) and not math.isnan(value)


def from_json_number(x: Any) -> Any:
    if isinstance(x, list):
        return [from_json_number(v) for v in x]
    if x == "Infinity":
        return math.inf
    if x == "-Infinity":
        return -math.inf
    return x


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def same_tree(a: Any, b: Any) -> bool:
    """Two JSON-like results hold the same values (numbers compared as by same_value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    return same_value(from_json_number(a), from_json_number(b))


EVALUATION_LOCATION = re.compile(r"has no defined value.*the formula is at \S+\.yaml:\d+:\d+|is beyond the last tier of table", re.S)


def both_kernels(kernel: Any, snap: Any) -> tuple[str, str, Any]:
    """Run a validated snapshot on the plain-Python kernel and on the numpy kernel. (ACCEPTED, "", evaluation) when
    both give the same defined values and states and each records the backend that ran; (REFUSED, message, None)
    when both raise the same EvaluationError saying where; else a Finding."""
    from marginspec.errors import EvaluationError
    from marginspec.run.evaluate import evaluate_snapshot

    outcomes: list[Any] = []
    for force_numpy in (False, True):
        try:
            ev = evaluate_snapshot(kernel, snap, force_numpy=force_numpy)
        except EvaluationError as exc:
            outcomes.append(exc)
            continue
        if force_numpy and (ev.backend, ev.fallback) != ("numpy", "asked for"):
            raise Finding(f"the numpy kernel ran but the evaluation records {ev.backend!r} ({ev.fallback!r})")
        if not force_numpy and ev.backend != ("python" if ev.fallback is None else "numpy"):
            raise Finding(f"the evaluation records backend {ev.backend!r} with fallback {ev.fallback!r}")
        undefined = [n for n, v in ev.values.items() if not defined(v)]
        if undefined:
            raise Finding(f"{'numpy' if force_numpy else 'plain-Python'} kernel returned undefined values for {undefined}: "
                          f"{ {n: ev.values[n] for n in undefined} }")
        outcomes.append(ev)
    python, numpy_ = outcomes
    if isinstance(python, Exception) or isinstance(numpy_, Exception):
        if not (isinstance(python, Exception) and isinstance(numpy_, Exception)):
            raise Finding(f"the kernels disagree: plain-Python {_shown(python)}, numpy {_shown(numpy_)}")
        if (type(python), str(python)) != (type(numpy_), str(numpy_)):
            raise Finding(f"the kernels raise different errors: {python!r} and {numpy_!r}")
        return (REFUSED, str(python), None) if EVALUATION_LOCATION.search(str(python)) else (UNLOCATED, str(python), None)
    wrong = [n for n in numpy_.values if not same_value(python.values[n], numpy_.values[n])]
    if wrong or python.states != numpy_.states:
        raise Finding(f"the kernels disagree on {wrong or 'the states'}: plain-Python "
                      f"{ {n: python.values[n] for n in wrong} or python.states } ({python.backend}), numpy "
                      f"{ {n: numpy_.values[n] for n in wrong} or numpy_.states }")
    return ACCEPTED, "", python


def _shown(outcome: Any) -> str:
    return f"raises {outcome!r}" if isinstance(outcome, Exception) else f"gives {outcome.values} ({outcome.backend}, {outcome.fallback})"


def judge_rule_file(say: Callable[[str, str], None], root: Path, spec: str, data: Any, snapshot_file: Path) -> None:
    """Evaluate `data` with the rule set `spec` from the rules folder `root`, through the CLI in this process,
    and hold the CLI's answer against both kernels run through the API: a refusal of the rule file must be
    located (file:line:column) and the API must refuse it too; then as `judge_evaluation`."""
    from marginspec.errors import RuleFileError, RuleFileErrors
    from marginspec.run.rules import Rules
    from marginspec.source.catalog import Catalog

    write_json(snapshot_file, data)
    run = cli("--rules", str(root), "evaluate", spec, str(snapshot_file), "--json")
    verdict, detail = cli_verdict(run, lambda err: bool(RULE_LOCATION.search(err) or EVALUATION_LOCATION.search(err)))
    if verdict not in (ACCEPTED, REFUSED):
        return say(verdict, detail)
    try:
        rules = Rules(Catalog([root]).load(spec))
        rules.kernel
    except (RuleFileError, RuleFileErrors) as exc:
        if run.returncode != 3:
            raise Finding(f"the CLI accepted a rule file the API refuses: {exc}") from None
        return say(REFUSED, str(exc))
    return judge_evaluation(say, run, rules, data)


def judge_evaluation(say: Callable[[str, str], None], run: Ran, rules: Any, data: Any) -> None:
    """Hold `evaluate --json`'s answer (`run`) on the snapshot `data` against both kernels run through the API
    (`rules`: the version the CLI chose): an undefined value must be undefined on both kernels and refused by the
    CLI with the same message; exit 0 must print the values and states both kernels give."""
    from marginspec.run.evaluate import evaluate_snapshot
    from marginspec.run.result import build_result

    snap = rules.snapshot(data)
    kernels, message, _ = both_kernels(rules.kernel, snap)
    if kernels != ACCEPTED:
        if run.returncode != 3 or message not in run.stderr:
            raise Finding(f"the kernels say {message!r} but the CLI exits {run.returncode}: {run.stderr[-500:]}")
        return say(kernels, message)
    if run.returncode != 0:
        raise Finding(f"the kernels agree on values but the CLI exits {run.returncode}: {run.stderr[-1000:]}")
    printed = json.loads(run.stdout)
    numpy_result = json.loads(build_result(rules.ruleset, rules.kernel.plan, snap, evaluate_snapshot(rules.kernel, snap, force_numpy=True),
                                           snap.as_of.date()).to_json())
    for part in ("values", "states", "grids"):
        if not same_tree(printed[part], numpy_result[part]):
            raise Finding(f"evaluate --json prints {part} {printed[part]} where the numpy kernel gives {numpy_result[part]}")
    if printed["receipt"]["backend"] not in ("python", "numpy"):
        raise Finding(f"the receipt does not say which kernel ran: {printed['receipt']}")
    return say(ACCEPTED, "")


def report(terminal: Any) -> None:
    """The summary table at the end of the run (and in MARGINSPEC_FUZZ_REPORT as JSON, when set)."""
    seconds = TALLY.last - (TALLY.first or TALLY.last)
    terminal.write_sep("=", f"fuzz: inputs per class (seed {SEED}, {seconds:.0f} s)")
    for line in TALLY.table():
        terminal.write_line(line)
    terminal.write_line(f"bounds: refusal {REFUSE_SECONDS} s, otherwise {ACCEPT_SECONDS} s per input; CLI subprocesses "
                        f"{SUBPROCESS_SECONDS:.0f} s, {SUBPROCESS_RSS // 1024**2} MB peak RSS, {SUBPROCESS_ADDRESS_SPACE // 1024**3} GB address space")
    terminal.write_line(f"replay this run: MARGINSPEC_FUZZ_SEED={SEED} python -m pytest tests/fuzz")
    target = os.environ.get("MARGINSPEC_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps({"seed": SEED, "seconds": seconds, "counts": {k: dict(v) for k, v in TALLY.counts.items()},
                                            "slowest": TALLY.slowest}, indent=1))
