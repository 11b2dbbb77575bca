"""Where a full clustering of ``--media N`` (archive_mix.py) spends its time: wall and CPU seconds per phase.

Wraps the phases' functions (the join, the 256-bit check, media edges,
copies, vias, components) with timers and runs ``cluster_with_details`` once,
so a change can be judged by the phase it touches. CPU seconds beside wall
seconds: on a shared machine wall time says more about the neighbours.
Each phase also gets the largest resident set seen while it ran, and how
far above its entry a single call took it: where the peak memory is made.
``--save FILE`` pickles the assignments, to compare two versions' results.

    python benchmarks/cluster_phases.py --media 500000 --seed 3
"""
from __future__ import annotations

import argparse
import functools
import pickle
import time

import numpy as np

import archive_mix
from cluster_scale import PeakMemory, rss_mb
from hashtrail import config
from hashtrail.pipeline.index import cluster, multi_index
from hashtrail.pipeline.index.cluster import Thresholds, cluster_with_details

PHASES = {multi_index: ("join",),
          cluster: ("admitted", "media_edges", "same_frames", "first_copies", "_identical_rows", "_probe_copies",
                    "member_vias", "connected_components", "_expand_probe_copies", "distances_to", "assign")}


def timed(spent: dict, module, name: str) -> None:
    inner = getattr(module, name)

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        wall, cpu, before = time.perf_counter(), time.process_time(), rss_mb()
        memory = PeakMemory()
        try:
            with memory:
                return inner(*args, **kwargs)
        finally:
            row = spent.setdefault(name, [0.0, 0.0, 0, 0.0, 0.0])
            row[0] += time.perf_counter() - wall
            row[1] += time.process_time() - cpu
            row[2] += 1
            row[3] = max(row[3], memory.peak)  # the largest resident set while a call ran (MB)
            row[4] = max(row[4], memory.peak - before)  # ... above what was resident when it was called
    setattr(module, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", help="pickle the sorted assignments here")
    args = parser.parse_args()
    t = Thresholds.from_settings(config.load())
    warm = archive_mix.archive(3000, np.random.default_rng(0))
    cluster_with_details(warm.fp, warm.sha, t)  # compile the kernels first
    spent: dict = {}
    for module, names in PHASES.items():
        for name in names:
            if hasattr(module, name):
                timed(spent, module, name)
    made = archive_mix.archive(args.media, np.random.default_rng(args.seed))
    with PeakMemory() as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        assignments, _ = cluster_with_details(made.fp, made.sha, t)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"media={args.media} seed={args.seed} rows={len(made.fp.media_id)} full_s={wall:.1f} cpu_s={cpu:.1f} "
          f"peak_rss_mb={memory.peak:.0f} clusters={len({a.cluster_id for a in assignments})} "
          f"members={len(assignments)}")
    for name, (w, c, calls, peak, grew) in sorted(spent.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:22s} {w:8.2f} s {c:8.2f} CPU s  x{calls:<3d} peak {peak:7,.0f} MB (+{grew:,.0f} MB in a call)")
    if args.save:
        with open(args.save, "wb") as f:
            pickle.dump(sorted((a.media_id, a.cluster_id, a.distance, a.via, a.via_media, a.via_transform)
                               for a in assignments), f)


if __name__ == "__main__":
    main()
