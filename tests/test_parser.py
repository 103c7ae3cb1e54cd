"""The whitelist formula parser: what it accepts, what it refuses, and where it says so."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marginspec.errors import Location, RuleFileError, RuleFileErrors
from marginspec.ir.compiler import Compiler, compile_plan
from marginspec.language.parser import FormulaParser
from marginspec.source.catalog import Catalog

from conftest import DEMO_RULES, quantity


@pytest.fixture(scope="module")
def demo_compiler() -> Compiler:
    c = Compiler(Catalog([DEMO_RULES]).load("demo/basic@2025-01-01"))
    c.build_axes()
    c.build_inputs()
    c.build_parameters()
    c.build_tables()
    c.build_callables()
    return c


def parse(compiler: Compiler, text: str):
    return FormulaParser(compiler, Location("rule.yaml", 10, 14)).parse(text)


@pytest.mark.parametrize(
    "text, kind, shape",
    [
        ("1 + 2 * 3", "number", "constant"),
        ("cash_balance * index_price", "number", "currency"),
        ("if(equity > 0, equity, 0)", "number", "currency"),
        ("min(size, 0) + max(size, 0, -size)", "number", "position"),
        ("margin_mode == 'cross' and not (size > 0)", "bool", "position"),
        ("0 < size <= abs(size)", "bool", "position"),
        ("sum(upl, by=settle_currency, where=margin_mode == 'isolated')", "number", "currency"),
        ("index_price[settle_currency] * size", "number", "position"),
        ("count(size > 0)", "number", "account"),
        ("any(equity < 0)", "bool", "account"),
        ("max(size, default=0)", "number", "account"),
        ("tier(position_tiers.mmr, family_size[family])", "number", "position"),
        ("progressive(discount.rate, equity * index_price, currency)", "number", "currency"),
        ("linear_pnl(size, ct_val, mark_price, avg_price)", "number", "position"),
        ("ncdf(0) + erf(0) + sqrt(4) + exp(0) + log(1) + abs(-1) + floor(1.5) + ceil(1.5)", "number", "constant"),
        ("liquidation_fees + inf", "number", "account"),
        ("if(\n  size > 0,\n  1,\n  2)", "number", "position"),
    ],
)
def test_accepted_formulas_have_a_kind_and_a_shape(demo_compiler, text, kind, shape):
    term = parse(demo_compiler, text)
    assert term.kind == kind
    assert str(term.shape) == shape


def test_numbers_are_the_exact_decimals_written(demo_compiler):
    assert parse(demo_compiler, "0.075").expr == sympy.Rational(3, 40)
    assert parse(demo_compiler, "1e-4 * 3").expr == sympy.Rational(3, 10000)
    assert parse(demo_compiler, "2 ** -2").expr == sympy.Rational(1, 4)


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("cash_balnce + 1", "unknown name 'cash_balnce' (did you mean cash_balance", 1),
        ("1 + ", "syntax error", None),
        ("size + 1and 2", "syntax error: invalid decimal literal", 8),  # a warning to Python, an error here (no stray warning)
        ("cash_balance.real", "attribute access is not allowed", 1),
        ("().__class__.__mro__", "attribute access is not allowed", 1),
        ("__import__('os').system('touch /tmp/x')", "only named functions can be called", 1),
        ("open('/etc/passwd')", "unknown function 'open'", 1),
        ("9**9**9**9", "larger than 64", 7),
        ("size ** 100", "larger than 64", 9),
        ("size ** size", "exponents must be number literals", 9),
        ("lambda: 1", "lambda is not allowed", 1),
        ("[x for x in size]", "list comprehension is not allowed", 1),
        ("size if size > 0 else 0", "write if(c, a, b)", 1),
        ("'text'", "text is only allowed when comparing", 1),
        ("size % 2", "% is not allowed", 6),
        ("size * 3%", "write a percentage as a ratio (3% is 0.03)", 9),
        ("size // 2", "operator // is not allowed", 1),
        ("abs(*size)", "* and ** arguments are not allowed", 1),
        ("abs(size, size)", "abs() takes 1 argument, got 2", 1),
        ("abs(x=size)", "abs() takes no keyword arguments", 7),
        ("min(liquidation_fees)", "has nothing to reduce", 1),
        ("sum(size, by=margin_mode)", "by= takes a reference", 14),
        ("size[settle_currency]", "'size' lives on position, but this reference points into currency", 1),
        ("index_price[margin_mode]", "the index must be a reference", 13),
        ("size == 'cross'", "only choice inputs can be compared with text", 1),
        ("margin_mode == 'crss'", "'crss' is not one of the choices cross, isolated", 16),
        ("if(1, 2, 3)", "must be a condition", 4),
        ("(size > 0) + 1", "must be a number, not a condition", 2),
        ("1e400", "out of range", 1),
        ("1e-299 * 1e-299", "out of range", 1),  # underflows to 0 as a float: refused, not a math domain error
        ("1 / 0", "has no value", 1),
        ("log(0)", "has no real value", 1),
        ("IF(size > 0, 1, 2)", "unknown name 'IF'", None),
        ("cash_balance + size", "cannot combine values on currency with values on position", 1),
        ("discount + 1", "is a table", 1),
        ("linear_pnl + 1", "is a function", 1),
        ("tier(discount.nope, 1, currency)", "has no column 'nope'", 6),
        ("tier(discount.rate, 1)", "pass the key as the third argument", 1),
        ("linear_pnl(size)", "linear_pnl() takes 4 arguments, got 1", 1),
        ("sum(size, over=position)", "over= takes a grid axis", 16),
        ("f'{size}'", "f-string is not allowed", 1),
        ("size := 1", "syntax error", None),
        ("x" * 4001, "longer than 4000", None),
    ],
)
def test_refused_formulas_say_where_and_why(demo_compiler, text, message, column):
    with pytest.raises(RuleFileError) as info:
        parse(demo_compiler, text)
    err = info.value
    assert message in err.message
    assert err.location.file == "rule.yaml"
    assert err.location.line == 10
    if column is not None:
        assert err.location.column == 14 + column - 1  # the formula starts at column 14 of line 10


def test_errors_on_later_lines_of_a_formula_point_at_that_line(demo_compiler):
    with pytest.raises(RuleFileError) as info:
        parse(demo_compiler, "if(size > 0,\n   bogus,\n   0)")
    assert (info.value.location.line, info.value.location.column) == (11, 4)
    assert "bogus" in info.value.snippet


HOSTILE = [
    "__import__('os').system('touch {canary}')",
    "().__class__.__mro__[1].__subclasses__()",
    "open('{canary}', 'w')",
    "exec('import os')",
    "eval('1')",
    "getattr(size, '__class__')",
    "__builtins__",
    "size.__globals__",
    "[c for c in ().__class__.__bases__]",
    "(lambda: __import__('os'))()",
    "9**9**9**9",
    "((9**9)**9)**9",
    "1" + "*1" * 3000,
    "(" * 300 + "1" + ")" * 300,
    "f(" * 50 + ")" * 50,
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_formulas_fail_to_load_and_run_nothing(make_rules, tmp_path, payload):
    canary = tmp_path / "canary"
    formula = payload.replace("{canary}", str(canary))
    root = make_rules(quantities={"q": quantity(formula)})
    env = dict(os.environ, MARGINSPEC_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "marginspec.cli", "--rules", str(root), "check", str(root)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "2025-01-01.yaml:" in proc.stdout  # file:line:column of the formula
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not canary.exists()


TOKENS = [
    "size", "equity", "cash_balance", "settle_currency", "margin_mode", "discount", "position_tiers.mmr", "1", "0.5", "inf",
    "+", "-", "*", "/", "**", "(", ")", "[", "]", ",", "==", "<", "and", "not", "if", "sum", "min", "abs", "by=", "where=",
    "'cross'", "__class__", ".", "lambda", ":", "__import__", "os", "exec", "'x'", "%", "@", "\n", "#", "tier(", "family",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join), st.text(max_size=60)))
def test_random_text_either_parses_or_fails_with_a_location(demo_compiler, text):
    try:
        term = parse(demo_compiler, text)
    except RuleFileError as err:
        assert err.location is not None and err.location.file == "rule.yaml"
        assert err.location.line is not None and err.location.line >= 10
    else:
        assert term.kind in ("number", "bool", "enum", "ref", "text")


def test_cycles_between_quantities_are_load_errors(make_rules):
    root = make_rules(quantities={"a": quantity("b * 3"), "b": quantity("c * 2"), "c": quantity("a")})
    with pytest.raises((RuleFileError, RuleFileErrors)) as info:
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))
    assert "cycle: a -> b -> c -> a" in str(info.value)
    assert "2025-01-01.yaml:" in str(info.value)


def test_a_formula_on_the_wrong_axis_is_a_load_error(make_rules):
    root = make_rules(quantities={"q": quantity("balance * price", axis="account")})
    with pytest.raises(RuleFileErrors, match="live on currency, but the entry says axis account"):
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))


def test_recursive_user_functions_are_refused(make_rules):
    fns = {"f": {"params": ["x"], "formula": "g(x)", "assumption": "test"}, "g": {"params": ["x"], "formula": "f(x) + 1", "assumption": "test"}}
    root = make_rules(functions=fns, quantities={"q": quantity("f(1)")})
    with pytest.raises(RuleFileErrors, match="function 'f' calls itself"):
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))


def test_function_expansion_is_bounded(make_rules):
    fns = {f"f{i}": {"params": ["x"], "formula": f"f{i + 1}(x) + f{i + 1}(x)", "assumption": "test"} for i in range(11)}
    fns["f11"] = {"params": ["x"], "formula": "x", "assumption": "test"}
    root = make_rules(functions=fns, quantities={"q": quantity("f0(1)")})
    with pytest.raises(RuleFileErrors, match="too large"):
        compile_plan(Catalog([root]).load("t/m@2025-01-01"))


def test_no_module_of_the_package_calls_eval_exec_sympify_or_unpickles():
    """Every module of the package, read as a syntax tree: no eval/exec/compile of text, no sympify or
    parse_expr, no unsafe YAML loader, no pickle/marshal/shelve. Loading the generated kernel
    (exec_module, after its hash is checked) is the one place code is run, in run/kernel.py."""
    package = Path(__file__).parents[1] / "engine"
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else None)
                if isinstance(f, ast.Attribute) and name == "compile":  # re.compile is fine
                    name = None
                if name == "exec_module" and path.relative_to(package).as_posix() == "run/kernel.py":
                    name = None
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                name = next((m for m in mods if m.split(".")[0] in ("pickle", "marshal", "shelve", "dill")), None)
            if name in ("eval", "exec", "compile", "sympify", "parse_expr", "load", "unsafe_load", "full_load", "exec_module",
                        "__import__") or (name and name.split(".")[0] in ("pickle", "marshal", "shelve", "dill")):
                if name == "load" and not (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                                           and node.func.value.id in ("yaml", "pickle", "marshal")):
                    continue
                found.append(f"{path.relative_to(package)}:{node.lineno}: {name}")
    assert found == []
