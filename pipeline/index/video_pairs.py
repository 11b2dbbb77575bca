"""Media pairs that involve a video or an animation: enough matching frames, and which frames matched.

Clustering (cluster.media_edges) hands over the admitted row pairs whose
media are not both stills; here they are grouped by media pair, counted
frame by frame (frame_pairs.py), held to the share, two-picture and
ordered-run rules (Thresholds, clip_runs.py), and the accepted pairs get
their frame details (``FrameMatch``: example times, a clip's offset, a
still's place in a long video).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hashtrail.pipeline.index import clip_runs, frame_pairs, still_time
from hashtrail.pipeline.index.gathers import take


@dataclasses.dataclass(frozen=True)
class FrameMatch:
    """Why two media, at least one of them a video or animation, joined: which frames matched."""

    media_a: int
    media_b: int
    frames_a: int  # frames of a with a match in b
    of_a: int  # frames a has
    frames_b: int
    of_b: int
    times: list  # up to MAX_EXAMPLE_TIMES [time in a, time in b] pairs (None for a still), best first
    # an ordered run's time in b - time in a (clip_runs.py), or for a still in a long video the time of
    # its closest frame (signed the same way: the still is at 0; still_time.py); None: share rule
    offset_s: float | None = None
    also_at: list | None = None  # a still in a long video: other times it fits nearly as well (still_time.py)


MAX_EXAMPLE_TIMES = 5


def frame_time(value: float) -> float | None:
    """A frame's time for output: None for a still (NaN in the columns)."""
    return None if np.isnan(value) else float(value)


VIDEO_PAIR_ROWS = 1 << 23  # video row pairs whose frame counts are taken at once (~1 GB of temporaries)

# frame details kept per media: those of its MATCHES_KEPT closest partners (most of both sides' frames matched).
# A family of 2,000 near-identical reposts of one video has 2M media pairs; their details as objects took 35 s and
# 3 GB at 2M media, and no page shows a member's two-thousandth match (``show`` and the web page list 3).
MATCHES_KEPT = 16


@dataclasses.dataclass
class _Details:
    """Frame details of accepted media pairs as columns; objects (FrameMatch) are made only for those kept."""

    ids: np.ndarray  # (pairs, 2) media a, b
    counts: np.ndarray  # (pairs, 4) frames_a, of_a, frames_b, of_b
    offset: np.ndarray  # (pairs,) NaN: none
    times_a: np.ndarray  # (pairs, MAX_EXAMPLE_TIMES) example times in a (NaN: a still; inf: an empty slot)
    times_b: np.ndarray
    placed: dict  # pair -> (times, offset_s, also_at): a still in a long video (still_time.places)

    @staticmethod
    def join(parts: list["_Details"]) -> "_Details":
        placed, base = {}, 0
        for part in parts:
            placed.update({base + p: v for p, v in part.placed.items()})
            base += len(part.ids)
        return _Details(*(np.concatenate([getattr(d, f) for d in parts])
                          for f in ("ids", "counts", "offset", "times_a", "times_b")), placed)

    def matches(self, rank: np.ndarray) -> list[FrameMatch]:
        """FrameMatch objects for the pairs among each media's MATCHES_KEPT closest partners.

        Only pairs that have details compete: one with no example (a still in
        a long video that was not placed) must not take a partner's place.
        """
        placed = np.zeros(len(self.ids), dtype=bool)
        placed[list(self.placed)] = True
        candidates = np.flatnonzero(placed | (self.times_a[:, 0] != np.inf))
        keep = closest_partners(self.ids[candidates, 0], self.ids[candidates, 1], self.counts[candidates],
                                rank[candidates], MATCHES_KEPT)
        chosen = candidates[keep]
        regular = chosen[~placed[chosen]]
        ids, counts = self.ids[regular].tolist(), self.counts[regular].tolist()
        # one tolist a column, not numpy scalars a frame
        ta_s, tb_s, offsets = self.times_a[regular].tolist(), self.times_b[regular].tolist(), \
            self.offset[regular].tolist()
        out = [FrameMatch(a, b, fa, na, fb, nb,
                          [[None if x != x else x, None if y != y else y] for x, y in zip(xs, ys) if x != np.inf],
                          None if off != off else round(off, 3))
               for (a, b), (fa, na, fb, nb), xs, ys, off in zip(ids, counts, ta_s, tb_s, offsets)]
        for p in chosen[placed[chosen]].tolist():
            example, at, also = self.placed[p]
            out.append(FrameMatch(int(self.ids[p, 0]), int(self.ids[p, 1]), *map(int, self.counts[p]),
                                  example, at, also))
        return out


def closest_partners(a: np.ndarray, b: np.ndarray, counts: np.ndarray, rank: np.ndarray, kept: int) -> np.ndarray:
    """Per media pair (a, b), whether it is among the ``kept`` closest partners of a or of b.

    Closest: the largest share of frames matched, both sides' shares summed
    (a clip inside a long video counts its whole self and a sliver of the
    video), then the plainer kind of match (``rank``), then the earlier pair.
    """
    n = len(a)
    if n == 0:
        return np.zeros(0, dtype=bool)
    share = counts[:, 0] / np.maximum(counts[:, 1], 1) + counts[:, 2] / np.maximum(counts[:, 3], 1)
    pair = np.concatenate([np.arange(n), np.arange(n)])
    end = np.concatenate([a, b])
    order = np.lexsort((pair, np.concatenate([rank, rank]), -np.concatenate([share, share]), end))
    end = end[order]
    starts = np.flatnonzero(np.r_[True, end[1:] != end[:-1]])
    place = np.arange(len(end)) - np.repeat(starts, np.diff(np.r_[starts, len(end)]))
    keep = np.zeros(n, dtype=bool)
    keep[pair[order][place < kept]] = True
    return keep


