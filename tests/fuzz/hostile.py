"""Hypothesis strategies for hostile input, one family per class: formula text,
rule files (YAML), snapshots, venue payloads and Python API arguments. Each
mixes inputs built from the language's own pieces (so that many are accepted
and reach the kernels) with mutations of valid ones and outright attacks:
code that would create the marker file if anything ran it, deep nesting,
huge numbers, control characters, YAML tags and anchors, NaN in every spelling."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml
from fuzzing import MARKER
from hypothesis import strategies as st

M = str(MARKER)

# ---------- the small rule set formulas are compiled in

FUZZ_RULES: dict[str, Any] = {
    "schema": "marginspec/rule-file/v2", "ruleset": "fuzz/m", "valid_from": "2025-01-01", "title": "fuzz target",
    "documents": {"d": {"url": "https://example.org/d", "title": "doc"}},
    "axes": {
        "currency": {"collection": "currencies", "key": "currency", "description": "coins"},
        "position": {"collection": "positions", "key": "inst_id", "description": "positions"},
        "family": {"group": "position", "by": "fam", "description": "families"},
        "scenario": {"grid": {"move": "moves"}, "description": "moves"},
    },
    "inputs": {
        "balance": {"axis": "currency", "type": "number", "unit": "1", "description": "balance", "default": 0},
        "price": {"axis": "currency", "type": "number", "unit": "1", "description": "price", "default": 1},
        "settle": {"axis": "position", "type": "ref", "to": "currency", "description": "settlement coin"},
        "fam": {"axis": "position", "type": "text", "description": "family"},
        "size": {"axis": "position", "type": "number", "unit": "1", "description": "size", "default": 0},
        "mode": {"axis": "position", "type": "enum", "values": ["cross", "isolated"], "default": "cross", "description": "mode"},
        "fees": {"axis": "account", "type": "number", "unit": "1", "description": "fees", "default": 0},
        "flag": {"axis": "account", "type": "boolean", "description": "flag", "default": False},
    },
    "parameters": {"p": {"value": 2, "unit": "1", "assumption": "fuzz"},
                   "moves": {"value": [-0.1, 0, 0.1], "unit": "1", "assumption": "fuzz"}},
    "tables": {"t": {"bound": {"unit": "1", "description": "bound"}, "interval": "lower_open",
                     "columns": {"rate": {"unit": "1", "description": "rate"}},
                     "tiers": {"*": [{"lower": 0, "upper": 10, "rate": 0.5}, {"lower": 10, "upper": None, "rate": 0.25}]},
                     "status": "illustrative", "assumption": "fuzz"}},
    "functions": {"f": {"params": ["x"], "formula": "x * p + 1", "assumption": "fuzz"},
                  "g": {"params": ["x", "y"], "formula": "max(x, y)", "assumption": "fuzz"}},
    "quantities": {"e": {"axis": "currency", "unit": "1", "formula": "balance * price", "assumption": "fuzz", "show": True},
                   "q": {"axis": "account", "unit": "1", "formula": "sum(e) + fees", "assumption": "fuzz", "show": True}},
    "thresholds": {"low": {"axis": "currency", "when": "e <= 1", "severity": 1, "assumption": "fuzz"},
                   "lower": {"axis": "account", "when": "sum(e) + fees <= 1", "severity": 2, "assumption": "fuzz"}},
}
FUZZ_SPEC = "fuzz/m@2025-01-01"
FUZZ_SNAPSHOT = {"as_of": "2025-02-01", "account": {"fees": 1},
                 "currencies": [{"currency": "A", "balance": 2, "price": 3}, {"currency": "B", "balance": -1, "price": 0.5}],
                 "positions": [{"inst_id": "P", "settle": "A", "size": 4, "fam": "X"},
                               {"inst_id": "Q", "settle": "B", "size": -2, "fam": "Y", "mode": "isolated"}]}
AXES = ["account", "currency", "position", "family", "scenario", "position x scenario", "currency x scenario", "family x scenario"]

# code that would create the marker if anything evaluated it, in every dialect an engine might be fooled by
INJECTIONS = [
    f"__import__('os').system('touch {M}')",
    f"open('{M}', 'w').write('x')",
    f"exec(\"open('{M}', 'w')\")",
    f"eval(\"open('{M}', 'w')\")",
    f"(lambda: open('{M}', 'w'))()",
    f"getattr(__builtins__, 'open')('{M}', 'w')",
    f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()._module.__builtins__['open']('{M}', 'w')",
    f"Function('open')('{M}')",
    f"sympify(\"open('{M}', 'w')\")",
    f"__builtins__.open('{M}', 'w')",
    f"globals()['__builtins__']['open']('{M}', 'w')",
    f"breakpoint() or open('{M}', 'w')",
]
# text meant to break out of a string literal, a comment or a line of generated code
ESCAPES = [
    f"'); open('{M}', 'w') #",
    f"\"); open('{M}', 'w') #",
    f"\"\"\"\nopen('{M}', 'w')\n\"\"\"",
    f"'''\nopen('{M}', 'w')\n'''",
    f"x\nopen('{M}', 'w')\n",
    f"\\\nopen('{M}', 'w')",
    f"{{open('{M}', 'w')}}",
    f"${{open('{M}', 'w')}}",
    f"\x00open('{M}', 'w')",
]
YAML_TAGS = [
    f"!!python/object/apply:os.system ['touch {M}']",
    f"!!python/object/apply:builtins.open ['{M}', 'w']",
    f"!!python/object/new:builtins.open ['{M}', 'w']",
    "!!python/name:os.system",
    "!!python/module:os",
]

# ---------- formulas

NAMES = ["balance", "price", "size", "fees", "flag", "p", "move", "moves", "e", "q", "settle", "fam", "mode", "family",
         "currency", "position", "scenario", "t", "f", "g", "x", "inf", "nan", "True", "False", "None", "E", "I", "pi",
         "oo", "zoo", "S", "Symbol", "IF", "if", "math", "numpy", "np", "runtime", "semantics", "T", "n", "rows", "acct",
         "v_e", "i", "r", "_", "__builtins__", "__class__", "lambda", "import"]
CALLS = ["min", "max", "abs", "sqrt", "exp", "log", "erf", "ncdf", "floor", "ceil", "sum", "count", "any", "all", "tier",
         "progressive", "if", "f", "g", "e", "q", "balance", "round", "pow", "len", "print", "open", "eval", "exec",
         "__import__", "getattr", "type", "Piecewise", "Max", "sympify"]
KEYWORDS = ["by", "over", "where", "default", "take", "key", "x", "axis"]
BINARY = ["+", "-", "*", "/", "**", "%", "//", "@", "&", "|", "^", "<<", ">>", "and", "or",
          "==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]
COMMON_BINARY = ["+", "-", "*", "/", "**", "<", "<=", ">", ">=", "==", "!=", "and", "or"]
UNARY = ["-", "+", "not ", "~"]
NUMBERS = ["0", "1", "2", "-1", "0.5", "1e308", "1e309", "-1e308", "1e-320", "5e-324", "1e300", "1e299 * 1e299", "0.0",
           "-0.0", "0x1F", "0o17", "0b101", "1_000", "1j", "3.", ".5", "1e", "1" + "0" * 400, "9" * 4400, "1e99999",
           "0.1e-99999", "00", "1.7976931348623157e308", "2 ** 1024", "10 ** 64", "10 ** 65", "2 ** -1074", "(-8) ** 0.5",
           "(-1) ** (1/3)", "0 ** -1", "0 / 0", "1 / 0"]
ALPHABET = "abcxyz_019 .,()[]{}+-*/%<>=!&|^~:;'\"#@$\\`?\n\t\r\x00\x0b\x0c\x1b\x7f\x85\u00a0\u2028\u2029\u200b\u202e\ufeff" \
           "ｅｘｅｃｂａｌｎ１∞πΣ√\U0001d41a\ud800"


def _names() -> st.SearchStrategy[str]:
    return st.sampled_from(NAMES[:20]) | st.sampled_from(NAMES)


def _atoms() -> st.SearchStrategy[str]:
    return (_names() | _names() | st.sampled_from(NUMBERS) | st.integers(-10**6, 10**6).map(str)
            | st.floats(allow_nan=False, allow_infinity=False).map(repr)
            | st.sampled_from(["'cross'", "'isolated'", "'other'", '"x"', "b'x'", "r'\\x'", "...", "'A'", "'*'"]))


def _call(args: st.SearchStrategy[list[str]], fn: st.SearchStrategy[str], kws: st.SearchStrategy[list[tuple[str, str]]]) -> st.SearchStrategy[str]:
    return st.builds(lambda f, a, k: f"{f}({', '.join(a + [f'{n}={v}' for n, v in k])})", fn, args, kws)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, inner)
    return st.one_of(
        st.builds(lambda ab, op: f"{ab[0]} {op} {ab[1]}", pair, st.sampled_from(COMMON_BINARY)),
        st.builds(lambda ab, op: f"{ab[0]} {op} {ab[1]}", pair, st.sampled_from(BINARY)),
        st.builds(lambda a, op: f"{op}{a}", inner, st.sampled_from(UNARY)),
        inner.map(lambda a: f"({a})"),
        _call(st.lists(inner, max_size=3), st.sampled_from(CALLS[:19]), st.lists(st.tuples(st.sampled_from(KEYWORDS[:5]), inner), max_size=2)),
        _call(st.lists(inner, max_size=4), st.sampled_from(CALLS), st.lists(st.tuples(st.sampled_from(KEYWORDS), inner), max_size=2)),
        st.builds(lambda a, b: f"{a}[{b}]", inner, st.sampled_from(["settle", "0", "1:2", "'A'", "family", "fam", "currency", "-1", "e"]) | inner),
        st.builds(lambda a, b: f"{a}.{b}", inner, st.sampled_from(["rate", "__class__", "__globals__", "__subclasses__()", "real", "x", "mro"])),
        st.builds(lambda a, b, c: f"{a} if {b} else {c}", inner, inner, inner),
        st.builds(lambda a, b, c: f"if({a}, {b}, {c})", inner, inner, inner),
        inner.map(lambda a: f"(lambda x: {a})(1)"),
        inner.map(lambda a: f"f'{{{a}}}'"),
        inner.map(lambda a: f"(y := {a})"),
        inner.map(lambda a: f"[x for x in {a}]"),
        inner.map(lambda a: f"sum(x for x in {a})"),
        st.builds(lambda a, b: f"{{{a}: {b}}}", inner, inner),
        st.builds(lambda a, b: f"({a}, {b})", inner, inner),
        st.builds(lambda a, b: f"[{a}, {b}]", inner, inner),
        inner.map(lambda a: f"*{a}"),
        inner.map(lambda a: f"**{a}"),
        inner.map(lambda a: f"await {a}"),
        inner.map(lambda a: f"(yield {a})"),
        st.builds(lambda a, b: f"{a}\n{b}", inner, inner),
    )


GRAMMAR = st.recursive(_atoms(), _extend, max_leaves=12)

# formulas this rule set accepts, to mutate
VALID = [
    "sum(e) + fees", "balance * price", "f(balance) + tier(t.rate, abs(balance))", "size * price[settle] * if(mode == 'cross', 1, 2)",
    "sum(size, by=family)", "size * move", "min(sum(size * move), over=scenario, take=move)", "if(flag, 1, 0) + count(e > 0) + g(fees, 3)",
    "progressive(t.rate, abs(balance))", "max(e, default=0) / min(price, default=1)", "sum(size, by=settle, where=mode == 'isolated')",
    "sqrt(abs(balance)) + exp(-abs(price)) + log(1 + abs(balance))", "ncdf(balance) * erf(price)", "floor(balance) + ceil(price)",
    "any(e > 1) and all(price > 0)", "balance / price", "e / sum(e)", "balance ** 2 - price ** -1", "max(size * move, over=scenario)",
    "count(size > 0, by=settle)", "sum(size * price[settle], by=family)", "fees / (sum(e) - sum(e * 1))", "1 / fees - 1 / fees",
]


def _mutate(text: str, draw: st.DrawFn) -> str:
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["insert", "delete", "duplicate", "truncate", "token", "swap"]))
        if how == "insert":
            text = text[:at] + draw(st.text(ALPHABET, min_size=1, max_size=3)) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)):]
        elif how == "duplicate":
            text = text[:at] + text[at:at + draw(st.integers(1, 12))] * draw(st.integers(2, 4)) + text[at:]
        elif how == "truncate":
            text = text[:at]
        elif how == "token":
            text = text[:at] + " " + draw(st.sampled_from(NAMES + BINARY + NUMBERS[:12] + CALLS)) + " " + text[at:]
        else:
            b = draw(st.integers(0, len(text)))
            lo, hi = min(at, b), max(at, b)
            text = text[hi:] + text[lo:hi] + text[:lo]
    return text


@st.composite
def mutated_formulas(draw: st.DrawFn) -> str:
    return _mutate(draw(st.sampled_from(VALID) | GRAMMAR), draw)


@st.composite
def deep_formulas(draw: st.DrawFn) -> str:
    n = draw(st.sampled_from([10, 12, 13, 50, 100, 200, 999, 1000, 1999, 2000, 4000, 20000]))
    leaf = draw(st.sampled_from(["balance", "1", "fees", "e"]))
    shape = draw(st.sampled_from(["parens", "minus", "not", "calls", "user", "sum", "chain", "power", "if", "list", "max", "mix"]))
    return {
        "parens": "(" * n + leaf + ")" * n,
        "minus": "-" * n + leaf,
        "not": "not " * n + "flag",
        "calls": "abs(" * n + leaf + ")" * n,
        "user": "f(" * n + leaf + ")" * n,
        "sum": leaf + " + balance" * n,
        "chain": " * ".join([leaf] * n),
        "power": leaf + " ** 2" * min(n, 60),
        "if": "if(flag, " * n + leaf + ", 0)" * n,
        "list": "[" * n + leaf + "]" * n,
        "max": "max(" * n + leaf + ", 1)" * n,
        "mix": "g(" * n + leaf + ", f(" + leaf + "))" * n,
    }[shape]


# well-typed formulas per axis, so that most compile and reach the kernels: values on the axis (or the account)
ON_AXIS = {
    "account": ["fees", "p", "sum(e)", "sum(size)", "sum(size * price[settle])", "max(balance, default=0)", "min(price, default=-1)",
                "count(size > 0)", "min(sum(size * move), over=scenario)", "sum(e, where=balance > 0)", "max(size * move, over=scenario, default=0)"],
    "currency": ["balance", "price", "e", "sum(size, by=settle)", "count(mode == 'cross', by=settle)"],
    "position": ["size", "price[settle]", "balance[settle]", "e[settle]", "if(mode == 'cross', size, -size)"],
    "family": ["sum(size, by=family)", "max(size, by=family, default=0)"],
    "scenario": ["move", "sum(size * move)"],
    "position x scenario": ["size * move", "move", "size"],
    "currency x scenario": ["balance * move", "move", "sum(size * move, by=settle)"],
    "family x scenario": ["sum(size * move, by=family)", "move"],
}
LITERALS = ["0", "1", "2", "0.5", "-1", "1e299", "1e-299", "3", "100", "-0.0"]


def typed_formulas(axis: str) -> st.SearchStrategy[str]:
    """Numbers on `axis` built from its values, account values and literals with the language's operators and calls."""
    leaves = st.sampled_from(ON_AXIS[axis] + ON_AXIS["account"][:4]) | st.sampled_from(LITERALS)

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        cond = st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), inner)
        cond = cond | st.builds(lambda a, op, b: f"({a}) {op} ({b})", cond, st.sampled_from(["and", "or"]), cond) | cond.map(lambda c: f"not ({c})")
        return st.one_of(
            st.builds(lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from(["+", "-", "*", "/"]), inner),
            st.builds(lambda a, k: f"({a}) ** {k}", inner, st.sampled_from(["2", "3", "-1", "0.5", "-2", "64", "0"])),
            inner.map(lambda a: f"-({a})"),
            st.builds(lambda fn, a: f"{fn}({a})", st.sampled_from(["abs", "sqrt", "exp", "log", "erf", "ncdf", "floor", "ceil", "f"]), inner),
            st.builds(lambda fn, a, b: f"{fn}({a}, {b})", st.sampled_from(["min", "max", "g"]), inner, inner),
            st.builds(lambda c, a, b: f"if({c}, {a}, {b})", cond, inner, inner),
            inner.map(lambda a: f"tier(t.rate, {a})"),
            inner.map(lambda a: f"progressive(t.rate, {a})"),
        )

    return st.recursive(leaves, grow, max_leaves=8)


