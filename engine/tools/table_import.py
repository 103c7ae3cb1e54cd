"""`marginspec tables import`: the responses of a venue's public endpoints in,
dated table files out (exchanges/<venue>/tables/<name>/<valid_from>.yaml in a
user folder, beside a rules folder, where `--rules` finds them).

The payload mapping's table targets say which rows make which table's tiers
(ingest/tables); this module makes the table version. Its bound, interval and
columns are those of the version in force on the new date (the base). Keys
the payloads give are replaced whole; every other key of the base is carried
over unchanged and listed under `carried_over` (with `replace`, the version
holds the imported keys only). A version of the same date is merged into:
its keys stay, the imported ones replace theirs. Columns the endpoint does
not give (`carried_columns`) come per key from the base. The file cites the
response (its address, when it was retrieved, its sha256) for every imported
row, quotes the response's first row, and says how the rows were derived.
It is checked as `marginspec check` would (schema, tiers, citations) before
it is written whole, never half."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Location, PayloadError, RuleFileError, UsageError
from ..ingest import KeyTiers, Mapping, Payload, Tier, table_rows, targets_reading
from ..ingest.mapping import TableTarget
from ..ingest.paths import select_rows
from ..ingest.tables import column_gap
from ..ir.tables import tier_table
from ..source.catalog import TABLE_META, Catalog, TableFileEntry, bundled_dir
from ..source.ruleset import Origin, build_entry
from ..source.yamlfile import parse_yaml

STATUSES = ("real", "illustrative")
_TIER = re.compile(r"tier (\S+)\[(\d+)\]")


@dataclass(frozen=True)
class Retrieval:
    """Where one payload came from: the request it answers and when it was retrieved (and how that is known)."""

    file: str
    request: str  # e.g. GET /path?instType=SWAP
    url: str | None  # the address it was (or would be) fetched from
    at: dt.datetime
    at_from: str  # how the time is known: "downloaded", "--retrieved", "the file's modification time"
    sha256: str
    saved: str | None = None  # where a download was saved


@dataclass
class TableVersion:
    """One table version made from payloads, checked, not yet written."""

    table: str
    valid_from: str
    path: Path
    text: str
    imported: dict[str, int]  # key -> tiers
    carried: list[tuple[str, list[str]]]  # (valid_from of the version, keys carried over from it)
    notes: list[str] = field(default_factory=list)


def output_root(out: Path | None, rule_folders: list[Path]) -> Path:
    """The folder whose exchanges/ receives the tables: -o, else the one beside the only --rules folder, else
    the current folder; never marginspec's own bundled data (in a checkout, only when asked for with -o)."""
    if out is None:
        if len(rule_folders) > 1:
            raise UsageError("several --rules folders: say with -o DIR which folder's exchanges/ receives the tables")
        root = rule_folders[0].resolve().parent if rule_folders else Path.cwd()
    else:
        root = out
    bundled = bundled_dir("exchanges").resolve()
    target = (root / "exchanges").resolve()
    installed = bundled.parent == Path(__file__).resolve().parents[1]
    if target == bundled and (installed or out is None):
        where = "the installed package" if installed else "marginspec's own checkout (give -o . to write there on purpose)"
        raise UsageError(f"{target} is {where}: give -o DIR, a folder of your own (its exchanges/ extends the bundled tables "
                         "when DIR/rules is given to --rules)")
    return root


def import_tables(catalog: Catalog, mapping: Mapping, payloads: list[Payload], retrievals: dict[str, Retrieval], valid_from: dt.date,
                  root: Path, only: str | None = None, status: str = "real", replace: bool = False) -> list[TableVersion]:
    """The table versions the payloads make (one per table target that takes rows from them); PayloadError for
    a bad payload, UsageError for a table that cannot take them. Nothing is written."""
    if status not in STATUSES:
        raise UsageError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    targets = targets_reading(mapping, payloads)
    if only is not None:
        targets = [t for t in targets if only in (t.name, t.table, t.table.split("/")[1])]
        if not targets:
            known = ", ".join(t.table for t in mapping.tables.values()) or "none"
            raise UsageError(f"--table {only}: no table of {mapping.file} reads these payloads (its tables: {known})")
    if not targets:
        tabled = "; ".join(dict.fromkeys(mapping.endpoints[s.endpoint].request for t in mapping.tables.values() for s in t.sources))
        raise PayloadError([(p.file, "", f"no table of {mapping.file} is made from {mapping.endpoints[p.endpoint].request} (tables are made from: {tabled})")
                            for p in payloads])
    rows: dict[str, dict[str, KeyTiers]] = {}
    problems: list[tuple[str, str, str]] = []
    for target in targets:
        try:
            rows[target.name] = table_rows(mapping, target.name, payloads)
        except PayloadError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise PayloadError(problems)
    made = [t for t in targets if rows[t.name]]
    if not made:
        said = "; ".join(f"{t.table}: " + "; ".join(_rows_wanted(mapping, t)) for t in targets)
        raise PayloadError([(p.file, "", f"no row of it makes a table tier ({said})") for p in payloads])
    return [_version(catalog, mapping, t, rows[t.name], retrievals, valid_from, root, status, replace) for t in made]


