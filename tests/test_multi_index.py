"""The multi-index join is exact: the same pairs as comparing every pair."""
from __future__ import annotations

import numpy as np
import pytest

from hashtrail.pipeline.index import multi_index


def brute(p, rp, d, rd) -> set[tuple[int, int]]:
    out = set()
    for i in range(len(p)):
        ok = (np.bitwise_count(p[i] ^ p[i + 1:]) <= rp) & (np.bitwise_count(d[i] ^ d[i + 1:]) <= rd)
        out |= {(i, int(j)) for j in np.nonzero(ok)[0] + i + 1}
    return out


def flip(rng, code, bits: int):
    for b in rng.choice(64, bits, replace=False):
        code ^= np.uint64(1) << np.uint64(int(b))
    return code


def archive_like(n: int, seed: int):
    """Mostly distinct codes, families of near-copies (0-8 flipped bits), one heavily repeated value."""
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 2**64, n, dtype=np.uint64)
    d = rng.integers(0, 2**64, n, dtype=np.uint64)
    for _ in range(n // 40):
        base = int(rng.integers(0, n))
        for member in rng.integers(0, n, int(rng.integers(2, 40))):
            p[member] = flip(rng, p[base], int(rng.integers(0, 9)))
            d[member] = flip(rng, d[base], int(rng.integers(0, 9)))
    p[: n // 20], d[: n // 20] = p[0], d[0]
    return p, d


@pytest.mark.parametrize("rp, rd", [(16, 16), (10, 12), (2, 64), (0, 0), (3, 5), (64, 16), (20, 30)])
def test_self_join_equals_brute_force(rp, rd):
    p, d = archive_like(2500, seed=rp * 100 + rd)
    i, j = multi_index.pairs_within(p, rp, d, rd)
    found = list(zip(i.tolist(), j.tolist()))
    assert len(found) == len(set(found))  # each pair once
    assert set(found) == brute(p, rp, d, rd)


def test_new_codes_against_all_equals_brute_force_on_pairs_with_a_new_code():
    p, d = archive_like(3000, seed=7)
    new = np.arange(2700, 3000)
    a, b = multi_index.join(multi_index.BlockIndex(p[new], d[new], new), multi_index.BlockIndex(p, d), 16, 16)
    found = list(zip(a.tolist(), b.tolist()))
    assert len(found) == len(set(found))
    assert set(found) == {(i, j) for i, j in brute(p, 16, d, 16) if j >= 2700}


def test_block_radii_follow_the_refined_pigeonhole():
    for radius in range(0, 65):
        radii = multi_index.block_radii(radius)
        assert sum(r + 1 for r in radii) == radius + 1
        assert max(radii) - min(radii) <= 1
    assert multi_index.block_radii(16) == (4, 3, 3, 3)
