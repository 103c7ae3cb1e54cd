"""Reading one value of one payload row as a field spec of the mapping says:
a path (through a join when the value lives in another endpoint's rows), a
formula, a template, a constant or the first of several alternatives; then a
split, a map of venue values, a default. Every payload cell read is recorded,
so a snapshot value (and a reconcile line) can say where it came from."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .formula import FormulaProblem
from .mapping import NOT_SET, Condition, FieldSpec, Mapping, Source
from .paths import MISSING, FieldPath, Row, describe
from .payloads import Payload

EMPTY: Any = type("Empty", (), {"__repr__": lambda self: "EMPTY"})()
"""A value the venue left empty ("" or null): not applicable, or not known to the venue."""

MAX_DIGITS = 60
AS_OF_MS = "as_of_ms"  # formulas may read the snapshot's time, in epoch milliseconds


class ValueProblem(Exception):
    """A payload value that cannot be read as the mapping says: (file, JSON path, message)."""

    def __init__(self, file: str, path: str, message: str):
        super().__init__(message)
        self.file, self.path, self.message = file, path, message


class JoinMiss(ValueProblem):
    """The joined endpoint's payload has no row with this key (an unknown instrument, a coin without a ticker)."""


class NeedPayload(Exception):
    """The value lives in the payload of an endpoint that was not given."""

    def __init__(self, endpoints: list[str]):
        super().__init__(", ".join(endpoints))
        self.endpoints = endpoints


def number_of(value: Any) -> Decimal | None:
    """A payload number (a JSON number or a decimal string such as "-7.5456") as an exact decimal, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, (int, float)):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_DIGITS or text.lower().lstrip("+-") in ("nan", "inf", "infinity", "snan"):
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        if not number.is_finite() or (number != 0 and abs(number.adjusted()) > 300):
            return None
        return number
    return None


@dataclass
class Joins:
    """What every row reader shares: the payloads by endpoint, their rows by key field (built when first
    joined), and the snapshot's time (as_of_ms in formulas)."""

    payloads: dict[str, list[Payload]]
    mapping: Mapping
    as_of_ms: Decimal | None = None
    index: dict[str, dict[str, Row]] = field(default_factory=dict)
    absent: dict[str, set[str]] = field(default_factory=dict)  # endpoint -> optional joined values whose payload was not given

    def table(self, endpoint: str) -> dict[str, Row]:
        if endpoint not in self.index:
            key = self.mapping.endpoints[endpoint].key or ""
            table: dict[str, Row] = {}
            for p in self.payloads.get(endpoint, []):
                for row in p.rows:
                    value, path = row.read(FieldPath(key, 0, ((key, None),)))
                    if isinstance(value, str) and value:
                        if value in table:
                            first = table[value]
                            raise ValueProblem(row.file, path, f"{key} {value!r} appears twice (also at {first.file} {first.path})")
                        table[value] = row
            self.index[endpoint] = table
        return self.index[endpoint]


