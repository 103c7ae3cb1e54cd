"""Venue payloads into snapshots: the bundled documentation samples import and evaluate, every kind of bad
payload is one located error (exit 3, nothing written) and the mapping format is checked with file:line:column
(tables from payloads: tests/test_table_import.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from marginspec import api
from marginspec.errors import PayloadError, RuleFileError, RuleFileErrors, UsageError
from marginspec.ingest import snapshot_mapping
from marginspec.ingest.mapping import load_mapping
from marginspec.source.catalog import Catalog

from payload_helpers import ROOT, SAMPLES, as_of_option, copy_with, run, sample_sets

OKX = SAMPLES["okx"]
GATE = SAMPLES["gate"]
ACCOUNT = [OKX / "account_balance.json", OKX / "account_positions.json", OKX / "public_instruments.json"]
GATE_ACCOUNT = [GATE / "unified_accounts.json", GATE / "futures_usdt_positions.json", GATE / "futures_usdt_contract.json",
                GATE / "constructed" / "unified_accounts_eth_ticker.json"]


@pytest.mark.parametrize("venue, name, body", [s for s in sample_sets() if "error" not in s[2]], ids=lambda x: x if isinstance(x, str) else "")
def test_every_sample_set_imports_and_evaluates(venue, name, body):
    paths = [str(SAMPLES[venue] / p) for p in body["payloads"]]
    imported = api.import_payloads(venue, paths, ruleset=body["ruleset"], as_of=as_of_option(body))
    assert imported.ruleset.ref == f"{body['ruleset'].split('@')[0]}@{body['version']}"
    result = api.Rules(imported.ruleset).evaluate(imported.snapshot)
    assert result.receipt.ruleset == body["ruleset"].split("@")[0]
    assert [w.collection for w in result.warnings if w.collection] == (["margin_positions"] if body.get("not_modelled") else [])
    assert imported.snapshot["meta"]["import"]["payloads"][0]["file"] == paths[0]


def test_futures_account_snapshot_holds_the_payload_values():
    imported = api.import_payloads("okx", [OKX / "account_config.json", *ACCOUNT], ruleset="okx/single_currency_margin@2022-11-16")
    snap = imported.snapshot
    assert imported.mode == "single_currency_margin" and "acctLv = '2'" in imported.mode_evidence
    assert snap["as_of"] == "2024-08-27T07:10:32.153000Z"  # the later uTime of balance (2024-01-17) and positions
    usdt, btc = snap["currencies"]
    assert usdt == {"currency": "USDT", "cash_balance": 4850.435693622894, "usd_price": pytest.approx(4991.542013297616 / 4992.890093622894, rel=1e-15)}
    assert btc == {"currency": "BTC", "cash_balance": 0.0, "usd_price": 62890.5}  # a coin the balance leaves out (cashBal and eq 0)
    assert snap["positions"] == []
    assert snap["margin_positions"] == [{"inst_id": "BTC-USDT", "base_currency": "BTC", "quote_currency": "USDT", "base_assets": 0.00190433573,
                                         "quote_assets": 0.0, "base_liability": 0.0, "quote_liability": 99.9998177776581948,
                                         "margin_mark_price": 62891.9}]
    assert snap["meta"]["import"]["rows"]["margin_positions[0]"].endswith("account_positions.json data[0]")


def test_rows_the_version_in_force_does_not_model_are_set_aside_and_warned_about():
    """On the sample's date (27 Aug 2024) quick margin had been withdrawn: the version in force accepts the isolated
    margin position, ignores it and warns, and import says so instead of dropping it silently."""
    imported = api.import_payloads("okx", [OKX / "account_config.json", *ACCOUNT])
    assert imported.ruleset.ref == "okx/single_currency_margin@2024-05-29"
    (row,) = imported.snapshot["margin_positions"]
    assert row["inst_id"] == "BTC-USDT" and row["quote_liability"] == pytest.approx(99.9998177776581948)
    assert imported.set_aside == {(str(OKX / "account_positions.json"), "data[0]"): "margin_positions"}
    assert any(n.startswith("1 row(s) for margin_positions set aside: okx/single_currency_margin@2024-05-29 does not model them") for n in imported.notes)
    result = api.Rules(imported.ruleset).evaluate(imported.snapshot)
    (warning,) = result.warnings
    assert warning.collection == "margin_positions" and warning.rows == ["1 row(s) ignored"]
    rec = api.reconcile("okx/single_currency_margin", [OKX / "account_config.json", *ACCOUNT])
    assert {n["field"]: n.get("not_modelled") for n in rec.not_compared if n["axis"] == "margin_position"} == \
        {"mgnRatio": "margin_positions", "liqPx": "margin_positions", "mmr": "margin_positions"}


def test_an_optional_join_without_its_payload_leaves_the_default_and_says_so(tmp_path):
    """Portfolio margin's index_price comes from the index tickers when given; without them the rule set's default
    applies (MR1/MR6 shock the mark price, with a warning); given without the underlying's row, it is an error."""
    swap = copy_with(OKX / "account_positions.json", tmp_path / "p.json",
                     {"data[0].instType": "SWAP", "data[0].instId": "BTC-USDT-SWAP", "data[0].mgnMode": "cross", "data[0].pos": "-10"})
    payloads = [BALANCE, swap, OKX / "constructed" / "position_builder_instruments.json"]
    imported = api.import_payloads("okx", payloads, mode="portfolio_margin", as_of="2025-01-15T00:00:00Z")
    assert "index_price" not in imported.snapshot["positions"][0]
    assert "positions.index_price: no payload of GET /api/v5/market/index-tickers (index_tickers) was given; left at the rule set's default" in imported.notes
    assert [w.name for w in api.Rules(imported.ruleset).evaluate(imported.snapshot).warnings] == ["index_price_not_given"]
    tickers = OKX / "constructed" / "position_builder_index_tickers.json"
    imported = api.import_payloads("okx", [*payloads, tickers], mode="portfolio_margin", as_of="2025-01-15T00:00:00Z")
    assert imported.snapshot["positions"][0]["index_price"] == 97034.24370599995 and not api.Rules(imported.ruleset).evaluate(imported.snapshot).warnings
    usdt_only = copy_with(tickers, tmp_path / "t.json", {})
    data = json.loads(usdt_only.read_text())
    data["data"] = data["data"][:1]
    usdt_only.write_text(json.dumps(data))
    with pytest.raises(PayloadError, match=r"positions\[0\]\.index_price: 'BTC-USD' is not in the GET /api/v5/market/index-tickers"):
        api.import_payloads("okx", [*payloads, usdt_only], mode="portfolio_margin", as_of="2025-01-15T00:00:00Z")


