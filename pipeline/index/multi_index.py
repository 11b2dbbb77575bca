"""Exact Hamming range join on 64-bit codes: multi-index hashing as a blocked join.

The matching rule asks for pairs within pHash64 <= 16 *and* dHash64 <= 16.
Comparing all pairs is O(n^2): about 6,000 s at 2M codes with numpy. Multi-
index hashing (Norouzi et al., "Fast Exact Search in Hamming Space with
Multi-Index Hashing") splits each code into 4 blocks of 16 bits; two codes
within r bits have some block i within r_i bits, for any radii with
sum(r_i + 1) > r (the refined pigeonhole: for r = 16, radii 4, 3, 3, 3).
So the candidates of a code are the codes whose block i lies in the
Hamming ball of radius r_i around its own block i, for some i.

At 25% of the bits (r = 16 of 64) the balls are large (2,517 keys at
radius 4), so probing them one query at a time is dominated by cache
misses. Instead, for each block, codes are sorted by that block's key
(a bucket per key) and the join runs bucket by bucket: every code of
bucket k is compared with every code of bucket k ^ m for each ball mask m,
a small all-pairs product that stays in cache. Each unordered pair of
buckets is visited once; a pair found through block i is kept only if no
earlier block already finds it, so every pair comes out exactly once. The
second code (dHash) is checked in the same loop, so only pairs within both
radii are written out. Compiled with numba, parallel over buckets.

The result is exact: ``tests/test_multi_index.py`` compares it with brute force,
and ``benchmarks/cluster_scale.py`` with FAISS's exhaustive index.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

BLOCKS = 4
BLOCK_BITS = 16
KEYS = 1 << BLOCK_BITS
CHUNK_KEYS = 256  # buckets per parallel work item


def block_radii(radius: int) -> tuple[int, ...]:
    """Per-block search radii with sum(r_i + 1) = radius + 1: the fewest probes that stay exact.

    -1 means the block is not searched (for radius < 3, fewer blocks suffice).
    """
    total = radius + 1  # sum of (r_i + 1)
    return tuple(total // BLOCKS + (1 if i < total % BLOCKS else 0) - 1 for i in range(BLOCKS))


@functools.lru_cache(maxsize=None)
def ball(radius: int) -> np.ndarray:
    """XOR masks of 16-bit keys within ``radius`` bits, lightest first."""
    if radius < 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.arange(KEYS, dtype=np.uint64)
    weight = np.bitwise_count(keys)
    return keys[weight <= radius][np.argsort(weight[weight <= radius], kind="stable")].astype(np.int64)


@intrinsic
def _popcount(typingctx, x):
    """LLVM's ctpop: one POPCNT instruction where the CPU has it."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


@njit(cache=True)
def _found_earlier(diff, block, radii):
    for earlier in range(block):
        if radii[earlier] >= 0 and np.int64(_popcount((diff >> np.uint64(BLOCK_BITS * earlier))
                                                      & np.uint64(KEYS - 1))) <= radii[earlier]:
            return True
    return False


