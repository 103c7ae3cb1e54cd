"""The compiled form of a rule set: variables on shapes and the steps that
compute them. Every backend (numpy batch, scalar Python, exact sympy) is an
interpreter or a code generator for this one plan, so they cannot drift apart
in meaning, only in arithmetic."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # evaluation from a cached kernel must not import sympy (it costs ~0.4 s)
    import sympy

from ..language.shape import ACCOUNT, Shape

NORMAL = "normal"  # the state of a row no threshold holds for


Kind = Literal["number", "bool", "enum", "ref", "text", "index"]


@dataclass(frozen=True)
class Var:
    """A named array in the plan (an input, a parameter grid, a quantity or a temporary)."""

    name: str
    shape: Shape
    kind: Kind = "number"


@dataclass(frozen=True)
class InputCol:
    """A snapshot field read into the plan. `field` is its key in the snapshot row."""

    var: Var
    field: str
    axis: str
    codes: tuple[str, ...] = ()  # enum values, coded 0..n-1
    to: str | None = None  # target axis of a ref
    default: float | str | bool | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None


def operand(**kwargs: Any) -> Any:
    """A step field that names a plan variable the step reads: renaming, reading and scheduling all go
    through these fields, so a new operand cannot be forgotten by one of them."""
    return field(metadata={"operand": True}, **kwargs)


@dataclass(frozen=True)
class StepBase:
    """What every step has: the variable it writes and where in a rule file it comes from."""

    out: Var
    origin: str = field(default="", compare=False, kw_only=True)  # the quantity or threshold whose formula made it

    @property
    def reads(self) -> tuple[str, ...]:
        """The plan variables this step reads (index variables excluded), in a fixed order."""
        return tuple(v for f in dataclasses.fields(self) if f.metadata.get("operand") and (v := getattr(self, f.name)))

    def renamed(self, names: dict[str, Var]) -> Any:
        """The same step with variables renamed (its output and every operand)."""
        changes = {f.name: names[v].name for f in dataclasses.fields(self)
                   if f.metadata.get("operand") and (v := getattr(self, f.name)) in names}
        return dataclasses.replace(self, out=names.get(self.out.name, self.out), **changes)


@dataclass(frozen=True)
class Elementwise(StepBase):
    """out = expr, cell by cell on out's shape (operands broadcast: constants everywhere, account values
    on every row, row values on every grid point)."""

    expr: sympy.Basic

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(sorted(s.name for s in self.expr.free_symbols))

    def renamed(self, names: dict[str, Var]) -> Any:
        import sympy  # plans with steps exist only where sympy is loaded

        subs = {s: sympy.Symbol(names[s.name].name, **s.assumptions0) for s in self.expr.free_symbols if s.name in names}
        return Elementwise(names.get(self.out.name, self.out), self.expr.xreplace(subs) if subs else self.expr, origin=self.origin)


@dataclass(frozen=True)
class Gather(StepBase):
    """out[i] = source[index[i]]: a value of another row axis read through a reference."""

    source: str = operand()
    index: str = ""


@dataclass(frozen=True)
class Aggregate(StepBase):
    """Reduce `source` rows into target rows through `index` (or over the grid when index is None);
    see backends/semantics.py for what it means on no rows, under a mask, with take=, and on ties."""

    op: Literal["sum", "min", "max", "count"] = "sum"
    source: str | None = operand(default=None)
    index: str | None = None
    mask: str | None = operand(default=None)
    default: float | None = None
    take: str | None = operand(default=None)  # over a grid, min/max: `take` at the grid point of the extreme


@dataclass(frozen=True)
class Lookup(StepBase):
    """A tier-table read: the tier containing `arg` (step) or the sum over tiers (progressive)."""

    table: str = ""
    column: str = ""
    mode: Literal["step", "progressive"] = "step"
    arg: str = operand(default="")
    key: str | None = None  # a table-key index variable, None for tables with only the '*' key
    default: float | None = None  # the value for keys the table does not list (their key index is -1)


Step = Elementwise | Gather | Aggregate | Lookup
STEP_KINDS: tuple[type, ...] = (Elementwise, Gather, Aggregate, Lookup)


@dataclass(frozen=True)
class IndexVar:
    """An integer index the snapshot preparation builds: which row of `target` each row of `axis` maps to."""

    name: str
    axis: str
    target: str
    how: Literal["account", "ref", "group", "table_key"]
    field: str | None = None  # the snapshot field read (ref or key text) when relevant
    table: str | None = None
    allow_missing: bool = False  # -1 for a key with no table tier / no target row, instead of an error


@dataclass(frozen=True)
class TierTable:
    """A tier table as arrays: keys, and per key the lower/upper bounds and each column."""

    name: str
    keys: tuple[str, ...]
    interval: Literal["lower_open", "upper_open"]
    lower: tuple[tuple[float, ...], ...]
    upper: tuple[tuple[float, ...], ...]
    columns: dict[str, tuple[tuple[float, ...], ...]]
    rationals: dict[str, tuple[tuple[sympy.Rational, ...], ...]] = field(default_factory=dict, compare=False)  # exact path

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """Row of each key, for reading snapshots' keys (built once, not per snapshot)."""
        return {k: i for i, k in enumerate(self.keys)}


@dataclass(frozen=True)
class RowAxis:
    """A row axis of the snapshot (collection) or a grouping of one (group_of/by)."""

    name: str
    collection: str | None = None
    key: str | None = None
    group_of: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class GridAxis:
    name: str
    columns: dict[str, tuple[float, ...]]  # column name -> values over the grid points

    @property
    def size(self) -> int:
        return len(next(iter(self.columns.values())))


