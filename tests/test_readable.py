"""What a person reads: `evaluate`'s table (amounts at their currency's precision, ratios as percent, one unit
per column, wide tables folded) and the Python API's objects (reprs, keyed values, pandas frames, py.typed)."""

from __future__ import annotations

import json
from pathlib import Path

import marginspec
import pytest
from marginspec.cli import main
from marginspec.report.amounts import amount, decimals, table

ROOT = Path(__file__).resolve().parents[1]
OKX_MCM = ROOT / "exchanges" / "okx" / "examples" / "multi_currency_margin.json"


def test_amounts_are_rounded_to_what_their_currency_is_worth():
    prices = {"BTC": 95000.0, "USDT": 0.9997, "SOL": 140.0}
    assert amount(251322.0868263, "USD") == "251,322.09"
    assert amount(1.4940111231687467, "coin", "BTC", prices) == "1.4940111"  # a cent of USD is 1e-7 BTC at 95,000
    assert amount(27400, "coin", "USDT", prices) == "27,400.00"
    assert amount(150, "settle", "sol", prices) == "150.00000"  # coins compared without regard to case
    assert amount(40.27318789, "ratio") == "4,027.32%"  # a ratio of 40 is 4,027%
    assert amount(float("inf"), "ratio") == "inf" and amount(-0.0, "USD") == "0.00"
    assert amount(0.00173, "settle/contract") == "0.00173" and amount(1234567.891, "contract") == "1,234,567.9"
    assert amount(3.0, "1") == "3"  # plain numbers (steps, counts) are not percentages
    assert amount(2.5, "coin", "XYZ", prices) == "2.5"  # no price: significant digits
    assert [decimals(p) for p in (95000, 3300, 140, 1, 0.05, None)] == [7, 6, 5, 2, 2, None]


def test_a_wide_table_is_folded_repeating_its_first_column():
    head = ["key"] + [f"column_{i}" for i in range(12)]
    lines = table(head, [["A"] + ["1,000.00"] * 12, ["B"] + ["2.00"] * 12], width=60)
    assert max(map(len, lines)) <= 60
    assert sum(line.startswith("key") for line in lines) > 1  # each block repeats the key column
    assert all(f"column_{i}" in "\n".join(lines) for i in range(12))


def test_evaluate_prints_one_unit_per_column_and_percentages(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["evaluate", "okx/multi_currency_margin", str(OKX_MCM)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines[3:]) <= 100  # below the header lines, folded to the terminal
    assert any(line.split()[:2] == ["margin_ratio", "4,027.32%"] for line in lines)
    assert any(line.split()[:2] == ["total_equity", "251,322.09"] for line in lines)
    assert "[settle]" not in out  # positions are grouped by the coin their amounts are in
    assert "position (amounts in USDT)  upl [USDT]" in out and "position (amounts in BTC)   upl [BTC]" in out
    btc_rows = out[out.index("position (amounts in BTC)"):]
    assert "BTC-USDT-SWAP" not in btc_rows.split("\n\n")[0]
    assert any(line.split()[:2] == ["BTC", "1.4940111"] for line in lines)  # equity of BTC, 7 decimals


def test_result_and_rules_print_as_one_line():
    data = json.loads(OKX_MCM.read_text())
    rules = marginspec.load("okx/multi_currency_margin", at="2026-01-15")
    assert repr(rules).startswith("<Rules okx/multi_currency_margin@2024-11-08: ") and "thresholds; tables okx/" in repr(rules)
    result = rules.evaluate(data)
    text = repr(result)
    assert text.startswith("<Result okx/multi_currency_margin@2024-11-08 as of 2026-01-15: state normal; total_equity=251322")
    assert "\n" not in text and len(text) < 400 and str(result) == text


def test_values_are_keyed_by_row():
    data = json.loads(OKX_MCM.read_text())
    rules = marginspec.load("okx/multi_currency_margin", at="2026-01-15")
    values = rules.values(data)
    full = rules.evaluate(data)
    assert values.value("equity", "BTC") == full.value("equity", "BTC") == pytest.approx(1.4940111231687467, rel=1e-12)
    assert values.values["margin_ratio"] == full.value("margin_ratio")
    assert list(values.values["upl"]) == [p["inst_id"] for p in data["positions"]]
    assert values.state() == "normal" and values.states["position"]["SOL-USDT-SWAP"] == "normal"
    assert values.evaluation.values["equity"][0] == values.value("equity", "BTC")  # the kernel's lists, in row order


def test_to_pandas_gives_one_frame_per_axis_and_per_grid_quantity():
    data = json.loads((ROOT / "exchanges" / "okx" / "examples" / "portfolio_margin.json").read_text())
    result = marginspec.evaluate("okx/portfolio_margin", data)
    frames = result.to_pandas()
    assert frames["account"].loc["account", "margin_ratio"] == result.value("margin_ratio")
    assert frames["account"].loc["account", "state"] == "normal"
    assert frames["currency"].loc["BTC", "equity"] == result.value("equity", "BTC")
    grid = frames["scenario_pnl"]
    assert grid.loc[("ETH", 3), "scenario_pnl"] == result.value("scenario_pnl", "ETH")[3]
    assert list(grid.columns) == [*result.grids["scenario"], "scenario_pnl"]


def test_the_package_says_it_is_typed():
    assert (Path(marginspec.__file__).parent / "py.typed").is_file()
    assert '"marginspec" = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
