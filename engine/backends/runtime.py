"""The numpy kernel's helpers: grouped reductions, the worst grid point, and
tier-table reads over arrays of rows. What each means (empty groups, masks,
ties, undefined values) is stated once in semantics.py; these are its
vectorised forms, tested against its scalar ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.plan import TierTable
from .semantics import BeyondTable


@dataclass(frozen=True)
class NumpyTable:
    """A tier table padded to a rectangle: one row per key, one column per tier."""

    lower: np.ndarray  # +inf where a key has fewer tiers
    start: np.ndarray  # lower with padding at 0, for progressive sums
    width: np.ndarray  # upper - lower; 0 for padding, inf for the last tier
    columns: dict[str, np.ndarray]
    lower_open: bool
    name: str
    keys: tuple[str, ...]
    limit: np.ndarray  # per key, where its last tier ends (inf when open)
    bounded: bool  # some key's last tier ends


def numpy_table(t: TierTable) -> NumpyTable:
    n = max(len(lo) for lo in t.lower)
    lower = np.full((len(t.keys), n), np.inf)
    width = np.zeros((len(t.keys), n))
    cols = {c: np.zeros((len(t.keys), n)) for c in t.columns}
    for k, (lo, hi) in enumerate(zip(t.lower, t.upper)):
        lower[k, : len(lo)] = lo
        width[k, : len(lo)] = np.subtract(hi, lo)
        for c, values in t.columns.items():
            cols[c][k, : len(lo)] = values[k]
    limit = np.array([hi[-1] for hi in t.upper])
    return NumpyTable(lower, np.where(np.isinf(lower), 0.0, lower), width, cols, t.interval == "lower_open", t.name, t.keys, limit,
                      bool(np.isfinite(limit).any()))


def _check_bounds(t: NumpyTable, x: np.ndarray, key: np.ndarray | None, axis: str) -> None:
    """BeyondTable for the first x above its key's bounded last tier (see semantics.BeyondTable)."""
    k = np.zeros(x.shape[0], dtype=np.intp) if key is None else np.maximum(key, 0)
    limit = t.limit[k][:, None] if x.ndim == 2 else t.limit[k]
    over = ((x > limit) if t.lower_open else (x >= limit)) & np.isfinite(limit)
    if key is not None:
        over &= (key >= 0)[:, None] if x.ndim == 2 else key >= 0  # keys read with default= have no tiers to leave
    if over.any():
        at = np.argwhere(over)[0]
        row = int(at[0])
        raise BeyondTable(float(x[tuple(at)]), float(t.limit[k[row]]), t.name, t.keys[int(k[row])], axis, row)


def tier_index(t: NumpyTable, x: np.ndarray, key: np.ndarray | None, axis: str = "") -> np.ndarray:
    """The tier containing each x (0 below the first tier); one pass per tier, no rows x tiers temporaries.
    A key of -1 (not in the table, read with default=) gives tier 0 of key 0; tier_read replaces it.
    An undefined x gives tier -1, which tier_read reads as undefined; an x above a bounded last tier is
    BeyondTable (`axis` names the rows, for the message)."""
    if t.bounded:
        _check_bounds(t, x, key, axis)
    if key is None or t.lower.shape[0] == 1:
        lows = t.lower[0][np.isfinite(t.lower[0])]
        tier = np.maximum(np.searchsorted(lows, x, side="left" if t.lower_open else "right") - 1, 0)
    else:
        k = np.maximum(key, 0)
        tier = np.zeros(x.shape, dtype=np.intp)
        for j in range(1, t.lower.shape[1]):
            lo = t.lower[k, j]
            if x.ndim == 2:
                lo = lo[:, None]
            tier += (x > lo) if t.lower_open else (x >= lo)
    undefined = np.isnan(x)
    return np.where(undefined, -1, tier) if undefined.any() else tier


def tier_read(t: NumpyTable, column: str, tier: np.ndarray, key: np.ndarray | None, default: float | None = None) -> np.ndarray:
    """Value of `column` at each row's tier; rows whose key is -1 get `default`."""
    col = t.columns[column]
    if key is None or t.lower.shape[0] == 1:
        value = col[0][tier]
    else:
        k = np.maximum(key, 0)
        value = col[k[:, None] if tier.ndim == 2 else k, tier]
    if tier.size and tier.min() < 0:
        value = np.where(tier < 0, np.nan, value)
    if default is None or key is None:
        return value
    missing = key < 0
    return np.where(missing[:, None] if tier.ndim == 2 else missing, default, value)