_FORMULAS: dict[str, st.SearchStrategy[str]] = {}


def formulas_on(axis: str) -> st.SearchStrategy[str]:
    """A formula for a quantity on `axis`: mostly well typed, the rest hostile in every way the strategies know."""
    if axis not in _FORMULAS:
        typed = typed_formulas(axis)
        _FORMULAS[axis] = st.one_of(typed, typed, typed, GRAMMAR, mutated_formulas(), mutated_formulas(), st.sampled_from(VALID),
                                    deep_formulas(), st.sampled_from(INJECTIONS + ESCAPES), st.text(ALPHABET, max_size=40))
    return _FORMULAS[axis]


def formula_rules(formula: str, axis: str, slot: str) -> dict[str, Any]:
    """The fuzz rule set with `formula` in `slot`: quantity q's formula, threshold low's condition, or function f's body."""
    doc = copy.deepcopy(FUZZ_RULES)
    if slot == "quantity":
        doc["quantities"]["q"] = {**doc["quantities"]["q"], "axis": axis, "formula": formula}
    elif slot == "threshold":
        doc["thresholds"]["low"] = {**doc["thresholds"]["low"], "axis": axis, "when": formula}
    else:
        doc["functions"]["f"] = {**doc["functions"]["f"], "formula": formula}
        doc["quantities"]["q"] = {**doc["quantities"]["q"], "axis": "account", "formula": "f(sum(e)) + sum(f(balance))"}
    return doc


