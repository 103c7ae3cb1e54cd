"""Reconcile: every documentation sample set gives the outcome its samples/index.yaml records, line by line
(which reported values agree, which differ and why); a planted change to one reported number makes it differ;
the command's exit codes, JSON and HTML."""

from __future__ import annotations

import json
import shutil
from functools import cache

import pytest
from marginspec import api
from marginspec.errors import PayloadError
from marginspec.tools.reconcile import AGREE, DIFFER, INPUT, NO_ROW, Line, Reconciliation, agree

from payload_helpers import SAMPLES, as_of_option, copy_with, get_path, run, sample_sets

SETS = sample_sets()
IDS = [f"{venue}-{name}" for venue, name, _ in SETS]


def key_of(line: Line) -> str:
    return f"{line.axis} {line.key} {line.field}" if line.key is not None else f"{line.axis} {line.field}"


def not_modelled_keys(rec: Reconciliation) -> list[str]:
    """The reported values of payload rows the import set aside because the version in force does not model them."""
    return [f"{n['axis']} {n['key']} {n['field']}" if n["key"] is not None else f"{n['axis']} {n['field']}"
            for n in rec.not_compared if "not_modelled" in n]


@cache
def reconciled(venue: str, name: str) -> Reconciliation:
    body = dict(sample_sets_by_name()[(venue, name)])
    return api.reconcile(body["ruleset"], [str(SAMPLES[venue] / p) for p in body["payloads"]], as_of=as_of_option(body))


@cache
def sample_sets_by_name() -> dict[tuple[str, str], dict]:
    return {(venue, name): body for venue, name, body in SETS}


@pytest.mark.parametrize("venue, name, body", SETS, ids=IDS)
def test_sample_set_reconciles_as_recorded(venue, name, body):
    if "error" in body:
        with pytest.raises(PayloadError, match=body["error"]):
            reconciled(venue, name)
        assert body["reason"]
        return
    rec = reconciled(venue, name)
    assert rec.ruleset == f"{body['ruleset'].split('@')[0]}@{body['version']}"  # the version in force on the payloads' date, or the pinned one
    by = {v: sorted(key_of(line) for line in rec.lines if line.verdict in v) for v in ((AGREE,), (DIFFER, NO_ROW), (INPUT,))}
    assert by[(AGREE,)] == sorted(body["agree"])
    assert by[(DIFFER, NO_ROW)] == sorted(body["differ"])
    assert by[(INPUT,)] == sorted(body.get("input", {}))
    assert sorted(not_modelled_keys(rec)) == sorted(body.get("not_modelled", {}))
    assert set(body.get("by_construction", [])) <= set(body["agree"])
    assert all(reason for reason in [*body["differ"].values(), *body.get("not_modelled", {}).values()])  # each has its recorded reason
    assert rec.agrees is (not body["differ"] and bool(body["agree"]))
    for line in rec.lines:
        if line.verdict == DIFFER:
            assert line.explain is not None and line.explain["name"] == line.quantity


@pytest.mark.parametrize("venue, name, body", [s for s in SETS if s[2].get("agree")], ids=[i for i, s in zip(IDS, SETS) if s[2].get("agree")])
def test_a_planted_change_to_one_reported_number_makes_it_differ(tmp_path, venue, name, body):
    rec = reconciled(venue, name)
    planted = next(line for line in rec.lines if line.verdict == AGREE and key_of(line) not in body.get("by_construction", []))
    paths = [SAMPLES[venue] / p for p in body["payloads"]]
    src = next(p for p in paths if str(p) == planted.file)
    original = get_path(json.loads(src.read_text()), planted.path)
    number = float(original)
    changed = number * 1.001 + 0.01
    copy = copy_with(src, tmp_path / src.name, {planted.path: str(changed) if isinstance(original, str) else changed})
    after = api.reconcile(body["ruleset"], [str(copy if p == src else p) for p in paths], as_of=as_of_option(body))
    line = next(x for x in after.lines if key_of(x) == key_of(planted))
    assert line.verdict == DIFFER and line.reported == pytest.approx(changed)
    assert after.count(AGREE) == rec.count(AGREE) - 1 and after.count(DIFFER) == rec.count(DIFFER) + 1


