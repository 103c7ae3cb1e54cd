"""Reconcile output: a text table per level (account, coin, position, ...) with
the engine's derivation beside each disagreement, and the same as one
self-contained HTML section in the audit report's style. Every text from a
payload or a rule file is escaped in HTML (both come from strangers)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..tools.reconcile import AGREE, DIFFER, INPUT, NO_ROW, Line, Reconciliation
from ..version import __version__
from .amounts import table
from .audit_html import CSS, e
from .text import num, render_explanation

EXPLAIN_DEPTH = 2
VERDICT_TEXT = {AGREE: "agree", DIFFER: "DIFFER", NO_ROW: "NO ROW", INPUT: "input"}


def _pct(rel: float | None) -> str:
    return "" if rel is None else format(rel, ".3g")


def _tol(t: tuple[float, float]) -> str:
    return f"abs {t[0]:g} / rel {t[1]:g}"


def _levels(rec: Reconciliation) -> dict[str, list[Line]]:
    out: dict[str, list[Line]] = {}
    for line in rec.lines:
        out.setdefault(line.axis, []).append(line)
    return out


def pruned(tree: dict[str, Any], depth: int, axis: str | None = None, key: str | None = None) -> dict[str, Any]:
    """The derivation tree cut below `depth` levels, with values on `axis` shown for row `key` only (the JSON
    output keeps the whole tree)."""
    node = dict(tree)
    if key is not None and node.get("axis") == axis:
        for part in ("value", "substituted"):
            if isinstance(node.get(part), dict) and key in node[part]:
                node[part] = {key: node[part][key]}
    node["reads"] = [] if depth <= 0 else [pruned(c, depth - 1, axis, key) for c in tree.get("reads", [])]
    return node


def summary_line(rec: Reconciliation) -> str:
    parts = [f"{rec.count(AGREE)} agree", f"{rec.count(DIFFER)} differ"]
    if rec.count(NO_ROW):
        parts.append(f"{rec.count(NO_ROW)} with no engine row")
    if rec.count(INPUT):
        parts.append(f"{rec.count(INPUT)} read as inputs (not a check)")
    parts.append(f"{len(rec.not_compared)} not computed by this rule set")
    return ", ".join(parts)


def render_text(rec: Reconciliation) -> str:
    out = [f"reconcile {rec.ruleset}: {len(rec.payloads)} payload(s), as of {rec.as_of}; mode {rec.mode} ({rec.mode_from})", ""]
    for axis, lines in _levels(rec).items():
        head = ["key", "field", "quantity", "reported", "computed", "abs diff", "rel diff", "tolerance", "verdict"]
        body = [[line.key or "" if axis != "account" else "", line.field, line.quantity, num(line.reported),
                 num(line.computed) if line.computed is not None else "-", num(line.abs_diff) if line.abs_diff is not None else "-",
                 _pct(line.rel_diff), _tol(line.tolerance), VERDICT_TEXT[line.verdict]] for line in lines]
        if axis == "account":
            head, body = head[1:], [r[1:] for r in body]
        out += [f"{axis} ({len(lines)} reported value{'s' if len(lines) != 1 else ''})"] + table(head, body) + [""]
    out.append(summary_line(rec))
    bad = [line for line in rec.lines if line.verdict in (DIFFER, NO_ROW)]
    if bad:
        out += ["", "Disagreements (the engine's derivation beside the reported value; `marginspec explain` gives it in full):"]
    for line in bad:
        where = f"{line.axis} {line.key}" if line.key else line.axis
        out += ["", f"* {where}: {line.field} = {num(line.reported)} reported at {line.file} {line.path}; "
                    f"{line.quantity} = {num(line.computed) if line.computed is not None else 'no such row'}"]
        if line.note:
            out.append(f"  note: {line.note}")
        if line.explain:
            out += ["  " + x for x in render_explanation(pruned(line.explain, EXPLAIN_DEPTH, line.axis, line.key))]
    inputs = [line for line in rec.lines if line.verdict == INPUT]
    if inputs:
        out += ["", "Read as inputs (agreement would prove nothing):"]
        out += [f"  {line.axis} {line.key or ''} {line.field}: {line.note}" for line in inputs]
    if rec.not_compared:
        out += ["", "Not compared:"]
        out += [f"  {_row_of(n)}{n['field']} -> {n['quantity']}: {n['reason']} ({n['payload']})" for n in rec.not_compared]
    if rec.notes:
        out += ["", "Import notes:"] + [f"  {n}" for n in rec.notes]
    return "\n".join(out)


def _row_of(n: dict[str, Any]) -> str:
    """'margin_position BTC-USDT ' for a value of a row; '' for an account value."""
    return f"{n['axis']} {n['key']} " if n.get("key") else ""


_BADGE = {AGREE: "pass", DIFFER: "fail", NO_ROW: "fail", INPUT: "via"}


def _explain_html(line: Line) -> str:
    text = "\n".join(render_explanation(pruned(line.explain or {}, EXPLAIN_DEPTH, line.axis, line.key)))
    return f'<pre class="explain">{escape(text)}</pre>'


def render_html(rec: Reconciliation) -> str:
    """One self-contained HTML page (inline CSS, no scripts), styled like the audit report."""
    sections = []
    for axis, lines in _levels(rec).items():
        rows = []
        for i, line in enumerate(lines):
            anchor = f"d-{axis}-{i}"
            verdict = f'<span class="case {_BADGE[line.verdict]}">{e(VERDICT_TEXT[line.verdict])}</span>'
            if line.verdict in (DIFFER, NO_ROW):
                verdict = f'<a href="#{anchor}">{verdict}</a>'
            rows.append(f'<tr><td>{e(line.key or "")}</td><td><code>{e(line.field)}</code><span class="url">{e(line.file)} {e(line.path)}</span></td>'
                        f'<td><code>{e(line.quantity)}</code></td><td class="num">{e(num(line.reported))}</td>'
                        f'<td class="num">{e(num(line.computed)) if line.computed is not None else "–"}</td>'
                        f'<td class="num">{e(num(line.abs_diff)) if line.abs_diff is not None else "–"}</td><td class="num">{e(_pct(line.rel_diff))}</td>'
                        f'<td class="num">{e(_tol(line.tolerance))}</td><td>{verdict}</td></tr>')
        sections.append(f'<section id="level-{e(axis)}"><h2>{e(axis)}</h2><table class="grid"><thead><tr><th>key</th><th>reported field</th>'
                        f'<th>quantity</th><th>reported</th><th>computed</th><th>abs diff</th><th>rel diff</th><th>tolerance</th><th>verdict</th>'
                        f'</tr></thead><tbody>{"".join(rows)}</tbody></table></section>')
    cards = []
    for axis, lines in _levels(rec).items():
        for i, line in enumerate(lines):
            if line.verdict not in (DIFFER, NO_ROW):
                continue
            where = f"{axis} {line.key}" if line.key else axis
            note = f'<div class="callout ambiguity"><b>Note</b><p>{e(line.note)}</p></div>' if line.note else ""
            cards.append(f'<article class="card" id="d-{e(axis)}-{i}"><header><h3>{e(where)}: {e(line.field)} vs {e(line.quantity)}</h3>'
                         f'<span class="loc">{e(line.file)} {e(line.path)}</span></header>'
                         f'<p class="desc">reported {e(num(line.reported))}, computed {e(num(line.computed)) if line.computed is not None else "no such row"}</p>'
                         f'{_explain_html(line) if line.explain else ""}{note}</article>')
    facts = [("Rule set", f"<code>{e(rec.ruleset)}</code>"), ("As of", e(rec.as_of)), ("Mode", f"{e(rec.mode)} <small>({e(rec.mode_from)})</small>"),
             ("Result", f'<span class="case {"pass" if rec.agrees else "fail"}">{e(summary_line(rec))}</span>'),
             ("Payloads", "<br>".join(f"<code>{e(p)}</code>" for p in rec.payloads))]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    inputs = "".join(f"<li><code>{e(x.axis)} {e(x.key or '')} {e(x.field)}</code>: {e(x.note)}</li>" for x in rec.lines if x.verdict == INPUT)
    skipped = "".join(f"<tr><td><code>{e(_row_of(n))}{e(n['field'])}</code></td><td><code>{e(n['quantity'])}</code></td><td>{e(n['reason'])}</td>"
                      f"<td><span class=\"url\">{e(n['payload'])}</span></td></tr>" for n in rec.not_compared)
    notes = "".join(f"<li>{e(n)}</li>" for n in rec.notes)
    toc = "".join(f'<li><a href="#level-{e(a)}">{e(a)}</a></li>' for a in _levels(rec))
    body = (f'<header class="top" id="overview"><p class="kicker">Reconcile</p><h1>{e(rec.ruleset)}: venue values against the engine</h1>'
            f'<p class="lead">Every value the venue reports in the payloads, held against the engine\'s value of the same quantity '
            f'with the tolerance the payload mapping states. Each disagreement shows the engine\'s derivation.</p><dl class="facts">{dl}</dl></header>'
            + "".join(sections)
            + (f'<section id="disagreements"><h2>Disagreements</h2>{"".join(cards)}</section>' if cards else "")
            + (f'<section id="inputs"><h2>Read as inputs</h2><p class="sub">Agreement with these would prove nothing: the snapshot was built from them.</p><ul>{inputs}</ul></section>' if inputs else "")
            + (f'<section id="not-compared"><h2>Not compared</h2><table class="grid"><thead><tr><th>field</th><th>quantity</th><th>reason</th><th>payload</th></tr></thead>'
               f'<tbody>{skipped}</tbody></table></section>' if skipped else "")
            + (f'<section id="notes"><h2>Import notes</h2><ol>{notes}</ol></section>' if notes else "")
            + f'<footer class="end">Generated by marginspec {e(__version__)}. One self-contained file: no scripts, fonts, images or network.</footer>')
    nav = (f'<nav class="toc"><p class="brand">marginspec reconcile</p><p class="which">{e(rec.ruleset)}</p><ol><li><a href="#overview">Overview</a></li>'
           f'{toc}<li><a href="#disagreements">Disagreements</a></li><li><a href="#not-compared">Not compared</a></li></ol></nav>')
    style = CSS + "pre.explain{white-space:pre-wrap;font-size:.8rem;background:#fafbfd;border:1px solid #e8ebf1;border-radius:6px;padding:8px 10px}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>Reconcile: {e(rec.ruleset)}</title><style>{style}</style></head><body>{nav}<main>{body}</main></body></html>\n')
