"""The audit report of one rule-set version: every quantity and threshold with
its formula typeset as mathematics beside the documentation text it encodes,
its unit, assumptions and ambiguities, and the cases that exercise it.

An auditor checks a rule file against the venue's pages; this puts the two side
by side and says which worked examples back each formula. `build_report` runs
the rule set's cases; `markdown` and `html` (see audit_html) render the result."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import MarginspecError
from ..run.rules import Rules, snapshot_date
from ..run.snapshot import read_snapshot_file
from ..source.catalog import Catalog
from ..source.provenance import DocumentText, check_quote, describe
from ..source.ruleset import RuleSet
from ..tools.cases import Case, CaseOutcome, case_files, load_cases, run_case
from ..tools.coverage import exercised
from ..version import __version__
from .text import num
from .typeset import Rendered, render


@dataclass
class Quote:
    """A cited passage with the document it comes from."""

    quote: str
    ref: str
    title: str
    url: str | None
    retrieved: str | None
    extra: list[str] = field(default_factory=list)  # section, note
    provenance: str = ""  # verbatim (found in the stored text, or unchecked), paraphrase or derived, and from what
    doubtful: bool = False  # cited as verbatim but not in the stored text


@dataclass
class CaseLink:
    name: str
    file: str
    ok: bool
    direct: bool  # the case checks this value itself, not only something computed from it
    version: str | None = None  # the version the case ran on, when another one whose entry is the same (inherited unchanged)


@dataclass
class Item:
    """A quantity, threshold or function as the audit shows it."""

    section: str
    name: str
    math: Rendered
    where: str
    axis: str | None = None
    unit: str | None = None
    description: str | None = None
    severity: int | None = None
    quotes: list[Quote] = field(default_factory=list)
    assumption: str | None = None
    ambiguity: str | None = None
    reads: list[str] = field(default_factory=list)
    cases: list[CaseLink] = field(default_factory=list)
    width: int = 0  # characters of `name(params) = formula`: long ones are laid out full width


@dataclass
class Report:
    rs: RuleSet
    valid_until: str | None  # valid_to, else the next version's valid_from
    items: list[Item]
    functions: list[Item]
    outcomes: list[tuple[Case, CaseOutcome]]  # the cases that ran on this version
    other_versions: int  # cases of this rule set that ran on other versions
    texts: dict[str, DocumentText] = field(default_factory=dict)  # stored document texts, by URL
    rules: Rules | None = None
    example: tuple[str, Any] | None = None  # the venue's example account of this mode, when this version evaluates it

    @property
    def failed(self) -> int:
        return sum(1 for _, o in self.outcomes if not o.ok)

    def uncovered(self) -> list[str]:
        """Quantities and thresholds no passing case exercises, here or on another version that has the same entry
        (the file that defines it), as `marginspec check --coverage` counts them."""
        return [i.name for i in self.items if not any(c.ok for c in i.cases)]


def quotes(rs: RuleSet, entry: Any, section: str, name: str, texts: dict[str, DocumentText]) -> list[Quote]:
    """The entry's citations with their documents and what each quote is (verbatim or derived, checked or not)."""
    docs = rs.table_documents.get(name, rs.documents) if section == "tables" else rs.documents
    out = []
    for c in getattr(entry, "sources", ()) or ():
        d = docs.get(c.ref)
        extra = [x for x in (f"section: {c.section}" if c.section else None, c.note) if x]
        check = check_quote(c.kind, c.quote, d.url if d else None, texts)
        out.append(Quote(c.quote, c.ref, d.title if d else c.ref, d.url if d else None, d.retrieved if d else None, extra,
                         describe(c.kind, c.derived_from, check), check.verdict == "missing"))
    return out


def _targets_version(catalog: Catalog, case: Case, rs: RuleSet) -> bool:
    """Whether a case runs on `rs` (pinned, or chosen by its snapshot's date); True when unsure, so run_case decides."""
    try:
        if "version" in case.body:
            return str(case.body["version"]) == rs.version
        if "snapshot" in case.body:
            return catalog.entry(rs.id, snapshot_date(case.body["snapshot"])).valid_from == rs.version
    except MarginspecError:
        return True
    return True


