"""Where a value lives: a row axis (or none) and optionally a grid axis. The
parser, the plan and every backend speak of shapes, so they sit at the bottom."""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT = "account"


@dataclass(frozen=True)
class Shape:
    """A row axis (None for a constant) and optionally a grid axis."""

    rows: str | None
    grid: str | None = None

    def __str__(self) -> str:
        parts = [p for p in (self.rows, self.grid) if p]
        return " x ".join(parts) if parts else "constant"


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """The shape of an elementwise combination, or None when the two cannot meet."""
    if a.rows == b.rows or b.rows is None or (b.rows == ACCOUNT and a.rows is not None):
        rows = a.rows
    elif a.rows is None or a.rows == ACCOUNT:
        rows = b.rows
    else:
        return None
    if a.grid and b.grid and a.grid != b.grid:
        return None
    return Shape(rows, a.grid or b.grid)
