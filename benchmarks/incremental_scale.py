"""Does an incremental update cost the new rows, or the archive? The same new media added to archives of any size.

Two measurements (issue 15, "the incremental path"):

- in memory (default): ``--media N`` media as benchmarks/archive_mix.py
  makes them, ``--new K`` more, and ``add_to_clusters`` timed ``--runs``
  times, wall and CPU seconds, split into the join of new rows with all
  rows (``multi_index.join``) and the rest. No full clustering runs first
  (no earlier clusters): the rest does the same passes over the table
  either way, and a full clustering at 2M media takes minutes and 12 GB.
  Run it at several ``--media`` with one ``--new``: the rest should stay
  flat, the join grows with the table;
- ``--store``: the same through SQLite as scans run it
  (``scan.update_clusters``): rows written straight into a fresh database,
  a first clustering, then two updates of ``--new`` media each, with the
  wall seconds of each store phase; ``--check`` compares the result with a
  rebuild.

To compare with other code (e.g. main's), run this file from that code's
checkout and venv: it only uses ``add_to_clusters`` and ``update_clusters``.

    python benchmarks/incremental_scale.py --media 200000 --new 2000
    python benchmarks/incremental_scale.py --media 2000000 --new 2000   # ~4 GB: take the big-memory lock
    python benchmarks/incremental_scale.py --media 200000 --new 2000 --store --check
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import archive_mix  # noqa: E402
from join_clock import JoinClock  # noqa: E402

from hashtrail import config  # noqa: E402
from hashtrail.pipeline.index import incremental  # noqa: E402
from hashtrail.pipeline.index.cluster import Thresholds, cluster_with_details  # noqa: E402


def in_memory(args, made, more) -> None:
    t = Thresholds.from_settings(config.load())
    rows = len(made.fp.media_id)
    everything = archive_mix.concat(made.fp, more.fp)
    new_media = set(range(made.media, made.media + more.media))
    new_sha = {more.sha[m] for m in new_media}
    sha_of_new = {m: s for m, s in {**made.sha, **more.sha}.items() if s in new_sha}
    new_rows = np.arange(rows, len(everything.media_id))
    for run in range(args.runs):
        with JoinClock() as join:
            started, cpu = time.perf_counter(), time.process_time()
            update = incremental.add_to_clusters(everything, new_rows, {}, {}, sha_of_new, new_media, t)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"media={args.media} rows={len(everything.media_id)} new_media={more.media} new_rows={len(new_rows)} "
              f"run={run + 1} wall_s={wall:.2f} cpu_s={cpu:.2f} join_wall_s={join.wall:.2f} join_cpu_s={join.cpu:.2f} "
              f"rest_wall_s={wall - join.wall:.2f} rest_cpu_s={cpu - join.cpu:.2f} changed={update.changed_clusters}",
              flush=True)


def store_rows(store, fp, sha) -> None:
    """Media and fingerprint rows written straight through SQL (fast), as a scan would store them."""
    from hashtrail.pipeline.media.hashing import VARIANTS
    hexes = lambda a: [f"{int(x):016x}" for x in a]  # noqa: E731
    wide = ["".join(f"{int(w):016x}" for w in row) for row in fp.phash256]
    optional = lambda a: [None if np.isnan(x) else float(x) for x in a.tolist()]  # noqa: E731
    with store._writing():
        store.db.conn.executemany(
            "INSERT INTO media (id, path, root, status, kind, hasher, sha256) VALUES (?, ?, '/', 'ok', 'image', "
            "'bench', ?)", [(int(m) + 1, f"/bench/{int(m)}", sha.get(int(m))) for m in np.unique(fp.media_id)])
        store.db.conn.executemany(
            "INSERT INTO fingerprints (media_id, variant, time_s, phash, dhash, phash256, aspect) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            list(zip((int(m) + 1 for m in fp.media_id), (VARIANTS[c] for c in fp.codes().tolist()),
                     optional(fp.times()), hexes(fp.phash), hexes(fp.dhash), wide, optional(fp.aspects()))))


def through_the_store(args, made, mores) -> None:
    from hashtrail.pipeline import scan
    from hashtrail.pipeline.store import Store
    phases = ("can_update_clusters", "fingerprints_and_new", "unclustered_media", "cluster_state", "stored_clusters",
              "sha_of_new", "hard_vias", "update_clusters", "save_fingerprint_cache", "refresh_summaries")
    spent: dict[str, float] = collections.defaultdict(float)

    def timed(owner, name):
        if not hasattr(owner, name):
            return  # other code: a phase it does not have
        real = getattr(owner, name)

        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                spent[name] += time.perf_counter() - started
        setattr(owner, name, wrapper)

    with tempfile.TemporaryDirectory() as folder:
        settings = config.load().replace(db=f"{folder}/bench.db")
        store = Store(settings.db)
        store_rows(store, made.fp, made.sha)
        started, cpu = time.perf_counter(), time.process_time()
        first = scan.update_clusters(store, settings)
        print(f"first clustering (rebuilt={first.rebuilt}): {time.perf_counter() - started:.1f} s, "
              f"{time.process_time() - cpu:.1f} CPU s", flush=True)
        for name in phases:
            timed(store, name)
        timed(scan, "add_to_clusters")
        for k, more in enumerate(mores):
            store_rows(store, more.fp, more.sha)
            spent.clear()
            started, cpu = time.perf_counter(), time.process_time()
            done = scan.update_clusters(store, settings)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(f"update {k + 1}: +{more.media} media ({len(more.fp.media_id)} rows) rebuilt={done.rebuilt} "
                  f"wall_s={wall:.2f} cpu_s={cpu:.2f}; " +
                  " ".join(f"{n}={v:.2f}" for n, v in sorted(spent.items(), key=lambda x: -x[1])), flush=True)
        if args.check:
            incremental_rows = sorted(store.db.execute("SELECT media_id, cluster_id FROM clusters"))
            scan.update_clusters(store, settings, rebuild=True)
            print("incremental equal to a rebuild:",
                  incremental_rows == sorted(store.db.execute("SELECT media_id, cluster_id FROM clusters")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", type=int, default=200_000)
    parser.add_argument("--new", type=int, default=2_000, help="media added (the same at every --media)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", action="store_true", help="through SQLite, as scans run it")
    parser.add_argument("--check", action="store_true", help="with --store: compare with a rebuild")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t = Thresholds.from_settings(config.load())
    warm = archive_mix.archive(3000, np.random.default_rng(0))
    cluster_with_details(warm.fp, warm.sha, t)  # compile the kernels (cached on disk after)
    made = archive_mix.archive(args.media, rng)
    mores, first = [], made.media
    for _ in range(2 if args.store else 1):
        mores.append(archive_mix.archive(args.new, rng, first_media=first, grow=made))
        first += mores[-1].media
    if args.store:
        through_the_store(args, made, mores)
    else:
        in_memory(args, made, mores[0])


if __name__ == "__main__":
    main()