def run_cases(catalog: Catalog, rs: RuleSet, rules: Rules) -> tuple[list[tuple[Case, CaseOutcome]], list[tuple[Case, CaseOutcome, Rules]]]:
    """Every case of the rule set, run: those that ran on this version (failed ones included), and those that ran
    on others, with the build they ran on (an entry inherited unchanged is exercised by them too)."""
    compiled = {rs.key: rules}
    mine, others = [], []
    for path, display, exchanges in case_files(catalog):
        for case in load_cases(path, display, exchanges):
            if catalog.resolve_id(*case.ruleset.split("/", 1)) != rs.id:
                continue
            outcome = run_case(catalog, case, compiled)
            if outcome.version in (rs.ref, None):
                mine.append((case, outcome))
            elif outcome.build in compiled:
                others.append((case, outcome, compiled[outcome.build]))
    return mine, others


def _section_of(rs: RuleSet, name: str) -> str:
    return "quantities" if name in rs.quantities else "thresholds"


def build_report(catalog: Catalog, rs: RuleSet) -> Report:
    rules = Rules(rs)
    deps = rules.kernel.plan.deps
    outcomes, elsewhere = run_cases(catalog, rs, rules)
    hits: dict[str, list[CaseLink]] = {}
    for case, o in outcomes:
        direct = {t.split("[", 1)[0] for t in o.checked}
        for name in sorted(exercised(rules, o)) if o.version == rs.ref else []:
            hits.setdefault(name, []).append(CaseLink(case.name, case.file, o.ok, name in direct))
    for case, o, other in elsewhere:  # an entry defined by the same file is the same entry: its cases count here too
        direct = {t.split("[", 1)[0] for t in o.checked}
        for name in sorted(exercised(other, o)):
            section = _section_of(other.ruleset, name)
            if name in rs.section(section) and rs.origin(section, name).doc.file == other.ruleset.origin(section, name).doc.file:
                hits.setdefault(name, []).append(CaseLink(case.name, case.file, o.ok, name in direct, o.version))
    versions = [e.valid_from for e in catalog.files.get(rs.id, [])]
    later = [v for v in versions if v > rs.version]
    until = rs.valid_to or (later[0] if later else None)
    items = []
    for section in ("quantities", "thresholds"):
        for name, e in rs.section(section).items():
            text = e.formula if section == "quantities" else e.when
            items.append(Item(section, name, render(text, name if section == "quantities" else None), str(rs.origin(section, name).loc()),
                              e.axis, getattr(e, "unit", None), e.description, getattr(e, "severity", None), quotes(rs, e, section, name, catalog.document_texts),
                              e.assumption, e.ambiguity, deps.get(name, []),
                              sorted(hits.get(name, []), key=lambda c: (c.version is not None, not c.direct, c.version or "", c.name)),
                              len(" ".join(text.split())) + (len(name) if section == "quantities" else 0)))
    functions = [Item("functions", n, render(f.formula, n, f.params), str(rs.origin("functions", n).loc()), None, f.unit,
                      f.description, None, quotes(rs, f, "functions", n, catalog.document_texts), f.assumption, f.ambiguity,
                      width=len(n) + len(", ".join(f.params)) + len(" ".join(f.formula.split()))) for n, f in rs.functions.items()]
    return Report(rs, until, items, functions, outcomes, len(elsewhere), catalog.document_texts, rules, example_account(catalog, rs))


def example_account(catalog: Catalog, rs: RuleSet) -> tuple[str, Any] | None:
    """The venue's example snapshot of this mode (exchanges/<venue>/examples/<mode>.json), with the path shown,
    when its date chooses this version; else None."""
    for root in catalog.files[rs.id][0].exchanges:
        path = root / rs.venue / "examples" / f"{rs.mode}.json"
        if not path.is_file():
            continue
        try:
            data = read_snapshot_file(path)
            if catalog.entry(rs.id, snapshot_date(data)).valid_from != rs.version:
                return None
        except MarginspecError:
            return None
        return str(path.relative_to(root.parent)), data
    return None


