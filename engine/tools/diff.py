"""Semantic diff of two rule-set versions: inputs, parameters and table rows
changed; formulas added, removed or changed, each changed formula with a
verdict on whether it still computes the same thing; and how every case's
values move from one version to the other.

A formula is compared after compilation: temporaries are expanded and
aggregations, references and table reads become named functions of their
(expanded) arguments, so two texts that compile to the same computation are
equal. Parameters are folded in as numbers, so a changed parameter shows up
in every formula that uses it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import sympy

from ..backends.canonical import Canonical
from ..errors import MarginspecError
from ..ir.compiler import compile_plan
from ..run.result import Result
from ..run.rules import Rules
from ..source.ruleset import RuleSet
from .cases import Case, actual_value

MAX_SIMPLIFY_OPS = 400
PROBES = 8
MAX_BOUNDARIES = 40  # branch boundaries probed per formula pair


@dataclass
class Change:
    section: str
    name: str
    kind: str  # added | removed | changed
    detail: str = ""
    verdict: str | None = None  # for changed formulas: equivalent | different | undecided
    sample: str | None = None  # for `different`: a point where the two formulas give different values


@dataclass
class CaseImpact:
    case: str
    target: str
    before: Any
    after: Any
    moved: bool


@dataclass
class Diff:
    a: str
    b: str
    changes: list[Change] = field(default_factory=list)
    impacts: list[CaseImpact] = field(default_factory=list)
    case_errors: list[str] = field(default_factory=list)

    @property
    def equivalent(self) -> bool:
        """True when nothing differs in meaning: every change is an equivalent rewrite of a formula."""
        return all(c.kind == "changed" and c.verdict == "equivalent" for c in self.changes) and not any(i.moved for i in self.impacts)


def _boundaries(expr: sympy.Basic) -> list[sympy.Basic]:
    """Expressions whose zeros are where `expr` changes branch: each comparison's two sides' difference and each
    pair of min/max arguments' difference. Two formulas that differ only on such a boundary (`x <= 1` against
    `x < 1`) differ at no random point, so the probes also visit these zeros."""
    out = [r.lhs - r.rhs for r in expr.atoms(sympy.core.relational.Relational)]
    for m in expr.atoms(sympy.Min, sympy.Max):
        out += [u - v for i, u in enumerate(m.args) for v in m.args[i + 1:]]
    return out


def _probe_points(names: list[sympy.Symbol], edges: list[sympy.Basic]) -> list[dict[sympy.Symbol, sympy.Rational]]:
    """PROBES random points, then for each boundary that is linear in one of its symbols a random point moved
    onto it (that symbol solved for, the others kept)."""
    rng = random.Random(1)

    def random_point() -> dict[sympy.Symbol, sympy.Rational]:
        return {s: sympy.Rational(rng.randint(50, 2000), 1000) for s in names}

    points = [random_point() for _ in range(PROBES)]
    for edge in edges[:MAX_BOUNDARIES]:
        for s in sorted(edge.free_symbols & set(names), key=lambda x: x.name):
            slope = edge.diff(s)
            if slope == 0 or s in slope.free_symbols:
                continue
            point = random_point()
            rest = {k: v for k, v in point.items() if k != s}
            try:
                at = sympy.nsimplify(-edge.xreplace({**rest, s: 0}) / slope.xreplace(rest))
            except (TypeError, ValueError, ZeroDivisionError):
                continue
            if at.is_Rational:
                points.append({**point, s: at})
                break
    return points


def _differs_somewhere(a: sympy.Basic, b: sympy.Basic, boolean: bool) -> str | None:
    """A point where the two formulas give different values, as text ("at x = 0.5, y = 1.2: A gives 1.7,
    B gives -0.7"), found among a few random points and points on the formulas' branch boundaries; None when
    they agree at all of them. Function applications such as aggregations and table reads are treated as free
    values and named as written."""
    apps = sorted((a.atoms(sympy.core.function.AppliedUndef) | b.atoms(sympy.core.function.AppliedUndef)), key=str)
    stand_in = {f: sympy.Symbol(f"_probe{i}", real=True) for i, f in enumerate(apps)}
    shown = {v.name: str(f) for f, v in stand_in.items()}
    a, b = a.xreplace(stand_in), b.xreplace(stand_in)
    names = sorted(a.free_symbols | b.free_symbols, key=lambda x: x.name)
    for point in _probe_points(names, _boundaries(a) + _boundaries(b)):
        try:
            va, vb = a.xreplace(point), b.xreplace(point)
            if boolean:
                if bool(va) != bool(vb):
                    return _sample(point, shown, bool(va), bool(vb))
            elif abs(complex(sympy.N(va - vb, 20))) > 1e-12 * max(1.0, abs(complex(sympy.N(va, 20)))):
                return _sample(point, shown, va, vb)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
    return None


def _sample(point: dict[sympy.Symbol, sympy.Rational], shown: dict[str, str], va: Any, vb: Any) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        z = complex(sympy.N(v, 20))
        return format(z.real, ".10g") if z.imag == 0 else str(z)

    where = ", ".join(f"{shown.get(s.name, s.name)} = {float(v):g}" for s, v in point.items())
    return f"at {where or 'any point'}: A gives {value(va)}, B gives {value(vb)}"


def compare_formulas(a: sympy.Basic, b: sympy.Basic) -> tuple[str, str | None]:
    """(verdict, sample) for two canonical formulas: `equivalent` (proved), `different` with a point where
    they differ, or `undecided` (no point found where they differ, and simplification could not prove them
    equal within MAX_SIMPLIFY_OPS)."""
    if a == b:
        return "equivalent", None
    boolean = isinstance(a, sympy.logic.boolalg.Boolean) or isinstance(b, sympy.logic.boolalg.Boolean)
    sample = _differs_somewhere(a, b, boolean)
    if sample is not None:
        return "different", sample
    try:
        if boolean:
            return ("equivalent" if sympy.simplify_logic(sympy.Xor(a, b)) is sympy.false else "undecided"), None
        difference = a - b
        if sympy.count_ops(difference) <= MAX_SIMPLIFY_OPS and sympy.simplify(difference) == 0:
            return "equivalent", None
    except (TypeError, ValueError, RecursionError, NotImplementedError):
        pass
    return "undecided", None


def verdict(a: sympy.Basic, b: sympy.Basic) -> str:
    """equivalent (proved), different (a point where they differ), or undecided, for two canonical formulas."""
    return compare_formulas(a, b)[0]


def _tables(a: RuleSet, b: RuleSet) -> list[Change]:
    out = []
    for name in sorted(set(a.tables) | set(b.tables)):
        ta, tb = a.tables.get(name), b.tables.get(name)
        if ta is None or tb is None:
            out.append(Change("tables", name, "added" if ta is None else "removed"))
            continue
        rows = []
        for key in sorted(set(ta.tiers) | set(tb.tiers)):
            ra, rb = ta.tiers.get(key), tb.tiers.get(key)
            if ra != rb:
                rows.append(f"{key}: {_tiers(ra)} -> {_tiers(rb)}")
        for label, x, y in (("interval", ta.interval, tb.interval), ("bound", ta.bound.unit, tb.bound.unit),
                            ("columns", sorted(ta.columns), sorted(tb.columns))):
            if x != y:
                rows.append(f"{label}: {x} -> {y}")
        if rows:
            out.append(Change("tables", name, "changed", "; ".join(rows)))
    return out


def _tiers(rows: Any) -> str:
    if rows is None:
        return "(none)"
    shown = lambda v: "inf" if v is None else format(v, "g")
    return "[" + ", ".join(" ".join(f"{k}={shown(v)}" for k, v in r.items()) for r in rows) + "]"


def _entries(a: RuleSet, b: RuleSet, section: str, fields: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(name, kind, detail) for entries added, removed, or with any of `fields` changed."""
    out = []
    ea, eb = a.section(section), b.section(section)
    for name in sorted(set(ea) | set(eb)):
        if name not in ea or name not in eb:
            out.append((name, "added" if name not in ea else "removed", ""))
            continue
        changed = [f"{f}: {getattr(ea[name], f)!r} -> {getattr(eb[name], f)!r}" for f in fields if getattr(ea[name], f) != getattr(eb[name], f)]
        if changed:
            out.append((name, "changed", "; ".join(changed)))
    return out


def semantic_diff(a: RuleSet, b: RuleSet, cases: list[Case]) -> Diff:
    """Everything that differs between two versions, with equivalence verdicts and case impacts."""
    result = Diff(a.ref, b.ref)
    plans = compile_plan(a), compile_plan(b)
    for name, kind, detail in _entries(a, b, "inputs", ("axis", "type", "unit", "default", "values", "to", "minimum", "maximum", "exclusive_minimum")):
        result.changes.append(Change("inputs", name, kind, detail))
    for name, kind, detail in _entries(a, b, "parameters", ("value", "unit")):
        result.changes.append(Change("parameters", name, kind, detail))
    result.changes += _tables(a, b)
    for name, kind, detail in _entries(a, b, "functions", ("params", "formula")):
        result.changes.append(Change("functions", name, kind, detail))
    ca, cb = Canonical(plans[0]), Canonical(plans[1])
    for section, field_name in (("quantities", "formula"), ("thresholds", "when")):
        listed = {n: (k, d) for n, k, d in _entries(a, b, section, (field_name, "axis", "unit") if section == "quantities" else (field_name, "axis"))}
        for name in sorted(set(a.section(section)) | set(b.section(section))):
            if name in listed and listed[name][0] != "changed":
                result.changes.append(Change(section, name, listed[name][0]))
                continue
            v, sample = compare_formulas(ca.quantity(name), cb.quantity(name))
            if name in listed or v != "equivalent":
                detail = listed[name][1] if name in listed else "same text; what it reads changed (a parameter or a function)"
                result.changes.append(Change(section, name, "changed", detail, v, sample))
    _case_impacts(result, a, b, cases)
    return result


def _case_impacts(result: Diff, a: RuleSet, b: RuleSet, cases: list[Case]) -> None:
    from .cases import snapshot_data

    rules = Rules(a), Rules(b)
    for case in cases:
        try:
            data = snapshot_data(case)
        except MarginspecError as exc:
            result.case_errors.append(f"{case.name}: {exc}")
            continue
        values: list[Result | None] = []
        errors: list[str] = []
        for r in rules:
            try:
                values.append(r.evaluate(data))
            except MarginspecError as exc:
                values.append(None)
                errors.append(f"{case.name}: evaluates under one version but not under {r.ruleset.ref}: {exc}")
        if None in values:
            if len(errors) == 1:  # a case written for neither version is not news
                result.case_errors += errors
            continue
        for target in case.body["expect"]:
            try:
                before, after = (actual_value(v, target) for v in values if v is not None)
            except (KeyError, IndexError, ValueError):
                continue
            moved = not _same(before, after)
            result.impacts.append(CaseImpact(case.name, target, before, after, moved))


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
    return bool(x == y)
