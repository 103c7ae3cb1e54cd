"""Plain-text renderings for the CLI: the evaluation summary, the derivation
of one value, and a rule set's contents.

What they print comes partly from strangers (titles, quotes and descriptions
in rule files, keys in snapshots): control characters in it (an ANSI escape
that clears the screen or recolours a value, a carriage return that
overwrites a line, a bidirectional override that reorders it) are shown as
visible escapes such as \\x1b, never sent to the terminal raw."""

from __future__ import annotations

import math
import re
import textwrap
from typing import TYPE_CHECKING, Any

from ..ir.plan import ACCOUNT
from ..run.result import Result
from ..source.ruleset import RuleSet
from .amounts import COIN_SYMBOLS, amount, coin_symbol, row_coin_field, table, terminal_width, unit_label, usd_prices

if TYPE_CHECKING:  # diff imports sympy, which the evaluation summary must not load
    from ..run.snapshot import Snapshot
    from ..tools.diff import Diff


_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with control characters (all but newline and tab), bidirectional controls and lone surrogates
    written as visible escapes (\\x1b, \\u202e)."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def num(v: Any) -> str:
    """Numbers as a person reads them: grouped digits, up to 10 significant figures."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return format(v + 0.0, ",.10g")  # + 0.0 turns -0.0 into 0
    if isinstance(v, list):
        return "[" + ", ".join(num(x) for x in v[:8]) + (", ..." if len(v) > 8 else "") + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={num(x)}" for k, x in list(v.items())[:12]) + (", ..." if len(v) > 12 else "")
    return str(v)


def summary(rs: RuleSet, result: Result, source: str, snap: Snapshot | None = None) -> str:
    """The readable table of `marginspec evaluate`: key values per axis and the states. Amounts are rounded for
    reading (report/amounts.py), ratios shown as percent; rows whose amounts are in their settlement coin are
    grouped by it, so that every column has one unit; wide tables are folded to the terminal's width."""
    shown = [n for n, q in rs.quantities.items() if q.show] or [n for n, q in rs.quantities.items() if q.axis == ACCOUNT]
    prices = usd_prices(rs, snap.keys, snap.rows) if snap is not None else {}
    r = result.receipt
    out = [f"{result.ruleset}  {result.title}", f"snapshot {source}, as of {r.as_of}; rules in force on {r.evaluation_date}"]
    out += ["tables: " + ", ".join(f"{t.table}@{t.valid_from} ({t.status.split(':')[0]})" for t in r.tables)] if r.tables else []
    out += warning_lines(result) + [""]
    account = [n for n in shown if rs.quantities[n].axis == ACCOUNT]
    if account:
        rows = [[n, amount(result.value(n), rs.quantities[n].unit, None, prices), unit_label(rs.quantities[n].unit)] for n in account]
        out += table(["account", "value", "unit"], rows)
    if ACCOUNT in result.states:
        st = result.states[ACCOUNT]
        out.append(f"state: {st['state']}" + (f" (triggered: {', '.join(st['triggered'])})" if st["triggered"] else ""))
    axes = dict.fromkeys(rs.quantities[n].axis for n in shown if rs.quantities[n].axis != ACCOUNT and " x " not in rs.quantities[n].axis)
    for axis in axes:
        names = [n for n in shown if rs.quantities[n].axis == axis]
        keys = list(result.values.get(axis, {}))
        if not keys:
            out += ["", f"{axis}: no rows"]
            continue
        for coin, group in _by_coin(rs, axis, names, keys, snap):
            out += ["", *row_table(rs, result, axis, names, group, coin, prices)]
    for n in shown:
        if " x " in rs.quantities[n].axis:
            out += ["", *grid_table(result, n, rs.quantities[n].unit, rs, prices)]
    return printable("\n".join(out))


def _by_coin(rs: RuleSet, axis: str, names: list[str], keys: list[str], snap: Snapshot | None) -> list[tuple[str | None, list[str]]]:
    """The rows of `axis` grouped by the coin their amounts are in (the settlement coin of a position), when a
    shown column is an amount of such a row-dependent coin and a reference says which; else one group."""
    symbols = dict.fromkeys(coin_symbol(rs.quantities[n].unit) for n in names)
    field = next((f for sym in symbols if sym and sym != "coin" and (f := row_coin_field(rs, axis, sym))), None)
    if field is None or snap is None or axis not in snap.rows:
        return [(None, keys)]
    groups: dict[str | None, list[str]] = {}
    for key, row in zip(snap.keys[axis], snap.rows[axis]):
        groups.setdefault(str(row.get(field)), []).append(key)
    return list(groups.items())


