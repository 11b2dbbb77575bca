"""Hamming distances of row pairs (i, j) over the three hashes, compiled and parallel.

The confirmation of the join's candidates (``cluster.admitted``) needs, for
each candidate row pair, its pHash64, dHash64 and 256-bit pHash distances.
With numpy that is six fancy-indexed gathers and their temporaries per
chunk, on one core: at 2M media (~100M candidates) it was 24 s, the
largest step after the join. Here each pair's rows are read once, on every
core, into three small integer arrays.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from hashtrail.pipeline.index.multi_index import popcount


@njit(parallel=True, cache=True)
def _distances(p, d, q, i, j, out_p, out_d, out_q):
    for k in prange(len(i)):
        a, b = i[k], j[k]
        out_p[k] = popcount(p[a] ^ p[b])
        out_d[k] = popcount(d[a] ^ d[b])
        s = 0
        for w in range(q.shape[1]):
            s += popcount(q[a, w] ^ q[b, w])
        out_q[k] = s


def pair_distances(phash: np.ndarray, dhash: np.ndarray, phash256: np.ndarray, i: np.ndarray,
                   j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pHash64, dHash64, pHash256) distances of rows ``i[k]`` and ``j[k]``, as int16 arrays."""
    n = len(i)
    out = tuple(np.empty(n, dtype=np.int16) for _ in range(3))
    if n:
        _distances(np.ascontiguousarray(phash, dtype=np.uint64), np.ascontiguousarray(dhash, dtype=np.uint64),
                   np.ascontiguousarray(phash256, dtype=np.uint64), np.asarray(i, dtype=np.int64),
                   np.asarray(j, dtype=np.int64), *out)
    return out
