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
    PRIMARY,
    PROBE,
    Assignment,
    Edges,
    Fingerprints,
    FrameMatch,
    Thresholds,
    Via,
    _row_finder,
    admitted,
    assign,
    exact_pairs,
    first_copies,
    media_edges,
    member_vias,
    probe_pairs,
)


@dataclasses.dataclass
class Update:
    assignments: list[Assignment]  # rows of clusters that changed or appeared
    frame_matches: list[FrameMatch]  # frame details of the new edges
    new_rows: int
    changed_clusters: int


def add_to_clusters(fp: Fingerprints, new_rows: np.ndarray, previous: dict[int, int],
                    members: dict[int, list[int]], sha_by_media: dict[int, str], new_media: set[int],
                    t: Thresholds, old_vias: dict[int, Via] | None = None, pictures=None,
                    verified_out: list | None = None) -> Update:
    """Clusters after adding ``new_rows`` (row indices of ``fp``) and ``new_media``.

    ``previous`` maps media in clusters to their cluster id, ``members`` the
    reverse; ``new_media`` are media ids without a cluster yet that came with
    the new rows or have no hashable row (flat pictures join by SHA-256 only).
    ``sha_by_media`` needs only the new media and those sharing a hash with them.
    ``old_vias``: the stored links of members matched only through a hard edit
    (``Store.hard_vias``); a new plain or better match replaces them.
    ``pictures``: as cluster.cluster_with_details; only new pairs are checked,
    and not those whose media are already in one cluster.
    """
    from hashtrail.pipeline.index import verification
    # a byte-identical copy of a media joins through its SHA-256 alone
    new_rows = new_rows[first_copies(fp, sha_by_media)[new_rows]]
    found, details = _new_edges(fp, new_rows, t)
    # a map of new media and their twins: chains through them
    edges = Edges.join([found, Edges.plain(*exact_pairs(sha_by_media))])
    checked = verification.apply(edges, pictures, t, node=lambda m: previous.get(m, m))  # old clusters: one node
    edges = checked.edges
    if verified_out is not None:
        verified_out.append(checked)
    a, b = edges.a, edges.b
    if len(a) == 0:
        return Update([], [], len(new_rows), 0)
    vias = _merged_vias(edges, old_vias or {}, checked)
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
            out.append(assign(fp, rows_of, sha_by_media, representative, media, vias.get(media)))
    return Update(out, details, len(new_rows), changed)


def _merged_vias(edges: Edges, old: dict[int, Via], checked=None) -> dict[int, Via]:
    """Hard-edit links after the update: a new plain match clears one, a better new link replaces it."""
    from hashtrail.pipeline.index import verification
    new = member_vias(edges) if checked is None else verification.scored_vias(member_vias(edges), checked)
    plain = set(np.concatenate([edges.a[edges.rank == 0], edges.b[edges.rank == 0]]).tolist())
    merged = {m: v for m, v in old.items() if m not in plain}
    for m, v in new.items():
        if m not in merged or (v.rank, v.media) < (merged[m].rank, merged[m].media):
            merged[m] = v
    return merged


def _new_edges(fp: Fingerprints, new_rows: np.ndarray, t: Thresholds) -> tuple[Edges, list[FrameMatch]]:
    """Media pairs under the whole rule among pairs that involve a new row.

    As a rebuild's joins (cluster.matching_rows), restricted to pairs with a new
    row: new whole base rows (not centre crops) with all whole ones, new centre
    rows with all whole ones, new whole rows with the old centre rows (each
    pair of a new row met once); new probes with all primary rows, new primary
    rows with the old probes.
    """
    if len(new_rows) == 0:
        return Edges.plain(np.zeros(0, np.int64), np.zeros(0, np.int64)), []
    codes = fp.codes()
    probe, primary = PROBE[codes] & t.probes()[codes], PRIMARY[codes]
    whole, centre = ~PROBE[codes] & ~fp.secondary, ~PROBE[codes] & fp.secondary
    new_whole, new_centre, new_probe, new_primary = (new_rows[mask[new_rows]]
                                                     for mask in (whole, centre, probe, primary))
    all_whole = np.nonzero(whole)[0]
    old_centre = np.setdiff1d(np.nonzero(centre)[0], new_centre)
    pairs = [_join(fp, new_whole, all_whole, t.phash, t.dhash), _join(fp, new_centre, all_whole, t.phash, t.dhash),
             _join(fp, new_whole, old_centre, t.phash, t.dhash)]
    pairs.append(probe_pairs(fp, new_probe, np.nonzero(primary)[0], t))
    old_probe = np.setdiff1d(np.nonzero(probe)[0], new_probe)
    pairs.append(probe_pairs(fp, new_primary, old_probe, t))
    i, j = np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
    i, j = admitted(fp, i, j, t)
    frame, frame_count = fp.frames()
    a, b, details, rank, ri, rj = media_edges(fp, i, j, frame, frame_count, t)
    return Edges.of_rows(fp, a, b, rank, ri, rj), details


def _join(fp: Fingerprints, queries: np.ndarray, table: np.ndarray, rp: int, rd: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (query row, table row) within the pHash64 and dHash64 radii, by the multi-index join."""
    if len(queries) == 0 or len(table) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return multi_index.join(multi_index.BlockIndex(fp.phash[queries], fp.dhash[queries], queries),
                            multi_index.BlockIndex(fp.phash[table], fp.dhash[table], table), rp, rd)
