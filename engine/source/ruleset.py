"""A rule set: one rule file merged with the files it extends and the tables
it references, with the origin of every entry kept for error messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import Location, RuleFileError, RuleFileErrors
from . import model
from .yamlfile import Document, PathKey


@dataclass(frozen=True)
class Origin:
    """The document and path an entry was read from."""

    doc: Document
    path: PathKey

    def loc(self, *sub: str | int, key: bool = False) -> Location:
        return self.doc.where(self.path + sub, key=key)


@dataclass(frozen=True)
class FileRecord:
    """A file that contributed to a rule set, for the receipt."""

    path: str
    sha256: str


@dataclass
class RuleSet:
    """Everything one version of one venue mode says, after `extends` is resolved."""

    id: str
    version: str
    valid_to: str | None
    title: str
    description: str | None
    file: FileRecord
    files: list[FileRecord]
    documents: dict[str, model.SourceDocument]
    axes: dict[str, model.Axis] = field(default_factory=dict)
    inputs: dict[str, model.Input] = field(default_factory=dict)
    parameters: dict[str, model.Parameter] = field(default_factory=dict)
    tables: dict[str, model.Table] = field(default_factory=dict)
    functions: dict[str, model.Function] = field(default_factory=dict)
    quantities: dict[str, model.Quantity] = field(default_factory=dict)
    thresholds: dict[str, model.Threshold] = field(default_factory=dict)
    not_modelled: dict[str, model.NotModelled] = field(default_factory=dict)
    analysis: model.Analysis = field(default_factory=model.Analysis)
    notes: list[str] = field(default_factory=list)
    extends: str | None = None
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    table_documents: dict[str, dict[str, model.SourceDocument]] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """`venue/mode@valid_from`, the pinned name of this version."""
        return f"{self.id}@{self.version}"

    @property
    def table_versions(self) -> dict[str, model.TableVersion]:
        """The dated table versions this rule set was built with, by the rule set's table name."""
        return {n: t.version for n, t in self.tables.items() if t.version is not None}

    @property
    def key(self) -> str:
        """`ref` plus the table versions: two builds of one version with other tables have other keys."""
        used = ",".join(f"{v.table}@{v.valid_from}" for v in self.table_versions.values())
        return f"{self.ref}[{used}]" if used else self.ref

    @property
    def venue(self) -> str:
        return self.id.split("/")[0]

    @property
    def mode(self) -> str:
        return self.id.split("/")[1]

    @property
    def content_sha256(self) -> str:
        """Hash over every contributing file: the key of the compiled-kernel cache."""
        h = hashlib.sha256()
        for rec in sorted(self.files, key=lambda r: r.path):
            h.update(f"{rec.path}\0{rec.sha256}\n".encode())
        return h.hexdigest()

    def origin(self, section: str, name: str) -> Origin:
        return self.origins[(section, name)]

    def section(self, name: str) -> dict[str, Any]:
        return getattr(self, name)


_MODELS: dict[str, type[model._Strict]] = {
    "axes": model.Axis,
    "inputs": model.Input,
    "parameters": model.Parameter,
    "functions": model.Function,
    "quantities": model.Quantity,
    "thresholds": model.Threshold,
    "tables": model.Table,
    "not_modelled": model.NotModelled,
}


def build_entry(section: str, name: str, data: dict[str, Any], origin: Origin) -> Any:
    """Build the typed model of one entry; schema validation has already run."""
    try:
        return _MODELS[section].model_validate(data)
    except ValidationError as exc:  # the schema and the models disagree: report it where it happened
        first = exc.errors()[0]
        raise RuleFileError(f"{section}.{name}: {first['msg']}", origin.loc(*first["loc"])) from None


def check_citations(rs: RuleSet) -> None:
    """Every cited `ref` (and a tier row's `ref`) must name a document of the rule set (or of the table's file)."""
    problems: list[RuleFileError] = []
    for section in model.SECTIONS:
        for name, entry in rs.section(section).items():
            known = rs.table_documents.get(name, rs.documents) if section == "tables" else rs.documents
            refs: list[tuple[tuple[str | int, ...], str]] = [(("sources", i, "ref"), cite.ref) for i, cite in enumerate(getattr(entry, "sources", ()) or ())]
            if isinstance(entry, model.Table):
                refs += [(("tiers", key, i, "ref"), ref) for key, row_refs in entry.row_refs.items() for i, ref in enumerate(row_refs) if ref]
            for where, ref in refs:
                if ref not in known:
                    problems.append(
                        RuleFileError(
                            f"{section}.{name}: cites unknown document {ref!r} (known: {', '.join(sorted(known)) or 'none'})",
                            rs.origin(section, name).loc(*where),
                        )
                    )
    if problems:
        raise RuleFileErrors(problems)
