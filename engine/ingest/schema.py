"""The snapshot JSON Schema annotated with where each field comes from in a
venue's payloads: `x-payload-path` on every field (a list, one entry per
source), `x-payload-rows` on every collection. The schema itself is the one
the rule set generates (Rules.snapshot_schema()); this only adds keys."""

from __future__ import annotations

import copy
from typing import Any

from ..source.ruleset import RuleSet
from .mapping import NOT_SET, Endpoint, FieldSpec, Mapping, Source


def _rows_text(mapping: Mapping, source: Source) -> str:
    ep = mapping.endpoints[source.endpoint]
    data = ep.data if ep.data is not None else (mapping.data if ep.envelope else "")
    base = (f"{data}[0]" if ep.single else f"{data}[]") if data else ("" if ep.single else "[]")
    rows = source.rows.text if source.rows else ""
    text = ".".join(p for p in (base, rows) if p) or "(the response)"
    cond = f" where {source.condition.text()}" if source.condition else ""
    return f"{ep.request}: {text}{cond}"


def _data_text(mapping: Mapping, ep: Endpoint) -> str:
    data = ep.data if ep.data is not None else (mapping.data if ep.envelope else "")
    return f"{data}[]" if data else "[]"


def describe_spec(mapping: Mapping, source: Source, spec: FieldSpec) -> str:
    """One field spec in words: the payload path (through a join), formula, template or constant."""
    if spec.kind == "first_of":
        return " | else ".join(describe_spec(mapping, source, alt) for alt in spec.first_of)
    extra = ""
    if spec.split:
        extra += f", part {spec.split[1]} split at {spec.split[0]!r}"
    if spec.mapping:
        extra += ", mapped " + ", ".join(f"{k!r}->{v!r}" for k, v in list(spec.mapping.items())[:6]) + (", ..." if len(spec.mapping) > 6 else "")
    if spec.when:
        extra += f", when {spec.when.text()}"
    if spec.default is not NOT_SET:
        extra += f", default {spec.default!r}"
    if spec.kind == "path" and spec.join:
        ep = mapping.endpoints[spec.join]
        on = describe_spec(mapping, source, spec.on) if spec.on else ep.key
        return f"{ep.request}: {_data_text(mapping, ep)}.{spec.path.text if spec.path else ''} (joined on {on}){extra}"
    if spec.kind == "path":
        return f"{spec.path.text if spec.path else ''}{extra}"
    lets = {n: describe_spec(mapping, source, s) for n, s in source.let.items()}
    used = [n for n in spec.reads() if n in lets]
    where = "; ".join(f"{n} = {lets[n]}" for n in used)
    return f"{spec.describe()}{extra}" + (f" [{where}]" if where else "")


def _def_of(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any] | None:
    ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
    if not ref or not ref.startswith("#/$defs/"):
        return prop if "properties" in prop else None
    return schema["$defs"].get(ref.split("/")[-1])


def with_payload_paths(schema: dict[str, Any], mapping: Mapping, rs: RuleSet) -> dict[str, Any]:
    """A copy of the snapshot schema with x-payload-path on each field the mapping gives."""
    out = copy.deepcopy(schema)
    out["x-payload-mapping"] = mapping.file
    for collection, coll in mapping.snapshot.items():
        prop = out["properties"].get(collection)
        if prop is None:
            continue
        prop["x-payload-rows"] = [_rows_text(mapping, s) for s in coll.sources]
        body = _def_of(out, prop)
        if body is None:
            continue
        for source in coll.sources:
            rows = _rows_text(mapping, source)
            for name, spec in source.fields.items():
                field = body.get("properties", {}).get(name)
                if field is not None:
                    field.setdefault("x-payload-path", []).append(f"{rows} -> {describe_spec(mapping, source, spec)}")
    return out
