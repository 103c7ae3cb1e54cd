"""Semantic diff: changed entries, equivalence verdicts, case impacts, exit codes."""

from __future__ import annotations

import yaml
from marginspec.source.catalog import Catalog
from marginspec.tools.diff import semantic_diff, verdict

from conftest import quantity
from test_cli import run


def two_versions(make_rules, old: dict, new: dict, parameters: dict | None = None, new_parameters: dict | None = None):
    make_rules(quantities=old, parameters=parameters or {})
    root = make_rules(quantities=new, parameters=new_parameters or parameters or {}, valid_from="2025-06-01")
    return root


def test_rewritten_formulas_are_equivalent_and_changed_ones_are_not(make_rules):
    root = two_versions(
        make_rules,
        {"usd": quantity("balance * price", axis="currency"), "total": quantity("sum(usd)"), "half": quantity("total / 2")},
        {"usd": quantity("price * balance", axis="currency"), "total": quantity("sum(usd) * 1"), "half": quantity("total / 3")},
    )
    cat = Catalog([root])
    d = semantic_diff(cat.load("t/m@2025-01-01"), cat.load("t/m@2025-06-01"), [])
    verdicts = {c.name: c.verdict for c in d.changes}
    assert verdicts == {"usd": "equivalent", "total": "equivalent", "half": "different"}
    assert not d.equivalent


def test_a_changed_parameter_changes_every_formula_that_reads_it(make_rules):
    p = {"rate": {"value": 0.02, "unit": "ratio", "assumption": "test"}}
    root = two_versions(make_rules, {"m": quantity("sum(balance * price) * rate")}, {"m": quantity("sum(balance * price) * rate")},
                        parameters=p, new_parameters={"rate": dict(p["rate"], value=0.03)})
    cat = Catalog([root])
    d = semantic_diff(cat.load("t/m@2025-01-01"), cat.load("t/m@2025-06-01"), [])
    changes = {(c.section, c.name): c for c in d.changes}
    assert changes[("parameters", "rate")].detail == "value: 0.02 -> 0.03"
    assert changes[("quantities", "m")].verdict == "different"


def test_verdicts_on_conditions_and_piecewise():
    import sympy

    x, y = sympy.symbols("x y", real=True)
    assert verdict(sympy.Piecewise((x, x > 0), (0, True)), sympy.Max(x, 0)) in ("equivalent", "undecided")
    assert verdict(sympy.And(x > 0, y > 0), sympy.And(y > 0, x > 0)) == "equivalent"
    assert verdict(x <= 1, x < 1) == "different"  # they differ only on the boundary x = 1, which the probes visit
    assert verdict(x + 2 * y <= 3, x + 2 * y < 3) == "different"
    assert verdict(sympy.Max(x, 1), sympy.Max(x, 1) + sympy.Piecewise((1, sympy.Eq(x, 1)), (0, True))) == "different"
    assert verdict(x + y, x - y) == "different"


def test_diff_cli_lists_moved_case_values_and_exits_1(make_rules):
    root = two_versions(make_rules, {"q": quantity("sum(balance * price)")}, {"q": quantity("sum(balance * price) * 2")})
    (root / "t" / "m" / "x.cases.yaml").write_text(yaml.safe_dump({
        "schema": "marginspec/cases/v1", "ruleset": "t/m",
        "cases": {"c": {"description": "d", "worked_by_hand": "2 x 3", "version": "2025-01-01",
                        "snapshot": {"as_of": "2025-03-01", "currencies": [{"currency": "A", "balance": 2, "price": 3}]}, "expect": {"q": 6}}}}))
    proc = run("--rules", str(root), "diff", "t/m@2025-01-01", "t/m@2025-06-01")
    assert proc.returncode == 1
    assert "changed  quantities.q  [different]" in proc.stdout
    assert "c: q  6 -> 12" in proc.stdout
    same = run("--rules", str(root), "diff", "t/m@2025-01-01", str(root / "t" / "m" / "2025-01-01.yaml"))
    assert same.returncode == 0 and "equivalent" in same.stdout
