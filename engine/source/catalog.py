"""Finding rule sets and dated tables on disk (bundled and user folders),
choosing the versions in force on a date, and loading a rule-set version with
everything it extends and the table versions in force on the evaluation date."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import RuleFileError, UsageError, argument
from . import model
from .analysis import check_analysis, merged_analysis
from .provenance import DocumentText, scan_texts
from .ruleset import FileRecord, Origin, RuleSet, build_entry, check_citations
from .validation import checked_document

RULES_ENV = "MARGINSPEC_RULES"
RULE_FILE = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})\.yaml\Z")
SPEC = re.compile(r"([a-z][a-z0-9_]*)/([a-z][a-z0-9_-]*)(?:@([0-9]{4}-[0-9]{2}-[0-9]{2}))?")
DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
MAX_EXTENDS = 32  # rule files in one `extends` chain; real chains are a handful long
TABLE_META = ("schema", "documents", "table", "valid_from", "valid_to", "carried_over", "imported")
"""Keys of a table file that describe the file, not the table body."""


def bundled_dir(name: str) -> Path:
    """`rules` or `exchanges` as installed in the wheel, or beside the package in a checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    return package / name


def date_argument(at: Any, what: str) -> dt.date | None:
    """A date given to the Python API as a date, an ISO text or None; a UsageError for anything else."""
    if at is None or (isinstance(at, dt.date) and not isinstance(at, dt.datetime)):
        return at
    if isinstance(at, dt.datetime):
        return at.astimezone(dt.UTC).date() if at.tzinfo else at.date()
    return parse_date(argument(at, str, what, "a date, or text like 2025-01-31"), what)


