"""Payload mapping files: the model and its loader.

`exchanges/<venue>/payloads/<name>.yaml` (schema marginspec/payload-mapping/v1)
says how a venue's REST responses become data: which endpoints there are and
how to tell their payloads apart, how the account mode is read, which rows and
fields make each snapshot collection (or each tier table), and which reported
values `reconcile` holds against which engine quantity. The file is data, read
with the safe YAML loader and checked against the shipped JSON Schema; this
module adds the checks a schema cannot make (names that must exist, exactly one
way to get each value, formulas that parse) with file:line:column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import Location, RuleFileError, RuleFileErrors
from ..source.validation import checked_document
from ..source.yamlfile import Document, PathKey
from .formula import RowFormula
from .paths import FieldPath, RowsPath

NOT_SET: Any = object()
KINDS = ("path", "formula", "template", "constant", "param", "first_of")
_TEMPLATE_PART = re.compile(r"\{([^{}]*)\}")
DEFAULT_TOLERANCE = (1e-12, 1e-9)


@dataclass(frozen=True)
class Condition:
    """Which rows a source takes (or when a field spec applies): a formula condition, or field tests."""

    where: Location
    formula: RowFormula | None = None
    tests: tuple[tuple[FieldPath, tuple[Any, ...], bool], ...] = ()  # (field, values, negated)
    same: tuple[tuple[FieldPath, FieldPath], ...] = ()  # (field, the field it must equal)

    def text(self) -> str:
        if self.formula is not None:
            return self.formula.text
        parts = [f"{p.text} {'not in' if neg else 'in'} {list(v)}" for p, v, neg in self.tests]
        return " and ".join(parts + [f"{a.text} == {b.text}" for a, b in self.same])


@dataclass(frozen=True)
class FieldSpec:
    """How one value is read from a row: a path (optionally through a join), a formula, a template,
    a constant or the first of several alternatives, then split, mapped or defaulted."""

    where: Location
    kind: str
    path: FieldPath | None = None
    join: str | None = None
    on: FieldSpec | None = None
    formula: RowFormula | None = None
    template: tuple[tuple[str, str | None], ...] = ()  # (literal text, name read after it or None)
    constant: Any = NOT_SET
    param: str | None = None
    first_of: tuple[FieldSpec, ...] = ()
    split: tuple[str, int] | None = None
    mapping: dict[str, Any] | None = None
    default: Any = NOT_SET
    means_empty: tuple[Any, ...] = ()
    optional: bool = False
    when: Condition | None = None
    note: str | None = None
    assumption: str | None = None

    def describe(self) -> str:
        """How the value is read, in the words of the mapping file (for errors and the schema)."""
        if self.kind == "path":
            return f"{self.path.text if self.path else '?'}" + (f" of the joined {self.join} row" if self.join else "")
        if self.kind == "formula":
            return f"formula {self.formula.text if self.formula else ''}"
        if self.kind == "template":
            return "template " + "".join(lit + ("{" + name + "}" if name is not None else "") for lit, name in self.template)
        if self.kind == "constant":
            return f"constant {self.constant!r}"
        if self.kind == "param":
            return f"the request parameter {self.param}"
        return "first of: " + "; ".join(alt.describe() for alt in self.first_of)

    def reads(self) -> list[str]:
        """The payload field names this spec reads directly (for the schema's x-payload-path)."""
        if self.kind == "path" and self.path is not None:
            return [self.path.text]
        if self.kind == "formula" and self.formula is not None:
            return list(self.formula.names)
        if self.kind == "template":
            return [name for _, name in self.template if name is not None]
        return [r for alt in self.first_of for r in alt.reads()]


@dataclass(frozen=True)
class Bounds:
    """How a venue's tier bounds become lower-open tiers: integer bounds both inclusive (a tier's lower may be
    the previous upper + gap), or rows with upper bounds only (the first tier starts at first_lower)."""

    gap: Decimal = Decimal(0)
    first_lower: Decimal | None = None


@dataclass(frozen=True)
class Source:
    """Rows of one endpoint that make rows of a snapshot collection, a table or reported values."""

    where_loc: Location
    endpoint: str
    rows: RowsPath | None
    condition: Condition | None
    let: dict[str, FieldSpec]
    fields: dict[str, FieldSpec]
    note: str | None = None
    key: FieldSpec | None = None  # tables and reported rows: the row's key
    fill: bool = False  # only keys no earlier source gave
    bounds: Bounds = Bounds()  # tables: how the bounds are written
    beyond_last: dict[str, FieldSpec] | None = None  # tables: an open tier above a bounded last tier


@dataclass(frozen=True)
class Collection:
    name: str
    optional: bool
    sources: tuple[Source, ...]
    description: str | None = None


@dataclass(frozen=True)
class TableTarget:
    """A dated table some endpoints fill: `tables import` writes a version of `table` from their rows."""

    name: str
    table: str  # venue/name
    sources: tuple[Source, ...]
    carried_columns: tuple[str, ...]
    where: Location
    description: str | None = None


@dataclass(frozen=True)
class ReportedField:
    label: str
    quantity: str
    value: FieldSpec
    tolerance: tuple[float, float]  # (abs, rel)
    note: str | None
    where: Location


@dataclass(frozen=True)
class ReportedRows:
    source: Source
    axis: str
    fields: dict[str, ReportedField]


@dataclass(frozen=True)
class Param:
    """A query parameter of an endpoint's request (the response does not repeat it)."""

    name: str
    description: str
    required: bool = False
    default: str | None = None
    values: tuple[str, ...] = ()
    send: bool = True


@dataclass(frozen=True)
class Endpoint:
    name: str
    request: str
    identify: tuple[str, ...]
    where: Location
    doc: str | None = None
    description: str | None = None
    data: str | None = None
    envelope: bool = True
    single: bool = False
    key: str | None = None
    time: tuple[FieldPath, str] | None = None
    note: str | None = None
    public: bool = False
    flatten: bool = False
    params: dict[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class ModeRule:
    endpoint: str
    path: FieldPath
    values: dict[str, str]
    default: str | None
    where: Location


@dataclass(frozen=True)
class ErrorRule:
    path: FieldPath
    allowed: tuple[Any, ...] | None
    message: FieldPath


@dataclass
class Mapping:
    """One payload mapping file of a venue."""

    venue: str
    name: str
    file: str
    title: str
    description: str | None
    documents: dict[str, dict[str, Any]]
    data: str
    errors: tuple[ErrorRule, ...]
    tolerance: tuple[float, float]
    endpoints: dict[str, Endpoint]
    modes: tuple[ModeRule, ...]
    snapshot: dict[str, Collection]
    tables: dict[str, TableTarget]
    reported: tuple[ReportedRows, ...]
    notes: tuple[str, ...] = ()
    base_url: str | None = None

    def doc_url(self, endpoint: Endpoint) -> str | None:
        """The documentation address of an endpoint (its `doc`: a document id or a URL)."""
        if endpoint.doc is None:
            return None
        return self.documents[endpoint.doc]["url"] if endpoint.doc in self.documents else endpoint.doc

    def giving(self, endpoint: str) -> str:
        """`GET /path (endpoint name)`, for messages that say which payload gives a value."""
        e = self.endpoints[endpoint]
        return f"{e.request} ({endpoint})"


class _Loader:
    """Builds the model from a checked document, collecting every located problem."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.problems: list[RuleFileError] = []
        self.endpoint_names = set(doc.data["endpoints"])
        self.current_endpoint = ""  # the endpoint of the source being read: `param` names one of its params

    def loc(self, path: PathKey, key: bool = False) -> Location:
        return self.doc.where(path, key=key)

    def fail(self, path: PathKey, message: str, key: bool = False) -> None:
        self.problems.append(RuleFileError(message, self.loc(path, key)))

    def endpoint_ref(self, name: str, path: PathKey) -> None:
        if name not in self.endpoint_names:
            self.fail(path, f"unknown endpoint {name!r} (endpoints: {', '.join(sorted(self.endpoint_names))})")

    # ---------- pieces

    def condition(self, raw: Any, path: PathKey, choices: dict[str, tuple[str, ...]]) -> Condition | None:
        if raw is None:
            return None
        where = self.loc(path)
        if isinstance(raw, str):
            try:
                return Condition(where, formula=RowFormula.parse(raw, where, choices, condition=True))
            except RuleFileError as exc:
                self.problems.append(exc)
                return None
        tests, same = [], []
        for text, allowed in raw.items():
            if isinstance(allowed, dict) and "same_as" in allowed:
                same.append((FieldPath.parse(text), FieldPath.parse(allowed["same_as"])))
                continue
            negated = isinstance(allowed, dict)
            values = tuple(allowed["not"] if negated else allowed)
            tests.append((FieldPath.parse(text), values, negated))
        return Condition(where, tests=tuple(tests), same=tuple(same))

    def template(self, text: str, path: PathKey) -> tuple[tuple[str, str | None], ...]:
        parts: list[tuple[str, str | None]] = []
        pos = 0
        for m in _TEMPLATE_PART.finditer(text):
            name = m.group(1)
            try:
                FieldPath.parse(name)
            except ValueError:
                self.fail(path, f"template part {{{name}}} is not a field path or a let name")
            parts.append((text[pos:m.start()], name))
            pos = m.end()
        tail = text[pos:]
        if "{" in tail or "}" in tail or any("{" in lit or "}" in lit for lit, _ in parts):
            self.fail(path, f"template {text!r} has an unmatched brace")
        parts.append((tail, None))
        return tuple(parts)

    def field(self, raw: Any, path: PathKey, choices: dict[str, tuple[str, ...]]) -> FieldSpec:
        where = self.loc(path)
        if isinstance(raw, str):
            return FieldSpec(where, "path", path=FieldPath.parse(raw))
        kinds = [k for k in KINDS if k in raw]
        if len(kinds) != 1:
            said = f"it has {', '.join(kinds)}" if kinds else "it has none"
            self.fail(path, f"a field needs exactly one of {', '.join(KINDS)} ({said})")
            return FieldSpec(where, "constant", constant=None)
        kind = kinds[0]
        if "join" in raw:
            self.endpoint_ref(raw["join"], path + ("join",))
            if kind != "path":
                self.fail(path + ("join",), "join reads a path of the joined row; give `path`")
        if "on" in raw and "join" not in raw:
            self.fail(path + ("on",), "`on` goes with `join`")
        if kind in ("constant", "first_of", "formula", "param") and ("split" in raw or "map" in raw):
            self.fail(path, f"split and map apply to a path or a template, not to a {kind}")
        spec: dict[str, Any] = {"where": where, "kind": kind}
        if kind == "path":
            spec["path"] = FieldPath.parse(raw["path"])
        elif kind == "formula":
            try:
                spec["formula"] = RowFormula.parse(raw["formula"], self.loc(path + ("formula",)), choices)
            except RuleFileError as exc:
                self.problems.append(exc)
                return FieldSpec(where, "constant", constant=None)
        elif kind == "template":
            spec["template"] = self.template(raw["template"], path + ("template",))
        elif kind == "constant":
            spec["constant"] = raw["constant"]
        elif kind == "param":
            declared = self.doc.data["endpoints"].get(self.current_endpoint, {}).get("params", {})
            if raw["param"] not in declared:
                known = ", ".join(sorted(declared)) or "none"
                self.fail(path + ("param",), f"param {raw['param']!r} is not a parameter of endpoint {self.current_endpoint!r} (its params: {known})")
            spec["param"] = raw["param"]
        else:
            spec["first_of"] = tuple(self.field(alt, path + ("first_of", i), choices) for i, alt in enumerate(raw["first_of"]))
        if "join" in raw:
            spec["join"] = raw["join"]
            if "on" in raw:
                spec["on"] = self.field(raw["on"], path + ("on",), choices)
        if "split" in raw:
            spec["split"] = (raw["split"]["sep"], raw["split"]["part"])
        if "map" in raw:
            spec["mapping"] = dict(raw["map"])
        if "default" in raw:
            spec["default"] = raw["default"]
        spec["means_empty"] = tuple(raw.get("means_empty", ()))
        spec["optional"] = bool(raw.get("optional", False))
        spec["when"] = self.condition(raw.get("when"), path + ("when",), choices)
        spec["note"], spec["assumption"] = raw.get("note"), raw.get("assumption")
        return FieldSpec(**spec)

    @staticmethod
    def choices_of(let: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        """`let` names whose map gives text: choices that formulas compare with == and !=."""
        out = {}
        for name, raw in let.items():
            if isinstance(raw, dict) and isinstance(raw.get("map"), dict):
                values = list(raw["map"].values())
                if values and all(isinstance(v, str) for v in values):
                    out[name] = tuple(dict.fromkeys(values))
        return out

    def source(self, raw: dict[str, Any], path: PathKey, with_key: bool = False) -> Source:
        self.endpoint_ref(raw["endpoint"], path + ("endpoint",))
        self.current_endpoint = raw["endpoint"]
        let_raw = raw.get("let", {})
        choices = self.choices_of(let_raw)
        let = {n: self.field(v, path + ("let", n), choices) for n, v in let_raw.items()}
        clash = sorted(set(let) & set(raw.get("fields", {})))
        if clash:
            self.fail(path + ("let", clash[0]), f"{clash[0]!r} is both a let name and a field")
        fields = {n: self.field(v, path + ("fields", n), choices) for n, v in raw.get("fields", {}).items()}
        key = self.field(raw["key"], path + ("key",), choices) if with_key and "key" in raw else None
        given = raw.get("bounds", {})
        bounds = Bounds(Decimal(str(given.get("gap", 0))), Decimal(str(given["first_lower"])) if "first_lower" in given else None)
        beyond = ({n: self.field(v, path + ("beyond_last", "fields", n), choices) for n, v in raw["beyond_last"]["fields"].items()}
                  if "beyond_last" in raw else None)
        return Source(self.loc(path), raw["endpoint"], RowsPath.parse(raw["rows"]) if "rows" in raw else None,
                      self.condition(raw.get("where"), path + ("where",), choices), let, fields, raw.get("note"), key,
                      bool(raw.get("fill", False)), bounds, beyond)

    def table_target(self, name: str, raw: dict[str, Any]) -> TableTarget:
        """A table target: its sources give upper, lower (or bounds.first_lower) and columns; the table's columns
        themselves are checked against the table when it is imported (and by `check`)."""
        path: PathKey = ("tables", name)
        sources = []
        for i, s in enumerate(raw["sources"]):
            src = self.source(s, path + ("sources", i), with_key=True)
            sources.append(src)
            if "upper" not in src.fields:
                self.fail(path + ("sources", i, "fields"), "a table source gives `upper` (the tier's upper bound; an empty value: no limit)")
            if ("lower" in src.fields) == (src.bounds.first_lower is not None):
                self.fail(path + ("sources", i, "fields"), "a table source gives `lower`, or says bounds.first_lower (the rows give upper bounds only), not both")
            columns = set(src.fields) - {"lower", "upper"}
            if src.beyond_last is not None and set(src.beyond_last) != columns:
                self.fail(path + ("sources", i, "beyond_last", "fields"), f"the open tier gives the columns the rows give ({', '.join(sorted(columns))}), "
                                                                         f"not {', '.join(sorted(src.beyond_last))}")
        carried = tuple(raw.get("carried_columns", ()))
        for c in carried:
            if any(c in s.fields for s in sources):
                self.fail(path + ("carried_columns",), f"column {c!r} is both given by a source and carried")
        if raw["table"].split("/")[0] != self.doc.data["venue"]:
            self.fail(path + ("table",), f"table {raw['table']!r} is not a table of venue {self.doc.data['venue']!r}")
        return TableTarget(name, raw["table"], tuple(sources), carried, self.loc(path, key=True), raw.get("description"))

    def reported(self, raw: dict[str, Any], path: PathKey, default_tol: tuple[float, float]) -> ReportedRows:
        src = self.source({**raw, "fields": {}}, path, with_key=True)
        if raw["axis"] != "account" and "key" not in raw:
            self.fail(path + ("axis",), f"reported rows on axis {raw['axis']!r} need a `key` (the row key on that axis)")
        if raw["axis"] == "account" and "key" in raw:
            self.fail(path + ("key",), "account values have no row key")
        choices = self.choices_of(raw.get("let", {}))
        fields = {}
        for label, body in raw["fields"].items():
            fpath = path + ("fields", label)
            value = self.field(body["value"], fpath + ("value",), choices) if "value" in body else FieldSpec(self.loc(fpath, key=True), "path", path=FieldPath.parse(label))
            tol = body.get("tolerance", {})
            tolerance = (float(tol.get("abs", default_tol[0])), float(tol.get("rel", default_tol[1]))) if tol else default_tol
            fields[label] = ReportedField(label, body["quantity"], value, tolerance, body.get("note"), self.loc(fpath, key=True))
        return ReportedRows(src, raw["axis"], fields)

    def endpoint(self, name: str, raw: dict[str, Any]) -> Endpoint:
        path: PathKey = ("endpoints", name)
        doc = raw.get("doc")
        if doc is not None and doc not in self.doc.data["documents"] and not re.match(r"^https?://", doc):
            self.fail(path + ("doc",), f"doc {doc!r} is neither a document id of this file nor a URL")
        time = (FieldPath.parse(raw["time"]["path"]), raw["time"]["unit"]) if "time" in raw else None
        params = {n: Param(n, p["description"], p.get("required", False), p.get("default"), tuple(p.get("values", ())), p.get("send", True))
                  for n, p in raw.get("params", {}).items()}
        for n, p in params.items():
            if p.default is not None and p.values and p.default not in p.values:
                self.fail(path + ("params", n, "default"), f"default {p.default!r} is not one of its values ({', '.join(p.values)})")
        return Endpoint(name, raw["request"], tuple(raw["identify"]), self.loc(path, key=True), doc, raw.get("description"),
                        raw.get("data"), raw.get("envelope", True), raw.get("single", False), raw.get("key"), time, raw.get("note"),
                        raw.get("public", False), raw.get("flatten", False), params)

    def build(self, name: str) -> Mapping:
        d = self.doc.data
        tol_raw = d.get("tolerance", {})
        tolerance = (float(tol_raw.get("abs", DEFAULT_TOLERANCE[0])), float(tol_raw.get("rel", DEFAULT_TOLERANCE[1])))
        endpoints = {n: self.endpoint(n, e) for n, e in d["endpoints"].items()}
        modes = []
        for i, m in enumerate(d.get("modes", [])):
            self.endpoint_ref(m["endpoint"], ("modes", i, "endpoint"))
            modes.append(ModeRule(m["endpoint"], FieldPath.parse(m["path"]), dict(m["values"]), m.get("default"), self.loc(("modes", i))))
        envelope = d.get("envelope", {})
        errors = tuple(ErrorRule(FieldPath.parse(r["path"]), tuple(r["not"]) if "not" in r else None, FieldPath.parse(r["message"]))
                       for r in envelope.get("errors", []))
        snapshot = {}
        for cname, body in d.get("snapshot", {}).items():
            sources = tuple(self.source(s, ("snapshot", cname, "sources", i)) for i, s in enumerate(body["sources"]))
            snapshot[cname] = Collection(cname, body.get("optional", False), sources, body.get("description"))
        tables = {tname: self.table_target(tname, body) for tname, body in d.get("tables", {}).items()}
        reported = tuple(self.reported(r, ("reported", i), tolerance) for i, r in enumerate(d.get("reported", [])))
        self.check_joins(endpoints, snapshot, tables, reported)
        if self.problems:
            raise RuleFileErrors(self.problems)
        return Mapping(d["venue"], name, self.doc.file, d["title"], d.get("description"), d["documents"], envelope.get("data", ""),
                       errors, tolerance, endpoints, tuple(modes), snapshot, tables, reported, tuple(d.get("notes", [])), d.get("base_url"))

    def check_joins(self, endpoints: dict[str, Endpoint], *groups: Any) -> None:
        """A join reads the joined endpoint's rows by its key field, which must be declared."""

        def visit(spec: FieldSpec | None) -> None:
            if spec is None:
                return
            if spec.join and spec.join in endpoints and endpoints[spec.join].key is None:
                self.problems.append(RuleFileError(f"join {spec.join!r}: that endpoint declares no `key` field to join on", spec.where))
            visit(spec.on)
            for alt in spec.first_of:
                visit(alt)

        snapshot, tables, reported = groups
        for coll in list(snapshot.values()) + list(tables.values()):
            for src in coll.sources:
                for spec in list(src.let.values()) + list(src.fields.values()) + list((src.beyond_last or {}).values()) + [src.key]:
                    visit(spec)
        for rep in reported:
            for spec in list(rep.source.let.values()) + [rep.source.key] + [f.value for f in rep.fields.values()]:
                visit(spec)


def load_mapping(path: Path, display: str | None = None) -> Mapping:
    """Read, validate and build one mapping file; raises RuleFileError(s) with file:line:column."""
    shown = display or str(path)
    doc = checked_document(path, shown, "payload-mapping")
    return _Loader(doc).build(path.stem)


def mapping_files(exchange_roots: list[Path], venue: str, bundled: Path) -> list[tuple[Path, str]]:
    """The mapping files of a venue as (path, display name), user folders first: a user file of the same
    name replaces the bundled one."""
    found: dict[str, tuple[Path, str]] = {}
    for root in exchange_roots:
        folder = root / venue / "payloads"
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            shown = f"exchanges/{venue}/payloads/{path.name}" if root.resolve() == bundled.resolve() else str(path)
            found.setdefault(path.name, (path, shown))
    return list(found.values())


def venues_with_mappings(exchange_roots: list[Path]) -> list[str]:
    return sorted({p.parent.parent.name for root in exchange_roots for p in root.glob("*/payloads/*.yaml")})


def check_against_rules(mapping: Mapping, rulesets: list[Any]) -> list[RuleFileError]:
    """Names a mapping targets that no version of the venue's rule sets knows: a snapshot collection or field
    that is no input, a reported quantity on an axis that has none of that name. (A version may lack a field
    another has; the mapper leaves out what the version in use does not read, so only names unknown to every
    version are typos.)"""
    problems: list[RuleFileError] = []
    collections: dict[str, set[str]] = {"account": set()}
    quantities: dict[str, set[str]] = {"account": set()}
    for rs in rulesets:
        for axis in rs.axes.values():
            if axis.collection:
                collections.setdefault(axis.collection, set()).add(axis.key)
        for name, inp in rs.inputs.items():
            coll = "account" if inp.axis == "account" else rs.axes[inp.axis].collection
            if coll and not inp.from_:
                collections.setdefault(coll, set()).add(name)
        for name, q in rs.quantities.items():
            quantities.setdefault(q.axis, set()).add(name)
    for cname, coll in mapping.snapshot.items():
        if cname not in collections:
            problems.append(RuleFileError(f"snapshot.{cname}: no {mapping.venue} rule set has a collection of that name "
                                          f"(collections: {', '.join(sorted(collections))})", coll.sources[0].where_loc))
            continue
        for source in coll.sources:
            for name, spec in source.fields.items():
                if name not in collections[cname]:
                    problems.append(RuleFileError(f"{cname}.{name}: no version of the {mapping.venue} rule sets has this input", spec.where))
    for block in mapping.reported:
        for rf in block.fields.values():
            if rf.quantity not in quantities.get(block.axis, set()):
                problems.append(RuleFileError(f"{rf.label}: no version of the {mapping.venue} rule sets has a quantity {rf.quantity!r} "
                                              f"on axis {block.axis!r}", rf.where))
    return problems
