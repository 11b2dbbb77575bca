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


def edges(fp, vi: np.ndarray, vj: np.ndarray, rank: np.ndarray, media_a: np.ndarray, frame: np.ndarray,
          frame_count: np.ndarray, t):
    """The accepted media pairs among row pairs that involve a video, with their ranks and frame details.

    ``vi``/``vj`` must hold every admitted row pair of the media they
    involve (``media_a``: each pair's media a), or the frame shares come out
    too low. Counted in parts of about VIDEO_PAIR_ROWS row pairs, by media a.
    """
    found = [_video_edges(fp, vi[part], vj[part], rank[part], frame, frame_count, t)
             for part in _media_parts(media_a, VIDEO_PAIR_ROWS)]
    return (np.concatenate([a for a, _, _, _ in found]), np.concatenate([b for _, b, _, _ in found]),
            [d for _, _, details, _ in found for d in details], np.concatenate([r for _, _, _, r in found]))


def _media_parts(media: np.ndarray, rows: int) -> list[np.ndarray]:
    """Indexes of ``media`` in parts of about ``rows``, all of one media in the same part.

    A video reposted a thousand times gives tens of millions of frame row
    pairs; counting their frames at once took 4 GB more at 2M media. A media
    pair's rows all have its media a, so parts by media a keep each pair whole.
    """
    if len(media) <= rows:
        return [np.arange(len(media))]
    order = frame_pairs.stable_order(media)
    cuts = np.searchsorted(media[order], media[order][np.arange(rows, len(media), rows)], side="left")
    return [part for part in np.split(order, np.unique(cuts)) if len(part)]


def _video_edges(fp: Fingerprints, vi: np.ndarray, vj: np.ndarray, rank: np.ndarray, frame: np.ndarray,
                 frame_count: np.ndarray, t: Thresholds):
    """The accepted media pairs among row pairs that involve a video (all rows of each media pair), and details."""
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
    details = _details(fp, vi, vj, groups, in_run, accepted, matched_a, of_a, matched_b, of_b, offset,
                       t.still_in_long(of_a, of_b), frame, t.still_also_bits)
    video_rank = groups.minimum(rank)
    return pair_ids[accepted, 0], pair_ids[accepted, 1], details, video_rank[accepted]


def _details(fp, vi, vj, groups: frame_pairs.Groups, in_run, accepted, matched_a, of_a, matched_b, of_b,
             offset: np.ndarray, still_long: np.ndarray, frame: np.ndarray, margin: int = 0) -> list[FrameMatch]:
    """Up to MAX_EXAMPLE_TIMES distinct matched (time, time) pairs per accepted media pair, closest first.

    Only row pairs ``in_run`` are examples (for a pair matched by an ordered
    run, those in its run). A still in a long video (``still_long``, per
    pair) gets one: its closest frame's (still_time.py), which is also its
    ``offset_s``, and the other times it fits within ``margin`` bits as
    ``also_at``. Compiled, pair by pair (frame_pairs.examples): a video
    reposted many times gives millions of row pairs.
    """
    placed: dict[int, tuple] = {}
    if still_long.any():
        keep = (accepted & still_long)[groups.pair_of]
        placed = still_time.places(fp, vi[keep], vj[keep], groups.pair_of[keep], still_long, frame,
                                   len(groups), margin)
    times = fp.times()
    wanted = accepted & ~still_long
    chosen = frame_pairs.examples(groups, fp.phash, vi, vj, times, in_run & wanted[groups.pair_of], wanted,
                                  MAX_EXAMPLE_TIMES)
    listed = np.flatnonzero(chosen[:, 0] >= 0)
    # the examples as lists: one tolist a column, not numpy scalars a frame (a video reposted a thousand times
    # has millions)
    picked = chosen[listed]
    safe = np.maximum(picked, 0)
    ta_s = np.where(picked >= 0, times[vi[safe]], np.inf).tolist()  # inf: no example in this slot
    tb_s = np.where(picked >= 0, times[vj[safe]], np.inf).tolist()
    ids, counts = groups.pair_ids[listed].tolist(), np.stack([matched_a, of_a, matched_b, of_b], 1)[listed].tolist()
    offsets = offset[listed].tolist()
    out = [FrameMatch(a, b, fa, na, fb, nb,
                      [[None if x != x else x, None if y != y else y] for x, y in zip(xs, ys) if x != np.inf],
                      None if off != off else round(off, 3))
           for (a, b), (fa, na, fb, nb), xs, ys, off in zip(ids, counts, ta_s, tb_s, offsets)]
    for p, (example, at, also) in placed.items():
        out.append(FrameMatch(int(groups.pair_ids[p, 0]), int(groups.pair_ids[p, 1]), int(matched_a[p]),
                              int(of_a[p]), int(matched_b[p]), int(of_b[p]), example, at, also))
    return out