def row_table(rs: RuleSet, result: Result, axis: str, names: list[str], keys: list[str], coin: str | None,
              prices: dict[str, float]) -> list[str]:
    """One table of shown values on a row axis; `coin` is the coin a row-dependent unit (settle, ...) stands for."""
    states = result.states.get(axis, {})

    def unit_of(n: str) -> str:
        unit = rs.quantities[n].unit
        return re.sub(rf"\b({'|'.join(COIN_SYMBOLS[1:])})\b", coin, unit) if coin else unit

    def cell(n: str, key: str) -> str:
        unit = rs.quantities[n].unit
        row_coin = key if unit == "coin" else coin
        return amount(result.value(n, key), unit, row_coin, prices)

    title = f"{axis} (amounts in {coin})" if coin else axis
    head = [title] + [f"{n} [{unit_label(unit_of(n))}]" for n in names] + (["state"] if states else [])
    body = [[k] + [cell(n, k) for n in names] + ([states[k]["state"]] if states else []) for k in keys]
    return table(head, body)


def warning_lines(result: Result) -> list[str]:
    """One line per `not_modelled` entry the snapshot trips (what the version in force leaves out), and one
    naming the tables whose illustrative rows (not the venue's figures) this snapshot reads."""
    lines = [f"warning: not modelled: {w.message}" + (f" [{', '.join(w.rows[:8])}{', ...' if len(w.rows) > 8 else ''}]" if w.rows else "")
             + f" ({w.name})" for w in result.warnings]
    read = result.receipt.illustrative
    if read:
        text = "note: tables with illustrative rows (not the venue's figures) at keys this snapshot has: " + "; ".join(
            f"{name} [{', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''}]" for name, keys in read.items())
        lines += textwrap.wrap(text, terminal_width(), subsequent_indent="  ", break_on_hyphens=False)
    return lines


def grid_table(result: Result, name: str, unit: str | None, rs: RuleSet | None = None, prices: dict[str, float] | None = None) -> list[str]:
    """A quantity on rows x grid as a table: one line per grid point (its columns), one column per row."""
    rows_axis, grid = result.trace[name].axis.split(" x ")
    columns = result.grids.get(grid, {})
    values = result.value(name)
    keys = list(values) if isinstance(values, dict) else []
    size = len(next(iter(columns.values()))) if columns else 0
    column_units = {c: rs.parameters[p].unit for c, p in (rs.axes[grid].grid or {}).items()} if rs is not None else {}
    head = [f"{c} [{unit_label(column_units[c])}]" if c in column_units else c for c in columns] + [f"{k}" for k in keys]
    body = [[amount(columns[c][i], column_units.get(c)) for c in columns] + [amount(values[k][i], unit, k, prices) for k in keys]
            for i in range(size)]
    title = f"{name} [{unit_label(unit)}] on {rows_axis} x {grid}"
    return [title, *(table(head, body) if keys else [f"{rows_axis}: no rows"])]


def show(rs: RuleSet) -> str:
    """A rule set's formulas, parameters, thresholds and sources, for reading in a terminal."""
    out = [f"{rs.ref}  {rs.title}", f"valid from {rs.version}" + (f" to {rs.valid_to}" if rs.valid_to else "") + (f"; extends {rs.extends}" if rs.extends else ""), ""]
    if rs.description:
        out += textwrap.wrap(rs.description, 100) + [""]

    def cite(entry: Any, pad: str) -> None:
        for c in entry.sources:
            d = rs.documents.get(c.ref)
            what = "verbatim" if c.kind == "verbatim" else f"{c.kind}, from {c.derived_from}"
            out.append(f"{pad}source [{c.ref}] {d.url if d else ''} ({what})")
            out.extend(textwrap.wrap(f'"{c.quote}"', 100, initial_indent=pad + "  ", subsequent_indent=pad + "  "))
        for label in ("assumption", "ambiguity"):
            text = getattr(entry, label, None)
            if text:
                out.extend(textwrap.wrap(f"{label}: {text}", 100, initial_indent=pad, subsequent_indent=pad + "  "))

    out.append("Parameters")
    for n, p in rs.parameters.items():
        out.append(f"  {n} = {num(p.shown)}" + (f" by {p.by}" if p.by else "") + f" [{p.unit}]")
        cite(p, "    ")
    out += ["", "Tables"]
    for n, t in rs.tables.items():
        out.append(f"  {n}: {t.title or ''}")
        out.append(f"    {t.where}; {t.status_text()}; {len(t.tiers)} keys; columns {', '.join(t.columns)}")
    out += ["", "Functions"]
    for n, f in rs.functions.items():
        out.append(f"  {n}({', '.join(f.params)}) = {f.formula}")
        cite(f, "    ")
    out += ["", "Quantities"]
    for n, q in rs.quantities.items():
        out.append(f"  {n} [{q.unit}] on {q.axis} = {q.formula}")
        cite(q, "    ")
    out += ["", "Thresholds"]
    for n, th in rs.thresholds.items():
        out.append(f"  {n} (severity {th.severity}) on {th.axis} when {th.when}")
        cite(th, "    ")
    out += ["", "Not modelled"]
    for n, nm in rs.not_modelled.items():
        trigger = f"warns when {nm.when}" + (f" (on {nm.axis})" if nm.axis != ACCOUNT else "") if nm.when else (
            f"collection {nm.collection} accepted and ignored with a warning" if nm.collection else "listed only")
        out.append(f"  {n}: {nm.description} [{trigger}]")
        cite(nm, "    ")
    out += ["", "Documents"]
    for k, d in rs.documents.items():
        out.append(f"  [{k}] {d.title} <{d.url}>" + (f" retrieved {d.retrieved}" if d.retrieved else ""))
    return printable("\n".join(out))


