"""Price shocks: `BTC=-10%` moves every input that the rule set's `analysis.prices`
declares a price of BTC, in every row where it is one, by the same percentage
(a USD price, an index price, the mark price of each BTC contract, the
underlying price of each BTC option), and divides the prices quoted in BTC by
the same factor. Inputs the section does not list (entry prices, strikes,
option premiums; `analysis.held` says why) are left alone, as are fields a
snapshot leaves to their default.

This is data, not code: which coin a row's price belongs to is read from the
row (its key, or a field such as `tier_family: SWAP/BTC-USDT`) as the rule file
says. Coins are compared without regard to case."""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..source import model
from ..source.ruleset import RuleSet

SHOCK = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,31})\s*=\s*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*%\s*$")


@dataclass(frozen=True)
class PriceCell:
    """One price in a snapshot: collection, row number and key, field, the coin it is a price of and the coin
    it is quoted in (None: USD)."""

    collection: str
    row: int
    key: str
    field: str
    coin: str
    quote: str | None
    value: float


@dataclass(frozen=True)
class Moved:
    """A price a shock moved."""

    cell: PriceCell
    after: float

    @property
    def label(self) -> str:
        return f"{self.cell.field}[{self.cell.key}]"


def parse_shock(text: str) -> tuple[str, float]:
    """`BTC=-10%` -> ("BTC", -0.1). A move must leave the price positive (more than -100%)."""
    m = SHOCK.match(text)
    if not m:
        raise UsageError(f"--shock {text!r}: expected COIN=MOVE%, e.g. BTC=-10% or ETH=+5%")
    return checked_move(m.group(1), float(m.group(2)) / 100, f"--shock {text!r}")


def checked_move(coin: Any, move: Any, shown: str) -> tuple[str, float]:
    """(COIN, move) when `coin` is text and `move` a finite relative move above -1 (-0.1 is -10%); else a
    UsageError naming `shown` (the option or the argument)."""
    if not isinstance(coin, str) or not coin.strip():
        raise UsageError(f"{shown}: a coin is named by text, like BTC")
    if isinstance(move, bool) or not isinstance(move, (int, float)) or not math.isfinite(move):
        raise UsageError(f"{shown}: the move must be a finite number (-0.1 for -10%), not {move!r:.40}")
    if not move > -1:
        raise UsageError(f"{shown}: a price cannot fall by 100% or more")
    return coin.upper(), float(move)


def _text(row: dict[str, Any], rs: RuleSet, field: str) -> str | None:
    value = row.get(field)
    if value is None and field in rs.inputs:
        value = rs.inputs[field].default
    return None if value is None or isinstance(value, bool) else str(value)


def _coin(spec: model.CoinField | str | None, row: dict[str, Any], key_field: str, rs: RuleSet) -> str | None:
    """The coin a `coin`/`quote` spec names in this row (upper case), or None when the row does not say."""
    if spec is None:
        return None
    field = key_field if spec == "row_key" else spec.field  # type: ignore[union-attr]
    text = _text(row, rs, field)
    if text is None:
        return None
    if isinstance(spec, model.CoinField):
        if spec.after is not None:
            if spec.after not in text:
                return None
            text = text.split(spec.after, 1)[1]
        if spec.before is not None:
            text = text.split(spec.before, 1)[0]
    return text.upper() or None


def _applies(price: model.PriceInput, row: dict[str, Any], rs: RuleSet) -> bool:
    for field, allowed in price.when.items():
        value = row.get(field, rs.inputs[field].default if field in rs.inputs else None)
        if value not in allowed:
            return False
    return True


def price_cells(rs: RuleSet, data: dict[str, Any]) -> list[PriceCell]:
    """Every price the snapshot gives that the rule set's `analysis.prices` declares, with its coins."""
    out = []
    for name, price in rs.analysis.prices.items():
        axis = rs.axes[rs.inputs[name].axis]
        collection, key_field = axis.collection or "", axis.key or ""
        for i, row in enumerate(data.get(collection) or []):
            value = row.get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not _applies(price, row, rs):
                continue
            coin = _coin(price.coin, row, key_field, rs)
            if coin is not None:
                out.append(PriceCell(collection, i, str(row.get(key_field)), name, coin, _coin(price.quote, row, key_field, rs), float(value)))
    return out


def coins(rs: RuleSet, data: dict[str, Any]) -> list[str]:
    """The coins the snapshot has prices of, in order of first appearance."""
    return list(dict.fromkeys(c.coin for c in price_cells(rs, data)))


def shocked(rs: RuleSet, data: dict[str, Any], moves: dict[str, float]) -> tuple[dict[str, Any], list[Moved]]:
    """A copy of the snapshot data with every price of a moved coin multiplied by (1 + move) and every price
    quoted in a moved coin divided by it; and what moved. A coin the snapshot has no price of is a UsageError."""
    moves = {c.upper(): m for c, m in moves.items()}
    cells = price_cells(rs, data)
    known = dict.fromkeys(c.coin for c in cells)
    unknown = [c for c in moves if c not in known and not any(x.quote == c for x in cells)]
    if unknown:
        raise UsageError(f"--shock {', '.join(unknown)}: no input of this snapshot is a price of it "
                         f"(prices of: {', '.join(known) or 'none'}; see the rule file's analysis.prices)")
    out = copy.deepcopy(data)
    moved = []
    for cell in cells:
        factor = (1 + moves.get(cell.coin, 0.0)) / (1 + moves.get(cell.quote, 0.0) if cell.quote else 1.0)
        if factor == 1:  # not moved, or a price of a coin in itself (always 1)
            continue
        after = cell.value * factor
        out[cell.collection][cell.row][cell.field] = after
        moved.append(Moved(cell, after))
    return out, moved
