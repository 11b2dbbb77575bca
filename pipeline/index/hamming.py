"""Hamming distances over 64-bit hashes, and the brute-force range search.

``pairs_within`` compares codes tile by tile with XOR and numpy's popcount
(``np.bitwise_count``): exact, O(n^2 / 2), memory one tile. Clustering uses
the multi-index join (pipeline/index/multi_index.py) instead; this stays as the plain
reference that tests and benchmarks compare against.
"""
from __future__ import annotations

import numpy as np

TILE = 1024


def hex_to_u64(hexes) -> np.ndarray:
    """imagehash hex strings to unsigned 64-bit ints (a 64-digit hash gives 4 consecutive words)."""
    hexes = list(hexes)
    if not hexes:
        return np.zeros(0, dtype=np.uint64)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=">u8").astype(np.uint64)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance of two uint64 arrays."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def pairs_within(codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) with Hamming(codes[i], codes[j]) <= radius, equal codes included."""
    codes = np.asarray(codes, dtype=np.uint64)
    uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))

    def members(k: int) -> np.ndarray:
        return order[starts[k]:starts[k] + counts[k]]

    ui, uj = _unique_pairs(uniq, radius)
    single = (counts[ui] == 1) & (counts[uj] == 1)
    out_i, out_j = [order[starts[ui[single]]]], [order[starts[uj[single]]]]
    for a, b in zip(ui[~single].tolist(), uj[~single].tolist()):
        ma, mb = members(a), members(b)
        out_i.append(np.repeat(ma, len(mb)))
        out_j.append(np.tile(mb, len(ma)))
    for k in np.nonzero(counts > 1)[0].tolist():
        m = members(k)
        ii, jj = np.triu_indices(len(m), 1)
        out_i.append(m[ii])
        out_j.append(m[jj])
    i = np.concatenate(out_i).astype(np.int64)
    j = np.concatenate(out_j).astype(np.int64)
    return np.minimum(i, j), np.maximum(i, j)


def _unique_pairs(codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) among distinct codes, one TILE x TILE square at a time."""
    n = len(codes)
    out_i, out_j = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for r0 in range(0, n, TILE):
        rows = codes[r0:r0 + TILE]
        for c0 in range(r0, n, TILE):
            cols = codes[c0:c0 + TILE]
            bi, bj = np.nonzero(np.bitwise_count(rows[:, None] ^ cols[None, :]) <= radius)
            gi, gj = bi + r0, bj + c0
            keep = gj > gi
            out_i.append(gi[keep])
            out_j.append(gj[keep])
    return np.concatenate(out_i), np.concatenate(out_j)
