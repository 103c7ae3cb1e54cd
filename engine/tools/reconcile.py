"""Reconcile: every value a venue reports in its payloads held against the
engine's value of the same quantity, with the tolerance the mapping states.

The mapping pairs each reported field (an adjusted equity, a margin ratio, a
coin's equity ...) with a quantity on an axis (account, a currency, a
position, a risk unit). Each pair gets a line: reported, computed, absolute
and relative difference, tolerance and a verdict. A reported value that the
snapshot itself was built from, for an input the quantity depends on, is
marked `input`: agreeing with it proves nothing (eqUsd read to get the USD
price cannot check the USD equity). Each disagreement carries the engine's
derivation (explain), so the auditor sees which term differs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..ingest import Imported, Reported
from ..run.result import Result
from ..run.snapshot import Snapshot
from ..source.ruleset import RuleSet
from .explain import Explainer, explain_tree

AGREE, DIFFER, INPUT, NO_ROW = "agree", "differ", "input", "no row"


@dataclass
class Line:
    """One reported value against the engine's."""

    axis: str
    key: str | None
    field: str
    quantity: str
    reported: float
    computed: float | None
    abs_diff: float | None
    rel_diff: float | None
    tolerance: tuple[float, float]
    verdict: str
    file: str
    path: str
    note: str | None = None
    explain: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"axis": self.axis, "key": self.key, "field": self.field, "quantity": self.quantity, "reported": self.reported,
                "computed": self.computed, "abs_diff": self.abs_diff, "rel_diff": self.rel_diff,
                "tolerance": {"abs": self.tolerance[0], "rel": self.tolerance[1]}, "verdict": self.verdict,
                "payload": {"file": self.file, "path": self.path}, "note": self.note, "explain": self.explain}


@dataclass
class Reconciliation:
    """All lines of one reconcile, with what could not be compared and why."""

    ruleset: str
    mode: str
    mode_from: str
    as_of: str
    payloads: list[str]
    lines: list[Line]
    not_compared: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(1 for line in self.lines if line.verdict == verdict)

    @property
    def agrees(self) -> bool:
        """True when something was compared and every compared value agrees."""
        return self.count(AGREE) > 0 and self.count(DIFFER) == 0 and self.count(NO_ROW) == 0

    def to_json(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "mode": self.mode, "mode_from": self.mode_from, "as_of": self.as_of,
                "payloads": self.payloads, "counts": {v: self.count(v) for v in (AGREE, DIFFER, NO_ROW, INPUT)},
                "agrees": self.agrees, "lines": [line.to_json() for line in self.lines],
                "not_compared": self.not_compared, "notes": self.notes}


def _depends_on(result: Result, name: str) -> set[str]:
    """Every name (quantity, input, parameter) a quantity is computed from, itself included."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in result.trace:
            stack.extend(result.trace[n].reads)
    return seen


def _computed(result: Result, quantity: str, key: str | None) -> tuple[bool, Any]:
    value = result.trace[quantity].value
    if key is None:
        return True, value
    if not isinstance(value, dict) or key not in value:
        return False, None
    return True, value[key]


def agree(reported: float, computed: float, tolerance: tuple[float, float]) -> tuple[bool, float, float | None]:
    """(agree, |difference|, |difference| / |reported|) under (abs, rel) tolerances."""
    if math.isinf(computed) or math.isinf(reported):
        same = computed == reported
        return same, 0.0 if same else math.inf, None
    diff = abs(computed - reported)
    rel = diff / abs(reported) if reported != 0 else None
    return diff <= tolerance[0] or (rel is not None and rel <= tolerance[1]), diff, rel


def reconcile(imported: Imported, reported: list[Reported], result: Result, snap: Snapshot, explain: bool = True) -> Reconciliation:
    """Hold every reported value against the engine's result for the imported snapshot."""
    rs: RuleSet = imported.ruleset
    axes = {"account"} | set(rs.axes)
    lines: list[Line] = []
    not_compared: list[dict[str, Any]] = []
    for r in reported:
        where = f"{r.file} {r.path}"
        entry = {"axis": r.axis, "key": r.key, "field": r.label, "quantity": r.quantity, "payload": where}
        aside = _set_aside(imported, r)
        if aside is not None:
            not_compared.append({**entry, "not_modelled": aside,
                                 "reason": f"{rs.ref} does not model the row: {rs.not_modelled[aside].description}"})
            continue
        if r.axis not in axes:
            not_compared.append({**entry, "reason": f"{rs.ref} has no {r.axis} axis"})
            continue
        q = rs.quantities.get(r.quantity)
        if q is None or q.axis.split(" x ")[0] != r.axis or " x " in q.axis:
            not_compared.append({**entry, "reason": f"{rs.ref} computes no {r.quantity} on {r.axis}"})
            continue
        found, value = _computed(result, r.quantity, r.key)
        if not found:
            lines.append(Line(r.axis, r.key, r.label, r.quantity, r.value, None, None, None, r.tolerance, NO_ROW, r.file, r.path,
                              f"the snapshot has no {r.axis} row {r.key!r}" + (f"; {r.note}" if r.note else "")))
            continue
        computed = float(value)
        ok, diff, rel = agree(r.value, computed, r.tolerance)
        read_by = [n for n in _depends_on(result, r.quantity)
                   if n in rs.inputs and (r.file, r.path) in imported.cell_reads.get((rs.inputs[n].axis, n), set())]
        verdict = INPUT if read_by else (AGREE if ok else DIFFER)
        note = r.note
        if read_by:
            note = (f"read as input {', '.join(sorted(read_by))}, which {r.quantity} is computed from"
                    + (f"; {r.note}" if r.note else ""))
        line = Line(r.axis, r.key, r.label, r.quantity, r.value, computed, diff, rel, r.tolerance, verdict, r.file, r.path, note)
        if verdict == DIFFER and explain:
            line.explain = _explanation(rs, result, snap, r.quantity, r.axis, r.key)
        lines.append(line)
    notes = list(imported.notes)
    return Reconciliation(rs.ref, imported.mode, imported.mode_evidence, imported.snapshot["as_of"],
                          [p.file for p in imported.payloads], lines, not_compared, notes)


def _set_aside(imported: Imported, r: Reported) -> str | None:
    """The `not_modelled` entry under which the import set aside the payload row this value was reported in."""
    for (file, row), name in imported.set_aside.items():
        if file == r.file and (r.path == row or r.path.startswith((row + ".", row + "["))):
            return name
    return None


def _explanation(rs: RuleSet, result: Result, snap: Snapshot, quantity: str, axis: str, key: str | None) -> dict[str, Any]:
    """The derivation of a quantity, with the disagreeing row's substitution shown even when it is not among
    the first rows the tree lists."""
    tree = explain_tree(rs, result, snap, quantity)
    sub = tree.get("substituted")
    if key is not None and isinstance(sub, dict) and key not in sub:
        sub[key] = Explainer(rs, result, snap).substitute(result.trace[quantity].formula, axis, key)
    return tree
