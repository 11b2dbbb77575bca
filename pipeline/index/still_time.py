"""When in a long video a still was grabbed: its closest frame, and the other times it fits as well.

A still matches a long video (a broadcast) through any of its frames within
the hard thresholds (``Thresholds.still_in_long``), and a broadcast often
shows one scene many times: other shots of it, the same picture a little
shifted or cropped, a studio view that comes back. Any of those frames
explains the match, but only one is the frame the still was grabbed from,
and a frame grabbed whole is closer to it than to the lookalikes. So the
time reported is the closest frame's, by, in this order:

1. the plainest kind of match (``via``) of the frame: a crop window or mirror
   of the still matching a frame means that frame shows part of the
   picture, another shot;
2. the fewest bits apart *as a whole*: the still's full picture against the
   frame's full picture plus its centre crop against the frame's centre
   crop, over pHash64, dHash64 and pHash256 (2 x 384 bits). Compared
   variant by variant, the finer 256-bit pHash and the second look at the
   centre tell near lookalikes apart where one variant pair alone ties
   (measured in benchmarks/long_video.py, see the README);
3. the fewest bits of its best single matched variant pair, then the earlier time.

Frames next to each other in the video that both match are one shot (a
picture held for seconds is several keyframes a few bits apart): the shot
counts once, at its closest frame. The other shots at most ``margin`` bits
farther (as a whole, same kind of match) than the best are listed as
``also_at``: the hashes cannot tell those apart from the answer
(re-encoding alone moves a copy several bits), and a researcher should see
that instead of one confident time. A picture shown at hundreds of places
(a static studio shot) fits them all: up to MAX_ALSO are listed.
"""
from __future__ import annotations

import numpy as np

from hashtrail.pipeline.index.edges import RANK
from hashtrail.pipeline.index.hamming import distances
from hashtrail.pipeline.media.hashing import VARIANT_CODE

MAX_ALSO = 100  # other times listed at most (the closest first)
WHOLE = (VARIANT_CODE["full"], VARIANT_CODE["center"])  # compared variant by variant
MISSING_BITS = 384  # a variant one side lacks counts as all bits apart


def bits_apart(phash_a, phash_b, dhash_a, dhash_b, p256_a, p256_b) -> np.ndarray:
    """Bits apart over pHash64, dHash64 and the 256-bit pHash together (0..384)."""
    if len(phash_a) == 0:  # reshape(0, -1) cannot infer the width
        return np.zeros(0, dtype=np.int64)
    return (distances(phash_a, phash_b) + distances(dhash_a, dhash_b)
            + distances(p256_a, p256_b).reshape(len(phash_a), -1).sum(axis=1))


def whole_rows(frame: np.ndarray, codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per wanted frame id: its rows of each WHOLE variant (shape (len(wanted), len(WHOLE)), -1 if none)."""
    out = np.full((len(wanted), len(WHOLE)), -1, dtype=np.int64)
    which = np.full(len(codes), -1, dtype=np.int64)
    for k, code in enumerate(WHOLE):
        which[codes == code] = k
    rows = np.nonzero((which >= 0) & np.isin(frame, wanted))[0]
    key = frame[rows] * len(WHOLE) + which[rows]
    order = np.argsort(key, kind="stable")
    key, rows = key[order], rows[order]
    if len(key) == 0:
        return out
    for k in range(len(WHOLE)):
        want = wanted * len(WHOLE) + k
        at = np.minimum(np.searchsorted(key, want), len(key) - 1)
        found = key[at] == want
        out[found, k] = rows[at[found]]
    return out


def whole_bits(fa, rows_a: np.ndarray, fb, rows_b: np.ndarray) -> np.ndarray:
    """Sum over WHOLE variants of the bits apart of rows_a (in ``fa``) and rows_b (in ``fb``), per line."""
    total = np.zeros(len(rows_a), dtype=np.int64)
    for k in range(len(WHOLE)):
        a, b = rows_a[:, k], rows_b[:, k]
        both = (a >= 0) & (b >= 0)
        bits = np.full(len(a), MISSING_BITS, dtype=np.int64)
        i, j = a[both], b[both]
        bits[both] = bits_apart(fa.phash[i], fb.phash[j], fa.dhash[i], fb.dhash[j], fa.phash256[i], fb.phash256[j])
        total += bits
    return total


def place(group: np.ndarray, n_groups: int, frame: np.ndarray, time_s: np.ndarray, rank: np.ndarray,
          whole: np.ndarray, bits: np.ndarray, margin: int) -> tuple[np.ndarray, list[list[float]]]:
    """Per group (a still and a long video): its row pair of the closest frame, and the other shots' times.

    Inputs are per matched row pair: its group (0..n_groups-1), the long
    side's frame id (consecutive in time within a video) and time, the
    kind of match (``rank``, 0 plain), the bits apart of the still and that
    frame as a whole (``whole_bits``) and of this row pair (``bits``).
    Returns per group the index of the chosen row pair (-1 for a group
    without rows) and the times of the other shots within ``margin`` bits
    as a whole, closest first (at most MAX_ALSO).
    """
    best = np.full(n_groups, -1, dtype=np.int64)
    also: list[list[float]] = [[] for _ in range(n_groups)]
    if len(group) == 0:
        return best, also
    # per (group, frame): its closest row pair
    order = np.lexsort((time_s, bits, whole, rank, frame, group))
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
    order = np.lexsort((time_s[rows], bits[rows], whole[rows], rank[rows], shot))
    head = np.ones(len(order), dtype=bool)
    head[1:] = shot[order][1:] != shot[order][:-1]
    shots = rows[order[head]]
    # per group: shots closest first; the first is the answer
    order = np.lexsort((time_s[shots], bits[shots], whole[shots], rank[shots], group[shots]))
    shots = shots[order]
    lead = np.ones(len(shots), dtype=bool)
    lead[1:] = group[shots][1:] != group[shots][:-1]
    best[group[shots[lead]]] = shots[lead]
    answer = best[group[shots]]
    near = ~lead & (rank[shots] == rank[answer]) & (whole[shots] <= whole[answer] + margin)
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
    long_row, still_row = np.where(b_long, j, i), np.where(b_long, i, j)
    # each (still, frame) compared as a whole, once
    pairs, inverse = np.unique(np.column_stack([frame[still_row], frame[long_row]]), axis=0, return_inverse=True)
    wanted = np.unique(pairs)
    lookup = whole_rows(frame, codes, wanted)
    at = np.searchsorted(wanted, pairs)
    whole = whole_bits(fp, lookup[at[:, 0]], fp, lookup[at[:, 1]])[inverse.reshape(-1)]
    bits = bits_apart(fp.phash[i], fp.phash[j], fp.dhash[i], fp.dhash[j], fp.phash256[i], fp.phash256[j])
    best, also = place(group, n_pairs, frame[long_row], times[long_row], np.maximum(RANK[codes[i]], RANK[codes[j]]),
                       whole, bits, margin)
    out = {}
    for p in np.nonzero(best >= 0)[0].tolist():
        k = best[p]
        at_s = float(times[long_row[k]])
        out[p] = ([[None, at_s]] if b_long[k] else [[at_s, None]], at_s if b_long[k] else -at_s, also[p])
    return out
