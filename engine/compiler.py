"""Turn a loaded RuleSet into a Plan: resolve names, parse every formula with
the whitelist parser, hoist aggregations, references and table reads into
their own steps, check shapes and cycles, and order the steps."""

from __future__ import annotations

import dataclasses
import itertools
import math
from decimal import Decimal
from typing import Any

import sympy

from . import model, units
from .errors import RuleFileError, RuleFileErrors
from .formula import FormulaParser
from .terms import FunctionBinding, Refused, TableBinding, Term, broadcast
from .plan import (
    ACCOUNT, Aggregate, Elementwise, Gather, GridAxis, IndexVar, InputCol, Lookup, Plan, RowAxis, Shape, Step,
    TierTable, Var,
)
from .ruleset import RuleSet


def exact(value: float) -> sympy.Expr:
    """The decimal a YAML number was written as, as an exact sympy rational (inf stays inf)."""
    if not math.isfinite(value):
        return sympy.oo if value > 0 else -sympy.oo
    num, den = Decimal(repr(float(value))).as_integer_ratio()
    return sympy.Rational(num, den)


def number_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def var_symbol(var: Var) -> sympy.Symbol:
    return sympy.Symbol(var.name) if var.kind == "bool" else number_symbol(var.name)


def var_term(var: Var, codes: tuple[str, ...] = ()) -> Term:
    """The term that reads one plan variable."""
    if var.kind == "bool":
        return Term("bool", var.shape, sympy.Symbol(var.name), var=var.name)
    kind = "enum" if codes else "number"
    return Term(kind, var.shape, number_symbol(var.name), codes=codes, var=var.name)


