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
from hashtrail.pipeline.index.gathers import take
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
    sha_groups,
)


@dataclasses.dataclass
class Update:
    assignments: list[Assignment]  # rows of clusters that changed or appeared
    frame_matches: list[FrameMatch]  # frame details of the new edges
    new_rows: int
    changed_clusters: int


@dataclasses.dataclass
class KnownClusters:
    """Existing clusters held in memory (tests, benchmarks); the store's ``StoredClusters`` reads them on demand.

    Both answer only for the media and clusters asked about: an update
    touches a few hundred of hundreds of thousands of clusters, so nothing
    here may need all of them.
    """

    previous: dict[int, int]  # media -> cluster id
    members: dict[int, list[int]]  # cluster id -> media
    vias: dict[int, Via]  # members linked only through a hard edit

    def clusters_of(self, media) -> dict[int, int]:
        return {m: self.previous[m] for m in media if m in self.previous}

    def members_of(self, clusters) -> dict[int, list[int]]:
        return {c: self.members[c] for c in clusters if c in self.members}

    def vias_of(self, media) -> dict[int, Via]:
        return {m: self.vias[m] for m in media if m in self.vias}


def add_to_clusters(fp: Fingerprints, new_rows: np.ndarray, previous, members: dict[int, list[int]] | None,
                    sha_by_media: dict[int, str], new_media: set[int],
                    t: Thresholds, old_vias: dict[int, Via] | None = None, pictures=None,
                    verified_out: list | None = None) -> Update:
    """Clusters after adding ``new_rows`` (row indices of ``fp``) and ``new_media``.

    ``previous`` maps media in clusters to their cluster id, ``members`` the
    reverse; or ``previous`` answers ``clusters_of``, ``members_of`` and
    ``vias_of`` itself (``KnownClusters``, the store's ``StoredClusters``)
    and ``members`` is None. ``new_media`` are media ids without a cluster yet that came with
    the new rows or have no hashable row (flat pictures join by SHA-256 only).
    ``sha_by_media`` needs only the new media and those sharing a hash with them.
    ``old_vias``: the stored links of members matched only through a hard edit
    (``Store.hard_vias``); a new plain or better match replaces them.
    ``pictures``: as cluster.cluster_with_details; only new pairs are checked,
    and not those whose media are already in one cluster.
    """
    from hashtrail.pipeline.index import verification
    known = previous if members is None else KnownClusters(previous, members, old_vias or {})
    rows_of = _row_finder(fp)
    # a byte-identical copy of a media joins through its SHA-256 alone (asked of the new rows only: a
    # membership test of every row's media sorts the whole table)
    groups = sha_groups(sha_by_media)  # once: a pass of Python over every media
    new_rows = new_rows[first_copies(fp.take(new_rows), sha_by_media, groups)]
    found, details = _new_edges(fp, new_rows, t, rows_of)
    # a map of new media and their twins: chains through them
    edges = Edges.join([found, Edges.plain(*exact_pairs(sha_by_media, groups))])
    cluster_of = known.clusters_of(np.unique(np.concatenate([edges.a, edges.b])).tolist())
    checked = verification.apply(edges, pictures, t, node=lambda m: cluster_of.get(m, m))  # old clusters: one node
    edges = checked.edges
    if verified_out is not None:
        verified_out.append(checked)
    a, b = edges.a, edges.b
    if len(a) == 0:
        return Update([], [], len(new_rows), 0)
    label = np.vectorize(lambda m: cluster_of.get(int(m), int(m)), otypes=[np.int64])
    la, lb = label(a), label(b)
    nodes, inverse = np.unique(np.concatenate([la, lb]), return_inverse=True)
    graph = coo_matrix((np.ones(len(la), dtype=np.int8), (inverse[:len(la)], inverse[len(la):])),
                       shape=(len(nodes), len(nodes)))
    _, component = connected_components(graph, directed=False)
    joined: dict[int, list[int]] = defaultdict(list)
    for node, c in zip(nodes.tolist(), component.tolist()):
        joined[c].append(node)
    old_members = known.members_of(set(cluster_of.values()))
    changed_groups = []
    for labels in joined.values():
        if len(labels) == 1 and labels[0] in old_members and all(m not in new_media for m in old_members[labels[0]]):
            continue  # an old cluster met only itself
        changed_groups.append((min(labels), sorted({m for lab in labels for m in old_members.get(lab, [lab])})))
    vias = _merged_vias(edges, known.vias_of([m for _, everyone in changed_groups for m in everyone]), checked)
    out = []
    for representative, everyone in changed_groups:
        for media in everyone:
            out.append(assign(fp, rows_of, sha_by_media, representative, media, vias.get(media)))
    return Update(out, details, len(new_rows), len(changed_groups))


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


