"""The command line: output, exit codes, and no tracebacks for user errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_RULES, DEMO_SNAPSHOT, Ran, quantity, run_cli


def run(*args: str, cwd: Path | None = None) -> Ran:
    return run_cli(*args, cwd=cwd)


def test_list_shows_versions_and_aliases():
    proc = run("--rules", str(DEMO_RULES), "list")
    assert proc.returncode == 0
    assert "demo/basic  Demo basic mode  (also: simple)" in proc.stdout
    assert "@2025-01-01" in proc.stdout


def test_evaluate_prints_a_table_json_and_an_explanation():
    proc = run("--rules", str(DEMO_RULES), "evaluate", "demo/simple", str(DEMO_SNAPSHOT))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"adjusted_equity +13,657,000.00 +USD", proc.stdout)
    assert "state: normal" in proc.stdout
    out = json.loads(run("--rules", str(DEMO_RULES), "evaluate", "demo/basic", str(DEMO_SNAPSHOT), "--json").stdout)
    assert out["values"]["account"]["margin_ratio"] == pytest.approx(13657000 / (160 + 200 * 100 / 8500 * 0.02 * 70000), rel=1e-12)
    assert out["receipt"]["ruleset"] == "demo/basic" and out["receipt"]["version"] == "2025-01-01"
    assert len(out["receipt"]["file_sha256"]) == 64
    assert out["trace"]["equity"]["reads"] == ["cash_balance", "margin_mode", "settle_currency", "upl"]
    assert out["trace"]["equity"]["sources"][0]["url"] == "https://example.org/demo"
    explained = run("--rules", str(DEMO_RULES), "evaluate", "demo/basic", str(DEMO_SNAPSHOT), "--explain", "margin_ratio").stdout
    assert "margin_ratio = 3,953.831744 [ratio]" in explained
    assert "cash_balance = BTC=200, USDT=1,000 [coin]" in explained


def test_exit_codes(tmp_path, make_rules):
    assert run("--rules", str(DEMO_RULES), "evaluate", "demo/nope", str(DEMO_SNAPSHOT)).returncode == 2
    assert run("--rules", str(DEMO_RULES), "evaluate", "demo/basic@1999-01-01", str(DEMO_SNAPSHOT)).returncode == 2
    assert run("frobnicate").returncode == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"as_of": "2025-06-01", "currencies": [{"currency": "BTC"}]}))
    proc = run("--rules", str(DEMO_RULES), "evaluate", "demo/basic", str(bad))
    assert proc.returncode == 3 and "currencies[0].cash_balance: required field is missing" in proc.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert run("--rules", str(DEMO_RULES), "evaluate", "demo/basic", str(broken)).returncode == 3
    early = tmp_path / "early.json"
    early.write_text(json.dumps({"as_of": "2020-01-01"}))
    proc = run("--rules", str(DEMO_RULES), "evaluate", "demo/basic", str(early))
    assert proc.returncode == 2 and "no version in force on 2020-01-01" in proc.stderr


def test_check_reports_invalid_files_with_locations_and_failing_cases(tmp_path, make_rules):
    root = make_rules(quantities={"q": quantity("balanse * 2", axis="currency")})
    proc = run("check", str(root))
    assert proc.returncode == 3
    assert "2025-01-01.yaml:" in proc.stdout and "unknown name 'balanse'" in proc.stdout
    root = make_rules(quantities={"q": quantity("sum(balance * price)"), "r": quantity("q / (q - sum(balance * price))", unit="1")})
    (root / "t" / "m" / "x.cases.yaml").write_text(
        "schema: marginspec/cases/v1\nruleset: t/m\ncases:\n"
        "  right:\n    description: d\n    worked_by_hand: by hand\n    snapshot: {as_of: '2025-03-01', currencies: [{currency: A, balance: 2, price: 3}]}\n    expect: {q: 6}\n"
        "  wrong:\n    description: d\n    worked_by_hand: by hand\n    snapshot: {as_of: '2025-03-01', currencies: [{currency: A, balance: 2, price: 3}]}\n    expect: {q: 7}\n"
        "  infinite:\n    description: d\n    worked_by_hand: by hand\n    tolerance: {rel: 1e-9}\n"
        "    snapshot: {as_of: '2025-03-01', currencies: [{currency: A, balance: 2, price: 3}]}\n    expect: {r: inf}\n"
    )
    proc = run("check", str(root))
    assert proc.returncode == 1
    assert "2/3 cases pass" in proc.stdout and "q: expected 7.0, got 6.0" in proc.stdout


def test_schema_commands_print_json_schemas():
    rule = json.loads(run("schema", "rule-file").stdout)
    assert rule["$schema"].endswith("2020-12/schema") and rule["properties"]["schema"]["const"] == "marginspec/rule-file/v2"
    snap = json.loads(run("--rules", str(DEMO_RULES), "schema", "snapshot", "demo/basic").stdout)
    assert "positions" in snap["properties"]
    assert run("schema", "snapshot").returncode == 2


def test_explain_puts_the_numbers_into_each_formula_down_to_the_inputs():
    text = run("--rules", str(DEMO_RULES), "explain", "demo/basic", str(DEMO_SNAPSHOT), "margin_ratio").stdout
    assert "formula: if(mmr + liquidation_fees > 0, adjusted_equity / (mmr + liquidation_fees), inf)" in text
    assert "= if(3454.117647 + 0 > 0, 13657000 / (3454.117647 + 0), inf)" in text
    assert "BTC-USD-SWAP: if('inverse' == 'linear', abs(-200) * 100 * 8500, abs(-200) * 100 / 8500)" in text
    tree = json.loads(run("--rules", str(DEMO_RULES), "explain", "demo/basic", str(DEMO_SNAPSHOT), "mmr", "--json").stdout)["explain"]
    assert tree["name"] == "mmr" and tree["reads"][0]["name"] == "position_mm_usd"
    leaves = {r["name"]: r for r in tree["reads"][0]["reads"]}
    assert leaves["index_price"]["value"] == {"BTC": 70000, "USDT": 1}


def test_check_coverage_lists_what_no_case_exercises(make_rules):
    root = make_rules(quantities={"q": quantity("sum(balance * price)"), "unused": quantity("sum(balance * price) * 2")})
    (root / "t" / "m" / "x.cases.yaml").write_text(
        "schema: marginspec/cases/v1\nruleset: t/m\ncases:\n  right:\n    description: d\n    worked_by_hand: 2 x 3\n"
        "    snapshot: {as_of: '2025-03-01', currencies: [{currency: A, balance: 2, price: 3}]}\n    expect: {q: 6}\n")
    proc = run("check", "--coverage", str(root))
    assert proc.returncode == 1
    assert "coverage: 1 of 2 quantities and thresholds" in proc.stdout
    assert re.search(r"not exercised: rules/t/m/2025-01-01.yaml:\d+: quantities.unused", proc.stdout)


def test_solve_prints_the_value_and_the_exact_root():
    proc = run("--rules", str(DEMO_RULES), "solve", "demo/basic", str(DEMO_SNAPSHOT), "--target", "adjusted_equity=10000000",
               "--vary", "index_price[BTC]", "--sensitivity", "--json")
    out = json.loads(proc.stdout)
    # BTC slices 5M at 1, 5M at 0.97, the rest at 0.95, plus 7000 from the USDT row: 9.85M + (200x - 10M) * 0.95 = 10M - 7000
    assert out["solve"]["root"] == pytest.approx((10e6 + (1e7 - 7000 - 9.85e6) / 0.95) / 200, rel=1e-12)
    assert out["solve"]["method"] == "symbolic"
    assert out["sensitivity"]["adjusted_equity"] == pytest.approx(190.0)
    assert run("--rules", str(DEMO_RULES), "solve", "demo/basic", str(DEMO_SNAPSHOT), "--vary", "nope[BTC]", "--sensitivity").returncode == 2


def test_evaluating_a_cached_rule_set_does_not_import_sympy():
    """Start-up time: a cached kernel is plain numpy; sympy (about half a second to import) is for compiling."""
    run("--rules", str(DEMO_RULES), "evaluate", "demo/basic", str(DEMO_SNAPSHOT))  # fills the kernel cache
    probe = ("import runpy, sys, io, contextlib\n"
             f"sys.argv = ['marginspec', '--rules', {str(DEMO_RULES)!r}, 'evaluate', 'demo/basic', {str(DEMO_SNAPSHOT)!r}]\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try: runpy.run_module('marginspec.cli', run_name='__main__')\n"
             "    except SystemExit: pass\n"
             "print('sympy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr


def test_explain_reads_formulas_from_their_syntax_tree(make_rules):
    """A table column named like a quantity stays a column; a function has no value of its own."""
    from marginspec.cli import main

    table = {"bound": {"unit": "coin", "description": "x"}, "interval": "lower_open",
             "columns": {"rate": {"unit": "ratio", "description": "rate"}},
             "tiers": {"*": [{"lower": 0, "upper": None, "rate": 0.5}]}, "status": "illustrative", "assumption": "test"}
    root = make_rules(tables={"t": table},
                      functions={"twice": {"params": ["x"], "formula": "2 * x", "assumption": "test"}},
                      quantities={"rate": {"axis": "currency", "unit": "ratio", "formula": "tier(t.rate, balance)", "assumption": "test"},
                                  "doubled": {"axis": "currency", "unit": "ratio", "formula": "twice(rate) + rate", "assumption": "test"}})
    snap = root.parent / "snap.json"
    snap.write_text('{"as_of": "2025-02-01", "currencies": [{"currency": "BTC", "balance": 3}], "positions": []}')
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", "--rules", str(root), "t/m", str(snap), "doubled"]) == 0
    text = out.getvalue()
    assert "BTC: twice(0.5) + 0.5" in text
    assert "BTC: tier(t.rate, 3)" in text
    assert "twice  (function)" in text and "None" not in text


def test_explain_puts_each_rows_key_for_axis_key_names(capsys):
    """`position.contract` (a row axis's key) and `risk_unit.underlying` (a grouping axis's key) are values of
    their rows in a derivation, as a bare key name is."""
    from marginspec.cli import main

    examples = Path(__file__).resolve().parents[1] / "exchanges"
    assert main(["explain", "gate/single_currency_margin", str(examples / "gate/examples/single_currency_margin.json"), "futures_maintenance_margin"]) == 0
    text = capsys.readouterr().out
    assert "BTC_USDT: progressive(risk_limits.maintenance_rate, 16207.5, 'BTC_USDT')" in text
    assert "position.contract = BTC_USDT=BTC_USDT, ZTX_USDT=ZTX_USDT  (key on position)" in text
    assert main(["explain", "okx/portfolio_margin", str(examples / "okx/examples/portfolio_margin.json"), "mr6_move"]) == 0
    text = capsys.readouterr().out
    assert "BTC: underlying_params.mr6_move['BTC']" in text and "risk_unit.underlying = BTC=BTC" in text and "None" not in text


def test_plan_prints_every_step_with_what_it_reads_and_where_it_comes_from(capsys):
    from marginspec.cli import main

    assert main(["plan", "okx/spot@2024-09-19"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("plan of okx/spot@2024-09-19:")
    assert "side [choice] on order (buy, sell)" in text
    steps = [line for line in text.splitlines() if line.startswith("      reads ")]
    assert steps and all("; from " in line and ".yaml:" in line for line in steps)
    assert main(["plan", "okx/spot@2024-09-19", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {s["kind"] for s in data["steps"]} >= {"elementwise", "aggregate", "lookup"}
    assert all(set(s["reads"]) <= {i["name"] for i in data["inputs"]} | {t["out"] for t in data["steps"]} for s in data["steps"])
