"""Pictures, drawn with matplotlib (an optional dependency: `pip install
"marginspec[plot]"`): a quantity such as the margin ratio against a price, with
the thresholds' levels and the points where they are crossed (the liquidation
price); a portfolio-margin stress grid as a heatmap per risk unit, labelled in
price moves and volatility shocks; tier tables as step charts.

Figures are SVG with their text kept as text, ids salted per figure (several sit
in one HTML page) and no date, so the same input draws the same file. Labels
come from rule files and snapshots, which are untrusted: matplotlib's mathtext
is off, so a `$` is a dollar sign, and everything is escaped as XML text.
`inline()` makes an SVG fit for embedding in the HTML audit (no XML prologue,
no namespace URLs, styles scoped to the figure)."""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EvaluationError, SnapshotError, UsageError
from ..ir.plan import ACCOUNT
from ..run.evaluate import evaluate_snapshot
from ..run.rules import Rules
from ..source.ruleset import RuleSet
from ..tools.solve import Cell, bisect, bracket, parse_cells, threshold_levels, with_value
from .amounts import amount

POINTS = 161
RANGE_STEPS = 81  # 5% steps from now: down to 2% of it, up to 50 times (the x axis stops at 5 times)
MAX_KEYS = 6
INK, MUTED, GRID = "#1d2330", "#5b6475", "#dfe3ea"
SERIES = ("#2f5bd3", "#c2571a", "#1f8a4c", "#8a3fc2", "#b4690e", "#0f7c8c", "#c62f2f")
LEVELS = ("#b4690e", "#c62f2f", "#6c2e99", "#0f7c8c")
FORMATS = (".svg", ".png", ".pdf")


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("pictures need matplotlib, an optional dependency: pip install 'marginspec[plot]'") from None
    return matplotlib


@contextmanager
def _style(salt: str) -> Iterator[None]:
    """Text stays text (no mathtext: labels are untrusted), ids are salted per figure, one quiet style."""
    mpl = _matplotlib()
    with mpl.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none", "text.parse_math": False, "font.size": 9,
                         "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib
                         "axes.edgecolor": MUTED, "axes.labelcolor": INK, "xtick.color": MUTED, "ytick.color": MUTED,
                         "axes.grid": True, "grid.color": GRID, "grid.linewidth": 0.6, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.dpi": 100}):
        yield


@dataclass
class Picture:
    """One figure: its matplotlib Figure, a name (for ids and files) and what it shows."""

    name: str
    title: str
    figure: Any
    caption: str = ""

    def save(self, path: Path) -> None:
        """Write the figure as SVG, PNG or PDF, by the file's extension."""
        fmt = path.suffix.lower()
        if fmt not in FORMATS:
            raise UsageError(f"-o {path}: write .svg, .png or .pdf")
        try:
            path.write_bytes(self._render(fmt[1:]))
        except OSError as exc:
            raise UsageError(f"-o {path}: cannot write ({exc.strerror})") from None

    def _render(self, fmt: str) -> bytes:
        buf = io.BytesIO()
        with _style(self.name):
            self.figure.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None, bbox_inches="tight")
        return buf.getvalue()

    @property
    def svg(self) -> str:
        return self._render("svg").decode("utf-8")

    def inline(self) -> str:
        """The SVG as an element of an HTML page: no prologue, doctype or metadata, no namespace declarations (HTML
        puts <svg> in the SVG namespace itself), `href` for `xlink:href`, the stylesheet scoped to this figure."""
        text = self.svg
        text = text[text.index("<svg"):]
        text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
        text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
        text = text.replace("xlink:href=", "href=")
        css_class = f"ms-fig-{re.sub(r'[^a-z0-9-]', '-', self.name.lower())}"
        text = text.replace("<svg ", f'<svg class="ms-fig {css_class}" role="img" ', 1)
        text = text.replace("*{", f".{css_class} *{{")
        return text


def _figure(width: float, height: float) -> Any:
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _percent(v: float) -> str:
    p = v * 100
    return f"{p:,.0f}%" if abs(p) >= 10 or p == 0 else f"{p:.3g}%"


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _percent(v)))


