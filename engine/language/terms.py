"""The values the formula parser passes around (terms, table and function
bindings) and the protocol through which it hands work to the compiler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import Location
from .shape import ACCOUNT, Shape, broadcast  # noqa: F401  (broadcast is re-exported for the parser)

ELEMENTWISE = {"abs": 1, "sqrt": 1, "exp": 1, "log": 1, "erf": 1, "ncdf": 1, "floor": 1, "ceil": 1}
AGGREGATES = {"sum", "min", "max", "count", "any", "all"}
LOOKUPS = {"tier": "step", "progressive": "progressive"}
BUILTIN_NAMES = sorted(set(ELEMENTWISE) | AGGREGATES | set(LOOKUPS) | {"if", "inf"})


@dataclass
class Term:
    """A parsed (sub)formula: its sympy value, where it lives, and what kind of value it is."""

    kind: str  # number | bool | enum | ref | text
    shape: Shape
    expr: Any = None
    codes: tuple[str, ...] = ()
    target: str | None = None  # ref: the row axis it points into
    index: str | None = None  # ref: the index variable
    field: str | None = None  # text: the snapshot field
    var: str | None = None  # set when the term is exactly one plan variable
    unit: Any = None  # numbers: a sympy unit expression; None for a literal 0 or inf, which fit any unit
    as_unit: str | None = None  # ref: what the target row's `coin` reads as here
    optional: bool = False  # ref: may point nowhere
    identities: dict[str, Any] | None = None  # enum: per value, unit symbols that coincide
    undefined: Any = None  # bool: 0 or NaN where the condition is undefined (language/undefined.py); None: never

    def may_be_undefined(self) -> bool:
        """A number that could be NaN: anything but a constant, an input, a grid column or a quantity (the
        quantities are checked for NaN themselves), i.e. a compound value or a temporary."""
        return self.kind == "number" and not (getattr(self.expr, "is_Number", False) or (self.var is not None and not self.var.startswith("_")))


class Refused(Exception):
    """Raised by the lowering when a well-formed call cannot be built; the parser adds the location."""


@dataclass
class TableBinding:
    name: str
    columns: dict[str, Any]  # column -> unit
    keyed: bool  # it has rows for several keys (a read needs a key)
    bound: Any = None  # the unit of the value the tiers are read at
    by_key: bool = False  # no tiers: read by key alone, table.column[key]


@dataclass
class FunctionBinding:
    name: str
    params: tuple[str, ...]
    formula: str
    where: Location
    unit: Any = None


class Lowering(Protocol):
    """What the parser needs from the compiler: names, and a place to put hoisted steps."""

    def resolve(self, name: str) -> Term | TableBinding | FunctionBinding | None: ...
    def known_names(self) -> list[str]: ...
    def grid_axes(self) -> set[str]: ...
    def aggregate(self, op: str, source: Term, by: Term | None, over: str | None, where: Term | None, default: Any,
                  take: Term | None = None) -> Term: ...
    def gather(self, source: Term, ref: Term) -> Term: ...
    def lookup(self, table: TableBinding, column: str, mode: str, arg: Term, key: Term | None, default: Any) -> Term: ...
    def is_group(self, axis: str) -> bool: ...



def kind_name(t: Term) -> str:
    return {"number": "number", "bool": "condition", "enum": "choice", "ref": "reference", "text": "text field"}.get(t.kind, t.kind)
