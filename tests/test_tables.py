"""Dated tables: the version in force on the evaluation date is used, independently
of the rule-file version; the receipt, `list`, `show` and `check` name the
versions; every table says which of its rows are real and which illustrative.
Also `not_modelled`: what a rule set leaves out makes evaluate warn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from marginspec.api import Rules
from marginspec.errors import RuleFileError, RuleFileErrors, SnapshotError
from marginspec.source.catalog import Catalog, bundled_dir
from marginspec.tools.check import run_check

from conftest import BASE, quantity

TABLE = {
    "bound": {"unit": "coin", "description": "amount"},
    "interval": "lower_open",
    "columns": {"rate": {"unit": "ratio", "description": "rate"}},
    "documents": {"a": {"url": "https://example.org/a", "title": "announcement"}},
    "sources": [{"ref": "a", "quote": "rates"}],
}


def write_table(root: Path, valid_from: str, rate: float, status: str = "real", **extra: Any) -> None:
    """A version of table t/rates below the exchanges/ folder beside the rules folder `root`."""
    doc = {"schema": "marginspec/table/v2", "table": "t/rates", "valid_from": valid_from, "status": status, **TABLE,
           "tiers": {"*": [{"lower": 0, "upper": None, "rate": rate}]}, **extra}
    folder = root.parent / "exchanges" / "t" / "tables" / "rates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{valid_from}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def dated(make_rules: Any) -> Path:
    """Rule set t/m from 2025-01-01 reading t/rates, which changed on 2025-03-01 and 2025-06-01."""
    root = make_rules(tables={"rates": {"table": "t/rates"}},
                      quantities={"discounted": quantity("progressive(rates.rate, balance, currency)", axis="currency", unit="coin")})
    write_table(root, "2025-01-01", 1.0, status="illustrative")
    write_table(root, "2025-03-01", 0.9)
    write_table(root, "2025-06-01", 0.8, tiers={"BTC": [{"lower": 0, "upper": None, "rate": 0.8}],
                                                "*": [{"lower": 0, "upper": None, "rate": 0.5, "status": "illustrative"}]})
    with_case(root, "'discounted[BTC]': 10", "{as_of: '2025-02-01', currencies: [{currency: BTC, balance: 10}]}")
    return root


def with_case(root: Path, expect: str, snapshot: str) -> None:
    """A worked example for t/m: `check` fails a rule set on which no case ran."""
    (root / "t" / "m" / "t.cases.yaml").write_text(
        f"schema: marginspec/cases/v1\nruleset: t/m\ncases:\n  one:\n    description: d\n    worked_by_hand: by hand\n"
        f"    snapshot: {snapshot}\n    expect: {{{expect}}}\n")


def snapshot(as_of: str, **extra: Any) -> dict[str, Any]:
    return {"as_of": as_of, "currencies": [{"currency": "BTC", "balance": 10}], **extra}


@pytest.mark.parametrize("as_of, rate, version, until", [("2025-02-01", 1.0, "2025-01-01", "2025-03-01"), ("2025-03-01", 0.9, "2025-03-01", "2025-06-01"),
                                                         ("2025-05-31", 0.9, "2025-03-01", "2025-06-01"), ("2026-01-01", 0.8, "2025-06-01", None)])
def test_the_table_version_in_force_on_the_evaluation_date_is_used(dated, as_of, rate, version, until):
    import marginspec

    result = marginspec.evaluate("t/m", snapshot(as_of), rules=[dated])
    assert result.receipt.version == "2025-01-01"  # one rule-file version throughout
    assert result.value("discounted", "BTC") == pytest.approx(10 * rate)
    [used] = result.receipt.tables
    assert (used.name, used.table, used.valid_from, used.valid_to) == ("rates", "t/rates", version, until)  # until the next version
    assert used.file.endswith(f"t/tables/rates/{version}.yaml")
    assert used.file in result.receipt.files


@pytest.mark.parametrize("as_of, read", [("2025-02-01", {"rates": ["BTC (via *)", "ETH (via *)"]}), ("2025-03-01", {}),
                                          ("2026-01-01", {"rates": ["ETH (via *)"]})])
def test_the_receipt_names_the_keys_read_from_illustrative_rows(dated, as_of, read, capsys):
    """2025-01-01: the whole table is illustrative; 2025-03-01: real; 2025-06-01: BTC real, the "*" rows
    (ETH's) illustrative. evaluate says so on a note line."""
    import marginspec
    from marginspec.cli import main

    coins = [{"currency": "BTC", "balance": 10}, {"currency": "ETH", "balance": 5}]
    assert marginspec.evaluate("t/m", {"as_of": as_of, "currencies": coins}, rules=[dated]).receipt.illustrative == read
    path = dated.parent / "snapshot.json"
    path.write_text(json.dumps({"as_of": as_of, "currencies": coins}))
    assert main(["--rules", str(dated), "evaluate", "t/m", str(path)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: tables with illustrative rows")]
    assert len(notes) == bool(read) and all("rates [" in n for n in notes)


def test_an_old_date_gets_the_old_table_even_with_a_pinned_version(dated):
    cat = Catalog([dated])
    import datetime as dt

    old = cat.load("t/m@2025-01-01", dt.date(2025, 2, 1))
    new = cat.load("t/m@2025-01-01", dt.date(2025, 7, 1))
    assert old.tables["rates"].version.valid_from == "2025-01-01"
    assert new.tables["rates"].version.valid_from == "2025-06-01"
    assert old.key != new.key and old.ref == new.ref
    assert cat.load("t/m@2025-01-01").tables["rates"].version.valid_from == "2025-01-01"  # no date: the version's own valid_from


def test_a_date_before_the_first_table_version_is_an_error_naming_the_versions(make_rules):
    root = make_rules(tables={"rates": {"table": "t/rates"}},
                      quantities={"discounted": quantity("progressive(rates.rate, balance, currency)", axis="currency", unit="coin")})
    write_table(root, "2025-02-01", 1.0)
    import marginspec

    with pytest.raises(RuleFileError, match=r"tables\.rates: table t/rates has no version in force on 2025-01-15 \(versions: 2025-02-01\)"):
        marginspec.evaluate("t/m", snapshot("2025-01-15"), rules=[root])
    proc = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(root), "check", str(root)],
                          capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 3 and "has no version in force on 2025-01-01" in proc.stdout


def test_check_builds_every_table_version_a_rule_version_is_used_with(dated, capsys):
    assert run_check([dated], [], coverage=False) == 0
    assert "built with the tables of 3 dates" in capsys.readouterr().out
    # a later version that lacks the column the formula reads fails check, though the rule file is unchanged
    write_table(dated, "2025-09-01", 0.7, columns={"other": {"unit": "ratio", "description": "x"}},
                tiers={"*": [{"lower": 0, "upper": None, "other": 0.7}]})
    assert run_check([dated], [], coverage=False) == 3
    assert "rates" in capsys.readouterr().out


def test_a_table_file_must_sit_where_its_name_and_date_say(dated):
    path = dated.parent / "exchanges" / "t" / "tables" / "rates" / "2025-03-01.yaml"
    path.write_text(path.read_text().replace("valid_from: '2025-03-01'", "valid_from: '2025-03-02'"))
    import marginspec

    with pytest.raises(RuleFileError, match=r"valid_from is 2025-03-02 but the file is named 2025-03-01\.yaml"):
        marginspec.evaluate("t/m", snapshot("2025-04-01"), rules=[dated])


def test_rows_say_whether_they_are_real_or_illustrative(dated):
    import datetime as dt

    t = Catalog([dated]).load("t/m", dt.date(2025, 7, 1)).tables["rates"]
    assert [t.status_of("BTC", 0), t.status_of("*", 0)] == ["real", "illustrative"]
    assert t.status_text() == "mixed: 1 real rows, 1 illustrative (keys *)"
    rows = Catalog([dated]).table_spans("t/rates")
    assert [(s.entry.valid_from, s.until, s.status) for s in rows] == [
        ("2025-01-01", "2025-03-01", "illustrative"), ("2025-03-01", "2025-06-01", "real"),
        ("2025-06-01", None, "mixed: 1 real rows, 1 illustrative (keys *)")]


def test_a_table_without_a_status_is_refused(dated):
    path = dated.parent / "exchanges" / "t" / "tables" / "rates" / "2025-03-01.yaml"
    path.write_text(path.read_text().replace("status: real\n", ""))
    with pytest.raises(RuleFileErrors, match="missing required key 'status'"):
        Catalog([dated]).load("t/m@2025-01-01", __import__("datetime").date(2025, 4, 1))


def test_list_and_show_name_the_table_versions_and_their_status(dated):
    env = os.environ.copy()
    out = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(dated), "list"], capture_output=True, text=True, env=env).stdout
    assert "rates = t/rates" in out
    assert "@2025-01-01  .. 2025-03-01  illustrative" in out and "@2025-03-01  .. 2025-06-01  real" in out
    listing = json.loads(subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(dated), "list", "--json"],
                                        capture_output=True, text=True, env=env).stdout)
    [mine] = [r for r in listing if r["ruleset"] == "t/m"]
    assert [v["valid_from"] for v in mine["tables"][0]["versions"]] == ["2025-01-01", "2025-03-01", "2025-06-01"]
    shown = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(dated), "show", "t/m", "--at", "2025-04-01"],
                           capture_output=True, text=True, env=env).stdout
    assert "t/rates@2025-03-01" in shown and "; real;" in shown