class RowReader:
    """Reads the values of one row of one source; `reads` collects the payload cells used."""

    def __init__(self, mapping: Mapping, source: Source, row: Row, joins: Joins, params: dict[str, str] | None = None):
        self.mapping, self.source, self.row, self.joins = mapping, source, row, joins
        self.params = params or {}  # the query parameters of the request the row's payload answers
        self.reads: set[tuple[str, str]] = set()  # every cell read for the value being read (see start)
        self._locals: dict[str, tuple[Any, set[tuple[str, str]]]] = {}
        self.label = ""  # the value being read, for messages about the let names it uses

    def start(self, label: str) -> None:
        """Begin reading one value: `reads` will hold the cells it reads (a let value's included, even when
        an earlier value computed it)."""
        self.label = label
        self.reads = set()

    # ---------- conditions

    def holds(self, cond: Condition | None) -> bool:
        if cond is None:
            return True
        if cond.formula is not None:
            value = self.formula_value(cond.formula, "where")
            return bool(value) if value is not EMPTY else False
        for fp, values, negated in cond.tests:
            value = self.named(fp.text, fp)
            inside = value in values or (value is EMPTY and "" in values)
            if inside == negated:
                return False
        return all(self.named(a.text, a) == self.named(b.text, b) for a, b in cond.same)

    # ---------- values

    def local(self, name: str) -> Any:
        if name not in self._locals:
            outer = self.reads
            self.reads = set()
            try:
                value = self.value(self.source.let[name], f"{self.label} ({name})" if self.label else name)
            finally:
                mine, self.reads = self.reads, outer
            self._locals[name] = (value, mine)
        value, mine = self._locals[name]
        self.reads |= mine
        return value

    def named(self, name: str, fp: FieldPath | None = None) -> Any:
        """A name of a formula or template: a let value, else a field of the row (EMPTY when "")."""
        if name in self.source.let:
            return self.local(name)
        if name == AS_OF_MS and self.joins.as_of_ms is not None:
            return self.joins.as_of_ms
        fp = fp or FieldPath.parse(name)
        value, path = self.row.read(fp)
        self.reads.add((self.row.file, path))
        if value is MISSING:
            raise ValueProblem(self.row.file, path, "missing field (the documented response has it)")
        return EMPTY if value in ("", None) else value

    def formula_value(self, formula: Any, label: str) -> Any:
        values: dict[str, Any] = {}
        for name in formula.names:
            v = self.named(name)
            if v is EMPTY:
                return EMPTY
            if name in formula.choices:
                values[name] = v
                continue
            number = number_of(v)
            if number is None:
                raise ValueProblem(self.row.file, self.row.path, f"{label}: {name} is {describe(v)}, not a number")
            values[name] = number
        try:
            return formula.evaluate(values)
        except FormulaProblem as exc:
            raise ValueProblem(self.row.file, self.row.path, f"{label}: {exc}") from None

    def joined_row(self, spec: FieldSpec, label: str) -> Row:
        endpoint = spec.join or ""
        if not self.joins.payloads.get(endpoint):
            raise NeedPayload([endpoint])
        key_field = self.mapping.endpoints[endpoint].key or ""
        if spec.on is not None:
            on = self.value(spec.on, f"{label} (join key)")
            on_path = self.row.path
        else:
            on, on_path = self.row.read(FieldPath(key_field, 0, ((key_field, None),)))
            self.reads.add((self.row.file, on_path))
            if on is MISSING:
                raise ValueProblem(self.row.file, on_path, f"missing field (needed to find the {endpoint} row)")
        table = self.joins.table(endpoint)
        if not isinstance(on, str) or on not in table:
            files = ", ".join(p.file for p in self.joins.payloads[endpoint])
            raise JoinMiss(self.row.file, on_path, f"{label}: {on!r} is not in the {self.mapping.giving(endpoint)} payload "
                                                   f"({files}), which gives its {spec.path.text if spec.path else 'value'}")
        return table[on]

    def value(self, spec: FieldSpec, label: str) -> Any:
        """The spec's value: text, a Decimal, a bool, or EMPTY; raises ValueProblem or NeedPayload."""
        if spec.kind == "first_of":
            return self.first_of(spec, label)
        if spec.when is not None and not self.holds(spec.when):
            return self.finish(spec, EMPTY, label)
        if spec.kind == "constant":
            return spec.constant
        if spec.kind == "param":
            return self.param(spec, label)
        if spec.kind == "formula":
            out = self.formula_value(spec.formula, label)
            return self.finish(spec, out if out is EMPTY or isinstance(out, bool) else Decimal(repr(out)), label)
        if spec.kind == "template":
            pieces = []
            for literal, name in spec.template:
                pieces.append(literal)
                if name is not None:
                    v = self.named(name)
                    pieces.append("" if v is EMPTY else (str(v).lower() if isinstance(v, bool) else str(v)))
            return self.finish(spec, "".join(pieces), label)
        try:
            row = self.joined_row(spec, label) if spec.join else self.row
        except NeedPayload:
            if not spec.optional:
                raise
            self.joins.absent.setdefault(spec.join or "", set()).add(re.sub(r"\[\d+\]", "", self.label or label))
            return self.finish(spec, EMPTY, label)
        assert spec.path is not None
        raw, path = row.read(spec.path)
        self.reads.add((row.file, path))
        if raw is MISSING:
            if not spec.optional:
                raise ValueProblem(row.file, path, "missing field (the documented response has it)")
            raw = EMPTY
        return self.finish(spec, raw, label, row.file, path)

    def param(self, spec: FieldSpec, label: str) -> Any:
        """A query parameter of the request the payload answers: the response does not repeat it, so it is known
        only when the request was made here or the user says it."""
        name = spec.param or ""
        if name in self.params:
            return self.finish(spec, self.params[name], label)
        if spec.optional or spec.default is not NOT_SET:
            return self.finish(spec, EMPTY, label)
        declared = self.mapping.endpoints[self.source.endpoint].params[name]
        values = f" (one of {', '.join(declared.values)})" if declared.values else ""
        raise ValueProblem(self.row.file, "", f"{label}: needs the request parameter {name}{values} ({declared.description}), which the "
                                               f"response of {self.mapping.endpoints[self.source.endpoint].request} does not repeat: say "
                                               f"which request the payload answers ({name}=VALUE)")

    def finish(self, spec: FieldSpec, raw: Any, label: str, file: str | None = None, path: str | None = None) -> Any:
        """Split, map and default a value read by `spec`."""
        file, path = file or self.row.file, path or self.row.path
        value = EMPTY if raw in ("", None) or (not isinstance(raw, bool) and raw in spec.means_empty) else raw
        if spec.split is not None and value is not EMPTY:
            if not isinstance(value, str):
                raise ValueProblem(file, path, f"{label}: expected text to split, got {describe(value)}")
            sep, part = spec.split
            parts = value.split(sep)
            if not -len(parts) <= part < len(parts):
                raise ValueProblem(file, path, f"{label}: {value!r} has no part {part} when split at {sep!r}")
            value = parts[part]
        if spec.mapping is not None:
            probe = "" if value is EMPTY else (str(value).lower() if isinstance(value, bool) else str(value))
            if probe in spec.mapping:
                value = spec.mapping[probe]
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            elif value is not EMPTY:
                known = ", ".join(repr(k) for k in spec.mapping)
                raise ValueProblem(file, path, f"{label}: {value!r} is not a value this mapping knows (known: {known})")
        if value is EMPTY and spec.default is not NOT_SET:
            return spec.default
        return value

    def first_of(self, spec: FieldSpec, label: str) -> Any:
        """The first alternative that gives a value; one whose payload is missing, or whose joined payload has
        no row for this key, gives way to the next."""
        needed: list[str] = []
        missed: list[JoinMiss] = []
        for alt in spec.first_of:
            try:
                value = self.value(alt, label)
            except NeedPayload as exc:
                needed += exc.endpoints
                continue
            except JoinMiss as exc:
                missed.append(exc)
                continue
            if value is not EMPTY:
                return value
        if spec.default is NOT_SET:
            if needed and missed:
                wanted = " or ".join(self.mapping.giving(e) for e in dict.fromkeys(needed))
                miss = missed[0]
                raise ValueProblem(miss.file, miss.path, f"{miss.message}; nor was the payload of {wanted} given")
            if needed:
                raise NeedPayload(needed)
            if missed:
                raise missed[0]
        return self.finish(spec, EMPTY, label)


def guarded(read: Callable[[], Any], problems: list[tuple[str, str, str]]) -> Any:
    """Run one read, turning a ValueProblem into a collected problem (MISSING is returned then)."""
    try:
        return read()
    except ValueProblem as exc:
        problems.append((exc.file, exc.path, exc.message))
        return MISSING