def _rows_wanted(mapping: Mapping, target: TableTarget) -> list[str]:
    return [f"rows of {mapping.endpoints[s.endpoint].request}" + (f" where {s.condition.text()}" if s.condition else "") for s in target.sources]


def write_tables(versions: list[TableVersion]) -> None:
    """Write every version whole: each to a temporary file beside its target, renamed into place once all are written."""
    staged: list[tuple[str, Path]] = []
    try:
        for v in versions:
            v.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=v.path.parent, prefix=f".{v.path.name}.")
            staged.append((tmp, v.path))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(v.text)
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {exc.filename or 'the table'}: {exc.strerror}") from None


# ---------------------------------------------------------------- one version


def _version(catalog: Catalog, mapping: Mapping, target: TableTarget, keys: dict[str, KeyTiers], retrievals: dict[str, Retrieval],
             valid_from: dt.date, root: Path, status: str, replace: bool) -> TableVersion:
    tid = target.table
    venue, name = tid.split("/")
    day = valid_from.isoformat()
    path = root / "exchanges" / venue / "tables" / name / f"{day}.yaml"
    base_entry = _base(catalog, tid, valid_from)
    base: dict[str, Any] = catalog.read_table(base_entry)[2].data
    if "values" in base or base.get("interval") != "lower_open":
        raise UsageError(f"{tid}@{base_entry.valid_from} ({base_entry.display}) is not a table of lower-open tiers (lower < x <= upper), "
                         "the only form tables import writes")
    own = base_entry.path.resolve() == path.resolve()  # this import's own earlier file: merged into, its records kept
    columns: dict[str, Any] = base["columns"]
    notes = _check_columns(target, keys, base_entry, columns)

    base_tiers: dict[str, list[dict[str, Any]]] = base.get("tiers", {})
    kept = {} if replace else {k: v for k, v in base_tiers.items() if k not in keys}
    order = [k for k in base_tiers if k != "*" and (k in keys or k in kept)] + [k for k in keys if k not in base_tiers]
    tiers: dict[str, list[dict[str, Any]]] = {k: [] for k in order + (["*"] if "*" in kept else [])}  # the base's order, new keys after, '*' last
    for key, rows in kept.items():
        tiers[key] = [_restated(row, base["status"], status) for row in rows]
    cited: set[str] = {row["ref"] for rows in kept.values() for row in rows if "ref" in row}
    imported_rows: dict[str, tuple[dict[str, float], str]] = {}
    for key in keys:
        values, from_status, refs = _carried_columns(target, base, base_entry, key)
        imported_rows[key] = (values, "illustrative" if "illustrative" in (status, from_status) else "real")
        cited |= refs
    # what is carried is cited as the base cited it: the documents its rows name, and the sources quoting those documents
    sources = [_carried_source(s, base_entry, own) for s in base.get("sources", []) if s["ref"] in cited]
    documents = {d: body for d, body in base["documents"].items() if d in cited}
    records = _records(base, own, base_entry, keys, kept)
    doc_of: dict[str, str] = {}
    for kt in keys.values():
        payload = kt.payload
        if payload.file not in doc_of:
            doc_id = _document_id(mapping, payload, documents)
            doc_of[payload.file] = doc_id
            documents[doc_id] = _document(mapping, payload, retrievals[payload.file])
            got = [k for k, v in keys.items() if v.payload.file == payload.file]
            sources += _import_sources(mapping, target, payload, doc_id, got, [t for k in got for t in keys[k].tiers])
            r = retrievals[payload.file]
            records["imported"].append({"keys": got, "document": doc_id, "request": r.request, "retrieved": f"{_time(r.at)} ({r.at_from})",
                                        "mapping": f"{mapping.file}, tables.{target.name}"})
    for key, kt in keys.items():
        values, row_status = imported_rows[key]
        tiers[key] = [_row(t.lower, t.upper, {c: v for c, v in t.values.items() if c in columns} | values, doc_of[kt.payload.file], row_status, status)
                      for t in kt.tiers]

    body: dict[str, Any] = {"schema": "marginspec/table/v2", "table": tid, "valid_from": day, "status": status,
                            "title": f"{tid} from {'; '.join(dict.fromkeys(e['request'] for e in records['imported']))} (marginspec tables import)",
                            "description": _description(records, target, day)}
    body |= {k: base[k] for k in ("keyed_by", "bound", "interval", "beyond") if k in base}
    body["columns"] = columns
    body["tiers"] = tiers
    body["imported"] = records["imported"]
    if records["carried_over"]:
        body["carried_over"] = records["carried_over"]
    body["documents"] = documents
    body["sources"] = sources
    for k in ("assumption", "ambiguity"):
        if k in base and (records["carried_over"] or target.carried_columns):
            body[k] = base[k] if own else f"Carried over from {tid}@{base_entry.valid_from}, for its rows and columns kept here: {base[k]}"
    text = _dump(body)
    _check(text, path, tid, day, keys)
    if path.exists():
        notes.append(f"{path} existed: its keys are kept where the payloads give none (merged), and it is replaced")
    carried = [(block["from"], block["keys"]) for block in records["carried_over"]]
    return TableVersion(tid, day, path, text, {k: len(v.tiers) for k, v in keys.items()}, carried, notes)