def test_the_quick_margin_sample_is_quick_margin_arithmetic_at_2_percent_and_differs_at_okxs_published_3():
    """The docs' Get positions sample reproduces quick margin at a 2% maintenance rate to full precision; OKX's
    published BTC/USDT tier 1 is 3%, which the table keeps: the sample's values are recorded as disagreements."""
    rec = reconciled("okx", "futures_account_quick_margin")
    lines = {line.field: line for line in rec.lines if line.axis == "margin_position"}
    liability, pos, mark = 99.9998177776581948, 0.00190433573, 62891.9  # the sample's liab, pos and markPx

    def ratio(mmr: float) -> float:
        return (pos * mark - liability) / (liability * mmr + liability * (1 + mmr) * 0.001)

    assert lines["mgnRatio"].reported == 9.404143929947395 and lines["mgnRatio"].reported == pytest.approx(ratio(0.02), rel=1e-14)
    assert lines["mgnRatio"].computed == pytest.approx(ratio(0.03), rel=1e-14) and lines["mgnRatio"].verdict == DIFFER
    assert lines["liqPx"].reported == pytest.approx(liability * 1.02 * 1.001 / pos, rel=1e-14)
    assert lines["liqPx"].computed == pytest.approx(liability * 1.03 * 1.001 / pos, rel=1e-14)
    assert lines["mmr"].reported == pytest.approx(0.0000318005395854 * mark, rel=1e-15)  # the sample's mmr is in BTC
    assert lines["mmr"].reported == pytest.approx(0.02 * liability, rel=1e-11)  # 2% of the liability, to the sample's 16 digits
    assert lines["mmr"].computed == pytest.approx(0.03 * liability, rel=1e-14)
    # on the sample's own date quick margin had been withdrawn: the position is set aside, not compared
    current = reconciled("okx", "futures_account")
    assert not [line for line in current.lines if line.axis == "margin_position"]
    assert all(n["reason"].startswith("okx/single_currency_margin@2024-05-29 does not model the row: isolated spot-margin")
               for n in current.not_compared if n["axis"] == "margin_position")


def test_agreement_within_tolerance():
    assert agree(100.0, 100.0 + 1e-8, (1e-9, 1e-9))[0]  # relative 1e-10
    assert not agree(100.0, 100.1, (1e-9, 1e-9))[0]
    assert agree(3568.62, 3568.62208, (0.01, 1e-9))[0]  # a value printed with 2 decimals
    assert agree(0.0, 1e-10, (1e-9, 1e-9))[0] and not agree(0.0, 1e-6, (1e-9, 1e-9))[0]
    assert not agree(5.0, float("inf"), (1.0, 1.0))[0] and agree(float("inf"), float("inf"), (0, 0))[0]


# ---------------------------------------------------------------- the command


def test_the_recorded_commands_run_from_the_samples_folder():
    for venue, name, body in SETS:
        proc = run(*body["command"].split()[1:], cwd=SAMPLES[venue])
        assert proc.returncode == (3 if "error" in body else 0 if body["agree"] and not body["differ"] else 1), (name, proc.stderr)
        if "error" not in body:
            assert f"{len(body['agree'])} agree, {len(body['differ'])} differ" in proc.stdout, name


