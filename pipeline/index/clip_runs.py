"""Is this clip cut from that long video, and from where: the ordered-run rule.

A long video (a broadcast) has thousands of frames, so the bag-of-frames
share (``Thresholds.shares``) says nothing about it: a 30 s clip is 1% of
an hour, and a handful of scattered single-frame hits (a title card, a logo,
a studio shot that looks like another) is what two unrelated broadcasts
share. A clip cut from a video shows the video's frames *in the same order,
at the same pace*: every matched frame pair (t in the clip, t' in the long
video) has the same offset t' - t, the instant the clip was cut at.

The rule, for a pair in which either side has more than ``long_frames``
frames (the old per-file cap of 64: shorter pairs keep the share rule, and
stills and one-frame clips keep matching any frame they show):

- each hashed frame stands for the time until the next hashed frame of its
  media (consecutive identical frames are stored once, so a still shot is
  one frame however long it lasts; a clip starts in the middle of one);
- a matched frame pair admits the offsets at which those two stretches
  overlap, widened by ``run_tolerance_s`` (keyframes of a re-encode fall a
  frame or two away, GIF frames on their own grid);
- the run must be dense: at least ``frame_share`` of the shorter side's
  frames within the stretch it spans are in it (a few chance hits minutes
  apart, between two broadcasts of similar pictures, are not a run);
- the pair matches when one offset is admitted by at least ``run_frames``
  (3) distinct pictures of each side (frames that match different frames
  of the other side: a title card held for seconds is several keyframes but
  one picture), or by every frame of the shorter side with at least two
  pictures on each side (a clip of two shots). A shared title card is one
  picture: not enough. The same pictures taken from different places (a
  shuffled set) each admit a different offset: not enough either;
- the offset reported is the median of the run's frame pairs' own offsets
  (t' - t of their first instants), leaving out the shorter side's first
  frame when others remain (a cut starts mid-shot, so that one is early):
  the clip is ``offset`` to ``offset + its duration`` of the long video.

Work per media pair is a sort of its matched frame pairs, vectorised over
all pairs at once.
"""
from __future__ import annotations

import numpy as np


