"""The distributed join (``cluster --distributed``) against the local one, and a model of N hosts.

What it does, in one run:

1. generates ``--rows`` fingerprint rows shaped like a scan's stills: about
   2.7 rows a media (the full picture; its centre crop, a few bits from the
   full one; a trimmed variant for 70% of them), the full rows drawn as
   benchmarks/cluster_scale.py draws them (families of near-duplicates with
   heavy-tailed sizes, heavily repeated values);
2. local: ``cluster_with_details`` on this machine's cores, the row join
   timed apart from the rest (collapsing, media rule, components, ids);
3. distributed: the same call with the row join done by real Celery worker
   processes (``hashtrail worker``) through a real redis-server, for each
   ``--layouts`` entry ``PROCESSESxTHREADS:SHARDS`` (e.g. ``2x1:2``: two
   worker processes of one numba thread, as two one-core hosts, two
   shards). Checked equal to the local clusters. Each term is measured:
   pack and publish the columns, the workers' fetch and join per shard
   (reported by the tasks), collecting the pairs, the rest of clustering;
4. the model for N hosts like this one (stated in the output and the
   README), from the measured terms: see ``model``.

A measurement, not a test: it exits 0 unless the clusters differ.

    python benchmarks/distributed_join.py --rows 2000000
    python benchmarks/distributed_join.py --rows 500000 --layouts 1x2:1,2x1:2   # about a minute
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests")]
from cluster_scale import archive, flips  # noqa: E402
from processes import CeleryProcess, RedisServer  # noqa: E402

from hashtrail import config  # noqa: E402
from hashtrail.pipeline.index import multi_index, shards  # noqa: E402
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, cluster_with_details, matching_rows  # noqa: E402
from hashtrail.pipeline.index.edges import PROBE  # noqa: E402
from hashtrail.pipeline.media.hashing import VARIANT_CODE  # noqa: E402
from hashtrail.workers.join import DistributedJoin  # noqa: E402


def stills(rows: int, rng) -> Fingerprints:
    """~rows rows of stills: full, a correlated centre crop, and a trim for 70% of the media."""
    media = int(rows / 2.7)
    full = archive(media, rng)
    trimmed = np.nonzero(rng.random(media) < 0.7)[0]
    parts = [(full.media_id, full.phash, full.dhash, full.phash256, "full"),
             (full.media_id, flips(rng, full.phash, 6), flips(rng, full.dhash, 6),
              np.column_stack([flips(rng, full.phash256[:, w], 6) for w in range(4)]), "center"),
             (full.media_id[trimmed], flips(rng, full.phash[trimmed], 4), flips(rng, full.dhash[trimmed], 4),
              np.column_stack([flips(rng, full.phash256[trimmed, w], 4) for w in range(4)]), "trim")]
    order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")
    n = sum(len(p[0]) for p in parts)
    col = lambda k: np.concatenate([p[k] for p in parts])[order]  # noqa: E731
    codes = np.concatenate([np.full(len(p[0]), VARIANT_CODE[p[4]], np.int16) for p in parts])[order]
    return Fingerprints(col(0), col(1), col(2), col(3), codes == VARIANT_CODE["center"], np.full(n, np.nan), codes,
                        np.full(n, 1.5))


class TimedRows:
    """matching_rows, timed: the local join term."""

    def __init__(self):
        self.seconds, self.rows, self.index_s = 0.0, 0, 0.0

    def __call__(self, fp, t):
        started = time.perf_counter()
        out = matching_rows(fp, t)
        self.seconds, self.rows = time.perf_counter() - started, len(fp.media_id)
        base = ~PROBE[fp.codes()]
        started = time.perf_counter()  # the part of the join every shard repeats: its index of all rows
        multi_index.BlockIndex(fp.phash[base], fp.dhash[base])
        self.index_s = time.perf_counter() - started
        return out


def key_of(assignments) -> list:
    return sorted(dataclasses.astuple(a) for a in assignments)


@dataclasses.dataclass
class Run:
    layout: str
    total_s: float
    pack_s: float
    publish_s: float
    mb: float
    fetch_s: float  # slowest shard's fetch + unpack
    shard_s: float  # slowest shard's join (index included)
    shard_sum_s: float  # all shards' join seconds added up
    wait_s: float
    collect_s: float
    rest_s: float
    pairs: int
    equal: bool
    worker_rss_mb: float  # the largest worker process's peak memory


def distributed(fp, t, layout: str, redis_url: str, folder: str, reference) -> Run:
    shape, _, shard_text = layout.partition(":")
    processes, threads = (int(x) for x in shape.split("x"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    env.update(HASHTRAIL_BROKER_URL=redis_url, NUMBA_NUM_THREADS=str(threads))
    workers = [CeleryProcess(["worker", "-n", f"w{k}-{layout}@%h", "-c", "1"], env,
                             os.path.join(folder, f"w{k}-{layout.replace(':', '_')}.log")) for k in range(processes)]
    try:
        settings = config.load({"HASHTRAIL_BROKER_URL": redis_url})
        join = DistributedJoin(settings, int(shard_text or processes), timeout_s=3600)
        started = time.perf_counter()
        assignments, _ = cluster_with_details(fp, {}, t, rows_join=join)
        total = time.perf_counter() - started
    finally:
        for w in workers:
            w.stop()
    m = join.timings
    in_join = m.pack_s + m.publish_s + m.wait_s + m.collect_s
    return Run(layout, total, m.pack_s, m.publish_s, m.column_bytes / 1e6,
               max(s["fetch_s"] for s in m.per_shard), max(s["join_s"] for s in m.per_shard),
               sum(s["join_s"] for s in m.per_shard), m.wait_s, m.collect_s, total - in_join, m.pairs,
               key_of(assignments) == reference, max(s.get("peak_rss_mb", 0) for s in m.per_shard))


@dataclasses.dataclass
class Local:
    """The local clustering's terms at one size: total, row join (index included), index alone."""

    rows: int
    total_s: float
    join_s: float
    index_s: float

    @property
    def rest_s(self) -> float:
        return self.total_s - self.join_s