def test_a_user_folder_adds_a_version_to_a_bundled_table(make_rules):
    """Refreshing a bundled table: a newer version beside a user rules folder applies to the bundled rule sets."""
    import datetime as dt

    bundled = Catalog().load("okx/portfolio_margin", dt.date(2099, 1, 1))
    name, version = next((n, v) for n, v in bundled.table_versions.items() if v.table == "okx/pm-mr9-hedge-tiers")
    root = make_rules(quantities={"q": quantity("1")})
    src = bundled_dir("exchanges") / "okx" / "tables" / "pm-mr9-hedge-tiers" / f"{version.valid_from}.yaml"
    folder = root.parent / "exchanges" / "okx" / "tables" / "pm-mr9-hedge-tiers"
    folder.mkdir(parents=True)
    (folder / "2099-01-01.yaml").write_text(src.read_text().replace(f'valid_from: "{version.valid_from}"', 'valid_from: "2099-01-01"'))
    cat = Catalog([root])
    assert cat.load("okx/portfolio_margin", dt.date(2099, 1, 1)).table_versions[name].valid_from == "2099-01-01"
    assert cat.load("okx/portfolio_margin", dt.date(2098, 1, 1)).table_versions[name].valid_from == version.valid_from


def test_every_bundled_table_version_is_dated_and_marked():
    cat = Catalog()
    assert cat.tables, "no bundled tables found"
    for _tid, versions in cat.tables.items():
        for e in versions:
            table, documents, _ = cat.read_table(e)
            assert table.status in ("real", "illustrative")
            counts = table.status_counts()
            assert sum(counts.values()) == sum(len(rows) for rows in table.tiers.values())
            assert table.sources or table.assumption, f"{e.display} cites nothing"
            if counts["real"]:
                assert table.sources and documents, f"{e.display} has real rows but no source"


