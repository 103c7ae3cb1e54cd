"""Fuzz: snapshots from a hostile sender, as JSON text, evaluated through the CLI
with the small fuzz rule set (extreme magnitudes, every collection) and with a
bundled rule set (its example mutated at every path and in its text). A bad
snapshot is refused with the JSON path (and line and column where the text is
at fault), exit 3; a good one gives the same values on both kernels."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from fuzzing import EVALUATION_LOCATION, cli, cli_verdict, fuzz_settings, judge_evaluation, judge_rule_file, judged
from hostile import FUZZ_RULES, FUZZ_SNAPSHOT, FUZZ_SPEC, encode, fuzz_snapshots, json_text, mutated_document, rule_text
from hypothesis import given
from hypothesis import strategies as st
from marginspec import api

FOLDER = Path(tempfile.mkdtemp(prefix="marginspec-fuzz-snapshots-"))
ROOT = FOLDER / "rules"
(ROOT / "fuzz" / "m").mkdir(parents=True)
(ROOT / "fuzz" / "m" / "2025-01-01.yaml").write_text(rule_text(FUZZ_RULES), encoding="utf-8")
SNAPSHOT_FILE = FOLDER / "snapshot.json"

EXAMPLE = Path(__file__).resolve().parents[2] / "exchanges" / "okx" / "examples" / "multi_currency_margin.json"
BUNDLED = "okx/multi_currency_margin"
SNAPSHOT_KEYS = ["as_of", "account", "currencies", "positions", "meta", "currency", "inst_id", "size", "cash_balance", "usd_price",
                 "mark_price", "margin_mode", "contract_type", "settle_currency", "tier_family", "ct_val", "leverage", "extra", ""]

# a refusal names the JSON path of each problem (`currencies[1].cash_balance: ...`, `(top level): line 1, column 3: ...`),
# the formula an undefined value comes from, or the rule set and date when no version is in force on the snapshot's as_of
SNAPSHOT_PROBLEM = re.compile(r"invalid snapshot \(\d+ problems?\):\n  [^\n]+?: ")  # keys are shown escaped, whatever they hold
NO_VERSION = re.compile(r"no version of \S+ (?:is )?in force on \d{4}-\d{2}-\d{2}")


def located(err: str) -> bool:
    return bool(SNAPSHOT_PROBLEM.search(err) or EVALUATION_LOCATION.search(err) or NO_VERSION.search(err))


@st.composite
def fuzz_rule_set_snapshots(draw: st.DrawFn) -> str:
    """Snapshots of the fuzz rule set: valid ones with extreme numbers, or mutated, as JSON text."""
    data = draw(fuzz_snapshots() | st.just(FUZZ_SNAPSHOT))
    if draw(st.booleans()):
        data = draw(mutated_document(data, SNAPSHOT_KEYS))
    return draw(json_text(data))


@st.composite
def bundled_snapshots(draw: st.DrawFn) -> str:
    """The bundled example of OKX multi-currency margin, mutated at random paths or in its text."""
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    if draw(st.integers(0, 3)):
        data = draw(mutated_document(data, SNAPSHOT_KEYS))
    return draw(json_text(data))


@fuzz_settings(350)
@given(text=fuzz_rule_set_snapshots())
def test_hostile_snapshots_on_the_fuzz_rule_set(text):
    with judged("snapshots", lambda: text) as say:
        SNAPSHOT_FILE.write_bytes(encode(text))
        run = cli("--rules", str(ROOT), "evaluate", FUZZ_SPEC, str(SNAPSHOT_FILE), "--json")
        verdict, detail = cli_verdict(run, located)
        if verdict != "accepted":
            return say(verdict, detail)
        # it was read: the same data evaluated through the API, on both kernels, must print what the CLI printed
        judge_rule_file(say, ROOT, FUZZ_SPEC, json.loads(SNAPSHOT_FILE.read_text(encoding="utf-8")), SNAPSHOT_FILE)


@fuzz_settings(250)
@given(text=bundled_snapshots())
def test_hostile_snapshots_on_a_bundled_rule_set(text):
    with judged("snapshots", lambda: text) as say:
        SNAPSHOT_FILE.write_bytes(encode(text))
        run = cli("evaluate", BUNDLED, str(SNAPSHOT_FILE), "--json")
        verdict, detail = cli_verdict(run, located)
        if verdict != "accepted" or run.returncode != 0:
            return say(verdict, detail)
        # the version and tables the CLI chose for the snapshot's date, through the API, on both kernels
        judge_evaluation(say, run, api.load(BUNDLED, at=json.loads(run.stdout)["receipt"]["evaluation_date"]),
                         json.loads(SNAPSHOT_FILE.read_text(encoding="utf-8")))
