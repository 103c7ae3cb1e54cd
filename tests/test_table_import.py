"""`marginspec tables import`: the documentation's sample responses of the venues' public endpoints become dated
table files whose rows are the samples' numbers, that load (list, show, check) and that a rule set evaluates
with at a later date; keys the responses do not give are carried over (or merged into a version of the same
date); bad payloads are one located error with nothing written; --fetch builds its requests from the mapping
and never touches the network here (the opener is replaced, sockets refuse)."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import yaml
from marginspec.cli import main
from marginspec.errors import PayloadError, RuleFileError, RuleFileErrors, UsageError
from marginspec.ingest import fetch, load_payloads, payload_sources, table_mapping, table_rows
from marginspec.ingest.mapping import load_mapping
from marginspec.ingest.tables import target_problems
from marginspec.source.catalog import Catalog, bundled_dir

from payload_helpers import ROOT, SAMPLES, copy_with, run

OKX, GATE = SAMPLES["okx"], SAMPLES["gate"]
TIERS = OKX / "public_position_tiers.json"
DISCOUNT = OKX / "public_discount_rate_interest_free_quota.json"
RISK_TIERS = GATE / "futures_usdt_risk_limit_tiers.json"
RISK_TABLE = GATE / "futures_usdt_risk_limit_table.json"
CURRENCY_DISCOUNT = GATE / "unified_currency_discount_tiers.json"
LOAN_MARGIN = GATE / "unified_loan_margin_tiers.json"
DAY = "2026-12-07"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs offline: a socket that tries to connect is a failure."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def rows_of(venue: str, target: str, files: list[Path], params: dict[str, str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    mapping = table_mapping(Catalog(), venue)
    sources = payload_sources(files)
    payloads = load_payloads(mapping, sources, [(None, params or {})] * len(sources))
    return {key: [(t.lower, t.upper, *t.values.values()) for t in kt.tiers] for key, kt in table_rows(mapping, target, payloads).items()}


def written(root: Path, table: str) -> dict[str, Any]:
    venue, name = table.split("/")
    return yaml.safe_load((root / "exchanges" / venue / "tables" / name / f"{DAY}.yaml").read_text(encoding="utf-8"))


def tier_numbers(doc: dict[str, Any], key: str, *columns: str) -> list[tuple[Any, ...]]:
    return [(r["lower"], r["upper"], *(r[c] for c in columns)) for r in doc["tiers"][key]]


def tables_written(root: Path) -> list[Path]:
    return sorted((root / "exchanges").rglob("*.yaml")) if (root / "exchanges").exists() else []


# ---------------------------------------------------------------- the documentation's samples, endpoint by endpoint


def test_okx_position_tiers_margin_sample():
    """The docs' sample row (instId BTC-USDT, minSz 0, maxSz 50, mmr 0.03, imr 0.1) is a MARGIN row: read as the pair's
    tiers, or, with ccy, as the borrowing tiers of that currency."""
    assert rows_of("okx", "margin_tiers", [TIERS], {"instType": "MARGIN", "instId": "BTC-USDT"}) == {"BTC-USDT": [(0.0, 50.0, 0.03)]}
    assert rows_of("okx", "borrow_tiers", [TIERS], {"instType": "MARGIN", "ccy": "BTC"}) == {"BTC": [(0.0, 50.0, 0.03, 0.1)]}
    assert rows_of("okx", "position_tiers", [TIERS], {"instType": "MARGIN"}) == {}  # not a SWAP or FUTURES row


def test_okx_discount_sample_with_the_rate_beyond_the_last_tier():
    """BTC 0-20 at 0.98, 20-25 at 0.9775; the last maxAmt is finite, so above it minDiscountRate (0) applies."""
    assert rows_of("okx", "discount_rate_tiers", [DISCOUNT]) == {"BTC": [(0.0, 20.0, 0.98), (20.0, 25.0, 0.9775), (25.0, None, 0.0)]}


def test_gate_risk_limit_tiers_sample_starts_each_tier_at_the_previous_risk_limit():
    assert rows_of("gate", "risk_limit_tiers", [RISK_TIERS]) == {"ZTX_USDT": [
        (0.0, 20000.0, 0.01, 0.02, 50.0, 0.0), (20000.0, 30000.0, 0.013, 0.025, 40.0, 60.0), (30000.0, 50000.0, 0.015, 0.02857, 35.0, 120.0),
        (50000.0, 70000.0, 0.02, 0.03333, 30.0, 370.0), (70000.0, 100000.0, 0.025, 0.04, 25.0, 720.0)]}


def test_gate_risk_limit_table_sample_is_keyed_by_the_contract_the_user_names():
    rows = rows_of("gate", "risk_limit_tiers", [RISK_TABLE], {"table_id": "BTC_USDT_202507040223", "contract": "BTC_USDT"})
    assert [r[:3] + r[5:] for r in rows["BTC_USDT"]] == [
        (0.0, 10000.0, 0.015, 0.0), (10000.0, 30000.0, 0.02, 50.0), (30000.0, 50000.0, 0.03, 350.0), (50000.0, 70000.0, 0.04, 850.0),
        (70000.0, 100000.0, 0.085, 4000.0), (100000.0, 150000.0, 0.3, 25500.0), (150000.0, 200000.0, 0.45, 48000.0), (200000.0, 300000.0, 0.95, 148000.0)]
    with pytest.raises(PayloadError, match=r"needs the request parameter contract"):
        rows_of("gate", "risk_limit_tiers", [RISK_TABLE], {"table_id": "x"})


def test_gate_currency_discount_sample_wrapped_or_flat(tmp_path):
    """The docs' sample wraps the rows in one more array than the schema describes; both forms read the same,
    and "+" means no upper limit."""
    expected = {"USDT": [(0.0, None, 1.0)],
                "USDC": [(0.0, 1e7, 1.0), (1e7, 1.5e7, 0.98), (1.5e7, 2e7, 0.95), (2e7, 5e7, 0.925), (5e7, 1e8, 0.9), (1e8, None, 0.0)],
                "BTC": [(0.0, 1000.0, 0.98), (1000.0, 10000.0, 0.95), (10000.0, 50000.0, 0.9), (50000.0, None, 0.85)],
                "ETH": [(0.0, 1000.0, 0.98), (1000.0, 10000.0, 0.95), (10000.0, 50000.0, 0.9), (50000.0, None, 0.85)]}
    assert rows_of("gate", "currency_discount_tiers", [CURRENCY_DISCOUNT]) == expected
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(json.loads(CURRENCY_DISCOUNT.read_text())[0]))
    assert rows_of("gate", "currency_discount_tiers", [flat]) == expected


def test_gate_loan_margin_sample():
    assert rows_of("gate", "loan_margin_tiers", [LOAN_MARGIN]) == {"USDT": [(200000.0, 400000.0, 0.02)]}


def test_okx_integer_bounds_become_lower_open_tiers(tmp_path):
    """OKX's contract bounds are both inclusive (0-500, 501-1000, 1001-2000: a third party's recording of the API):
    written 0-500, 500-1000, 1000-2000; a real gap is refused with the row's path."""
    rows = [{"instFamily": "ADA-USDT", "instId": "", "uly": "ADA-USDT", "tier": str(i + 1), "minSz": lo, "maxSz": hi, "mmr": m, "imr": im,
             "maxLever": lev, "optMgnFactor": "0", "baseMaxLoan": "", "quoteMaxLoan": ""}
            for i, (lo, hi, m, im, lev) in enumerate([("0", "500", "0.01", "0.013", "75"), ("501", "1000", "0.015", "0.02", "50"),
                                                      ("1001", "2000", "0.02", "0.05", "20")])]
    swap = tmp_path / "swap.json"
    swap.write_text(json.dumps({"code": "0", "msg": "", "data": rows}))
    assert rows_of("okx", "position_tiers", [swap], {"instType": "SWAP"}) == {
        "SWAP/ADA-USDT": [(0.0, 500.0, 0.01, 0.013, 75.0), (500.0, 1000.0, 0.015, 0.02, 50.0), (1000.0, 2000.0, 0.02, 0.05, 20.0)]}
    gap = copy_with(swap, tmp_path / "gap.json", {"data[2].minSz": "1002"})
    with pytest.raises(PayloadError, match=r"gap\.json: data\[2\]: key SWAP/ADA-USDT: the tier starts at 1002, but the tier before "
                                           r"\(data\[1\]\) ends at 1000; expected 1000 \(or 1001: bounds both inclusive\)"):
        rows_of("okx", "position_tiers", [gap], {"instType": "SWAP"})


