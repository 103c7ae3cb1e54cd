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
    # refused at the node that goes too deep, also where the composer would otherwise recurse past Python's limit
    for depth in (41, 200, 5000):
        with pytest.raises(RuleFileError, match=r"^deep\.yaml:1:44: YAML syntax: nesting deeper than 40 levels"):
            parse_yaml("a: " + "[" * depth + "]" * depth, "deep.yaml")
    parse_yaml("a: " + "[" * 39 + "]" * 39, "deep.yaml")
    with pytest.raises(RuleFileError, match="larger than"):
        parse_yaml("a: '" + "x" * 2_100_000 + "'", "big.yaml")


def test_empty_file_is_an_error():
    with pytest.raises(RuleFileError, match="empty"):
        parse_yaml("", "empty.yaml")


def test_exponent_numbers_are_numbers_as_in_yaml_1_2():
    doc = parse_yaml("rel: 1e-9\nbig: 2E5\ncode: 1e9x\n", "f.yaml")
    assert doc.data == {"rel": 1e-9, "big": 200000.0, "code": "1e9x"}


@pytest.mark.parametrize("text, line, column", [
    ("a: 1  # a comment with \x01 in it\n", 1, 24),
    ("title: red \x1b[31malert\n", 1, 12),
    ("a: 1\nb: 'x\x7f'\n", 2, 6),
    ("a: 1\r\nb: \x85\x9b2J\n", 2, 5),
])
def test_a_raw_control_character_anywhere_is_refused_at_its_place(text, line, column):
    with pytest.raises(RuleFileError, match=r"control character \(U\+00[0-9A-F]{2}\) is not allowed anywhere") as info:
        parse_yaml(text, "bad.yaml")
    assert (info.value.location.line, info.value.location.column) == (line, column)


@pytest.mark.parametrize("text, message", [
    ("a: " + "9" * 5000, "out of range (at most 40 digits)"),
    ("a: -" + "9" * 41, "out of range (at most 40 digits)"),
    ("a: 0x" + "f" * 5000, "out of range (at most 40 digits)"),
    ("a: 0x" + "f" * 34, "out of range (at most 40 digits)"),
    ("a: !!int '" + "9" * 5000 + "'", "out of range (at most 40 digits)"),
    ("a: !!float " + "9" * 5000, "out of range (at most 40 digits)"),
    ("a: !!int ''", "!!int '': expected a decimal integer"),
    ("a: !!int 16:40", "!!int '16:40': expected a decimal integer"),
    ("a: !!float ''", "!!float '': expected a number"),
    ("a: !!bool maybe", "!!bool 'maybe': expected true or false"),
    ("a: !!null x", "!!null 'x': expected null"),
    ("a: 1e400", "out of range for a double"),
    ('a: "\\ud800"', "lone surrogate"),
    ('"x\\udfff": 1', "lone surrogate"),
])
def test_numbers_beyond_any_amount_bad_explicit_tags_and_lone_surrogates_are_located(text, message):
    with pytest.raises(RuleFileError) as info:
        parse_yaml("z: 0\n" + text + "\n", "bad.yaml")
    assert message in str(info.value)
    assert info.value.location.line == 2


def test_forty_digits_and_every_readable_number_still_read():
    doc = parse_yaml("a: " + "9" * 40 + "\nb: -0x1F\nc: 1_000\nd: -.5\ne: .inf\nf: !!float 3\ng: 3.\nh: !!int '12'\n", "f.yaml")
    assert doc.data == {"a": 10**40 - 1, "b": -31, "c": 1000, "d": -0.5, "e": float("inf"), "f": 3.0, "g": 3.0, "h": 12}


def test_yaml_1_1_base_60_octal_and_binary_forms_are_text_not_numbers():
    """YAML 1.1 reads `16:40` as 1000 and `010` as 8; as text, the schema says a number was expected."""
    doc = parse_yaml("a: 16:40\nb: 1:30:00.5\nc: 010\nd: 0b11\ne: =\n", "f.yaml")
    assert doc.data == {"a": "16:40", "b": "1:30:00.5", "c": "010", "d": "0b11", "e": "="}