def test_reconcile_json_and_html(tmp_path):
    body = sample_sets_by_name()[("okx", "position_builder")]
    proc = run("reconcile", body["ruleset"], *body["payloads"], "--json", cwd=SAMPLES["okx"])
    assert proc.returncode == 0, proc.stdout
    out = json.loads(proc.stdout)
    assert out["counts"] == {"agree": 35, "differ": 0, "no row": 0, "input": 0} and out["agrees"] is True
    mr1 = next(x for x in out["lines"] if x["field"] == "mr1" and x["key"] == "BTC")
    assert mr1["payload"] == {"file": "account_position_builder.json", "path": "data[0].riskUnitData[0].mr1"}
    assert mr1["reported"] == 1164.4109244719994 and mr1["verdict"] == "agree" and mr1["explain"] is None
    body = sample_sets_by_name()[("okx", "futures_account_quick_margin")]
    args = ["reconcile", body["ruleset"], *body["payloads"]]
    proc = run(*args, "--json", cwd=SAMPLES["okx"])
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ruleset"] == "okx/single_currency_margin@2022-11-16" and out["counts"]["differ"] == 7
    ratio = next(x for x in out["lines"] if x["field"] == "mgnRatio")
    assert ratio["payload"] == {"file": "account_positions.json", "path": "data[0].mgnRatio"}
    assert ratio["reported"] == 9.404143929947395 and ratio["explain"]["name"] == "margin_level"
    page = tmp_path / "rec.html"
    proc = run(*args, "--format", "html", "-o", str(page), cwd=SAMPLES["okx"])
    assert proc.returncode == 1
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "@import" not in html
    assert 'id="level-margin_position"' in html and "Disagreements" in html and '<pre class="explain">' in html
    assert "0 agree, 7 differ" in html


def test_exit_0_when_everything_agrees_and_1_when_nothing_is_compared(tmp_path):
    body = sample_sets_by_name()[("okx", "balance_multi_currency")]
    rec = reconciled("okx", "balance_multi_currency")
    computed = {key_of(line): line.computed for line in rec.lines}
    balance = SAMPLES["okx"] / "account_balance.json"
    usd = 4991.542013297616 / 4992.890093622894  # keep USDT's price: eqUsd / eq
    fixed = copy_with(balance, tmp_path / "account_balance.json", {
        "data[0].totalEq": str(computed["account totalEq"]), "data[0].adjEq": str(computed["account adjEq"]),
        "data[0].details[0].eq": str(computed["currency USDT eq"]), "data[0].details[0].eqUsd": str(computed["currency USDT eq"] * usd),
        "data[0].details[0].disEq": str(computed["currency USDT disEq"])})
    others = [str(SAMPLES["okx"] / p) for p in body["payloads"] if p != "account_balance.json"]
    proc = run("reconcile", body["ruleset"], str(fixed), *others)
    assert proc.returncode == 0, proc.stdout
    assert "11 agree, 0 differ" in proc.stdout
    proc = run("reconcile", "okx/portfolio_margin", str(SAMPLES["okx"] / "account_position_builder_request.json"),
               str(SAMPLES["okx"] / "constructed" / "position_builder_index_tickers.json"))
    assert proc.returncode == 1 and "0 agree, 0 differ" in proc.stdout  # nothing compared is not agreement


def test_bad_payloads_exit_3(tmp_path):
    shutil.copy(SAMPLES["okx"] / "ws_login_failure.json", tmp_path / "w.json")
    proc = run("reconcile", "okx/multi_currency_margin", str(tmp_path / "w.json"))
    assert proc.returncode == 3 and "an error response, not data" in proc.stderr


def test_html_reconcile_renders_in_headless_chromium(tmp_path):
    from marginspec.report.reconcile import render_html

    from browser import BLANK_PAGE_BYTES, png_facts, require_chromium, screenshot

    require_chromium()

    page = tmp_path / "reconcile.html"
    page.write_text(render_html(reconciled("okx", "position_builder")), encoding="utf-8")
    text = page.read_text()
    assert "src=" not in text and "url(" not in text and "<script" not in text  # nothing fetched, nothing run
    data = screenshot(page, tmp_path)
    width, height, distinct_rows = png_facts(data)
    assert (width, height) == (1280, 2000) and len(data) > BLANK_PAGE_BYTES and distinct_rows > 300
