"""Rule files, dates and text from strangers (issue 12, sections 4 and 5): each
refused with its location and exit 3 (or 2 for a bad argument), never exit 4,
and nothing that reaches the terminal carries a raw control character."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import textwrap
import tracemalloc

import marginspec
import pytest
import yaml
from marginspec.cli import main
from marginspec.errors import RuleFileError, RuleFileErrors, SnapshotError, UsageError
from marginspec.source.catalog import MAX_EXTENDS, Catalog, parse_date
from marginspec.source.validation import checked_document, ecma_pattern

from conftest import BASE, DEMO_RULES, DEMO_SNAPSHOT, quantity

SPEC = "demo/basic@2025-01-01"


def test_a_control_character_in_a_comment_exits_3_with_its_place(make_rules, capsys):
    root = make_rules(quantities={"q": quantity("balance * price", axis="currency")})
    path = root / "t" / "m" / "2025-01-01.yaml"
    path.write_text(path.read_text() + "# a comment \x1b[2J\n")
    code = main(["--rules", str(root), "check", str(root)])
    out = capsys.readouterr()
    assert code == 3, out
    assert "2025-01-01.yaml:" in out.out and "control character (U+001B)" in out.out
    assert "\x1b" not in out.out + out.err


def test_a_name_with_a_trailing_newline_fails_the_schema_pattern(make_rules):
    root = make_rules(quantities={"q\n": quantity("1", unit="ratio")})
    with pytest.raises(RuleFileErrors, match=r"2025-01-01.yaml:\d+:3: quantities: 'q\\n' does not match the required pattern"):
        Catalog([root]).load("t/m@2025-01-01")


def test_schema_patterns_read_dollar_as_the_end_of_the_text():
    assert ecma_pattern("^[a-z]+$").search("abc\n") is None
    assert ecma_pattern("^[a-z]+$").search("abc")
    assert ecma_pattern(r"^[$]\$x$").search("$$x")  # a `$` in a class or escaped is a dollar sign
    assert ecma_pattern(r"^[\]$]+$").search("]$]")


def test_a_number_written_base_60_is_reported_by_the_schema(make_rules):
    root = make_rules(parameters={"p": {"value": "16:40", "unit": "ratio", "assumption": "test"}})
    path = root / "t" / "m" / "2025-01-01.yaml"
    path.write_text(path.read_text().replace("value: '16:40'", "value: 16:40"))
    with pytest.raises(RuleFileErrors, match=r"parameters\.p\.value: .*'16:40'"):
        Catalog([root]).load("t/m@2025-01-01")


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(250_000_000)  # sparse: 250 MB that cost nothing to make, and would to read
    tracemalloc.start()
    try:
        with pytest.raises(RuleFileError, match="larger than 2000000 bytes"):
            checked_document(big, "big.yaml", "rule-file")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


@pytest.mark.timeout(20)
def test_a_fifo_in_place_of_a_rule_file_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "tiers.yaml"
    os.mkfifo(fifo)
    with pytest.raises(RuleFileError, match="not a regular file"):
        checked_document(fifo, "tiers.yaml", "table")


def test_a_long_extends_chain_is_refused_with_its_length_and_place(tmp_path):
    folder = tmp_path / "rules" / "t" / "m"
    folder.mkdir(parents=True)
    dates = [(dt.date(2000, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(1100)]
    base = json.loads(json.dumps(BASE)) | {"valid_from": dates[0], "quantities": {"q": quantity("1", unit="ratio")}}
    (folder / f"{dates[0]}.yaml").write_text(yaml.safe_dump(base))
    for prev, date in itertools.pairwise(dates):
        (folder / f"{date}.yaml").write_text(textwrap.dedent(f"""\
            schema: marginspec/rule-file/v2
            ruleset: t/m
            valid_from: "{date}"
            title: link
            extends: t/m@{prev}
            """))
    with pytest.raises(RuleFileError, match=f"extends chain longer than {MAX_EXTENDS} rule files") as info:
        Catalog([tmp_path / "rules"]).load(f"t/m@{dates[-1]}")
    assert info.value.location.line == 5 and info.value.location.file.endswith(".yaml")


def test_dates_are_read_whole_and_a_day_that_does_not_exist_says_so(capsys):
    assert parse_date("2024-02-29", "--at") == dt.date(2024, 2, 29)
    with pytest.raises(UsageError, match="expected a date like 2025-01-31, got '2026-02-305'"):
        parse_date("2026-02-305", "--at")
    with pytest.raises(UsageError, match=r"the date 2026-02-30 does not exist \(February 2026 has 28 days\)"):
        parse_date("2026-02-30", "--at")
    with pytest.raises(UsageError, match="there is no month 13"):
        parse_date("2026-13-01", "--at")
    assert main(["--rules", str(DEMO_RULES), "show", "demo/basic", "--at", "2025-06-01junk"]) == 2
    assert "got '2025-06-01junk'" in capsys.readouterr().err


@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_an_as_of_with_no_utc_date_is_a_snapshot_error(as_of, tmp_path, capsys):
    snapshot = json.loads(DEMO_SNAPSHOT.read_text()) | {"as_of": as_of}
    with pytest.raises(SnapshotError, match="as_of"):
        marginspec.evaluate("demo/basic", snapshot, rules=[DEMO_RULES])
    with pytest.raises(SnapshotError, match="as_of"):
        marginspec.load(SPEC, rules=[DEMO_RULES]).evaluate(snapshot, at="2025-06-01")
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snapshot))
    assert main(["--rules", str(DEMO_RULES), "evaluate", SPEC, str(path), "--at", "2025-06-01"]) == 3
    assert "as_of" in capsys.readouterr().err


def test_escape_sequences_in_rule_text_and_snapshot_keys_reach_the_terminal_escaped(make_rules, tmp_path, capsys):
    root = make_rules(title="Evil \x1b[2J\x1b]0;owned\x07 title",
                      documents={"d": {"url": "https://example.org/d", "title": "doc \u202egnp.exe"}},
                      quantities={"q": {**quantity("sum(balance * price)", unit="USD"), "show": True,
                                        "sources": [{"ref": "d", "quote": "quoted \x1b[31mred\b text"}]}})
    assert main(["--rules", str(root), "show", "t/m@2025-01-01"]) == 0
    out = capsys.readouterr().out
    assert "Evil \\x1b[2J\\x1b]0;owned\\x07 title" in out and "\\x1b[31mred\\x08 text" in out and "\\u202egnp" in out
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps({"as_of": "2025-06-01", "currencies": [{"currency": "BTC\u001b[2J", "balance": 1}]}))
    assert main(["--rules", str(root), "evaluate", "t/m@2025-01-01", str(snapshot)]) == 0
    out = capsys.readouterr().out
    assert "Evil \\x1b[2J" in out
    assert main(["--rules", str(tmp_path / "no\x1b[2Jsuch"), "list"]) == 2
    err = capsys.readouterr().err
    assert "no\\x1b[2Jsuch" in err
    for text in (out, err):
        assert not any(ch in text for ch in "\x1b\x07\x08\u202e")