def _number(v: float) -> str:
    """A tick or a point: grouped, 6 significant digits at most, no exponent below 1e15."""
    return f"{v:,.0f}" if abs(v) >= 1e5 else f"{v:,.6g}"


def _grouped_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _number(v)))


# ---------------------------------------------------------------- a quantity against a price


@dataclass
class Crossing:
    threshold: str
    series: str
    x: float
    level: float


@dataclass
class Curve:
    """Sampled values of a quantity (one series per row, or the account's) against the first varied input."""

    ruleset: str
    quantity: str
    unit: str
    vary: str
    base: float
    xs: list[float]
    series: dict[str, list[float]]
    levels: dict[str, float]  # threshold -> its level of this quantity
    crossings: list[Crossing] = field(default_factory=list)


def default_quantity(rules: Rules) -> str:
    """The quantity the most severe threshold compares with a level (the margin ratio), else the first key value
    on the account."""
    rs = rules.ruleset
    levels = threshold_levels(rules)
    if levels:
        return levels[max(levels, key=lambda t: rs.thresholds[t].severity)][0]
    shown = [n for n, q in rs.quantities.items() if q.axis == ACCOUNT and q.show] or [n for n, q in rs.quantities.items() if q.axis == ACCOUNT]
    if not shown:
        raise UsageError(f"{rs.ref} has no account quantity to draw: give --quantity NAME")
    return shown[0]


def _values(rules: Rules, data: dict[str, Any], cells: list[Cell], x: float, quantity: str) -> dict[str, float]:
    """The quantity at x, by series (row key, or the quantity's name on the account); NaN where undefined."""
    try:
        snap = rules.snapshot(with_value(rules, data, cells, x))
        value = evaluate_snapshot(rules.kernel, snap).values[quantity]
    except (EvaluationError, SnapshotError):
        return {}
    axis = rules.kernel.plan.outputs[quantity].shape.rows
    if axis in (None, ACCOUNT):
        return {quantity: float(value)}
    return {k: float(v) for k, v in zip(snap.keys[axis], value)}


def _gap(rules: Rules, data: dict[str, Any], cells: list[Cell], quantity: str, series: str, level: float) -> Any:
    """x -> the series' value at x less the level; None where it is undefined or infinite (for bracket/bisect)."""
    def f(x: float) -> float | None:
        v = _values(rules, data, cells, x, quantity).get(series)
        return None if v is None or not math.isfinite(v) else v - level

    return f


def margin_curve(rules: Rules, data: dict[str, Any], vary: list[str], quantity: str | None = None,
                 span: tuple[float, float] | None = None, points: int = POINTS) -> Curve:
    """The quantity (default: the one the most severe threshold reads) against the first varied input (the others,
    or every price of a coin given as `BTC`, move by the same factor), over `span` (values of the input), by
    default a range that takes in the snapshot's value and the points where the levels are crossed."""
    rs = rules.ruleset
    quantity = quantity or default_quantity(rules)
    if quantity not in rs.quantities or " x " in rs.quantities[quantity].axis:
        raise UsageError(f"--quantity {quantity!r}: not a quantity of {rs.ref} on the account or on rows")
    cells = parse_cells(rules, data, vary)
    base = cells[0].base
    if base <= 0:
        raise UsageError(f"--vary: {cells[0].name} is {base:g} in the snapshot; a curve needs a positive starting value")
    levels = {t: v for t, (q, v) in threshold_levels(rules).items() if q == quantity}
    now = _values(rules, data, cells, base, quantity)
    if span is None:
        roots = []
        severest = [v for t, v in levels.items() if rs.thresholds[t].severity == max(rs.thresholds[u].severity for u in levels)]
        for level in severest:  # the range takes in where the most severe level is crossed
            for key in now:
                f = _gap(rules, data, cells, quantity, key, level)
                if f(base) is not None and (found := bracket(f, base, RANGE_STEPS)) is not None:
                    roots.append(bisect(f, *found))
        lo = min([base] + roots) * 0.85 if roots else base * 0.5
        hi = max([base] + roots) * 1.15 if roots else base * 1.5
        span = (max(lo, base * 0.02), min(hi, base * 5))
    lo, hi = span
    if not 0 < lo < hi:
        raise UsageError(f"--range {lo:g}:{hi:g}: expected 0 < low < high")
    xs = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
    xs = sorted(set(xs) | {base}) if lo <= base <= hi else xs
    series: dict[str, list[float]] = {k: [] for k in now}
    for x in xs:
        got = _values(rules, data, cells, x, quantity)
        for k, ys in series.items():
            ys.append(got.get(k, math.nan))
    curve = Curve(rs.ref, quantity, rs.quantities[quantity].unit, _label(cells), base, xs, series, levels)
    for threshold, level in levels.items():
        for k, ys in series.items():
            for i in range(len(xs) - 1):
                a, b = ys[i] - level, ys[i + 1] - level
                if math.isfinite(a) and math.isfinite(b) and (a > 0) != (b > 0):
                    curve.crossings.append(Crossing(threshold, k, bisect(_gap(rules, data, cells, quantity, k, level), xs[i], xs[i + 1]), level))
    return curve


