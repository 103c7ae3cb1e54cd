"""The derivation of one value: a tree from a quantity or threshold down to the
inputs, with at each step the formula, the formula with this snapshot's
numbers put in, the value, the unit and the quoted sources. The same tree is
printed by the CLI and returned in the JSON result."""

from __future__ import annotations

import io
import math
import tokenize
from typing import Any

from ..language.parser import AGGREGATES
from ..ir.plan import ACCOUNT
from ..run.result import Result
from ..source.ruleset import RuleSet
from ..run.snapshot import Snapshot

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

    def axis_of(self, name: str) -> str | None:
        for section in ("inputs", "quantities", "thresholds"):
            entry = self.rs.section(section).get(name)
            if entry is not None:
                return entry.axis.split(" x ")[0]
        for axis in self.rs.axes.values():
            if axis.key == name:
                return next(a for a, ax in self.rs.axes.items() if ax.key == name)
        return None

    def value(self, name: str) -> Any:
        """A name's value: one number on the account, {row key: value} on a row axis."""
        if name in self.result.trace:
            return self.result.trace[name].value
        if name in self.rs.parameters:
            p = self.rs.parameters[name].value
            return p if isinstance(p, float) else list(p)
        axis = self.axis_of(name)
        if axis == ACCOUNT:
            return self.snap.account.get(name)
        if axis in self.snap.rows:
            return {k: r.get(name) for k, r in zip(self.snap.keys[axis], self.snap.rows[axis])}
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
        """The formula with the numbers of this row put in place of the names it reads directly
        (names inside aggregations range over many rows and stay names)."""
        try:
            tokens = [t for t in tokenize.generate_tokens(io.StringIO(formula).readline)
                      if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)]
        except (tokenize.TokenError, SyntaxError):
            return formula
        out: list[str] = []
        calls: list[bool] = []  # per open parenthesis: does it open an aggregation?
        i = 0
        while i < len(tokens):
            text, kind = tokens[i].string, tokens[i].type
            nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
            if text == "(":
                calls.append(i > 0 and tokens[i - 1].string in AGGREGATES)
            elif text == ")" and calls:
                calls.pop()
            if kind == tokenize.NAME and nxt != "(" and not any(calls) and text not in ("and", "or", "not", "inf", "if"):
                if nxt == "[" and i + 3 < len(tokens) and tokens[i + 3].string == "]":  # name[ref]
                    target, ref = self.value(text), self.at(tokens[i + 2].string, axis, key)
                    if isinstance(target, dict) and ref in target:
                        out.append(fmt(target[ref]))
                        i += 4
                        continue
                v = self.at(text, axis, key)
                out.append(fmt(v) if v is not None else text)
            else:
                out.append(text)
            i += 1
        text = ""
        for piece in out:  # no space after an opening bracket or a dot, none before a closing one, a comma or a dot
            glue = not text or text[-1] in "([." or piece in ")],." or (piece in "([" and text[-1].isalnum() or text.endswith("_"))
            text += piece if glue else " " + piece
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
            t = rs.tables[name]
            return {"name": name, "kind": "table", "title": t.title, "version": t.where, "status": t.status_text(), "keys": list(t.tiers)[:20]}
        if name in rs.functions:
            f = rs.functions[name]
            return {"name": name, "kind": "function", "params": list(f.params), "formula": f.formula}
        for grid, columns in self.result.grids.items():
            if name in columns:
                return {"name": name, "kind": "grid column", "axis": grid, "value": columns[name]}
        return {"name": name, "kind": "key", "axis": self.axis_of(name)}


def explain_tree(rs: RuleSet, result: Result, snap: Snapshot, name: str) -> dict[str, Any]:
    """The derivation tree of `name` (see the module docstring)."""
    return Explainer(rs, result, snap).node(name)
