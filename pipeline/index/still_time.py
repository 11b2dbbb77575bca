"""When in a long video a still was grabbed: its closest frame, and the other times it fits as well.

A still matches a long video (a broadcast) through any of its frames within
the hard thresholds (``Thresholds.still_in_long``), and a broadcast often
shows one scene many times: other shots of it, the same picture a little
shifted or cropped, a studio view that comes back. Any of those frames
explains the match, but only one is the frame the still was grabbed from,
and a frame grabbed whole is closer to it than to the lookalikes. So the
time reported is the closest frame's, by, in this order:

1. the plainest kind of match (``via``): a crop window or mirror of the still
   matching a frame means that frame shows part of the picture, another shot;
2. whole picture to whole picture (or centre crop to centre crop) before a
   centre crop against a whole frame (one shows a zoom of the other);
3. the fewest bits apart over all three hashes (pHash64 + dHash64 +
   pHash256: 384 bits; the 256-bit pHash sees the finest detail and decides
   between near lookalikes);
4. the earlier time.

Frames next to each other in the video that both match are one shot (a
picture held for seconds is several keyframes a few bits apart): the shot
counts once, at its closest frame. The other shots at most ``margin`` bits
farther than the best (same kind of match) are listed as ``also_at``: the
hashes cannot tell those apart from the answer (re-encoding alone moves a
copy several bits), and a researcher should see that instead of a single
confident time.
"""
from __future__ import annotations

import numpy as np

from hashtrail.pipeline.index.edges import RANK
from hashtrail.pipeline.index.hamming import distances

MAX_ALSO = 5  # other times listed at most (the closest first)


def bits_apart(phash_a, phash_b, dhash_a, dhash_b, p256_a, p256_b) -> np.ndarray:
    """Bits apart over pHash64, dHash64 and the 256-bit pHash together (0..384)."""
    return (distances(phash_a, phash_b) + distances(dhash_a, dhash_b)
            + distances(p256_a, p256_b).reshape(len(phash_a), -1).sum(axis=1))


def place(group: np.ndarray, n_groups: int, frame: np.ndarray, time_s: np.ndarray, rank: np.ndarray,
          cross: np.ndarray, bits: np.ndarray, margin: int) -> tuple[np.ndarray, list[list[float]]]:
    """Per group (a still and a long video): its row pair of the closest frame, and the other shots' times.

    Inputs are per matched row pair: its group (0..n_groups-1), the long
    side's frame id (consecutive in time within a video) and time, the
    kind of match (``rank``, 0 plain), whether it pairs a centre crop with a
    whole picture (``cross``) and ``bits`` apart. Returns per group the index
    of the chosen row pair (-1 for a group without rows) and the times of
    the other shots within ``margin`` bits, closest first (at most MAX_ALSO).
    """
    best = np.full(n_groups, -1, dtype=np.int64)
    also: list[list[float]] = [[] for _ in range(n_groups)]
    if len(group) == 0:
        return best, also
    cross = cross.astype(np.int64)
    # per (group, frame): its closest row pair
    order = np.lexsort((time_s, bits, cross, rank, frame, group))
    g, f = group[order], frame[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (g[1:] != g[:-1]) | (f[1:] != f[:-1])
    rows = order[first]  # sorted by group, then frame
    g, f = group[rows], frame[rows]
    # shots: runs of consecutive frames within a group
    new_shot = np.ones(len(rows), dtype=bool)
    new_shot[1:] = (g[1:] != g[:-1]) | (f[1:] != f[:-1] + 1)
    shot = np.cumsum(new_shot) - 1
    # per shot: its closest frame
    order = np.lexsort((time_s[rows], bits[rows], cross[rows], rank[rows], shot))
    head = np.ones(len(order), dtype=bool)
    head[1:] = shot[order][1:] != shot[order][:-1]
    shots = rows[order[head]]
    # per group: shots closest first; the first is the answer
    order = np.lexsort((time_s[shots], bits[shots], cross[shots], rank[shots], group[shots]))
    shots = shots[order]
    lead = np.ones(len(shots), dtype=bool)
    lead[1:] = group[shots][1:] != group[shots][:-1]
    best[group[shots[lead]]] = shots[lead]
    answer = best[group[shots]]
    near = ~lead & (rank[shots] == rank[answer]) & (cross[shots] == cross[answer]) \
        & (bits[shots] <= bits[answer] + margin)
    for k in shots[near].tolist():
        if len(also[group[k]]) < MAX_ALSO:
            also[group[k]].append(float(time_s[k]))
    return best, also


def places(fp, vi: np.ndarray, vj: np.ndarray, pair_of: np.ndarray, still_long: np.ndarray, frame: np.ndarray,
           n_pairs: int, margin: int) -> dict[int, tuple]:
    """Clustering's ``place``: per media pair flagged in ``still_long`` (a still, a long video), from its
    matched row pairs (vi, vj) of ``fp`` (``frame``: per row, Fingerprints.frames' frame id), the tuple
    ([[time in a, time in b]] of its closest frame, offset_s (time in b - time in a), also_at)."""
    rows = np.nonzero(still_long[pair_of])[0]
    i, j, group = vi[rows], vj[rows], pair_of[rows]
    times, codes = fp.times(), fp.codes()
    b_long = np.isnan(times[i])  # the still is a (no time), the long video b
    long_row = np.where(b_long, j, i)
    bits = bits_apart(fp.phash[i], fp.phash[j], fp.dhash[i], fp.dhash[j], fp.phash256[i], fp.phash256[j])
    best, also = place(group, n_pairs, frame[long_row], times[long_row], np.maximum(RANK[codes[i]], RANK[codes[j]]),
                       fp.secondary[i] != fp.secondary[j], bits, margin)
    out = {}
    for p in np.nonzero(best >= 0)[0].tolist():
        k = best[p]
        at = float(times[long_row[k]])
        out[p] = ([[None, at]] if b_long[k] else [[at, None]], at if b_long[k] else -at, also[p])
    return out