def _records(base: dict[str, Any], own: bool, entry: TableFileEntry, keys: dict[str, KeyTiers], kept: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Which keys were imported from which response, and which are carried over from which version: the base's own
    records when merging into this import's earlier file (less the keys imported now), else the base's kept keys."""
    if not own:
        carried = list(kept)
        block = {"from": entry.valid_from, "file": entry.display, "keys": carried}
        return {"imported": [], "carried_over": [block | ({"description": base["description"]} if "description" in base else {})] if carried else []}
    imported = [e | {"keys": [k for k in e["keys"] if k not in keys]} for e in base.get("imported", [])]
    carried_over = [b | {"keys": [k for k in b["keys"] if k not in keys]} for b in base.get("carried_over", [])]
    listed = {k for e in imported + carried_over for k in e["keys"]}
    unlisted = [k for k in kept if k not in listed]  # rows written into the file by hand since it was imported
    if unlisted:
        carried_over.append({"from": entry.valid_from, "file": entry.display, "keys": unlisted,
                             "description": "rows of the file this version replaces that no earlier import recorded"})
    return {"imported": [e for e in imported if e["keys"]], "carried_over": [b for b in carried_over if b["keys"]]}


def _base(catalog: Catalog, tid: str, valid_from: dt.date) -> TableFileEntry:
    """The version in force on `valid_from` (the one of that very date, if there is one)."""
    versions = catalog.tables.get(tid, [])
    before = [e for e in versions if dt.date.fromisoformat(e.valid_from) <= valid_from]
    if not before:
        listed = ", ".join(e.valid_from for e in versions) or "none"
        raise UsageError(f"table {tid} has no version in force on {valid_from} to take its bound, interval and columns from "
                         f"(versions: {listed}); import with a later --valid-from")
    return before[-1]


def _check_columns(target: TableTarget, keys: dict[str, KeyTiers], base: TableFileEntry, columns: dict[str, Any]) -> list[str]:
    """Every column of the base is given, carried or derived (deduction_of); given columns it lacks are left out (noted)."""
    given = {c for kt in keys.values() for t in kt.tiers for c in t.values}
    gap = column_gap(target, given, {c: bool(col.get("deduction_of")) for c, col in columns.items()})
    if gap:
        raise RuleFileError(f"tables.{target.name}: {gap} of {target.table}@{base.valid_from} ({base.display})", target.where)
    extra = sorted(given - set(columns))
    return [f"{target.table}@{base.valid_from} has no column {', '.join(extra)}: the response's values are left out"] if extra else []


def _carried_columns(target: TableTarget, base: dict[str, Any], entry: TableFileEntry, key: str) -> tuple[dict[str, float], str, set[str]]:
    """The carried columns' values of `key` (its own rows in the base, else the '*' row), the status they carry (illustrative
    when a row they come from is) and the documents those rows cite."""
    values: dict[str, float] = {}
    worst = "real"
    refs: set[str] = set()
    tiers = base.get("tiers", {})
    rows = tiers.get(key) or tiers.get("*")
    for column in target.carried_columns:
        if not rows:
            raise UsageError(f"{target.table}: column {column} is carried from the version of {entry.valid_from} ({entry.display}), "
                             f"which has no rows for {key} and no '*' row")
        found = {row[column] for row in rows}
        if len(found) != 1:
            raise UsageError(f"{target.table}: column {column} is carried from the version of {entry.valid_from} ({entry.display}), "
                             f"whose rows for {key if key in tiers else '*'} hold several values ({', '.join(map(str, sorted(found)))}), not one")
        values[column] = found.pop()
        if any((row.get("status") or base["status"]) == "illustrative" for row in rows):
            worst = "illustrative"
        refs |= {row["ref"] for row in rows if "ref" in row}
    return values, worst, refs


def _row(lower: float, upper: float | None, values: dict[str, float], ref: str, row_status: str, table_status: str) -> dict[str, Any]:
    row: dict[str, Any] = {"lower": _num(lower), "upper": None if upper is None else _num(upper)}
    row.update({c: _num(v) for c, v in values.items()})
    if row_status != table_status:
        row["status"] = row_status
    row["ref"] = ref
    return row


def _restated(row: dict[str, Any], base_status: str, status: str) -> dict[str, Any]:
    """A row kept from the base, its status written out where the new version's differs from it."""
    out = {k: v for k, v in row.items() if k not in ("status", "ref")}
    own = row.get("status") or base_status
    if own != status:
        out["status"] = own
    if "ref" in row:
        out["ref"] = row["ref"]
    return out


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() and abs(x) < 1e15 else x


