"""The generic mapper: venue payloads in, a snapshot of one rule set out.

One interpreter for every venue: the mapping file says which endpoints give
which collections and fields, the rule set says which inputs it reads (their
types, defaults and enum values). The mapper reads every payload, tells the
account mode and the time, builds each row and converts each value to the
input's type; problems are collected over all payloads and raised together
(PayloadError: file, JSON path, message), so nothing is half-imported. It also
reads the values the venue reports, for reconcile (tier tables' rows: ingest/tables)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from ..errors import PayloadError, SnapshotError, UsageError
from ..source.catalog import Catalog, Venue
from ..source.ruleset import RuleSet
from .mapping import Collection, FieldSpec, Mapping, Source
from .paths import MISSING, RowsProblem, describe, select_rows
from .payloads import Payload, Problem
from .reader import EMPTY, Joins, NeedPayload, RowReader, ValueProblem, guarded, number_of

ACCOUNT = "account"
MAX_PROBLEMS = 30
KEY_MAX = 128


@dataclass
class Reported:
    """One value the venue reports, and the engine quantity it is held against."""

    axis: str
    key: str | None
    label: str
    quantity: str
    value: float
    file: str
    path: str
    tolerance: tuple[float, float]
    note: str | None
    endpoint: str


@dataclass
class Imported:
    """A snapshot made from payloads, with where each row and value came from."""

    mapping: Mapping
    ruleset: RuleSet
    mode: str
    mode_evidence: str
    snapshot: dict[str, Any]
    payloads: list[Payload]
    row_origins: dict[str, tuple[str, str]] = field(default_factory=dict)  # "currencies[0]" -> (file, "data[0].details[0]")
    cell_reads: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)  # (axis, input) -> payload cells
    notes: list[str] = field(default_factory=list)
    set_aside: dict[tuple[str, str], str] = field(default_factory=dict)  # (file, payload row) -> the not_modelled entry

    def payload_error(self, exc: SnapshotError) -> PayloadError:
        """A snapshot problem (a reference to a coin no row has, a price that must be positive...) said in terms
        of the payload row the snapshot row came from."""
        problems: list[Problem] = []
        for path, message in exc.problems:
            row = path.split(".")[0] if "[" in path.split(".")[0] else ""
            origin = self.row_origins.get(row)
            if origin:
                problems.append((origin[0], origin[1], f"{path}: {message}"))
            else:
                problems.append(("(snapshot)", path, message))
        return PayloadError(problems)


class Mapper:
    """Reads payloads through one mapping; `problems` collects everything wrong before anything is built."""

    def __init__(self, mapping: Mapping, payloads: list[Payload]):
        self.mapping = mapping
        self.payloads = payloads
        self.by_endpoint: dict[str, list[Payload]] = {}
        for p in payloads:
            self.by_endpoint.setdefault(p.endpoint, []).append(p)
        self.joins = Joins(self.by_endpoint, mapping)
        self.problems: list[Problem] = []

    def fail(self) -> None:
        """Raise the problems found, one per payload cell (an unknown instrument read by four fields is one problem)."""
        if self.problems:
            first: dict[tuple[str, str], Problem] = {}
            for p in self.problems:
                first.setdefault((p[0], p[1]) if p[1] else (p[0], p[2]), p)
            raise PayloadError(list(first.values())[:MAX_PROBLEMS])

    # ---------- rows of a source

    def rows(self, source: Source) -> list[RowReader]:
        """The rows a source takes from the given payloads (after its rows path and where)."""
        out = []
        for payload in self.by_endpoint.get(source.endpoint, []):
            for top in payload.rows:
                try:
                    rows = select_rows(top, source.rows)
                except RowsProblem as exc:
                    self.problems.append((payload.file, exc.path, exc.message))
                    continue
                for row in rows:
                    reader = RowReader(self.mapping, source, row, self.joins, payload.params)
                    keep = guarded(partial(reader.holds, source.condition), self.problems)
                    if keep is True:
                        out.append(reader)
        return out

    # ---------- mode and time

    def mode(self) -> tuple[str | None, str]:
        """The account mode the payloads say, and which payload says it."""
        found: list[tuple[str, str, str]] = []  # (mode, file, what it says)
        for rule in self.mapping.modes:
            for payload in self.by_endpoint.get(rule.endpoint, []):
                for row in payload.rows:
                    raw, path = row.read(rule.path)
                    if raw in ("", None) or raw is MISSING:
                        if rule.default is None:
                            continue
                        raw = rule.default
                    if str(raw) not in rule.values:
                        known = ", ".join(f"{k} ({v})" for k, v in rule.values.items())
                        self.problems.append((payload.file, path, f"{rule.path.text} {raw!r} is not a mode this mapping knows ({known})"))
                        continue
                    found.append((rule.values[str(raw)], payload.file, f"{payload.file} {path} = {raw!r}"))
        if len({mode for mode, _, _ in found}) > 1:
            said = "; ".join(f"{mode} ({why})" for mode, _, why in found)
            self.problems.append((found[0][1], "", f"the payloads disagree about the account mode: {said}"))
            return None, ""
        return (found[0][0], found[0][2]) if found else (None, "")

    def as_of(self) -> dt.datetime | None:
        times = [t for p in self.payloads for t in p.times]
        return max(times) if times else None

    # ---------- values

    def read_field(self, reader: RowReader, spec: FieldSpec, label: str) -> Any:
        """A value, or EMPTY; MISSING when a problem was recorded."""
        reader.start(label)
        try:
            return reader.value(spec, label)
        except ValueProblem as exc:
            self.problems.append((exc.file, exc.path, exc.message))
        except NeedPayload as exc:
            wanted = " or ".join(self.mapping.giving(e) for e in dict.fromkeys(exc.endpoints))
            self.problems.append((reader.row.file, reader.row.path, f"{label}: needs the payload of {wanted}, which was not given"))
        return MISSING


class SnapshotBuilder(Mapper):
    """Builds the snapshot of one rule set (its declared inputs only) from the payloads."""

    def __init__(self, mapping: Mapping, payloads: list[Payload], rs: RuleSet):
        super().__init__(mapping, payloads)
        self.rs = rs
        self.row_origins: dict[str, tuple[str, str]] = {}
        self.cell_reads: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self.notes: list[str] = []
        self.gaps: set[int] = set()  # sources already reported as giving too few inputs
        self.collection_axis = {a.collection: name for name, a in rs.axes.items() if a.collection}
        self.axis_key = {name: a.key for name, a in rs.axes.items() if a.collection}
        self.not_modelled = {nm.collection: n for n, nm in rs.not_modelled.items() if nm.collection}
        self.set_aside: dict[tuple[str, str], str] = {}

    def inputs_of(self, axis: str) -> dict[str, Any]:
        return {n: i for n, i in self.rs.inputs.items() if i.axis == axis and not i.from_}

    def convert(self, value: Any, name: str, label: str, file: str, path: str) -> Any:
        """A read value as the type of input `name` (MISSING after recording a problem)."""
        inp = self.rs.inputs[name]
        where = label

        def bad(message: str) -> Any:
            self.problems.append((file, path, f"{where}: {message}"))
            return MISSING

        if inp.type == "number":
            number = number_of(value)
            if number is None:
                return bad(f"expected a number (a JSON number or a decimal string), got {describe(value)}")
            return float(number)
        if inp.type == "boolean":
            if isinstance(value, bool):
                return value
            if value in ("true", "false"):
                return value == "true"
            return bad(f"expected true or false, got {describe(value)}")
        if not isinstance(value, str):
            return bad(f"expected text, got {describe(value)}")
        if inp.type == "enum" and value not in inp.values:
            return bad(f"{value!r} is not one of {', '.join(inp.values)} (the values {self.rs.ref} knows)")
        if not 0 < len(value) <= KEY_MAX:
            return bad(f"expected text of 1 to {KEY_MAX} characters, got {describe(value)}")
        return value

    def build_row(self, reader: RowReader, source: Source, axis: str, label_of: str) -> dict[str, Any] | None:
        """One snapshot row: every input of the axis the source gives, converted; None after a problem."""
        declared = self.inputs_of(axis)
        key = self.axis_key.get(axis)
        out: dict[str, Any] = {}
        ok = True
        for name, spec in source.fields.items():
            if name != key and name not in declared:
                continue  # this version of the rule set does not read it
            value = self.read_field(reader, spec, f"{label_of}.{name}")
            if value is MISSING:
                ok = False
                continue
            self.cell_reads.setdefault((axis, name), set()).update(reader.reads)
            if value is EMPTY:
                if name == key:
                    self.problems.append((reader.row.file, reader.row.path, f"{label_of}: the row key {name} is empty"))
                    ok = False
                elif self.rs.inputs[name].default is None:
                    self.problems.append((reader.row.file, reader.row.path, f"{label_of}.{name}: the payload leaves it empty "
                                          f"({spec.describe()}), and {self.rs.ref} needs it (no default)"))
                    ok = False
                continue
            if name == key:
                if not isinstance(value, str) or not 0 < len(value) <= KEY_MAX:
                    self.problems.append((reader.row.file, reader.row.path, f"{label_of}: the row key {name} must be text, got {describe(value)}"))
                    ok = False
                    continue
                out[name] = value
                continue
            converted = self.convert(value, name, f"{label_of}.{name}", reader.row.file, reader.row.path)
            if converted is MISSING:
                ok = False
            else:
                out[name] = converted
        missing = [n for n, i in declared.items() if n not in source.fields and i.default is None]
        if missing and id(source) not in self.gaps:
            self.gaps.add(id(source))
            self.problems.append((reader.row.file, reader.row.path, f"{label_of}: {self.rs.ref} needs {', '.join(missing)} (no default), "
                                  f"and no payload this mapping reads gives them for {self.mapping.giving(source.endpoint)} rows "
                                  f"(mapping {source.where_loc})"))
            ok = False
        return out if ok else None

    def collection(self, coll: Collection, axis: str, name: str) -> list[dict[str, Any]]:
        rows_out: list[dict[str, Any]] = []
        given = [s for s in coll.sources if self.by_endpoint.get(s.endpoint)]
        if not given:
            if not coll.optional:
                wanted = " or ".join(dict.fromkeys(self.mapping.giving(s.endpoint) for s in coll.sources if not s.fill))
                self.problems.append(("(payloads)", "", f"no payload gives {name}: give {wanted}"))
            return rows_out
        key = self.axis_key.get(axis)
        seen: set[Any] = set()
        tried = 0
        for source in given:
            for reader in self.rows(source):
                label = f"{name}[{tried}]"
                tried += 1
                if source.fill and key in source.fields:
                    probe = self.read_field(reader, source.fields[key], f"{label}.{key}")
                    if probe in seen or probe is MISSING:
                        continue
                    seen.add(probe)
                row = self.build_row(reader, source, axis, label)
                if row is None:
                    continue
                self.row_origins[f"{name}[{len(rows_out)}]"] = (reader.row.file, reader.row.path)
                if key is not None and key not in row:
                    self.problems.append((reader.row.file, reader.row.path, f"{label}: the mapping gives no row key ({key})"))
                    continue
                if key is not None:
                    seen.add(row[key])
                rows_out.append(row)
        return rows_out

    def account(self) -> dict[str, Any]:
        coll = self.mapping.snapshot.get(ACCOUNT)
        out: dict[str, Any] = {}
        if coll is None:
            return out
        for source in coll.sources:
            readers = self.rows(source)
            if len(readers) > 1:
                self.problems.append((readers[1].row.file, readers[1].row.path, f"account values come from one row of {source.endpoint}; "
                                      f"the payloads have {len(readers)}"))
                continue
            for reader in readers:
                row = self.build_row(reader, source, ACCOUNT, ACCOUNT)
                for k, v in (row or {}).items():
                    if k in out and out[k] != v:
                        self.problems.append((reader.row.file, reader.row.path, f"account.{k}: {v!r} here but {out[k]!r} from another payload"))
                    out[k] = v
        return out

    def build(self, as_of: dt.datetime) -> dict[str, Any]:
        self.joins.as_of_ms = Decimal(round(as_of.timestamp() * 1000))
        snapshot: dict[str, Any] = {"as_of": as_of.isoformat().replace("+00:00", "Z")}
        account = self.account()
        if account:
            snapshot["account"] = account
        for cname, coll in self.mapping.snapshot.items():
            if cname == ACCOUNT:
                continue
            axis = self.collection_axis.get(cname)
            if axis is None and cname in self.not_modelled:
                kept = self.aside(coll, self.not_modelled[cname])
                if kept:
                    snapshot[cname] = kept
                    nm = self.rs.not_modelled[self.not_modelled[cname]]
                    self.notes.append(f"{len(kept)} row(s) for {cname} set aside: {self.rs.ref} does not model them ({nm.description}); "
                                      "evaluate warns")
                continue
            if axis is None:
                dropped = sum(len(self.rows(s)) for s in coll.sources)
                if dropped:
                    self.notes.append(f"{dropped} row(s) for {cname} left out: {self.rs.ref} has no {cname} collection")
                continue
            snapshot[cname] = self.collection(coll, axis, cname)
        for cname in self.collection_axis:
            if cname not in self.mapping.snapshot:
                self.notes.append(f"{cname}: no payload of {self.mapping.file} gives these rows; the snapshot has none")
        for endpoint, labels in sorted(self.joins.absent.items()):
            self.notes.append(f"{', '.join(sorted(labels))}: no payload of {self.mapping.giving(endpoint)} was given; "
                              "left at the rule set's default")
        defaulted = sorted(f"{i.axis}.{n}" for n, i in self.rs.inputs.items()
                           if i.default is not None and not i.from_ and not any(n in s.fields for c in self.mapping.snapshot.values() for s in c.sources))
        if defaulted:
            self.notes.append(f"inputs no payload gives, left at the rule set's default: {', '.join(defaulted)}")
        return snapshot

    def aside(self, coll: Collection, not_modelled: str) -> list[dict[str, Any]]:
        """The rows of a collection the rule set accepts and ignores (`not_modelled` with `collection`), as the
        mapping reads them, so that evaluating the snapshot warns about them. Nothing checks or uses these
        values: a field that cannot be read is left out of its row rather than stopping the import."""
        out: list[dict[str, Any]] = []
        for source in coll.sources:
            if source.fill:
                continue
            for reader in self.rows(source):
                row: dict[str, Any] = {}
                for name, spec in source.fields.items():
                    reader.start(name)
                    try:
                        value = reader.value(spec, name)
                    except (ValueProblem, NeedPayload):
                        continue
                    if value is not EMPTY:
                        row[name] = float(value) if isinstance(value, Decimal) else value
                self.set_aside[(reader.row.file, reader.row.path)] = not_modelled
                self.row_origins[f"{coll.name}[{len(out)}]"] = (reader.row.file, reader.row.path)
                out.append(row)
        return out


def load_payloads(mapping: Mapping, sources: list[tuple[str, Any, str]],
                  requests: list[tuple[str | None, dict[str, str]]] | None = None) -> list[Payload]:
    """Recognise every (name, parsed JSON, sha256); raises PayloadError listing all problems. `requests` says, per
    source, the endpoint it is known to answer (a download) or None, and its request's query parameters."""
    from .payloads import recognise

    problems: list[Problem] = []
    out: list[Payload] = []
    for i, (name, data, digest) in enumerate(sources):
        endpoint, params = requests[i] if requests else (None, {})
        found = recognise(mapping, name, data, digest, endpoint, params)
        if isinstance(found, list):
            problems += found
        else:
            out.append(found)
    if problems:
        raise PayloadError(problems[:MAX_PROBLEMS])
    return out


