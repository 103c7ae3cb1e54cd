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


@dataclass(frozen=True)
class Elementwise:
    out: Var
    expr: sympy.Basic


@dataclass(frozen=True)
class Gather:
    """out[i] = source[index[i]]: a value of another row axis read through a reference."""

    out: Var
    source: str
    index: str


@dataclass(frozen=True)
class Aggregate:
    """Reduce `source` rows into target rows through `index` (or over the grid when index is None)."""

    out: Var
    op: Literal["sum", "min", "max", "count"]
    source: str | None
    index: str | None
    mask: str | None = None
    default: float | None = None
    take: str | None = None  # over a grid, min/max: the value of `take` at the grid point that is the extreme


@dataclass(frozen=True)
class Lookup:
    """A tier-table read: the tier containing `arg` (step) or the sum over tiers (progressive)."""

    out: Var
    table: str
    column: str
    mode: Literal["step", "progressive"]
    arg: str
    key: str | None  # a table-key index variable, None for tables with only the '*' key
    default: float | None = None  # the value for keys the table does not list (their key index is -1)


Step = Elementwise | Gather | Aggregate | Lookup


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
    exact: dict[str, tuple[tuple[sympy.Rational, ...], ...]] = field(default_factory=dict, compare=False)

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

    def grid_size(self, name: str | None) -> int:
        return self.grid_axes[name].size if name else 1

    @functools.cached_property
    def number_outputs(self) -> tuple[tuple[str, bool, bool], ...]:
        """(name, has rows, has a grid) of each output that is a number, for checks run on every evaluation."""
        return tuple((name, var.shape.rows not in (None, ACCOUNT), var.shape.grid is not None)
                     for name, var in self.outputs.items() if var.kind != "bool")

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
        "tables": [{k: v for k, v in dataclasses.asdict(t).items() if k != "exact"} for t in plan.tables.values()],
        "outputs": [dataclasses.asdict(v) for v in plan.outputs.values()],
        "thresholds": plan.thresholds,
        "deps": plan.deps,
    }
    return json.dumps(data, sort_keys=True)


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def plan_from_json(text: str) -> Plan:
    """Rebuild a runtime plan (no steps, no sympy) from runtime_json output."""
    d = json.loads(text)
    shape = lambda s: Shape(s["rows"], s["grid"])  # noqa: E731
    var = lambda v: Var(v["name"], shape(v["shape"]), v["kind"])  # noqa: E731
    outputs = {v["name"]: var(v) for v in d["outputs"]}
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
        vars={**outputs, **{i.var.name: i.var for i in inputs}},
    )