def test_position_builder_snapshot_reads_nested_rows_joins_and_the_request():
    s = OKX
    imported = api.import_payloads("okx", [s / "account_position_builder.json", s / "account_position_builder_request.json",
                                           s / "constructed" / "position_builder_instruments.json",
                                           s / "constructed" / "position_builder_index_tickers.json"])
    snap = imported.snapshot
    assert imported.mode == "portfolio_margin"  # the request has no acctLv: the documented default "4"
    assert snap["as_of"] == "2025-01-15T10:26:41.642000Z"
    assert snap["currencies"] == [{"currency": "USDT", "cash_balance": 100.0, "usd_price": 0.99954}]
    btc, ltc = snap["positions"]
    assert (btc["inst_id"], btc["size"], btc["ct_val"], btc["underlying"], btc["quote_ccy"], btc["settle_currency"], btc["index_price"]) == \
        ("BTC-USDT-SWAP", -10.0, 0.01, "BTC", "usdt", "USDT", 97034.24370599995)
    assert (ltc["inst_id"], ltc["size"], ltc["ct_val"], ltc["avg_price"], ltc["mark_price"], ltc["index_price"]) == \
        ("LTC-USDT-SWAP", 10.0, 1.0, 8000.0, 102.0, 101.94818225399997)  # the underlyings' USD indexes ("<base>-USD")
    assert "time_to_expiry" not in ltc  # a swap's expTime is "": the rule set's default (0) applies


