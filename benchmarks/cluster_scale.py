"""Clustering at archive scale: full clustering, an incremental 1% more, against FAISS's exhaustive search.

What it does, in one run:

1. generates N fingerprint rows shaped like an archive's: mostly distinct
   hashes (uniform random 64-bit pHash and dHash, 256-bit pHash); families
   of near-duplicates, sizes 2 to 500 (a power law: P(size >= s) =
   (s/2)^-1.5, mean 5.6), 14% of the rows, each member its base
   with 0-8 flipped bits in pHash and in dHash and 0-32 in the 256-bit
   pHash; a few heavily repeated values (a logo, a title card) of a few
   thousand copies each. One row per media, as a still with one variant;
2. full clustering: ``cluster.cluster_with_details`` (the exact multi-index
   join of pipeline/index/multi_index.py, the 256-bit confirmation, connected
   components, ids and distances), timed;
3. incremental: 1% more rows of the same shape (new families and new
   members of old ones) added with ``incremental.add_to_clusters``, timed,
   and checked equal to a full clustering of everything;
4. exactness: the join's pairs for a sample of rows equal brute force
   (numpy popcount over all N rows) for those rows;
5. baseline: FAISS ``IndexBinaryFlat`` range search (radius 16 on the
   64-bit pHash, the candidate search alone), timed on a sample of queries
   and extrapolated to N queries.

Targets (issue 6), at N = 2,000,000 on a 2-core machine: full clustering
<= 120 s, incremental 1% <= 5 s, peak memory <= 4 GB, >= 10x faster than
FAISS flat. The last line is
``n=... cluster_s=... incremental_s=... peak_rss_mb=... faiss_flat_s=... pairs_equal=True``.
A measurement, not a test: it always exits 0.

    python benchmarks/cluster_scale.py --n 200000     # about a minute
    python benchmarks/cluster_scale.py --n 2000000    # the target size

``--media N`` (issue 15) instead generates N media as a real scan stores
them (benchmarks/archive_mix.py: ~5 rows a media, correlated variants,
videos, copies, families, logo frames), and reports rows, the full
clustering (wall and CPU seconds, peak resident memory sampled during it),
an incremental 1% more media (a third of them new members and reposts of old
ones), the incremental result against a second full clustering
(``--skip-rebuild`` leaves that out), and ``matching_rows`` on all rows
against brute force under the whole rule on ``--sample`` rows (0: skip).
Targets: ``--media 2000000`` full <= 120 s, incremental <= 5 s, <= 6 GB;
``--media 10000000`` finishes (<= 30 min, <= 20 GB). The last line is
``media=... rows=... cluster_s=... incremental_s=... peak_rss_mb=... pairs_equal=...``.

    python benchmarks/cluster_scale.py --media 2000000
    python benchmarks/cluster_scale.py --media 10000000 --skip-rebuild --sample 0
"""
from __future__ import annotations

import argparse
import resource
import threading
import time

import numpy as np

from hashtrail import config
from hashtrail.pipeline.index import multi_index
from hashtrail.pipeline.index.cluster import (
    PRIMARY,
    PROBE,
    Fingerprints,
    Thresholds,
    admitted,
    cluster_with_details,
    matching_rows,
)
from hashtrail.pipeline.index.incremental import add_to_clusters
from join_clock import JoinClock  # benchmarks/ is the script's folder, first on sys.path


def flips(rng, codes: np.ndarray, most: int, bits: int = 64) -> np.ndarray:
    """Each code with 0..most random bits flipped (per 64-bit word for wider codes)."""
    out = codes.copy()
    for k in range(most):
        flip = rng.random(len(codes)) < (most / 2) / most  # on average most/2 flips
        out[flip] ^= np.uint64(1) << rng.integers(0, 64, int(flip.sum())).astype(np.uint64)
    return out


