"""Row gathers (``column[rows]``) on all cores.

numpy's fancy indexing runs on one core, and clustering gathers every
column of every row a few times (``Fingerprints.take``, the multi-index's
sorted tables, the identity of copies): seconds at 2M media on a 2-core
machine, where the same gathers in a compiled parallel loop take half.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _gather1(column, rows, out):
    for x in prange(len(rows)):
        out[x] = column[rows[x]]
    return out


@njit(parallel=True, cache=True)
def _gather2(column, rows, out):
    for x in prange(len(rows)):
        out[x, :] = column[rows[x], :]
    return out


SMALL = 1 << 16  # below this many rows numpy's own indexing is as quick


def take(column: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``column[rows]`` for a 1-D or 2-D numeric column and int64 row numbers (no negative ones)."""
    rows = np.asarray(rows)
    if len(rows) < SMALL or column.dtype == object or column.ndim > 2 or rows.dtype.kind != "i":
        return column[rows]
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= len(column)):  # the loop does not check
        raise IndexError(f"row {int(rows.min())}..{int(rows.max())} of a column of {len(column)}")
    column = np.ascontiguousarray(column)
    out = np.empty((len(rows),) + column.shape[1:], dtype=column.dtype)
    if column.dtype == np.bool_:  # numba's bool arrays gather as bytes
        return _gather1(column.view(np.uint8), rows.astype(np.int64, copy=False), out.view(np.uint8)).view(np.bool_)
    gather = _gather1 if column.ndim == 1 else _gather2
    return gather(column, rows.astype(np.int64, copy=False), out)