def edges(fp, vi: np.ndarray, vj: np.ndarray, rank: np.ndarray, frame: np.ndarray, frame_count: np.ndarray, t):
    """The accepted media pairs among row pairs that involve a video, with their ranks and frame details.

    ``vi``/``vj`` must hold every admitted row pair of the media they
    involve, each turned so that its media a < media b (cluster.media_edges),
    or the frame shares come out too low. Counted in parts of about
    VIDEO_PAIR_ROWS row pairs, by media a.
    Frame details are kept for each media's MATCHES_KEPT closest partners.
    """
    found = [_video_edges(fp, take(vi, part), take(vj, part), rank[part], frame, frame_count, t)
             for part in _media_parts(fp.media_id, vi, VIDEO_PAIR_ROWS)]
    details = _Details.join([d for d, _ in found])
    video_rank = np.concatenate([r for _, r in found])
    return details.ids[:, 0], details.ids[:, 1], details.matches(video_rank), video_rank


def _media_parts(media_id: np.ndarray, vi: np.ndarray, rows: int) -> list[np.ndarray]:
    """Indexes of row pairs (``vi``: their first rows) in parts of about ``rows``, all of one media a in a part.

    A video reposted a thousand times gives tens of millions of frame row
    pairs; counting their frames at once took 4 GB more at 2M media. A media
    pair's rows all have its media a, so parts by media a keep each pair whole.
    """
    if len(vi) <= rows:
        return [np.arange(len(vi))]
    media = take(media_id, vi)
    order = frame_pairs.stable_order(media)
    by_media = take(media, order)
    del media
    cuts = np.searchsorted(by_media, by_media[rows::rows], side="left")
    return [part for part in np.split(order, np.unique(cuts)) if len(part)]


def _video_edges(fp, vi: np.ndarray, vj: np.ndarray, rank: np.ndarray, frame: np.ndarray,
                 frame_count: np.ndarray, t) -> tuple[_Details, np.ndarray]:
    """The accepted media pairs among row pairs that involve a video (all rows of each media pair): their
    details (media ids, frame counts, examples) and ranks."""
    groups = frame_pairs.group_pairs(fp.media_id[vi], fp.media_id[vj])
    pair_ids, pair_of = groups.pair_ids, groups.pair_of
    matched_a, matched_b, pictures_a, pictures_b = frame_pairs.counts(groups, frame, vi, vj)
    first = groups.first_rows()
    of_a, of_b = frame_count[vi[first]], frame_count[vj[first]]
    accepted = t.shares(matched_a, of_a, matched_b, of_b)
    if t.short_pictures:  # two short videos: more than one shared picture, or all of one (clip_runs.py)
        accepted &= clip_runs.shares_pictures(pictures_a, pictures_b, matched_a, of_a, matched_b, of_b)
    offset, in_run = np.full(len(pair_ids), np.nan), np.ones(len(vi), dtype=bool)
    run_pairs = t.needs_run(of_a, of_b)
    if run_pairs.any():
        ok, offset, run_a, run_b, member = clip_runs.runs_of_pairs(
            frame, fp.media_id, fp.times(), vi, vj, pair_of, run_pairs, of_a, of_b, t.run_frames, t.run_tolerance_s,
            t.frame_share)
        accepted = np.where(run_pairs, ok, accepted)
        matched_a, matched_b = np.where(run_pairs, run_a, matched_a), np.where(run_pairs, run_b, matched_b)
        in_run = ~run_pairs[pair_of] | member
    video_rank = groups.minimum(rank)
    details = _details(fp, vi, vj, groups, in_run, np.flatnonzero(accepted), matched_a, of_a, matched_b, of_b,
                       offset, t.still_in_long(of_a, of_b), frame, t.still_also_bits)
    return details, video_rank[accepted]


def _details(fp, vi, vj, groups: frame_pairs.Groups, in_run, accepted: np.ndarray, matched_a, of_a, matched_b,
             of_b, offset: np.ndarray, still_long: np.ndarray, frame: np.ndarray, margin: int = 0) -> _Details:
    """The ``accepted`` pairs' (indexes into ``groups``) frame counts, and up to MAX_EXAMPLE_TIMES distinct
    matched (time, time) pairs each, closest first.

    Only row pairs ``in_run`` are examples (for a pair matched by an ordered
    run, those in its run). A still in a long video (``still_long``, per
    pair) gets one: its closest frame's (still_time.py), which is also its
    ``offset_s``, and the other times it fits within ``margin`` bits as
    ``also_at``. Compiled, pair by pair (frame_pairs.examples): a video
    reposted many times gives millions of row pairs.
    """
    is_accepted = np.zeros(len(groups), dtype=bool)
    is_accepted[accepted] = True
    placed: dict[int, tuple] = {}
    if (still_long & is_accepted).any():
        keep = (is_accepted & still_long)[groups.pair_of]
        placed = still_time.places(fp, vi[keep], vj[keep], groups.pair_of[keep], still_long, frame,
                                   len(groups), margin)
    times = fp.times()
    wanted = is_accepted & ~still_long
    chosen = frame_pairs.examples(groups, fp.phash, vi, vj, times, in_run & wanted[groups.pair_of], wanted,
                                  MAX_EXAMPLE_TIMES)[accepted]
    safe = np.maximum(chosen, 0)
    slot = (chosen >= 0) & wanted[accepted][:, None]
    return _Details(groups.pair_ids[accepted], np.stack([matched_a, of_a, matched_b, of_b], 1)[accepted],
                    offset[accepted], np.where(slot, times[vi[safe]], np.inf), np.where(slot, times[vj[safe]], np.inf),
                    {int(np.searchsorted(accepted, p)): v for p, v in placed.items() if is_accepted[p]})