def test_a_version_1_file_is_refused_with_how_to_migrate(make_rules):
    text = yaml.safe_dump(dict(BASE, schema="marginspec/rule-file/v1"), sort_keys=False)
    root = make_rules(text=text)
    with pytest.raises(RuleFileError, match=r"schema: marginspec/rule-file/v1 is no longer read: .*\{table: venue/name\}"):
        Catalog([root]).load("t/m@2025-01-01")


# ---------------------------------------------------------------- not_modelled

NOT_MODELLED = {
    "short_positions": {"description": "the margin of short positions", "axis": "position", "when": "size < 0",
                        "assumption": "test"},
    "any_short": {"description": "an account with a short position", "when": "any(size < 0)", "assumption": "test"},
    "open_orders": {"description": "open orders", "collection": "open_orders", "assumption": "test"},
    "collateral_selection": {"description": "collateral-asset selection", "assumption": "listed only"},
}


@pytest.fixture
def partial(make_rules: Any) -> Path:
    return make_rules(not_modelled=NOT_MODELLED, quantities={"total": quantity("sum(balance * price)")})


def positions(*sizes: float) -> list[dict[str, Any]]:
    return [{"inst_id": f"P{i}", "settle": "BTC", "size": s} for i, s in enumerate(sizes)]


def test_evaluate_warns_about_what_the_version_does_not_model(partial):
    import marginspec

    clean = marginspec.evaluate("t/m", snapshot("2025-02-01", positions=positions(1)), rules=[partial])
    assert clean.warnings == []
    result = marginspec.evaluate("t/m", snapshot("2025-02-01", positions=positions(1, -2, -3),
                                                 open_orders=[{"inst_id": "P0", "px": 1}, {}]), rules=[partial])
    got = {w.name: w for w in result.warnings}
    assert set(got) == {"short_positions", "any_short", "open_orders"}
    assert got["short_positions"].rows == ["P1", "P2"] and got["any_short"].rows == []
    assert got["open_orders"].collection == "open_orders" and got["open_orders"].rows == ["2 row(s) ignored"]
    payload = json.loads(result.to_json())
    assert [w["name"] for w in payload["warnings"]] == ["short_positions", "any_short", "open_orders"]
    assert "short_positions" not in payload["values"].get("position", {}).get("P1", {})  # conditions are not values


