"""The hand-written numpy baselines run the honest way: in blocks of accounts (8,192, the engine's block),
so that their temporaries stay in cache instead of page-faulting through arrays of the whole batch, with
the results written into output arrays allocated once. A baseline module provides handwritten_numpy(c, n)
and block_columns(c, a0, a1)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

BLOCK = 8192


def blocked(module: ModuleType, c: dict[str, Any], n: int, block: int = BLOCK, out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """module.handwritten_numpy over blocks of `block` accounts, written into `out` (allocated on the first call)."""
    starts: dict[str, int] = {}
    with np.errstate(all="ignore"):
        for a0 in range(0, n, block):
            a1 = min(a0 + block, n)
            got = module.handwritten_numpy(module.block_columns(c, a0, a1), a1 - a0)
            if out is None:
                out = {}
            for name, value in got.items():
                value = np.asarray(value)
                if name not in out:  # the synthetic accounts all have the same number of rows on each axis
                    out[name] = np.empty((value.shape[0] // (a1 - a0) * n,) + value.shape[1:], dtype=value.dtype)
                start = starts.get(name, 0)
                out[name][start:start + value.shape[0]] = value
                starts[name] = start + value.shape[0]
    assert out is not None
    return out