def kind_of(rs: RuleSet, name: str) -> str | None:
    """The section a name belongs to, for links; None for names with no entry (row keys of axes)."""
    for section in ("quantities", "thresholds", "parameters", "tables", "functions", "inputs"):
        if name in rs.section(section):
            return section
    return "axes" if name in rs.axes else None


def values_text(value: Any) -> str:
    return num(list(value)) if isinstance(value, tuple) else num(value)


def interval_text(kind: str) -> str:
    return "lower < x ≤ upper" if kind == "lower_open" else "lower ≤ x < upper"


# ---------------------------------------------------------------- Markdown


def _md(text: str | None) -> str:
    """Rule text in Markdown: HTML neutralised, line breaks folded (the text is untrusted)."""
    text = html.escape(" ".join((text or "").split()), quote=False)
    return re.sub(r"([\\`*\[\]|])", r"\\\1", text)


def _md_quotes(qs: list[Quote]) -> list[str]:
    out = []
    for q in qs:
        link = f"[{_md(q.title)}]({q.url})" if q.url else _md(q.title)
        tail = "".join(f"; {_md(x)}" for x in q.extra)
        out += [f"> {_md(q.quote)}", ">", f"> — {link}" + (f", retrieved {_md(q.retrieved)}" if q.retrieved else "") + tail,
                ">", f"> *{_md(q.provenance)}*", ""]
    return out


def _md_item(r: Report, it: Item) -> list[str]:
    facts = [f"axis `{it.axis}`" if it.axis else None, f"unit `{it.unit}`" if it.unit else None,
             f"severity {it.severity}" if it.severity is not None else None, f"defined at `{it.where}`"]
    out = [f"### {it.name}", "", " · ".join(x for x in facts if x), ""]
    if it.description:
        out += [_md(it.description), ""]
    if it.section == "thresholds":
        out += ["Triggered when:", ""]
    out += [f"$$\n{it.math.latex}\n$$" if it.math.latex else f"`{it.math.text}`", "", f"As written: `{' '.join(it.math.text.split())}`", ""]
    out += _md_quotes(it.quotes)
    out += [f"**Assumption.** {_md(it.assumption)}", ""] if it.assumption else []
    out += [f"**Ambiguity.** {_md(it.ambiguity)}", ""] if it.ambiguity else []
    if it.reads:
        out += ["Reads: " + ", ".join(f"[{n}](#{n})" if kind_of(r.rs, n) in ("quantities", "thresholds", "functions") else f"`{n}`" for n in it.reads), ""]
    if it.section != "functions":
        cases = ", ".join(f"{'✓ pass' if c.ok else '✗ FAIL'} `{c.name}`" + ("" if c.direct else " (via a dependent)")
                          + (f" (on {c.version}, same entry)" if c.version else "") for c in it.cases)
        out += ["Cases: " + (cases or "none exercises it, on this version or another with the same entry"), ""]
    return out