def tier_progressive(t: NumpyTable, column: str, x: np.ndarray, key: np.ndarray | None, default: float | None = None,
                     axis: str = "") -> np.ndarray:
    """Sum over tiers of `column` times the part of x that falls inside the tier; key -1 gives `default`."""
    if t.bounded:
        _check_bounds(t, x, key, axis)
    col = t.columns[column]
    k = np.zeros(x.shape[0], dtype=np.intp) if key is None else np.maximum(key, 0)
    total = np.zeros(x.shape)
    for j in range(t.lower.shape[1]):
        lo, width, rate = t.start[k, j], t.width[k, j], col[k, j]
        if x.ndim == 2:
            lo, width, rate = lo[:, None], width[:, None], rate[:, None]
        total += np.minimum(np.maximum(x - lo, 0.0), width) * rate  # padding: width 0, rate 0
    if default is None or key is None:
        return total
    missing = key < 0
    return np.where(missing[:, None] if x.ndim == 2 else missing, default, total)


def group_sum(index: np.ndarray, values: np.ndarray, n: int, mask: np.ndarray | None) -> np.ndarray:
    if mask is not None:
        values = np.where(mask, values, 0.0)
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=n)
    # rows x grid: a product with the group-membership matrix (one 1 per row), summed in row order like bincount
    # and about four times faster than a bincount over (group, grid point) pairs; imported here, as only grids need it
    import scipy.sparse

    rows = len(index)
    membership = scipy.sparse.csc_matrix((np.ones(rows), index, np.arange(rows + 1)), shape=(n, rows))
    return np.asarray(membership @ np.broadcast_to(values, (rows, values.shape[1])))


def group_count(index: np.ndarray, n: int, mask: np.ndarray | None, grid: int | None) -> np.ndarray:
    if mask is None:
        counts = np.bincount(index, minlength=n).astype(float)
        return counts if grid is None else np.repeat(counts[:, None], grid, axis=1)
    if mask.ndim == 1:
        return np.bincount(index[mask], minlength=n).astype(float)
    return np.stack([np.bincount(index[mask[:, j]], minlength=n) for j in range(mask.shape[1])], axis=1).astype(float)


def group_extreme(op: str, index: np.ndarray, values: np.ndarray, n: int, mask: np.ndarray | None, default: float | None) -> np.ndarray:
    """Grouped min or max; empty groups get `default`, or +inf (min) / -inf (max)."""
    fill = np.inf if op == "min" else -np.inf
    ufunc = np.minimum if op == "min" else np.maximum
    out = np.full((n,) + values.shape[1:], fill)
    if mask is not None and mask.ndim == 1:
        index, values = index[mask], values[mask]
    elif mask is not None:
        values = np.where(mask, values, fill)
    ufunc.at(out, index, values)
    if default is not None:
        seen = group_count(index, n, mask if mask is not None and mask.ndim > 1 else None, values.shape[1] if values.ndim > 1 else None)
        out = np.where(seen > 0, out, default)
    return out


def first_extreme(op: str, values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Per row, the first grid point among the selected ones (mask) where values is smallest (min) or largest
    (max); -1 where no point is selected, -2 where a selected value is undefined."""
    fill = np.inf if op == "min" else -np.inf
    chosen = values if mask is None else np.where(mask, values, fill)
    at = chosen.argmin(axis=1) if op == "min" else chosen.argmax(axis=1)  # the first on ties...
    best = np.take_along_axis(chosen, at[:, None], axis=1)[:, 0]
    undefined = np.isnan(chosen).any(axis=1)
    if mask is not None:
        tied = np.nonzero(best == fill)[0]  # ...unless the extreme equals the fill: then an unselected point may come first
        if tied.size:
            at[tied] = np.argmax((chosen[tied] == fill) & mask[tied], axis=1)
        at = np.where(mask.any(axis=1), at, -1)
    return np.where(undefined, -2, at)


def take_at(take: np.ndarray, at: np.ndarray, default: float) -> np.ndarray:
    """take's value at each row's grid point `at`; `default` where none was selected, NaN where undefined."""
    got = np.take_along_axis(take, np.maximum(at, 0)[:, None], axis=1)[:, 0]
    return np.where(at >= 0, got, np.where(at == -1, default, np.nan))