# ---------------------------------------------------------------- provenance


def _document_id(mapping: Mapping, payload: Payload, taken: dict[str, Any]) -> str:
    stem = f"{mapping.venue}-{payload.endpoint.replace('_', '-')}-response"
    doc_id, n = stem, 2
    while doc_id in taken:
        doc_id, n = f"{stem}-{n}", n + 1
    return doc_id


def _document(mapping: Mapping, payload: Payload, r: Retrieval) -> dict[str, Any]:
    ep = mapping.endpoints[payload.endpoint]
    url = r.url or mapping.doc_url(ep)
    if not url or not url.startswith(("https://", "http://")):
        raise UsageError(f"{mapping.file}: endpoint {ep.name} has no address to cite (give the mapping a base_url, or the endpoint a doc)")
    how = (f"downloaded by marginspec tables import --fetch at {_time(r.at)}" if r.at_from == "downloaded"
           else f"the saved response {r.file}; retrieved {_time(r.at)} ({r.at_from})")
    saved = f"; saved as {r.saved}" if r.saved else ""
    return {"url": url, "title": f"{r.request}: the venue's response", "retrieved": r.at.date().isoformat(),
            "note": f"{how}{saved}; sha256 {r.sha256}; the endpoint's documentation: {mapping.doc_url(ep) or ep.request}"}


def _import_sources(mapping: Mapping, target: TableTarget, payload: Payload, doc_id: str, keys: list[str], tiers: list[Tier]) -> list[dict[str, Any]]:
    """A verbatim quote of the response's first row this table reads, and how its rows became the tiers."""
    source = next(s for s in target.sources if s.endpoint == payload.endpoint)
    read = {t.path for t in tiers}
    first = next(r for top in payload.rows for r in select_rows(top, source.rows) if r.path in read)
    reads = "; ".join(f"{name} = {spec.describe()}" for name, spec in source.fields.items())
    bounds = []
    if source.bounds.gap:
        bounds.append(f"bounds both inclusive: a tier from the previous upper + {source.bounds.gap:g} is written from the previous upper")
    if source.bounds.first_lower is not None:
        bounds.append(f"each tier starts at the previous tier's upper, the first at {source.bounds.first_lower:g}")
    if source.beyond_last:
        bounds.append("above a bounded last tier, an open tier of " + ", ".join(f"{n} = {s.describe()}" for n, s in source.beyond_last.items()))
    return [
        {"ref": doc_id, "quote": json.dumps(first.data, ensure_ascii=False, separators=(",", ":")),
         "note": f"{first.path or 'the response'}: the first of the response's rows this table reads (as parsed; spacing may differ)"},
        {"ref": doc_id,
         "quote": f"{', '.join(keys)}: tiers with {reads}" + (f" ({'; '.join(bounds)})" if bounds else ""),
         "kind": "derived",
         "derived_from": f"the rows of {payload.file} (sha256 {payload.sha256}) read by `marginspec tables import` through "
                         f"{mapping.file}, tables.{target.name}" + (f" (carried columns: {', '.join(target.carried_columns)})" if target.carried_columns else ""),
         **({"note": f"the mapping's account of the rows: {target.description}"} if target.description else {})},
    ]