def archive(n: int, rng, first_media: int = 0, bases: np.ndarray | None = None) -> Fingerprints:
    """n rows: ~85% distinct, ~14% in families (reusing ``bases`` rows when given), ~1% repeated."""
    p = rng.integers(0, 2**64, n, dtype=np.uint64)
    d = rng.integers(0, 2**64, n, dtype=np.uint64)
    q = rng.integers(0, 2**64, (n, 4), dtype=np.uint64)
    # families: sizes 2..500, power law; members overwrite random rows
    budget, start = int(0.14 * n), 0
    order = rng.permutation(n)
    while budget > 1:
        # P(size >= s) = (s / 2) ** -1.5: most families are small, a few reach 500
        size = min(budget, int(np.clip(2 * rng.random() ** (-1 / 1.5), 2, 500)))
        rows = order[start:start + size]
        if bases is not None and rng.random() < 0.5:  # grow a family of the earlier set
            base = int(rng.integers(0, len(bases.phash)))
            bp, bd, bq = bases.phash[base], bases.dhash[base], bases.phash256[base]
        else:
            bp, bd, bq = p[rows[0]], d[rows[0]], q[rows[0]]
        p[rows] = flips(rng, np.full(size, bp), 8)
        d[rows] = flips(rng, np.full(size, bd), 8)
        q[rows] = np.column_stack([flips(rng, np.full(size, bq[w]), 8) for w in range(4)])
        start, budget = start + size, budget - size
    # heavily repeated values: a few, thousands of copies (blank-ish frames, logos)
    repeats = order[start:start + max(2, n // 100)]
    for k, rows in enumerate(np.array_split(repeats, 4)):
        p[rows], d[rows], q[rows] = p[rows[0]], d[rows[0]], q[rows[0]]
    media = np.arange(first_media, first_media + n, dtype=np.int64)
    return Fingerprints(media, p, d, q, np.zeros(n, dtype=bool))


def concat(a: Fingerprints, b: Fingerprints) -> Fingerprints:
    return Fingerprints(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                          ("media_id", "phash", "dhash", "phash256", "secondary")))


def brute_pairs(fp: Fingerprints, rows: np.ndarray, t: Thresholds) -> set[tuple[int, int]]:
    """All pairs (i < j) within pHash and dHash radii that involve a sample row, by brute force."""
    out = set()
    for r in rows.tolist():
        near = np.nonzero((np.bitwise_count(fp.phash ^ fp.phash[r]) <= t.phash)
                          & (np.bitwise_count(fp.dhash ^ fp.dhash[r]) <= t.dhash))[0]
        out |= {(min(r, int(j)), max(r, int(j))) for j in near if j != r}
    return out


def faiss_flat_seconds(p: np.ndarray, radius: int, queries: int, rng) -> float | None:
    try:
        import faiss
    except ImportError:
        return None
    codes = p.astype(">u8").view(np.uint8).reshape(-1, 8)
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    sample = codes[rng.choice(len(codes), queries, replace=False)]
    started = time.perf_counter()
    index.range_search(sample, radius + 1)  # faiss returns distances < radius
    return (time.perf_counter() - started) * len(codes) / queries


def store_rows(store, fp: Fingerprints) -> None:
    """Write rows as ok media with one fingerprint each, straight through SQL (fast)."""
    hexes = lambda a: [f"{int(x):016x}" for x in a]  # noqa: E731
    q = ["".join(f"{int(w):016x}" for w in row) for row in fp.phash256]
    with store._writing():
        store.db.conn.executemany(
            "INSERT INTO media (id, path, root, status, kind, hasher) VALUES (?, ?, '/', 'ok', 'image', 'bench')",
            [(int(m) + 1, f"/bench/{int(m)}") for m in fp.media_id])
        store.db.conn.executemany(
            "INSERT INTO fingerprints (media_id, variant, phash, dhash, phash256) VALUES (?, 'full', ?, ?, ?)",
            list(zip((int(m) + 1 for m in fp.media_id), hexes(fp.phash), hexes(fp.dhash), q)))


def through_the_store(fp: Fingerprints, more: Fingerprints) -> None:
    """The same two steps as a scan runs them: fingerprints read from SQLite, clusters written back."""
    import tempfile

    from hashtrail.pipeline.scan import update_clusters
    from hashtrail.pipeline.store import Store

    with tempfile.TemporaryDirectory() as folder:
        settings = config.load().replace(db=f"{folder}/scale.db")
        store = Store(settings.db)
        store_rows(store, fp)
        full = update_clusters(store, settings)
        store_rows(store, more)
        added = update_clusters(store, settings)
        print(f"through SQLite: full {full.seconds:.1f} s (rebuilt={full.rebuilt}), "
              f"incremental +{added.new_rows:,} rows {added.seconds:.2f} s (rebuilt={added.rebuilt})", flush=True)


class PeakMemory:
    """The process's largest resident set while the block runs (sampled every 20 ms from /proc)."""

    def __enter__(self):
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def evenly_split(diff: np.ndarray, radius: int) -> np.ndarray:
    """Codes ``radius`` bits apart whose every block differs by more than the one-bit-short join searches."""
    radii = multi_index.searched_radii(radius, exact=False)
    out = np.bitwise_count(diff) == radius
    for block, r in enumerate(radii):
        part = (diff >> np.uint64(multi_index.BLOCK_BITS * block)) & np.uint64(multi_index.KEYS - 1)
        out &= np.bitwise_count(part) > r
    return out


def brute_rule_pairs(fp: Fingerprints, rows: np.ndarray, t: Thresholds) -> set[tuple[int, int]]:
    """Row pairs the whole rule admits that involve a sample row, by comparing it with every row.

    The roles as cluster.matching_rows states them: base rows (not probes)
    with each other unless both are centre crops, probes with primary rows at
    the hard radii; the 256-bit and hard-edit rule is ``admitted``'s. Without
    ``t.exact_join``, the plain pairs at exactly the radius whose bits split
    evenly over the blocks are left out, as the one-bit-short join's
    definition says (so ``pairs_equal`` checks that definition, not recall:
    benchmarks/join_recall.py measures what it misses).
    """
    codes = fp.codes()
    base, used_probe, primary = ~PROBE[codes], PROBE[codes] & t.probes()[codes], PRIMARY[codes]
    out_i, out_j = [], []
    for r in rows.tolist():
        dp, dd = np.bitwise_count(fp.phash ^ fp.phash[r]), np.bitwise_count(fp.dhash ^ fp.dhash[r])
        near = np.zeros(len(dp), dtype=bool)
        if base[r]:
            plain = base & ~(fp.secondary & fp.secondary[r]) & (dp <= t.phash) & (dd <= t.dhash)
            if not t.exact_join:  # one bit short (multi_index.join): not the pairs at the radius split evenly
                plain &= ~evenly_split(fp.phash ^ fp.phash[r], t.phash)
            near |= plain
        hard = (dp <= t.hard_phash) & (dd <= t.hard_dhash)
        if primary[r]:
            near |= used_probe & hard
        if used_probe[r]:
            near |= primary & hard
        near[r] = False
        j = np.nonzero(near)[0]
        out_i.append(np.full(len(j), r))
        out_j.append(j)
    i, j = admitted(fp, np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64), t)
    return set(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist()))


