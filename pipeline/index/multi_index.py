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
(a bucket per key) and the join runs bucket by bucket: the table buckets
k ^ m of every ball mask m are copied into one contiguous run, and each
code of bucket k is compared with the whole run in a branch-free loop that
counts the codes within both radii (pHash and dHash together) with AVX-512
VPOPCNTQ, 8 codes an instruction; only a stretch of the run with a pair in
it is looked at again. (Comparing bucket pair by bucket pair, each loop is
a few dozen codes long and its scalar remainder costs more than its vector
part; counting pHash alone sends one segment in ten to the slow rescan.)
Each unordered pair of buckets is visited once; a pair found through
block i is kept only if no earlier block already finds it, so every pair
comes out exactly once. Compiled with numba, parallel over buckets. The
work can be split into shards (``join(..., shard=(k, n))``): disjoint sets
of (block, bucket chunk) work items whose results add up to the whole.

The result is exact: ``tests/test_multi_index.py`` compares it with brute force,
and ``benchmarks/cluster_scale.py`` with FAISS's exhaustive index.

``join(..., exact=False)`` searches the blocks one bit short of the
pigeonhole: the radii of ``rp - 1`` (3, 3, 3, 3 for 16), so every pair up
to rp - 1 bits is still found, and a pair at exactly rp bits only when its
differing bits do not split evenly, one more than each block's radius (for
bits that fall at random, 2.25% of the pairs at exactly 16 bits are
missed). At rp = 16 that probes 2,788 buckets a block key instead of 4,608:
0.61x the comparisons (``approximate_cost``). Pairs are never added, only
missed; the candidates are still checked at rp.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

BLOCKS = 4
BLOCK_BITS = 16
KEYS = 1 << BLOCK_BITS
# buckets per parallel work item: 1,024 items a block, so the threads end together (at 500k media the join
# used 1.46 of 2 cores with 256, 1.87 with 64)
CHUNK_KEYS = 64