def test_payloads_as_dicts_through_the_python_api():
    data = {p.name: json.loads(p.read_text()) for p in ACCOUNT}
    result = api.evaluate_payloads("okx/multi_currency_margin", data)
    assert result.value("equity", "USDT") == pytest.approx(4850.435693622894 + 150)  # cashBal + stgyEq; no positions
    imported = api.import_payloads("okx", list(data.values()), mode="multi_currency_margin")
    assert imported.snapshot["meta"]["import"]["payloads"][0]["file"] == "payload[0]"


# ---------------------------------------------------------------- command line


def test_import_without_a_mode_says_where_the_mode_comes_from():
    proc = run("import", "okx", *map(str, ACCOUNT))
    assert proc.returncode == 2
    assert "which account mode? no payload says it; give --mode, or the payload of GET /api/v5/account/config" in proc.stderr


def test_import_writes_a_snapshot_that_evaluates(tmp_path):
    out = tmp_path / "snap.json"
    proc = run("import", "okx", *map(str, ACCOUNT), "--mode", "multi_currency_margin", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stderr and "okx/multi_currency_margin@2024-05-29" in proc.stderr
    assert "1 row(s) for margin_positions set aside" in proc.stderr  # said, not silently dropped
    snap = json.loads(out.read_text())
    assert snap["currencies"][0]["strategy_equity"] == 150.0 and len(snap["margin_positions"]) == 1
    proc = run("evaluate", "okx/multi_currency_margin", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "warning: not modelled: isolated spot-margin (MARGIN) positions" in proc.stdout + proc.stderr
    gate_out = tmp_path / "gate.json"
    proc = run("import", "gate", *map(str, GATE_ACCOUNT), "--mode", "multi_currency_margin", "--as-of", "2025-11-24T00:00:00Z", "-o", str(gate_out))
    assert proc.returncode == 0, proc.stderr
    gate = json.loads(gate_out.read_text())
    assert {c["currency"]: c["index_price"] for c in gate["currencies"]} == {"ETH": 2144.264398, "USDT": 1.0}  # POINT is not margin
    assert gate["positions"][0] == {"contract": "BTC_USDT", "size": -9440.0, "quanto_multiplier": 0.0001, "mark_price": 3780.32,
                                    "entry_price": 3779.55, "margin_mode": "cross", "leverage": 100.0}
    assert run("evaluate", "gate/multi_currency_margin", str(gate_out)).returncode == 0


def test_evaluate_takes_payloads():
    payloads = [a for p in [OKX / "account_config.json", *ACCOUNT] for a in ("--payload", str(p))]
    proc = run("evaluate", "okx/single_currency_margin", *payloads)
    assert proc.returncode == 0, proc.stderr
    assert "imported from 4 payload(s)" in proc.stdout and "okx/single_currency_margin@2024-05-29" in proc.stdout
    assert "warning: not modelled: isolated spot-margin (MARGIN) positions" in proc.stdout  # quick margin withdrawn before the sample
    proc = run("evaluate", "okx/single_currency_margin@2022-11-16", *payloads)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"BTC-USDT\s+.*637\.05%", proc.stdout)  # quick margin's level at OKX's 3% (the sample says 9.404143929947395, at 2%)
    assert run("evaluate", "okx/single_currency_margin").returncode == 2  # neither a snapshot nor payloads


def test_payloads_saying_another_mode_than_the_ruleset_are_refused():
    proc = run("evaluate", "okx/multi_currency_margin", *[a for p in [OKX / "account_config.json", *ACCOUNT] for a in ("--payload", str(p))])
    assert proc.returncode == 2
    assert "say the account is in single_currency_margin mode" in proc.stderr and "acctLv = '2'" in proc.stderr


def test_schema_shows_each_fields_payload_path():
    proc = run("schema", "snapshot", "okx/multi_currency_margin@2024-11-08", "--payload-paths")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    currency = schema["$defs"]["Currency"]["properties"]
    assert currency["cash_balance"]["x-payload-path"][0] == "GET /api/v5/account/balance: data[0].details[] -> cashBal"
    assert "formula eqUsd / eq, when eq != 0" in currency["usd_price"]["x-payload-path"][0]
    position = schema["$defs"]["Position"]["properties"]
    assert "GET /api/v5/public/instruments: data[].ctVal (joined on instId)" in position["ct_val"]["x-payload-path"][0]
    assert schema["properties"]["positions"]["x-payload-rows"][0] == "GET /api/v5/account/positions: data[] where instType in ['SWAP', 'FUTURES', 'OPTION']"
    proc = run("schema", "snapshot", "okx/portfolio_margin", "--payload-paths")
    index_price = json.loads(proc.stdout)["$defs"]["Position"]["properties"]["index_price"]["x-payload-path"]
    assert any("GET /api/v5/market/index-tickers: data[].idxPx" in p for p in index_price), index_price


# ---------------------------------------------------------------- bad payloads: one located error each, exit 3, nothing written

BALANCE = OKX / "account_balance.json"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case, make, expected", [
    ("missing field", lambda t: _drop(t, "cashBal"),
     r"b\.json: data\[0\]\.details\[0\]\.cashBal: missing field"),
    ("wrong type", lambda t: copy_with(BALANCE, t / "b.json", {"data[0].details[0].cashBal": {"v": 1}}),
     r"b\.json: data\[0\]\.details\[0\]: currencies\[0\]\.cash_balance: expected a number \(a JSON number or a decimal string\), got an object"),
    ("not a number", lambda t: copy_with(BALANCE, t / "b.json", {"data[0].details[0].cashBal": "12,5"}),
     r"cash_balance: expected a number .* got text '12,5'"),
    ("empty data array", lambda t: _write(t, "b.json", '{"code": "0", "msg": "", "data": []}'),
     r"b\.json: data: data is an empty array: there are no rows to read"),
    ("venue error envelope", lambda t: _write(t, "b.json", '{"code": "50011", "msg": "Rate limit reached. Please refer to API documentation and throttle requests accordingly.", "data": []}'),
     r"b\.json: code: an error response, not data: the venue answered \(code '50011'\) 'Rate limit reached"),
    ("wrong endpoint", lambda t: OKX / "market_ticker.json",
     r"market_ticker\.json: not a payload that exchanges/okx/payloads/api-v5\.yaml reads: its rows have fields instType, instId, last"),
    ("another venue's payload", lambda t: GATE / "unified_accounts.json",
     r"unified_accounts\.json: not a payload that exchanges/okx/payloads/api-v5\.yaml reads"),
    ("duplicate key", lambda t: _write(t, "b.json", '{"code": "0", "code": "1", "data": []}'),
     r"b\.json: code: line 1, column 15: duplicate key 'code' \(JSON would keep the last silently\)"),
    ("NaN", lambda t: _write(t, "b.json", '{"code": "0", "msg": "", "data": [{"totalEq": NaN, "details": []}]}'),
     r"b\.json: data\[0\]\.totalEq: line 1, column 47: NaN is not a JSON number"),
    ("not JSON", lambda t: _write(t, "b.json", '{"code": "0",'),
     r"b\.json: line 1, column 14: JSON syntax"),
    ("bad mode value", lambda t: copy_with(OKX / "account_config.json", t / "c.json", {"data[0].acctLv": "7"}),
     r"c\.json: data\[0\]\.acctLv: acctLv '7' is not a mode this mapping knows"),
    ("enum value the rule set does not know", lambda t: copy_with(OKX / "account_positions.json", t / "p.json",
     {"data[0].instType": "SWAP", "data[0].instId": "BTC-USDT-SWAP", "data[0].posSide": "sideways"}),
     r"p\.json: data\[0\]\.posSide: positions\[0\]\.inst_id \(side_key\): 'sideways' is not a value this mapping knows \(known: 'net', 'long', 'short'\)"),
])
def test_each_bad_payload_is_one_located_error_and_nothing_is_written(tmp_path, case, make, expected):
    bad = make(tmp_path)
    others = [p for p in ACCOUNT if p.name != bad.name and not (bad.name == "b.json" and p == BALANCE)]
    out = tmp_path / "out.json"
    proc = run("import", "okx", str(bad), *map(str, others), "--mode", "multi_currency_margin", "-o", str(out))
    assert proc.returncode == 3, (case, proc.stderr)
    assert re.search(expected, proc.stderr), proc.stderr
    assert not out.exists()


