"""Rule authors' tools where their editors and test runners are: every marginspec file links to its JSON Schema
for the YAML language server, `schema --write DIR --annotate FOLDER` does the same for a user's folder, and the
pytest plugin collects a user's rule files and cases as tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from marginspec.cli import main
from marginspec.source.schema_links import kind_of, link_target, marginspec_files
from marginspec.source.validation import SCHEMA_FILES, schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "engine" / "source" / "schemas"

RULE_FILE = """schema: marginspec/rule-file/v2
ruleset: t/m
valid_from: "2025-01-01"
title: t
documents: {d: {url: "https://example.org/d", title: doc}}
axes:
  currency: {collection: currencies, key: currency, description: coins}
inputs:
  balance: {axis: currency, type: number, unit: coin, description: balance}
  price: {axis: currency, type: number, unit: USD/coin, description: price}
quantities:
  q: {axis: account, unit: USD, formula: sum(balance * price), assumption: test}
"""
CASES = """schema: marginspec/cases/v1
ruleset: t/m
cases:
  right:
    description: d
    worked_by_hand: 2 x 3
    snapshot: {as_of: "2025-03-01", currencies: [{currency: A, balance: 2, price: 3}]}
    expect: {q: 6}
  wrong:
    description: d
    worked_by_hand: 2 x 3
    snapshot: {as_of: "2025-03-01", currencies: [{currency: A, balance: 2, price: 3}]}
    expect: {q: 7}
"""


def test_every_bundled_marginspec_file_links_to_its_schema():
    kinds: dict[str, int] = {}
    for folder in (ROOT / "rules", ROOT / "exchanges"):
        for path, text, kind in marginspec_files(folder):
            target = link_target(path, text)
            assert target == (SCHEMAS / SCHEMA_FILES[kind]).resolve(), f"{path.relative_to(ROOT)}: first line links to {target}"
            kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) == set(SCHEMA_FILES), kinds  # rule files, tables, cases, venues and payload mappings all carry it
    assert kinds["rule-file"] >= 18 and kinds["table"] >= 30


def test_schema_write_and_annotate_a_users_folder(tmp_path, capsys):
    folder = tmp_path / "mine" / "t" / "m"
    folder.mkdir(parents=True)
    (folder / "2025-01-01.yaml").write_text(RULE_FILE)
    (folder / "t.cases.yaml").write_text("# yaml-language-server: $schema=old/place.json\n" + CASES)
    (folder / "notes.yaml").write_text("just: yaml\n")
    out = tmp_path / "schemas"
    assert main(["schema", "--write", str(out), "--annotate", str(tmp_path / "mine")]) == 0
    assert "linked 2 file(s)" in capsys.readouterr().out
    for kind, name in SCHEMA_FILES.items():
        assert json.loads((out / name).read_text()) == schema(kind)  # what `marginspec schema KIND` prints
    rule = (folder / "2025-01-01.yaml").read_text()
    assert rule == "# yaml-language-server: $schema=../../../schemas/rule-file.v2.json\n" + RULE_FILE
    cases = (folder / "t.cases.yaml").read_text()
    assert cases == "# yaml-language-server: $schema=../../../schemas/cases.v1.json\n" + CASES  # the old link replaced, not doubled
    assert (folder / "notes.yaml").read_text() == "just: yaml\n" and kind_of("just: yaml\n") is None
    assert main(["schema", "--write", str(out), "--annotate", str(tmp_path / "mine")]) == 0
    assert "linked 0 file(s)" in capsys.readouterr().out  # a second run changes nothing
    assert main(["check", str(tmp_path / "mine")]) == 1  # the files still load (the case `wrong` fails, as written)
    assert "1/2 cases pass" in capsys.readouterr().out


def test_the_pytest_plugin_collects_a_users_rules_folder(tmp_path):
    assert any(e.value == "marginspec.pytest_plugin" for e in entry_points(group="pytest11"))
    folder = tmp_path / "rules" / "t" / "m"
    folder.mkdir(parents=True)
    (folder / "2025-01-01.yaml").write_text(RULE_FILE)
    (folder / "t.cases.yaml").write_text(CASES)
    (tmp_path / "rules" / "t" / "n").mkdir()
    (tmp_path / "rules" / "t" / "n" / "2025-01-01.yaml").write_text(RULE_FILE.replace("t/m", "t/n").replace("balance * price", "balanse"))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    (folder / "more.cases.yaml").write_text(CASES.replace("right:", "skipped_by_k:").replace("  wrong:\n", "  wrong_too:\n"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--marginspec-rules", "rules", "-v", "-o", "addopts=",
                           "-k", "not skipped_by_k and not wrong_too"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "rules/t/m/2025-01-01.yaml::t/m@2025-01-01 PASSED" in out and "rules/t/m/t.cases.yaml::right PASSED" in out
    assert "rules/t/m/t.cases.yaml::wrong FAILED" in out and "q: expected 7.0, got 6.0" in out
    assert "rules/t/n/2025-01-01.yaml::t/n@2025-01-01 FAILED" in out and "unknown name 'balanse'" in out
    assert "2 failed, 2 passed, 2 deselected" in out and "Traceback" not in out  # -k applies to the folder's tests too