def test_evaluate_prints_the_warning_line_and_json_carries_it(partial, tmp_path):
    snap = tmp_path / "s.json"
    snap.write_text(json.dumps(snapshot("2025-02-01", positions=positions(-1), open_orders=[{}])))
    env = os.environ.copy()
    text = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(partial), "evaluate", "t/m", str(snap)],
                          capture_output=True, text=True, env=env)
    assert text.returncode == 0, text.stderr
    assert "warning: not modelled: the margin of short positions [P0] (short_positions)" in text.stdout
    assert "warning: not modelled: open orders [1 row(s) ignored] (open_orders)" in text.stdout
    js = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(partial), "evaluate", "t/m", str(snap), "--json"],
                        capture_output=True, text=True, env=env)
    assert {w["name"] for w in json.loads(js.stdout)["warnings"]} == {"short_positions", "any_short", "open_orders"}
    assert "marginspec: warning: not modelled: open orders" in js.stderr


def test_a_collection_is_refused_unless_the_rule_set_lists_it_as_not_modelled(make_rules, partial):
    import marginspec

    plain = make_rules(quantities={"total": quantity("sum(balance * price)")}, ruleset="t/plain")
    with pytest.raises(SnapshotError, match="open_orders"):
        marginspec.evaluate("t/plain", snapshot("2025-02-01", open_orders=[{}]), rules=[plain])
    with pytest.raises(SnapshotError, match="expected a list of objects"):
        marginspec.evaluate("t/m", snapshot("2025-02-01", open_orders=3), rules=[partial])
    schema = Rules(Catalog([partial]).load("t/m@2025-01-01")).snapshot_schema()
    assert schema["properties"]["open_orders"]["type"] == "array"


