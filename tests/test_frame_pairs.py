"""frame_pairs: the compiled per-media-pair counts and examples, against their definitions in plain Python."""
from __future__ import annotations

import numpy as np
import pytest

from hashtrail.pipeline.index import frame_pairs


def _random_pairs(rng, rows: int, media: int, frames: int):
    """Row pairs among ``media`` media, each with a block of ``frames`` consecutive frame ids."""
    ma = rng.integers(0, media, rows)
    mb = rng.integers(0, media, rows)
    fa = ma * frames + rng.integers(0, frames, rows)
    fb = mb * frames + rng.integers(0, frames, rows)
    return ma, mb, fa, fb


def test_stable_order_is_a_stable_argsort_for_dense_and_sparse_values():
    rng = np.random.default_rng(3)
    for values in (rng.integers(-5, 40, 500), rng.integers(0, 2**40, 300), np.zeros(0, np.int64), np.array([7])):
        assert frame_pairs.stable_order(values).tolist() == np.argsort(values, kind="stable").tolist()


def test_groups_are_numpys_unique_pairs_with_the_inverse():
    rng = np.random.default_rng(5)
    ma, mb, _, _ = _random_pairs(rng, 3000, 40, 5)
    groups = frame_pairs.group_pairs(ma, mb)
    pairs, inverse = np.unique(np.column_stack([ma, mb]), axis=0, return_inverse=True)
    assert groups.pair_ids.tolist() == pairs.tolist()
    assert groups.pair_of.tolist() == inverse.reshape(-1).tolist()
    for g in range(len(groups)):  # each group's rows, and only those, between its bounds
        rows = groups.order[groups.starts[g]:groups.starts[g + 1]]
        assert sorted(rows.tolist()) == np.flatnonzero(inverse.reshape(-1) == g).tolist()
    rank = rng.integers(0, 9, len(ma))
    assert groups.minimum(rank).tolist() == [int(rank[inverse.reshape(-1) == g].min()) for g in range(len(pairs))]
    assert len(frame_pairs.group_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64))) == 0


@pytest.mark.parametrize("frames", [3, 40, 5000])  # per-frame tables, and the sort when the spans are sparse
def test_counts_are_distinct_frames_and_first_partners_per_pair(frames):
    rng = np.random.default_rng(frames)
    ma, mb, fa, fb = _random_pairs(rng, 4000, 30, frames)
    frame = np.arange(30 * frames)  # row i of this stand-in table is frame i
    groups = frame_pairs.group_pairs(ma, mb)
    matched_a, matched_b, pictures_a, pictures_b = frame_pairs.counts(groups, frame, fa, fb)
    for g, (a, b) in enumerate(groups.pair_ids.tolist()):
        rows = [(x, y) for x, y, p, q in zip(fa.tolist(), fb.tolist(), ma.tolist(), mb.tolist()) if (p, q) == (a, b)]
        first_a, first_b = {}, {}
        for x, y in rows:
            first_a[x] = min(y, first_a.get(x, y))
            first_b[y] = min(x, first_b.get(y, x))
        assert (matched_a[g], matched_b[g]) == (len(first_a), len(first_b))
        assert (pictures_a[g], pictures_b[g]) == (len(set(first_a.values())), len(set(first_b.values())))


def test_examples_are_the_closest_distinct_time_pairs_of_the_usable_rows():
    rng = np.random.default_rng(11)
    rows = 3000
    phash = rng.integers(0, 2**64, 400, dtype=np.uint64)
    times = np.where(rng.random(400) < 0.1, np.nan, rng.integers(0, 6, 400) * 0.5)  # repeats: distinct pairs matter
    vi, vj = rng.integers(0, 400, rows), rng.integers(0, 400, rows)
    ma, mb = vi % 17, vj % 13
    usable = rng.random(rows) < 0.8
    groups = frame_pairs.group_pairs(ma, mb)
    wanted = rng.random(len(groups)) < 0.7
    chosen = frame_pairs.examples(groups, phash, vi, vj, times, usable, wanted, 5)

    def millis(t):
        return -1 if np.isnan(t) else int(np.round(t * 1000))
    for g in range(len(groups)):
        mine = [r for r in chosen[g].tolist() if r >= 0]
        if not wanted[g]:
            assert mine == []
            continue
        keyed = sorted((int(np.bitwise_count(phash[vi[r]] ^ phash[vj[r]])), millis(times[vi[r]]), millis(times[vj[r]]))
                       for r in np.flatnonzero((groups.pair_of == g) & usable))
        want, seen = [], set()
        for c, a, b in keyed:
            if (a, b) not in seen:
                seen.add((a, b))
                want.append((c, a, b))
        got = [(int(np.bitwise_count(phash[vi[r]] ^ phash[vj[r]])), millis(times[vi[r]]), millis(times[vj[r]]))
               for r in mine]
        assert got == want[:5]
        assert all(groups.pair_of[r] == g and usable[r] for r in mine)


def test_closest_partners_keeps_each_media_s_best_pairs_by_share_then_kind():
    from hashtrail.pipeline.index.video_pairs import closest_partners

    rng = np.random.default_rng(17)
    pairs = sorted({tuple(sorted(rng.choice(25, 2, replace=False).tolist())) for _ in range(200)})
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    of_a, of_b = rng.integers(1, 9, len(pairs)), rng.integers(1, 9, len(pairs))
    counts = np.column_stack([rng.integers(0, of_a + 1), of_a, rng.integers(0, of_b + 1), of_b])
    rank = rng.integers(0, 3, len(pairs))
    kept = closest_partners(a, b, counts, rank, 4)
    share = counts[:, 0] / counts[:, 1] + counts[:, 2] / counts[:, 3]
    best: set[int] = set()
    for media in range(25):  # by the definition: a media's pairs ordered by share, kind, then pair order
        mine = [p for p in range(len(pairs)) if media in pairs[p]]
        best.update(sorted(mine, key=lambda p: (-share[p], rank[p], p))[:4])
    assert set(np.flatnonzero(kept).tolist()) == best
    assert len(best) < len(pairs)  # the rule dropped some: the test could fail
    assert closest_partners(a[:0], b[:0], counts[:0], rank[:0], 4).tolist() == []
