"""Provenance of quotes: a citation's quote is the document's own words
(verbatim), someone's summary of it (paraphrase) or a reading derived from it.
Where the project keeps the text of a document (exchanges/<venue>/documents/
<name>.txt, the whole page or verbatim excerpts of it), a verbatim quote must be
found in that text: an auditor can then trust that "verbatim" means verbatim.

A document text file is a short header, a line `---`, then the text:

    url: https://venue.example/help/parameter-adjustment
    title: The venue will adjust margin parameters
    read: 2026-12-06 from a stored copy on a mirror
    coverage: excerpts
    ---
    Published on Jan 2, 2025 ...

`url` may be given more than once (the same page under other addresses). A quote
is found when every part of it between ellipses (…, ..., [...]) occurs in the
text once letters and digits alone are compared (case, spaces, punctuation and
table pipes ignored), so that a copy's lost hyphens or line breaks do not count
as a difference while a changed word or number does."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Location, RuleFileError

ELLIPSIS = re.compile(r"\[\s*(?:\.\.\.|…)\s*\]|…|\.\.\.")
HEADER_KEYS = ("url", "title", "read", "coverage")
MAX_TEXT_BYTES = 2_000_000


@dataclass(frozen=True)
class DocumentText:
    """The stored text of a document (or verbatim excerpts of it)."""

    display: str
    urls: tuple[str, ...]
    title: str
    read: str
    coverage: str  # full | excerpts
    normalized: str


def normalize(text: str) -> str:
    """Letters and digits only, case-folded: what two faithful copies of a text share."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def url_key(url: str) -> str:
    """A URL without scheme, `www.`, trailing slash or fragment-free differences in case of the host."""
    u = re.sub(r"^https?://", "", url.strip()).rstrip("/")
    host, _, rest = u.partition("/")
    return host.lower().removeprefix("www.") + ("/" + rest if rest else "")


def read_document_text(path: Path, display: str) -> DocumentText:
    """Parse one document text file; a located error for a malformed header."""
    raw = path.read_bytes()
    if len(raw) > MAX_TEXT_BYTES:
        raise RuleFileError(f"document text is larger than {MAX_TEXT_BYTES} bytes", Location(display))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RuleFileError("document text is not UTF-8", Location(display)) from None
    head, sep, body = text.partition("\n---\n")
    if not sep:
        raise RuleFileError("expected a header (url:, title:, read:, coverage:) and a line '---' before the text", Location(display, 1, 1))
    fields: dict[str, list[str]] = {}
    for n, line in enumerate(head.splitlines(), 1):
        key, colon, value = line.partition(":")
        if not line.strip():
            continue
        if not colon or key.strip() not in HEADER_KEYS or not value.strip():
            raise RuleFileError(f"header line {line!r}: expected one of {', '.join(HEADER_KEYS)} followed by ': value'", Location(display, n, 1))
        fields.setdefault(key.strip(), []).append(value.strip())
    missing = [k for k in HEADER_KEYS if k not in fields]
    if missing:
        raise RuleFileError(f"header lacks {', '.join(missing)}", Location(display, 1, 1))
    coverage = fields["coverage"][0]
    if coverage not in ("full", "excerpts"):
        raise RuleFileError(f"coverage must be 'full' or 'excerpts', not {coverage!r}", Location(display, 1, 1))
    return DocumentText(display, tuple(fields["url"]), fields["title"][0], fields["read"][0], coverage, normalize(body))


def quote_found(quote: str, doc: DocumentText) -> bool:
    """Whether every part of the quote between ellipses is in the document's text."""
    parts = [normalize(p) for p in ELLIPSIS.split(quote)]
    parts = [p for p in parts if p]
    return bool(parts) and all(p in doc.normalized for p in parts)


def scan_texts(roots: Iterable[Path]) -> dict[str, DocumentText]:
    """Every document text below <root>/<venue>/documents/*.txt, by each of its URLs (later roots win)."""
    out: dict[str, DocumentText] = {}
    for root in roots:
        for path in sorted(root.glob("*/documents/*.txt")):
            doc = read_document_text(path, str(path.relative_to(root.parent)))
            for u in doc.urls:
                out[url_key(u)] = doc
    return out


@dataclass(frozen=True)
class QuoteCheck:
    """How one quote stands against the stored text of its document."""

    verdict: str  # found | missing | no-text | not-verbatim
    text: DocumentText | None


def check_quote(kind: str, quote: str, url: str | None, texts: dict[str, DocumentText]) -> QuoteCheck:
    doc = texts.get(url_key(url)) if url else None
    if kind != "verbatim":
        return QuoteCheck("not-verbatim", doc)
    if doc is None:
        return QuoteCheck("no-text", None)
    return QuoteCheck("found" if quote_found(quote, doc) else "missing", doc)


def describe(kind: str, derived_from: str | None, check: QuoteCheck) -> str:
    """The provenance line an auditor reads beside a quote."""
    if kind != "verbatim":
        return f"{kind}: {derived_from}" if derived_from else kind
    if check.verdict == "found":
        return f"verbatim, found in the stored text ({check.text.display})"  # type: ignore[union-attr]
    if check.verdict == "missing":
        return f"verbatim, but NOT found in the stored text ({check.text.display})"  # type: ignore[union-attr]
    return "verbatim (no stored text of this document to check against)"


def missing_quotes(entries: Iterable[tuple[Any, dict[str, Any], Any]], texts: dict[str, DocumentText]) -> list[RuleFileError]:
    """Located errors for verbatim quotes that the stored text of their document does not contain.
    `entries` are (entry with `sources`, its documents by id, function of a path giving a Location)."""
    problems = []
    for entry, documents, where in entries:
        for i, c in enumerate(getattr(entry, "sources", ()) or ()):
            d = documents.get(c.ref)
            result = check_quote(c.kind, c.quote, d.url if d else None, texts)
            if result.verdict == "missing":
                assert result.text is not None
                problems.append(RuleFileError(
                    f"quote cited as the verbatim text of {c.ref!r} is not in its stored text {result.text.display}: "
                    f"correct it, or say what it is (kind: paraphrase or derived, with derived_from)", where("sources", i, "quote")))
    return problems


def rule_set_problems(rs: Any, texts: dict[str, DocumentText], files: set[str] | None = None) -> list[RuleFileError]:
    """Missing verbatim quotes of a rule set's entries (and its tables'), only those defined in `files` if given."""
    from .model import SECTIONS

    entries = []
    for section in SECTIONS:
        for name, entry in rs.section(section).items():
            origin = rs.origin(section, name)
            if files is not None and origin.doc.file not in files:
                continue
            docs = rs.table_documents.get(name, rs.documents) if section == "tables" else rs.documents
            entries.append((entry, docs, origin.loc))
    return missing_quotes(entries, texts)