def rule_text(doc: Any) -> str:
    """A rule file's YAML text (libyaml's emitter where installed: the suite writes thousands)."""
    try:
        return yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, allow_unicode=False)
    except UnicodeEncodeError:  # a lone surrogate, which only the Python emitter escapes
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=False)


# ---------- numbers a snapshot may hold, extreme ones included

EXTREMES = [0, -0.0, 1, -1, 0.5, 1e-300, 5e-324, -5e-324, 1e15, 1e308, -1e308, 1.7976931348623157e308, 2.5e-8, 123456.789, 10**39]


def numbers() -> st.SearchStrategy[Any]:
    return st.sampled_from(EXTREMES) | st.integers(-1000, 1000) | st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def fuzz_snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """Valid snapshots of the fuzz rule set, with extreme magnitudes."""
    coins = draw(st.lists(st.sampled_from(["A", "B", "C"]), unique=True, max_size=3))
    currencies = [{"currency": c, "balance": draw(numbers()), "price": draw(numbers())} for c in coins]
    positions = []
    for i in range(draw(st.integers(0, 3)) if coins else 0):
        positions.append({"inst_id": f"P{i}", "settle": draw(st.sampled_from(coins)), "fam": draw(st.sampled_from(["X", "Y"])),
                          "size": draw(numbers()), "mode": draw(st.sampled_from(["cross", "isolated"]))})
    return {"as_of": "2025-02-01", "account": {"fees": draw(numbers()), "flag": draw(st.booleans())},
            "currencies": currencies, "positions": positions}