# ---------------------------------------------------------------- the written file: provenance, carry-over, merging


def test_written_file_cites_the_response_and_carries_the_other_keys(tmp_path, capsys):
    code, out, _ = cli(capsys, "tables", "import", "okx", str(DISCOUNT), "--valid-from", DAY, "--retrieved", "2026-12-07T09:30:00Z",
                       "-o", str(tmp_path))
    assert code == 0 and "okx/discount-rate-tiers@2026-12-07, imported BTC (3 tiers); 3 key(s) carried over from okx/discount-rate-tiers@2026-02-26" in out
    doc = written(tmp_path, "okx/discount-rate-tiers")
    assert doc["status"] == "real" and doc["valid_from"] == DAY
    assert tier_numbers(doc, "BTC", "rate") == [(0, 20, 0.98), (20, 25, 0.9775), (25, None, 0)]
    assert {r["ref"] for r in doc["tiers"]["BTC"]} == {"okx-discount-rate-response"}
    cited = doc["documents"]["okx-discount-rate-response"]
    assert cited["url"] == "https://www.okx.com/api/v5/public/discount-rate-interest-free-quota"
    assert cited["retrieved"] == "2026-12-07" and "2026-12-07T09:30:00Z (--retrieved)" in cited["note"] and "sha256 " in cited["note"]
    verbatim, derived = [s for s in doc["sources"] if s["ref"] == "okx-discount-rate-response"]
    assert json.loads(verbatim["quote"]) == json.loads(DISCOUNT.read_text())["data"][0]["details"][0] and "kind" not in verbatim
    assert derived["kind"] == "derived" and "tables.discount_rate_tiers" in derived["derived_from"] and "rate = discountRate" in derived["quote"]
    assert doc["imported"] == [{"keys": ["BTC"], "document": "okx-discount-rate-response",
                                "request": "GET /api/v5/public/discount-rate-interest-free-quota", "retrieved": "2026-12-07T09:30:00Z (--retrieved)",
                                "mapping": "exchanges/okx/payloads/api-v5.yaml, tables.discount_rate_tiers"}]
    # the keys the response does not give: the bundled version's rows, unchanged, with their statuses written out
    (block,) = doc["carried_over"]
    assert block["from"] == "2026-02-26" and block["keys"] == ["USDT", "USDG", "*"]
    assert doc["tiers"]["USDG"][0] == {"lower": 0, "upper": 40000000, "rate": 0.98, "ref": "okx-discount-usdg-2026-02"}
    assert doc["tiers"]["USDG"][1]["status"] == "illustrative" and doc["tiers"]["*"][0]["status"] == "illustrative"
    assert set(doc["documents"]) == {"okx-discount-usdg-2026-02", "okx-discount-rate-response"}  # the replaced BTC rows' document went with them
    assert "valid_from 2026-12-07 is the date given to the import" in doc["description"]