def _new_edges(fp: Fingerprints, new_rows: np.ndarray, t: Thresholds, rows_of=None) -> tuple[Edges, list[FrameMatch]]:
    """Media pairs under the whole rule among pairs that involve a new row.

    As a rebuild's joins (cluster.matching_rows), restricted to pairs with a new
    row, each met once: new whole and centre rows with all whole and centre
    rows, but never two centre crops; new probes with all primary rows, new
    primary rows with the old probes.

    Nothing here may cost more than a vectorised pass over the table besides
    the join itself (new rows x table): the old/new split is a mask (a set
    difference sorted millions of rows: seconds at 2M media), the table's
    index is built once and shared by the joins that use it, and frame ids
    are counted only on the media the candidate pairs involve.

    The new whole and centre rows meet all whole and centre rows in one join,
    and the pairs of two centre crops are dropped after it: a join walks
    every bucket of the table's index whatever its queries (~0.9 s at 2M
    media), so one join in place of three (new whole x whole, new centre x
    whole, new whole x old centre) saved a second of a 6 s update. The new
    probes meet the same index, and keep their pairs with a primary row.
    """
    if len(new_rows) == 0:
        return Edges.plain(np.zeros(0, np.int64), np.zeros(0, np.int64)), []
    codes = fp.codes()
    is_new = np.zeros(len(codes), dtype=bool)
    is_new[new_rows] = True
    probe, primary = PROBE[codes] & t.probes()[codes], PRIMARY[codes]
    hashed = ~PROBE[codes]  # whole and centre rows
    new_hashed, new_probe, new_primary = (np.nonzero(mask & is_new)[0] for mask in (hashed, probe, primary))
    tables = _Tables(fp)
    all_hashed, old_probe = np.nonzero(hashed)[0], np.nonzero(probe & ~is_new)[0]
    i, j = tables.join(new_hashed, all_hashed, t.phash, t.dhash, t.exact_join)
    keep = ~(take(fp.secondary, i) & take(fp.secondary, j))  # never two centre crops
    pairs = [(i[keep], j[keep])]
    i, j = tables.join(new_probe, all_hashed, t.hard_phash, t.hard_dhash)
    keep = take(primary, i) | take(primary, j)  # one side is the probe: the other must be a primary row
    pairs += [(i[keep], j[keep]), tables.join(new_primary, old_probe, t.hard_phash, t.hard_dhash)]
    i, j = np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
    i, j = admitted(fp, i, j, t)
    return _media_edges_near(fp, i, j, t, rows_of)


def _media_edges_near(fp: Fingerprints, i: np.ndarray, j: np.ndarray, t: Thresholds,
                      rows_of=None) -> tuple[Edges, list[FrameMatch]]:
    """``media_edges`` on the rows of the media that the row pairs involve, not on the whole table.

    A media's frame count needs all of its rows, and only those: counting
    frames over millions of rows (a unique of the whole table) was the
    largest cost after the join. Row numbers go back to ``fp``'s.
    """
    rows_of = rows_of or _row_finder(fp)
    near = np.sort(rows_of.many(np.unique(np.concatenate([fp.media_id[i], fp.media_id[j]]))))
    sub = fp.take(near)
    frame, frame_count = sub.frames()
    a, b, details, rank, ri, rj = media_edges(sub, np.searchsorted(near, i), np.searchsorted(near, j),
                                              frame, frame_count, t)
    back = lambda r: np.where(r >= 0, near[np.maximum(r, 0)], -1)  # noqa: E731 (-1: a video pair)
    return Edges.of_rows(fp, a, b, rank, back(ri), back(rj)), details


class _Tables:
    """Block indexes of row sets of ``fp``, each built once (the whole rows serve two joins, and the primary rows
    are the same set)."""

    def __init__(self, fp: Fingerprints):
        self.fp, self.built = fp, []

    def index(self, rows: np.ndarray) -> multi_index.BlockIndex:
        for known, index in self.built:
            if known is rows or (len(known) == len(rows) and np.array_equal(known, rows)):
                return index
        index = multi_index.BlockIndex(take(self.fp.phash, rows), take(self.fp.dhash, rows), rows)
        self.built.append((rows, index))
        return index

    def join(self, queries: np.ndarray, table: np.ndarray, rp: int, rd: int,
             exact: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Row pairs (query row, table row) within the pHash64 and dHash64 radii, by the multi-index join
        (``exact=False``: one bit short, as the full clustering's plain joins with Thresholds.exact_join off)."""
        if len(queries) == 0 or len(table) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        q = multi_index.BlockIndex(take(self.fp.phash, queries), take(self.fp.dhash, queries), queries)
        return multi_index.join(q, self.index(table), rp, rd, exact=exact)