def test_a_not_modelled_condition_is_checked_like_a_formula(make_rules):
    bad = dict(NOT_MODELLED, broken={"description": "xyz", "when": "size < 0", "assumption": "test"})
    root = make_rules(not_modelled=bad, quantities={"total": quantity("sum(balance * price)")})
    with pytest.raises(RuleFileErrors, match=r"not_modelled\.broken: the formula's values live on position"):
        Rules(Catalog([root]).load("t/m@2025-01-01")).kernel
    taken = make_rules(not_modelled={"x": {"description": "xyz", "collection": "positions", "assumption": "tst"}},
                       quantities={"total": quantity("sum(balance * price)")}, ruleset="t/taken")
    with pytest.raises(RuleFileError, match="collection 'positions' is a part of the snapshot"):
        Catalog([taken]).load("t/taken@2025-01-01")


# ---------------------------------------------------------------- provenance of quotes

DOC_TEXT = """url: https://example.org/a
url: https://www.example.org/a-mirror/
title: announcement
read: 2026-12-06 from a stored copy
coverage: excerpts
---
OKX will adjust MR1 and MR6 parameters from 8:00 am to 10:00 am UTC on January 6, 2025.
[...]
BTC, ETH +/– 0%, 4%, 8%, 12%
"""


def quoted(make_rules: Any, *citations: dict[str, Any]) -> Path:
    root = make_rules(documents={"a": {"url": "https://example.org/a", "title": "announcement"}},
                      quantities={"q": {"axis": "account", "unit": "USD", "formula": "sum(balance * price)", "sources": list(citations)}})
    folder = root.parent / "exchanges" / "t" / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.txt").write_text(DOC_TEXT)
    with_case(root, "q: 6", "{as_of: '2025-03-01', currencies: [{currency: A, balance: 2, price: 3}]}")
    return root


def test_check_rejects_a_verbatim_quote_that_is_not_in_the_stored_text(make_rules, capsys):
    root = quoted(make_rules, {"ref": "a", "quote": "MR6 = 50% of the loss at the extreme move"})
    assert run_check([root], [], coverage=False) == 3
    out = capsys.readouterr().out
    assert "rules/t/m/2025-01-01.yaml:" in out  # file:line:column of the quote
    assert "quote cited as the verbatim text of 'a' is not in its stored text" in out and "a.txt" in out


@pytest.mark.parametrize("quote", [
    "OKX will adjust MR1 and MR6 parameters from 8:00 am to 10:00 am UTC on January 6, 2025",
    "okx will adjust MR1 and MR6 parameters … on January 6, 2025",          # ellipsis, case, punctuation
    "BTC, ETH | +/- 0%, 4%, 8%, 12%",                                       # table pipes, another dash
])
def test_check_accepts_the_documents_words_however_punctuated(make_rules, quote):
    assert run_check([quoted(make_rules, {"ref": "a", "quote": quote})], [], coverage=False) == 0


@pytest.mark.parametrize("quote", ["BTC, ETH +/– 0%, 5%, 10%, 15%", "OKX will adjust MR1 and MR6 parameters … on January 15, 2025"])
def test_a_changed_number_is_not_the_documents_words(make_rules, quote):
    assert run_check([quoted(make_rules, {"ref": "a", "quote": quote})], [], coverage=False) == 3


def test_a_derivation_says_so_and_is_not_checked_against_the_text(make_rules):
    root = quoted(make_rules, {"ref": "a", "quote": "MR6 = 50% of the loss", "kind": "derived",
                               "derived_from": "the position-builder sample: mr6 is half the loss at the extreme move"})
    assert run_check([root], [], coverage=False) == 0
    unsaid = quoted(make_rules, {"ref": "a", "quote": "MR6 = 50% of the loss", "kind": "derived"})
    with pytest.raises(RuleFileErrors, match="missing required key 'derived_from'"):
        Catalog([unsaid]).load("t/m@2025-01-01")


