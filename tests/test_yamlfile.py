"""The safe YAML loader: plain data only, with positions for every value."""

import pytest

from marginspec.errors import RuleFileError
from marginspec.source.yamlfile import parse_yaml


def test_values_keep_their_line_and_column():
    doc = parse_yaml("a: 1\nb:\n  c: [x, y]\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"]}}
    assert str(doc.where(("b", "c", 1))) == "f.yaml:3:10"
    assert str(doc.where(("b", "c"), key=True)) == "f.yaml:3:3"


def test_dates_stay_text_and_keys_are_always_text():
    doc = parse_yaml("valid_from: 2025-01-06\non: 1\n1: x\n", "f.yaml")
    assert doc.data == {"valid_from": "2025-01-06", "on": 1, "1": "x"}


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("a: 1\na: 2\n", "duplicate key 'a' (first at line 1)", 2),
        ("a: &x 1\nb: *x\n", "anchors (&x) are not allowed", 1),
        ("a: !!python/object:os.system x\n", "unsupported YAML tag", 1),
        ("a: !!binary aGVsbG8=\n", "unsupported YAML tag", 1),
        ("a: .nan\n", "NaN", 1),
        ("a: [1, 2\n", "YAML syntax", 2),
        ("<<: {a: 1}\n", "merge keys", 1),
        ("? [a, b]\n: 1\n", "mapping keys must be plain text", 1),
    ],
)
def test_unsafe_or_ambiguous_yaml_is_refused_with_a_location(text, message, line):
    with pytest.raises(RuleFileError) as info:
        parse_yaml(text, "bad.yaml")
    assert message in str(info.value)
    assert info.value.location.file == "bad.yaml"
    assert info.value.location.line == line


def test_billion_laughs_cannot_expand():
    text = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    with pytest.raises(RuleFileError, match="anchors"):
        parse_yaml(text, "lol.yaml")


def test_deep_nesting_and_large_files_are_bounded():
    with pytest.raises(RuleFileError, match="nesting"):
        parse_yaml("a: " + "[" * 200 + "]" * 200, "deep.yaml")
    with pytest.raises(RuleFileError, match="larger than"):
        parse_yaml("a: '" + "x" * 2_100_000 + "'", "big.yaml")


def test_empty_file_is_an_error():
    with pytest.raises(RuleFileError, match="empty"):
        parse_yaml("", "empty.yaml")


def test_exponent_numbers_are_numbers_as_in_yaml_1_2():
    doc = parse_yaml("rel: 1e-9\nbig: 2E5\ncode: 1e9x\n", "f.yaml")
    assert doc.data == {"rel": 1e-9, "big": 200000.0, "code": "1e9x"}