def resolve_mode(mapper: Mapper, venue: Venue | None, mode: str | None, ruleset: str | None) -> tuple[str, str]:
    """The mode to import for: given (--mode or RULESET) or said by the payloads; they must agree."""
    said, evidence = mapper.mode()
    mapper.fail()
    if venue is not None and mode is not None and mode in venue.aliases:
        mode = venue.aliases[mode]
    wanted = mode or (ruleset.split("@")[0].split("/")[1] if ruleset else None)
    if wanted and venue is not None and wanted in venue.aliases:
        wanted = venue.aliases[wanted]
    if wanted and said and wanted != said:
        raise UsageError(f"the payloads say the account is in {said} mode ({evidence}), not {wanted}; "
                         "leave out the payload that says the mode, or ask for the mode the payloads have")
    chosen = wanted or said
    if not chosen:
        rules = " or ".join(f"{mapper.mapping.giving(r.endpoint)} ({r.path.text})" for r in mapper.mapping.modes) or "none"
        raise UsageError(f"which account mode? no payload says it; give --mode, or the payload of {rules}")
    return chosen, evidence or ("--mode" if mode else "RULESET")


def import_snapshot(mapping: Mapping, payloads: list[Payload], catalog: Catalog, mode: str | None = None,
                    ruleset: str | None = None, as_of: dt.datetime | None = None, at: dt.date | None = None) -> Imported:
    """The snapshot the payloads make for the rule set in force on `at` (default: the snapshot's date), or
    the version `ruleset` pins. The snapshot's time is `as_of`, else the latest time the payloads carry."""
    mapper = Mapper(mapping, payloads)
    chosen, evidence = resolve_mode(mapper, catalog.venues.get(mapping.venue), mode, ruleset)
    when = as_of or mapper.as_of()
    if when is None:
        timed = ", ".join(f"{e.request} ({e.time[0].text})" for e in mapping.endpoints.values() if e.time) or "none"
        raise UsageError(f"no payload says when it was taken; give --as-of (payloads with a time: {timed})")
    spec = ruleset if ruleset and "@" in ruleset else f"{mapping.venue}/{chosen}"
    rs = catalog.load(spec, at or when.astimezone(dt.UTC).date())
    builder = SnapshotBuilder(mapping, payloads, rs)
    snapshot = builder.build(when)
    builder.fail()
    used = {s.endpoint for c in mapping.snapshot.values() for s in c.sources} | {r.endpoint for r in mapping.modes}
    used |= {spec.join for c in mapping.snapshot.values() for s in c.sources for spec in _specs(s) if spec.join}
    used |= {r.source.endpoint for r in mapping.reported}
    unused = [p.file for p in payloads if p.endpoint not in used]
    notes = builder.notes + ([f"payloads not read: {', '.join(unused)}"] if unused else [])
    snapshot["meta"] = {"import": {
        "venue": mapping.venue, "mapping": mapping.file, "ruleset": rs.ref, "mode": chosen, "mode_from": evidence,
        "as_of_from": "--as-of" if as_of else "the latest time in the payloads",
        "payloads": [{"file": p.file, "endpoint": mapping.endpoints[p.endpoint].request, "sha256": p.sha256,
                      "times": sorted({t.isoformat() for t in p.times})[-1:]} for p in payloads],
        "rows": {row: f"{file} {path}" for row, (file, path) in builder.row_origins.items()}, "notes": notes}}
    return Imported(mapping, rs, chosen, evidence, snapshot, payloads, builder.row_origins, builder.cell_reads, notes, builder.set_aside)