def local_clustering(fp, t) -> tuple[Local, list]:
    timed = TimedRows()
    started = time.perf_counter()
    assignments, _ = cluster_with_details(fp, {}, t, rows_join=timed)
    total = time.perf_counter() - started - timed.index_s  # the index timed again is not clustering
    return Local(len(fp.media_id), total, timed.seconds, timed.index_s), assignments


def join_growth(small: Local, large: Local) -> tuple[float, float]:
    """(a, b) of join work = a n + b n^2 (pairs out, bucket pairs compared), through two measured sizes."""
    n1, n2 = small.rows, large.rows
    j1, j2 = small.join_s - small.index_s, large.join_s - large.index_s
    b = max((j2 / n2 - j1 / n1) / (n2 - n1), 0.0)
    return max(j2 / n2 - b * n2, 0.0), b


def model(hosts: int, rows: int, local: Local, growth: tuple[float, float], run: Run, bandwidth_mb_s: float) -> float:
    """Seconds of a distributed rebuild of ``rows`` rows on ``hosts`` hosts like this one, one shard each.

    time = pack + publish + ship + fetch + index + join / hosts + collect + rest, where
    - pack, publish: columns to bytes and into Redis (measured, linear in rows);
    - ship = hosts x MB / bandwidth: every host pulls the columns once through the Redis host's link;
    - fetch: a worker unpacking them (measured over localhost);
    - index: each shard sorts all rows by each block again (measured, linear);
    - join / hosts: the local join's work on this machine's cores (a n + b n^2, fitted through two
      measured sizes) split evenly (shards are round-robin over the bucket chunks);
    - collect, rest: the pairs back, then collapsing, media rule, components and ids (measured, linear).
    """
    linear = rows / local.rows
    a, b = growth
    ship = hosts * run.mb * linear / bandwidth_mb_s
    return ((run.pack_s + run.publish_s + run.fetch_s + local.index_s + run.collect_s + local.rest_s) * linear
            + ship + (a * rows + b * rows ** 2) / hosts)