def parse_date(text: str, what: str) -> dt.date:
    """A date written YYYY-MM-DD, the whole text of it; a day that does not exist says so."""
    m = DATE.fullmatch(text)
    if not m:
        raise UsageError(f"{what}: expected a date like 2025-01-31, got {text!r}")
    year, month, day = (int(g) for g in m.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        if year == 0:
            why = "there is no year 0"
        elif not 1 <= month <= 12:
            why = f"there is no month {month}"
        else:
            why = f"{calendar.month_name[month]} {year} has {calendar.monthrange(year, month)[1]} days"
        raise UsageError(f"{what}: the date {text} does not exist ({why})") from None


@dataclass(frozen=True)
class RuleFileEntry:
    """One rule file found on disk."""

    id: str
    valid_from: str
    path: Path
    display: str
    exchanges: tuple[Path, ...]


@dataclass(frozen=True)
class TableFileEntry:
    """One version of a dated table found on disk: exchanges/<venue>/tables/<name>/<valid_from>.yaml."""

    id: str  # venue/name
    valid_from: str
    path: Path
    display: str


@dataclass(frozen=True)
class TableSpan:
    """A table version and the days it is in force: valid_from up to (not including) `until`."""

    entry: TableFileEntry
    until: str | None
    status: str
    rows: dict[str, int]


@dataclass(frozen=True)
class Venue:
    id: str
    name: str
    modes: dict[str, dict[str, Any]]
    aliases: dict[str, str]


class Catalog:
    """The rule sets visible from the bundled folder plus user folders."""

    def __init__(self, rule_dirs: list[Path] | None = None, exchange_dirs: list[Path] | None = None):
        """`exchange_dirs`: exchanges/ folders to take table versions from besides the bundled one and those beside
        the rules folders (last wins): where `tables import` writes, so that it merges into what it wrote before."""
        self.exchange_dirs = [Path(p) for p in exchange_dirs or []]
        extra = [Path(argument(p, (str, Path), "rules", "a list of folders (str or Path)"))
                 for p in argument(rule_dirs or [], (list, tuple), "rules", "a list of folders (str or Path)")]
        env = os.environ.get(RULES_ENV)
        if env:
            extra += [Path(p) for p in env.split(os.pathsep) if p]
        self.roots: list[Path] = [bundled_dir("rules")] + extra
        for root in extra:
            if not root.is_dir():
                raise UsageError(f"rules folder {root} does not exist")
        self.files: dict[str, list[RuleFileEntry]] = {}
        self.tables: dict[str, list[TableFileEntry]] = {}
        self.venues: dict[str, Venue] = {}
        self.shadowed: list[tuple[str, str]] = []
        self._scan()
        self._scan_tables()

    def exchanges_beside(self, root: Path) -> tuple[Path, ...]:
        """The exchanges/ folders a rules folder's files read (snapshot files, tables): its own sibling, then the bundled one."""
        own = root.parent / "exchanges"
        bundled = bundled_dir("exchanges")
        return tuple(dict.fromkeys(p for p in (own, bundled) if p.is_dir()))

    def _scan(self) -> None:
        found: dict[tuple[str, str], RuleFileEntry] = {}
        for root in self.roots:
            for path in sorted(root.glob("*/*/*.yaml")):
                m = RULE_FILE.match(path.name)
                if not m:
                    continue
                rid = f"{path.parent.parent.name}/{path.parent.name}"
                key = (rid, m.group(1))
                if key in found:  # a later folder (user rules) shadows an earlier one (bundled)
                    self.shadowed.append((found[key].display, str(path)))
                display = str(path.relative_to(root.parent)) if root.parent in path.parents else str(path)
                found[key] = RuleFileEntry(rid, m.group(1), path, display, self.exchanges_beside(root))
        for (rid, _), entry in sorted(found.items()):
            self.files.setdefault(rid, []).append(entry)
        for exchanges in dict.fromkeys(r for root in reversed(self.roots) for r in self.exchanges_beside(root)):
            for path in sorted(exchanges.glob("*/venue.yaml")):
                self._read_venue(path)

    def _scan_tables(self) -> None:
        """Every table version below the bundled exchanges/ folder and the exchanges/ folders beside user rules
        folders; a user folder's version of a table and date replaces the bundled one."""
        found: dict[tuple[str, str], TableFileEntry] = {}
        roots = [bundled_dir("exchanges")] + [r.parent / "exchanges" for r in self.roots[1:]] + self.exchange_dirs
        for root in dict.fromkeys(r for r in roots if r.is_dir()):
            for path in sorted(root.glob("*/tables/*/*.yaml")):
                m = RULE_FILE.match(path.name)
                if not m:
                    continue
                tid = f"{path.parent.parent.parent.name}/{path.parent.name}"
                key = (tid, m.group(1))
                display = str(path.relative_to(root.parent))
                if key in found:
                    self.shadowed.append((found[key].display, str(path)))
                found[key] = TableFileEntry(tid, m.group(1), path, display)
        for (tid, _), entry in sorted(found.items()):
            self.tables.setdefault(tid, []).append(entry)

    @cached_property
    def document_texts(self) -> dict[str, DocumentText]:
        """The stored texts of cited documents (exchanges/<venue>/documents/*.txt), by URL; user folders win."""
        roots = [bundled_dir("exchanges")] + [r.parent / "exchanges" for r in self.roots[1:]]
        return scan_texts(dict.fromkeys(r for r in roots if r.is_dir()))

    def table_entry(self, tid: str, at: dt.date) -> TableFileEntry:
        """The version of table `tid` in force on `at`; UsageError (with the versions there are) when none is."""
        versions = self.tables.get(tid)
        if not versions:
            known = ", ".join(sorted(self.tables)) or "none"
            raise UsageError(f"no table {tid!r} (exchanges/<venue>/tables/<name>/<valid_from>.yaml; known: {known})")
        chosen = [e for e in versions if dt.date.fromisoformat(e.valid_from) <= at]
        listed = ", ".join(e.valid_from for e in versions)
        if not chosen:
            raise UsageError(f"table {tid} has no version in force on {at} (versions: {listed})")
        until = self._table_doc(chosen[-1]).data.get("valid_to")
        if until and at >= dt.date.fromisoformat(until):
            raise UsageError(f"table {tid}@{chosen[-1].valid_from} was retired on {until}; no later version is in force on {at}")
        return chosen[-1]

    def _table_doc(self, e: TableFileEntry) -> Any:
        doc = checked_document(e.path, e.display, "table")
        data = doc.data
        if data["table"] != e.id:
            raise RuleFileError(f"table is {data['table']!r} but the file lives in {e.id.split('/')[0]}/tables/{e.id.split('/')[1]}/", doc.where(("table",)))
        if data["valid_from"] != e.valid_from:
            raise RuleFileError(f"valid_from is {data['valid_from']} but the file is named {e.valid_from}.yaml", doc.where(("valid_from",)))
        if data.get("valid_to") and data["valid_to"] <= data["valid_from"]:
            raise RuleFileError("valid_to must be after valid_from", doc.where(("valid_to",)))
        return doc

    def read_table(self, e: TableFileEntry) -> tuple[model.Table, dict[str, model.SourceDocument], Any]:
        """One table version as a model, its documents, and its parsed document (for locations)."""
        doc = self._table_doc(e)
        body = {k: v for k, v in doc.data.items() if k not in TABLE_META}
        body["version"] = model.TableVersion(table=e.id, valid_from=e.valid_from, valid_to=self._table_until(e, doc), file=e.display)
        table = build_entry("tables", e.id, body, Origin(doc, ()))
        return table, {k: model.SourceDocument.model_validate(v) for k, v in doc.data["documents"].items()}, doc

    def _table_until(self, e: TableFileEntry, doc: Any) -> str | None:
        """The first day a table version is no longer in force: its valid_to, else the next version's valid_from."""
        later = [v.valid_from for v in self.tables.get(e.id, []) if v.valid_from > e.valid_from]
        return doc.data.get("valid_to") or (min(later) if later else None)

    def table_spans(self, tid: str) -> list[TableSpan]:
        """Every version of a table with the days it is in force and its status."""
        out = []
        for e in self.tables.get(tid, []):
            table, _, _ = self.read_table(e)
            out.append(TableSpan(e, table.version.valid_to if table.version else None, table.status_text(), table.status_counts()))
        return out

    def _read_venue(self, path: Path) -> None:
        doc = checked_document(path, str(path), "venue")
        data = doc.data
        if data["venue"] in self.venues:
            return  # a user folder's manifest wins over the bundled one (user roots are read first)
        aliases: dict[str, str] = {}
        for mode, spec in data["modes"].items():
            for alias in spec.get("aliases", []):
                aliases[alias] = mode
        self.venues[data["venue"]] = Venue(data["venue"], data["name"], data["modes"], aliases)

    def resolve_id(self, venue: str, mode: str) -> str:
        """`venue/mode` with mode aliases from the venue manifest resolved."""
        v = self.venues.get(venue)
        if v and mode in v.aliases:
            mode = v.aliases[mode]
        return f"{venue}/{mode}"

    def entry(self, spec: str, at: dt.date | None) -> RuleFileEntry:
        """The rule file named by `venue/mode@valid_from`, or in force on `at` for `venue/mode`."""
        m = SPEC.fullmatch(spec)
        if not m:
            raise UsageError(f"rule set {spec!r}: expected venue/mode or venue/mode@YYYY-MM-DD")
        rid = self.resolve_id(m.group(1), m.group(2))
        versions = self.files.get(rid)
        if not versions:
            known = ", ".join(sorted(self.files)) or "none"
            raise UsageError(f"unknown rule set {rid!r} (known: {known})")
        if m.group(3):
            for e in versions:
                if e.valid_from == m.group(3):
                    return e
            raise UsageError(f"{rid} has no version {m.group(3)} (versions: {', '.join(e.valid_from for e in versions)})")
        if at is None:
            raise UsageError(f"{rid}: give a date (--at or the snapshot's as_of) or pin a version with @YYYY-MM-DD")
        chosen = [e for e in versions if dt.date.fromisoformat(e.valid_from) <= at]
        if not chosen:
            raise UsageError(f"{rid} has no version in force on {at} (earliest: {versions[0].valid_from})")
        return chosen[-1]

    def load(self, spec: str, at: dt.date | None = None) -> RuleSet:
        """Load the rule set named by `spec` (see `entry`), checking it is in force on `at`. Its tables are the
        versions in force on `at` (for a pinned version without a date: on the version's valid_from)."""
        e = self.entry(spec, at)
        rs = self.load_file(e, at=at)
        if at is not None and "@" not in spec and rs.valid_to and at >= dt.date.fromisoformat(rs.valid_to):
            raise UsageError(f"{rs.id}@{rs.version} was retired on {rs.valid_to}; no later version is in force on {at}")
        return rs

    def load_file(self, e: RuleFileEntry, chain: tuple[str, ...] = (), at: dt.date | None = None) -> RuleSet:
        """One rule file with everything it extends; tables are the versions in force on `at`
        (default: the file's valid_from)."""
        tables_at = at or dt.date.fromisoformat(e.valid_from)
        doc = checked_document(e.path, e.display, "rule-file")
        data = doc.data
        here = f"{e.id}@{e.valid_from}"
        if data["ruleset"] != e.id:
            raise RuleFileError(f"ruleset is {data['ruleset']!r} but the file lives in {e.id}/", doc.where(("ruleset",)))
        if data["valid_from"] != e.valid_from:
            raise RuleFileError(f"valid_from is {data['valid_from']} but the file is named {e.valid_from}.yaml", doc.where(("valid_from",)))
        if data.get("valid_to") and data["valid_to"] <= data["valid_from"]:
            raise RuleFileError("valid_to must be after valid_from", doc.where(("valid_to",)))
        record = FileRecord(e.display, doc.sha256)
        parent: RuleSet | None = None
        if "extends" in data:
            if data["extends"] in chain + (here,):
                raise RuleFileError(f"extends cycle: {' -> '.join(chain + (here, data['extends']))}", doc.where(("extends",)))
            if len(chain) + 1 >= MAX_EXTENDS:
                raise RuleFileError(f"extends chain longer than {MAX_EXTENDS} rule files (from {chain[0] if chain else here})",
                                    doc.where(("extends",)))
            try:
                target = self.entry(data["extends"], None)
            except UsageError as exc:  # a rule file's mistake, not the command line's: say where it is
                raise RuleFileError(f"extends: {exc}", doc.where(("extends",))) from None
            parent = self.load_file(target, chain + (here,), tables_at)
        rs = RuleSet(
            id=e.id,
            version=e.valid_from,
            valid_to=data.get("valid_to"),
            title=data["title"],
            description=data.get("description"),
            file=record,
            files=(parent.files if parent else []) + [record],
            documents=dict(parent.documents) if parent else {},
            notes=(parent.notes if parent else []) + data.get("notes", []),
            extends=data.get("extends"),
        )
        for did, d in data.get("documents", {}).items():
            rs.documents[did] = model.SourceDocument.model_validate(d)
        if parent:
            rs.table_documents.update(parent.table_documents)
        for section in model.SECTIONS:
            if parent:
                rs.section(section).update(parent.section(section))
                rs.origins.update({k: v for k, v in parent.origins.items() if k[0] == section})
            for name, body in data.get(section, {}).items():
                origin = Origin(doc, (section, name))
                if section == "tables" and "table" in body:
                    self._load_table(rs, name, body["table"], origin, tables_at)
                else:
                    rs.section(section)[name] = build_entry(section, name, body, origin)
                    rs.origins[(section, name)] = origin
                    rs.table_documents.pop(name, None)
        for i, name in enumerate(data.get("remove", [])):
            hits = [s for s in model.SECTIONS if name in rs.section(s) and (s, name) in rs.origins and rs.origins[(s, name)].doc is not doc]
            if not hits:
                raise RuleFileError(f"remove: {name!r} is not inherited from {data.get('extends', 'a parent rule set')}", doc.where(("remove", i)))
            for s in hits:
                del rs.section(s)[name]
        rs.analysis = merged_analysis(rs, parent, data.get("analysis"), doc)
        if not rs.documents:
            raise RuleFileError("a rule set needs `documents`: the sources its entries cite", doc.where(()))
        taken = {a.collection for a in rs.axes.values() if a.collection} | {"as_of", "account", "meta"}
        for name, nm in rs.not_modelled.items():
            if nm.collection in taken:
                raise RuleFileError(f"not_modelled.{name}: collection {nm.collection!r} is a part of the snapshot this rule set reads, "
                                    "so it cannot be ignored", rs.origin("not_modelled", name).loc("collection"))
        check_citations(rs)
        check_analysis(rs)
        return rs

    def _load_table(self, rs: RuleSet, name: str, tid: str, origin: Origin, at: dt.date) -> None:
        try:
            e = self.table_entry(tid, at)
        except UsageError as exc:
            raise RuleFileError(f"tables.{name}: {exc}", origin.loc("table")) from None
        table, documents, tdoc = self.read_table(e)
        rs.tables[name] = table
        rs.origins[("tables", name)] = Origin(tdoc, ())
        rs.table_documents[name] = documents
        rs.files.append(FileRecord(e.display, tdoc.sha256))

    def window_end(self, e: RuleFileEntry) -> str | None:
        """The first day a rule-set version is no longer in force: its valid_to, else the next version's valid_from."""
        end = checked_document(e.path, e.display, "rule-file").data.get("valid_to")
        later = [v.valid_from for v in self.files.get(e.id, []) if v.valid_from > e.valid_from]
        return end or (later[0] if later else None)

    def table_dates(self, e: RuleFileEntry, until: str | None) -> list[dt.date]:
        """The days within [valid_from, until) on which the version's set of table versions changes, its
        valid_from first: loading the version on each of them builds every combination it is used with."""
        start = e.valid_from
        ids = {t.version.table for t in self.load_file(e).tables.values() if t.version}
        days = {start}
        for tid in ids:
            for span in self.table_spans(tid):
                for day in (span.entry.valid_from, span.until):
                    if day and start < day and (until is None or day < until):
                        days.add(day)
        return [dt.date.fromisoformat(d) for d in sorted(days)]

    def listing(self) -> list[tuple[str, list[tuple[str, str | None, str]]]]:
        """(rule set id, [(valid_from, valid_to, title), ...]) for every rule set, without loading formulas;
        valid_to is the file's own (None when it names none)."""
        out = []
        for rid, versions in sorted(self.files.items()):
            rows = []
            for e in versions:
                doc = checked_document(e.path, e.display, "rule-file")
                rows.append((e.valid_from, doc.data.get("valid_to"), doc.data["title"]))
            out.append((rid, rows))
        return out

    def tables_of(self, rid: str) -> list[tuple[str, str]]:
        """The dated tables a rule set's versions use: (name in the rule set, venue/name of the table), each once."""
        out: dict[tuple[str, str], None] = {}
        for e in self.files.get(rid, []):
            out.update({(n, t.version.table): None for n, t in self.load_file(e).tables.items() if t.version})
        return list(out)
