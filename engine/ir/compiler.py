"""Turn a loaded RuleSet into a Plan: resolve names, parse every formula with
the whitelist parser, hoist aggregations, references and table reads into
their own steps, check shapes and cycles, and order the steps."""

from __future__ import annotations

import graphlib
import itertools
import math
from typing import Any

import sympy

from ..errors import RuleFileError, RuleFileErrors
from ..language import units
from ..language.numbers import rational_of
from ..language.parser import FormulaParser
from ..language.terms import FunctionBinding, TableBinding, Term, broadcast
from ..source import model
from ..source.ruleset import RuleSet
from .lowering import StepBuilder, var_term
from .plan import ACCOUNT, GridAxis, IndexVar, InputCol, Plan, RowAxis, Shape, TierTable, Var
from .tables import keyed_parameter_table, tier_table

MAX_GRID_POINTS = 10_000  # the largest bundled grid has 33 points; each point multiplies every quantity on the grid
MAX_FORMULAS = 2_000  # quantities, thresholds, not-modelled conditions and functions of one rule set (the largest bundled: about 150)


class Compiler(StepBuilder):
    """Builds the Plan of one rule set; implements the parser's Lowering protocol."""

    def __init__(self, rs: RuleSet):
        super().__init__()
        self.rs = rs
        self.grids: dict[str, GridAxis] = {}
        self.names: dict[str, Term | TableBinding | FunctionBinding | str] = {}
        self.inputs: list[InputCol] = []
        self.tables: dict[str, TierTable] = {}
        self.guards: dict[str, str] = {}
        self.locations: dict[str, str] = {}

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
                for col, pname in (ax.grid or {}).items():
                    p = self.rs.parameters.get(pname)
                    if p is None or not isinstance(p.value, tuple):
                        raise self.err("axes", name, f"grid column {col!r}: {pname!r} is not a list parameter", "grid", col)
                    cols.append((col, p.value))
                points = math.prod(len(values) for _, values in cols)
                if points > MAX_GRID_POINTS:
                    raise self.err("axes", name, f"the grid has {points:,} points; at most {MAX_GRID_POINTS:,} are allowed", "grid")
                product = list(itertools.product(*(values for _, values in cols)))
                self.grids[name] = GridAxis(name, {c: tuple(p[i] for p in product) for i, (c, _) in enumerate(cols)})
        collections = [a.collection for a in self.row_axes.values() if a.collection]
        for name, row_axis in self.row_axes.items():
            if row_axis.collection and (row_axis.collection in ("account", "as_of") or collections.count(row_axis.collection) > 1):
                raise self.err("axes", name, f"collection {row_axis.collection!r} is reserved or used twice", "collection")

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
        keys = [ax.key for ax in self.row_axes.values() if ax.collection]
        for axis_name, ax in self.row_axes.items():
            if ax.collection:
                self.index_var(IndexVar(f"_acct_{axis_name}", axis_name, ACCOUNT, "account"))
                term = Term("text", Shape(axis_name), field=ax.key)
                self.declare(f"{axis_name}.{ax.key}", term, "axes", axis_name)
                # a key field named like another collection's key or field is read as axis.key only: each
                # collection keeps the venue's own field names
                if keys.count(ax.key) == 1 and ax.key not in self.rs.inputs:
                    self.declare(ax.key or "", term, "axes", axis_name)
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
                idx = self.index_var(IndexVar(f"_ref_{name}", inp.axis, inp.to or "", "ref", field=source, allow_missing=inp.optional))
                if inp.as_unit is not None and inp.as_unit not in units.ROW_RELATIVE:
                    raise self.err("inputs", name, f"as_unit: {inp.as_unit!r} is not one of {', '.join(units.ROW_RELATIVE)}", "as_unit")
                self.declare(name, Term("ref", shape, target=inp.to, index=idx, as_unit=inp.as_unit, optional=inp.optional), "inputs")
            elif inp.type == "text":
                self.declare(name, Term("text", shape, field=name), "inputs")
            else:
                var = self.add_var(Var(name, shape, "bool" if inp.type == "boolean" else "number"))
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
                idx = self.index_var(IndexVar(f"_grp_{name}", ax.group_of, name, "group", field=ax.by))
                self.declare(name, Term("ref", Shape(ax.group_of), target=name, index=idx), "axes")
                # its row key on its own rows, axis.by (the value its rows group by): read keyed tables per group
                self.declare(f"{name}.{ax.by}", Term("text", Shape(name), field=ax.by), "axes", name)

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
            if p.value is None:
                continue  # a keyed parameter: declared once the tables are built (build_keyed_parameters)
            if isinstance(p.value, tuple):
                self.declare(name, "a list parameter; use it as a grid column", "parameters")
            else:
                self.declare(name, Term("number", Shape(None), rational_of(p.value), unit=self.unit_of(p.unit, "parameters", name)), "parameters")

    def build_tables(self) -> None:
        for name, t in self.rs.tables.items():
            self.tables[name] = tier_table(name, t, self.rs.origin("tables", name).loc)
            columns = {c: self.unit_of(col.unit, "tables", name, "columns", c, "unit") for c, col in t.columns.items()}
            bound = None if t.keyed else self.unit_of(t.bound.unit, "tables", name, "bound", "unit")
            self.declare(name, TableBinding(name, columns, keyed=set(t.tiers) != {"*"}, bound=bound, by_key=t.keyed), "tables")

    def build_keyed_parameters(self) -> None:
        """A keyed parameter is a value on the rows of its `by` axis (or of the axis of its `by` text input),
        read by each row's key from a one-tier table of its own (default= for keys it does not list)."""
        for name, p in self.rs.parameters.items():
            if p.values is None:
                continue
            by = p.by or ""
            axis = self.row_axes.get(by)
            if axis is not None and axis.collection:
                key, shape = Term("text", Shape(by), field=axis.key), Shape(by)
            elif axis is not None:  # a grouping axis: its rows' keys are the grouped field's values
                key, shape = Term("text", Shape(axis.group_of), field=axis.by), Shape(by)
            elif by in self.rs.inputs and self.rs.inputs[by].type == "text":
                key, shape = Term("text", Shape(self.rs.inputs[by].axis), field=by), Shape(self.rs.inputs[by].axis)
            else:
                raise self.err("parameters", name, f"by: {by!r} is not a row axis, a grouping axis or a text input", "by")
            self.tables[name] = keyed_parameter_table(name, p)
            unit = self.unit_of(p.unit, "parameters", name)
            binding = TableBinding(name, {"value": unit}, keyed=True, bound=None, by_key=True)
            self.origin = name
            term = self.lookup(binding, "value", "step", Term("number", shape, sympy.S.Zero), key, p.default)
            term.unit = unit
            self.declare(name, term, "parameters")

    def build_callables(self) -> None:
        for name, f in self.rs.functions.items():
            self.declare(name, FunctionBinding(name, f.params, f.formula, self.rs.origin("functions", name).loc("formula"),
                                               self.unit_of(f.unit, "functions", name)), "functions")
        for section, kind in (("quantities", "number"), ("thresholds", "bool"), ("not_modelled", "bool")):
            for name, q in self.formula_entries(section):
                shape = self.shape_of(q.axis, section, name)
                if section != "quantities" and (shape.grid or shape.rows is None):
                    raise self.err(section, name, "conditions live on account or a row axis, not on a grid", "axis")
                var = self.add_var(Var(name, shape, "number" if kind == "number" else "bool"))
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

    # ---------- formulas

    def formula_entries(self, section: str) -> list[tuple[str, Any]]:
        """The entries of a section that carry a formula (a not_modelled entry may have no condition)."""
        return [(n, e) for n, e in self.rs.section(section).items() if section != "not_modelled" or e.when]

    def compile_formulas(self) -> dict[str, list[str]]:
        deps: dict[str, list[str]] = {}
        problems: list[RuleFileError] = []
        for section, field in (("quantities", "formula"), ("thresholds", "when"), ("not_modelled", "when")):
            for name, q in self.formula_entries(section):
                var = self.vars[name]
                parser = FormulaParser(self, self.rs.origin(section, name).loc(field))
                self.origin = name
                try:
                    term = parser.parse(getattr(q, field))
                    want = "number" if section == "quantities" else "bool"
                    if term.kind != want:
                        raise self.err(section, name, f"the formula gives a {term.kind}, but a {'condition' if want == 'bool' else 'number'} is needed", field)
                    if broadcast(var.shape, term.shape) != var.shape:
                        raise self.err(section, name, f"the formula's values live on {term.shape}, but the entry says axis {var.shape}; aggregate with sum(...)/min(...)/max(...) or change axis", field)
                    declared = self.names[name].unit if section == "quantities" else None  # type: ignore[union-attr]
                    if declared is not None and term.unit is not None and units.canon(term.unit, {}) != declared:
                        raise self.err(section, name, f"the formula gives a value in {units.show(term.unit)}, but the entry declares unit {units.show(declared)}", field)
                    self.elementwise(var.shape, term.expr, want, out=var)
                    if term.undefined is not None:  # where the condition is undefined, the threshold is an error
                        self.guards[name] = self.elementwise(var.shape, term.undefined, "number")
                    self.locations[name] = str(self.rs.origin(section, name).loc(field))
                except RuleFileError as exc:
                    problems.append(exc)
                deps[name] = sorted(parser.used)
        if problems:
            raise RuleFileErrors(problems)
        return deps

    def check_cycles(self, deps: dict[str, list[str]]) -> None:
        computed = set(self.rs.quantities) | set(self.rs.thresholds) | {n for n, _ in self.formula_entries("not_modelled")}
        graph = {n: [d for d in deps.get(n, []) if d in computed] for n in sorted(computed)}
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            cycle = list(reversed(exc.args[1]))
            d = cycle[0]
            section = next(s for s in ("quantities", "thresholds", "not_modelled") if d in self.rs.section(s))
            raise self.err(section, d, f"formulas depend on each other in a cycle: {' -> '.join(cycle)}", "formula" if section == "quantities" else "when") from None

    def run(self) -> Plan:
        count = sum(len(self.rs.section(s)) for s in ("quantities", "thresholds", "not_modelled", "functions"))
        if count > MAX_FORMULAS:
            raise RuleFileError(f"{self.rs.ref} has {count:,} formulas (quantities, thresholds, not_modelled and functions); "
                                f"at most {MAX_FORMULAS:,} are allowed", self.rs.origin("quantities", next(iter(self.rs.quantities))).loc()
                                if self.rs.quantities else None)
        self.build_axes()
        self.build_inputs()
        self.build_parameters()
        self.build_tables()
        self.build_keyed_parameters()
        self.build_callables()
        deps = self.compile_formulas()
        self.check_cycles(deps)
        renamed = self.inline_aliases()
        checks = [n for n, _ in self.formula_entries("not_modelled")]  # conditions for warnings: computed, not states
        outputs = {n: self.vars[n] for n in list(self.rs.quantities) + list(self.rs.thresholds) + checks}
        thresholds = {n: (t.axis, t.severity) for n, t in self.rs.thresholds.items()}
        guards = {t: renamed[g].name if g in renamed else g for t, g in self.guards.items()}
        return Plan(self.rs.ref, self.row_axes, self.grids, self.inputs, self.indexes, self.tables,
                    self.ordered_steps(), outputs, thresholds, deps, self.vars, guards, self.locations)


def compile_plan(rs: RuleSet) -> Plan:
    """Compile a rule set to its plan; raises RuleFileError(s) with locations."""
    return Compiler(rs).run()