def _carried_source(source: dict[str, Any], base: TableFileEntry, own: bool) -> dict[str, Any]:
    if own:
        return source
    note = f"carried over with the rows of {base.id}@{base.valid_from}"
    return {**source, "note": f"{source['note']} ({note})" if source.get("note") else note}


def _description(records: dict[str, list[dict[str, Any]]], target: TableTarget, day: str) -> str:
    parts = [f"{', '.join(e['keys'])} from {e['request']}, retrieved {e['retrieved']}" for e in records["imported"]]
    text = (f"Imported by marginspec tables import from the venue's public endpoint{'s' if len(parts) > 1 else ''}: {'; '.join(parts)}. "
            f"A response shows the table in force when it was retrieved, not since when: valid_from {day} is the date given to the import.")
    if target.carried_columns:
        text += (f" The columns {', '.join(target.carried_columns)} are not in the responses: each imported key takes them from the version "
                 "in force before (its own rows, else the '*' row); a row that takes them from an illustrative row is illustrative.")
    for block in records["carried_over"]:
        said = "; carried_over repeats what that version says of them" if "description" in block else ""
        text += f" The keys {', '.join(block['keys'])} are carried over unchanged from the version of {block['from']} ({block.get('file', '')}{said})."
    return text


def _time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- YAML out, and the checks check would make


