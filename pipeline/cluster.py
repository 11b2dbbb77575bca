"""How fingerprints group into clusters of reused media.

A plain function from fingerprints to cluster assignments, as in perception:
1. candidate pairs: fingerprint variants within the 64-bit pHash threshold;
2. confirmation: the same pair of variants must also be within the dHash
   and the 256-bit pHash thresholds, and not be two centre crops. Single
   64-bit hashes let smooth photos and other shots of one scene through, and
   connected components then chain those few false pairs into giant
   clusters; the 256-bit pHash sees finer detail and stops them
   (benchmarks/quality.py: clustered precision 0.1 without it, 0.9 with);
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
    phash256: np.ndarray  # uint64, shape (n, 4)
    secondary: np.ndarray  # bool: a centre-crop variant

    @classmethod
    def empty(cls) -> "Fingerprints":
        z = np.zeros(0, dtype=np.uint64)
        return cls(np.zeros(0, dtype=np.int64), z, z, np.zeros((0, 4), dtype=np.uint64), np.zeros(0, dtype=bool))


@dataclasses.dataclass(frozen=True)
class Thresholds:
    phash: int
    dhash: int
    phash256: int

    @classmethod
    def from_settings(cls, settings) -> "Thresholds":
        return cls(settings.phash_threshold, settings.dhash_threshold, settings.phash256_threshold)

    def admits(self, phash: np.ndarray, dhash: np.ndarray, phash256: np.ndarray,
               both_centre: np.ndarray) -> np.ndarray:
        """The matching rule on distances of variant pairs: the one place it is written.

        Clustering (``matching_pairs``) and query by example (search.py) both ask it.
        """
        return (phash <= self.phash) & (dhash <= self.dhash) & (phash256 <= self.phash256) & ~both_centre


@dataclasses.dataclass(frozen=True)
class Assignment:
    media_id: int
    cluster_id: int
    distance: int | None


def cluster_edges(fp: Fingerprints, t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Media id pairs that connect the same media as ``matching_pairs``, cheaply.

    Rows with identical hashes are collapsed first (archives repost one meme
    thousands of times; pairing every copy with every other would cost memory
    quadratic in the copies): the copies are chained to each other, and only
    one row per distinct fingerprint enters the pair search. The components
    are those of the matching rule (identical fingerprints always match,
    centre crops included); the pair list is not, so measure with
    ``matching_pairs``.
    """
    key = np.column_stack([fp.phash, fp.dhash, fp.phash256, fp.secondary.astype(np.uint64)])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    same = inverse[order][1:] == inverse[order][:-1]
    chain_a, chain_b = fp.media_id[order][:-1][same], fp.media_id[order][1:][same]
    distinct = Fingerprints(fp.media_id[first], fp.phash[first], fp.dhash[first], fp.phash256[first],
                            fp.secondary[first])
    a, b = matching_pairs(distinct, t)
    return np.concatenate([a, chain_a]), np.concatenate([b, chain_b])


def matching_pairs(fp: Fingerprints, t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Media id pairs with some variant pair (not two centre crops) within all thresholds."""
    i, j = pairs_within(fp.phash, t.phash)
    keep = t.admits(distances(fp.phash[i], fp.phash[j]), distances(fp.dhash[i], fp.dhash[j]),
                    distances(fp.phash256[i], fp.phash256[j]).sum(axis=1), fp.secondary[i] & fp.secondary[j])
    a, b = fp.media_id[i[keep]], fp.media_id[j[keep]]
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


def find_clusters(fp: Fingerprints, sha_by_media: dict[int, str], thresholds: Thresholds) -> list[Assignment]:
    """Cluster assignments for every media that has at least one duplicate."""
    pa, pb = cluster_edges(fp, thresholds)
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
        return None  # no hashable variant (flat image) on one side: joined by a chain
    return int(distances(fp.phash[r][:, None], fp.phash[m][None, :]).min())