def _drop(tmp_path: Path, field: str) -> Path:
    data = json.loads(BALANCE.read_text())
    del data["data"][0]["details"][0][field]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    return path


def test_an_unknown_instrument_names_the_position_and_the_endpoint(tmp_path):
    swap = copy_with(OKX / "account_positions.json", tmp_path / "p.json", {"data[0].instType": "SWAP", "data[0].instId": "ETH-USDT-SWAP"})
    with pytest.raises(PayloadError) as exc:
        api.import_payloads("okx", [BALANCE, swap, OKX / "public_instruments.json"], mode="multi_currency_margin")
    assert exc.value.problems == [(str(swap), "data[0].instId", "positions[0].tier_family (family): 'ETH-USDT-SWAP' is not in the "
                                   "GET /api/v5/public/instruments (instruments) payload (" + str(OKX / "public_instruments.json") + "), which gives its instFamily")]


def test_market_data_the_payloads_lack_is_named_with_the_endpoint_that_gives_it():
    with pytest.raises(PayloadError) as exc:
        api.import_payloads("gate", GATE_ACCOUNT[:3], mode="multi_currency_margin", as_of="2025-11-24")
    (file, path, message), = exc.value.problems
    assert file.endswith("unified_accounts.json") and path == "balances.ETH"
    assert message == ("currencies[0].index_price: 'ETH_USDT' is not in the GET /api/v4/futures/usdt/contracts (futures_contracts) payload ("
                       + str(GATE / "futures_usdt_contract.json") + "), which gives its index_price; nor was the payload of "
                       "GET /api/v4/futures/usdt/tickers (futures_tickers) given")
    with pytest.raises(PayloadError, match=r"POST /api/v5/account/position-builder \(position_builder_request\)"):
        api.import_payloads("okx", [OKX / "account_position_risk.json"], mode="multi_currency_margin")


