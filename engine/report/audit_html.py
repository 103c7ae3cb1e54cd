"""The audit report as one self-contained HTML file: inline CSS, MathML for the
formulas, no scripts, fonts, images or network, so it reads offline and can be
archived beside the rule files it audits. Every text from a rule file is escaped
here (rule files are untrusted)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..version import __version__
from .audit import Item, Quote, Report, interval_text, kind_of, quotes, values_text
from .text import num
from .typeset import Rendered

CSS = """
figure.fig{margin:0 0 16px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
figure.fig svg{display:block;max-width:100%;height:auto}figure.fig figcaption{color:var(--muted);font-size:.82rem;margin-top:4px}
:root{--ink:#1d2330;--muted:#5b6475;--line:#dfe3ea;--bg:#f4f6f9;--card:#fff;--accent:#2f5bd3;--pass:#1f8a4c;--fail:#c62f2f;
--asm:#2f6fb3;--asm-bg:#eef5fc;--amb:#b4690e;--amb-bg:#fdf5e8;--quote:#f7f7f4}
*{box-sizing:border-box}
html{font-size:15px}
body{margin:0;background:var(--bg);color:var(--ink);line-height:1.5;display:grid;grid-template-columns:272px minmax(0,1fr);
font-family:system-ui,-apple-system,"Segoe UI","Helvetica Neue","Liberation Sans","DejaVu Sans",Arial,sans-serif}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
code{font-family:"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:.86em}
small{color:var(--muted)}
.toc{position:sticky;top:0;height:100vh;overflow:auto;padding:18px 14px 30px 18px;border-right:1px solid var(--line);background:#fbfcfd;font-size:.87rem}
.toc .brand{margin:0;font-weight:700;letter-spacing:.04em;text-transform:uppercase;font-size:.72rem;color:var(--muted)}
.toc .which{margin:.2em 0 .6em;font-weight:600;word-break:break-all}
.toc ol,.toc ul{list-style:none;margin:0;padding:0}.toc ol>li{margin:.35em 0}.toc ol>li>a{font-weight:600}
.toc ul{margin:.2em 0 .4em .2em;border-left:2px solid var(--line);padding-left:.6em}.toc ul li{line-height:1.45}
.toc ul a{color:var(--ink)}.toc .grp{color:var(--muted);font-size:.74rem;text-transform:uppercase;letter-spacing:.05em;margin-top:.4em}
.legend{font-size:.74rem;color:var(--muted);margin:0 0 .8em;line-height:1.8}
.dot{display:inline-block;width:.55em;height:.55em;border-radius:50%;margin:0 .18em 0 .35em;vertical-align:.05em}
.dot.c-pass{background:var(--pass)}.dot.c-fail{background:var(--fail)}.dot.c-none{background:#fff;border:1.5px solid #a9b0bc}
.dot.asm{background:var(--asm);border-radius:1px}.dot.amb{background:var(--amb);border-radius:1px;transform:rotate(45deg)}
main{padding:26px 34px 60px;max-width:1500px}
h1{font-size:1.75rem;line-height:1.25;margin:.1em 0 .4em}h2{font-size:1.3rem;margin:1.8em 0 .3em;padding-bottom:.25em;border-bottom:2px solid var(--line)}
h3{font-size:1.08rem;margin:0}h4{margin:0 0 .4em;font-size:.72rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.kicker{margin:0;color:var(--accent);font-weight:700;text-transform:uppercase;letter-spacing:.08em;font-size:.75rem}
.lead{color:#374052;max-width:75em}.sub{color:var(--muted);margin:.2em 0 1em}
.top{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px 24px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35em 1.2em;margin:1em 0}
.facts dt{color:var(--muted);font-weight:600}.facts dd{margin:0}
.files summary{cursor:pointer;color:var(--accent)}.hash{font-size:.75em;color:var(--muted)}
table.grid{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);margin:.6em 0 1em;font-size:.9rem}
.grid th,.grid td{border-bottom:1px solid var(--line);padding:5px 9px;text-align:left;vertical-align:top}
.grid thead th{background:#eef1f5;font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:#465063}
.grid td small,.docs small{display:block}.grid td.num,.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.url{display:block;font-family:"DejaVu Sans Mono","Liberation Mono",monospace;font-size:.74rem;color:var(--muted);word-break:break-all}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:8px;padding:14px 18px 12px;margin:0 0 16px}
.card.t{border-left-color:#8a3fc2}.card.f{border-left-color:#5f6b7d}
.card>header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.5em}.card>header h3 a{color:var(--ink)}
.loc{margin-left:auto;font-family:"DejaVu Sans Mono",monospace;font-size:.72rem;color:var(--muted)}
.tag{font-size:.75rem;padding:1px 8px;border-radius:999px;background:#eef1f6;color:#3c4658;white-space:nowrap}
.tag.unit{background:#e9f3ee;color:#24613f}.tag.sev{background:#f3e9fa;color:#6c2e99}
.desc{margin:.35em 0 .7em;color:#374052}
.pair{display:grid;grid-template-columns:minmax(0,1.15fr) minmax(0,1fr);gap:18px;align-items:start}
.pair.wide{grid-template-columns:1fr}.wide .sources{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:0 12px}
.wide .sources h4{grid-column:1/-1}.formula{min-width:0}.math{overflow-x:auto;padding:10px 12px;background:#fafbfd;border:1px solid #e8ebf1;border-radius:6px}
math{font-family:"DejaVu Math TeX Gyre","Latin Modern Math","STIX Two Math",math;font-size:1.06rem}
math[display=block]{margin:.2em 0}
mtable.piecewise mtd{text-align:left;padding:.2em 1.1em .2em 0}
mtable.limits mtd{padding:0}
.fallback code{white-space:pre-wrap}
.written{margin:.5em 0 0;font-size:.82rem;color:var(--muted)}.written code{color:#38404f;word-break:break-word}
.written span,.reads span,.cases>span{font-size:.7rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin-right:.3em}
.reads{margin:.45em 0 0;font-size:.84rem;line-height:1.9}
a.ref,code.ref{font-family:"DejaVu Sans Mono",monospace;font-size:.78rem;padding:1px 6px;border-radius:4px;background:#eef1f6;color:#39445a;white-space:nowrap}
a.ref.q{background:#e7eefc;color:#23479f}a.ref.t{background:#f3e9fa;color:#6c2e99}a.ref.p{background:#f0ecfb;color:#4b3a9c}
a.ref.tb{background:#e6f4f1;color:#1f645a}a.ref.f{background:#ececec;color:#3a3a3a}
blockquote{margin:0 0 10px;padding:8px 12px 8px 14px;background:var(--quote);border-left:3px solid #c9c2a6;border-radius:0 6px 6px 0}
blockquote p{margin:0 0 .4em;overflow-wrap:anywhere;font-family:Georgia,"DejaVu Serif","Liberation Serif",serif;font-size:.95rem;color:#2b2b26}
blockquote p::before{content:"\\201C"}blockquote p::after{content:"\\201D"}
blockquote footer{font-size:.8rem;color:var(--muted)}blockquote footer a{font-weight:600}
.docid{font-family:"DejaVu Sans Mono",monospace;font-size:.72rem}.when{display:inline-block;margin-right:.8em}
.note{display:block;font-style:italic}.prov{display:block;font-weight:600;margin-bottom:2px}.prov.verbatim{color:#1f645a}.prov.derived{color:#8a5a00}.prov.doubtful{color:#b00020}
tr.illustrative td{background:#fff7e6}td.status{font-size:.75rem}.none{color:var(--muted);font-style:italic;margin:0}
.callout{margin:10px 0 0;padding:8px 12px;border-radius:6px;font-size:.9rem;border:1px solid}
.callout b{font-size:.72rem;text-transform:uppercase;letter-spacing:.07em}.callout p{margin:.15em 0 0}
.callout.assumption{background:var(--asm-bg);border-color:#c7dcf1;color:#1f3f63}.callout.assumption b{color:var(--asm)}
.callout.ambiguity{background:var(--amb-bg);border-color:#efd3a6;color:#5a3608}.callout.ambiguity b{color:var(--amb)}
.callout.assumption b::before{content:"\\25A0  "}.callout.ambiguity b::before{content:"\\25C6  "}
footer.cases{margin-top:10px;padding-top:8px;border-top:1px dashed var(--line);line-height:2}
.case{display:inline-block;font-size:.78rem;padding:0 8px;border-radius:999px;margin-right:4px;font-weight:600;white-space:nowrap}
.case.pass{background:#e3f4ea;color:var(--pass);border:1px solid #b9e0c8}.case.fail{background:#fbe6e6;color:var(--fail);border:1px solid #f0bcbc}
.case.via{font-weight:400;opacity:.85;border-style:dashed}
details.table{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 16px;margin:0 0 12px}
details.table summary{cursor:pointer}details.table>p{font-size:.9rem;color:#374052}details.table summary small{margin-left:.5em}
.meta{font-size:.88rem}.cols{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;font-size:.86rem}.cols dt{font-weight:600}.cols dd{margin:0}
table.tiers{width:auto;min-width:60%;font-size:.84rem}.grid.tiers thead th{text-transform:none;font-family:"DejaVu Sans Mono",monospace;letter-spacing:0}.tiers th small{display:block}
.tiers th.key{background:#f7f8fa;font-family:"DejaVu Sans Mono",monospace;font-size:.8rem;text-transform:none}
q{font-family:Georgia,"DejaVu Serif",serif}.pdesc{margin:0 0 .3em}p.src{margin:.2em 0;padding-left:.7em;border-left:3px solid #c9c2a6;font-size:.86rem}
p.src small{display:inline}.cases-t td:nth-child(2){width:24%}.cases-t td:nth-child(3){width:38%}
ul.fails{margin:.3em 0 0;padding-left:1.2em;color:var(--fail);font-size:.82rem}
.checks{font-size:.8rem;line-height:1.9}
.end{margin-top:3em;color:var(--muted);font-size:.8rem;border-top:1px solid var(--line);padding-top:1em}
@media (max-width:1000px){body{display:block}.toc{position:static;height:auto;border-right:0;border-bottom:1px solid var(--line)}.pair{grid-template-columns:1fr}}
@media print{body{display:block;background:#fff}.toc{display:none}.card,details.table{break-inside:avoid}}
"""
WIDE = 72  # formulas longer than this (as text) get the full width, the sources go below: MathML does not wrap lines
SECTION_CLASS = {"quantities": "q", "thresholds": "t", "parameters": "p", "tables": "tb", "functions": "f", "inputs": "i", "axes": "ax"}


def e(text: Any) -> str:
    return escape(" ".join(str(text).split())) if text is not None else ""


def anchor(rs: Any, name: str) -> str:
    kind = kind_of(rs, name)
    return f"axis-{name}" if kind == "axes" else f"e-{name}"


def name_link(rs: Any, name: str) -> str:
    kind = kind_of(rs, name)
    if kind is None:
        return f'<code class="ref">{e(name)}</code>'
    return f'<a class="ref {SECTION_CLASS[kind]}" href="#{anchor(rs, name)}" title="{kind}">{e(name)}</a>'


def math_block(m: Rendered) -> str:
    if m.mathml is None:
        return f'<div class="math fallback"><code>{e(m.text)}</code></div>'
    tex = escape(m.latex or "")
    return (f'<div class="math"><math display="block" xmlns="http://www.w3.org/1998/Math/MathML"><semantics>{m.mathml}'
            f'<annotation encoding="application/x-tex">{tex}</annotation></semantics></math></div>')


def quote_block(q: Quote) -> str:
    title = f'<a href="{escape(q.url, quote=True)}">{e(q.title)}</a>' if q.url else e(q.title)
    url = f'<span class="url">{e(q.url)}</span>' if q.url else ""
    when = f'<span class="when">retrieved {e(q.retrieved)}</span>' if q.retrieved else '<span class="when">no retrieval date</span>'
    extra = "".join(f'<span class="note">{e(x)}</span>' for x in q.extra)
    cite = f' cite="{escape(q.url, quote=True)}"' if q.url else ""
    kind = "doubtful" if q.doubtful else ("verbatim" if q.provenance.startswith("verbatim") else "derived")
    prov = f'<span class="prov {kind}">{e(q.provenance)}</span>'
    return f'<blockquote{cite}><p>{e(q.quote)}</p><footer>{prov}{title} <span class="docid">[{e(q.ref)}]</span>{url}{when}{extra}</footer></blockquote>'


def callouts(entry: Any) -> str:
    out = ""
    if getattr(entry, "assumption", None):
        out += f'<div class="callout assumption"><b>Assumption</b><p>{e(entry.assumption)}</p></div>'
    if getattr(entry, "ambiguity", None):
        out += f'<div class="callout ambiguity"><b>Ambiguity</b><p>{e(entry.ambiguity)}</p></div>'
    return out


def tags(it: Item) -> str:
    out = []
    if it.section == "thresholds" and it.severity is not None:
        out.append(f'<span class="tag sev">severity {it.severity}</span>')
    if it.axis:
        out.append(f'<span class="tag axis">on {e(it.axis)}</span>')
    if it.unit:
        out.append(f'<span class="tag unit">unit {e(it.unit)}</span>')
    return "".join(out)


def card(r: Report, it: Item, case_ids: dict[tuple[str, str], str]) -> str:
    rs = r.rs
    written = "when " if it.section == "thresholds" else ""
    reads = " ".join(name_link(rs, n) for n in it.reads)
    sources = "".join(quote_block(q) for q in it.quotes) or '<p class="none">No quoted source; see the assumption below.</p>'
    head = (f'<header><h3><a href="#e-{e(it.name)}">{e(it.name)}</a></h3>{tags(it)}'
            f'<span class="loc" title="defined at">{e(it.where)}</span></header>')
    desc = f'<p class="desc">{e(it.description)}</p>' if it.description else ""
    formula = (f'<div class="formula">{"<h4>Triggered when</h4>" if it.section == "thresholds" else ""}{math_block(it.math)}'
               f'<p class="written"><span>as written</span> <code>{written}{e(it.math.text)}</code></p>'
               + (f'<p class="reads"><span>reads</span> {reads}</p>' if reads else "") + "</div>")
    cases = ""
    if it.section != "functions":
        badges = "".join((f'<a class="case {"pass" if c.ok else "fail"}{"" if c.direct else " via"}" href="#{case_ids.get((c.file, c.name), "")}" '
                          f'title="{"checks this value" if c.direct else "checks a value computed from this one"}">'
                          f'{"✓" if c.ok else "✗"} {e(c.name)}</a>') if c.version is None else
                         (f'<span class="case {"pass" if c.ok else "fail"} via" title="ran on {e(c.version)}, which has this entry from the same file">'
                          f'{"✓" if c.ok else "✗"} {e(c.name)} <small>@{e(c.version.split("@")[-1])}</small></span>') for c in it.cases)
        cases = f'<footer class="cases"><span>cases</span> {badges or "<em>no case exercises this, on this version or another with the same entry</em>"}</footer>'
    return (f'<article class="card {SECTION_CLASS[it.section]}" id="e-{e(it.name)}">{head}{desc}'
            f'<div class="pair{" wide" if it.width > WIDE else ""}">{formula}<div class="sources"><h4>Documentation</h4>{sources}</div></div>{callouts(it)}{cases}</article>')


def toc(r: Report) -> str:
    rs = r.rs

    def entry(it: Item) -> str:
        marks = ('<i class="dot amb" title="ambiguity"></i>' if it.ambiguity else "") + ('<i class="dot asm" title="assumption"></i>' if it.assumption else "")
        if it.section != "functions":
            state = "none" if not it.cases else ("fail" if any(not c.ok for c in it.cases) else "pass")
            marks += f'<i class="dot c-{state}" title="cases: {state}"></i>'
        return f'<li><a href="#e-{e(it.name)}">{e(it.name)}</a>{marks}</li>'

    parts = ['<li><a href="#overview">Overview</a></li><li><a href="#pictures">Pictures</a></li><li><a href="#documents">Documents</a></li>']
    for section, title in (("quantities", "Quantities"), ("thresholds", "Thresholds")):
        items = [it for it in r.items if it.section == section]
        axes = dict.fromkeys(it.axis for it in items)
        groups = "".join(f'<li class="grp">{e(a)}</li>' * (len(axes) > 1) + "".join(entry(it) for it in items if it.axis == a) for a in axes)
        parts.append(f'<li><a href="#{section}">{title}</a> <small>{len(items)}</small><ul>{groups}</ul></li>')
    for sid, title, n in (("parameters", "Parameters", len(rs.parameters)), ("tables", "Tables", len(rs.tables)), ("functions", "Functions", len(rs.functions)),
                          ("inputs", "Inputs and axes", len(rs.inputs)), ("cases", "Cases", len(r.outcomes)), ("notes", "Notes", len(rs.notes))):
        sub = "<ul>" + "".join(entry(it) for it in r.functions) + "</ul>" if sid == "functions" else ""
        parts.append(f'<li><a href="#{sid}">{title}</a> <small>{n}</small>{sub}</li>')
    legend = ('<p class="legend"><i class="dot c-pass"></i>cases pass <i class="dot c-fail"></i>a case fails <i class="dot c-none"></i>no case '
              '<i class="dot asm"></i>assumption <i class="dot amb"></i>ambiguity</p>')
    return f'<nav class="toc"><p class="brand">marginspec audit</p><p class="which">{e(rs.ref)}</p>{legend}<ol>{"".join(parts)}</ol></nav>'


def overview(r: Report) -> str:
    rs = r.rs
    ok = len(r.outcomes) - r.failed
    until = f"until {e(r.valid_until)} (exclusive)" if r.valid_until else "open-ended (no later version)"
    n_amb = sum(1 for s in ("parameters", "tables", "functions", "quantities", "thresholds", "inputs") for x in rs.section(s).values() if x.ambiguity)
    n_asm = sum(1 for s in ("parameters", "tables", "functions", "quantities", "thresholds", "inputs") for x in rs.section(s).values() if x.assumption)
    facts = [("Rule set", f"<code>{e(rs.ref)}</code>"), ("Valid", f"from {e(rs.version)} {until}"),
             ("Extends", f"<code>{e(rs.extends)}</code>" if rs.extends else "nothing (a first version)"),
             ("Contents", f"{len(rs.quantities)} quantities, {len(rs.thresholds)} thresholds, {len(rs.parameters)} parameters, "
                          f"{len(rs.tables)} tables, {len(rs.functions)} functions, {len(rs.inputs)} inputs"),
             ("Cases on this version", f'<span class="case pass">✓ {ok} pass</span> <span class="case {"fail" if r.failed else "pass"}">✗ {r.failed} fail</span>'
                                       f" <small>({r.other_versions} more cases of this rule set run on other versions)</small>"),
             ("Tables (in force on the audit date)", "; ".join(f"<code>{e(n)}</code> = {e(t.where)}, {e(t.status_text())}" for n, t in rs.tables.items()) or "none"),
             ("Not modelled", ", ".join(f'<a href="#not_modelled">{e(n)}</a>' for n in rs.not_modelled) or "nothing listed"),
             ("Not exercised by a passing case", ", ".join(name_link(rs, n) for n in r.uncovered()) or "none (counted as marginspec check --coverage counts: a case on another version with the same entry counts)"),
             ("Recorded", f'<i class="dot asm"></i>{n_asm} assumptions, <i class="dot amb"></i>{n_amb} ambiguities'),
             ("Engine", f"marginspec {e(__version__)}; rule-set content sha256 <code>{e(rs.content_sha256[:16])}…</code>")]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    files = "".join(f"<tr><td><code>{e(f.path)}</code></td><td><code class=\"hash\">{e(f.sha256)}</code></td></tr>" for f in rs.files)
    desc = f'<p class="lead">{e(rs.description)}</p>' if rs.description else ""
    docs = []
    for label, table in [("", rs.documents)] + [(f" (table {n})", d) for n, d in rs.table_documents.items()]:
        for k, d in table.items():
            meta = " · ".join(x for x in (f"published {e(d.published)}" if d.published else "", e(d.publisher) if d.publisher else "") if x)
            docs.append(f'<tr><td><code>{e(k)}</code>{e(label)}</td><td><a href="{escape(d.url, quote=True)}">{e(d.title)}</a><span class="url">{e(d.url)}</span>'
                        f'{f"<small>{meta}</small>" if meta else ""}{f"<small>{e(d.note)}</small>" if d.note else ""}</td><td>{e(d.retrieved or "—")}</td></tr>')
    return (f'<header class="top" id="overview"><p class="kicker">Audit report</p><h1>{e(rs.title)}</h1>{desc}<dl class="facts">{dl}</dl>'
            f'<details class="files"><summary>{len(rs.files)} files this version is built from, with sha256</summary>'
            f'<table class="grid"><thead><tr><th>file</th><th>sha256</th></tr></thead><tbody>{files}</tbody></table></details>'
            f'<details class="files" id="documents"><summary>{len(docs)} documents cited (title, address, retrieval date)</summary>'
            f'<table class="grid docs"><thead><tr><th>id</th><th>document</th><th>retrieved</th></tr></thead><tbody>{"".join(docs)}</tbody></table></details>'
            f'</header>')


def short_sources(rs: Any, entry: Any, section: str, name: str, texts: dict[str, Any]) -> str:
    qs = quotes(rs, entry, section, name, texts)
    return "".join(f'<p class="src"><q>{e(q.quote)}</q> <small class="prov">[{e(q.provenance)}]</small> <a href="{escape(q.url or "", quote=True)}">{e(q.title)}</a>'
                   f'{f" <small>retrieved {e(q.retrieved)}</small>" if q.retrieved else ""}</p>' for q in qs)


def parameters(rs: Any, texts: dict[str, Any]) -> str:
    rows = "".join(f'<tr id="e-{e(n)}"><td><code>{e(n)}</code></td><td class="num">{e(values_text(p.shown))}</td><td>{e(p.unit)}</td>'
                   f'<td>{f"<p class=pdesc>{e(p.description)}</p>" if p.description else ""}{short_sources(rs, p, "parameters", n, texts)}{callouts(p)}</td></tr>' for n, p in rs.parameters.items())
    return (f'<section id="parameters"><h2>Parameters</h2><table class="grid"><thead><tr><th>name</th><th>value</th><th>unit</th>'
            f'<th>description and source</th></tr></thead><tbody>{rows}</tbody></table></section>')


def figure(picture: Any) -> str:
    """A picture as inline SVG with its caption (the SVG is matplotlib's, text escaped; see plots.Picture.inline)."""
    return f'<figure class="fig">{picture.inline()}<figcaption>{e(picture.caption)}</figcaption></figure>'


def pictures_section(pics: Any) -> str:
    notes = "".join(f'<p class="sub">{e(n)}</p>' for n in pics.notes)
    body = "".join(figure(p) for p in pics.account)
    return (f'<section id="pictures"><h2>Pictures</h2><p class="sub">Drawn from the venue\'s example account with this version; '
            f'each tier table\'s step chart is with the table.</p>{notes}{body}</section>')


def tier_table(rs: Any, n: str, t: Any, texts: dict[str, Any], chart: str = "") -> str:
    cols = list(t.columns)
    head = "".join(f'<th title="{e(t.columns[c].description)}">{e(c)}<small>{e(t.columns[c].unit)}</small></th>' for c in cols)
    body, count = [], 0
    for key, rows in t.tiers.items():
        for i, row in enumerate(rows):
            count += 1
            keycell = f'<th rowspan="{len(rows)}" class="key">{e(key)}{" <small>any other key</small>" if key == "*" else ""}</th>' if i == 0 else ""
            upper = "∞" if row.get("upper") is None else num(row["upper"])
            status = t.status_of(key, i)
            body.append(f'<tr class="{status}">{keycell}<td class="num">{num(row["lower"])}</td><td class="num">{upper}</td>'
                        + "".join(f'<td class="num">{num(row.get(c))}</td>' for c in cols) + f'<td class="status">{status}</td></tr>')
    cols_dl = "".join(f"<dt>{e(c)} <small>{e(col.unit)}</small></dt><dd>{e(col.description)}</dd>" for c, col in t.columns.items())
    where = f"{t.where}; {t.status_text()}"
    srcs = "".join(quote_block(q) for q in quotes(rs, t, "tables", n, texts))
    return (f'<details class="table" id="e-{e(n)}"{" open" if count <= 12 else ""}><summary><b>{e(n)}</b> {e(t.title or "")} '
            f'<small>{len(t.tiers)} keys, {count} tiers · {e(where)}</small></summary>'
            f'{f"<p>{e(t.description)}</p>" if t.description else ""}'
            f'<p class="meta">bound: {e(t.bound.description)} <small>[{e(t.bound.unit)}]</small>; {interval_text(t.interval)}'
            f'{f"; keyed by {e(t.keyed_by)}" if t.keyed_by else ""}</p>'
            f'<div class="pair"><div><dl class="cols">{cols_dl}</dl>'
            f'<table class="grid tiers"><thead><tr><th>key</th><th>lower</th><th>upper</th>{head}<th>status</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            f'<div class="sources"><h4>Documentation</h4>{srcs or "<p class=none>No quoted source; see the assumption.</p>"}{callouts(t)}</div></div>'
            f'{chart}</details>')


def inputs(rs: Any) -> str:
    rows = []
    for n, i in rs.inputs.items():
        detail = [f"values: {', '.join(i.values)}" if i.values else "", f"points to {i.to}" if i.to else "", f"as unit {i.as_unit}" if i.as_unit else "",
                  f"API: {i.api}" if i.api else "", "optional" if i.optional else "",
                  f"≥ {num(i.minimum)}" if i.minimum is not None else "", f"> {num(i.exclusive_minimum)}" if i.exclusive_minimum is not None else "",
                  f"≤ {num(i.maximum)}" if i.maximum is not None else ""]
        extra = " · ".join(e(x) for x in detail if x)
        rows.append(f'<tr id="e-{e(n)}"><td><code>{e(n)}</code></td><td>{e(i.axis)}</td><td>{e(i.type)}</td><td>{e(i.unit or "")}</td>'
                    f'<td class="num">{"—" if i.default is None else e(num(i.default))}</td>'
                    f'<td>{e(i.description)}{f"<small>{extra}</small>" if extra else ""}{callouts(i)}</td></tr>')
    axes = "".join(f'<tr id="axis-{e(n)}"><td><code>{e(n)}</code></td><td>{e(a.kind)}</td><td>'
                   + e(f"{a.collection} keyed by {a.key}" if a.kind == "rows" else (f"{a.group} grouped by {a.by}" if a.kind == "group" else
                       ", ".join(f"{k}: {v}" for k, v in (a.grid or {}).items())))
                   + f'</td><td>{e(a.description)}</td></tr>' for n, a in rs.axes.items())
    return (f'<section id="inputs"><h2>Inputs and axes</h2><table class="grid"><thead><tr><th>axis</th><th>kind</th><th>rows</th><th>description</th></tr></thead>'
            f'<tbody>{axes}</tbody></table><table class="grid"><thead><tr><th>input</th><th>axis</th><th>type</th><th>unit</th><th>default</th>'
            f'<th>description</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def cases(r: Report, case_ids: dict[tuple[str, str], str]) -> str:
    rows = []
    for case, o in r.outcomes:
        fails = "".join(f"<li>{e(f)}</li>" for f in o.failures)
        rows.append(f'<tr id="{case_ids[(case.file, case.name)]}"><td><span class="case {"pass" if o.ok else "fail"}">{"✓ pass" if o.ok else "✗ fail"}</span></td>'
                    f'<td><code>{e(case.name)}</code><small>{e(case.file)}</small></td><td>{e(case.body.get("description", ""))}'
                    f'{f"<ul class=fails>{fails}</ul>" if fails else ""}</td><td class="checks">{", ".join(name_link(r.rs, t.split("[", 1)[0]) + e(t[len(t.split("[", 1)[0]):]) for t in o.checked)}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="4"><em>no case runs on this version</em></td></tr>'
    return (f'<section id="cases"><h2>Cases</h2><p class="sub">Worked examples that ran on {e(r.rs.ref)}; '
            f'{r.other_versions} more cases of this rule set run on other versions.</p><table class="grid cases-t"><thead><tr><th>result</th><th>case</th>'
            f'<th>description</th><th>checks</th></tr></thead><tbody>{body}</tbody></table></section>')


def not_modelled(rs: Any) -> str:
    rows = []
    for n, nm in rs.not_modelled.items():
        trigger = (f"evaluate warns when <code>{e(nm.when)}</code>" + (f" (rows of {e(nm.axis)})" if nm.axis != "account" else "") if nm.when
                   else f"collection <code>{e(nm.collection)}</code> accepted and ignored, with a warning" if nm.collection else "listed only")
        rows.append(f'<tr><td><code>{e(n)}</code></td><td>{e(nm.description)}{callouts(nm)}</td><td>{trigger}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="3"><em>nothing listed</em></td></tr>'
    return (f'<section id="not_modelled"><h2>Not modelled</h2><p class="sub">What this version leaves out; evaluate warns when a snapshot holds it.</p>'
            f'<table class="grid"><thead><tr><th>name</th><th>what</th><th>warning</th></tr></thead><tbody>{body}</tbody></table></section>')


def html_report(r: Report) -> str:
    rs = r.rs
    case_ids = {(c.file, c.name): f"case-{i}" for i, (c, _) in enumerate(r.outcomes)}
    from .plots import audit_pictures

    pics = audit_pictures(r.rules, r.example) if r.rules is not None else None
    body = [overview(r)] + ([pictures_section(pics)] if pics is not None else [])
    for section, title, blurb in (("quantities", "Quantities", "Each formula typeset beside the documentation text it encodes."),
                                  ("thresholds", "Thresholds", "A row is in the state of its most severe triggered threshold, else normal.")):
        cards = "".join(card(r, it, case_ids) for it in r.items if it.section == section)
        body.append(f'<section id="{section}"><h2>{title}</h2><p class="sub">{blurb}</p>{cards}</section>')
    body.append(parameters(rs, r.texts))
    charts = {n: figure(p) for n, p in pics.tables.items()} if pics is not None else {}
    body.append(f'<section id="tables"><h2>Tables</h2>{"".join(tier_table(rs, n, t, r.texts, charts.get(n, "")) for n, t in rs.tables.items())}</section>')
    body.append(f'<section id="functions"><h2>Functions</h2>{"".join(card(r, it, case_ids) for it in r.functions) or "<p>none</p>"}</section>')
    body.append(inputs(rs))
    body.append(not_modelled(rs))
    body.append(cases(r, case_ids))
    notes = "".join(f"<li>{e(x)}</li>" for x in rs.notes)
    body.append(f'<section id="notes"><h2>Notes</h2>{f"<ol>{notes}</ol>" if notes else "<p>none</p>"}</section>')
    body.append(f'<footer class="end">Generated by marginspec {e(__version__)} from {len(rs.files)} files. '
                'One self-contained file: no scripts, fonts, images or network (pictures are inline SVG).</footer>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>Audit: {e(rs.ref)}</title><style>{CSS}</style></head><body>{toc(r)}<main>{"".join(body)}</main></body></html>\n')