def block_radii(radius: int) -> tuple[int, ...]:
    """Per-block search radii with sum(r_i + 1) = radius + 1: the fewest probes that stay exact.

    -1 means the block is not searched (for radius < 3, fewer blocks suffice).
    """
    total = radius + 1  # sum of (r_i + 1)
    return tuple(total // BLOCKS + (1 if i < total % BLOCKS else 0) - 1 for i in range(BLOCKS))


APPROXIMATE_FROM = 2 * BLOCKS  # below this radius a bit short misses too much (rp = 1: 3 pairs in 4) to pay


def searched_radii(radius: int, exact: bool = True) -> tuple[int, ...]:
    """The block radii a join searches: the pigeonhole's, or with ``exact=False`` those of one bit less."""
    return block_radii(radius if exact or radius < APPROXIMATE_FROM else radius - 1)


def missed_at_radius(radius: int) -> float:
    """Share of pairs at exactly ``radius`` bits that ``exact=False`` misses, if the bits fall at random."""
    from math import comb
    radii = searched_radii(radius, exact=False)

    def ways(block: int, left: int) -> int:  # placements of ``left`` bits in blocks >= block, each above its radius
        if block == BLOCKS:
            return 1 if left == 0 else 0
        return sum(comb(BLOCK_BITS, k) * ways(block + 1, left - k)
                   for k in range(radii[block] + 1, min(BLOCK_BITS, left) + 1))
    return ways(0, radius) / comb(BLOCKS * BLOCK_BITS, radius)


def approximate_cost(radius: int) -> float:
    """Buckets probed per block key with ``exact=False``, as a share of the exact join's."""
    def probed(radii):
        return sum(len(ball(r)) for r in radii)
    return probed(searched_radii(radius, exact=False)) / probed(block_radii(radius))


@functools.lru_cache(maxsize=None)
def ball(radius: int) -> np.ndarray:
    """XOR masks of 16-bit keys within ``radius`` bits, lightest first."""
    if radius < 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.arange(KEYS, dtype=np.uint64)
    weight = np.bitwise_count(keys)
    return keys[weight <= radius][np.argsort(weight[weight <= radius], kind="stable")].astype(np.int64)


@intrinsic
def popcount(typingctx, x):
    """LLVM's ctpop: one POPCNT instruction where the CPU has it."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


@njit(cache=True)
def _found_earlier(diff, block, radii):
    for earlier in range(block):
        if radii[earlier] >= 0 and np.int64(popcount((diff >> np.uint64(BLOCK_BITS * earlier))
                                                      & np.uint64(KEYS - 1))) <= radii[earlier]:
            return True
    return False


GATHER = 1 << 15  # table rows gathered per query bucket before they are compared (256 KB of pHash: L2)
GATHER_MIN = 8  # query buckets smaller than this compare in place: a copy would cost more than it saves
LOCATE = 64  # codes a segment with a pair is counted by again, to look only where the pairs are
SEGMENT = 1024  # codes compared per pass over one query (16 KB of pHash and dHash: stays in L1 across a bucket)


@njit(cache=True)
def _compare(block, radii, lo_q, hi_q, q_p, q_d, q_id, g_p, g_d, g_row, row0, length, t_id, rp, rd, self_join,
             out_a, out_b, slot, n, capacity):
    """Every query of q rows [lo_q, hi_q) against ``length`` table codes ``g_p``; returns the new count.

    ``g_p``/``g_d`` are a gathered run (table rows ``g_row``) or, with
    ``g_row`` empty, the table's own rows from ``row0`` on.

    The first pass over a segment counts the codes within both radii (pHash
    and dHash together): a branch-free loop LLVM turns into AVX-512 VPOPCNTQ
    (8 codes an instruction) where the CPU has it. Only a segment with a
    pair is looked at again, row by row. (Counting pHash alone costs half as
    much, but one candidate in ~1,500 passes it, so a segment of 256 codes
    would be rescanned, slowly, about a tenth of the time.)
    """
    for s0 in range(0, length, SEGMENT):
        s1 = min(s0 + SEGMENT, length)
        segment, segment_d = g_p[s0:s1], g_d[s0:s1]
        for qi in range(lo_q, hi_q):
            pq, dq = q_p[qi], q_d[qi]
            if _near(pq, dq, segment, segment_d, rp, rd) == 0:
                continue  # the usual case
            iq = q_id[qi]
            for b0 in range(s0, s1, LOCATE):  # which stretches hold the pairs: counted again, then looked at
                b1 = min(b0 + LOCATE, s1)
                if _near(pq, dq, g_p[b0:b1], g_d[b0:b1], rp, rd):
                    n = _take(block, radii, pq, dq, iq, b0, b1, g_p, g_d, g_row, row0, t_id, rp, rd, self_join,
                              out_a, out_b, slot, n, capacity)
    return n


@njit(cache=True)
def _near(pq, dq, p, d, rp, rd):
    """How many of codes ``p``/``d`` are within both radii of (pq, dq): the branch-free count."""
    hits = np.uint64(0)
    # an unsigned index skips numba's negative-index wraparound, which turns the loads into
    # gathers (4x slower); all uint64: mixed signs would go through float
    for x in range(len(p)):
        hits += np.uint64(popcount(pq ^ p[np.uint64(x)]) <= rp) & np.uint64(popcount(dq ^ d[np.uint64(x)]) <= rd)
    return hits


@njit(cache=True)
def _take(block, radii, pq, dq, iq, b0, b1, g_p, g_d, g_row, row0, t_id, rp, rd, self_join, out_a, out_b, slot, n,
          capacity):
    """The pairs of one query among codes [b0, b1) of a run: written to ``out`` (up to capacity), counted."""
    for x in range(b0, b1):
        diff = pq ^ g_p[x]
        if popcount(diff) > rp or popcount(dq ^ g_d[x]) > rd:
            continue
        ti = g_row[x] if len(g_row) else row0 + x
        it = t_id[ti]
        if (not self_join) and it == iq:
            continue
        if _found_earlier(diff, block, radii):
            continue
        if n < capacity:
            out_a[slot, n] = iq
            out_b[slot, n] = it
        n += 1
    return n


@njit(cache=True)
def _within_bucket(block, radii, lo, hi, t_p, t_d, t_id, rp, rd, out_a, out_b, slot, n, capacity):
    """The self join's pairs i < j inside one bucket (its own ball centre)."""
    for qi in range(lo, hi):
        pq, dq, iq = t_p[qi], t_d[qi], t_id[qi]
        for ti in range(qi + 1, hi):
            diff = pq ^ t_p[ti]
            if popcount(diff) > rp or popcount(dq ^ t_d[ti]) > rd:
                continue
            if _found_earlier(diff, block, radii):
                continue
            if n < capacity:
                out_a[slot, n] = iq
                out_b[slot, n] = t_id[ti]
            n += 1
    return n


@njit(parallel=True, cache=True)
def _join_block(block, radii, masks, q_offs, q_p, q_d, q_id, t_offs, t_p, t_d, t_id, rp, rd, self_join,
                chunks, capacity):
    """Pairs (query id, table id) within rp / rd found through ``block``.

    For each query bucket k, the table buckets k ^ m of every ball mask m are
    copied into one contiguous run (at most GATHER rows at a time), and each
    query of the bucket is compared with the whole run: long, padded-free
    loops instead of one short loop per bucket pair, whose scalar remainders
    cost more than the vector part when buckets hold a few dozen codes.
    Self join (query set = table): bucket pairs with k < k ^ m, and i < j
    inside one bucket. Otherwise each query meets every table code once.
    """
    out_a = np.empty((len(chunks), capacity), np.int64)
    out_b = np.empty((len(chunks), capacity), np.int64)
    counts = np.zeros(len(chunks), np.int64)
    for slot in prange(len(chunks)):
        chunk = chunks[slot]
        g_p = np.empty(GATHER, np.uint64)
        g_d = np.empty(GATHER, np.uint64)
        g_row = np.empty(GATHER, np.int64)
        no_rows = np.empty(0, np.int64)
        n = 0
        for k in range(chunk * CHUNK_KEYS, (chunk + 1) * CHUNK_KEYS):
            qs, qe = q_offs[k], q_offs[k + 1]
            if qs == qe:
                continue
            length = 0
            gather = qe - qs >= GATHER_MIN
            for mask in masks:
                other = k ^ mask
                if self_join and other <= k:
                    if other == k:
                        n = _within_bucket(block, radii, qs, qe, t_p, t_d, t_id, rp, rd, out_a, out_b, slot, n,
                                           capacity)
                    continue
                ts, te = t_offs[other], t_offs[other + 1]
                if not gather:  # a few queries: compared where the table bucket lies, no copy
                    if ts < te:
                        n = _compare(block, radii, qs, qe, q_p, q_d, q_id, t_p[ts:te], t_d[ts:te], no_rows, ts,
                                     te - ts, t_id, rp, rd, self_join, out_a, out_b, slot, n, capacity)
                    continue
                while ts < te:
                    take = min(te - ts, GATHER - length)
                    for x in range(take):
                        g_p[length + x] = t_p[ts + x]
                        g_d[length + x] = t_d[ts + x]
                        g_row[length + x] = ts + x
                    length += take
                    ts += take
                    if length == GATHER:
                        n = _compare(block, radii, qs, qe, q_p, q_d, q_id, g_p, g_d, g_row, 0, length, t_id, rp, rd,
                                     self_join, out_a, out_b, slot, n, capacity)
                        length = 0
            if length:
                n = _compare(block, radii, qs, qe, q_p, q_d, q_id, g_p, g_d, g_row, 0, length, t_id, rp, rd,
                             self_join, out_a, out_b, slot, n, capacity)
        counts[slot] = n
    return out_a, out_b, counts


@njit(parallel=True, cache=True)
def _tables(p, d, ids):
    """Per block: CSR offsets of the 16-bit keys, and pHash, dHash and ids sorted by key (stable).

    A counting sort per block, the blocks on all cores: numpy's radix argsort
    and three gathers a block took 4 s at 2M media, on one core.
    """
    n = len(p)
    offs = np.zeros((BLOCKS, KEYS + 1), np.int64)
    p_sorted, d_sorted = np.empty((BLOCKS, n), np.uint64), np.empty((BLOCKS, n), np.uint64)
    ids_sorted = np.empty((BLOCKS, n), np.int64)
    for block in prange(BLOCKS):
        shift, low = np.uint64(BLOCK_BITS * block), np.uint64(KEYS - 1)
        for x in range(n):
            offs[block, ((p[x] >> shift) & low) + 1] += 1
        for k in range(KEYS):
            offs[block, k + 1] += offs[block, k]
        at = offs[block, :KEYS].copy()
        for x in range(n):
            k = (p[x] >> shift) & low
            y = at[k]
            p_sorted[block, y], d_sorted[block, y], ids_sorted[block, y] = p[x], d[x], ids[x]
            at[k] = y + 1
    return offs, p_sorted, d_sorted, ids_sorted


class BlockIndex:
    """Codes sorted by each 16-bit block: a bucket (CSR offsets) per block key."""

    def __init__(self, p: np.ndarray, d: np.ndarray, ids: np.ndarray | None = None):
        self.ids = np.arange(len(p), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        # the codes in their own order are not kept: the join reads the sorted copies (16 bytes a code less, 190 MB
        # at 2M media)
        offs, p_sorted, d_sorted, ids_sorted = _tables(np.ascontiguousarray(p, dtype=np.uint64),
                                                       np.ascontiguousarray(d, dtype=np.uint64), self.ids)
        self.tables = [(offs[block], p_sorted[block], d_sorted[block], ids_sorted[block]) for block in range(BLOCKS)]

    def __len__(self) -> int:
        return len(self.ids)


WALK_LARGE_FROM = GATHER_MIN * KEYS  # codes from which the larger side's buckets are walked (see join)
RERUN_ROOM = 1 << 24  # pair slots (x 16 bytes) one rerun of overflowing chunks may hold


def _reruns(chunks: np.ndarray, counts: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Dense chunks (big families, logo frames) that ran out of room, grouped to run again with room for all.

    Every chunk of a run gets the room of the run's largest, so chunks of
    similar counts go together, as many as fit in RERUN_ROOM slots (one at a
    time past that): a single run sized by the densest chunk for all of them
    took 18 GB at 2M media.
    """
    order = np.argsort(-counts, kind="stable")
    runs, start = [], 0
    while start < len(order):
        room = int(counts[order[start]])
        size = max(1, min(len(order) - start, RERUN_ROOM // max(room, 1)))
        runs.append((chunks[order[start:start + size]], room))
        start += size
    return runs


def join(queries: BlockIndex, table: BlockIndex, rp: int, rd: int,
         shard: tuple[int, int] = (0, 1), exact: bool = True, disjoint: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Id pairs (a, b) with Hamming(p) <= rp and Hamming(d) <= rd, each unordered pair once.

    ``exact=False``: the blocks are searched one bit short (see the module's
    docstring): all pairs within rp - 1, most at rp, none beyond.

    ``queries is table`` is the self join (all pairs of one set, a < b);
    otherwise every query meets every table code (the incremental case:
    new codes against all codes, new ones included; or two disjoint sets).
    ``shard=(k, n)``: only the work items (block, chunk of bucket keys) whose
    running number is k modulo n; the n shards are disjoint and together
    give the unsharded result, each at about 1/n of the cost. ``disjoint``:
    the caller knows no id is on both sides (centre rows against whole
    rows), so the pairs need not be searched for ones met from both sides.
    """
    part, parts = shard
    if not 0 <= part < parts:
        raise ValueError(f"shard {part} of {parts}: want 0 <= shard < parts")
    self_join = queries is table
    # Which side's buckets are walked (outer) and which side's balls gathered (inner): when the larger
    # side's buckets hold GATHER_MIN codes or more, it goes outside and the smaller side is gathered (an
    # incremental update's few new codes: each visit copies a code or two, and the comparisons run over
    # long gathered runs); below that, the smaller side goes outside, as only its non-empty buckets are visited.
    small, large = (queries, table) if len(queries) <= len(table) else (table, queries)
    outer, inner = (large, small) if len(large) >= WALK_LARGE_FROM else (small, large)
    if self_join:
        outer = inner = queries
    radii = np.array(searched_radii(rp, exact), dtype=np.int64)
    found_a, found_b = [], []
    chunks_per_block = KEYS // CHUNK_KEYS
    for block in range(BLOCKS):
        if radii[block] < 0:
            continue
        masks = ball(int(radii[block]))
        item = block * chunks_per_block + np.arange(chunks_per_block, dtype=np.int64)
        chunks = np.nonzero(item % parts == part)[0].astype(np.int64)
        runs = [(chunks, max(1024, 4 * (len(outer) * CHUNK_KEYS // KEYS + 1)))]  # 4x a chunk's share of codes
        while runs:
            chunks, capacity = runs.pop()
            a, b, counts = _join_block(block, radii, masks, *outer.tables[block], *inner.tables[block],
                                       np.uint64(rp), np.uint64(rd), self_join, chunks, capacity)
            if outer is not queries:
                a, b = b, a
            overflow = counts > capacity
            for slot in np.nonzero((counts > 0) & ~overflow)[0]:  # copies: a view would keep all slots alive
                found_a.append(a[slot, :counts[slot]].copy())
                found_b.append(b[slot, :counts[slot]].copy())
            del a, b
            runs += _reruns(chunks[overflow], counts[overflow])
    if not found_a:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    if not self_join and not disjoint:  # a pair of two codes on both sides is met from both sides
        both = np.isin(b, queries.ids)
        if both.any():
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