def test_inputs_no_payload_gives_are_named(tmp_path):
    with pytest.raises(PayloadError) as exc:
        api.import_payloads("gate", [GATE / "unified_accounts.json", GATE / "options_positions.json", GATE_ACCOUNT[3]],
                            mode="multi_currency_margin", as_of="2025-11-24")
    assert any("needs option_multiplier, option_imr1, option_imr2, option_maintenance_margin (no default)" in m for _, _, m in exc.value.problems)


def test_several_problems_are_reported_together():
    with pytest.raises(PayloadError) as exc:
        api.import_payloads("okx", [OKX / "ws_login_failure.json", GATE / "error_response.json", OKX / "market_ticker.json"])
    assert [p[1] for p in exc.value.problems] == ["code", "", ""]
    assert "'Login failed.'" in exc.value.problems[0][2]


# ---------------------------------------------------------------- the mapping format

MAPPING = """\
# yaml-language-server: $schema=../../../engine/source/schemas/payload-mapping.v1.json
schema: marginspec/payload-mapping/v1
venue: okx
title: test mapping
documents: {d: {url: "https://example.org/d", title: doc}}
endpoints:
  balance: {request: GET /x, identify: [totalEq]}
snapshot:
  currencies:
    sources:
      - endpoint: balance
        rows: details[]
        fields:
          currency: ccy
          cash_balance: {FIELD}
"""