@dataclass
class Plan:
    """Everything a backend needs to evaluate one rule set."""

    ruleset: str
    row_axes: dict[str, RowAxis]
    grid_axes: dict[str, GridAxis]
    inputs: list[InputCol]
    indexes: dict[str, IndexVar]
    tables: dict[str, TierTable]
    steps: list[Step]
    outputs: dict[str, Var]  # quantities and thresholds, by name
    thresholds: dict[str, tuple[str, int]]  # name -> (axis, severity)
    deps: dict[str, list[str]]  # quantity/threshold -> names its formula reads directly
    vars: dict[str, Var] = field(default_factory=dict)
    guards: dict[str, str] = field(default_factory=dict)  # threshold -> the number that is NaN where it is undefined
    locations: dict[str, str] = field(default_factory=dict)  # quantity/threshold -> file:line:column of its formula

    def grid_size(self, name: str | None) -> int:
        return self.grid_axes[name].size if name else 1

    @functools.cached_property
    def returned(self) -> tuple[str, ...]:
        """What a kernel returns: every quantity and threshold, then the guards of the thresholds."""
        return tuple(self.outputs) + tuple(self.guards.values())

    @functools.cached_property
    def checked(self) -> tuple[tuple[str, str, bool, bool], ...]:
        """(returned name, name to report, has rows, has a grid) of every number checked for NaN on each
        evaluation: the numeric outputs, and the guard of each threshold under the threshold's name."""
        named = [(n, n) for n, v in self.outputs.items() if v.kind != "bool"] + [(g, t) for t, g in self.guards.items()]
        return tuple((name, shown, self.vars[name].shape.rows not in (None, ACCOUNT), self.vars[name].shape.grid is not None)
                     for name, shown in named)

    @functools.cached_property
    def index_kinds(self) -> tuple[list[tuple[str, str]], list[IndexVar], list[IndexVar], list[tuple[IndexVar, bool]]]:
        """The collections (axis, key field), groupings, references and table keys (with: read on a grouping
        axis?) that building one snapshot's indexes goes through, worked out once."""
        collections = [(a.name, a.key or "") for a in self.row_axes.values() if a.collection]
        groups = [iv for iv in self.indexes.values() if iv.how == "group"]
        refs = [iv for iv in self.indexes.values() if iv.how == "ref"]
        keys = [(iv, bool(self.row_axes.get(iv.axis) is not None and self.row_axes[iv.axis].group_of))
                for iv in self.indexes.values() if iv.how == "table_key"]
        return collections, groups, refs, keys

    @functools.cached_property
    def state_names(self) -> list[str]:
        """'normal' then the thresholds from least to most severe."""
        return [NORMAL] + sorted(self.thresholds, key=lambda t: (self.thresholds[t][1], t))


def runtime_json(plan: Plan) -> str:
    """The parts of a plan that evaluation needs (no sympy), as JSON for the kernel cache."""
    data = {
        "ruleset": plan.ruleset,
        "row_axes": [dataclasses.asdict(a) for a in plan.row_axes.values()],
        "grid_axes": [dataclasses.asdict(g) for g in plan.grid_axes.values()],
        "inputs": [dataclasses.asdict(i) for i in plan.inputs],
        "indexes": [dataclasses.asdict(i) for i in plan.indexes.values()],
        "tables": [{k: v for k, v in dataclasses.asdict(t).items() if k != "rationals"} for t in plan.tables.values()],
        "outputs": [dataclasses.asdict(v) for v in plan.outputs.values()],
        "thresholds": plan.thresholds,
        "deps": plan.deps,
        "guards": [{"threshold": t, "var": dataclasses.asdict(plan.vars[g])} for t, g in plan.guards.items()],
        "locations": plan.locations,
    }
    return json.dumps(data, sort_keys=True)


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def plan_from_json(text: str) -> Plan:
    """Rebuild a runtime plan (no steps, no sympy) from runtime_json output."""
    d = json.loads(text)
    shape = lambda s: Shape(s["rows"], s["grid"])
    var = lambda v: Var(v["name"], shape(v["shape"]), v["kind"])
    outputs = {v["name"]: var(v) for v in d["outputs"]}
    guards = {g["threshold"]: var(g["var"]) for g in d["guards"]}
    inputs = [InputCol(**dict(i, var=var(i["var"]), codes=tuple(i["codes"]))) for i in d["inputs"]]
    return Plan(
        ruleset=d["ruleset"],
        row_axes={a["name"]: RowAxis(**a) for a in d["row_axes"]},
        grid_axes={g["name"]: GridAxis(g["name"], {c: tuple(v) for c, v in g["columns"].items()}) for g in d["grid_axes"]},
        inputs=inputs,
        indexes={i["name"]: IndexVar(**i) for i in d["indexes"]},
        tables={t["name"]: TierTable(t["name"], tuple(t["keys"]), t["interval"], _tuples(t["lower"]), _tuples(t["upper"]),
                                     {c: _tuples(v) for c, v in t["columns"].items()}) for t in d["tables"]},
        steps=[],
        outputs=outputs,
        thresholds={k: (v[0], v[1]) for k, v in d["thresholds"].items()},
        deps=d["deps"],
        vars={**outputs, **{i.var.name: i.var for i in inputs}, **{g.name: g for g in guards.values()}},
        guards={t: g.name for t, g in guards.items()},
        locations=d["locations"],
    )