def test_replace_keeps_only_the_imported_keys(tmp_path, capsys):
    assert cli(capsys, "tables", "import", "okx", str(DISCOUNT), "--valid-from", DAY, "--replace", "-o", str(tmp_path))[0] == 0
    doc = written(tmp_path, "okx/discount-rate-tiers")
    assert list(doc["tiers"]) == ["BTC"] and "carried_over" not in doc and list(doc["documents"]) == ["okx-discount-rate-response"]


def test_imports_of_the_same_date_merge(tmp_path, capsys):
    """One request at a time, the same --valid-from: the second import keeps the first's key and record, and takes its
    key off the carried-over list."""
    args = ("--valid-from", DAY, "-o", str(tmp_path))
    assert cli(capsys, "tables", "import", "gate", str(RISK_TABLE), "--param", "contract=BTC_USDT", "--param", "table_id=BTC_USDT_202507040223", *args)[0] == 0
    first = written(tmp_path, "gate/futures-risk-limit-tiers")
    assert first["carried_over"][0]["keys"] == ["ZTX_USDT"] and first["carried_over"][0]["from"] == "2025-07-29"
    code, _, err = cli(capsys, "tables", "import", "gate", str(RISK_TIERS), *args)
    assert code == 0 and "existed: its keys are kept where the payloads give none (merged)" in err
    doc = written(tmp_path, "gate/futures-risk-limit-tiers")
    assert doc["tiers"]["BTC_USDT"] == first["tiers"]["BTC_USDT"] and "carried_over" not in doc
    assert [(e["keys"], e["document"]) for e in doc["imported"]] == [(["BTC_USDT"], "gate-risk-limit-table-response"),
                                                                     (["ZTX_USDT"], "gate-risk-limit-tiers-response")]
    assert tier_numbers(doc, "ZTX_USDT", "maintenance_rate", "deduction")[-1] == (70000, 100000, 0.025, 720)
    assert "(contract=BTC_USDT)" in doc["title"] and "risk_limit_tiers" in doc["title"]