# ---------- values to put anywhere in a document

HOSTILE_SCALARS: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**40, 10**41, 1e308, -1e308, 5e-324, "", " ", "0", "1e999", "NaN", "nan", "-nan", "Infinity",
    "-Infinity", "inf", "1_000", "0x10", "+1", " 1", "1 ", "١٢٣", "1,5", "true", "null", "x" * 10_000, "\x1b[2J", "\u202e", "\ud800",
    "a\nb", "\x00", "../../etc/passwd", "2025-13-40", "16:40", [], {}, [None], {"": None}, {"__class__": "x"}, [[[[[[[[]]]]]]]],
] + INJECTIONS[:3] + ESCAPES


def hostile_values() -> st.SearchStrategy[Any]:
    # nested across both limits (YAML 40, JSON 64), and shallow enough to copy without reaching Python's stack limit
    deep = st.integers(30, 80).map(lambda n: json.loads("[" * n + "1" + "]" * n))
    return st.sampled_from(HOSTILE_SCALARS) | numbers() | st.text(ALPHABET, max_size=20) | deep


def paths(doc: Any) -> list[tuple[Any, ...]]:
    """Every path to a value inside `doc` (dict keys and list indexes), in document order. Without recursion:
    a mutation may have put a list nested a hundred deep into the document, deeper than the stack allows."""
    out: list[tuple[Any, ...]] = []
    todo: list[tuple[tuple[Any, ...], Any]] = [((), doc)]
    while todo:
        prefix, value = todo.pop()
        out.append(prefix)
        children = list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
        todo += [((*prefix, k), v) for k, v in reversed(children)]
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path[:-1]:
        doc = doc[k]
    return doc


