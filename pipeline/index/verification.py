"""Which matched media pairs need a pixel check, and what happens to them (pipeline/media/verify.py).

A pair with a plain match (two plain variants within the thresholds, a
byte-identical copy, a video's frames) or a caption-removed match joins as
before. A pair of stills that only a probe explains (mirror, crop window,
de-rotated centre) joins only when the pixels confirm it: its best row
pairs (plainest kind, then closest pHash) are checked in turn, up to
``MAX_TRIES``, and the first that verifies becomes the pair's edge (so
``via`` reports the transform that was verified, with its score).

Pixels come from a ``pictures`` callable (media ids -> ``Picture``): the
scan's decode of the file, re-read from its path or zip member at cluster
time (pipeline/store/verify_pictures.py does it for a database). When a
media's pixels are unavailable (the file moved or was deleted), its
unverified pairs are NOT joined, and counted (``Verified.unavailable``):
an unconfirmed hard pair is exactly the kind of link that chains two
families. A rebuild with the files back finds them again.

Rebuilds and incremental updates check the same pairs (each is checked
once, when it first appears: an incremental update only sees pairs that
involve a new row), and the check is a pure function of the two pictures,
so embedded and distributed scans give the same clusters. Videos and
animations are not checked (their variants are plain; a frame-share match
is not one row pair).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from hashtrail.pipeline.index.edges import Edges
from hashtrail.pipeline.media import verify as pixel
from hashtrail.pipeline.media.hashing import VARIANTS, VIA_RANK

MAX_TRIES = 2  # row pairs checked per media pair before it is given up
# Pairs through the picture without its caption band join unchecked: the band is found from its
# text, not guessed, and those pairs had no false match on benchmarks/quality.py, while the check
# rejects some of them (captioned copies are rescaled: fine star fields, cells fall below the bar).
# Pairs through a screenshot's inner picture join unchecked for the same reason: the picture is
# found from the UI chrome around it (media/screenshot.py), and its 8,153 pairs on
# benchmarks/quality.py held no false one. The ranks below this one are plain, caption, screenshot.
UNCHECKED_RANK = VIA_RANK["screenshot"]


@dataclasses.dataclass
class Verified:
    edges: Edges  # what joins: plain edges, and one verified edge per verified pair
    score: dict[tuple[int, int], float]  # (a, b) -> worst-tile NCC of each checked pair that joined
    checked: int  # media pairs checked
    rejected: int  # checked and not the same picture
    unavailable: int  # not checked: a side's pixels could not be read (not joined)


@dataclasses.dataclass(frozen=True)
class Rule:
    """Which pairs are checked: hard-only pairs always; plain ones beyond ``plain_phash``/``plain_phash256``.

    A plain pair whose closest variants are within the strict (hard-edit)
    thresholds is a copy by any standard and joins unchecked; one further
    apart (the grey zone, where the plain false pairs of other shots of a
    scene lie: README "Quality") is checked like a hard pair. None: plain
    pairs are never checked.
    """

    plain_phash: int | None = None
    plain_phash256: int | None = None
    version: str = pixel.VERIFIER

    @classmethod
    def from_thresholds(cls, t) -> "Rule":
        return cls(t.hard_phash, t.hard_phash256) if t.verify_plain else cls()


def needs_check(edges: Edges, rule: Rule = Rule()) -> np.ndarray:
    """Per edge: part of a media pair of stills that no unchecked edge explains."""
    if len(edges.a) == 0:
        return np.zeros(0, bool)
    key = edges.a * (int(max(edges.a.max(), edges.b.max())) + 1) + edges.b
    free = edges.rank <= UNCHECKED_RANK
    if rule.plain_phash is not None:
        free &= (edges.code_a < 0) | ((edges.pdist <= rule.plain_phash) & (edges.qdist <= rule.plain_phash256))
    return (edges.code_a >= 0) & ~np.isin(key, np.unique(key[free]))


class _Components:
    """Union-find over media ids: which pairs are already connected (a check there changes no cluster)."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def verify_edges(edges: Edges, pictures: Callable[[list[int]], dict], rule: Rule = Rule(), check=pixel.check,
                 node: Callable[[int], int] | None = None, skip_connected: bool = True) -> Verified:
    """Keep plain edges and the hard ones the pixels confirm (see the module doc).

    Hard pairs are taken plainest first (rank, then pHash distance, then
    ids); a pair whose two media are already connected (by plain edges, by
    pairs verified before it, or by being in one old cluster: ``node`` maps
    a media to its old cluster's id in an incremental update) is not checked, as it could not change a cluster: the
    clusters are those of checking every pair, at the cost of one check per
    media that joins through a hard edge (plus the pairs that fail).
    Such a pair is kept out of the edges (its ``via`` is another's).
    ``skip_connected=False`` checks every pair (benchmarks/quality.py counts pairs).
    """
    todo = needs_check(edges, rule)
    kept = np.nonzero(~todo)[0].tolist()
    hard = np.nonzero(todo)[0]
    if len(hard) == 0:
        return Verified(edges, {}, 0, 0, 0)
    order = hard[np.lexsort((edges.code_b[hard], edges.code_a[hard], edges.b[hard], edges.a[hard],
                             edges.pdist[hard], edges.rank[hard]))]
    node = node or (lambda m: m)
    components = _Components()
    for a, b in zip(edges.a[~todo].tolist(), edges.b[~todo].tolist()):
        components.join(node(a), node(b))
    score: dict[tuple[int, int], float] = {}
    tries: dict[tuple[int, int], int] = {}
    have: dict[int, object] = {}
    asked: set[int] = set()
    checked = rejected = unavailable = 0
    for k in order.tolist():
        pair = (int(edges.a[k]), int(edges.b[k]))
        if pair in score or tries.get(pair, 0) >= MAX_TRIES:
            continue
        if skip_connected and components.find(node(pair[0])) == components.find(node(pair[1])):
            continue
        missing = [m for m in pair if m not in asked]
        if missing:
            have.update(pictures(missing))
            asked.update(missing)
        first = pair not in tries
        pa, pb = have.get(pair[0]), have.get(pair[1])
        if pa is None or pb is None:
            unavailable += first
            tries[pair] = MAX_TRIES
            continue
        checked += first
        tries[pair] = tries.get(pair, 0) + 1
        result = check(pa, VARIANTS[edges.code_a[k]], pb, VARIANTS[edges.code_b[k]])
        if result.verified:
            score[pair] = result.score
            kept.append(k)
            components.join(node(pair[0]), node(pair[1]))
    rejected = checked - len(score)
    keep = np.sort(np.asarray(kept, dtype=np.int64))
    out = Edges(*(getattr(edges, f.name)[keep] for f in dataclasses.fields(Edges)))
    return Verified(out, score, checked, rejected, unavailable)