def frame_ends(frame: np.ndarray, media_id: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Per frame id (``Fingerprints.frames``, ordered by media then time): when the next frame of its media starts.

    The last frame of a media ends where it starts.
    """
    n = int(frame.max()) + 1 if len(frame) else 0
    start = np.full(n, np.nan)
    media = np.full(n, -1, dtype=np.int64)
    start[frame], media[frame] = times, media_id
    ends = start.copy()
    same = media[1:] == media[:-1]
    ends[:-1][same] = start[1:][same]
    return ends


def best_runs(pair_of: np.ndarray, n_pairs: int, start_a: np.ndarray, end_a: np.ndarray, frame_a: np.ndarray,
              start_b: np.ndarray, end_b: np.ndarray, frame_b: np.ndarray, of_a: np.ndarray, of_b: np.ndarray,
              run_frames: int, tolerance_s: float, dense: float = 0.5) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray, np.ndarray, np.ndarray]:
    """The ordered run of each media pair.

    Inputs are per matched row pair (``pair_of`` its media pair, 0..n_pairs-1;
    the frames' start and end times and frame ids on sides a and b); ``of_a``
    and ``of_b`` are each pair's frame counts. Returns per pair: whether it
    matches, the offset (time in b - time in a; NaN when no run), the
    distinct pictures of a and of b in the run (``_distinct_pictures``),
    and per row pair whether it belongs to the run.
    """
    n = len(pair_of)
    accepted = np.zeros(n_pairs, dtype=bool)
    offset = np.full(n_pairs, np.nan)
    in_a = np.zeros(n_pairs, dtype=np.int64)
    in_b = np.zeros(n_pairs, dtype=np.int64)
    member = np.zeros(n, dtype=bool)
    if n == 0:
        return accepted, offset, in_a, in_b, member
    # offsets d at which [start_a, end_a] + d overlaps [start_b, end_b], with tolerance
    lo = start_b - end_a - tolerance_s
    hi = end_b - start_a + tolerance_s
    seg_pair, seg_lo, seg_hi = _merged_per_frame(pair_of, frame_a, lo, hi)
    # sweep: +1 at each opening, -1 after each closing; a frame of a counts once wherever it is
    m = len(seg_pair)
    position = np.concatenate([seg_lo, seg_hi])
    step = np.concatenate([np.ones(m, np.int64), -np.ones(m, np.int64)])
    group = np.concatenate([seg_pair, seg_pair])
    order = np.lexsort((-step, position, group))  # openings before closings at one position
    depth = np.cumsum(step[order])  # each pair's steps sum to 0, so the running sum restarts per pair
    g = group[order]
    pick = np.lexsort((depth, g))  # per pair, its deepest point comes last
    last = np.append(g[pick][1:] != g[pick][:-1], True)
    # the middle of that deepest stretch (up to the next event): every counted frame has a
    # matched pair admitting it, and the pairs admitting nearby offsets are in too
    where = np.full(n_pairs, np.nan)
    deepest = pick[last]
    where[g[deepest]] = (position[order][deepest] + position[order][np.minimum(deepest + 1, len(order) - 1)]) / 2
    member = (lo <= where[pair_of]) & (where[pair_of] <= hi)
    rows = np.nonzero(member)[0]
    in_a = _distinct_pictures(pair_of[rows], frame_a[rows], frame_b[rows], n_pairs)
    in_b = _distinct_pictures(pair_of[rows], frame_b[rows], frame_a[rows], n_pairs)
    # or the whole shorter side is in the run (a clip of two shots), with two pictures on each side
    whole = np.where(of_a <= of_b, distinct_per_group(pair_of[rows], frame_a[rows], n_pairs) >= of_a,
                     distinct_per_group(pair_of[rows], frame_b[rows], n_pairs) >= of_b)
    accepted = ((in_a >= run_frames) & (in_b >= run_frames)) | (whole & (in_a >= 2) & (in_b >= 2))
    # and dense: within the stretch the run spans, most of the shorter side's frames are in it
    # (frame ids run in time order within a media), not a few chance hits minutes apart
    accepted &= _density(pair_of[rows], np.where((of_a <= of_b)[pair_of[rows]], frame_a[rows], frame_b[rows]),
                         n_pairs) >= dense - 1e-9
    member &= accepted[pair_of]
    offset = _run_offsets(pair_of, start_a, start_b, member, of_a <= of_b, n_pairs)
    return accepted, offset, in_a, in_b, member


def _merged_per_frame(pair_of, frame_a, lo, hi):
    """Per (media pair, frame of a): the union of its admitted offset intervals, as disjoint segments."""
    order = np.lexsort((lo, frame_a, pair_of))
    p, f, lo, hi = pair_of[order], frame_a[order], lo[order], hi[order]
    new_group = np.ones(len(p), dtype=bool)
    new_group[1:] = (p[1:] != p[:-1]) | (f[1:] != f[:-1])
    rank = np.cumsum(new_group).astype(np.float64)
    span = float(np.nanmax(np.abs(np.concatenate([lo, hi])))) * 4 + 1.0
    reach = np.maximum.accumulate(hi + rank * span) - rank * span  # running max of hi within the group
    opens = new_group.copy()
    opens[1:] |= lo[1:] > reach[:-1]
    seg = np.cumsum(opens) - 1
    seg_hi = np.full(int(opens.sum()), -np.inf)
    np.maximum.at(seg_hi, seg, hi)
    return p[opens], lo[opens], seg_hi


def _density(group: np.ndarray, frame: np.ndarray, n: int) -> np.ndarray:
    """Per group: distinct frame ids / the id range they span (ids are consecutive in time within a media)."""
    out = np.zeros(n)
    if len(group) == 0:
        return out
    lo = np.full(n, np.iinfo(np.int64).max)
    hi = np.full(n, -1)
    np.minimum.at(lo, group, frame)
    np.maximum.at(hi, group, frame)
    present = hi >= 0
    out[present] = distinct_per_group(group, frame, n)[present] / (hi[present] - lo[present] + 1)
    return out


def distinct_per_group(group: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """How many distinct values each group (0 <= group < n) has: one np.sort of int64 keys when they fit."""
    if len(group) == 0:
        return np.zeros(n, dtype=np.int64)
    value = np.asarray(value, dtype=np.int64)
    low = int(value.min())
    span = int(value.max()) - low + 1
    if float(n) * span >= 2.0 ** 62:  # beyond any real archive: rows as records
        distinct = np.unique(np.column_stack([group, value]), axis=0)
        return np.bincount(distinct[:, 0], minlength=n)
    keys = _sorted_distinct(np.sort(np.asarray(group, dtype=np.int64) * span + (value - low)))
    return np.bincount(keys // span, minlength=n)


def _distinct_pictures(group: np.ndarray, frame: np.ndarray, partner: np.ndarray, n: int) -> np.ndarray:
    """Per group: its frames that match different frames of the other side (their first partner differs).

    Two near-identical frames of one side (a title card held for seconds:
    its keyframes differ by a few bits) that match the same frames of the
    other count once: they are one picture, not a run.

    Runs on every video row pair of a clustering, so it sorts int64 keys
    (group, frame, partner), then (group, first partner), with np.sort, never
    rows as records: ``np.unique(axis=0)`` of three columns was the slowest
    step after the join at 2M media, and ``np.unique``'s inverse (an argsort)
    with ``np.minimum.at`` four times this.
    """
    if len(group) == 0:
        return np.zeros(n, dtype=np.int64)
    group, frame, partner = (np.asarray(c, dtype=np.int64) for c in (group, frame, partner))
    frame, partner = frame - frame.min(), partner - partner.min()  # from 0 (a query's frames are negative ids)
    frames, parts = int(frame.max()) + 1, int(partner.max()) + 1
    if float(n) * frames * parts >= 2.0 ** 62:  # beyond any real archive: rows as records
        key = np.unique(np.column_stack([group, frame, partner]), axis=0)  # sorted: first partner first
        first = np.ones(len(key), dtype=bool)
        first[1:] = (key[1:, 0] != key[:-1, 0]) | (key[1:, 1] != key[:-1, 1])
        distinct = np.unique(key[first][:, [0, 2]], axis=0)
        return np.bincount(distinct[:, 0], minlength=n)
    # one sort of (group, frame, partner) keys: each (group, frame) run starts at its first partner
    key = np.sort((group * frames + frame) * parts + partner)
    own = key // parts
    first = _run_starts(own)
    pictures = _sorted_distinct(np.sort((own[first] // frames) * parts + key[first] % parts))
    return np.bincount(pictures // parts, minlength=n)


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    first = np.ones(len(sorted_keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first


def _sorted_distinct(sorted_keys: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (np.unique sorts again, and with an inverse, argsorts)."""
    return sorted_keys[_run_starts(sorted_keys)]


def _run_offsets(pair_of, start_a, start_b, member, a_shorter, n_pairs) -> np.ndarray:
    """Median own offset of each run's frame pairs, without the shorter side's first frame when others remain."""
    offset = np.full(n_pairs, np.nan)
    rows = np.nonzero(member)[0]
    if len(rows) == 0:
        return offset
    p = pair_of[rows]
    own = (start_b - start_a)[rows]
    short_time = np.where(a_shorter[p], start_a[rows], start_b[rows])
    order = np.lexsort((short_time, p))
    p, own, short_time = p[order], own[order], short_time[order]
    first_time = np.full(n_pairs, np.inf)
    np.minimum.at(first_time, p, short_time)
    later = short_time > first_time[p]
    has_later = np.zeros(n_pairs, dtype=bool)
    has_later[p[later]] = True
    use = later | ~has_later[p]
    p, own = p[use], own[use]
    order = np.lexsort((own, p))
    p, own = p[order], own[order]
    starts = np.searchsorted(p, np.arange(n_pairs), side="left")
    ends = np.searchsorted(p, np.arange(n_pairs), side="right")
    present = ends > starts
    lo_mid = (starts + ends - 1) // 2
    hi_mid = (starts + ends) // 2
    offset[present] = (own[lo_mid[present]] + own[hi_mid[present]]) / 2
    return offset


def runs_of_pairs(frame: np.ndarray, media_id: np.ndarray, times: np.ndarray, vi: np.ndarray, vj: np.ndarray,
                  pair_of: np.ndarray, pairs: np.ndarray, of_a: np.ndarray, of_b: np.ndarray, run_frames: int,
                  tolerance_s: float, dense: float = 0.5):
    """``best_runs`` of the media pairs flagged in ``pairs``, from their admitted row pairs (vi, vj).

    ``frame``, ``media_id`` and ``times`` are per row of the whole table
    (``Fingerprints.frames``); returns best_runs' per-pair arrays (meaningful
    for flagged pairs) and per row pair whether it is in its pair's run.
    """
    rows = np.nonzero(pairs[pair_of])[0]
    ends = frame_ends(frame, media_id, times)
    i, j = vi[rows], vj[rows]
    accepted, offset, in_a, in_b, member_rows = best_runs(
        pair_of[rows], len(pairs), times[i], ends[frame[i]], frame[i], times[j], ends[frame[j]], frame[j],
        of_a, of_b, run_frames, tolerance_s, dense)
    member = np.zeros(len(vi), dtype=bool)
    member[rows] = member_rows
    return accepted & pairs, offset, in_a, in_b, member


def cut(offset_s: float | None, a, duration_a: float | None, b, duration_b: float | None) -> dict | None:
    """Where the shorter of a and b lies in the longer, from a run's offset (time in b - time in a).

    ``a`` and ``b`` name the two (media ids, or "query"); None when the pair
    was not matched by an ordered run.
    """
    if offset_s is None or (isinstance(offset_s, float) and np.isnan(offset_s)):
        return None
    if (duration_a or 0.0) <= (duration_b or 0.0):
        clip, of, start, length = a, b, offset_s, duration_a
    else:
        clip, of, start, length = b, a, -offset_s, duration_b
    return {"clip": clip, "of": of, "start_s": round(start, 1), "end_s": round(start + (length or 0.0), 1)}


def more_than_one_picture(pair_of: np.ndarray, frame_a: np.ndarray, frame_b: np.ndarray, n_pairs: int,
                          matched_a: np.ndarray, of_a: np.ndarray, matched_b: np.ndarray,
                          of_b: np.ndarray) -> np.ndarray:
    """Per pair of two short videos: what they share is more than one picture, or all of one of them.

    The share rule (``Thresholds.shares``) counts frames, and a channel's
    title card held for seconds is several frames: two different short
    clips that both open with it share half the frames of a three-frame GIF.
    Counted as pictures (``_distinct_pictures``: frames that match different
    frames of the other side), the card is one. So a short pair must share
    at least two pictures on each side, or every frame of one side (a GIF of
    one shot, a clip that is only the card: that side *is* what the other shows).
    """
    in_a = _distinct_pictures(pair_of, frame_a, frame_b, n_pairs)
    in_b = _distinct_pictures(pair_of, frame_b, frame_a, n_pairs)
    return shares_pictures(in_a, in_b, matched_a, of_a, matched_b, of_b)


def shares_pictures(pictures_a: np.ndarray, pictures_b: np.ndarray, matched_a: np.ndarray, of_a: np.ndarray,
                    matched_b: np.ndarray, of_b: np.ndarray) -> np.ndarray:
    """``more_than_one_picture``'s rule, from pictures already counted (clustering: frame_pairs.counts)."""
    return ((pictures_a >= 2) & (pictures_b >= 2)) | (matched_a >= of_a) | (matched_b >= of_b)