def test_carried_columns_come_per_key_from_the_version_before(tmp_path, capsys):
    """OPTION tiers give optMgnFactor; the Option Margin article's c is not in the response: OPTION/BTC-USD keeps its own
    (0.03), a family the table does not list takes the '*' row's (0.05); taken from illustrative rows, they make the
    imported rows illustrative."""
    rows = [{"instFamily": fam, "instId": "", "uly": fam, "tier": "1", "minSz": "0", "maxSz": "1000", "mmr": "", "imr": "", "maxLever": "",
             "optMgnFactor": "1.01", "baseMaxLoan": "", "quoteMaxLoan": ""} for fam in ("BTC-USD", "SOL-USD")]
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"code": "0", "msg": "", "data": rows}))
    code, out, _ = cli(capsys, "tables", "import", "okx", str(options), "--param", "instType=OPTION", "--valid-from", DAY, "-o", str(tmp_path / "out"))
    assert code == 0, out
    doc = written(tmp_path / "out", "okx/option-margin-tiers")
    assert doc["tiers"]["OPTION/BTC-USD"] == [{"lower": 0, "upper": 1000, "factor": 1.01, "mmr_c": 0.03, "status": "illustrative",
                                              "ref": "okx-position-tiers-response"}]
    assert doc["tiers"]["OPTION/SOL-USD"][0]["mmr_c"] == 0.05
    assert "The columns mmr_c are not in the responses" in doc["description"]


# ---------------------------------------------------------------- the written file loads, and rule sets evaluate with it


