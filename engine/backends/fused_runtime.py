"""What the fused kernel calls: the scalar definitions of semantics.py
compiled by numba (the same functions, not copies), and the arrays the kernel
reads tier tables from. Imported only where numba is installed.

A definition raises Undefined at an undefined value (for the plain-Python
kernel); the fused kernel computes with IEEE numbers and calls these only
where the value read is defined, giving NaN (undefined) otherwise, as the numpy
kernel does. The compiled code is kept in memory only: numba's on-disk cache
stores pickled data and machine code that the kernel cache's sha256 check
could not vouch for (see run/kernel.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numba.extending
import numpy as np

from ..ir.plan import TierTable
from . import semantics

JIT: dict[str, Any] = {"nogil": True, "cache": False, "error_model": "numpy"}

numba.extending.register_jitable(semantics.beyond)  # called by the two below: compiled where they are
tier_position = numba.njit(inline="always", **JIT)(semantics.tier_position)
progressive = numba.njit(inline="always", **JIT)(semantics.progressive)
minimum = numba.njit(**JIT)(semantics.minimum)
maximum = numba.njit(**JIT)(semantics.maximum)
floor = numba.njit(**JIT)(semantics.floor)
ceiling = numba.njit(**JIT)(semantics.ceiling)


@dataclass(frozen=True)
class FusedTable:
    """A tier table as rectangles for compiled code, one row per key. A key with fewer tiers is padded with
    tiers that start at +inf and repeat its last tier's values: semantics.tier_position and progressive stop
    at a bound of +inf, and a padded tier, were one ever read, reads as the last real one. So the kernel
    passes a key's whole row (no slice, no tier count)."""

    lower: np.ndarray
    upper: np.ndarray
    limit: np.ndarray  # per key, where its last real tier ends (inf when open): above it semantics raises BeyondTable
    columns: dict[str, np.ndarray]


def fused_table(t: TierTable) -> FusedTable:
    width = max(len(lo) for lo in t.lower)
    keys = len(t.keys)
    lower, upper = np.full((keys, width), np.inf), np.full((keys, width), np.inf)
    cols = {c: np.zeros((keys, width)) for c in t.columns}
    for k, (lo, hi) in enumerate(zip(t.lower, t.upper)):
        lower[k, : len(lo)], upper[k, : len(hi)] = lo, hi
        for c, values in t.columns.items():
            cols[c][k, : len(lo)] = values[k]
            cols[c][k, len(lo):] = values[k][-1]
    return FusedTable(lower, upper, np.array([hi[-1] for hi in t.upper], dtype=np.float64), cols)


@numba.njit(**JIT)
def offsets(account: np.ndarray, n: int) -> np.ndarray:
    """First row of each account (n + 1 entries) from the ascending account of each row: one pass, no search."""
    out = np.zeros(n + 1, dtype=np.int64)
    for a in account:
        out[a + 1] += 1
    for a in range(n):
        out[a + 1] += out[a]
    return out
