"""How fingerprints group into clusters of reused media.

A plain function from fingerprints to cluster assignments, as in perception:
1. candidate pairs: fingerprint variants within the pHash threshold;
2. confirmation: the same pair of variants must also be within the dHash
   threshold (two different views of the picture must agree, which keeps
   similar-but-different shots of one scene apart);
3. byte-identical files (same SHA-256) always join, even when too flat to hash;
4. connected components (scipy's, not a hand-rolled union-find).

A cluster's id is the smallest media id in it, so a cluster that gains no
members keeps its id across re-clustering, and the first-scanned member is
its representative; each member's distance is its best pHash distance to
the representative.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .hamming import distances, pairs_within


@dataclasses.dataclass(frozen=True)
class Fingerprints:
    """Columns of the fingerprint table: one row per hashed variant."""

    media_id: np.ndarray  # int64
    phash: np.ndarray  # uint64
    dhash: np.ndarray  # uint64


@dataclasses.dataclass(frozen=True)
class Assignment:
    media_id: int
    cluster_id: int
    distance: int


def matching_pairs(fp: Fingerprints, phash_threshold: int, dhash_threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Media id pairs with some variant pair within both thresholds."""
    i, j = pairs_within(fp.phash, phash_threshold)
    confirmed = distances(fp.dhash[i], fp.dhash[j]) <= dhash_threshold
    a, b = fp.media_id[i[confirmed]], fp.media_id[j[confirmed]]
    different = a != b
    return a[different], b[different]


def exact_pairs(sha_by_media: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """Media id pairs chaining together byte-identical files."""
    groups: dict[str, list[int]] = defaultdict(list)
    for media_id, sha in sha_by_media.items():
        if sha:
            groups[sha].append(media_id)
    a, b = [], []
    for ids in groups.values():
        ids.sort()
        a.extend(ids[:-1])
        b.extend(ids[1:])
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)


def find_clusters(
    fp: Fingerprints,
    sha_by_media: dict[int, str],
    phash_threshold: int,
    dhash_threshold: int,
) -> list[Assignment]:
    """Cluster assignments for every media that has at least one duplicate."""
    pa, pb = matching_pairs(fp, phash_threshold, dhash_threshold)
    ea, eb = exact_pairs(sha_by_media)
    a, b = np.concatenate([pa, ea]), np.concatenate([pb, eb])
    if len(a) == 0:
        return []
    ids, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = len(ids)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (inverse[: len(a)], inverse[len(a):])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    by_label: dict[int, list[int]] = defaultdict(list)
    for media_id, label in zip(ids.tolist(), labels.tolist()):
        by_label[label].append(media_id)
    rows_by_media = _rows_by_media(fp)
    out = []
    for members in by_label.values():
        members.sort()
        representative = members[0]
        for media_id in members:
            out.append(Assignment(media_id, representative,
                                  _distance(fp, rows_by_media, sha_by_media, representative, media_id)))
    return out


def _rows_by_media(fp: Fingerprints) -> dict[int, np.ndarray]:
    order = np.argsort(fp.media_id, kind="stable")
    ids, starts = np.unique(fp.media_id[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    return {int(m): order[s:e] for m, s, e in zip(ids, starts, ends)}


def _distance(fp, rows_by_media, sha_by_media, representative: int, media_id: int) -> int:
    if media_id == representative or (sha_by_media.get(media_id) and
                                      sha_by_media.get(media_id) == sha_by_media.get(representative)):
        return 0
    r, m = rows_by_media.get(representative), rows_by_media.get(media_id)
    if r is None or m is None:
        return 64  # no hashable variant (flat image) on one side: joined by a chain
    return int(distances(fp.phash[r][:, None], fp.phash[m][None, :]).min())
