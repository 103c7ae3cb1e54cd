"""Snapshot validation: JSON-path errors, references, keys, and the generated JSON Schema."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from marginspec.api import Rules
from marginspec.errors import SnapshotError
from marginspec.source.catalog import Catalog

from conftest import DEMO_RULES


@pytest.fixture(scope="module")
def demo() -> Rules:
    return Rules(Catalog([DEMO_RULES]).load("demo/basic@2025-01-01"))


def problems(rules: Rules, data) -> dict[str, str]:
    with pytest.raises(SnapshotError) as info:
        rules.snapshot(data)
    return dict(info.value.problems)


@pytest.mark.parametrize(
    "edit, path, message",
    [
        (lambda d: d["positions"][1].pop("mark_price"), "positions[1].mark_price", "required field is missing"),
        (lambda d: d["positions"][0].update(mark_px=1), "positions[0].mark_px", "unknown field"),
        (lambda d: d["positions"][0].update(size="ten"), "positions[0].size", "valid number"),
        (lambda d: d["positions"][0].update(size=float("nan")), "positions[0].size", "finite"),
        (lambda d: d["positions"][0].update(size=True), "positions[0].size", "valid number"),
        (lambda d: d["positions"][0].update(mark_price=0), "positions[0].mark_price", "greater than 0"),
        (lambda d: d["positions"][0].update(contract_type="quanto"), "positions[0].contract_type", "'linear' or 'inverse'"),
        (lambda d: d["positions"][1].update(settle_currency="XYZ"), "positions[1].settle_currency", "'XYZ' is not in currencies"),
        (lambda d: d["currencies"][1].update(currency="BTC"), "currencies[1].currency", "duplicate currency 'BTC'"),
        (lambda d: d.update(as_of="yesterday"), "as_of", "pattern"),
        (lambda d: d.pop("as_of"), "as_of", "required field is missing"),
        (lambda d: d.update(extra=1), "extra", "unknown field"),
        (lambda d: d.update(positions={}), "positions", "valid list"),
        # a key that is not a plain name is quoted with its escapes: a newline in it cannot break the message's lines
        (lambda d: d["positions"][0].update({"mark\nprice": 1}), "positions[0]['mark\\nprice']", "unknown field"),
    ],
)
def test_invalid_snapshots_say_where_and_what_was_expected(demo, demo_snapshot, edit, path, message):
    data = copy.deepcopy(demo_snapshot)
    edit(data)
    found = problems(demo, data)
    assert path in found, found
    assert message in found[path]


def test_defaults_fill_in_and_meta_is_ignored(demo, demo_snapshot):
    data = copy.deepcopy(demo_snapshot)
    data["meta"] = {"anything": [1, 2]}
    snap = demo.snapshot(data)
    assert snap.rows["position"][0]["margin_mode"] == "cross"
    assert snap.account == {"liquidation_fees": 0}
    assert data["positions"][0].get("margin_mode") is None and "account" not in data  # the caller's data is not modified


def test_the_generated_json_schema_is_draft_2020_12_and_agrees_with_validation(demo, demo_snapshot):
    schema = demo.snapshot_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(demo_snapshot))
    bad = copy.deepcopy(demo_snapshot)
    bad["positions"][0]["size"] = "ten"
    bad["currencies"][0]["bogus"] = 1
    assert {tuple(e.absolute_path) for e in validator.iter_errors(bad)} == {("positions", 0, "size"), ("currencies", 0)}
    assert schema["properties"]["positions"]["items"]["$ref"].endswith("Position")


def test_a_snapshot_file_of_more_objects_than_rows_allowed_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    """200,001 objects: refused from the bytes, and json.loads never builds the million dicts."""
    from marginspec.run import snapshot as snapshot_module
    from marginspec.source import datafile

    big = tmp_path / "book.json"
    big.write_text('{"as_of": "2025-01-01", "positions": [' + ", ".join(["{}"] * 200_000) + "]}", encoding="utf-8")
    monkeypatch.setattr(datafile, "parse_json", lambda text: pytest.fail("parsed"))
    with pytest.raises(SnapshotError, match=r"holds more than 200,000 objects"):
        snapshot_module.read_snapshot_file(big)
    big.write_text('{"as_of": "2025-01-01", "positions": [' + ", ".join(["{}"] * 199_999) + "]}", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match="parsed"):  # one fewer: read as usual
        snapshot_module.read_snapshot_file(big)
