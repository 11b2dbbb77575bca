"""What the one-bit-short join (the default, ``join_exact = false``) misses of the exact join, on ``--media N``.

Runs ``matching_rows`` both ways on the same archive (archive_mix.py) and
compares the admitted row pairs: the recall of the exact pairs, the pairs
added (must be 0), and how the missed pairs lie (their pHash distance: the
rule says exactly the threshold). Then the matching *media* pairs
(``matching_pairs``: a media pair stays matched when another of its row
pairs is found) and both full clusterings, to say what a user would see
differ: media whose cluster (the set of media it is with) changes. Also prints the model's share (multi_index.missed_at_radius).

    python benchmarks/join_recall.py --media 500000 --seed 3
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import archive_mix
from hashtrail import config
from hashtrail.pipeline.index import multi_index
from hashtrail.pipeline.index.cluster import Thresholds, cluster_with_details, matching_pairs, matching_rows


def pair_keys(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    return np.unique(np.minimum(i, j).astype(np.int64) * n + np.maximum(i, j))


def groups(assignments) -> dict[int, frozenset]:
    """Media id -> the set of media in its cluster (ids of clusters differ between runs; the sets do not)."""
    members: dict[int, set] = {}
    for a in assignments:
        members.setdefault(a.cluster_id, set()).add(a.media_id)
    frozen = {c: frozenset(m) for c, m in members.items()}
    return {a.media_id: frozen[a.cluster_id] for a in assignments}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--no-clusters", action="store_true", help="compare the row pairs only")
    args = parser.parse_args()
    short = dataclasses.replace(Thresholds.from_settings(config.load()), exact_join=False)
    exact = dataclasses.replace(short, exact_join=True)
    warm = archive_mix.archive(3000, np.random.default_rng(0))
    for t in (short, exact):
        cluster_with_details(warm.fp, warm.sha, t)  # compile first
    made = archive_mix.archive(args.media, np.random.default_rng(args.seed))
    fp, n = made.fp, len(made.fp.media_id)
    found, took = {}, {}
    for name, t in (("exact", exact), ("short", short)):
        wall, cpu = time.perf_counter(), time.process_time()
        i, j = matching_rows(fp, t)
        took[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        found[name] = pair_keys(i, j, n)
        del i, j
    e, s = found["exact"], found["short"]
    kept = np.isin(e, s, assume_unique=True)
    missed = e[~kept]
    added = len(s) - int(kept.sum())
    radius = short.phash
    distance = np.bitwise_count(fp.phash[missed // n] ^ fp.phash[missed % n])
    at = np.bincount(distance, minlength=radius + 1)
    everything_at = np.bincount(np.bitwise_count(fp.phash[e // n] ^ fp.phash[e % n]), minlength=radius + 1)
    print(f"media={args.media} rows={n:,}: exact join {len(e):,} row pairs in {took['exact'][0]:.1f} s "
          f"({took['exact'][1]:.0f} CPU s), one bit short {len(s):,} in {took['short'][0]:.1f} s "
          f"({took['short'][1]:.0f} CPU s)")
    print(f"pair_recall={kept.mean():.5f} missed={len(missed):,} added={added} "
          f"missed_by_distance={dict((d, int(c)) for d, c in enumerate(at) if c)} "
          f"missed_share_at_{radius}={at[radius] / max(everything_at[radius], 1):.4f} "
          f"(model {multi_index.missed_at_radius(radius):.4f}; pairs at {radius} bits: "
          f"{everything_at[radius] / len(e):.3f} of all)", flush=True)
    if args.no_clusters:
        return
    del found, e, s, kept, missed
    media_pairs = {name: pair_keys(*matching_pairs(fp, t), made.media) for name, t in (("exact", exact), ("short", short))}
    kept = np.isin(media_pairs["exact"], media_pairs["short"], assume_unique=True)
    print(f"media_pair_recall={kept.mean():.5f} of {len(kept):,} matching media pairs "
          f"(missed {int((~kept).sum()):,}; added {len(media_pairs['short']) - int(kept.sum())})", flush=True)
    del media_pairs, kept
    by = {name: groups(cluster_with_details(fp, made.sha, t)[0]) for name, t in (("exact", exact), ("short", short))}
    media = set(by["exact"]) | set(by["short"])
    differ = sum(by["exact"].get(m, frozenset({m})) != by["short"].get(m, frozenset({m})) for m in media)
    print(f"clustered media: exact {len(by['exact']):,}, short {len(by['short']):,}; "
          f"media whose cluster differs: {differ:,} ({differ / max(len(media), 1):.5f})")


if __name__ == "__main__":
    main()
