"""Add new media to existing clusters without recomputing the rest.

Researchers add archives over time; re-clustering 2M media for every new
zip would cost minutes. Only pairs that involve a new fingerprint row can
be new, so the new rows are joined against all rows (pipeline/index/multi_index.py) and
the matching rule applied to those pairs alone (a new video's frame share
sees all of its row pairs, since each involves one of its rows).

Cluster ids are the lowest media id of a cluster (pipeline/index/cluster.py).
New edges join clusters: the joined cluster takes the lowest id of its
parts, so a cluster that gains members keeps its id, and of two merged
clusters the older id survives. Clusters the new media do not touch keep
their id and their rows: notes users keep about a cluster stay valid.
The result equals a full rebuild (tests/test_incremental.py checks it).
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from hashtrail.pipeline.index import multi_index
from hashtrail.pipeline.index.cluster import (
    Assignment,
    Fingerprints,
    FrameMatch,
    Thresholds,
    _distance,
    _row_finder,
    admitted,
    exact_pairs,
    first_copies,
    media_edges,
)


@dataclasses.dataclass
class Update:
    assignments: list[Assignment]  # rows of clusters that changed or appeared
    frame_matches: list[FrameMatch]  # frame details of the new edges
    new_rows: int
    changed_clusters: int


def add_to_clusters(fp: Fingerprints, new_rows: np.ndarray, previous: dict[int, int],
                    members: dict[int, list[int]], sha_by_media: dict[int, str], new_media: set[int],
                    t: Thresholds) -> Update:
    """Clusters after adding ``new_rows`` (row indices of ``fp``) and ``new_media``.

    ``previous`` maps media in clusters to their cluster id, ``members`` the
    reverse; ``new_media`` are media ids without a cluster yet that came with
    the new rows or have no hashable row (flat pictures join by SHA-256 only).
    ``sha_by_media`` needs only the new media and those sharing a hash with them.
    """
    # a byte-identical copy of a media joins through its SHA-256 alone
    new_rows = new_rows[first_copies(fp, sha_by_media)[new_rows]]
    a, b, details = _new_edges(fp, new_rows, t)
    ea, eb = exact_pairs(sha_by_media)  # a map of new media and their twins: chains through them
    a, b = np.concatenate([a, ea]).astype(np.int64), np.concatenate([b, eb]).astype(np.int64)
    if len(a) == 0:
        return Update([], [], len(new_rows), 0)
    label = np.vectorize(lambda m: previous.get(int(m), int(m)), otypes=[np.int64])
    la, lb = label(a), label(b)
    nodes, inverse = np.unique(np.concatenate([la, lb]), return_inverse=True)
    graph = coo_matrix((np.ones(len(la), dtype=np.int8), (inverse[:len(la)], inverse[len(la):])),
                       shape=(len(nodes), len(nodes)))
    _, component = connected_components(graph, directed=False)
    joined: dict[int, list[int]] = defaultdict(list)
    for node, c in zip(nodes.tolist(), component.tolist()):
        joined[c].append(node)
    rows_of = _row_finder(fp)
    out, changed = [], 0
    for labels in joined.values():
        if len(labels) == 1 and labels[0] in members and all(m not in new_media for m in members[labels[0]]):
            continue  # an old cluster met only itself
        representative = min(labels)
        everyone = sorted({m for lab in labels for m in members.get(lab, [lab])})
        changed += 1
        for media in everyone:
            out.append(Assignment(media, representative,
                                  _distance(fp, rows_of, sha_by_media, representative, media)))
    return Update(out, details, len(new_rows), changed)


def _new_edges(fp: Fingerprints, new_rows: np.ndarray, t: Thresholds):
    """Media pairs under the whole rule among pairs that involve a new row."""
    if len(new_rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    table = multi_index.BlockIndex(fp.phash, fp.dhash)
    queries = multi_index.BlockIndex(fp.phash[new_rows], fp.dhash[new_rows], new_rows)
    i, j = multi_index.join(queries, table, t.phash, t.dhash)
    i, j = admitted(fp, i, j, t)
    frame, frame_count = fp.frames()
    return media_edges(fp, i, j, frame, frame_count, t)
