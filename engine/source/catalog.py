"""Finding rule sets on disk (bundled and user folders), choosing the version
in force on a date, and loading a version with everything it extends."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RuleFileError, UsageError
from . import model
from .ruleset import FileRecord, Origin, RuleSet, build_entry, check_citations
from .validation import checked_document

RULES_ENV = "MARGINSPEC_RULES"
RULE_FILE = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})\.yaml\Z")
SPEC = re.compile(r"([a-z][a-z0-9_]*)/([a-z][a-z0-9_-]*)(?:@([0-9]{4}-[0-9]{2}-[0-9]{2}))?")
DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
MAX_EXTENDS = 32  # rule files in one `extends` chain; real chains are a handful long


def bundled_dir(name: str) -> Path:
    """`rules` or `exchanges` as installed in the wheel, or beside the package in a checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    return package / name


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
class Venue:
    id: str
    name: str
    modes: dict[str, dict[str, Any]]
    aliases: dict[str, str]


class Catalog:
    """The rule sets visible from the bundled folder plus user folders."""

    def __init__(self, rule_dirs: list[Path] | None = None):
        extra = list(rule_dirs or [])
        env = os.environ.get(RULES_ENV)
        if env:
            extra += [Path(p) for p in env.split(os.pathsep) if p]
        self.roots: list[Path] = [bundled_dir("rules")] + extra
        for root in extra:
            if not root.is_dir():
                raise UsageError(f"rules folder {root} does not exist")
        self.files: dict[str, list[RuleFileEntry]] = {}
        self.venues: dict[str, Venue] = {}
        self.shadowed: list[tuple[str, str]] = []
        self._scan()

    def _exchange_roots(self, root: Path) -> tuple[Path, ...]:
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
                found[key] = RuleFileEntry(rid, m.group(1), path, display, self._exchange_roots(root))
        for (rid, _), entry in sorted(found.items()):
            self.files.setdefault(rid, []).append(entry)
        for exchanges in dict.fromkeys(r for root in reversed(self.roots) for r in self._exchange_roots(root)):
            for path in sorted(exchanges.glob("*/venue.yaml")):
                self._read_venue(path)

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
        """Load the rule set named by `spec` (see `entry`), checking it is in force on `at`."""
        e = self.entry(spec, at)
        rs = self.load_file(e)
        if at is not None and "@" not in spec and rs.valid_to and at >= dt.date.fromisoformat(rs.valid_to):
            raise UsageError(f"{rs.id}@{rs.version} was retired on {rs.valid_to}; no later version is in force on {at}")
        return rs

    def load_file(self, e: RuleFileEntry, chain: tuple[str, ...] = ()) -> RuleSet:
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
            parent = self.load_file(self.entry(data["extends"], None), chain + (here,))
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
                if section == "tables" and "file" in body:
                    self._load_table(rs, e, name, body["file"], origin)
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
        if not rs.documents:
            raise RuleFileError("a rule set needs `documents`: the sources its entries cite", doc.where(()))
        check_citations(rs)
        return rs

    def _load_table(self, rs: RuleSet, e: RuleFileEntry, name: str, rel: str, origin: Origin) -> None:
        if ".." in Path(rel).parts:
            raise RuleFileError(f"tables.{name}.file: {rel!r} must stay below exchanges/", origin.loc("file"))
        for root in e.exchanges:
            path = root / rel
            if path.is_file():
                break
        else:
            looked = ", ".join(str(r) for r in e.exchanges) or "no exchanges folder"
            raise RuleFileError(f"tables.{name}.file: {rel!r} not found (looked in {looked})", origin.loc("file"))
        display = f"exchanges/{rel}"
        tdoc = checked_document(path, display, "table")
        body = {k: v for k, v in tdoc.data.items() if k not in ("schema", "documents")}
        body["file"] = rel
        torigin = Origin(tdoc, ())
        rs.tables[name] = build_entry("tables", name, body, torigin)
        rs.origins[("tables", name)] = torigin
        rs.table_documents[name] = {k: model.SourceDocument.model_validate(v) for k, v in tdoc.data["documents"].items()}
        rs.files.append(FileRecord(display, tdoc.sha256))

    def listing(self) -> list[tuple[str, list[tuple[str, str | None]]]]:
        """(rule set id, [(valid_from, valid_to), ...]) for every rule set, without loading formulas."""
        out = []
        for rid, versions in sorted(self.files.items()):
            rows = []
            for e in versions:
                doc = checked_document(e.path, e.display, "rule-file")
                rows.append((e.valid_from, doc.data.get("valid_to")))
            out.append((rid, rows))
        return out