def test_the_audit_says_beside_each_quote_what_it_is(make_rules):
    from marginspec.report.audit import audit

    root = quoted(make_rules, {"ref": "a", "quote": "BTC, ETH +/– 0%, 4%, 8%, 12%"},
                  {"ref": "a", "quote": "the grid is symmetric", "kind": "paraphrase", "derived_from": "the reference notes' summary"})
    cat = Catalog([root])
    md = audit(cat, cat.load("t/m@2025-01-01"))
    assert "verbatim, found in the stored text (exchanges/t/documents/a.txt)" in md
    assert "paraphrase: the reference notes' summary" in md
    html = audit(cat, cat.load("t/m@2025-01-01"), "html")
    assert 'class="prov verbatim"' in html and 'class="prov derived"' in html


def test_a_malformed_document_text_is_a_located_error(make_rules):
    root = quoted(make_rules, {"ref": "a", "quote": "BTC"})
    (root.parent / "exchanges" / "t" / "documents" / "a.txt").write_text("url: https://example.org/a\nsource: x\n---\ntext\n")
    with pytest.raises(RuleFileError, match=r"a\.txt:2:1: header line 'source: x'"):
        Catalog([root]).document_texts


# ---------------------------------------------------------------- the bundled data

EXAMPLES = bundled_dir("exchanges")


def test_bundled_portfolio_margin_takes_the_parameters_of_its_date():
    import marginspec

    snap = {"currencies": [{"currency": "USDT", "cash_balance": 30000, "usd_price": 1}],
            "positions": [{"inst_id": "BTC-USDT-SWAP", "underlying": "BTC", "contract_type": "linear", "quote_ccy": "usdt",
                           "settle_currency": "USDT", "size": 100, "ct_val": 0.01, "avg_price": 100000, "mark_price": 100000,
                           "index_price": 100000}]}
    before = marginspec.evaluate("okx/portfolio_margin", dict(snap, as_of="2025-01-03"))
    after = marginspec.evaluate("okx/portfolio_margin", dict(snap, as_of="2025-02-01"))
    assert before.receipt.version == after.receipt.version == "2024-12-30"
    used = {r: {t.name: t.valid_from for t in res.receipt.tables} for r, res in (("before", before), ("after", after))}
    assert used["before"]["underlying_params"] == "2025-01-02" and used["after"]["underlying_params"] == "2025-01-06"
    assert used["before"]["mr7_tiers"] == "2024-12-30" and used["after"]["mr7_tiers"] == "2025-01-15"
    assert before.value("mr1", "BTC") == pytest.approx(15000) and after.value("mr1", "BTC") == pytest.approx(12000)  # 15% -> 12% moves


def test_the_quick_start_example_margins_its_short_call():
    import marginspec

    data = json.loads((EXAMPLES / "okx" / "examples" / "multi_currency_margin.json").read_text())
    result = marginspec.evaluate("okx/multi_currency_margin", data)
    assert result.warnings == []
    assert result.value("maintenance_margin_usd", "BTC-USD-260327-110000-C") == pytest.approx(4807)
    launch = marginspec.evaluate("okx/multi_currency_margin", data, at="2021-06-01")  # a version without option seller margin
    assert [(w.name, w.rows) for w in launch.warnings] == [("short_options", ["BTC-USD-260327-110000-C"])]


def test_every_bundled_example_is_margined_or_warns():
    import marginspec

    warned = {}
    for path in sorted(EXAMPLES.glob("*/examples/*.json")):
        venue, mode = path.parent.parent.name, path.stem
        data = json.loads(path.read_text())
        warned[f"{venue}/{mode}"] = [w.name for w in marginspec.evaluate(f"{venue}/{mode}", data).warnings]
    assert warned["okx/single_currency_margin"] == ["margin_positions"]  # quick margin withdrawn on 2024-05-29
    assert all(not w for k, w in warned.items() if k != "okx/single_currency_margin"), warned


