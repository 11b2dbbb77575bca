"""The admitted row pairs of each media pair that involves a video, counted in one compiled pass.

Whether two videos (or a video and a still) match, and which frame times
``show`` lists for them, all come from the same groups: the row pairs of one
media pair. ``media_edges`` used to get at them by sorting every video row
pair of a clustering by int64 keys, once per question (frames matched on
each side, distinct pictures on each side, examples): eight sorts of 30M
keys at 2M media, 23 s, most of what followed the join. Here one argsort
groups the rows by media pair, and each question is a pass over the groups,
parallel over pairs, that sorts only one pair's rows (at most frames x
frames of the two sides) where it must sort at all. The answers do not
depend on the order of rows within a pair, so the argsort need not be stable.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit, prange

from hashtrail.pipeline.index.multi_index import popcount


@dataclasses.dataclass(frozen=True)
class Groups:
    """Row pairs grouped by media pair: ``order`` sorts the rows, ``starts`` bounds each group in it."""

    order: np.ndarray  # row positions, grouped by media pair
    starts: np.ndarray  # len(pair_ids) + 1 offsets into order
    pair_ids: np.ndarray  # (n, 2) media a, b, sorted
    pair_of: np.ndarray  # per row (original order): its media pair's index in pair_ids

    def __len__(self) -> int:
        return len(self.pair_ids)

    def first_rows(self) -> np.ndarray:
        """One row position of each pair (for what all of a pair's rows share, such as frame counts)."""
        return self.order[self.starts[:-1]]

    def minimum(self, values: np.ndarray) -> np.ndarray:
        """Per pair, the least of ``values`` (per row) over its rows."""
        return np.minimum.reduceat(values[self.order], self.starts[:-1]) if len(self) else values[:0]


@njit(cache=True)
def _scatter(values, low, offsets):
    order = np.empty(len(values), np.int64)
    at = offsets.copy()
    for x in range(len(values)):
        v = values[x] - low
        order[at[v]] = x
        at[v] += 1
    return order


def stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` for int64 values of a span up to a few times their count.

    A counting sort: one histogram and one pass, O(n) (media ids of row
    pairs: argsort took a second per 8M on this machine, this a tenth).
    """
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span > 4 * len(values) + 1024:
        return np.argsort(values, kind="stable").astype(np.int64)
    return _counting_order(values, np.int64(low), span)


@njit(cache=True)
def _counting_order(values, low, span):
    """The histogram, its running sum and the scatter in one compiled function (no ``values - low`` copy)."""
    offsets = np.zeros(span + 1, np.int64)
    for x in range(len(values)):
        offsets[values[x] - low + 1] += 1
    for k in range(span):
        offsets[k + 1] += offsets[k]
    return _scatter(values, low, offsets[:span])


@njit(parallel=True, cache=True)
def _sort_within(order, starts, second):
    """Sort each run order[starts[g]:starts[g+1]] by ``second`` (stable), in place."""
    for g in prange(len(starts) - 1):
        s, e = starts[g], starts[g + 1]
        if e - s < 2:
            continue
        run = order[s:e].copy()
        keys = np.empty(e - s, np.int64)
        for x in range(e - s):
            keys[x] = second[run[x]]
        by = np.argsort(keys, kind="mergesort")
        for x in range(e - s):
            order[s + x] = run[by[x]]


@njit(cache=True)
def _ascending(values) -> bool:
    for x in range(1, len(values)):
        if values[x] < values[x - 1]:
            return False
    return True


def group_pairs(ma: np.ndarray, mb: np.ndarray) -> Groups:
    """Group row pairs by (media a, media b), pairs sorted: ``np.unique`` of the pairs with an inverse.

    A counting sort by media a, then each media a's few rows sorted by media b.
    """
    ma, mb = np.asarray(ma, dtype=np.int64), np.asarray(mb, dtype=np.int64)
    if len(ma) == 0:
        z = np.zeros(0, dtype=np.int64)
        return Groups(z, np.zeros(1, dtype=np.int64), np.zeros((0, 2), dtype=np.int64), z)
    # rows that come by media a already (video_pairs' parts, when a clustering has several) need no sort: the
    # check, a tenth of a sort, stops at the first row out of order
    order = np.arange(len(ma), dtype=np.int64) if _ascending(ma) else stable_order(ma)
    sa = ma[order]
    by_a = np.append(np.flatnonzero(np.r_[True, sa[1:] != sa[:-1]]), len(order)).astype(np.int64)
    _sort_within(order, by_a, mb)
    sb = mb[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    firsts = np.flatnonzero(new)
    starts = np.append(firsts, len(order)).astype(np.int64)
    pair_of = np.empty(len(order), dtype=np.int64)
    pair_of[order] = np.cumsum(new) - 1
    pair_ids = np.column_stack([sa[firsts], sb[firsts]])
    return Groups(order, starts, pair_ids, pair_of)


@njit(cache=True)
def _distinct_and_pictures(own: np.ndarray, partner: np.ndarray) -> tuple[int, int]:
    """Distinct ``own`` frames, and distinct first partners of them (frames that match different frames).

    A frame id's span is its media's frame count (Fingerprints.frames numbers
    a media's frames in a row), so per-frame tables replace a sort when the
    spans are small beside the rows.
    """
    low_own, low_partner = own.min(), partner.min()
    span_own, span = own.max() - low_own + 1, partner.max() - low_partner + 1
    if span_own + span > 8 * len(own) + 64:  # sparse: sort (own, partner) keys
        key = np.sort((own - low_own) * span + (partner - low_partner))
        frames, firsts = 0, np.empty(len(key), dtype=np.int64)
        for x in range(len(key)):
            if x == 0 or key[x] // span != key[x - 1] // span:  # a new own frame: this is its first partner
                firsts[frames] = key[x] % span
                frames += 1
        firsts = np.sort(firsts[:frames])
        pictures = 0
        for x in range(frames):
            if x == 0 or firsts[x] != firsts[x - 1]:
                pictures += 1
        return frames, pictures
    first = np.full(span_own, span, np.int64)  # per own frame: its lowest partner (span: none)
    for x in range(len(own)):
        f, q = own[x] - low_own, partner[x] - low_partner
        if q < first[f]:
            first[f] = q
    taken = np.zeros(span, np.bool_)
    frames, pictures = 0, 0
    for f in range(span_own):
        if first[f] < span:
            frames += 1
            if not taken[first[f]]:
                taken[first[f]] = True
                pictures += 1
    return frames, pictures


@njit(parallel=True, cache=True)
def _counts(starts, order, frame, vi, vj):
    n = len(starts) - 1
    matched_a, matched_b = np.ones(n, np.int64), np.ones(n, np.int64)
    pictures_a, pictures_b = np.ones(n, np.int64), np.ones(n, np.int64)
    for g in prange(n):
        s, e = starts[g], starts[g + 1]
        if e - s == 1:  # one row pair: one frame and one picture a side
            continue
        fa, fb = np.empty(e - s, np.int64), np.empty(e - s, np.int64)
        for x in range(e - s):
            fa[x], fb[x] = frame[vi[order[s + x]]], frame[vj[order[s + x]]]
        matched_a[g], pictures_a[g] = _distinct_and_pictures(fa, fb)
        matched_b[g], pictures_b[g] = _distinct_and_pictures(fb, fa)
    return matched_a, matched_b, pictures_a, pictures_b


def counts(groups: Groups, frame: np.ndarray, vi: np.ndarray, vj: np.ndarray):
    """Per pair: frames of a with a match in b, frames of b with one in a, and distinct pictures of each.

    A side's *pictures* are its matched frames whose first (lowest-id)
    partner differs: two near-identical frames of a title card that match
    the same frames of the other side are one picture
    (``clip_runs.more_than_one_picture``). ``frame``: per fingerprint row,
    its frame id; ``vi``/``vj``: the row pairs ``groups`` was made from.
    """
    return _counts(groups.starts, groups.order, np.asarray(frame, dtype=np.int64), vi, vj)


@njit(cache=True)
def _before(c0, a0, b0, c1, a1, b1) -> bool:
    return c0 < c1 or (c0 == c1 and (a0 < a1 or (a0 == a1 and b0 < b1)))


@njit(cache=True)
def _millis(t: float) -> np.int64:
    return np.int64(-1) if np.isnan(t) else np.int64(np.round(t * 1000.0))


@njit(parallel=True, cache=True)
def _examples(starts, order, p, times, vi, vj, usable, wanted, k):
    n = len(starts) - 1
    chosen = np.full((n, k), -1, np.int64)
    for g in prange(n):
        if not wanted[g]:
            continue
        s, e = starts[g], starts[g + 1]
        rows = np.empty(e - s, np.int64)  # this pair's usable row pairs, with (closeness, ta, tb)
        close, ta, tb = np.empty(e - s, np.int64), np.empty(e - s, np.int64), np.empty(e - s, np.int64)
        m = 0
        for x in range(s, e):
            r = order[x]
            if usable[r]:
                rows[m], close[m] = r, np.int64(popcount(p[vi[r]] ^ p[vj[r]]))
                ta[m], tb[m] = _millis(times[vi[r]]), _millis(times[vj[r]])
                m += 1
        picked = np.empty(k, np.int64)
        pc, pa, pb = np.int64(-1), np.int64(-2), np.int64(-2)  # the last chosen (closeness, ta, tb)
        for slot in range(k):
            best = -1
            for r in range(m):
                if not _before(pc, pa, pb, close[r], ta[r], tb[r]):
                    continue
                seen = False  # one example per distinct (ta, tb): the closest
                for earlier in range(slot):
                    q = picked[earlier]
                    if ta[q] == ta[r] and tb[q] == tb[r]:
                        seen = True
                if seen:
                    continue
                if best < 0 or _before(close[r], ta[r], tb[r], close[best], ta[best], tb[best]):
                    best = r
            if best < 0:
                break
            picked[slot] = best
            chosen[g, slot] = rows[best]
            pc, pa, pb = close[best], ta[best], tb[best]
    return chosen


def examples(groups: Groups, phash: np.ndarray, vi: np.ndarray, vj: np.ndarray, times: np.ndarray,
             usable: np.ndarray, wanted: np.ndarray, k: int) -> np.ndarray:
    """Per pair (``wanted``), up to k of its ``usable`` row pairs: one per distinct (time a, time b), closest first.

    Closest by pHash64 distance, ties by the two times (milliseconds; a
    still's time, NaN, sorts first). Returns (pairs, k) row pair positions
    (into vi, vj), -1 past a pair's last example.
    """
    return _examples(groups.starts, groups.order, np.ascontiguousarray(phash, dtype=np.uint64),
                     np.asarray(times, dtype=np.float64), vi, vj, np.asarray(usable, dtype=bool),
                     np.asarray(wanted, dtype=bool), k)