def _label(cells: list[Cell]) -> str:
    first = f"{cells[0].name}[{cells[0].key}]" if cells[0].key else cells[0].name
    return first + (f" (and {len(cells) - 1} more moving with it)" if len(cells) > 1 else "")


def curve_picture(curve: Curve, rs: RuleSet) -> Picture:
    name = f"curve-{curve.quantity}"
    ratio = curve.unit == "ratio"
    with _style(name):
        fig = _figure(7.4, 4.2)
        ax = fig.add_subplot()
        finite = [y for ys in curve.series.values() for y in ys if math.isfinite(y)]
        small = min((abs(y) for y in finite if y), default=1.0)
        if finite and max(abs(y) for y in finite) / small > 30:  # ratios far apart: logarithmic, linear around 0
            if min(finite) > 0:
                ax.set_yscale("log")
            else:
                ax.set_yscale("symlog", linthresh=min(curve.levels.values(), default=small) or small)
        for i, (k, ys) in enumerate(curve.series.items()):
            ax.plot(curve.xs, [y if math.isfinite(y) else math.nan for y in ys], color=SERIES[i % len(SERIES)], linewidth=1.8,
                    label=k if len(curve.series) > 1 else curve.quantity)
        severity = {t: rs.thresholds[t].severity for t in curve.levels}
        for j, (t, level) in enumerate(sorted(curve.levels.items(), key=lambda kv: severity[kv[0]])):
            ax.axhline(level, color=LEVELS[j % len(LEVELS)], linestyle="--", linewidth=1)
            ax.annotate(f"{t} ({amount(level, curve.unit)})", (0.995, level), xycoords=("axes fraction", "data"), color=LEVELS[j % len(LEVELS)],
                        fontsize=8, va="bottom", ha="right")
        worst = max(severity.values(), default=0)
        for c in curve.crossings:
            strong = severity[c.threshold] == worst
            ax.axvline(c.x, color="#c62f2f" if strong else MUTED, linestyle="-" if strong else ":", linewidth=1.2 if strong else 0.9)
            ax.plot([c.x], [c.level], marker="o", color="#c62f2f" if strong else MUTED, markersize=5)
            text = f"{c.threshold}{'' if len(curve.series) == 1 else ' (' + c.series + ')'}"
            where = f"{_number(c.x)} ({(c.x / curve.base - 1) * 100:+.1f}%)"
            if strong:  # the liquidation point, in full beside it (on the side with room)
                right = c.x > (curve.xs[0] + curve.xs[-1]) / 2
                ax.annotate(f"{text}\n{where}", (c.x, c.level), textcoords="offset points", xytext=(-6 if right else 6, 10), fontsize=8,
                            color="#c62f2f", fontweight="bold", ha="right" if right else "left")
            else:  # the others along their line, out of its way
                ax.annotate(f"{text} {where}", (c.x, 0.02), xycoords=("data", "axes fraction"), rotation=90, ha="right", va="bottom",
                            fontsize=7, color=MUTED)
        here = [ys[curve.xs.index(curve.base)] for ys in curve.series.values() if curve.base in curve.xs]
        for i, y in enumerate(here):
            if math.isfinite(y):
                ax.plot([curve.base], [y], marker="D", color=SERIES[i % len(SERIES)], markersize=5)
        ax.axvline(curve.base, color=INK, linewidth=0.8, alpha=0.6)
        ax.annotate("now", (curve.base, 0.0), xycoords=("data", "axes fraction"), textcoords="offset points", xytext=(3, 3), fontsize=8, color=INK)
        ax.set_xlabel(curve.vary)
        ax.set_ylabel(f"{curve.quantity} [{'%' if ratio else curve.unit}]")
        if ratio:
            _percent_axis(ax.yaxis)
        _grouped_axis(ax.xaxis)
        top = ax.secondary_xaxis("top", functions=(lambda x: (x / curve.base - 1), lambda m: (m + 1) * curve.base))
        _percent_axis(top.xaxis)
        top.set_xlabel("move from now")
        if len(curve.series) > 1 or curve.levels:
            ax.legend(loc="best", fontsize=8, frameon=False)
        fig.suptitle(f"{curve.quantity} against {curve.vary.split(' ')[0]}  ·  {curve.ruleset}", fontsize=10, color=INK)
    liq = [c for c in curve.crossings if rs.thresholds[c.threshold].severity == max(rs.thresholds[t].severity for t in curve.levels)]
    caption = (f"{curve.quantity} as {curve.vary} moves" + (f"; {liq[0].threshold} at {_number(liq[0].x)} "
               f"({(liq[0].x / curve.base - 1) * 100:+.1f}% from {_number(curve.base)})" if liq else "; no threshold level is crossed in this range"))
    return Picture(name, f"{curve.quantity} against {curve.vary}", fig, caption)