def test_an_old_date_gets_the_old_gate_collateral_table():
    import marginspec

    snap = {"currencies": [{"currency": "KAS", "available": 1000000, "index_price": 0.15, "borrow_leverage": 3}]}
    on = marginspec.evaluate("gate/multi_currency_margin", dict(snap, as_of="2024-12-02"))
    assert on.value("adjusted_equity_usd", "KAS") == pytest.approx(85000)
    assert [t.valid_from for t in on.receipt.tables if t.table == "gate/margin-adjustment-factors"] == ["2024-12-02"]
    with pytest.raises(SnapshotError, match="KAS"):  # the table of 1 Dec 2024 has no KAS row (the 8th batch came on 2 Dec)
        marginspec.evaluate("gate/multi_currency_margin", dict(snap, as_of="2024-12-01"))


def test_bundled_tables_stop_where_their_sources_stop():
    """Gate's recorded BTC_USDT risk limits end at 5,000,000 USDT: a larger position is an error naming the table,
    the contract and the value, not a rate nobody published. OKX's generated MARGIN-pair tiers end at tier 10."""
    import marginspec
    from marginspec.errors import EvaluationError

    data = json.loads((EXAMPLES / "gate" / "examples" / "single_currency_margin.json").read_text())
    position = next(p for p in data["positions"] if p["contract"] == "BTC_USDT")
    position["size"] = 4_900_000 / (position["quanto_multiplier"] * position["mark_price"])
    assert marginspec.evaluate("gate/single_currency_margin", data).value("position_value", "BTC_USDT") == pytest.approx(4_900_000)
    position["size"] = 5_100_000 / (position["quanto_multiplier"] * position["mark_price"])
    with pytest.raises(EvaluationError, match=r"beyond the last tier of table 'risk_limits' for 'BTC_USDT' \(its tiers end at 5,000,000\)"):
        marginspec.evaluate("gate/single_currency_margin", data)
    margin = {"as_of": "2023-07-01", "currencies": [{"currency": "BTC", "cash_balance": 0, "usd_price": 30000},
                                                    {"currency": "USDT", "cash_balance": 20_000_000, "usd_price": 1}],
              "margin_positions": [{"inst_id": "BTC-USDT", "base_currency": "BTC", "quote_currency": "USDT", "base_assets": 360,
                                    "quote_assets": 0, "base_liability": 0, "quote_liability": 360 * 30000, "margin_mark_price": 30000}]}
    with pytest.raises(EvaluationError, match=r"beyond the last tier of table 'margin_tiers' for 'BTC-USDT' \(its tiers end at 350\)"):
        marginspec.evaluate("okx/single_currency_margin", margin)


def test_a_bundled_deduction_that_disagrees_with_its_tiers_is_refused(make_rules):
    """Gate's risk-limit deductions are declared deduction_of maintenance_rate: a refreshed table whose tiers
    changed but whose deductions did not is a located error, not a quick form that silently disagrees."""
    import datetime as dt

    root = make_rules(quantities={"q": quantity("1")})
    src = bundled_dir("exchanges") / "gate" / "tables" / "futures-risk-limit-tiers" / "2025-07-29.yaml"
    folder = root.parent / "exchanges" / "gate" / "tables" / "futures-risk-limit-tiers"
    folder.mkdir(parents=True)
    text = src.read_text().replace('valid_from: "2025-07-29"', 'valid_from: "2099-01-01"')
    assert "maintenance_rate: 0.0045, initial_rate: 0.009009, leverage_max: 111, deduction: 500" in text
    (folder / "2099-01-01.yaml").write_text(text.replace("maintenance_rate: 0.0045, initial_rate: 0.009009", "maintenance_rate: 0.005, initial_rate: 0.009009"))
    rules = Rules(Catalog([root]).load("gate/single_currency_margin", dt.date(2099, 1, 2)))
    with pytest.raises((RuleFileError, RuleFileErrors), match=r"tier BTC_USDT\[1\] deduction is 500, but its tiers give 1000"):
        rules.kernel