def markdown(r: Report) -> str:
    rs = r.rs
    out = [f"# Audit: {rs.ref}", "", f"**{_md(rs.title)}**", "",
           f"Valid from {rs.version} " + (f"until {r.valid_until} (exclusive)" if r.valid_until else "(open-ended)")
           + (f"; extends {rs.extends}" if rs.extends else "") + f". Generated by marginspec {__version__}.", ""]
    if rs.description:
        out += [_md(rs.description), ""]
    ok = len(r.outcomes) - r.failed
    out += [f"{len(rs.quantities)} quantities, {len(rs.thresholds)} thresholds; {len(r.outcomes)} cases ran on this version: "
            f"{ok} pass, {r.failed} fail ({r.other_versions} other cases of this rule set run on other versions).", ""]
    out += ["## Files", "", "| file | sha256 |", "|---|---|"] + [f"| `{f.path}` | `{f.sha256}` |" for f in rs.files] + [""]
    out += ["## Table versions", "", "| name | version | status |", "|---|---|---|"] + [
        f"| `{n}` | `{_md(t.where)}` | {_md(t.status_text())} |" for n, t in rs.tables.items()] + [""]
    out += ["## Documents", ""] + [f"- `{k}`: [{_md(d.title)}]({d.url})" + (f", retrieved {d.retrieved}" if d.retrieved else "") for k, d in rs.documents.items()] + [""]
    for section, title in (("quantities", "Quantities"), ("thresholds", "Thresholds")):
        out += [f"## {title}", ""]
        for it in r.items:
            if it.section == section:
                out += _md_item(r, it)
    out += ["## Parameters", "", "| name | value | unit | source |", "|---|---|---|---|"]
    for n, p in rs.parameters.items():
        src = "; ".join(f"“{_md(q.quote)}” ({_md(q.title)}; {_md(q.provenance)})" for q in quotes(rs, p, "parameters", n, r.texts)) or f"assumption: {_md(p.assumption)}"
        out.append(f"| `{n}` | {values_text(p.shown)} | `{p.unit}` | {src} |")
    out += ["", "## Tables", ""]
    for n, t in rs.tables.items():
        cols = list(t.columns)
        out += [f"### {n}", "", _md(t.title or ""), "", f"Bound in `{t.bound.unit}` ({interval_text(t.interval)})"
                + f"; `{_md(t.where)}`; status: **{_md(t.status_text())}**", ""]
        out += ["| key | lower | upper | " + " | ".join(cols) + " | status |", "|---" * (4 + len(cols)) + "|"]
        for key, rows in t.tiers.items():
            for j, row in enumerate(rows):
                ref = t.row_refs.get(key, ())[j] if j < len(t.row_refs.get(key, ())) else None
                out.append(f"| `{key}` | {num(row['lower'])} | {num(row['upper']) if row['upper'] is not None else '∞'} | "
                           + " | ".join(num(row.get(c)) for c in cols) + f" | {t.status_of(key, j)}" + (f" [{_md(ref)}]" if ref else "") + " |")
        out += [""] + _md_quotes(quotes(rs, t, "tables", n, r.texts))
    if r.functions:
        out += ["## Functions", ""]
        for it in r.functions:
            out += _md_item(r, it)
    out += ["## Inputs", "", "| name | axis | type | unit | default | description |", "|---|---|---|---|---|---|"]
    for n, i in rs.inputs.items():
        out.append(f"| `{n}` | {i.axis} | {i.type} | {i.unit or ''} | {'' if i.default is None else _md(str(i.default))} | {_md(i.description)} |")
    out += ["", "## Not modelled", "", "| name | what | warning |", "|---|---|---|"]
    for n, nm in rs.not_modelled.items():
        trigger = (f"when `{_md(nm.when)}`" + (f" (rows of {nm.axis})" if nm.axis != "account" else "") if nm.when
                   else f"collection `{nm.collection}` ignored, with a warning" if nm.collection else "listed only")
        out.append(f"| `{n}` | {_md(nm.description)} | {trigger} |")
    out += ["", "## Cases", "", "| case | file | result | checks |", "|---|---|---|---|"]
    for case, o in r.outcomes:
        out.append(f"| `{case.name}` | `{case.file}` | {'✓ pass' if o.ok else '✗ FAIL: ' + _md('; '.join(o.failures))} | {_md(', '.join(o.checked))} |")
    if rs.notes:
        out += ["", "## Notes", ""] + [f"- {_md(x)}" for x in rs.notes]
    return "\n".join(out) + "\n"


def audit(catalog: Catalog, rs: RuleSet, fmt: str = "md") -> str:
    """The audit of one rule-set version as Markdown (`md`) or one self-contained HTML file (`html`)."""
    report = build_report(catalog, rs)
    if fmt == "html":
        from .audit_html import html_report

        return html_report(report)
    return markdown(report)
