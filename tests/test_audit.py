"""The audit report: formulas typeset as mathematics, quotes and cases beside
them, untrusted text escaped, and the HTML rendered by headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from marginspec.report.audit import audit, build_report, markdown
from marginspec.report.audit_html import html_report, math_block
from marginspec.report.typeset import Unsupported, display_expr, render
from marginspec.source.catalog import Catalog

from browser import BLANK_PAGE_BYTES, png_facts, require_chromium, screenshot
from conftest import DEMO_RULES, quantity

# ---------------------------------------------------------------- formulas as mathematics


def test_division_is_a_fraction_and_brackets_are_kept():
    r = render("adjusted_equity / (mmr + liquidation_fees)", "margin_ratio")
    assert r.latex == r"\mathrm{margin\_ratio} = \frac{\mathrm{adjusted\_equity}}{\mathrm{mmr} + \mathrm{liquidation\_fees}}"
    assert "<mfrac>" in r.mathml and '<mi mathvariant="normal">adjusted_equity</mi>' in r.mathml
    minus = render("a - (b + c)")  # sympy's own MathML printer drops these brackets; the display must not
    assert minus.latex == r"\mathrm{a} - \left(\mathrm{b} + \mathrm{c}\right)"
    assert "<mo>&#8722;</mo><mrow><mo>(</mo>" in minus.mathml
    assert render("a * b - c * d").latex == r"\mathrm{a} \cdot \mathrm{b} - \mathrm{c} \cdot \mathrm{d}"  # order as written


def test_sum_shows_its_grouping_and_filter_under_the_operator():
    r = render("cash_balance + sum(upl, by=settle_currency, where=margin_mode == 'cross')")
    assert r"\sum_{\substack{\text{by }\mathrm{settle\_currency} \\ \mathrm{margin\_mode} = \text{'cross'}}} \mathrm{upl}" in r.latex
    assert "<munder><mo" in r.mathml and "&#8721;" in r.mathml and "<mtext>'cross'</mtext>" in r.mathml
    take = render("min(pnl, over=scenario, take=price_move)")
    assert r"\min_{\substack{\text{over }\mathrm{scenario} \\ \text{value of }\mathrm{price\_move}}}" in take.latex


def test_if_references_tables_and_functions():
    cases = render("if(x > 0, a, if(x < 0, b, inf))")
    assert cases.latex == (r"\begin{cases} \mathrm{a} & \text{if } \mathrm{x} > 0 \\ \mathrm{b} & \text{if } \mathrm{x} < 0 \\ "
                           r"\infty & \text{otherwise} \end{cases}")
    assert cases.mathml.count("<mtr>") == 3 and "otherwise" in cases.mathml
    ref = render("usd_price[settle_currency]")
    assert ref.latex == r"\mathrm{usd\_price}_{\mathrm{settle\_currency}}" and ref.mathml.startswith("<msub>")
    assert render("tier(position_tiers.mmr, tier_contracts, tier_family)").latex.startswith(r"\operatorname{tier}_{\mathrm{position\_tiers.mmr}}\left(")
    assert r"\operatorname{linear\_pnl}\left(\mathrm{size}, \mathrm{ct\_val}\right)" in render("linear_pnl(size, ct_val)").latex
    assert render("sqrt(x) + abs(y) + 1e-4").latex == r"\sqrt{\mathrm{x}} + \left|{\mathrm{y}}\right| + 10^{-4}"
    assert r"\le" in render("margin_ratio <= warning_level").latex
    assert "&lt;" in render("a < b").mathml  # sympy writes text nodes verbatim; the display escapes them


def test_hostile_formula_is_shown_as_text_and_never_run(tmp_path):
    target = tmp_path / "pwned"
    text = f"__import__('os').system('touch {target}')"
    with pytest.raises(Unsupported):
        display_expr(text)
    r = render(text)
    assert r.latex is None and r.mathml is None and r.text == text
    block = math_block(r)
    assert "<code>__import__(&#x27;os&#x27;)" in block and "<math" not in block
    for other in ("a.b", "x % 2", "lambda: 1", "[1, 2]", "f(*a)", "a if b else c", "x" * 5000):
        assert render(other).latex is None
    assert not target.exists()


# ---------------------------------------------------------------- the report


def _hostile_rules(make_rules) -> Path:
    """A rule set whose texts try to inject HTML, with one passing and one failing case."""
    root = make_rules(
        description="<script>alert('x')</script> evil",
        documents={"d": {"url": "https://example.org/d?a=1&b=<2>", "title": "Doc <b>bold</b>", "retrieved": "2025-02-03"}},
        quantities={
            "total": {**quantity("sum(balance * price)"), "assumption": "<img src=x onerror=alert(1)>",
                      "sources": [{"ref": "d", "quote": "Total = sum of <balances> & prices"}]},
            "ratio": {**quantity("if(total > 0, total / 2, inf)", unit="USD"), "ambiguity": "two pages disagree"},
        },
        thresholds={"low": {"axis": "account", "when": "ratio <= 0", "severity": 1, "assumption": "test"}},
    )
    snap = {"as_of": "2025-01-02", "currencies": [{"currency": "BTC", "balance": 2, "price": 10}]}
    cases = {"schema": "marginspec/cases/v1", "ruleset": "t/m", "cases": {
        "good": {"description": "right", "worked_by_hand": "test", "snapshot": snap, "expect": {"total": 20, "ratio": 10}},
        "bad": {"description": "wrong", "worked_by_hand": "test", "snapshot": snap, "expect": {"total": 21}}}}
    (root / "t" / "m" / "t.cases.yaml").write_text(json.dumps(cases))  # JSON is YAML, without anchors
    return root


def test_report_lists_quotes_urls_and_cases_with_pass_or_fail(make_rules):
    cat = Catalog([_hostile_rules(make_rules)])
    report = build_report(cat, cat.load("t/m@2025-01-01"))
    assert [(c.name, o.ok) for c, o in report.outcomes] == [("good", True), ("bad", False)]
    total = next(i for i in report.items if i.name == "total")
    assert {(c.name, c.ok, c.direct) for c in total.cases} == {("good", True, True), ("bad", False, True)}
    ratio = next(i for i in report.items if i.name == "ratio")
    assert [(c.name, c.ok) for c in ratio.cases] == [("good", True)]
    low = next(i for i in report.items if i.name == "low")
    assert low.cases == [] and report.uncovered() == ["low"]

    md = markdown(report)
    assert "> Total = sum of &lt;balances&gt; &amp; prices" in md
    assert "(https://example.org/d?a=1&b=<2>), retrieved 2025-02-03" in md
    assert "✓ pass `good`" in md and "✗ FAIL `bad`" in md
    assert r"\sum \left(\mathrm{balance} \cdot \mathrm{price}\right)" in md
    assert "<script>" not in md and "<img" not in md

    page = html_report(report)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; evil" in page
    assert "<p>Total = sum of &lt;balances&gt; &amp; prices</p>" in page
    assert 'href="https://example.org/d?a=1&amp;b=&lt;2&gt;"' in page and "retrieved 2025-02-03" in page
    assert 'class="case pass" href="#case-0"' in page and 'class="case fail" href="#case-1"' in page
    assert "total: expected 21.0, got 20.0" in page
    assert '<div class="callout assumption"><b>Assumption</b><p>&lt;img src=x onerror=alert(1)&gt;</p></div>' in page
    assert '<div class="callout ambiguity"><b>Ambiguity</b><p>two pages disagree</p></div>' in page
    # the formula sits beside its quote in the same card
    card = page[page.index('id="e-total"'):page.index('id="e-ratio"')]
    assert card.index('<div class="pair') < card.index("<math display=\"block\"") < card.index("<blockquote")


def test_cli_audit_writes_markdown_and_html(tmp_path):
    env = os.environ.copy()
    md = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(DEMO_RULES), "audit", "demo/basic@2025-01-01"],
                        capture_output=True, text=True, timeout=300, env=env)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Audit: demo/basic@2025-01-01") and "$$\n" in md.stdout and "✓ pass `gradient`" in md.stdout
    out = tmp_path / "a.html"
    page = subprocess.run([sys.executable, "-m", "marginspec.cli", "--rules", str(DEMO_RULES), "audit", "demo/basic", "--at", "2025-06-01",
                           "--format", "html", "-o", str(out)], capture_output=True, text=True, timeout=300, env=env)
    assert page.returncode == 0 and page.stdout == "", page.stderr
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<math" in text and "https://example.org/demo" in text
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/1998/Math/MathML", "")
    # nothing fetched from anywhere (the inline pictures' url(#id) are references within the page)
    assert "src=" not in text and "@import" not in text and not re.search(r"url\((?!#)", text)


# ---------------------------------------------------------------- rendering in a browser

def test_html_audit_renders_in_headless_chromium(tmp_path):
    require_chromium()
    cat = Catalog()
    rs = cat.load("okx/multi_currency_margin", dt.datetime.now(dt.UTC).date())
    page = tmp_path / "audit.html"
    page.write_text(audit(cat, rs, "html"), encoding="utf-8")
    text = page.read_text()
    first = text[text.index('<article class="card'):]
    first = first[:first.index("</article>")]
    assert "<math" in first and "<blockquote" in first and "retrieved " in first  # formulas beside quoted docs
    data = screenshot(page, tmp_path)
    width, height, distinct_rows = png_facts(data)
    assert (width, height) == (1280, 2000)
    assert len(data) > BLANK_PAGE_BYTES, f"screenshot is {len(data)} bytes: a blank page?"
    assert distinct_rows > 300, f"only {distinct_rows} distinct scanlines: the page is (nearly) one colour"
