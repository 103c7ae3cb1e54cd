"""Tier tables from venue payloads: the tiers a mapping's table target takes
from the responses of the venue's public endpoints (position tiers, discount
tiers, risk limits), per table key, each tier with the payload cell it came
from.

The bounds are made to fit the tables' convention, lower < x <= upper: a
venue's integer bounds, both inclusive (0-500, 501-1000), become 0-500,
500-1000; rows that give only an upper bound start where the previous one
ends; an open tier the venue states apart from its rows (a minimum rate
beyond the last tier) is added. Tiers must follow each other, with upper
above lower and only the last one open. Every problem names the payload file
and the JSON path, and all of them are raised together."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import RuleFileError
from ..source.catalog import Catalog
from .mapper import Mapper
from .mapping import FieldSpec, Mapping, Source, TableTarget
from .paths import MISSING, describe
from .payloads import Payload
from .reader import EMPTY, RowReader, number_of

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.*/-]{0,63}\Z")
"""A table key as table files write it; `*` (the row for keys not listed) is never imported."""

BOUNDS = ("lower", "upper")


@dataclass(frozen=True)
class Tier:
    """One tier as the table file will hold it, and the payload row it was read from."""

    lower: float
    upper: float | None  # None: no limit
    values: dict[str, float]
    file: str
    path: str


@dataclass(frozen=True)
class KeyTiers:
    """The tiers of one table key, all from one payload."""

    key: str
    tiers: tuple[Tier, ...]
    payload: Payload


@dataclass
class _Read:
    """A row as the mapping reads it, before the bounds are put together."""

    lower: Decimal | None
    upper: Decimal | None
    values: dict[str, Decimal]
    reader: RowReader
    source: Source

    @property
    def where(self) -> tuple[str, str]:
        return self.reader.row.file, self.reader.row.path


def targets_reading(mapping: Mapping, payloads: list[Payload]) -> list[TableTarget]:
    """The table targets that read the endpoint of at least one of the payloads, in the mapping's order."""
    given = {p.endpoint for p in payloads}
    return [t for t in mapping.tables.values() if any(s.endpoint in given for s in t.sources)]


def table_rows(mapping: Mapping, target: str, payloads: list[Payload]) -> dict[str, KeyTiers]:
    """The tiers per key that table target `target` takes from the payloads (empty when its sources keep no
    row of them); raises PayloadError listing every problem."""
    reader = _TableReader(mapping, payloads)
    reads: dict[str, list[_Read]] = {}
    for source in mapping.tables[target].sources:
        for row in reader.rows(source):
            read = reader.read(row, source, target)
            if read is not None:
                reads.setdefault(read[0], []).append(read[1])
    out: dict[str, KeyTiers] = {}
    for key, rows in reads.items():
        tiers = reader.chain(key, rows, mapping.tables[target].table)
        if tiers is not None:
            out[key] = KeyTiers(key, tiers, reader.payload_of[rows[0].where[0]])
    reader.fail()
    return out


