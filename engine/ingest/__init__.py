"""Venue payloads (saved REST responses) in: snapshots, reported values and table rows out,
through mapping files that are data (exchanges/<venue>/payloads/*.yaml) and one generic mapper.

Sits beside tools/: it reads source/ (files, rule sets) and language/ (the formula parser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import PayloadError, UsageError
from ..source.catalog import Catalog, bundled_dir
from .mapper import Imported, Reported, import_snapshot, load_payloads, reported_values
from .mapping import Mapping, load_mapping, mapping_files, venues_with_mappings
from .payloads import Payload, UnreadablePayload, data_digest, read_payload
from .tables import KeyTiers, Tier, table_rows, targets_reading

__all__ = ["Imported", "KeyTiers", "Mapping", "Payload", "Reported", "Tier", "exchange_roots", "import_snapshot", "load_payloads",
           "payload_sources", "reported_values", "snapshot_mapping", "table_mapping", "table_rows", "targets_reading"]


def exchange_roots(catalog: Catalog) -> list[Path]:
    """The exchanges folders beside the catalog's rules folders, user folders first, then the bundled one."""
    bundled = bundled_dir("exchanges").resolve()
    users = [p.resolve() for p in reversed(catalog.exchange_dirs)] + [(r.parent / "exchanges").resolve() for r in reversed(catalog.roots)]
    return list(dict.fromkeys([p for p in users if p.is_dir() and p != bundled] + [bundled]))


def snapshot_mapping(catalog: Catalog, venue: str) -> Mapping:
    """The venue's payload mapping that makes snapshots (the one mapping file with a `snapshot` section)."""
    return _venue_mapping(catalog, venue, "snapshot")


def table_mapping(catalog: Catalog, venue: str) -> Mapping:
    """The venue's payload mapping that makes tables (the one mapping file with a `tables` section)."""
    return _venue_mapping(catalog, venue, "tables")


def _venue_mapping(catalog: Catalog, venue: str, section: str) -> Mapping:
    roots = exchange_roots(catalog)
    known = venues_with_mappings(roots)
    if venue not in known:  # checked first: the name becomes part of a path only when it is one of these folders
        raise UsageError(f"no payload mapping for venue {venue!r:.60} (exchanges/<venue>/payloads/*.yaml; venues with one: "
                         f"{', '.join(known) or 'none'})")
    found = [m for m in (load_mapping(path, shown) for path, shown in mapping_files(roots, venue, bundled_dir("exchanges")))
             if getattr(m, section)]
    if len(found) != 1:
        raise UsageError(f"venue {venue!r} needs exactly one payload mapping with a {section} section "
                         f"(found: {', '.join(m.file for m in found) or 'none'})")
    return found[0]


def payload_sources(items: list[str | Path] | list[Any] | dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(name, parsed JSON, sha256) of payload files (paths) or payload data (dicts and lists, named by
    position, or by key when a dict of them is given); raises PayloadError listing every unreadable file."""
    out: list[tuple[str, Any, str]] = []
    problems = []
    named: list[tuple[str | None, Any]] = list(items.items()) if isinstance(items, dict) else [(None, x) for x in items]
    for i, (name, item) in enumerate(named):
        if isinstance(item, (str, Path)) and name is None:
            try:
                data, digest = read_payload(item)
            except UnreadablePayload as exc:
                problems.append(exc.problem)
                continue
            out.append((str(item), data, digest))
        else:
            out.append((name or f"payload[{i}]", item, data_digest(item)))
    if problems:
        raise PayloadError(problems)
    return out