class Compiler:
    """Builds the Plan of one rule set; implements the parser's Lowering protocol."""

    def __init__(self, rs: RuleSet):
        self.rs = rs
        self.row_axes: dict[str, RowAxis] = {}
        self.grids: dict[str, GridAxis] = {}
        self.names: dict[str, Term | TableBinding | FunctionBinding | str] = {}
        self.inputs: list[InputCol] = []
        self.indexes: dict[str, IndexVar] = {}
        self.tables: dict[str, TierTable] = {}
        self.vars: dict[str, Var] = {}
        self.steps: list[Step] = []
        self.memo: dict[Any, str] = {}
        self.counter = itertools.count(1)

    # ---------- errors

    def err(self, section: str, name: str, message: str, *sub: str | int) -> RuleFileError:
        return RuleFileError(f"{section}.{name}: {message}", self.rs.origin(section, name).loc(*sub))

    # ---------- declarations

    def declare(self, name: str, binding: Any, section: str, owner: str | None = None) -> None:
        """Add a name to the one namespace formulas see; a second use of a name is an error."""
        if name in self.names or name in ("inf", "if"):
            raise self.err(section, owner or name, f"the name {name!r} is used twice (names of inputs, axis keys, grid columns, parameters, tables, functions, quantities and thresholds share one namespace)")
        self.names[name] = binding

    def unit_of(self, text: str | None, section: str, name: str, *where: str | int) -> Any:
        """A declared unit, parsed; a located error for an unknown symbol."""
        if text is None:
            return None
        try:
            return units.parse_unit(text)
        except units.UnitSyntaxError as exc:
            raise self.err(section, name, str(exc), *(where or ("unit",))) from None

    def is_group(self, axis: str) -> bool:
        return axis in self.row_axes and self.row_axes[axis].group_of is not None

    def add_var(self, var: Var) -> Var:
        self.vars[var.name] = var
        return var

    def index_var(self, iv: IndexVar) -> str:
        self.indexes.setdefault(iv.name, iv)
        return iv.name

    def build_axes(self) -> None:
        for name, ax in self.rs.axes.items():
            if name == ACCOUNT:
                raise self.err("axes", name, "'account' is built in; do not declare it")
            if ax.kind == "rows":
                self.row_axes[name] = RowAxis(name, collection=ax.collection, key=ax.key)
        for name, ax in self.rs.axes.items():
            if ax.kind == "group":
                if ax.group not in self.row_axes or self.row_axes[ax.group].group_of:
                    raise self.err("axes", name, f"group: {ax.group!r} is not a row axis of the snapshot", "group")
                self.row_axes[name] = RowAxis(name, group_of=ax.group, by=ax.by)
            elif ax.kind == "grid":
                cols: list[tuple[str, tuple[float, ...]]] = []
                for col, pname in ax.grid.items():
                    p = self.rs.parameters.get(pname)
                    if p is None or not isinstance(p.value, tuple):
                        raise self.err("axes", name, f"grid column {col!r}: {pname!r} is not a list parameter", "grid", col)
                    cols.append((col, p.value))
                product = list(itertools.product(*(values for _, values in cols)))
                self.grids[name] = GridAxis(name, {c: tuple(p[i] for p in product) for i, (c, _) in enumerate(cols)})
        collections = [a.collection for a in self.row_axes.values() if a.collection]
        for name, ax in self.row_axes.items():
            if ax.collection and (ax.collection in ("account", "as_of") or collections.count(ax.collection) > 1):
                raise self.err("axes", name, f"collection {ax.collection!r} is reserved or used twice", "collection")

    def shape_of(self, text: str, section: str, name: str) -> Shape:
        parts = [p.strip() for p in text.split(" x ")]
        rows_ok = set(self.row_axes) | {ACCOUNT}
        if len(parts) == 1 and parts[0] in self.grids:
            return Shape(None, parts[0])
        if parts[0] not in rows_ok or len(parts) > 2 or (len(parts) == 2 and parts[1] not in self.grids):
            known = ", ".join(sorted(rows_ok | set(self.grids)))
            raise self.err(section, name, f"axis {text!r} is not an axis, or 'rows x grid' of them (axes: {known})", "axis")
        return Shape(parts[0], parts[1] if len(parts) == 2 else None)

    def build_inputs(self) -> None:
        for axis_name, ax in self.row_axes.items():
            if ax.collection:
                self.index_var(IndexVar(f"_acct_{axis_name}", axis_name, ACCOUNT, "account"))
                self.declare(ax.key, Term("text", Shape(axis_name), field=ax.key), "axes", axis_name)
        for name, inp in self.rs.inputs.items():
            if inp.axis != ACCOUNT and (inp.axis not in self.row_axes or self.row_axes[inp.axis].group_of):
                raise self.err("inputs", name, f"axis {inp.axis!r} is not 'account' or a row axis of the snapshot", "axis")
            shape = Shape(inp.axis)
            if inp.type == "ref":
                target = self.rs.axes.get(inp.to or "")
                if target is None or target.kind == "grid" or inp.to == inp.axis:
                    raise self.err("inputs", name, f"to: {inp.to!r} must be another row axis (or a grouping axis)", "to")
                source = inp.from_ or name
                if inp.from_ and not (inp.from_ in self.rs.inputs and self.rs.inputs[inp.from_].type == "text" and self.rs.inputs[inp.from_].axis == inp.axis) \
                        and inp.from_ != self.row_axes.get(inp.axis, RowAxis("")).key:
                    raise self.err("inputs", name, f"from: {inp.from_!r} must be the row key or a text input of {inp.axis}", "from")
                idx = self.index_var(IndexVar(f"_ref_{inp.axis}_{name}", inp.axis, inp.to or "", "ref", field=source, allow_missing=inp.optional))
                if inp.as_unit is not None and inp.as_unit not in units.ROW_RELATIVE:
                    raise self.err("inputs", name, f"as_unit: {inp.as_unit!r} is not one of {', '.join(units.ROW_RELATIVE)}", "as_unit")
                self.declare(name, Term("ref", shape, target=inp.to, index=idx, as_unit=inp.as_unit, optional=inp.optional), "inputs")
            elif inp.type == "text":
                self.declare(name, Term("text", shape, field=name), "inputs")
            else:
                kind = "bool" if inp.type == "boolean" else "number"
                var = self.add_var(Var(name, shape, kind))
                if inp.default is not None:
                    self._check_default(name, inp)
                self.inputs.append(InputCol(var, name, inp.axis, codes=inp.values, default=inp.default, minimum=inp.minimum,
                                            maximum=inp.maximum, exclusive_minimum=inp.exclusive_minimum))
                term = var_term(var, inp.values)
                term.unit = self.unit_of(inp.unit, "inputs", name) if inp.type == "number" else None
                term.identities = self._identities(name, inp)
                self.declare(name, term, "inputs")
        for name, ax in self.row_axes.items():
            if ax.group_of:
                by = self.rs.inputs.get(ax.by or "")
                if not ((by and by.type == "text" and by.axis == ax.group_of) or ax.by == self.row_axes[ax.group_of].key):
                    raise self.err("axes", name, f"by: {ax.by!r} must be a text input of {ax.group_of}", "by")
                self.index_var(IndexVar(f"_acct_{name}", name, ACCOUNT, "account"))
                idx = self.index_var(IndexVar(f"_grp_{ax.group_of}_{name}", ax.group_of, name, "group", field=ax.by))
                self.declare(name, Term("ref", Shape(ax.group_of), target=name, index=idx), "axes")

    def _identities(self, name: str, inp: model.Input) -> dict[str, Any] | None:
        if not inp.unit_identities:
            return None
        out = {}
        for value, lines in inp.unit_identities.items():
            if value not in inp.values:
                raise self.err("inputs", name, f"unit_identities: {value!r} is not one of the values {', '.join(inp.values)}", "unit_identities", value)
            try:
                out[value] = units.identity_pairs(lines)
            except units.UnitSyntaxError as exc:
                raise self.err("inputs", name, str(exc), "unit_identities", value) from None
        return out

    def _check_default(self, name: str, inp: model.Input) -> None:
        ok = {
            "number": isinstance(inp.default, (int, float)) and not isinstance(inp.default, bool),
            "boolean": isinstance(inp.default, bool),
            "enum": inp.default in inp.values,
        }[inp.type]
        if not ok:
            raise self.err("inputs", name, f"default {inp.default!r} does not fit type {inp.type}", "default")

    def build_parameters(self) -> None:
        grid_cols = {c: g for g in self.grids.values() for c in g.columns}
        for col, grid in grid_cols.items():
            var = self.add_var(Var(col, Shape(None, grid.name)))
            term = var_term(var)
            param = self.rs.axes[grid.name].grid[col]  # type: ignore[index]
            term.unit = self.unit_of(self.rs.parameters[param].unit, "parameters", param)
            self.declare(col, term, "axes", grid.name)
        for name, p in self.rs.parameters.items():
            if isinstance(p.value, tuple):
                self.declare(name, "a list parameter; use it as a grid column", "parameters")
            else:
                self.declare(name, Term("number", Shape(None), exact(p.value), unit=self.unit_of(p.unit, "parameters", name)), "parameters")

    def build_tables(self) -> None:
        for name, t in self.rs.tables.items():
            self.tables[name] = self._tier_table(name, t)
            columns = {c: self.unit_of(col.unit, "tables", name, "columns", c, "unit") for c, col in t.columns.items()}
            bound = self.unit_of(t.bound.unit, "tables", name, "bound", "unit")
            self.declare(name, TableBinding(name, columns, keyed=set(t.tiers) != {"*"}, bound=bound), "tables")

    def _tier_table(self, name: str, t: model.Table) -> TierTable:
        lower, upper, cols = [], [], {c: [] for c in t.columns}
        rationals: dict[str, list[tuple[sympy.Expr, ...]]] = {c: [] for c in t.columns}
        for key, rows in t.tiers.items():
            lo, hi = [], []
            for i, row in enumerate(rows):
                where = ("tiers", key, i)
                missing = [c for c in t.columns if c not in row]
                extra = [c for c in row if c not in t.columns and c not in ("lower", "upper")]
                if missing or extra:
                    raise RuleFileError(f"tables.{name}: tier {key}[{i}] " + (f"lacks {missing}" if missing else f"has undeclared columns {extra}"), self.rs.origin("tables", name).loc(*where))
                if i and row["lower"] != rows[i - 1]["upper"]:
                    raise RuleFileError(f"tables.{name}: tier {key}[{i}] starts at {row['lower']} but the tier before ends at {rows[i - 1]['upper']}", self.rs.origin("tables", name).loc(*where, "lower"))
                last = i == len(rows) - 1
                if (row["upper"] is None) != last or (row["upper"] is not None and row["upper"] <= row["lower"]):
                    raise RuleFileError(f"tables.{name}: tier {key}[{i}] needs upper > lower, and only the last tier has upper: null (no limit)", self.rs.origin("tables", name).loc(*where, "upper"))
                lo.append(float(row["lower"]))
                hi.append(math.inf if row["upper"] is None else float(row["upper"]))
            lower.append(tuple(lo))
            upper.append(tuple(hi))
            for c in t.columns:
                cols[c].append(tuple(float(r[c]) for r in rows))
                rationals[c].append(tuple(exact(r[c]) for r in rows))
        return TierTable(name, tuple(t.tiers), t.interval, tuple(lower), tuple(upper),
                         {c: tuple(v) for c, v in cols.items()}, {c: tuple(v) for c, v in rationals.items()})

    def build_callables(self) -> None:
        for name, f in self.rs.functions.items():
            self.declare(name, FunctionBinding(name, f.params, f.formula, self.rs.origin("functions", name).loc("formula"),
                                               self.unit_of(f.unit, "functions", name)), "functions")
        for section, kind in (("quantities", "number"), ("thresholds", "bool")):
            for name, q in self.rs.section(section).items():
                shape = self.shape_of(q.axis, section, name)
                if section == "thresholds" and (shape.grid or shape.rows is None):
                    raise self.err(section, name, "thresholds live on account or a row axis, not on a grid", "axis")
                var = self.add_var(Var(name, shape, kind))
                term = var_term(var)
                if section == "quantities":
                    term.unit = self.unit_of(q.unit, section, name)
                self.declare(name, term, section)

    # ---------- the Lowering protocol used by the parser

    def resolve(self, name: str) -> Term | TableBinding | FunctionBinding | None:
        found = self.names.get(name)
        if isinstance(found, str):
            return None
        return found

    def known_names(self) -> list[str]:
        return [n for n in self.names if "@" not in n]

    def grid_axes(self) -> set[str]:
        return set(self.grids)

    def temp(self, prefix: str, shape: Shape, kind: str) -> Var:
        return self.add_var(Var(f"_{prefix}{next(self.counter)}", shape, kind))  # type: ignore[arg-type]

    def elementwise(self, shape: Shape, expr: Any, kind: str, out: Var | None = None) -> str:
        """Add a step computing `expr` on `shape`; account values used on other rows are gathered first."""
        swap = {}
        for sym in expr.free_symbols:
            v = self.vars[sym.name]
            if v.shape.rows == ACCOUNT and shape.rows not in (None, ACCOUNT):
                gathered = self.gather_var(v, f"_acct_{shape.rows}", Shape(shape.rows, v.shape.grid))
                swap[sym] = sympy.Symbol(gathered, **sym.assumptions0)
        expr = expr.xreplace(swap) if swap else expr
        if out is None:
            key = ("el", shape, expr)
            if key in self.memo:
                return self.memo[key]
            if isinstance(expr, sympy.Symbol) and self.vars[expr.name].shape == shape:
                return expr.name
            out = self.temp("t", shape, kind)
            self.memo[key] = out.name
        self.steps.append(Elementwise(out, expr))
        return out.name

    def hoist(self, term: Term, shape: Shape | None = None) -> str:
        shape = shape or term.shape
        if term.var and self.vars[term.var].shape == shape:
            return term.var
        return self.elementwise(shape, term.expr, "bool" if term.kind == "bool" else "number")

    def gather_var(self, source: Var, index: str, shape: Shape) -> str:
        key = ("ga", source.name, index)
        if key not in self.memo:
            out = self.temp("g", shape, source.kind)
            self.steps.append(Gather(out, source.name, index))
            self.memo[key] = out.name
        return self.memo[key]

    def gather(self, source: Term, ref: Term) -> Term:
        src = self.vars[self.hoist(source)]
        name = self.gather_var(src, ref.index or "", Shape(ref.shape.rows, src.shape.grid))
        return var_term(self.vars[name])

    def aggregate(self, op: str, source: Term, by: Term | None, over: str | None, where: Term | None, default: Any,
                  take: Term | None = None) -> Term:
        if over:
            if source.shape.rows is None:
                raise Refused("over= reduces a value that also varies by rows (a constant grid column has nothing to reduce per row)")
            target, index = Shape(source.shape.rows), None
        elif by is not None:
            target, index = Shape(by.target, source.shape.grid), by.index
        else:
            target, index = Shape(ACCOUNT, source.shape.grid), f"_acct_{source.shape.rows}"
        mask_term = where
        if op == "count":
            mask_term = source if where is None else Term("bool", source.shape, sympy.And(source.expr, where.expr))
            src = None
        else:
            src = self.hoist(source)
        mask = self.hoist(mask_term, source.shape) if mask_term is not None else None
        dflt = float(default) if default is not None else None
        taken = self.hoist(take, source.shape) if take is not None else None
        key = ("ag", op, src, index, mask, dflt, target, taken)
        if key not in self.memo:
            out = self.temp("a", target, "number")
            self.steps.append(Aggregate(out, op, src, index, mask, dflt, taken))  # type: ignore[arg-type]
            self.memo[key] = out.name
        return var_term(self.vars[self.memo[key]])

    def lookup(self, table: TableBinding, column: str, mode: str, arg: Term, key: Term | None, default: Any) -> Term:
        shape = arg.shape if arg.shape.rows else Shape(ACCOUNT, arg.shape.grid)
        kidx = None
        if key is not None:
            rows = shape.rows
            if rows == ACCOUNT and key.shape.rows != ACCOUNT:
                rows = key.shape.rows
            grouped = self.row_axes.get(rows or "")
            by_group = grouped is not None and grouped.group_of == key.shape.rows and grouped.by == key.field
            if key.shape.rows != rows and not by_group:
                raise Refused(f"the key {key.field!r} lives on {key.shape.rows}, the value on {shape}; they must be on the same rows (or the key must be what a grouping axis groups by)")
            shape = Shape(rows, shape.grid)
            lenient = default is not None  # keys the table does not list read the default instead of being an error
            kidx = self.index_var(IndexVar(f"_key_{table.name}_{rows}_{key.field}{'_d' if lenient else ''}", rows or ACCOUNT, table.name,
                                           "table_key", field=key.field, table=table.name, allow_missing=lenient))
        argvar = self.hoist(arg, shape)
        dflt = float(default) if default is not None else None
        memo = ("lk", table.name, column, mode, argvar, kidx, dflt)
        if memo not in self.memo:
            out = self.temp("l", shape, "number")
            self.steps.append(Lookup(out, table.name, column, mode, argvar, kidx, dflt))  # type: ignore[arg-type]
            self.memo[memo] = out.name
        return var_term(self.vars[self.memo[memo]])

    # ---------- formulas

    def compile_formulas(self) -> dict[str, list[str]]:
        deps: dict[str, list[str]] = {}
        problems: list[RuleFileError] = []
        for section, field in (("quantities", "formula"), ("thresholds", "when")):
            for name, q in self.rs.section(section).items():
                var = self.vars[name]
                parser = FormulaParser(self, self.rs.origin(section, name).loc(field))
                try:
                    term = parser.parse(getattr(q, field))
                    want = "bool" if section == "thresholds" else "number"
                    if term.kind != want:
                        raise self.err(section, name, f"the formula gives a {term.kind}, but a {'condition' if want == 'bool' else 'number'} is needed", field)
                    if broadcast(var.shape, term.shape) != var.shape:
                        raise self.err(section, name, f"the formula's values live on {term.shape}, but the entry says axis {var.shape}; aggregate with sum(...)/min(...)/max(...) or change axis", field)
                    declared = self.names[name].unit if section == "quantities" else None  # type: ignore[union-attr]
                    if declared is not None and term.unit is not None and units.canon(term.unit, {}) != declared:
                        raise self.err(section, name, f"the formula gives a value in {units.show(term.unit)}, but the entry declares unit {units.show(declared)}", field)
                    self.elementwise(var.shape, term.expr, want, out=var)
                except RuleFileError as exc:
                    problems.append(exc)
                deps[name] = sorted(parser.used)
        if problems:
            raise RuleFileErrors(problems)
        return deps

    def check_cycles(self, deps: dict[str, list[str]]) -> None:
        computed = set(self.rs.quantities) | set(self.rs.thresholds)
        state: dict[str, int] = {}
        path: list[str] = []

        def visit(n: str) -> None:
            state[n] = 1
            path.append(n)
            for d in deps.get(n, []):
                if d not in computed:
                    continue
                if state.get(d) == 1:
                    cycle = path[path.index(d):] + [d]
                    section = "quantities" if d in self.rs.quantities else "thresholds"
                    raise self.err(section, d, f"formulas depend on each other in a cycle: {' -> '.join(cycle)}", "formula" if section == "quantities" else "when")
                if d not in state:
                    visit(d)
            path.pop()
            state[n] = 2

        for n in sorted(computed):
            if n not in state:
                visit(n)

    def inline_aliases(self) -> None:
        """`q = sum(...)` makes a temporary and a copy; let the step that makes the temporary make q."""
        producer = {s.out.name: s for s in self.steps}
        rename: dict[str, Var] = {}
        kept = []
        for s in self.steps:
            if isinstance(s, Elementwise) and isinstance(s.expr, sympy.Symbol) and s.expr.name.startswith("_"):
                src = producer.get(s.expr.name)
                if src is not None and src.out.shape == s.out.shape and src.out.name not in rename:
                    rename[src.out.name] = s.out
                    continue
            kept.append(s)
        if not rename:
            return
        subs = {var_symbol(self.vars[t]): var_symbol(q) for t, q in rename.items()}
        fixed = []
        for s in kept:
            out = rename.get(s.out.name, s.out)
            if isinstance(s, Elementwise):
                expr = s.expr.xreplace(subs)
                if expr.has(sympy.zoo, sympy.nan):  # q/(q - q) would fold to complex infinity: keep the copies
                    return
                fixed.append(Elementwise(out, expr))
            else:
                fields = {f: rename[v].name for f in ("source", "mask", "arg") if (v := getattr(s, f, None)) in rename}
                fixed.append(dataclasses.replace(s, out=out, **fields))
        self.steps = fixed
        for t in rename:
            del self.vars[t]

    def ordered_steps(self) -> list[Step]:
        produced = {s.out.name: i for i, s in enumerate(self.steps)}
        order: list[Step] = []
        done: set[int] = set()

        def visit(i: int) -> None:
            if i in done:
                return
            done.add(i)
            for d in step_reads(self.steps[i]):
                if d in produced:
                    visit(produced[d])
            order.append(self.steps[i])

        for i in range(len(self.steps)):
            visit(i)
        return order

    def run(self) -> Plan:
        self.build_axes()
        self.build_inputs()
        self.build_parameters()
        self.build_tables()
        self.build_callables()
        deps = self.compile_formulas()
        self.check_cycles(deps)
        self.inline_aliases()
        outputs = {n: self.vars[n] for n in list(self.rs.quantities) + list(self.rs.thresholds)}
        thresholds = {n: (t.axis, t.severity) for n, t in self.rs.thresholds.items()}
        return Plan(self.rs.ref, self.row_axes, self.grids, self.inputs, self.indexes, self.tables,
                    self.ordered_steps(), outputs, thresholds, deps, self.vars)


def step_reads(step: Step) -> list[str]:
    """Names of the plan variables a step reads (index variables excluded)."""
    if isinstance(step, Elementwise):
        return sorted(s.name for s in step.expr.free_symbols)
    if isinstance(step, Gather):
        return [step.source]
    if isinstance(step, Aggregate):
        return [n for n in (step.source, step.mask) if n]
    return [step.arg]


def compile_plan(rs: RuleSet) -> Plan:
    """Compile a rule set to its plan; raises RuleFileError(s) with locations."""
    return Compiler(rs).run()