def test_imported_tables_load_and_a_rule_set_evaluates_with_them_later(tmp_path):
    """Every endpoint's sample imported into one user folder: list and show name the new versions, check passes,
    and gate/multi_currency_margin at a later date margins the example's BTC_USDT position on the imported tiers:
    21,610 USDT of position value is in the sample table's tier 2, 21,610 x 2% - 50 = 382.2 (on the bundled
    2025-07-29 tiers, 0.4%: 86.44)."""
    out = tmp_path / "user"
    for venue, files, params in [
        ("okx", [TIERS], ["instType=MARGIN", "instId=BTC-USDT"]),
        ("okx", [TIERS], ["instType=MARGIN", "ccy=BTC"]),
        ("okx", [DISCOUNT], []),
        ("gate", [RISK_TABLE], ["contract=BTC_USDT", "table_id=BTC_USDT_202507040223"]),
        ("gate", [RISK_TIERS, CURRENCY_DISCOUNT, LOAN_MARGIN], []),
    ]:
        params_args = [a for p in params for a in ("--param", p)]
        proc = run("tables", "import", venue, *map(str, files), *params_args, "--valid-from", DAY, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
    assert len(tables_written(out)) == 6  # okx margin, borrow and discount tiers; gate risk limits (merged), collateral, loan margin
    rules = out / "rules"
    assert rules.is_dir()
    listing = run("--rules", str(rules), "list").stdout
    for table in ("okx/margin-tiers", "okx/borrow-tiers", "okx/discount-rate-tiers"):
        assert f"@{DAY}  .. open" in listing.split(f"= {table}\n")[1].split(" = ")[0], table
    shown = run("--rules", str(rules), "show", "gate/multi_currency_margin", "--at", "2026-12-08").stdout
    assert f"gate/futures-risk-limit-tiers@{DAY}" in shown and f"gate/margin-adjustment-factors@{DAY}" in shown
    check = run("--rules", str(rules), "check")
    assert check.returncode == 0, check.stdout[-3000:]
    example = str(ROOT / "exchanges" / "gate" / "examples" / "multi_currency_margin.json")
    before = json.loads(run("evaluate", "gate/multi_currency_margin", example, "--at", "2026-12-08", "--json").stdout)
    after = json.loads(run("--rules", str(rules), "evaluate", "gate/multi_currency_margin", example, "--at", "2026-12-08", "--json").stdout)
    assert before["values"]["position"]["BTC_USDT"]["futures_maintenance_margin"] == pytest.approx(86.44)
    assert after["values"]["position"]["BTC_USDT"]["futures_maintenance_margin"] == pytest.approx(382.2)
    used = {t["table"]: t["valid_from"] for t in after["receipt"]["tables"]}
    assert used == {"gate/futures-risk-limit-tiers": DAY, "gate/margin-adjustment-factors": DAY, "gate/borrow-maintenance-margin": DAY}
    # the day before the import, the bundled tables are used
    earlier = json.loads(run("--rules", str(rules), "evaluate", "gate/multi_currency_margin", example, "--at", "2026-12-06", "--json").stdout)
    assert earlier["values"]["position"]["BTC_USDT"]["futures_maintenance_margin"] == pytest.approx(86.44)
    # OKX at a later date: the imported discount and borrowing tiers are the ones used
    okx_example = str(ROOT / "exchanges" / "okx" / "examples" / "multi_currency_margin.json")
    okx = json.loads(run("--rules", str(rules), "evaluate", "okx/multi_currency_margin", okx_example, "--at", "2026-12-08", "--json").stdout)
    used = {t["table"]: t["valid_from"] for t in okx["receipt"]["tables"]}
    assert used["okx/discount-rate-tiers"] == DAY and used["okx/borrow-tiers"] == DAY and used["okx/position-tiers"] == "2024-07-08"


def test_a_bounded_last_tier_stays_bounded(tmp_path):
    """The docs' sample read as the answer for ccy=USDC: USDC's borrowing tiers end at 50. The example account
    borrows 5,001.25 USDC: evaluating is an error naming the table and the key, not a rate made up beyond the venue's
    last tier (before the import, the '*' row's illustrative 2% applied)."""
    assert run("tables", "import", "okx", str(TIERS), "--param", "instType=MARGIN", "--param", "ccy=USDC", "--valid-from", DAY, "-o", str(tmp_path)).returncode == 0
    okx_example = str(ROOT / "exchanges" / "okx" / "examples" / "multi_currency_margin.json")
    proc = run("--rules", str(tmp_path / "rules"), "evaluate", "okx/multi_currency_margin", okx_example, "--at", "2026-12-08")
    assert proc.returncode == 3 and "5,001.25 is beyond the last tier of table 'borrow_tiers' for 'USDC' (its tiers end at 50)" in proc.stderr


# ---------------------------------------------------------------- bad payloads: exit 3, the path, nothing written


BAD = [
    ("venue error", TIERS, {"code": "50011", "msg": "Rate limit reached. Please refer to API documentation and throttle requests accordingly"},
     ["instType=MARGIN", "instId=BTC-USDT"], r"code: an error response, not data: the venue answered \(code '50011'\) 'Rate limit reached"),
    ("missing field", TIERS, {"data[0].maxSz": None}, ["instType=MARGIN", "instId=BTC-USDT"], None),
    ("not a number", DISCOUNT, {"data[0].details[1].discountRate": "abc"}, [],
     r"data\[0\]\.details\[1\]: okx/discount-rate-tiers BTC\.rate: expected a number .* got text 'abc'"),
    ("not contiguous", DISCOUNT, {"data[0].details[1].minAmt": "21"}, [], r"data\[0\]\.details\[1\]: key BTC: the tier starts at 21, but the tier before"),
    ("upper not above lower", LOAN_MARGIN, {"[0].margin_tiers[0].upper_limit": "100000"}, [],
     r"\[0\]\.margin_tiers\[0\]: key USDT: the tier's upper bound 100000 is not above its lower bound 200000"),
    ("open tier in the middle", CURRENCY_DISCOUNT, {"[0][1].discount_tiers[2].upper_limit": "+"}, [],
     r"\[0\]\[1\]\.discount_tiers\[3\]: key USDC: a tier follows the tier without an upper bound at \[0\]\[1\]\.discount_tiers\[2\]"),
    ("no request parameter", TIERS, {}, [], r"needs the request parameter instType \(one of MARGIN, SWAP, FUTURES, OPTION\)"),
    ("no row makes a tier", TIERS, {}, ["instType=SWAP"], r"no row of it makes a table tier \(okx/position-tiers: rows of GET /api/v5/public/position-tiers "
                                                          r"where inst_type in \['SWAP', 'FUTURES'\] and instFamily not in \[''\]"),
    ("empty data", DISCOUNT, {"data": []}, [], r"data is an empty array"),
    ("not a table endpoint", OKX / "account_balance.json", {}, [], r"no table of exchanges/okx/payloads/api-v5\.yaml is made from GET /api/v5/account/balance"),
    ("a key no table takes", LOAN_MARGIN, {"[0].currency": "*"}, [], r"\[0\]\.margin_tiers\[0\]: gate/borrow-maintenance-margin key: \^currency gives text '\*', not a table key"),
]


@pytest.mark.parametrize("name, sample, edits, params, message", BAD, ids=[b[0] for b in BAD])
def test_bad_payloads_are_refused_with_their_path_and_nothing_is_written(tmp_path, name, sample, edits, params, message):
    venue = "okx" if sample.parent == OKX else "gate"
    bad = copy_with(sample, tmp_path / "bad.json", {k: v for k, v in edits.items() if v is not None})
    if name == "missing field":
        data = json.loads(bad.read_text())
        del data["data"][0]["maxSz"]
        bad.write_text(json.dumps(data))
        message = r"bad\.json: data\[0\]\.maxSz: missing field|bad\.json: .*not a payload"
    if name == "venue error":
        bad.write_text(json.dumps(edits))
    out = tmp_path / "out"
    keep = out / "exchanges" / "okx" / "tables" / "discount-rate-tiers" / f"{DAY}.yaml"
    keep.parent.mkdir(parents=True)
    keep.write_text("left alone\n")
    proc = run("tables", "import", venue, str(bad), *[a for p in params for a in ("--param", p)], "--valid-from", DAY, "-o", str(out))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert re.search(message, proc.stderr), proc.stderr
    assert tables_written(out) == [keep] and keep.read_text() == "left alone\n"
    assert list(keep.parent.iterdir()) == [keep]  # no temporary file left behind


def test_one_key_from_two_responses_is_refused(tmp_path):
    proc = run("tables", "import", "okx", str(DISCOUNT), str(copy_with(DISCOUNT, tmp_path / "again.json", {})), "--valid-from", DAY, "-o", str(tmp_path))
    assert proc.returncode == 3 and "key BTC is also given by" in proc.stderr and not tables_written(tmp_path)


def test_duplicate_json_keys_and_nan_are_refused_with_line_and_column(tmp_path):
    dup = tmp_path / "dup.json"
    dup.write_text('{"code": "0", "msg": "", "data": [{"ccy": "BTC", "ccy": "ETH", "details": [], "minDiscountRate": "0"}]}')
    proc = run("tables", "import", "okx", str(dup), "--valid-from", DAY, "-o", str(tmp_path))
    assert proc.returncode == 3 and "duplicate" in proc.stderr and "line 1" in proc.stderr
    nan = tmp_path / "nan.json"
    nan.write_text('[{"tier": 1, "risk_limit": NaN, "initial_rate": "0.02", "maintenance_rate": "0.01", "leverage_max": "50", "deduction": "0"}]')
    proc = run("tables", "import", "gate", str(nan), "--param", "contract=X_USDT", "--valid-from", DAY, "-o", str(tmp_path))
    assert proc.returncode == 3 and "NaN" in proc.stderr and not tables_written(tmp_path)


# ---------------------------------------------------------------- usage: where it writes, what it asks for


def test_the_folder_beside_rules_is_the_default_and_the_bundled_checkout_is_refused(tmp_path, capsys, monkeypatch):
    rules = tmp_path / "mine" / "rules"
    rules.mkdir(parents=True)
    code, out, _ = cli(capsys, "tables", "import", "gate", str(LOAN_MARGIN), "--valid-from", DAY, "--rules", str(rules))
    assert code == 0 and (tmp_path / "mine" / "exchanges" / "gate" / "tables" / "borrow-maintenance-margin" / f"{DAY}.yaml").is_file()
    assert "marginspec --rules" not in out  # the rules folder is already given
    home = bundled_dir("exchanges").parent  # the checkout (editable install) or the installed package (pip install .)
    monkeypatch.chdir(home)
    code, _, err = cli(capsys, "tables", "import", "gate", str(LOAN_MARGIN), "--valid-from", DAY)
    where = "marginspec's own checkout (give -o . to write there on purpose)" if home == ROOT.resolve() else "is the installed package"
    assert code == 2 and where in err
    assert not (home / "exchanges" / "gate" / "tables" / "borrow-maintenance-margin" / f"{DAY}.yaml").exists()


@pytest.mark.parametrize("args, message", [
    (["--valid-from", "2026-02-30"], r"--valid-from: the date 2026-02-30 does not exist"),
    (["--valid-from", "2020-01-01"], r"table gate/borrow-maintenance-margin has no version in force on 2020-01-01"),
    (["--valid-from", DAY, "--table", "position-tiers"], r"--table position-tiers: no table of exchanges/gate/payloads/api-v4\.yaml reads these payloads"),
    (["--valid-from", DAY, "--param", "instType=SWAP"], r"--param instType: not a parameter of GET /api/v4/unified/loan_margin_tiers"),
    (["--valid-from", DAY, "--param", "nonsense"], r"--param 'nonsense': expected NAME=VALUE"),
    (["--valid-from", DAY, "--fetch", "loan_margin_tiers"], r"not both"),
    (["--valid-from", DAY, "--timeout", "0"], r"--timeout: expected seconds between 0 and 600"),
])
def test_usage_errors(tmp_path, capsys, args, message):
    code, _, err = cli(capsys, "tables", "import", "gate", str(LOAN_MARGIN), "-o", str(tmp_path), *args)
    assert code == 2 and re.search(message, err), err
    assert not tables_written(tmp_path)


# ---------------------------------------------------------------- --fetch, offline


class FakeResponse:
    def __init__(self, body: bytes, status: int = 200):
        self.body, self.status = body, status

    def read(self, n: int = -1) -> bytes:
        return self.body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace the one function that opens URLs; answer with the docs' samples, record every request."""
    seen: list[Any] = []
    answers = {"position-tiers": TIERS, "discount-rate": DISCOUNT, "risk_limit_tiers": RISK_TIERS, "currency_discount_tiers": CURRENCY_DISCOUNT,
               "loan_margin_tiers": LOAN_MARGIN}

    def fake(request: Any, timeout: float) -> FakeResponse:
        seen.append((request, timeout))
        sample = next(path for part, path in answers.items() if part in request.full_url)
        return FakeResponse(sample.read_bytes())

    monkeypatch.setattr(fetch, "open_url", fake)
    return seen


def test_fetch_builds_the_request_from_the_mapping_and_cites_it(tmp_path, capsys, opened):
    code, _, err = cli(capsys, "tables", "import", "okx", "--fetch", "position_tiers", "--param", "instType=MARGIN", "--param", "instId=BTC-USDT",
                         "--valid-from", DAY, "-o", str(tmp_path), "--timeout", "7", "--save", str(tmp_path / "raw"))
    assert code == 0, err
    ((request, timeout),) = opened
    assert request.full_url == "https://www.okx.com/api/v5/public/position-tiers?instType=MARGIN&tdMode=cross&instId=BTC-USDT"
    assert timeout == 7.0 and request.get_header("User-agent").startswith("marginspec/")
    doc = written(tmp_path, "okx/margin-tiers")
    cited = doc["documents"]["okx-position-tiers-response"]
    assert cited["url"] == request.full_url and "downloaded by marginspec tables import --fetch at" in cited["note"]
    assert "saved as" in cited["note"] and (tmp_path / "raw" / "position_tiers-1.json").read_bytes() == TIERS.read_bytes()
    assert tier_numbers(doc, "BTC-USDT", "mmr") == [(0, 50, 0.03)]


def test_fetch_makes_one_request_per_value_and_refuses_before_sending(tmp_path, capsys, opened):
    code, _, err = cli(capsys, "tables", "import", "gate", "--fetch", "currency_discount_tiers", "--fetch", "loan_margin_tiers", "--valid-from", DAY,
                       "-o", str(tmp_path))
    assert code == 0, err
    assert [r.full_url for r, _ in opened] == ["https://api.gateio.ws/api/v4/unified/currency_discount_tiers",
                                               "https://api.gateio.ws/api/v4/unified/loan_margin_tiers"]
    mapping = table_mapping(Catalog(), "okx")
    requests = fetch.requests_for(mapping, ["position_tiers"], [("instType", "SWAP"), ("instFamily", "BTC-USDT"), ("instFamily", "ETH-USDT")])
    assert [r.url.split("?")[1] for r in requests] == ["instType=SWAP&tdMode=cross&instFamily=BTC-USDT", "instType=SWAP&tdMode=cross&instFamily=ETH-USDT"]
    opened.clear()
    for args, message in [
        (["--fetch", "position_tiers"], r"needs the parameter instType \(one of MARGIN, SWAP, FUTURES, OPTION\)"),
        (["--fetch", "position_tiers", "--param", "instType=SPOT"], r"--param instType=SPOT: GET /api/v5/public/position-tiers takes one of"),
        (["--fetch", "balance"], r"needs a signed request, which marginspec never makes"),
        (["--fetch", "nope"], r"has no endpoint of that name \(public endpoints: position_tiers, discount_rate\)"),
    ]:
        code, _, err = cli(capsys, "tables", "import", "okx", *args, "--valid-from", DAY, "-o", str(tmp_path / "x"))
        assert code == 2 and re.search(message, err), err
    assert opened == []


def test_fetch_reports_the_venue_error_and_a_network_failure_with_the_address(tmp_path, capsys, monkeypatch):
    def venue_error(request: Any, timeout: float) -> Any:
        raise urllib.error.HTTPError(request.full_url, 400, "Bad Request", {}, _Body(b'{"label": "INVALID_PARAM_VALUE", "message": "invalid contract"}'))

    monkeypatch.setattr(fetch, "open_url", venue_error)
    code, _, err = cli(capsys, "tables", "import", "gate", "--fetch", "risk_limit_tiers", "--param", "contract=NOPE", "--valid-from", DAY, "-o", str(tmp_path))
    assert code == 3 and "https://api.gateio.ws/api/v4/futures/usdt/risk_limit_tiers?contract=NOPE: label: an error response" in err
    assert "'invalid contract'" in err

    def data_with_an_error_status(request: Any, timeout: float) -> Any:
        raise urllib.error.HTTPError(request.full_url, 503, "Service Unavailable", {}, _Body(LOAN_MARGIN.read_bytes()))

    monkeypatch.setattr(fetch, "open_url", data_with_an_error_status)
    code, _, err = cli(capsys, "tables", "import", "gate", "--fetch", "loan_margin_tiers", "--valid-from", DAY, "-o", str(tmp_path))
    assert code == 3 and "loan_margin_tiers: the venue answered HTTP 503: an error status, whatever the body says" in err

    def down(request: Any, timeout: float) -> Any:
        raise urllib.error.URLError(TimeoutError("timed out"))

    monkeypatch.setattr(fetch, "open_url", down)
    code, _, err = cli(capsys, "tables", "import", "gate", "--fetch", "loan_margin_tiers", "--valid-from", DAY, "-o", str(tmp_path))
    assert code == 3 and "https://api.gateio.ws/api/v4/unified/loan_margin_tiers: cannot download: timed out" in err
    assert not tables_written(tmp_path)


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def read(self, n: int = -1) -> bytes:
        return self.data

    def close(self) -> None:
        return None


def test_https_only():
    with pytest.raises(UsageError, match="https only"):
        fetch.download(fetch.Request("loan_margin_tiers", "http://api.example.org/x", {}))
    with pytest.raises(urllib.error.URLError, match="refused a redirect to http://"):
        fetch._HttpsOnly().redirect_request(None, None, 302, "Found", {}, "http://elsewhere.example.org/")


# ---------------------------------------------------------------- the mapping format for tables


MAPPING = """schema: marginspec/payload-mapping/v1
venue: okx
title: t
documents: {d: {url: "https://example.org", title: d}}
base_url: {BASE}
endpoints:
  tiers:
    request: GET /tiers
    identify: [tier]
    params: {kind: {description: which}}
tables:
  t:
    table: okx/margin-tiers
    sources:
      - endpoint: tiers
        key: {KEY}
        fields: {FIELDS}
"""


@pytest.mark.parametrize("base, key, fields, expected", [
    ("https://x.example.org", "{param: other}", "{lower: a, upper: b, mmr: c}", r"m\.yaml:16:22: param 'other' is not a parameter of endpoint 'tiers' \(its params: kind\)"),
    ("https://x.example.org", "k", "{lower: a, mmr: c}", r"m\.yaml:17:17: a table source gives `upper`"),
    ("http://x.example.org", "k", "{lower: a, upper: b, mmr: c}", r"m\.yaml:5:11: .*does not match"),
])
def test_the_mapping_format_for_tables_is_checked_with_file_line_column(tmp_path, base, key, fields, expected):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.replace("{BASE}", base).replace("{KEY}", key).replace("{FIELDS}", fields))
    with pytest.raises((RuleFileError, RuleFileErrors)) as exc:
        load_mapping(path, "m.yaml")
    assert re.search(expected, str(exc.value)), str(exc.value)


def test_check_refuses_a_target_that_cannot_fill_its_table(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.replace("{BASE}", "https://x.example.org").replace("{KEY}", "k").replace("{FIELDS}", "{lower: a, upper: b, imr: c}"))
    (problem,) = target_problems(load_mapping(path, "m.yaml"), Catalog())
    assert "m.yaml:15:9: tables.t: column 'mmr' is neither given by the mapping's fields nor listed in carried_columns of okx/margin-tiers@" in str(problem)
    bundled = [p for venue in ("okx", "gate") for p in target_problems(table_mapping(Catalog(), venue), Catalog())]
    assert bundled == []

