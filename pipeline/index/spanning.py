"""Row pairs of stills that cannot change a clustering, dropped as the join streams them out.

A family of 2,000 near-duplicate stills is 2 million media pairs, each found
through several variant pairs (full with full, full with centre, a rotation
probe with full...): at 2M media the admitted row pairs were hundreds of
millions, and every later step held them as arrays. Yet what a clustering
keeps of them is little: the components, and for each member without a
plain match its best hard-edit link (``edges.member_vias``), with the pixel
check (``verification.verify_edges``) deciding which hard pairs join.

A *free plain* row pair is a plain one (rank 0) that the pixel check never
looks at (with ``verify_plain`` on, only those within the strict thresholds).
Free plain pairs always join, and they make both media "plain" (no ``via``).
So, exactly:

- of the free plain pairs only a spanning forest is needed: a union-find
  over media keeps a pair when it joins two trees (the components are the
  same, and every media touched by one is touched by a kept one);
- any other still row pair (a hard edit, or a plain pair the check would
  look at) between two media already in one tree (so both plain) changes
  nothing: neither media reports a ``via``, and the check skips
  pairs already connected (``skip_connected``), so it is never checked and
  never joins anything new. It is dropped;
- row pairs of videos and animations are all kept (their frames are counted
  per media pair), and so are pairs through a probe row that stands for
  identical probe rows of other media (``cluster._probe_copies``: each copy
  gets that row's edges later, and the copies are not known to be plain).

Both rules are monotone (two trees once joined stay one), so the
join can run shard by shard (``multi_index.join(..., shard=...)``) and each
shard's pairs be reduced at once, against the forest so far: the large
families' pairs never exist all at once. A last pass drops the kept pairs
that later shards made redundant. ``tests/test_spanning.py`` checks
clusters, distances and ``via`` against the unreduced pairs.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from hashtrail.pipeline.index.edges import RANK
from hashtrail.pipeline.index.gathers import take
from hashtrail.pipeline.index.row_distances import pair_distances


@njit(cache=True)
def _root(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@njit(cache=True)
def _grow(a, b, parent, keep):
    """Union-find over free plain pairs: keep[k] when pair k joins two trees."""
    for k in range(len(a)):
        x, y = a[k], b[k]
        rx, ry = _root(parent, x), _root(parent, y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
            keep[k] = True


@njit(cache=True)
def _redundant(a, b, parent, out):
    """Pairs of two media in one tree (so both touched by a free plain pair: both plain)."""
    for k in range(len(a)):
        out[k] = _root(parent, a[k]) == _root(parent, b[k])


class Forest:
    """Reduces admitted row pairs (rows of ``fp``) to those a clustering can use; see the module doc.

    ``frame_count``: per row, its media's frame count (``Fingerprints.frames``);
    ``copied``: per row, a probe row standing for identical rows of other media.
    """

    def __init__(self, fp, frame_count: np.ndarray, copied: np.ndarray, t):
        self.media = fp.media_id
        self.still = frame_count == 1
        self.rank = RANK[fp.codes()]
        self.copied = copied
        self.phash, self.dhash, self.phash256 = fp.phash, fp.dhash, fp.phash256
        self.strict_only = bool(t.verify and t.verify_plain)  # verification.Rule.from_thresholds
        self.t = t
        top = int(fp.media_id.max(initial=0)) + 1
        self.parent = np.arange(top, dtype=np.int64)
        self.forest: list[tuple[np.ndarray, np.ndarray]] = []
        self.others: list[tuple[np.ndarray, np.ndarray]] = []

    def _free_plain(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        free = take(self.still, i) & take(self.still, j) & (take(self.rank, i) == 0) & (take(self.rank, j) == 0)
        if self.strict_only and free.any():
            k = np.nonzero(free)[0]
            dp, _, dq = pair_distances(self.phash, self.dhash, self.phash256, i[k], j[k])
            free[k] = (dp <= self.t.hard_phash) & (dq <= self.t.hard_phash256)
        return free

    def _droppable(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = np.zeros(len(i), dtype=bool)
        _redundant(take(self.media, i), take(self.media, j), self.parent, out)
        return out & take(self.still, i) & take(self.still, j) & ~take(self.copied, i) & ~take(self.copied, j)

    def add(self, i: np.ndarray, j: np.ndarray) -> None:
        """Take one shard's admitted row pairs."""
        differ = take(self.media, i) != take(self.media, j)
        i, j = i[differ], j[differ]
        free = self._free_plain(i, j)
        fi, fj = i[free], j[free]
        keep = np.zeros(len(fi), dtype=bool)
        _grow(take(self.media, fi), take(self.media, fj), self.parent, keep)
        self.forest.append((fi[keep], fj[keep]))
        i, j = i[~free], j[~free]
        drop = self._droppable(i, j)
        self.others.append((i[~drop], j[~drop]))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept row pairs: the forest, and the other pairs still not redundant.

        Once: the pieces are let go as they are copied out, so the pairs are
        not held twice (a concatenation, then a filtered copy of it, were the
        peak memory at 2M media) while the next step (media_edges) runs.
        """
        pieces, self.forest, others, self.others = self.forest, [], self.others, []
        keeps = [None] * len(pieces) + [~self._droppable(x, y) for x, y in others]
        pieces += others
        del others
        total = sum(len(x) if keep is None else int(keep.sum()) for (x, _), keep in zip(pieces, keeps))
        out_i, out_j = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
        at = 0
        for k in range(len(pieces)):
            (x, y), keep = pieces[k], keeps[k]
            pieces[k] = keeps[k] = None  # this piece goes once copied out
            if keep is not None:
                x, y = x[keep], y[keep]
            out_i[at:at + len(x)], out_j[at:at + len(x)] = x, y
            at += len(x)
            del x, y, keep
        return out_i, out_j