class _TableReader(Mapper):
    """Reads a table target's rows, collecting every problem (see Mapper)."""

    def __init__(self, mapping: Mapping, payloads: list[Payload]):
        super().__init__(mapping, payloads)
        self.payload_of = {p.file: p for p in payloads}

    def number(self, reader: RowReader, spec: FieldSpec, label: str, open_ok: bool = False) -> Any:
        """A number read by `spec`; None for an empty value where `open_ok` (no limit), MISSING after a problem."""
        value = self.read_field(reader, spec, label)
        if value is MISSING:
            return MISSING
        if value is EMPTY:
            if open_ok:
                return None
            self.problems.append((reader.row.file, reader.row.path, f"{label}: the payload leaves it empty ({spec.describe()})"))
            return MISSING
        number = number_of(value)
        if number is None:
            self.problems.append((reader.row.file, reader.row.path, f"{label}: expected a number (a JSON number or a decimal string), "
                                                                    f"got {describe(value)} ({spec.describe()})"))
            return MISSING
        return number

    def read(self, reader: RowReader, source: Source, target: str) -> tuple[str, _Read] | None:
        """(key, the row as read), or None after recording a problem."""
        assert source.key is not None
        table = self.mapping.tables[target].table
        key = self.read_field(reader, source.key, f"{table} key")
        if key is MISSING:
            return None
        if key is EMPTY or not isinstance(key, str) or not KEY.match(key):
            shown = "empty" if key is EMPTY else describe(key)
            self.problems.append((reader.row.file, reader.row.path, f"{table} key: {source.key.describe()} gives {shown}, not a table key "
                                                                    "(letters, digits and _ . * / -, at most 64, not starting with *)"))
            return None
        ok = True
        values: dict[str, Decimal] = {}
        for name, spec in source.fields.items():
            if name in BOUNDS:
                continue
            number = self.number(reader, spec, f"{table} {key}.{name}")
            if number is MISSING:
                ok = False
            else:
                values[name] = number
        lower = self.number(reader, source.fields["lower"], f"{table} {key}.lower") if "lower" in source.fields else None
        upper = self.number(reader, source.fields["upper"], f"{table} {key}.upper", open_ok=True)
        if not ok or lower is MISSING or upper is MISSING:
            return None
        return key, _Read(lower, upper, values, reader, source)

    def chain(self, key: str, rows: list[_Read], table: str) -> tuple[Tier, ...] | None:
        """The rows of one key as contiguous lower-open tiers (see the module's docstring), or None after a problem."""
        files = list(dict.fromkeys(r.where[0] for r in rows))
        if len(files) > 1:
            self.problems.append((files[1], rows[[r.where[0] for r in rows].index(files[1])].where[1],
                                  f"key {key} is also given by {files[0]}: import the responses of one request at a time, or leave one out"))
            return None
        source = rows[0].source
        by_upper = source.bounds.first_lower is not None
        rows = sorted(rows, key=lambda r: (r.upper is None, r.upper or 0) if by_upper else (r.lower or 0, r.upper is None, r.upper or 0))
        out: list[Tier] = []
        previous: _Read | None = None
        before = len(self.problems)
        for row in rows:
            file, path = row.where
            if previous is None:
                lower = row.lower if row.lower is not None else (source.bounds.first_lower or Decimal(0))
            elif previous.upper is None:
                self.problems.append((file, path, f"key {key}: a tier follows the tier without an upper bound at {previous.where[1]} "
                                                  "(only the last tier may be open)"))
                break
            else:
                lower = previous.upper
                gap = source.bounds.gap
                if row.lower is not None and row.lower not in (previous.upper, previous.upper + gap):
                    expected = f"{previous.upper}" + (f" (or {previous.upper + gap}: bounds both inclusive)" if gap else "")
                    self.problems.append((file, path, f"key {key}: the tier starts at {row.lower}, but the tier before "
                                                      f"({previous.where[1]}) ends at {previous.upper}; expected {expected}"))
                    break
            if row.upper is not None and row.upper <= lower:
                self.problems.append((file, path, f"key {key}: the tier's upper bound {row.upper} is not above its lower bound {lower}"))
                break
            out.append(Tier(float(lower), None if row.upper is None else float(row.upper), {c: float(v) for c, v in row.values.items()}, file, path))
            previous = row
        if len(self.problems) > before:
            return None
        last = rows[-1]
        if source.beyond_last is not None and last.upper is not None:
            extra = self.beyond(key, last, source, table)
            if extra is None:
                return None
            out.append(extra)
        return tuple(out)

    def beyond(self, key: str, last: _Read, source: Source, table: str) -> Tier | None:
        """The open tier above a bounded last tier, read in the last row (beyond_last)."""
        values: dict[str, float] = {}
        for name, spec in (source.beyond_last or {}).items():
            number = self.number(last.reader, spec, f"{table} {key}.{name} beyond the last tier")
            if number is MISSING:
                return None
            values[name] = float(number)
        assert last.upper is not None
        return Tier(float(last.upper), None, values, *last.where)


def target_problems(mapping: Mapping, catalog: Catalog) -> list[RuleFileError]:
    """Table targets that no import could write: a table the catalog does not have, or a column of its latest
    version that the target neither gives, carries nor may leave to be derived (deduction_of)."""
    problems: list[RuleFileError] = []
    for target in mapping.tables.values():
        versions = catalog.tables.get(target.table)
        if not versions:
            problems.append(RuleFileError(f"tables.{target.name}: no table {target.table!r} (exchanges/<venue>/tables/<name>/)", target.where))
            continue
        latest = versions[-1]
        columns = catalog.read_table(latest)[0].columns
        for source in target.sources:
            gap = column_gap(target, set(source.fields) - set(BOUNDS), {c: bool(col.deduction_of) for c, col in columns.items()})
            if gap:
                problems.append(RuleFileError(f"tables.{target.name}: {gap} of {target.table}@{latest.valid_from} ({latest.display})", source.where_loc))
    return problems


def column_gap(target: TableTarget, given: set[str], columns: dict[str, bool]) -> str | None:
    """What keeps a target's rows from filling a table's columns ({column: derivable (deduction_of)}), or None:
    a column neither given, carried nor derivable, or a carried column the table lacks."""
    missing = [c for c, derivable in columns.items() if c not in given and c not in target.carried_columns and not derivable]
    if missing:
        return f"column {missing[0]!r} is neither given by the mapping's fields nor listed in carried_columns"
    unknown = [c for c in target.carried_columns if c not in columns]
    return f"carried column {unknown[0]!r} is not a column" if unknown else None