def apply(edges: Edges, pictures, t, node=None) -> Verified:
    """The check as clustering applies it: only with ``t.verify`` and a source of pictures."""
    if not t.verify or pictures is None:
        return Verified(edges, {}, 0, 0, 0)
    return verify_edges(edges, pictures, Rule.from_thresholds(t), node=node)


def scored_vias(vias: dict, checked: Verified) -> dict:
    """Each hard-edit link with the score its check gave, in its transform text ('..., verified 0.97')."""
    if not checked.score:
        return vias
    out = {}
    for media, via in vias.items():
        score = checked.score.get((min(media, via.media), max(media, via.media)))
        out[media] = via if score is None else dataclasses.replace(
            via, transform=f"{via.transform}, verified {score:.2f}")
    return out


def candidates(edges: Edges, rule: Rule = Rule()) -> list[tuple[int, int, str, str]]:
    """Every check ``verify_edges(..., skip_connected=False)`` may make: (a, b, variant of a, of b)."""
    todo = np.nonzero(needs_check(edges, rule))[0]
    order = todo[np.lexsort((edges.code_b[todo], edges.code_a[todo], edges.b[todo], edges.a[todo],
                             edges.pdist[todo], edges.rank[todo]))]
    count: dict[tuple[int, int], int] = {}
    out = []
    for k in order.tolist():
        pair = (int(edges.a[k]), int(edges.b[k]))
        if count.get(pair, 0) < MAX_TRIES:
            count[pair] = count.get(pair, 0) + 1
            out.append((*pair, VARIANTS[edges.code_a[k]], VARIANTS[edges.code_b[k]]))
    return out


def matching_edge_list(fp, t) -> Edges:
    """Every matching media pair of ``fp`` under ``t`` as Edges (one per admitted row pair), to verify."""
    from hashtrail.pipeline.index.cluster import _edges
    frame, frame_count = fp.frames()
    a, b, _, rank, ri, rj = _edges(fp, np.arange(len(fp.media_id)), frame, frame_count, t)
    return Edges.of_rows(fp, a, b, rank, ri, rj)