def render_explanation(tree: dict[str, Any], depth: int = 0) -> list[str]:
    """The tree as indented text for the terminal."""
    return [printable(line) for line in _explanation(tree, depth)]


def _explanation(tree: dict[str, Any], depth: int) -> list[str]:
    pad = "  " * depth
    valued = tree["kind"] not in ("function", "table")  # a function or a table has no value of its own
    head = f"{pad}{tree['name']}" + (f" = {num(tree.get('value'))}" if valued else "") + (f" [{tree['unit']}]" if tree.get("unit") else "")
    head += f"  ({tree['kind']}{' on ' + tree['axis'] if tree.get('axis') else ''})"
    lines = [head]
    if tree.get("derived_above"):
        return lines + [f"{pad}  (derived above)"]
    if tree["kind"] in ("quantity", "threshold"):
        lines.append(f"{pad}  formula: {tree['formula']}")
        if " x " in (tree.get("axis") or "") and isinstance(tree.get("value"), dict):  # one line per row, the grid in full
            lines += [f"{pad}    {k}: {', '.join(num(x) for x in v)}" for k, v in tree["value"].items()]
        sub = tree.get("substituted")
        if isinstance(sub, str) and sub != tree["formula"]:
            lines.append(f"{pad}        = {sub}")
        elif isinstance(sub, dict):
            lines += [f"{pad}    {k}: {s}" for k, s in sub.items() if s != tree["formula"]]
        for c in tree.get("sources", []):
            lines.append(f"{pad}  source: {c['title']} <{c['url']}>: \"{c['quote'][:200]}\"")
        for label in ("assumption", "ambiguity"):
            if tree.get(label):
                lines.append(f"{pad}  {label}: {tree[label][:240]}")
        for child in tree.get("reads", []):
            lines += _explanation(child, depth + 1)
    elif tree["kind"] == "parameter":
        lines += [f"{pad}  source: <{c['url']}>: \"{c['quote'][:160]}\"" for c in tree.get("sources", [])]
    elif tree["kind"] == "function":
        lines.append(f"{pad}  {tree['name']}({', '.join(tree['params'])}) = {tree['formula']}")
    return lines


def render_diff(d: Diff) -> str:
    lines = [f"{d.a} -> {d.b}", ""]
    if not d.changes:
        lines.append("no changes in inputs, parameters, tables or formulas")
    for c in d.changes:
        verdict_text = f"  [{c.verdict}]" if c.verdict else ""
        lines.append(f"{c.kind:8} {c.section}.{c.name}{verdict_text}" + (f"\n           {c.detail}" if c.detail else "")
                     + (f"\n           differ {c.sample}" if c.sample else "")
                     + ("\n           (no point found where they differ, and simplification could not prove them equal)"
                        if c.verdict == "undecided" else ""))
    moved = [i for i in d.impacts if i.moved]
    lines += ["", f"cases: {len(d.impacts)} checked values, {len(moved)} move"]
    lines += [f"  {i.case}: {i.target}  {num(i.before)} -> {num(i.after)}" for i in moved]
    lines += [f"  could not evaluate: {e}".replace("\n", "\n    ") for e in d.case_errors]
    lines += ["", "equivalent" if d.equivalent else "different"]
    return printable("\n".join(lines))