def local_model(rows: int, local: Local, growth: tuple[float, float]) -> float:
    a, b = growth
    return (local.index_s + local.rest_s) * rows / local.rows + a * rows + b * rows ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--layouts", default="1x2:1,2x1:2,2x1:8",
                        help="worker processes x numba threads : shards, comma-separated")
    parser.add_argument("--bandwidth-mb-s", type=float, default=117.0, help="the Redis host's link (1 Gbit/s)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t = Thresholds.from_settings(config.load({}))
    fp = stills(args.rows, rng)
    print(f"{len(fp.media_id):,} rows of {len(np.unique(fp.media_id)):,} stills; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    multi_index.pairs_within(fp.phash[:2000], t.phash, fp.dhash[:2000], t.dhash)  # compiled (cached on disk)

    half, _ = local_clustering(stills(args.rows // 2, np.random.default_rng(args.seed + 1)), t)
    local, assignments = local_clustering(fp, t)
    reference = key_of(assignments)
    growth = join_growth(half, local)
    for m in (half, local):
        print(f"local, {m.rows:,} rows: {m.total_s:.1f} s ({m.join_s:.1f} s the row join, of which {m.index_s:.1f} s "
              f"building its index; {m.rest_s:.1f} s the rest)", flush=True)
    print(f"{len({a.cluster_id for a in assignments}):,} clusters; join work fitted as {growth[0] * 1e6:.2f} us x n + "
          f"{growth[1] * 1e12:.3f} ps x n^2", flush=True)
    if growth[1] == 0:
        print("  (no n^2 term through these two sizes: at this size the join's work is mostly the pairs it writes, "
              "or the machine is too noisy; the model then understates the join at larger sizes)", flush=True)

    runs = []
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(folder)
        try:
            for layout in args.layouts.split(","):
                run = distributed(fp, t, layout, server.url, folder, reference)
                runs.append(run)
                print(f"distributed {layout}: {run.total_s:.1f} s = pack {run.pack_s:.1f} + publish {run.publish_s:.1f} "
                      f"({run.mb:.0f} MB) + shards {run.wait_s:.1f} (slowest: fetch {run.fetch_s:.1f}, join "
                      f"{run.shard_s:.1f}; all shards' joins {run.shard_sum_s:.1f}) + collect {run.collect_s:.1f} + "
                      f"rest {run.rest_s:.1f}; {run.pairs:,} row pairs; worker peak memory {run.worker_rss_mb:,.0f} MB; "
                      f"clusters equal local: {run.equal}", flush=True)
        finally:
            server.stop()

    one = next((r for r in runs if r.layout.startswith("1x")), runs[0])
    print(f"\nmodel (hosts like this one, {os.cpu_count()} cores, one worker process and one shard each, "
          f"{args.bandwidth_mb_s:.0f} MB/s to Redis; terms measured above, layout {one.layout}):")
    print("  time = pack + publish + hosts x MB / bandwidth + fetch + index + join / hosts + collect + rest")
    hosts = (1, 2, 4, 8, 16, 32)
    print(f"  {'rows':>11} {'local':>8} " + " ".join(f"{f'N={n}':>8}" for n in hosts))
    for rows in (args.rows, 5_500_000, 10_000_000, 30_000_000):
        cells = [model(n, rows, local, growth, one, args.bandwidth_mb_s) for n in hosts]
        print(f"  {rows:>11,} {local_model(rows, local, growth):>7.0f}s " + " ".join(f"{c:>7.0f}s" for c in cells))
    if not all(r.equal for r in runs):
        raise SystemExit("distributed clusters differ from the local ones")


if __name__ == "__main__":
    main()
