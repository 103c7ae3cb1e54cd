"""Fuzz: a venue's REST payloads from a hostile source. One payload of a bundled
sample set (OKX or Gate) is changed at random paths or in its text, and the set
is imported through the CLI. A bad payload is refused with its file and the JSON
path (or line and column), exit 3, nothing written; a payload that imports gives
a snapshot that evaluates the same on both kernels."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from fuzzing import EVALUATION_LOCATION, cli, cli_verdict, fuzz_settings, judge_evaluation, judged
from hostile import encode, json_text, mutated_document
from hypothesis import given
from hypothesis import strategies as st
from marginspec import api

from payload_helpers import SAMPLES, as_of_option, sample_sets

FOLDER = Path(tempfile.mkdtemp(prefix="marginspec-fuzz-payloads-"))
SETS = [(venue, name, body) for venue, name, body in sample_sets() if "error" not in body]
PAYLOAD_KEYS = ["data", "code", "msg", "ccy", "eq", "cashBal", "details", "instId", "pos", "posSide", "mgnMode", "ctVal", "acctLv",
                "currency", "mode", "balances", "contract", "size", "mark_price", "index_price", "total", ""]

# a refusal names the payload file and a JSON path or line and column in it, the formula an undefined value comes from,
# or (the payloads as a whole) the account mode, venue or date they do not fit
PAYLOAD_PROBLEM = re.compile(r"invalid (?:payload|snapshot) \(\d+ problems?\):\n  [^\n]+?: ")
WHOLE_SET = re.compile(r"no version of \S+ (?:is )?in force on")


def located(err: str) -> bool:
    return bool(PAYLOAD_PROBLEM.search(err) or EVALUATION_LOCATION.search(err) or WHOLE_SET.search(err))


@st.composite
def payload_sets(draw: st.DrawFn) -> tuple[str, dict, list[Path]]:
    """A sample set with one of its payloads mutated (in its document, its text, or both), written to files."""
    venue, _name, body = draw(st.sampled_from(SETS))
    paths = [SAMPLES[venue] / p for p in body["payloads"]]
    target = draw(st.integers(0, len(paths) - 1))
    data = json.loads(paths[target].read_text(encoding="utf-8"))
    if draw(st.integers(0, 3)):
        data = draw(mutated_document(data, PAYLOAD_KEYS))
    changed = FOLDER / paths[target].name
    changed.write_bytes(encode(draw(json_text(data))))
    return venue, body, [changed if i == target else p for i, p in enumerate(paths)]


@fuzz_settings(300)
@given(chosen=payload_sets())
def test_hostile_payloads(chosen):
    venue, body, paths = chosen
    spec = body["ruleset"]  # venue/mode, or venue/mode@version
    as_of = as_of_option(body)
    options = ["--mode", spec.split("@")[0].split("/")[1]] + (["--at", spec.split("@")[1]] if "@" in spec else []) + (["--as-of", as_of] if as_of else [])
    snapshot = FOLDER / "snapshot.json"
    snapshot.unlink(missing_ok=True)
    with judged("payloads", lambda: f"{venue} {[str(p) for p in paths]}: {paths[0].read_text(errors='replace')[:2000]}") as say:
        run = cli("import", venue, *map(str, paths), *options, "-o", str(snapshot))
        verdict, detail = cli_verdict(run, located)
        if verdict != "accepted":
            if snapshot.exists():
                return say("silent wrong", f"import refused the payloads but wrote {snapshot}")
            return say(verdict, detail)
        # the snapshot it wrote is valid for the version it names, and evaluates the same on both kernels
        data = json.loads(snapshot.read_text(encoding="utf-8"))
        evaluated = cli("evaluate", spec, str(snapshot), "--json")
        verdict, detail = cli_verdict(evaluated, located)
        if verdict != "accepted" or evaluated.returncode != 0:
            if evaluated.returncode == 3 and EVALUATION_LOCATION.search(evaluated.stderr):
                return say(verdict, detail)
            return say("silent wrong", f"import wrote a snapshot that evaluate refuses: {evaluated.stderr[-1500:]}")
        judge_evaluation(say, evaluated, api.load(spec, at=json.loads(evaluated.stdout)["receipt"]["evaluation_date"]), data)