# ---------------------------------------------------------------- the stress grid


@dataclass
class Grid:
    """A quantity on rows x grid laid out per row as a matrix: y labels down, x labels across."""

    quantity: str
    unit: str
    x: str
    y: str
    x_ratio: bool
    y_ratio: bool
    rows: dict[str, tuple[list[float], list[float], list[list[float]]]]  # key -> (xs, ys, values[y][x])


def scenario_grid(rules: Rules, data: dict[str, Any], quantity: str | None = None) -> Grid:
    """The stress grid of the rule set's `analysis.scenarios` (or of `quantity`, labelled by its grid's columns)."""
    rs = rules.ruleset
    sc = rs.analysis.scenarios
    if quantity is None and sc is None:
        grids = [n for n, q in rs.quantities.items() if " x " in q.axis and len(rs.axes[q.axis.split(" x ")[1]].grid or {}) == 2]
        if not grids:
            raise UsageError(f"--scenarios: {rs.ref} has no quantity on a two-column stress grid (a portfolio-margin rule set has)")
        quantity = next((n for n in grids if rs.quantities[n].show), grids[0])
    quantity = quantity or sc.quantity  # type: ignore[union-attr]
    q = rs.quantities.get(quantity)
    if q is None or " x " not in q.axis:
        raise UsageError(f"--quantity {quantity!r}: not a quantity of {rs.ref} on rows x grid")
    grid = q.axis.split(" x ")[1]
    columns = list((rs.axes[grid].grid or {}).items())
    if sc is not None and sc.quantity == quantity:
        x, y = sc.x, sc.y
    elif len(columns) == 2:
        x, y = columns[0][0], columns[1][0]
    else:
        raise UsageError(f"--scenarios: {quantity} is on a grid of {len(columns)} columns; a heatmap needs two")
    result = rules.evaluate(data)
    values = result.value(quantity)

    def labels(name: str, key: str) -> tuple[list[float], bool]:
        if name in result.grids.get(grid, {}):
            param = dict(columns)[name]
            return list(result.grids[grid][name]), rs.parameters[param].unit == "ratio"
        return list(result.value(name)[key]), rs.quantities[name].unit == "ratio"

    out: dict[str, tuple[list[float], list[float], list[list[float]]]] = {}
    x_ratio = y_ratio = False
    for key, series in values.items():
        xv, x_ratio = labels(x, key)
        yv, y_ratio = labels(y, key)
        xs, ys = sorted(set(xv)), sorted(set(yv))
        matrix = [[math.nan] * len(xs) for _ in ys]
        for i, v in enumerate(series):
            matrix[ys.index(yv[i])][xs.index(xv[i])] = v
        out[key] = (xs, ys, matrix)
    return Grid(quantity, q.unit, x, y, x_ratio, y_ratio, out)