def _specs(source: Source) -> list[FieldSpec]:
    out: list[FieldSpec] = []

    def walk(spec: FieldSpec | None) -> None:
        if spec is None:
            return
        out.append(spec)
        walk(spec.on)
        for alt in spec.first_of:
            walk(alt)

    for spec in list(source.let.values()) + list(source.fields.values()) + [source.key]:
        walk(spec)
    return out


def reported_values(mapping: Mapping, payloads: list[Payload]) -> list[Reported]:
    """Every value the venue reports that the mapping pairs with a quantity (empty ones are not reported)."""
    mapper = Mapper(mapping, payloads)
    out: list[Reported] = []
    for block in mapping.reported:
        for reader in mapper.rows(block.source):
            key = None
            if block.source.key is not None:
                key = mapper.read_field(reader, block.source.key, f"{block.axis} key")
                if key is MISSING:
                    continue
                if key is EMPTY or not isinstance(key, str):
                    mapper.problems.append((reader.row.file, reader.row.path, f"the {block.axis} key is {describe(key)}, not text"))
                    continue
            for label, rf in block.fields.items():
                value = mapper.read_field(reader, rf.value, label)
                if value is MISSING or value is EMPTY:
                    continue
                number = number_of(value)
                cells = sorted(reader.reads) or [(reader.row.file, reader.row.path)]
                named = [c for c in cells if c[1].split(".")[-1] == (rf.value.path.text.split(".")[-1] if rf.value.path else label)]
                file, path = (named or cells)[0]
                if number is None:
                    mapper.problems.append((file, path, f"{label}: expected a number, got {describe(value)}"))
                    continue
                out.append(Reported(block.axis, key, label, rf.quantity, float(number), file, path, rf.tolerance, rf.note,
                                    block.source.endpoint))
    mapper.fail()
    return out
