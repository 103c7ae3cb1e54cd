"""Typed models of rule-file content (pydantic), built after the JSON Schema
check so that the rest of the engine works with attributes, not dict keys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


QuoteKind = Literal["verbatim", "paraphrase", "derived"]
Status = Literal["real", "illustrative"]


class Citation(_Strict):
    """A passage of one of the rule set's documents: its own words (verbatim), someone's summary of it
    (paraphrase) or a reading derived from it, with what it was derived from."""

    ref: str
    quote: str
    kind: QuoteKind = "verbatim"
    derived_from: str | None = None
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
    """A constant, a list (a grid column), or a keyed parameter: a value per key of an axis or text input."""

    value: float | tuple[float, ...] | None = None
    unit: str
    description: str | None = None
    by: str | None = None
    values: dict[str, float] | None = None
    default: float | None = None

    @property
    def shown(self) -> float | list[float] | dict[str, float]:
        """The value as a person reads it: a number, a list, or the values by key (with '*' for the default)."""
        if self.values is not None:
            return {**self.values, **({"*": self.default} if self.default is not None else {})}
        return list(self.value) if isinstance(self.value, tuple) else float(self.value or 0)


class Bound(_Strict):
    unit: str
    description: str


class Column(_Strict):
    unit: str
    description: str
    deduction_of: str | None = None  # the quick-calculation deduction of this rate column: checked, or computed where left out


class TableVersion(_Strict):
    """Which dated version of a table a rule set was built with."""

    table: str  # venue/name
    valid_from: str
    valid_to: str | None = None
    file: str  # as displayed, exchanges/<venue>/tables/<name>/<valid_from>.yaml


ROW_META = ("status", "ref")
"""Tier-row fields that describe the row rather than hold a value."""


class Table(Provenance):
    """Tiers per key: rows with lower/upper bounds and value columns. Each row is real (the venue's
    figure) or illustrative, by the table's `status` unless the row says otherwise."""

    bound: Bound
    interval: Literal["lower_open", "upper_open"]
    columns: dict[str, Column]
    tiers: dict[str, tuple[dict[str, float | None], ...]]
    status: Status
    row_status: dict[str, tuple[Status | None, ...]] = {}
    row_refs: dict[str, tuple[str | None, ...]] = {}
    title: str | None = None
    description: str | None = None
    keyed_by: str | None = None
    beyond: Literal["error", "last"] = "error"  # a read above a bounded last tier: an error, or the last tier goes on
    keyed: bool = False  # given as `values`: one row per key, no bounds, read as table.column[key]
    version: TableVersion | None = Field(default=None, description="set when the table came from a dated table file")

    @model_validator(mode="before")
    @classmethod
    def _split_row_meta(cls, data: Any) -> Any:
        """Keep tier rows numeric: a row's status and document go to row_status / row_refs. A keyed table
        (`values`) becomes one open tier per key, read at any value."""
        if isinstance(data, dict) and "values" in data and "tiers" not in data:
            rows = {key: [{"lower": 0, "upper": None, **row}] for key, row in data["values"].items()}
            data = {k: v for k, v in data.items() if k != "values"} | {
                "tiers": rows, "keyed": True, "interval": "lower_open", "bound": {"unit": "1", "description": "none: read by key alone"}}
        if not isinstance(data, dict) or "tiers" not in data or "row_status" in data:
            return data
        tiers, status, refs = {}, {}, {}
        for key, rows in data["tiers"].items():
            tiers[key] = [{k: v for k, v in r.items() if k not in ROW_META} for r in rows]
            status[key] = tuple(r.get("status") for r in rows)
            refs[key] = tuple(r.get("ref") for r in rows)
        return {**data, "tiers": tiers, "row_status": status, "row_refs": refs}

    @property
    def where(self) -> str:
        """`venue/name@valid_from (file)` for a dated table, else `inline`."""
        v = self.version
        return f"{v.table}@{v.valid_from} ({v.file})" if v else "inline in the rule file"

    def status_of(self, key: str, i: int) -> Status:
        """The status of row i of `key`: its own, else the table's."""
        own = self.row_status.get(key, ())
        return (own[i] if i < len(own) else None) or self.status

    def status_counts(self) -> dict[str, int]:
        """Rows per status, e.g. {"real": 12, "illustrative": 1}."""
        out = {"real": 0, "illustrative": 0}
        for key, rows in self.tiers.items():
            for i in range(len(rows)):
                out[self.status_of(key, i)] += 1
        return out

    def illustrative_keys(self) -> list[str]:
        """The keys with at least one illustrative row, in the table's order."""
        return [k for k, rows in self.tiers.items() if any(self.status_of(k, i) == "illustrative" for i in range(len(rows)))]

    def status_text(self) -> str:
        """`real`, `illustrative`, or `mixed: N real rows, M illustrative` (with the illustrative keys)."""
        counts = self.status_counts()
        if not counts["illustrative"]:
            return "real"
        if not counts["real"]:
            return "illustrative"
        return f"mixed: {counts['real']} real rows, {counts['illustrative']} illustrative (keys {', '.join(self.illustrative_keys())})"


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


class NotModelled(Provenance):
    """Something the rule set leaves out: with `when`, a condition on the snapshot that makes evaluate
    warn; with `collection`, a snapshot list accepted and ignored with a warning; else listed only."""

    description: str
    axis: str = "account"
    when: str | None = None
    collection: str | None = None


SECTIONS = ("axes", "inputs", "parameters", "tables", "functions", "quantities", "thresholds", "not_modelled")
"""The named-entry sections of a rule file, in the order they are resolved."""


class CoinField(_Strict):
    """A field of the row (an input or the row's key) whose text names the coin, or contains it between
    `after` and `before`."""

    field: str
    after: str | None = None
    before: str | None = None


class PriceInput(_Strict):
    """An input that is a price of a coin: which coin (the row's key, or read from a field of the row), the
    coin it is quoted in when not USD, and on which rows it moves (`when`: input values)."""

    coin: Literal["row_key"] | CoinField
    quote: Literal["row_key"] | CoinField | None = None
    when: dict[str, tuple[str | bool, ...]] = {}
    note: str | None = None


class Scenarios(_Strict):
    """The stress grid as a heatmap: a quantity on `rows x grid` and the labels of its two directions."""

    quantity: str
    x: str
    y: str
    description: str | None = None


class Analysis(_Strict):
    """What whatif and plot need that formulas do not say (the rule file's `analysis` section)."""

    prices: dict[str, PriceInput] = {}
    held: dict[str, str] = {}
    scenarios: Scenarios | None = None