class _Flow(dict[str, Any]):
    """A mapping written on one line (tier rows, columns, the bound), as the bundled tables are written."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True))


def _dump(body: dict[str, Any]) -> str:
    shaped = dict(body)
    shaped["bound"] = _Flow(body["bound"]) if "bound" in body else None
    if shaped["bound"] is None:
        del shaped["bound"]
    shaped["columns"] = {c: _Flow(v) for c, v in body["columns"].items()}
    shaped["tiers"] = {k: [_Flow(r) for r in rows] for k, rows in body["tiers"].items()}
    head = "# Written by `marginspec tables import`: the venue's response, cited below; edit with care.\n"
    return head + yaml.dump(shaped, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


def _check(text: str, path: Path, tid: str, day: str, keys: dict[str, KeyTiers]) -> None:
    """The file as `check` would read it: the safe loader, the table schema, the model, the tiers and the citations.
    A problem in an imported key's tiers (a deduction its rates do not give) is the payload's; anything else is a bug here."""
    from ..source.validation import validate

    doc = parse_yaml(text, str(path))
    try:
        validate(doc, "table")
        table = build_entry("tables", tid, {k: v for k, v in doc.data.items() if k not in TABLE_META}, Origin(doc, ()))
        tier_table(tid, table, lambda *p: doc.where(p))
    except RuleFileError as exc:
        m = _TIER.search(exc.message)
        if not m or m.group(1) not in keys or int(m.group(2)) >= len(keys[m.group(1)].tiers):
            raise
        kt = keys[m.group(1)]
        raise PayloadError([(kt.payload.file, kt.tiers[int(m.group(2))].path, exc.message.replace(f"tables.{tid}: ", f"{tid}: "))]) from None
    data = doc.data
    refs = [s["ref"] for s in data.get("sources", [])] + [r["ref"] for rows in data["tiers"].values() for r in rows if "ref" in r]
    unknown = sorted({r for r in refs if r not in data["documents"]})
    if unknown:
        raise RuleFileError(f"{tid}@{day}: cites unknown document {unknown[0]!r}", Location(str(path)))


# ---------------------------------------------------------------- the payloads: saved files or downloads


def saved_payloads(mapping: Mapping, files: list[str], params: list[tuple[str, str]], retrieved: dt.datetime | None
                   ) -> tuple[list[Payload], dict[str, Retrieval]]:
    """The saved responses, each with the given request parameters its endpoint declares, and when each was
    retrieved (`retrieved`, else the file's modification time)."""
    from ..ingest import load_payloads, payload_sources

    given = dict(params)
    if len(given) != len(params):
        name = next(n for n, _ in params if [m for m, _ in params].count(n) > 1)
        raise UsageError(f"--param {name} is given twice: a saved response answers one request (import each response on its own)")
    sources = payload_sources(files)
    loaded = load_payloads(mapping, sources, [(None, given)] * len(sources))
    declared = {n for p in loaded for n in mapping.endpoints[p.endpoint].params}
    unknown = [n for n in given if n not in declared]
    if unknown:
        requests = ", ".join(sorted({mapping.endpoints[p.endpoint].request for p in loaded}))
        raise UsageError(f"--param {unknown[0]}: not a parameter of {requests} (parameters: {', '.join(sorted(declared)) or 'none'})")
    out: dict[str, Retrieval] = {}
    for p in loaded:
        ep = mapping.endpoints[p.endpoint]
        p.params = {k: v for k, v in given.items() if k in ep.params}
        if retrieved is not None:
            at, how = retrieved, "--retrieved"
        elif p.file == "-":
            raise UsageError("a response read from standard input needs --retrieved TIME (when it was retrieved)")
        else:
            at, how = dt.datetime.fromtimestamp(Path(p.file).stat().st_mtime, dt.UTC), "the file's modification time; --retrieved gives the time it was downloaded"
        out[p.file] = Retrieval(p.file, _request_text(mapping, p.endpoint, p.params), _url(mapping, p.endpoint, p.params), at, how, p.sha256)
    return loaded, out


def fetched_payloads(mapping: Mapping, endpoints: list[str], params: list[tuple[str, str]], timeout: float, save: Path | None
                     ) -> tuple[list[Payload], dict[str, Retrieval]]:
    """Download the public endpoints (every combination of the parameters given) and read the answers as payloads;
    `save` keeps each answer as a file."""
    from ..ingest import load_payloads
    from ..ingest.fetch import download, requests_for
    from ..ingest.payloads import UnreadablePayload, parse_payload

    requests = requests_for(mapping, endpoints, params)
    sources: list[tuple[str, Any, str]] = []
    meta: list[tuple[str | None, dict[str, str]]] = []
    got: dict[str, tuple[str, dt.datetime, str | None]] = {}  # payload name -> (url, when, saved as)
    answers: dict[str, tuple[Any, str, dt.datetime, str | None]] = {}  # url -> (data, sha256, when, saved as): one download per address
    statuses: dict[str, int] = {}
    problems = []
    for req in requests:
        if req.url not in answers:
            answer = download(req, timeout)
            saved = None
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                saved = str(save / f"{req.endpoint}-{len(answers) + 1}.json")
                Path(saved).write_bytes(answer.body)
            try:
                data = parse_payload(req.url, answer.body)
            except UnreadablePayload as exc:
                status = f" (HTTP {answer.status})" if answer.status >= 300 else ""
                problems.append((exc.problem[0], exc.problem[1], exc.problem[2] + status))
                continue
            answers[req.url] = (data, hashlib.sha256(answer.body).hexdigest(), answer.at, saved)
            statuses[req.url] = answer.status
        data, digest, at, saved = answers[req.url]
        labels = [f"{k}={v}" for k, v in req.params.items() if not mapping.endpoints[req.endpoint].params[k].send]
        name = req.url + (f" ({', '.join(labels)})" if labels else "")
        sources.append((name, data, digest))
        meta.append((req.endpoint, req.params))
        got[name] = (req.url, at, saved)
    if problems:
        raise PayloadError(problems)
    loaded = load_payloads(mapping, sources, meta)
    refused = [(url, "", f"the venue answered HTTP {status}: an error status, whatever the body says") for url, status in statuses.items() if status >= 300]
    if refused:
        raise PayloadError(refused)
    out = {}
    for p in loaded:
        url, at, saved = got[p.file]
        out[p.file] = Retrieval(p.file, _request_text(mapping, p.endpoint, p.params), url, at, "downloaded", p.sha256, saved)
    return loaded, out


def _request_text(mapping: Mapping, endpoint: str, params: dict[str, str]) -> str:
    ep = mapping.endpoints[endpoint]
    sent = [(k, v) for k, v in params.items() if ep.params[k].send]
    labels = [f"{k}={v}" for k, v in params.items() if not ep.params[k].send]
    return ep.request + (f"?{urllib.parse.urlencode(sent)}" if sent else "") + (f" ({', '.join(labels)})" if labels else "")


def _url(mapping: Mapping, endpoint: str, params: dict[str, str]) -> str | None:
    if not mapping.base_url:
        return None
    ep = mapping.endpoints[endpoint]
    sent = [(k, v) for k, v in params.items() if ep.params[k].send]
    return mapping.base_url + ep.request.split(" ", 1)[1] + (f"?{urllib.parse.urlencode(sent)}" if sent else "")
