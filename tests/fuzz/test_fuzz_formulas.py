"""Fuzz: formula text from a hostile rule author, compiled in a small rule set
(as a quantity on every kind of axis, a threshold's condition or a function's
body) and evaluated through the CLI on random snapshots with extreme numbers.
Nothing may run, every refusal names file:line:column, and whatever compiles
gives the same values on the plain-Python and the numpy kernel."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fuzzing import cli, fuzz_settings, judge_rule_file, judged, write_json
from hostile import AXES, FUZZ_SNAPSHOT, FUZZ_SPEC, formula_rules, formulas_on, fuzz_snapshots, rule_text
from hypothesis import given
from hypothesis import strategies as st

FOLDER = Path(tempfile.mkdtemp(prefix="marginspec-fuzz-formulas-"))
ROOT = FOLDER / "rules"
RULE_FILE = ROOT / "fuzz" / "m" / "2025-01-01.yaml"
RULE_FILE.parent.mkdir(parents=True)


@pytest.fixture(scope="module", autouse=True)
def warm() -> None:
    """Compile the rule set once, so the bounds measure each input and not the first import of sympy."""
    RULE_FILE.write_text(rule_text(formula_rules("sum(e) + fees", "account", "quantity")), encoding="utf-8")
    assert cli("--rules", str(ROOT), "evaluate", FUZZ_SPEC, str(write_json(FOLDER / "snapshot.json", FUZZ_SNAPSHOT))).returncode == 0


@fuzz_settings(900)
@given(axis=st.sampled_from(AXES), slot=st.sampled_from(["quantity"] * 6 + ["threshold", "function"]),
       data=st.just(FUZZ_SNAPSHOT) | fuzz_snapshots(), draw=st.data())
def test_hostile_formulas(axis, slot, data, draw):
    if slot != "quantity":  # a function's body is read on the account; conditions live on row axes
        axis = "account" if slot == "function" else draw.draw(st.sampled_from(AXES[:4]), label="threshold axis")
    formula = draw.draw(formulas_on(axis), label="formula")
    if slot == "function":  # the body reads its parameter
        formula = formula.replace("fees", "x")
    elif slot == "threshold" and draw.draw(st.integers(0, 3), label="as a comparison"):
        formula = f"({formula}) > 1"
    RULE_FILE.write_text(rule_text(formula_rules(formula, axis, slot)), encoding="utf-8")
    with judged("formulas", lambda: f"{slot} on {axis}: {formula!r}\nsnapshot: {data}") as say:
        judge_rule_file(say, ROOT, FUZZ_SPEC, data, FOLDER / "snapshot.json")
