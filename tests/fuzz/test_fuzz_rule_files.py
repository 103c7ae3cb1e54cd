"""Fuzz: rule files from a hostile author, mutations of a valid small rule file
at every path and in its text. `check` must refuse each bad file with
file:line:column (exit 3), nothing in a file may run, and a file that passes
must evaluate to the same values on both kernels."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fuzzing import RULE_LOCATION, cli, cli_verdict, fuzz_settings, judge_rule_file, judged, write_json
from hostile import FUZZ_RULES, FUZZ_SNAPSHOT, FUZZ_SPEC, encode, rule_files, rule_text
from hypothesis import given

FOLDER = Path(tempfile.mkdtemp(prefix="marginspec-fuzz-rule-files-"))
ROOT = FOLDER / "rules"
RULE_FILE = ROOT / "fuzz" / "m" / "2025-01-01.yaml"
RULE_FILE.parent.mkdir(parents=True)
# whole-file problems have no line to point at: the file is named, and what is wrong with it as a whole
WHOLE_FILE = ("is larger than", "not UTF-8", "is not valid UTF-8", "the file is empty")


def located(err: str) -> bool:
    return bool(RULE_LOCATION.search(err)) or any(f".yaml: {w}" in err or (w in err and ".yaml" in err) for w in WHOLE_FILE)


@pytest.fixture(scope="module", autouse=True)
def warm() -> None:
    RULE_FILE.write_text(rule_text(FUZZ_RULES), encoding="utf-8")
    assert cli("--rules", str(ROOT), "evaluate", FUZZ_SPEC, str(write_json(FOLDER / "snapshot.json", FUZZ_SNAPSHOT))).returncode == 0


@fuzz_settings(450)
@given(text=rule_files())
def test_hostile_rule_files(text):
    RULE_FILE.write_bytes(encode(text))
    with judged("rule files", lambda: text) as say:
        checked = cli("--rules", str(ROOT), "check", str(RULE_FILE))
        verdict, detail = cli_verdict(checked, located)
        if verdict != "accepted" or checked.returncode != 0:
            say(verdict, detail or checked.stdout[-2000:])
        else:
            judge_rule_file(say, ROOT, FUZZ_SPEC, FUZZ_SNAPSHOT, FOLDER / "snapshot.json")
