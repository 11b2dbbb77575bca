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


def assert_new_against_all_is_brute_force(first_new: int, seed: int):
    """The codes from ``first_new`` on joined against all: each pair once, and every pair with a new code."""
    p, d = archive_like(3000, seed=seed)
    new = np.arange(first_new, 3000)
    a, b = multi_index.join(multi_index.BlockIndex(p[new], d[new], new), multi_index.BlockIndex(p, d), 16, 16)
    found = list(zip(a.tolist(), b.tolist()))
    assert len(found) == len(set(found))
    assert set(found) == {(i, j) for i, j in brute(p, 16, d, 16) if j >= first_new}


def test_new_codes_against_all_equals_brute_force_on_pairs_with_a_new_code():
    assert_new_against_all_is_brute_force(2700, seed=7)


def test_block_radii_follow_the_refined_pigeonhole():
    for radius in range(0, 65):
        radii = multi_index.block_radii(radius)
        assert sum(r + 1 for r in radii) == radius + 1
        assert max(radii) - min(radii) <= 1
    assert multi_index.block_radii(16) == (4, 3, 3, 3)


def test_dense_buckets_gathered_past_capacity_equal_brute_force():
    """Codes that share their blocks' keys: buckets of hundreds, gathered runs longer than GATHER."""
    rng = np.random.default_rng(3)
    n = multi_index.GATHER + 3000
    base = rng.integers(0, 2**64, 1, dtype=np.uint64)[0]
    flips = rng.integers(0, 2**16, n, dtype=np.uint64) & np.uint64(0x0421)  # 3 bits of the low block vary
    p = base ^ flips ^ (rng.integers(0, 2**64, n, dtype=np.uint64) & np.uint64(0x0F00_0000_0000_0000))
    d = rng.integers(0, 2**64, n, dtype=np.uint64)
    d[: n // 2] = d[0]  # half are within every dHash radius of each other
    queries = np.arange(0, n, 997)
    a, b = multi_index.join(multi_index.BlockIndex(p[queries], d[queries], queries), multi_index.BlockIndex(p, d), 16, 16)
    found = list(zip(a.tolist(), b.tolist()))
    assert len(found) == len(set(found))
    want = set()
    for q in queries.tolist():
        near = np.nonzero((np.bitwise_count(p ^ p[q]) <= 16) & (np.bitwise_count(d ^ d[q]) <= 16))[0]
        want |= {(min(q, int(j)), max(q, int(j))) for j in near if j != q}
    assert len(want) > 10_000 and set(found) == want


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_shards_are_disjoint_and_together_the_whole_join(parts):
    p, d = archive_like(2500, seed=11)
    index = multi_index.BlockIndex(p, d)
    whole = set(zip(*(x.tolist() for x in multi_index.join(index, index, 16, 16))))
    pieces = [list(zip(*(x.tolist() for x in multi_index.join(index, index, 16, 16, (k, parts)))))
              for k in range(parts)]
    assert sum(len(piece) for piece in pieces) == len(whole)
    assert set().union(*map(set, pieces)) == whole
    with pytest.raises(ValueError):
        multi_index.join(index, index, 16, 16, (parts, parts))


@pytest.mark.parametrize("walk_large_from", [0, 10**12])
def test_either_side_walked_gives_the_same_pairs(monkeypatch, walk_large_from):
    """A few new codes against many: the large side walked and the new codes gathered, or the other way."""
    monkeypatch.setattr(multi_index, "WALK_LARGE_FROM", walk_large_from)
    assert_new_against_all_is_brute_force(2800, seed=13)


def evenly_split(p, pairs, radius: int) -> set[tuple[int, int]]:
    """The pairs at exactly ``radius`` bits whose every 16-bit block differs by more than the one-bit-short radii."""
    radii = multi_index.searched_radii(radius, exact=False)
    out = set()
    for i, j in pairs:
        diff = int(p[i] ^ p[j])
        blocks = [bin((diff >> (16 * k)) & 0xFFFF).count("1") for k in range(4)]
        if sum(blocks) == radius and all(b > r for b, r in zip(blocks, radii)):
            out.add((i, j))
    return out


def test_one_bit_short_misses_only_the_evenly_split_pairs_at_the_radius():
    """exact=False adds no pair, finds all within 15 bits, and misses at 16 exactly the 4/4/4/4 splits."""
    rng = np.random.default_rng(11)
    p, d = archive_like(2500, seed=5)
    # pairs at exactly 16 bits, split 4/4/4/4 (missed) and 5/4/4/3 (found): the two sides of the rule
    for k in range(0, 400, 2):
        masks = [rng.choice(16, 4, replace=False) + 16 * blk for blk in range(4)] if k % 4 == 0 else \
            [rng.choice(16, n, replace=False) + 16 * blk for blk, n in enumerate((5, 4, 4, 3))]
        code = int(p[k + 1])
        for bit in np.concatenate(masks):
            code ^= 1 << int(bit)
        p[k], d[k] = np.uint64(code), d[k + 1]
    index = multi_index.BlockIndex(p, d)
    exact = set(zip(*(x.tolist() for x in multi_index.join(index, index, 16, 16))))
    short = set(zip(*(x.tolist() for x in multi_index.join(index, index, 16, 16, exact=False))))
    assert exact == brute(p, 16, d, 16)
    missed = evenly_split(p, exact, 16)
    assert len(missed) >= 100  # the planted 4/4/4/4 pairs, at least
    assert short == exact - missed
    new = np.arange(2000, 2500)  # the incremental join misses the same pairs, no others
    a, b = multi_index.join(multi_index.BlockIndex(p[new], d[new], new), index, 16, 16, exact=False)
    assert set(zip(a.tolist(), b.tolist())) == {(i, j) for i, j in short if j >= 2000}


def test_the_share_missed_at_the_radius_is_the_even_splits_of_random_bits():
    rng = np.random.default_rng(3)
    radii = multi_index.searched_radii(16, exact=False)
    assert radii == (3, 3, 3, 3) and multi_index.block_radii(16) == (4, 3, 3, 3)
    even = 0
    for _ in range(20000):
        blocks = np.bincount(rng.choice(64, 16, replace=False) // 16, minlength=4)
        even += all(blocks > radii)
    assert abs(even / 20000 - multi_index.missed_at_radius(16)) < 0.004
    assert 0.02 < multi_index.missed_at_radius(16) < 0.025
    assert abs(multi_index.approximate_cost(16) - 4 * 697 / (2517 + 3 * 697)) < 1e-9
    assert multi_index.searched_radii(4, exact=False) == multi_index.block_radii(4)  # small radii stay exact


def test_compiled_row_pair_distances_equal_numpy():
    from hashtrail.pipeline.index.row_distances import pair_distances
    rng = np.random.default_rng(9)
    p, d = archive_like(500, seed=2)
    q = rng.integers(0, 2**64, (500, 4), dtype=np.uint64)
    i, j = rng.integers(0, 500, 3000), rng.integers(0, 500, 3000)
    dp, dd, dq = pair_distances(p, d, q, i, j)
    assert (dp == np.bitwise_count(p[i] ^ p[j])).all() and (dd == np.bitwise_count(d[i] ^ d[j])).all()
    assert (dq == np.bitwise_count(q[i] ^ q[j]).sum(axis=1)).all() and dq.max() > 100
    assert [len(x) for x in pair_distances(p, d, q, i[:0], j[:0])] == [0, 0, 0]
