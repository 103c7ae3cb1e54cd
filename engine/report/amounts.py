"""Values as a person reads them in a table: an amount of USD to the cent, an
amount of a coin to the precision that is worth a cent of USD at the coin's
price, ratios (unit `ratio`, where 1 is 100%) as percent, plain numbers (unit
`1`: counts, steps) as they are, thousands grouped; and a table too wide for the
terminal folded into blocks of columns.

The precision of a coin comes from its USD price in the snapshot: the inputs
the rule file's `analysis.prices` names as a price of the row's own coin in
USD (`coin: row_key`, unit USD/coin). Without one, amounts keep 8 significant
digits. The JSON output is never rounded: this is for reading only."""

from __future__ import annotations

import math
import shutil
from typing import Any

from ..source.ruleset import RuleSet

COIN_SYMBOLS = ("coin", "settle", "base", "quote", "face")
RATIO_UNITS = ("ratio",)
MAX_DECIMALS = 8


def usd_prices(rs: RuleSet, keys: dict[str, list[str]], rows: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """{coin: USD price} from the snapshot's rows, for the coins whose price the rule set names (see module doc)."""
    out: dict[str, float] = {}
    for name, price in rs.analysis.prices.items():
        inp = rs.inputs.get(name)
        if inp is None or price.coin != "row_key" or price.quote is not None or inp.unit != "USD/coin":
            continue
        for key, row in zip(keys.get(inp.axis, []), rows.get(inp.axis, [])):
            value = row.get(name)
            if isinstance(value, (int, float)) and value > 0 and key.upper() not in out:
                out[key.upper()] = float(value)
    return out


def decimals(usd_price: float | None) -> int | None:
    """Decimals that resolve one cent of USD at this price (2 to 8); None when the price is unknown."""
    if usd_price is None or not usd_price > 0 or math.isinf(usd_price):
        return None
    return max(2, min(MAX_DECIMALS, math.ceil(math.log10(usd_price)) + 2))


def _grouped(v: float, places: int) -> str:
    return format(v + 0.0, f",.{places}f")


def _significant(v: float, digits: int = 8) -> str:
    if v == 0:
        return "0"
    if 1e-4 <= abs(v) < 1e15:  # fixed notation with grouping, trailing zeros dropped
        places = max(0, digits - 1 - math.floor(math.log10(abs(v))))
        text = _grouped(v, places)
        return text.rstrip("0").rstrip(".") if "." in text else text
    return format(v, f".{digits}g")


def amount(value: Any, unit: str | None, coin: str | None = None, prices: dict[str, float] | None = None) -> str:
    """One value for a table cell: USD to the cent, a coin amount (unit coin/settle/base/quote/face with its
    coin known) to a cent's worth, a ratio as percent, a percentage as percent, anything else to 8
    significant digits; booleans yes/no; infinities inf/-inf."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)) or not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if unit == "USD":
        return _grouped(v, 2)
    if unit in RATIO_UNITS:
        return _grouped(v * 100, 2) + "%"
    if unit == "percent":
        return _grouped(v, 2) + "%"
    if unit in COIN_SYMBOLS:
        places = decimals((prices or {}).get(coin.upper())) if coin else None
        if places is not None:
            return _grouped(v, places)
    return _significant(v)


def unit_label(unit: str | None) -> str:
    """A column's unit as its header shows it: ratios as %."""
    if unit in RATIO_UNITS or unit == "percent":
        return "%"
    return unit or ""


def row_coin_field(rs: RuleSet, axis: str, symbol: str) -> str | None:
    """The input that names the coin a row-currency symbol stands for on `axis`: the ref whose `as_unit` is
    the symbol (`settle_currency` for settle). For `coin` on a row axis, None: the row's key is the coin."""
    for name, inp in rs.inputs.items():
        if inp.axis == axis and inp.type == "ref" and inp.as_unit == symbol:
            return name
    return None


def coin_symbol(unit: str | None) -> str | None:
    """The row-currency symbol a unit is an amount of (`settle` for `settle`), None for any other unit."""
    return unit if unit in COIN_SYMBOLS else None


def terminal_width() -> int:
    return max(60, shutil.get_terminal_size((120, 24)).columns)


def table(header: list[str], rows: list[list[str]], width: int | None = None) -> list[str]:
    """Rows under a header, the first column left-aligned and the others right-aligned; a table wider than
    `width` is folded into blocks of columns, each repeating the first column."""
    if not rows:
        return []
    width = width or terminal_width()
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    blocks: list[list[int]] = []
    current: list[int] = []
    used = widths[0]
    for i in range(1, len(header)):
        if current and used + 2 + widths[i] > width:
            blocks.append(current)
            current, used = [], widths[0]
        current.append(i)
        used += 2 + widths[i]
    blocks.append(current)
    out: list[str] = []
    for n, block in enumerate(blocks):
        cols = [0] + block
        fmt = lambda r, cols=cols: "  ".join(r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i]) for i in cols).rstrip()
        if n:
            out.append("")
        out += [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    return out

