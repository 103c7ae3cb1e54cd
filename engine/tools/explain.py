"""The derivation of one value: a tree from a quantity or threshold down to the
inputs, with at each step the formula, the formula with this snapshot's
numbers put in, the value, the unit and the quoted sources. The same tree is
printed by the CLI and returned in the JSON result."""

from __future__ import annotations

import ast
import math
from typing import Any

from ..errors import Location, RuleFileError
from ..ir.plan import ACCOUNT
from ..language import syntax
from ..language.terms import AGGREGATES
from ..run.result import Result
from ..run.snapshot import Snapshot
from ..source.ruleset import RuleSet

MAX_ROWS = 6


def fmt(v: Any) -> str:
    """A number as it reads in a derivation (10 significant digits, no grouping so it stays a formula)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else format(v, ".10g")
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v[:8]) + (", ..." if len(v) > 8 else "") + "]"
    return str(v)


class Explainer:
    def __init__(self, rs: RuleSet, result: Result, snap: Snapshot):
        self.rs, self.result, self.snap = rs, result, snap
        self.seen: set[str] = set()

    def qualified_key(self, name: str) -> str | None:
        """The axis whose row key `name` is, written axis.key (a row axis) or axis.by (a grouping axis, on its rows)."""
        axis_name, _, field = name.partition(".")
        axis = self.rs.axes.get(axis_name)
        if axis is not None and field and field in (axis.key, axis.by):
            return axis_name
        return None

    def axis_of(self, name: str) -> str | None:
        qualified = self.qualified_key(name)
        if qualified is not None:
            return qualified
        for section in ("inputs", "quantities", "thresholds"):
            entry = self.rs.section(section).get(name)
            if entry is not None:
                return entry.axis.split(" x ")[0]
        for axis_name, axis in self.rs.axes.items():
            if axis.key == name:
                return axis_name
            if axis.group and axis_name == name:  # a grouping axis' name is a reference on the grouped rows
                return axis.group
        return None

    def value(self, name: str) -> Any:
        """A name's value: one number on the account, {row key: value} on a row axis."""
        if name in self.result.trace:
            return self.result.trace[name].value
        if name in self.rs.parameters:
            return self.rs.parameters[name].shown
        axis = self.axis_of(name)
        if axis == ACCOUNT:
            return self.snap.account.get(name)
        if self.qualified_key(name) is not None and axis in self.snap.keys:
            return {k: k for k in self.snap.keys[axis]}  # a row's key is its own value
        if axis in self.snap.rows:
            group = self.rs.axes.get(name)
            field = group.by if group is not None and group.group and group.by else name
            return {k: r.get(field) for k, r in zip(self.snap.keys[axis], self.snap.rows[axis])}
        return None

    def at(self, name: str, axis: str | None, key: str | None) -> Any:
        """The value of `name` as seen from row `key` of `axis` (account values are seen everywhere)."""
        v = self.value(name)
        mine = self.axis_of(name)
        if mine in (None, ACCOUNT) or name in self.rs.parameters:
            return v if not isinstance(v, dict) else None
        if mine == axis and isinstance(v, dict):
            return v.get(key)
        return None

    def substitute(self, formula: str, axis: str | None, key: str | None) -> str:
        """The formula with the numbers of this row put in place of the names it reads directly (names inside
        aggregations range over many rows and stay names; table columns and function names are not values).
        Read from the formula's syntax tree, and written back into its own text, so its layout is kept."""
        try:
            tree = syntax.parse(formula, Location("formula")).tree
        except RuleFileError:
            return formula
        starts = [0]
        for line in formula.split("\n"):
            starts.append(starts[-1] + len(line) + 1)

        def offset(line: int, col: int) -> int:  # ast columns are UTF-8 byte offsets
            text = formula.split("\n")[line - 1]
            return starts[line - 1] + len(text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

        edits: list[tuple[int, int, str]] = []

        def put(node: ast.expr, value: Any) -> None:
            edits.append((offset(node.lineno, node.col_offset), offset(node.end_lineno or node.lineno, node.end_col_offset or 0), fmt(value)))

        def walk(node: ast.expr) -> None:
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else ""
                if name in AGGREGATES and not (name in ("min", "max") and len(node.args) > 1):
                    return  # ranges over rows: its names stay names
                for child in [*node.args, *(k.value for k in node.keywords)]:
                    walk(child)
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Name):
                target, ref = self.value(node.value.id), self.at(node.slice.id, axis, key)
                if isinstance(target, dict) and ref in target:
                    put(node, target[ref])
            elif isinstance(node, ast.Name):
                v = self.at(node.id, axis, key)
                if v is not None and node.id not in ("inf", "true", "false"):
                    put(node, v)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):  # axis.key; table.column is not a value
                v = self.at(f"{node.value.id}.{node.attr}", axis, key)
                if v is not None:
                    put(node, v)
            elif not isinstance(node, ast.Attribute):
                for part in ast.iter_child_nodes(node):
                    if isinstance(part, ast.expr):
                        walk(part)
                    elif isinstance(part, ast.keyword):
                        walk(part.value)

        walk(tree)
        text = formula
        for start, end, value in sorted(edits, reverse=True):
            text = text[:start] + value + text[end:]
        return text

    def node(self, name: str) -> dict[str, Any]:
        rs = self.rs
        if name in self.result.trace:
            t = self.result.trace[name]
            node: dict[str, Any] = {"name": name, "kind": t.kind, "axis": t.axis, "unit": t.unit, "value": t.value}
            if name in self.seen:
                return {**node, "derived_above": True}
            self.seen.add(name)
            rows_axis = t.axis.split(" x ")[0]
            if rows_axis == ACCOUNT or " x " in t.axis:
                node["substituted"] = self.substitute(t.formula, ACCOUNT, None) if rows_axis == ACCOUNT else None
            else:
                keys = list(t.value)[:MAX_ROWS] if isinstance(t.value, dict) else []
                node["substituted"] = {k: self.substitute(t.formula, rows_axis, k) for k in keys}
            node.update(formula=t.formula, description=t.description, sources=[c.model_dump() for c in t.sources],
                        assumption=t.assumption, ambiguity=t.ambiguity, reads=[self.node(d) for d in t.reads])
            return node
        if name in rs.inputs:
            inp = rs.inputs[name]
            return {"name": name, "kind": "input", "axis": inp.axis, "unit": inp.unit, "value": self.value(name), "description": inp.description}
        if name in rs.parameters:
            p = rs.parameters[name]
            return {"name": name, "kind": "parameter", "unit": p.unit, "value": self.value(name),
                    "sources": [{"document": c.ref, "url": rs.documents[c.ref].url, "quote": c.quote} for c in p.sources],
                    "assumption": p.assumption}
        if name in rs.tables:
            table = rs.tables[name]
            return {"name": name, "kind": "table", "title": table.title, "version": table.where, "status": table.status_text(),
                    "keys": list(table.tiers)[:20]}
        if name in rs.functions:
            f = rs.functions[name]
            return {"name": name, "kind": "function", "params": list(f.params), "formula": f.formula}
        for grid, columns in self.result.grids.items():
            if name in columns:
                return {"name": name, "kind": "grid column", "axis": grid, "value": columns[name]}
        return {"name": name, "kind": "key", "axis": self.axis_of(name), "value": self.value(name)}


def explain_tree(rs: RuleSet, result: Result, snap: Snapshot, name: str) -> dict[str, Any]:
    """The derivation tree of `name` (see the module docstring)."""
    return Explainer(rs, result, snap).node(name)
