"""Typed models of rule-file content (pydantic), built after the JSON Schema
check so that the rest of the engine works with attributes, not dict keys."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Citation(_Strict):
    """A quoted passage of one of the rule set's documents."""

    ref: str
    quote: str
    section: str | None = None
    note: str | None = None


class Provenance(_Strict):
    """Where an entry comes from: quoted sources, and any assumption or ambiguity."""

    sources: tuple[Citation, ...] = ()
    assumption: str | None = None
    ambiguity: str | None = None


class SourceDocument(_Strict):
    url: str
    title: str
    retrieved: str | None = None
    published: str | None = None
    publisher: str | None = None
    note: str | None = None


class Axis(_Strict):
    """A row collection of the snapshot, a grouping of one, or a grid of parameters."""

    description: str
    collection: str | None = None
    key: str | None = None
    group: str | None = None
    by: str | None = None
    grid: dict[str, str] | None = None

    @property
    def kind(self) -> Literal["rows", "group", "grid"]:
        return "rows" if self.collection else ("group" if self.group else "grid")


class Input(Provenance):
    axis: str
    type: Literal["number", "enum", "boolean", "ref", "text"]
    description: str
    unit: str | None = None
    default: float | str | bool | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    values: tuple[str, ...] = ()
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    optional: bool = False
    as_unit: str | None = None
    unit_identities: dict[str, tuple[str, ...]] = {}
    api: str | None = None


class Parameter(Provenance):
    value: float | tuple[float, ...]
    unit: str
    description: str | None = None


class Bound(_Strict):
    unit: str
    description: str


class Column(_Strict):
    unit: str
    description: str


class Table(Provenance):
    """Tiers per key: rows with lower/upper bounds and value columns."""

    bound: Bound
    interval: Literal["lower_open", "upper_open"]
    columns: dict[str, Column]
    tiers: dict[str, tuple[dict[str, float | None], ...]]
    title: str | None = None
    description: str | None = None
    keyed_by: str | None = None
    as_of: str | None = None
    file: str | None = Field(default=None, description="set when the table came from exchanges/")


class Function(Provenance):
    params: tuple[str, ...]
    formula: str
    unit: str | None = None
    description: str | None = None


class Quantity(Provenance):
    axis: str
    unit: str
    formula: str
    description: str | None = None
    show: bool = False


class Threshold(Provenance):
    axis: str
    when: str
    severity: int
    description: str | None = None


SECTIONS = ("axes", "inputs", "parameters", "tables", "functions", "quantities", "thresholds")
"""The named-entry sections of a rule file, in the order they are resolved."""