@njit(parallel=True, cache=True)
def _join_block(block, radii, masks, q_offs, q_p, q_d, q_id, t_offs, t_p, t_d, t_id, rp, rd, self_join,
                chunks, capacity):
    """Pairs (query id, table id) within rp / rd found through ``block``.

    Self join (query set = table): bucket pairs with k < k ^ m, and i < j inside
    one bucket. Otherwise each query meets every table code once; a pair of two
    codes present on both sides is kept only for query id < table id.
    """
    out_a = np.empty((len(chunks), capacity), np.int64)
    out_b = np.empty((len(chunks), capacity), np.int64)
    counts = np.zeros(len(chunks), np.int64)
    for slot in prange(len(chunks)):
        chunk = chunks[slot]
        n = 0
        for k in range(chunk * CHUNK_KEYS, (chunk + 1) * CHUNK_KEYS):
            qs, qe = q_offs[k], q_offs[k + 1]
            if qs == qe:
                continue
            for mask in masks:
                other = k ^ mask
                if self_join and other < k:
                    continue
                ts, te = t_offs[other], t_offs[other + 1]
                for qi in range(qs, qe):
                    pq, dq, iq = q_p[qi], q_d[qi], q_id[qi]
                    start = ts
                    if self_join and other == k:
                        start = qi + 1
                    hits = np.uint64(0)
                    for ti in range(start, te):  # a branch-free count LLVM vectorises (all uint64:
                        hits += np.uint64(_popcount(pq ^ t_p[ti]) <= rp)  # mixed signs go through float)
                    if hits == 0:
                        continue  # the usual case: nothing within rp in this bucket
                    for ti in range(start, te):
                        diff = pq ^ t_p[ti]
                        if _popcount(diff) > rp or _popcount(dq ^ t_d[ti]) > rd:
                            continue
                        it = t_id[ti]
                        if (not self_join) and it == iq:
                            continue
                        if _found_earlier(diff, block, radii):
                            continue
                        if n < capacity:
                            out_a[slot, n] = iq
                            out_b[slot, n] = it
                        n += 1
        counts[slot] = n
    return out_a, out_b, counts


class BlockIndex:
    """Codes sorted by each 16-bit block: a bucket (CSR offsets) per block key."""

    def __init__(self, p: np.ndarray, d: np.ndarray, ids: np.ndarray | None = None):
        self.p = np.ascontiguousarray(p, dtype=np.uint64)
        self.d = np.ascontiguousarray(d, dtype=np.uint64)
        self.ids = np.arange(len(p), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        self.tables = []
        for block in range(BLOCKS):
            # 16-bit keys: numpy's stable sort is a radix sort on them, linear in n
            key = ((self.p >> np.uint64(BLOCK_BITS * block)) & np.uint64(KEYS - 1)).astype(np.uint16)
            order = np.argsort(key, kind="stable")
            offs = np.zeros(KEYS + 1, dtype=np.int64)
            np.cumsum(np.bincount(key, minlength=KEYS), out=offs[1:])
            self.tables.append((offs, self.p[order], self.d[order], self.ids[order]))

    def __len__(self) -> int:
        return len(self.p)


def join(queries: BlockIndex, table: BlockIndex, rp: int, rd: int) -> tuple[np.ndarray, np.ndarray]:
    """Id pairs (a, b) with Hamming(p) <= rp and Hamming(d) <= rd, each unordered pair once.

    ``queries is table`` is the self join (all pairs of one set, a < b);
    otherwise every query meets every table code (the incremental case:
    new codes against all codes, new ones included).
    """
    self_join = queries is table
    radii = np.array(block_radii(rp), dtype=np.int64)
    found_a, found_b = [], []
    for block in range(BLOCKS):
        if radii[block] < 0:
            continue
        masks = ball(int(radii[block]))
        chunks = np.arange(KEYS // CHUNK_KEYS, dtype=np.int64)
        capacity = max(1024, 4 * (len(queries) // 256 + 1))
        while len(chunks):
            a, b, counts = _join_block(block, radii, masks, *queries.tables[block], *table.tables[block],
                                       np.uint64(rp), np.uint64(rd), self_join, chunks, capacity)
            overflow = counts > capacity
            for slot in np.nonzero((counts > 0) & ~overflow)[0]:
                found_a.append(a[slot, :counts[slot]])
                found_b.append(b[slot, :counts[slot]])
            # dense chunks (big families) ran out of room: only they run again, with room for all
            chunks, capacity = chunks[overflow], int(counts.max(initial=0))
    if not found_a:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    if not self_join:  # a pair of two new codes is met from both sides
        both = np.isin(b, queries.ids)
        keep = ~both | (a < b)
        a, b = a[keep], b[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo, hi


def pairs_within(p: np.ndarray, rp: int, d: np.ndarray, rd: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) with Hamming(p[i], p[j]) <= rp and Hamming(d[i], d[j]) <= rd."""
    index = BlockIndex(p, d)
    i, j = join(index, index, rp, rd)
    order = np.lexsort((j, i))
    return i[order], j[order]
