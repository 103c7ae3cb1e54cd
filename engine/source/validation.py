"""Validate YAML documents against the shipped JSON Schemas and turn
jsonschema's findings into located, readable messages; documents that passed
are cached by the hash of their bytes (see cache.py).

A schema `pattern` is read as JSON Schema defines it (ECMA-262), where `$`
matches only at the end of the text; jsonschema hands it to Python's
re.search, whose `$` also matches before a final newline, so that a name
"margin_ratio\n" would pass "^[a-z][a-z0-9_]*$"."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import cache
from ..errors import Location, RuleFileError, RuleFileErrors, json_path
from .yamlfile import MAX_FILE_BYTES, Document, parse_yaml

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_FILES = {"rule-file": "rule-file.v2.json", "table": "table.v2.json", "cases": "cases.v1.json", "venue": "venue.v1.json",
                "payload-mapping": "payload-mapping.v1.json"}
RETIRED = {
    "marginspec/rule-file/v1": "rule files are version 2 now: write `schema: marginspec/rule-file/v2` and reference tables as "
                               "`{table: venue/name}` (dated files exchanges/<venue>/tables/<name>/<valid_from>.yaml) instead of `{file: ...}`; "
                               "inline tables need `status: real` or `illustrative` (see rules/README.md)",
    "marginspec/table/v1": "table files are version 2 now: one file per version, exchanges/<venue>/tables/<name>/<valid_from>.yaml, "
                           "with `schema: marginspec/table/v2`, `table: venue/name`, `valid_from` and `status` (see rules/README.md)",
}
MAX_REPORTED = 20


@functools.cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one file kind, as shipped in the package."""
    text = resources.files(__package__).joinpath("schemas", SCHEMA_FILES[kind]).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` with each `$` outside a character class turned into `\\Z`: the end of the text, as in ECMA-262."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
        i += 1
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator, validators  # imported on first use: a cached document needs none of it
    from referencing import Registry, Resource

    registry: Registry = Registry().with_resources(
        (schema(k)["$id"], Resource.from_contents(schema(k))) for k in SCHEMA_FILES
    )
    validator = validators.extend(Draft202012Validator, {"pattern": _pattern})
    return validator(schema(kind), registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _describe(err: ValidationError) -> tuple[tuple, str, bool]:
    """(path, message, point-at-key) for one jsonschema error."""
    path = tuple(err.absolute_path)
    where = json_path("", *path) or "(top level)"
    v = err.validator
    if v in ("additionalProperties", "unevaluatedProperties") and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = [k for k in err.instance if k not in allowed] if allowed else list(err.instance)
        unknown = next(iter(extra), "?")
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return path + (unknown,), f"{where}: unknown key {unknown!r}{hint}", True
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return path, f"{where}: missing required key {missing!r}", False
    if v == "anyOf" and all("required" in s for s in err.validator_value):
        keys = " or ".join(repr(s["required"][0]) for s in err.validator_value)
        return path, f"{where}: needs {keys}: cite the documentation with a quote, or state the assumption made", False
    if v == "propertyNames":
        return path, f"{where}: name {err.instance!r} is not allowed: {err.message}", True
    if v == "pattern":
        return path, f"{where}: {err.instance!r} does not match the required pattern {err.validator_value}", False
    if v == "type":
        return path, f"{where}: expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}", False
    if v == "const":
        return path, f"{where}: expected {err.validator_value!r}, got {err.instance!r}", False
    if v == "enum":
        return path, f"{where}: expected one of {', '.join(map(repr, err.validator_value))}, got {err.instance!r}", False
    if v == "maxLength":
        return path, f"{where}: {len(err.instance):,} characters is too long (at most {err.validator_value:,})", False
    if v == "maxItems":
        return path, f"{where}: {len(err.instance):,} items is too many (at most {err.validator_value:,})", False
    return path, f"{where}: {_shortened(err.message)}", False


def _shortened(text: str, limit: int = 300) -> str:
    """A message as jsonschema words it, without echoing a huge value whole."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def validate(doc: Document, kind: str) -> None:
    """Raise RuleFileErrors listing every schema violation in `doc` with its location."""
    from jsonschema.exceptions import best_match

    problems: list[RuleFileError] = []
    version = doc.data.get("schema") if isinstance(doc.data, dict) else None
    if isinstance(version, str) and version in RETIRED:
        raise RuleFileError(f"schema: {version} is no longer read: {RETIRED[version]}", doc.where(("schema",)))
    for err in _validator(kind).iter_errors(doc.data):
        if err.validator in ("oneOf", "anyOf") and err.context and not (
            err.validator == "anyOf" and all("required" in s for s in err.validator_value)
        ):
            err = best_match(err.context)
        path, message, at_key = _describe(err)
        problems.append(RuleFileError(message, doc.where(path, key=at_key)))
    if problems:
        problems.sort(key=lambda e: (e.location.line or 0, e.location.column or 0) if e.location else (0, 0))
        raise RuleFileErrors(problems[:MAX_REPORTED])


def read_file(path: Path, display: str) -> bytes:
    """The bytes of a rule, table, case or venue file: a regular file of at most MAX_FILE_BYTES, checked
    before reading (a 250 MB file is refused by its size, not read whole first)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise RuleFileError(f"cannot read file: {exc.strerror}", Location(display)) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RuleFileError("not a regular file", Location(display))
        if st.st_size > MAX_FILE_BYTES:
            raise RuleFileError(f"file is larger than {MAX_FILE_BYTES} bytes ({st.st_size} bytes)", Location(display))
        try:
            raw = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise RuleFileError(f"cannot read file: {exc.strerror}", Location(display)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise RuleFileError(f"file is larger than {MAX_FILE_BYTES} bytes", Location(display))
    return raw


def checked_document(path: Path, display: str, kind: str) -> Document:
    """Read, parse and validate a marginspec file, or take it from the cache when its bytes are unchanged.
    The document records the sha256 of the bytes it was read from (for the receipt)."""
    raw = read_file(path, display)
    digest = hashlib.sha256(raw).hexdigest()
    name = f"doc-{cache.key_of(kind, raw)}.json"
    cached = cache.load_json(name)
    doc = Document.from_json(cached, display) if cached is not None else None
    if doc is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RuleFileError(f"file is not UTF-8 text (byte {exc.start})", Location(display)) from None
        doc = parse_yaml(text, display)
        validate(doc, kind)
        cache.store_json(name, doc.to_json())
    doc.sha256 = digest
    return doc