@pytest.mark.parametrize("field, expected", [
    ("{path: cashBal, formula: cashBal * 2}", r"m\.yaml:15:25: a field needs exactly one of path, formula, template, constant, param, first_of \(it has path, formula\)"),
    ("{formula: sum(cashBal)}", r"m\.yaml:15:35: sum\(\) over rows is not available: a payload formula reads the values of one row"),
    ("{formula: \"__import__('os')\"}", r"m\.yaml:15:35: '__import__' is not a function"),
    ("{formula: cashBal ** x}", r"m\.yaml:15:46: exponents must be number literals"),
    ("{path: 'cash.Bal[x]'}", r"m\.yaml:15:32: .*'cash\.Bal\[x\]' does not match the required pattern"),
    ("{path: cashBal, colour: red}", r"m\.yaml:15:41: .*unknown key 'colour'"),
    ("{join: nowhere, path: ctVal}", r"m\.yaml:15:32: unknown endpoint 'nowhere' \(endpoints: balance\)"),
    ("{join: balance, path: ctVal}", r"m\.yaml:15:25: join 'balance': that endpoint declares no `key` field to join on"),
    ("{template: \"{ccy\"}", r"m\.yaml:15:36: template '\{ccy' has an unmatched brace"),
])
def test_the_mapping_format_refuses_malformed_mappings_with_file_line_column(tmp_path, field, expected):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.replace("{FIELD}", field))
    with pytest.raises((RuleFileError, RuleFileErrors)) as exc:
        load_mapping(path, "m.yaml")
    assert re.search(expected, str(exc.value)), str(exc.value)


def test_the_mapping_file_refuses_yaml_anchors(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.replace("{FIELD}", "cashBal").replace("rows: details[]", "rows: &r details[]"))
    with pytest.raises(RuleFileError, match=r"m\.yaml:12:15: YAML syntax: anchors \(&r\) are not allowed"):
        load_mapping(path, "m.yaml")


def test_bundled_mappings_load_and_point_at_their_schema():
    for venue in ("okx", "gate"):
        mapping = snapshot_mapping(Catalog(), venue)
        first = Path(mapping.file).read_text().splitlines()[0] if Path(mapping.file).exists() else (ROOT / mapping.file).read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../../engine/source/schemas/payload-mapping.v1.json"
        assert (ROOT / "exchanges" / venue / "payloads" / "../../../engine/source/schemas/payload-mapping.v1.json").resolve().is_file()
    assert json.loads(run("schema", "payload-mapping").stdout)["$id"] == "urn:marginspec:payload-mapping:v1"


def test_no_venue_name_or_endpoint_path_in_engine_code():
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "engine").rglob("*.py"))
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\b(okx|gate)\b|/api/v\d|/unified/|/futures/", line, re.I)]
    assert found == []


def test_usage_errors_for_unknown_venues_and_times():
    with pytest.raises(UsageError, match="no payload mapping for venue 'nope'"):
        api.import_payloads("nope", [BALANCE])
    with pytest.raises(UsageError, match="no version in force on 2023-05-25"):
        api.import_payloads("gate", GATE_ACCOUNT, mode="multi_currency_margin")


def test_check_refuses_a_mapping_that_targets_names_no_rule_set_has(tmp_path):
    """A typo in a mapping would otherwise leave a value out (a field no version reads) or never compare it."""
    shutil.copytree(ROOT / "rules" / "okx", tmp_path / "rules" / "okx")  # checked beside the mapping, installed or not
    user = tmp_path / "exchanges" / "okx" / "payloads"
    user.mkdir(parents=True)
    text = (ROOT / "exchanges" / "okx" / "payloads" / "api-v5.yaml").read_text()
    text = text.replace("      adjEq: {quantity: adjusted_equity}\n      isoEq:", "      adjEq: {quantity: adjusted_equty}\n      isoEq:", 1)
    text = text.replace("          cash_balance: cashBal\n", "          cash_balnce: cashBal\n", 1)
    (user / "api-v5.yaml").write_text(text)  # replaces the bundled mapping of the same name
    proc = run("--rules", str(tmp_path / "rules"), "check", str(tmp_path / "rules" / "okx"), cwd=ROOT)
    assert proc.returncode == 3, proc.stdout
    assert re.search(r"FAIL  .*api-v5\.yaml\n.*api-v5\.yaml:\d+:\d+: currencies\.cash_balnce: no version of the okx rule sets has this input", proc.stdout)
    assert re.search(r"api-v5\.yaml:\d+:\d+: adjEq: no version of the okx rule sets has a quantity 'adjusted_equty' on axis 'account'", proc.stdout)
    with pytest.raises(PayloadError):  # the import itself still refuses the payloads the typo leaves a required input out of
        api.import_payloads("okx", ACCOUNT, mode="multi_currency_margin", rules=[tmp_path / "rules"])
