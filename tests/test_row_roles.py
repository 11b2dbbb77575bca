"""The clustering join by row role (centre crops queried against whole rows, probes against primary rows)
gives exactly the pairs of comparing every row with every other under the rule."""
from __future__ import annotations

import numpy as np
import pytest

from hashtrail.pipeline.index.cluster import PRIMARY, PROBE, Fingerprints, Thresholds, admitted, matching_rows
from hashtrail.pipeline.index.incremental import _new_edges
from hashtrail.pipeline.media.hashing import SECONDARY, VARIANT_CODE

T = Thresholds(16, 16, 64)
LAYOUT = ("full", "center", "trim", "trim_center", "uncaptioned", "banded", "rotate_m4", "rotate_p4")


def correlated(media: int, seed: int) -> Fingerprints:
    """Media with several variants each, near each other (a few bits apart), and families of media."""
    rng = np.random.default_rng(seed)
    picture = rng.integers(0, 2**64, (media, 6), dtype=np.uint64)
    for _ in range(media // 8):  # families: a media's picture taken over by others, slightly changed
        picture[rng.integers(0, media, 4)] = picture[rng.integers(0, media)]
    rows_media, codes = [], []
    for m in range(media):
        names = [n for n in LAYOUT if rng.random() < 0.7] or ["full"]
        rows_media += [m] * len(names)
        codes += [VARIANT_CODE[n] for n in names]
    rows_media, codes = np.asarray(rows_media), np.asarray(codes, dtype=np.int16)

    def near(words, bits):
        out = picture[rows_media][:, words].copy()
        for _ in range(bits):
            out ^= np.uint64(1) << rng.integers(0, 64, out.shape).astype(np.uint64)
        return out
    p, d, q = near(0, 4), near(1, 4), near(slice(2, 6), 6)
    secondary = np.isin(codes, [VARIANT_CODE[n] for n in SECONDARY])
    return Fingerprints(rows_media.astype(np.int64), p, d, q, secondary, np.full(len(codes), np.nan), codes,
                        np.full(len(codes), np.nan))


def brute(fp: Fingerprints, t: Thresholds) -> set[tuple[int, int]]:
    codes = fp.codes()
    base, probe, primary = ~PROBE[codes], PROBE[codes] & t.probes()[codes], PRIMARY[codes]
    i, j = np.triu_indices(len(codes), 1)
    dp, dd = np.bitwise_count(fp.phash[i] ^ fp.phash[j]), np.bitwise_count(fp.dhash[i] ^ fp.dhash[j])
    plain = base[i] & base[j] & (dp <= t.phash) & (dd <= t.dhash)
    hard = ((probe[i] & primary[j]) | (primary[i] & probe[j])) & (dp <= t.hard_phash) & (dd <= t.hard_dhash)
    a, b = admitted(fp, i[plain | hard], j[plain | hard], t)
    return set(zip(a.tolist(), b.tolist()))


def pairs(i, j) -> list[tuple[int, int]]:
    return list(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist()))


@pytest.mark.parametrize("seed", [1, 2])
def test_join_by_row_role_equals_every_pair_under_the_rule(seed):
    fp = correlated(400, seed)
    found = pairs(*matching_rows(fp, T))
    assert len(found) == len(set(found))  # each pair once
    want = brute(fp, T)
    assert any(fp.secondary[a] != fp.secondary[b] for a, b in want)  # centre-whole pairs are in the test
    assert set(found) == want


def test_shards_of_matching_rows_make_up_the_whole():
    fp = correlated(300, 5)
    pieces = [pairs(*matching_rows(fp, T, (k, 3))) for k in range(3)]
    assert sorted(sum(pieces, [])) == sorted(pairs(*matching_rows(fp, T)))


def test_new_rows_meet_every_row_once_as_in_a_rebuild():
    fp = correlated(400, 9)
    new = np.nonzero(fp.media_id >= 340)[0]
    edges, _ = _new_edges(fp, new, T)
    full = matching_rows(fp, T)
    from hashtrail.pipeline.index.cluster import media_edges
    frame, count = fp.frames()
    a, b, *_ = media_edges(fp, *full, frame, count, T)
    want = {(x, y) for x, y in zip(a.tolist(), b.tolist()) if y >= 340 or x >= 340}
    assert set(zip(edges.a.tolist(), edges.b.tolist())) == want and want