def _short(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return ""
    if unit == "ratio":
        return f"{v * 100:.1f}%"
    a = abs(v)
    return f"{v / 1e6:.2f}M" if a >= 1e6 else f"{v / 1e3:.1f}k" if a >= 1e3 else f"{v:.0f}" if a >= 100 else f"{v:.3g}"


def grid_picture(g: Grid, ruleset: str) -> Picture:
    from matplotlib.colors import TwoSlopeNorm

    name = f"grid-{g.quantity}"
    keys = list(g.rows)
    with _style(name):
        fig = _figure(min(4.6 * max(len(keys), 1), 13.8), 3.4 + 0.12 * max((len(r[1]) for r in g.rows.values()), default=3))
        axes = fig.subplots(1, max(len(keys), 1), squeeze=False)[0]
        every = [v for _, _, m in g.rows.values() for line in m for v in line if math.isfinite(v)]
        bound = max((abs(v) for v in every), default=1.0) or 1.0
        norm = TwoSlopeNorm(vcenter=0, vmin=-bound, vmax=bound)
        image = None
        for ax, key in zip(axes, keys):
            xs, ys, matrix = g.rows[key]
            image = ax.imshow(matrix, cmap="RdBu", norm=norm, aspect="auto", origin="lower")
            fmt = lambda v, r: f"{v * 100:+.4g}%" if r else f"{v:+.4g}"
            ax.set_xticks(range(len(xs)), [fmt(v, g.x_ratio) for v in xs], rotation=45 if len(xs) > 7 else 0, fontsize=7)
            ax.set_yticks(range(len(ys)), [fmt(v, g.y_ratio) for v in ys], fontsize=7)
            ax.set_xlabel(g.x)
            ax.set_ylabel(g.y)
            ax.grid(False)
            worst = min(((matrix[i][j], i, j) for i in range(len(ys)) for j in range(len(xs)) if math.isfinite(matrix[i][j])), default=None)
            for i in range(len(ys)):
                for j in range(len(xs)):
                    v = matrix[i][j]
                    ax.text(j, i, _short(v, g.unit), ha="center", va="center", fontsize=6.5 if len(xs) > 7 else 7.5,
                            color="white" if math.isfinite(v) and abs(v) > 0.6 * bound else INK)
            if worst is not None:
                from matplotlib.patches import Rectangle

                ax.add_patch(Rectangle((worst[2] - 0.5, worst[1] - 0.5), 1, 1, fill=False, edgecolor=INK, linewidth=2))
                ax.set_title(f"{key}: worst {amount(worst[0], g.unit)} at {fmt(xs[worst[2]], g.x_ratio)}, {fmt(ys[worst[1]], g.y_ratio)}", fontsize=9)
            else:
                ax.set_title(key, fontsize=9)
        if image is not None:
            bar = fig.colorbar(image, ax=list(axes), shrink=0.9)
            bar.set_label(f"{g.quantity} [{'%' if g.unit == 'ratio' else g.unit}]")
        fig.suptitle(f"{g.quantity} over the stress grid  ·  {ruleset}", fontsize=10, color=INK)
    caption = f"{g.quantity} in each scenario of the grid ({g.x} across, {g.y} down), one panel per row; the worst scenario is boxed"
    return Picture(name, f"{g.quantity} over the stress grid", fig, caption)


# ---------------------------------------------------------------- tier tables


def tier_picture(rs: RuleSet, name: str, keys: list[str] | None = None) -> Picture:
    """Each column of a tier table as a step chart against the bound, one line per key (at most MAX_KEYS)."""
    table = rs.tables.get(name)
    if table is None:
        raise UsageError(f"--tiers {name!r}: not a table of {rs.ref} ({', '.join(rs.tables) or 'none'})")
    unknown = [k for k in keys or [] if k not in table.tiers]
    if unknown:
        raise UsageError(f"--key {', '.join(unknown)}: not a key of table {name} ({', '.join(list(table.tiers)[:12])}{', ...' if len(table.tiers) > 12 else ''})")
    shown = keys or list(table.tiers)[:MAX_KEYS]
    columns = list(table.columns)
    pic = f"tiers-{name}"
    with _style(pic):
        fig = _figure(min(4.4 * len(columns), 13.2), 3.3)
        axes = fig.subplots(1, len(columns), squeeze=False)[0]
        first = min((float(r["upper"]) for k in shown for r in table.tiers[k][:1] if r["upper"]), default=0.0)
        top = max(float(r["upper"] or r["lower"] or 0) for k in shown for r in table.tiers[k])
        logarithmic = bool(first) and top / first > 100  # bounds over decades: a log axis, starting below the first tier's end
        left = first / 10 if logarithmic else 0.0
        for ax, column in zip(axes, columns):
            top = 0.0
            for i, key in enumerate(shown):
                rows = table.tiers[key]
                edges = [max(float(r["lower"]), left) for r in rows]  # type: ignore[arg-type]
                last = rows[-1]["upper"]
                end = float(last) if last is not None else (edges[-1] * 1.5 if edges[-1] > 0 else 1.0)
                values = [float(r[column]) if r.get(column) is not None else math.nan for r in rows]  # type: ignore[arg-type]
                ax.step(edges + [end], values + [values[-1]], where="post", color=SERIES[i % len(SERIES)], linewidth=1.6,
                        label=key if key != "*" else "any other key")
                if last is None:
                    ax.annotate("", (end * 1.04, values[-1]), (end, values[-1]), arrowprops={"arrowstyle": "->", "color": SERIES[i % len(SERIES)]})
                top = max(top, end)
            ax.set_xlabel(f"{textwrap.shorten(table.bound.description, 48, placeholder='...')} [{table.bound.unit}]", fontsize=8)
            unit = table.columns[column].unit
            ax.set_ylabel(f"{column} [{'%' if unit == 'ratio' else unit}]")
            if unit == "ratio":
                _percent_axis(ax.yaxis)
            if logarithmic:
                ax.set_xscale("log")
                ax.set_xlim(left, top * 1.3)
            else:
                ax.set_xlim(0, top * 1.06)
            _grouped_axis(ax.xaxis)
        if len(shown) > 1:
            axes[0].legend(fontsize=7, frameon=False)
        more = f" (first {len(shown)} of {len(table.tiers)} keys)" if len(shown) < len(table.tiers) and not keys else ""
        if len(shown) == 1:
            more = f", key {shown[0]}" + more
        fig.suptitle(f"{name}{more}  ·  {table.where}", fontsize=9, color=INK)
    caption = (f"{name}: {', '.join(columns)} by {table.bound.unit}, {len(shown)} key(s){more}; an arrow marks a last tier "
               f"without an upper bound")
    return Picture(pic, f"{name} as step charts", fig, caption)


# ---------------------------------------------------------------- the audit's pictures


@dataclass
class AuditPictures:
    """The pictures of one rule-set version for its audit: of the venue's example account (when it is evaluated
    under this version) and of every tier table; `notes` say what is missing and why."""

    account: list[Picture] = field(default_factory=list)
    tables: dict[str, Picture] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def audit_pictures(rules: Rules, example: tuple[str, dict[str, Any]] | None) -> AuditPictures:
    from ..tools.shocks import price_cells

    try:
        _matplotlib()
    except UsageError as exc:
        return AuditPictures(notes=[f"No pictures: {exc}."])
    out = AuditPictures()
    rs = rules.ruleset
    for name in rs.tables:
        out.tables[name] = tier_picture(rs, name)
    if example is None:
        out.notes.append("No example account for this version (exchanges/<venue>/examples/<mode>.json, dated within it).")
        return out
    shown, data = example
    try:
        derivative = [c.coin for c in price_cells(rs, data) if rs.analysis.prices[c.field].coin != "row_key"]
        coins = list(dict.fromkeys(derivative)) or list(dict.fromkeys(c.coin for c in price_cells(rs, data)))
        if coins:
            out.account.append(curve_picture(margin_curve(rules, data, [coins[0]]), rs))
        if rs.analysis.scenarios is not None:
            out.account.append(grid_picture(scenario_grid(rules, data), rs.ref))
    except (UsageError, EvaluationError, SnapshotError) as exc:
        out.notes.append(f"The example account {shown} cannot be drawn: {str(exc).splitlines()[0]}")
    for picture in out.account:
        picture.caption = f"{picture.caption} (example account {shown})"
    return out
