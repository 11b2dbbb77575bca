"""How two media matched: the kind of match of each edge, and each member's best hard-edit link.

Clustering (pipeline/index/cluster.py) and the incremental update
(pipeline/index/incremental.py) find media pairs; each pair also carries
the kind of match it is (``hashing.VIA_RANK``: plain, caption removed,
screenshot, mirror, crop window, rotation) and the variants that met. A member with a
plain match in its cluster is "plain"; the others keep their best hard-edit
link (lowest rank, then lowest partner id, then closest), which is what
``show``, ``clusters`` and ``match`` report as ``via``. The choice is
deterministic so a rebuild and an incremental update agree.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hashtrail.pipeline.index.hamming import distances
from hashtrail.pipeline.media.hashing import VARIANTS, VIA_RANK, is_probe, is_secondary, via_of

# per variant code: a probe (compared with primary rows only), a primary row (not a probe nor a centre
# crop), the rank of the match it stands for (0: plain)
PROBE = np.array([is_probe(n) for n in VARIANTS])
PRIMARY = np.array([not is_probe(n) and not is_secondary(n) for n in VARIANTS])
RANK = np.array([VIA_RANK[via_of(n)] for n in VARIANTS], dtype=np.int8)
# per variant code: a pair with such a row is held to the hard thresholds: the hard-edit variants, and every
# probe (the ``zoom`` probe is a plain match, but like the others one more chance of a false match per image)
STRICT = PROBE | (RANK > 0)
VIA_NAMES = {rank: name for name, rank in VIA_RANK.items()}


@dataclasses.dataclass(frozen=True)
class Via:
    """How a member without a plain match is linked: its best hard-edit match."""

    rank: int
    media: int
    transform: str

    @property
    def name(self) -> str:
        return VIA_NAMES[self.rank]


@dataclasses.dataclass
class Edges:
    """Media pairs that match, each with the kind of match and the variants that matched.

    ``rank`` is hashing.VIA_RANK's (0 plain); ``code_a``/``code_b`` the variant
    codes of the matching row pair (-1 for copies chained by identity and for
    video frame matches), ``pdist`` its pHash64 distance, ``qdist`` its
    256-bit pHash distance (pipeline/index/verification.py checks plain
    pairs beyond the strict thresholds).
    """

    a: np.ndarray
    b: np.ndarray
    rank: np.ndarray
    code_a: np.ndarray
    code_b: np.ndarray
    pdist: np.ndarray
    qdist: np.ndarray

    @classmethod
    def plain(cls, a: np.ndarray, b: np.ndarray) -> "Edges":
        n = len(a)
        return cls(np.asarray(a, np.int64), np.asarray(b, np.int64), np.zeros(n, np.int8), np.full(n, -1, np.int16),
                   np.full(n, -1, np.int16), np.zeros(n, np.int64), np.zeros(n, np.int64))

    @classmethod
    def of_rows(cls, fp: "Fingerprints", a, b, rank, ri, rj) -> "Edges":
        """Edges from media_edges' output: row indices turned into variant codes and distances."""
        codes = fp.codes()
        has = ri >= 0
        ca = np.where(has, codes[np.where(has, ri, 0)], -1).astype(np.int16)
        cb = np.where(has, codes[np.where(has, rj, 0)], -1).astype(np.int16)
        pd = np.where(has, distances(fp.phash[np.where(has, ri, 0)], fp.phash[np.where(has, rj, 0)]), 0)
        qd = np.where(has, distances(fp.phash256[np.where(has, ri, 0)], fp.phash256[np.where(has, rj, 0)]).sum(axis=1)
                      if len(ri) else np.zeros(0, np.int64), 0)
        return cls(np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(rank, np.int8), ca, cb, pd,
                   qd.astype(np.int64))

    @staticmethod
    def join(parts: list["Edges"]) -> "Edges":
        return Edges(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Edges)))


def _expand_probe_copies(fp: Fingerprints, edges: Edges, ri: np.ndarray, rj: np.ndarray, copy_row: np.ndarray,
                         copy_media: np.ndarray) -> Edges:
    """Each edge found through a collapsed probe row, repeated for the other media holding that row."""
    if len(copy_row) == 0:
        return edges
    parts = [edges]
    for mine, theirs, other in ((ri, rj, edges.b), (rj, ri, edges.a)):
        hit = np.nonzero(np.isin(mine, copy_row))[0]
        if len(hit) == 0:
            continue
        lo = np.searchsorted(copy_row, mine[hit], side="left")
        hi = np.searchsorted(copy_row, mine[hit], side="right")
        edge = np.repeat(hit, hi - lo)
        media = copy_media[np.concatenate([np.arange(x, y) for x, y in zip(lo, hi)])]
        partner = other[edge]
        keep = media != partner
        edge, media, partner = edge[keep], media[keep], partner[keep]
        code_mine = (edges.code_a if mine is ri else edges.code_b)[edge]
        code_theirs = (edges.code_b if mine is ri else edges.code_a)[edge]
        low = media < partner
        parts.append(Edges(np.where(low, media, partner), np.where(low, partner, media), edges.rank[edge],
                           np.where(low, code_mine, code_theirs), np.where(low, code_theirs, code_mine),
                           edges.pdist[edge], edges.qdist[edge]))
    return Edges.join(parts)


def member_vias(edges: Edges) -> dict[int, Via]:
    """For each media without a plain match, its best hard-edit match: lowest rank, then partner, then distance.

    Media with a plain match (a copy, a plain variant pair, a video's
    frames) are left out: "plain" explains them. Deterministic, so a
    rebuild and an incremental update agree.
    """
    plain = np.unique(np.concatenate([edges.a[edges.rank == 0], edges.b[edges.rank == 0]]))
    hard = edges.rank > 0
    me = np.concatenate([edges.a[hard], edges.b[hard]])
    other = np.concatenate([edges.b[hard], edges.a[hard]])
    mine = np.concatenate([edges.code_a[hard], edges.code_b[hard]])
    theirs = np.concatenate([edges.code_b[hard], edges.code_a[hard]])
    rank = np.concatenate([edges.rank[hard], edges.rank[hard]])
    pdist = np.concatenate([edges.pdist[hard], edges.pdist[hard]])
    keep = ~np.isin(me, plain)
    me, other, mine, theirs, rank, pdist = (x[keep] for x in (me, other, mine, theirs, rank, pdist))
    order = np.lexsort((theirs, mine, pdist, other, rank, me))
    first = order[np.concatenate(([True], me[order][1:] != me[order][:-1]))] if len(order) else order
    return {int(me[k]): Via(int(rank[k]), int(other[k]), transform_text(int(me[k]), int(mine[k]), int(other[k]),
                                                                          int(theirs[k]))) for k in first}


def transform_text(me: int, mine: int, other: int, theirs: int) -> str:
    """'#3 mirror_full ~ #7 full': which variant of each side matched (hashing.VARIANTS names)."""
    name = lambda code: VARIANTS[code] if code >= 0 else "frames"  # noqa: E731
    return f"#{me} {name(mine)} ~ #{other} {name(theirs)}"