@st.composite
def mutated_document(draw: st.DrawFn, doc: Any, keys: list[str]) -> Any:
    """`doc` with one to three changes at random places: a value retyped or replaced, a key dropped, renamed or
    added, a list item duplicated or dropped. `keys` are names to rename or add keys to."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in paths(doc) if p]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent, last = _parent(doc, path), path[-1]
        how = draw(st.sampled_from(["replace", "replace", "replace", "drop", "rename", "add", "duplicate", "retype"]))
        if how == "replace":
            parent[last] = draw(hostile_values())
        elif how == "retype":
            v = parent[last]
            parent[last] = str(v) if not isinstance(v, str) else draw(st.sampled_from([[v], {v: v}, len(v), None]))
        elif how == "drop":
            del parent[last]
        elif how == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(keys) | st.text(ALPHABET, max_size=8))] = parent.pop(last)
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(keys) | st.text(ALPHABET, max_size=8))] = draw(hostile_values() | st.just(copy.deepcopy(parent[last])))
        elif how == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif isinstance(parent, list):
            del parent[last]
    return doc


# ---------- JSON text

def _json_text_mutation(text: str, draw: st.DrawFn) -> str:
    how = draw(st.sampled_from(["duplicate key", "nan", "huge", "deep", "truncate", "bom", "comment", "trailing comma",
                                "leading zero", "bytes", "surrogate", "control", "big int"]))
    at = draw(st.integers(0, len(text)))
    if how == "duplicate key":
        first = text.find('"', at)
        end = text.find('":', first + 1)
        if first >= 0 and end > first:
            key = text[first:end + 2]
            close = text.find(",", end)
            value = text[end + 2:close] if close > end and "{" not in text[end + 2:close] and "[" not in text[end + 2:close] else " 0"
            return text[:first] + key + value + ", " + text[first:]
        return '{"a": 1, "a": 2}'
    if how == "nan":
        return _replace_number(text, at, draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf"])))
    if how == "huge":
        return _replace_number(text, at, draw(st.sampled_from(["1e999", "-1e400", "1e308", "-1e308", "4.9e-324", "1e-400", "1.0e+308"])))
    if how == "big int":
        return _replace_number(text, at, draw(st.sampled_from(["9" * 41, "1" + "0" * 40, "-" + "9" * 5000, "9" * 39])))
    if how == "deep":
        n = draw(st.sampled_from([63, 64, 65, 100, 1000, 100_000]))
        return text[:at] + "[" * n + "1" + "]" * n + text[at:]
    if how == "truncate":
        return text[:at]
    if how == "bom":
        return "\ufeff" + text
    if how == "comment":
        return text[:at] + "/* x */" + text[at:]
    if how == "trailing comma":
        i = text.rfind("}")
        return text[:i] + "," + text[i:] if i > 0 else text
    if how == "leading zero":
        return _replace_number(text, at, "007")
    if how == "surrogate":
        return text[:at] + "\\ud800" + text[at:]
    if how == "control":
        return text[:at] + draw(st.sampled_from(["\x00", "\x1b", "\x7f", "\u2028", "\t", "\r"])) + text[at:]
    return text[:at] + "\udcff" + text[at:]  # written with surrogateescape: a byte that is not UTF-8


def _replace_number(text: str, at: int, replacement: str) -> str:
    import re

    for m in re.finditer(r"(?<![\"\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\"\w])", text):
        if m.start() >= at:
            return text[:m.start()] + replacement + text[m.end():]
    return text[:at] + replacement + text[at:]


@st.composite
def json_text(draw: st.DrawFn, data: Any) -> str:
    """`data` as JSON text, sometimes changed where only text can be: duplicate keys, NaN literals, huge numbers,
    deep nesting, truncation, a BOM, comments, bytes that are not UTF-8."""
    text = json.dumps(data, indent=draw(st.sampled_from([None, 1])), ensure_ascii=draw(st.booleans()), allow_nan=True)
    if draw(st.integers(0, 2)) == 0:
        text = _json_text_mutation(text, draw)
    return text


def encode(text: str) -> bytes:
    """Text to bytes as a stranger might write it: \udcff becomes the byte 0xff (not UTF-8), other lone surrogates
    the bytes UTF-8 would have for them (not UTF-8 either)."""
    return b"\xff".join(part.encode("utf-8", errors="surrogatepass") for part in text.split("\udcff"))



# ---------- rule files

RULE_KEYS = ["axis", "unit", "formula", "when", "extends", "remove", "schema", "valid_from", "ruleset", "sources", "assumption",
             "default", "values", "type", "to", "from", "grid", "group", "by", "tiers", "beyond", "interval", "show", "severity",
             "q\n", "1bad", "import", "def", "v_e", "_ref_currency_balance", "tc_t_rate", "math", "numpy", "np", "T", "n", "rows",
             "semantics", "runtime", "acct", "i", "r", "x", "__class__", "__init__", "e" * 70, "İ", "ǅ", "ｅ", "<<", "?", "-", ""]
SCALAR_TAGS = ["!!str", "!!int", "!!float", "!!bool", "!!null", "!!binary", "!!timestamp", "!!set", "!!omap", "!!pairs",
               "!custom", "!<tag:yaml.org,2002:str>", "!!python/str", "!!python/tuple"] + YAML_TAGS
YAML_SCALARS = ["16:40", "1:2:3", "-1:30", "0o17", "0x1F", "0b101", "+.inf", "-.inf", ".nan", ".NaN", "~", "null", "yes", "no", "on",
                "off", "y", "n", "2025-01-01 00:00:00", "2025-01-01", "1e999", "-1e400", "1_000", "9" * 41, "0x" + "f" * 200, "1.5e+308",
                "''", '""', "'\\x00'", '"\\x1b[2J"', '"\\ud800"', '"\\U0010FFFF"', "|\n  text", ">-\n  folded", "[]", "{}", "[1, 2", "{a: 1",
                "'" + "x" * 3000 + "'", "&a 1", "*a", "? complex key", "- item", "!!python/object/apply:os.system ['x']"]


def _lines_with_values(text: str) -> list[int]:
    return [i for i, line in enumerate(text.split("\n")) if ": " in line and not line.rstrip().endswith(":")]


def _yaml_text_mutation(text: str, draw: st.DrawFn) -> str:
    lines = text.split("\n")
    valued = _lines_with_values(text) or [0]
    i = draw(st.sampled_from(valued))
    key, _, value = lines[i].partition(": ")
    how = draw(st.sampled_from(["tag", "anchor", "merge", "duplicate line", "scalar", "control", "deep", "truncate", "delete line",
                                "tab", "crlf", "bom", "documents", "directive", "laughs", "bytes", "indent", "comment"]))
    if how == "tag":
        lines[i] = f"{key}: {draw(st.sampled_from(SCALAR_TAGS))} {value}"
    elif how == "anchor":
        j = draw(st.sampled_from(valued))
        k2, _, v2 = lines[j].partition(": ")
        lines[j] = f"{k2}: &a {v2}"
        lines[i] = f"{key}: *a"
    elif how == "merge":
        indent = len(key) - len(key.lstrip())
        lines.insert(i, " " * indent + draw(st.sampled_from(["<<: {unit: '1', axis: account}", "<<: *a", "<<: [{x: 1}]", "<<: 1"])))
    elif how == "duplicate line":
        lines.insert(i, lines[i])
    elif how == "scalar":
        lines[i] = f"{key}: {draw(st.sampled_from(YAML_SCALARS))}"
    elif how == "control":
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + draw(st.sampled_from(["\x00", "\x1b", "\x07", "\x7f", "\x85", "\u2028", "\ufeff", "\ufffe", "\ud800", "\t", "\r"])) + lines[i][at:]
    elif how == "deep":
        n = draw(st.sampled_from([39, 40, 41, 100, 5000]))
        lines[i] = f"{key}: " + draw(st.sampled_from(["[" * n + "1" + "]" * n, "{a: " * n + "1" + "}" * n]))
    elif how == "truncate":
        cut = draw(st.integers(0, len(text)))
        return text[:cut]
    elif how == "delete line":
        del lines[i]
    elif how == "tab":
        lines[i] = "\t" + lines[i].lstrip(" ")
    elif how == "crlf":
        return text.replace("\n", "\r\n")
    elif how == "bom":
        return "\ufeff" + text
    elif how == "documents":
        return text + "\n---\n" + text
    elif how == "directive":
        return draw(st.sampled_from(["%YAML 1.1\n---\n", "%YAML 1.2\n---\n", "%TAG ! tag:yaml.org,2002:python/object/apply:\n---\n", "%FOO\n---\n"])) + text
    elif how == "laughs":
        lines.insert(0, "lol: &l0 [x, x, x, x, x, x, x, x, x]")
        for k in range(1, 9):
            lines.insert(k, f"lol{k}: &l{k} [*l{k - 1}, *l{k - 1}, *l{k - 1}, *l{k - 1}, *l{k - 1}, *l{k - 1}, *l{k - 1}, *l{k - 1}]")
    elif how == "bytes":
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + "\udcff" + lines[i][at:]
    elif how == "indent":
        lines[i] = " " * draw(st.integers(1, 7)) + lines[i]
    else:
        lines[i] = lines[i] + " # " + draw(st.sampled_from(ESCAPES + INJECTIONS[:2] + ["\x1b[2J"]))
    return "\n".join(lines)


@st.composite
def rule_files(draw: st.DrawFn) -> str:
    """The fuzz rule set's text: its document changed at random paths (keys dropped, renamed, duplicated, values
    retyped or replaced, names that collide with generated ones), its text changed where only text can be (tags,
    anchors, merge keys, duplicate keys, control characters, YAML 1.1 numbers, deep nesting, bytes), or both."""
    doc = FUZZ_RULES
    structural, textual = draw(st.sampled_from([(True, False), (True, False), (False, True), (False, True), (True, True)]))
    if structural:
        doc = draw(mutated_document(doc, RULE_KEYS))
    text = rule_text(doc)
    if textual:
        for _ in range(draw(st.integers(1, 2))):
            text = _yaml_text_mutation(text, draw)
    return text