def media_run(args) -> None:
    """``--media N``: N media as a real scan stores them (archive_mix.py): full, incremental 1%, exactness."""
    import archive_mix

    rng = np.random.default_rng(args.seed)
    t = Thresholds.from_settings(config.load())
    warm = archive_mix.archive(3000, np.random.default_rng(0))
    cluster_with_details(warm.fp, warm.sha, t)  # compile the kernels (cached on disk after)
    started = time.perf_counter()
    made = archive_mix.archive(args.media, rng)
    more = archive_mix.archive(max(1, args.media // 100), rng, first_media=made.media, grow=made)  # the next 1%
    rows = len(made.fp.media_id)
    everything = archive_mix.concat(made.fp, more.fp)
    made.fp = more.fp = None  # the full clustering's rows are a view of everything's: one copy in memory
    fp = Fingerprints(*(None if col is None else col[:rows] for col in (
        everything.media_id, everything.phash, everything.dhash, everything.phash256, everything.secondary,
        everything.time_s, everything.variant, everything.aspect)))
    print(f"{args.media:,} media: {rows:,} fingerprint rows ({rows / args.media:.2f} a media; "
          f"{int(fp.secondary.sum()):,} centre crops, {int(PROBE[fp.codes()].sum()):,} probes, "
          f"{int((~np.isnan(fp.times())).sum()):,} video frame rows), made in {time.perf_counter() - started:.0f} s",
          flush=True)
    with PeakMemory() as memory:
        started, cpu = time.perf_counter(), time.process_time()
        assignments, _ = cluster_with_details(fp, made.sha, t)
        cluster_s, cluster_cpu = time.perf_counter() - started, time.process_time() - cpu
    clusters = {a.media_id: a.cluster_id for a in assignments}
    print(f"full clustering: {cluster_s:.1f} s ({cluster_cpu:.0f} CPU s), {len(set(clusters.values())):,} clusters, "
          f"{len(clusters):,} media in them, peak RSS {memory.peak:,.0f} MB", flush=True)

    members: dict[int, list[int]] = {}
    for m, c in clusters.items():
        members.setdefault(c, []).append(m)
    new_media = set(range(made.media, made.media + more.media))
    new_sha = {more.sha[m] for m in new_media}
    sha_of_new = {m: s for m, s in {**made.sha, **more.sha}.items() if s in new_sha}  # the store's sha_of_new
    new_rows = np.arange(rows, len(everything.media_id))
    with PeakMemory() as incremental_memory, JoinClock() as join_clock:
        started, cpu = time.perf_counter(), time.process_time()
        update = add_to_clusters(everything, new_rows, clusters, members, sha_of_new, new_media, t)
        incremental_s, incremental_cpu = time.perf_counter() - started, time.process_time() - cpu
    after = {**clusters, **{a.media_id: a.cluster_id for a in update.assignments}}
    print(f"incremental +{more.media:,} media ({len(new_rows):,} rows): {incremental_s:.2f} s "
          f"({incremental_cpu:.1f} CPU s; "
          f"the join of new rows with all rows {join_clock.wall:.2f} s, {join_clock.cpu:.1f} CPU s; the rest "
          f"{incremental_s - join_clock.wall:.2f} s, {incremental_cpu - join_clock.cpu:.1f} CPU s), "
          f"{update.changed_clusters:,} clusters created, grown or merged", flush=True)
    equal = None
    if not args.skip_rebuild:
        rebuilt = {a.media_id: a.cluster_id for a in cluster_with_details(everything, {**made.sha, **more.sha}, t)[0]}
        equal = after == rebuilt
        print(f"incremental equals a full clustering of everything: {equal}", flush=True)
    pairs_equal = None
    if args.sample:
        started = time.perf_counter()
        i, j = matching_rows(fp, t)
        join_s = time.perf_counter() - started
        sample = rng.choice(rows, min(args.sample, rows), replace=False)
        in_sample = np.isin(i, sample) | np.isin(j, sample)
        found = set(zip(np.minimum(i, j)[in_sample].tolist(), np.maximum(i, j)[in_sample].tolist()))
        pairs_equal = found == brute_rule_pairs(fp, sample, t) and len(found) == int(in_sample.sum())
        print(f"matching_rows alone on all {rows:,} rows: {join_s:.1f} s, {len(i):,} row pairs; equal to brute force "
              f"on {len(sample)} sampled rows: {pairs_equal}", flush=True)
    print(f"media={args.media} rows={rows} cluster_s={cluster_s:.1f} incremental_s={incremental_s:.2f} "
          f"incremental_cpu_s={incremental_cpu:.1f} "
          f"peak_rss_mb={max(memory.peak, incremental_memory.peak):.0f} incremental_equal={equal} "
          f"pairs_equal={pairs_equal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="fingerprint rows (one per media)")
    parser.add_argument("--media", type=int, help="media as a real scan stores them (archive_mix.py); replaces --n")
    parser.add_argument("--skip-rebuild", action="store_true",
                        help="with --media: do not check the incremental result against a second full clustering")
    parser.add_argument("--sample", type=int, default=300, help="rows checked against brute force")
    parser.add_argument("--faiss-queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", action="store_true",
                        help="also run both steps through SQLite, as scans do (reading fingerprints included)")
    args = parser.parse_args()
    if args.media:
        return media_run(args)
    rng = np.random.default_rng(args.seed)
    t = Thresholds.from_settings(config.load())
    fp = archive(args.n, rng)
    multi_index.pairs_within(fp.phash[:2000], t.phash, fp.dhash[:2000], t.dhash)  # compile (cached on disk after)

    started = time.perf_counter()
    assignments, _ = cluster_with_details(fp, {}, t)
    cluster_s = time.perf_counter() - started
    clusters = {a.media_id: a.cluster_id for a in assignments}
    print(f"full clustering of {args.n:,} rows: {cluster_s:.1f} s, {len(set(clusters.values())):,} clusters, "
          f"{len(clusters):,} media in them", flush=True)

    more = archive(max(1, args.n // 100), rng, first_media=args.n, bases=fp)
    everything = concat(fp, more)
    members: dict[int, list[int]] = {}
    for m, c in clusters.items():
        members.setdefault(c, []).append(m)
    new_rows = np.arange(args.n, len(everything.media_id))
    started = time.perf_counter()
    update = add_to_clusters(everything, new_rows, clusters, members, {}, set(more.media_id.tolist()), t)
    incremental_s = time.perf_counter() - started
    after = {**clusters, **{a.media_id: a.cluster_id for a in update.assignments}}
    print(f"incremental +{len(new_rows):,} rows: {incremental_s:.2f} s, {update.changed_clusters:,} clusters "
          f"created, grown or merged", flush=True)
    rebuilt = {a.media_id: a.cluster_id for a in cluster_with_details(everything, {}, t)[0]}
    if args.store:
        through_the_store(fp, more)
    print(f"incremental equals a full clustering of everything: {after == rebuilt}", flush=True)

    # the join as clustering runs it: on distinct (pHash, dHash) rows (copies are chained, not paired)
    _, distinct = np.unique(np.column_stack([fp.phash, fp.dhash]), axis=0, return_index=True)
    p, d = fp.phash[distinct], fp.dhash[distinct]
    started = time.perf_counter()
    i, j = multi_index.pairs_within(p, t.phash, d, t.dhash)
    join_s = time.perf_counter() - started
    sample = rng.choice(len(p), min(args.sample, len(p)), replace=False)
    in_sample = np.isin(i, sample) | np.isin(j, sample)
    distinct_fp = Fingerprints(np.arange(len(p)), p, d, fp.phash256[distinct], fp.secondary[distinct])
    pairs_equal = set(zip(i[in_sample].tolist(), j[in_sample].tolist())) == brute_pairs(distinct_fp, sample, t)
    print(f"join alone on {len(p):,} distinct rows: {join_s:.1f} s, {len(i):,} pairs within pHash<={t.phash} "
          f"and dHash<={t.dhash}; equal to brute force on {len(sample)} sampled rows: {pairs_equal}", flush=True)

    faiss_s = faiss_flat_seconds(fp.phash, t.phash, min(args.faiss_queries, args.n), rng)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if faiss_s is None:
        print("faiss-cpu not installed (pip install -e '.[bench]'): no baseline")
    else:
        print(f"FAISS IndexBinaryFlat range search, extrapolated to {args.n:,} queries: {faiss_s:.0f} s "
              f"(the candidate search alone); hashtrail's full clustering is {faiss_s / cluster_s:.1f}x faster")
    print(f"n={args.n} cluster_s={cluster_s:.1f} incremental_s={incremental_s:.2f} peak_rss_mb={peak:.0f} "
          f"faiss_flat_s={faiss_s if faiss_s is None else round(faiss_s)} "
          f"pairs_equal={pairs_equal and after == rebuilt}")


if __name__ == "__main__":
    main()
