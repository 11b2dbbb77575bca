"""Time of `hashtrail graph --window` and `groups` at archive scale.

Generates ``--posts`` clustered posts (default 10,000,000) by ``--accounts``
accounts over four years: near-duplicate families of heavy-tailed sizes (2 to
20,000 posts, a few viral pictures posted all the time), 5% of the families
posted in bursts by a ring of 5-30 accounts within seconds to minutes (the
coordination to find), the rest spread at random. Times the windowed network
(pairing, weights, co-posts) at 10 s, 60 s and 10 min, the evidence for JSON
output, and the groups, against brute force on a sample of clusters. With
``--db FILE`` (e.g. the database ``benchmarks/web.py --keep`` builds) it
also times reading the clustered posts out of SQLite, as the command does.

Run: python benchmarks/coordination.py [--posts 10000000] [--db FILE]
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from hashtrail.pipeline.coordination import Posts, co_post_pairs, co_sharing_edges, coordinated_groups

TARGET_S = 60.0


def generate(n: int, accounts: int, rng: np.random.Generator) -> Posts:
    sizes = np.minimum(20_000, np.maximum(2, (rng.pareto(1.2, n // 2) + 1) * 2).astype(np.int64))
    sizes = sizes[np.cumsum(sizes) <= n]
    cluster = np.repeat(np.arange(len(sizes), dtype=np.int64) * 7 + 1, sizes)
    span = 4 * 365 * 86400
    time_s = rng.integers(0, span, len(cluster)).astype(np.float64)
    account = rng.integers(0, accounts, len(cluster)).astype(np.int64)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rings = rng.random(len(sizes)) < 0.05
    for k in np.flatnonzero(rings):
        s, m = starts[k], sizes[k]
        ring = rng.integers(0, accounts, rng.integers(5, 31))
        account[s:s + m] = rng.choice(ring, m)
        time_s[s:s + m] = rng.integers(0, span) + np.cumsum(rng.exponential(rng.choice([5.0, 30.0, 120.0]), m))
    time_s += 1_420_070_400
    return Posts(cluster, account, time_s, [None] * len(cluster), np.arange(len(cluster)),
                 [f"{a:064x}" for a in range(accounts)])


def brute(posts: Posts, clusters: np.ndarray, window: float) -> set:
    out = set()
    for c in clusters.tolist():
        rows = np.flatnonzero(posts.cluster == c)
        t, a = posts.time_s[rows], posts.account[rows]
        for x in range(len(rows)):
            close = np.flatnonzero((np.abs(t - t[x]) <= window) & (a != a[x]))
            out.update((c, min(a[x], a[y]), max(a[x], a[y])) for y in close.tolist())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--db", help="also time reading the clustered posts of this database")
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    started = time.perf_counter()
    posts = generate(args.posts, args.accounts, rng)
    print(f"{len(posts.cluster):,} posts in {len(np.unique(posts.cluster)):,} clusters by {args.accounts:,} accounts "
          f"(generated in {time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n| window | pairs within it | edges | time (s) | target <= {TARGET_S:.0f} s |\n|---|---|---|---|---|")
    for window in (10.0, 60.0, 600.0):
        started = time.perf_counter()
        edges = co_sharing_edges(posts, window)
        seconds = time.perf_counter() - started
        co = sum(e.co_posts for e in edges)
        print(f"| {window:g} s | {co:,} | {len(edges):,} | {seconds:.1f} | "
              f"{'PASS' if seconds <= TARGET_S else 'FAIL'} |", flush=True)
    started = time.perf_counter()
    edges = co_sharing_edges(posts, 60.0, evidence=True)
    evidence_s = time.perf_counter() - started
    started = time.perf_counter()
    groups = coordinated_groups(co_sharing_edges(posts, 60.0, min_weight=2))
    groups_s = time.perf_counter() - started
    print(f"\n60 s with evidence (JSON lines): {evidence_s:.1f} s; groups at --min-weight 2: {groups_s:.1f} s, "
          f"{len(groups):,} groups, largest {max((g['size'] for g in groups), default=0)} accounts")
    sample = rng.choice(np.unique(posts.cluster), 200, replace=False)
    i, j = co_post_pairs(posts, 60.0)
    keep = np.isin(posts.cluster[i], sample)
    found = {(int(posts.cluster[x]), int(min(posts.account[x], posts.account[y])),
              int(max(posts.account[x], posts.account[y]))) for x, y in zip(i[keep].tolist(), j[keep].tolist())}
    print(f"pairs equal to brute force on 200 sampled clusters: {found == brute(posts, sample, 60.0)}")
    if args.db:
        from hashtrail.pipeline.store import Store

        store = Store(args.db, read_only=True)
        started = time.perf_counter()
        rows = store.clustered_posts()
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        from_db = Posts.from_rows(rows)
        parse_s = time.perf_counter() - started
        started = time.perf_counter()
        co_sharing_edges(from_db, 60.0)
        print(f"{args.db}: {len(rows):,} clustered posts read in {read_s:.1f} s, parsed in {parse_s:.1f} s, "
              f"network at 60 s in {time.perf_counter() - started:.1f} s")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
