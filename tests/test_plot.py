"""Pictures: a curve's points are the engine's values, its marked crossings are where the engine's value meets
the threshold's level; every bundled example draws; the SVG is safe to inline; and the pictures really render
in headless Chromium (the screenshot's pixels hold the figures' colours), in files and inside the HTML audit."""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import marginspec
import pytest
from marginspec.cli import main
from marginspec.report import plots
from marginspec.report.audit import Report, example_account
from marginspec.report.audit_html import html_report
from marginspec.source.catalog import Catalog

from browser import png_pixels, screenshot
from conftest import quantity
from test_whatif import BTC_CELLS, by_hand, example, row

SPECS = list(BTC_CELLS)
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "exchanges"


@pytest.mark.parametrize("spec", SPECS)
def test_every_example_draws_a_curve_of_the_engines_values(spec):
    data = example(spec)
    rules = marginspec.load(spec, at=data["as_of"][:10])
    curve = plots.margin_curve(rules, data, ["BTC"], points=21)
    assert curve.base == row(data, "currencies", "BTC")[BTC_CELLS[spec][0][2]]  # the x axis is BTC's own USD price
    for i in (0, len(curve.xs) // 2, len(curve.xs) - 1):  # three points, checked against the engine at hand-moved prices
        moved = by_hand(data, BTC_CELLS[spec], curve.xs[i] / curve.base - 1)
        value = marginspec.evaluate(spec, moved).value(curve.quantity)
        for key, ys in curve.series.items():
            want = value if key == curve.quantity else value[key]
            assert ys[i] == pytest.approx(want, rel=1e-9) or (math.isinf(want) and math.isnan(ys[i])), (key, i)
    for c in curve.crossings:  # where the engine's value is the threshold's level
        value = marginspec.evaluate(spec, by_hand(data, BTC_CELLS[spec], c.x / curve.base - 1)).value(curve.quantity)
        assert (value if c.series == curve.quantity else value[c.series]) == pytest.approx(c.level, rel=1e-9)
    text = plots.curve_picture(curve, rules.ruleset).svg
    assert ET.fromstring(text).tag.endswith("svg") and curve.quantity in text


def test_the_liquidation_point_is_marked_where_the_engine_liquidates():
    spec = "okx/single_currency_margin"
    data = example(spec)
    curve = plots.margin_curve(marginspec.load(spec, at="2026-01-15"), data, ["BTC"])
    [liq] = [c for c in curve.crossings if c.threshold == "currency_liquidation"]
    assert (liq.series, liq.level) == ("USDT", 1.0)
    above = marginspec.evaluate(spec, by_hand(data, BTC_CELLS[spec], liq.x * (1 + 1e-6) / curve.base - 1))
    below = marginspec.evaluate(spec, by_hand(data, BTC_CELLS[spec], liq.x * (1 - 1e-6) / curve.base - 1))
    assert above.state("currency", "USDT") != "currency_liquidation" and below.state("currency", "USDT") == "currency_liquidation"
    assert curve.xs[0] < liq.x < curve.base < curve.xs[-1]  # the default range takes in now and the liquidation point


@pytest.mark.parametrize("spec, x, y, label", [("okx/portfolio_margin", "price_move", "vol_change", "+12%"),
                                               ("gate/portfolio_margin", "price_move", "iv_shock", "+20%")])
def test_the_stress_grid_is_laid_out_by_its_moves(spec, x, y, label):
    data = example(spec)
    rules = marginspec.load(spec, at=data["as_of"][:10])
    grid = plots.scenario_grid(rules, data)
    result = rules.evaluate(data)
    assert (grid.quantity, grid.x, grid.y, grid.x_ratio, grid.y_ratio) == ("scenario_pnl", x, y, True, True)
    for key, (xs, ys, matrix) in grid.rows.items():
        pnl = result.value("scenario_pnl", key)
        xv = result.grids["scenario"][x] if x in result.grids["scenario"] else result.value(x, key)
        yv = result.grids["scenario"][y] if y in result.grids["scenario"] else result.value(y, key)
        assert len(xs) * len(ys) == len(pnl)
        for i, v in enumerate(pnl):  # every scenario in its cell
            assert matrix[ys.index(yv[i])][xs.index(xv[i])] == v
    svg = plots.grid_picture(grid, rules.ruleset.ref).svg
    assert "scenario_pnl" in svg and f">{label}<" in svg  # the moves label the axes in percent


def test_inline_svg_is_safe_and_self_contained(make_rules):
    hostile = "<script>alert(1)</script> $x$ &"  # a rule file's text is a stranger's
    root = make_rules(tables={"t": {"bound": {"unit": "USD", "description": hostile}, "interval": "lower_open", "status": "illustrative",
                                    "columns": {"rate": {"unit": "ratio", "description": "rate"}},
                                    "tiers": {"BTC": [{"lower": 0, "upper": 10, "rate": 0.1}, {"lower": 10, "upper": None, "rate": 0.2}]},
                                    "assumption": "test"}},
                      quantities={"q": quantity("sum(balance * price)")})
    rs = Catalog([root]).load("t/m@2025-01-01")
    picture = plots.tier_picture(rs, "t")
    text = picture.inline()
    assert text.startswith('<svg class="ms-fig ms-fig-tiers-t" role="img" ')
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; $x$ &amp;" in text  # escaped, and no mathtext
    assert "http" not in text and "xmlns" not in text and "<metadata" not in text and "<?xml" not in text
    assert ".ms-fig-tiers-t *{" in text  # matplotlib's stylesheet scoped to this figure
    ET.fromstring(picture.svg)  # the file form is well-formed XML
    assert picture.svg == plots.tier_picture(rs, "t").svg  # no date, salted ids: the same input draws the same file


def test_plot_usage_errors(capsys):
    spec, path = "okx/multi_currency_margin", str(EXAMPLES_DIR / "okx" / "examples" / "multi_currency_margin.json")
    for args, message in ((["--scenarios"], "has no quantity on a two-column stress grid"),
                          (["--vary", "BTC", "--scenarios"], "give one of --vary INPUT"),
                          (["--tiers", "nope"], "--tiers 'nope': not a table of"),
                          (["--vary", "BTC", "-o", "x.gif"], "write .svg, .png or .pdf"),
                          (["--vary", "USDT"], "are quoted in USDT and would move the other way"),
                          (["--vary", "BTC", "--range", "5:1"], "expected 0 < low < high")):
        assert main(["plot", spec, path, *args]) == 2, args
        assert message in capsys.readouterr().err


# ---------------------------------------------------------------- rendered in Chromium


def _count(rows: list[bytes], channels: int, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    n = 0
    for line in rows[::2]:
        for i in range(0, len(line), channels * 2):
            if all(abs(line[i + k] - rgb[k]) <= tolerance for k in range(3)):
                n += 1
    return n


BLUE, RED, GREEN = (0x2F, 0x5B, 0xD3), (0xC6, 0x2F, 0x2F), (0x1F, 0x8A, 0x4C)
HEAT = [(0x67, 0x00, 0x1F), (0xF4, 0xA5, 0x82), (0x05, 0x30, 0x61)]  # RdBu: deep red, salmon, deep blue


def test_pictures_render_in_chromium_in_files_and_in_the_html_audit(tmp_path):
    """One page, one Chromium: the audit page as html_report writes it (with the pictures of the version's example
    account and of its tables; its cards are left out, since running every case of the rule set is test_audit's
    business), then the curve and the heatmap as files written by `marginspec plot`. Each region of the
    screenshot must hold its figure's colours."""
    cat = Catalog()
    rs = cat.load("okx/single_currency_margin@2024-11-08", dt.date(2026, 1, 15))
    example = example_account(cat, rs)
    assert example is not None and example[0] == "exchanges/okx/examples/single_currency_margin.json"
    text = html_report(Report(rs, None, [], [], [], 0, {}, marginspec.api.Rules(rs), example))
    pictures = text[text.index('<section id="pictures">'):text.index("</section>", text.index('<section id="pictures">'))]
    assert pictures.count("<svg") == 1 and "currency_liquidation at 27,904.6 (-70.6% from 95,000)" in pictures
    assert text.count('<figure class="fig"><svg') == 1 + len(rs.tables)  # and each table's step chart
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/1998/Math/MathML", "")
    assert "src=" not in text and not re.search(r"url\((?!#)", text)  # nothing fetched: url(#id) are references within the page
    (tmp_path / "audit.html").write_text(text, encoding="utf-8")
    curve, grid = tmp_path / "curve.svg", tmp_path / "grid.svg"
    assert main(["plot", "okx/multi_currency_margin", str(EXAMPLES_DIR / "okx" / "examples" / "multi_currency_margin.json"),
                 "--vary", "ETH", "-o", str(curve)]) == 0
    assert main(["plot", "gate/portfolio_margin", str(EXAMPLES_DIR / "gate" / "examples" / "portfolio_margin.json"), "--scenarios", "-o", str(grid)]) == 0
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body style='margin:0;background:#fff'>"
                    "<iframe src='audit.html' style='display:block;border:0;width:1280px;height:1600px'></iframe>"
                    "<img src='curve.svg' style='display:block;width:1000px;height:600px'>"
                    "<img src='grid.svg' style='display:block;width:1000px;height:500px'></body></html>")
    width, height, channels, rows = png_pixels(screenshot(page, tmp_path, 1280, 2700))
    assert (width, height) == (1280, 2700)
    audit_part, curve_part, grid_part = rows[:1600], rows[1600:2200], rows[2200:]
    for part, name in ((audit_part, "audit"), (curve_part, "curve"), (grid_part, "heatmap")):
        assert len(set(part)) > 100, f"the {name} region is (nearly) blank"
    # the audit's curve of the example account: its USDT (green) and BTC (blue) lines and the liquidation mark (red)
    for rgb in (BLUE, RED, GREEN):
        assert _count(audit_part, channels, rgb, 30) > 30, f"audit: no pixels of colour {rgb}"
    for rgb in (BLUE, RED):
        assert _count(curve_part, channels, rgb) > 20, f"curve.svg: no pixels of colour {rgb}"
    for rgb in HEAT:
        assert _count(grid_part, channels, rgb) > 20, f"grid.svg: no pixels of colour {rgb}"


def test_without_a_file_the_svg_goes_to_standard_output(capsys):
    assert main(["plot", "okx/multi_currency_margin", "--tiers", "position_tiers", "--key", "SWAP/BTC-USDT"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<?xml") and "key SWAP/BTC-USDT" in out
