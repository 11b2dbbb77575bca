"""How fingerprints group into clusters of reused media.

A plain function from fingerprints to cluster assignments, as in perception:
1. candidate pairs: fingerprint variants within the 64-bit pHash threshold;
2. confirmation: the same pair of variants must also be within the dHash
   and the 256-bit pHash thresholds, and not be two centre crops. Single
   64-bit hashes let smooth photos and other shots of one scene through, and
   connected components then chain those few false pairs into giant
   clusters; the 256-bit pHash sees finer detail and stops them
   (benchmarks/quality.py: clustered precision 0.1 without it, 0.9 with);
   hard-edit probes (mirrors, crop windows, de-rotated centres) are only
   compared with other media's primary variants, at the stricter hard
   thresholds and with equal aspect ratios; each pair keeps the kind of
   match it is (pipeline/index/edges.py: ``via``);
3. videos and animations are bags of frames, each hashed like a still:
   two of them match when at least ``frame_share`` of one side's frames
   match frames of the other (a clip cut from a longer video matches it, a
   shared intro card alone does not join two videos); a still matches a
   video or GIF that has its frame;
4. byte-identical files (same SHA-256) always join, even when too flat to hash;
5. connected components (scipy's, not a hand-rolled union-find).

A cluster's id is the smallest media id in it, so a cluster that gains no
members keeps its id across re-clustering, and the first-scanned member is
its representative; each member's distance is its best pHash distance to
the representative.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit, prange
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from hashtrail.pipeline.index import gathers, multi_index, spanning, video_pairs
from hashtrail.pipeline.index.hamming import distances
from hashtrail.pipeline.index.row_distances import pair_distances
from hashtrail.pipeline.index.edges import (  # noqa: F401 (re-exported for search and incremental)
    PRIMARY,
    PROBE,
    RANK,
    STRICT,
    VIA_NAMES,
    Edges,
    Via,
    _expand_probe_copies,
    member_vias,
    transform_text,
)
from hashtrail.pipeline.index.video_pairs import FrameMatch, frame_time  # noqa: F401 (re-exported)
from hashtrail.pipeline.media.hashing import VARIANT_CODE, VIA_RANK



@dataclasses.dataclass(frozen=True)
class Fingerprints:
    """Columns of the fingerprint table: one row per hashed variant (of a frame, for videos)."""

    media_id: np.ndarray  # int64
    phash: np.ndarray  # uint64
    dhash: np.ndarray  # uint64
    phash256: np.ndarray  # uint64, shape (n, 4)
    secondary: np.ndarray  # bool: a centre-crop variant
    time_s: np.ndarray | None = None  # float: the frame's time in a video or animation, NaN for stills
    variant: np.ndarray | None = None  # int16: index in hashing.VARIANTS; None: full (centre where secondary)
    aspect: np.ndarray | None = None  # float: width / height of the hashed picture, NaN if unknown

    @classmethod
    def empty(cls) -> "Fingerprints":
        z = np.zeros(0, dtype=np.uint64)
        return cls(np.zeros(0, dtype=np.int64), z, z, np.zeros((0, 4), dtype=np.uint64), np.zeros(0, dtype=bool),
                   np.zeros(0), np.zeros(0, dtype=np.int16), np.zeros(0))

    def times(self) -> np.ndarray:
        return self.time_s if self.time_s is not None else np.full(len(self.media_id), np.nan)

    def codes(self) -> np.ndarray:
        """Each row's variant code (hashing.VARIANTS): rows made without codes are full or centre."""
        if self.variant is not None:
            return self.variant
        return np.where(self.secondary, VARIANT_CODE["center"], VARIANT_CODE["full"]).astype(np.int16)

    def aspects(self) -> np.ndarray:
        return self.aspect if self.aspect is not None else np.full(len(self.media_id), np.nan)

    def take(self, rows: np.ndarray) -> "Fingerprints":
        """These rows' fingerprints (gathered on all cores: a take of 12M rows is a second on one)."""
        return Fingerprints(*(gathers.take(column, rows) for column in (
            self.media_id, self.phash, self.dhash, self.phash256, self.secondary, self.times(), self.codes(),
            self.aspects())))

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row: a frame id (rows of one frame of one media share it) and its media's frame count."""
        if self.time_s is None or np.isnan(self.time_s).all():  # stills only: one frame per media
            return self.media_id, np.ones(len(self.media_id), dtype=np.int64)
        millis = np.where(np.isnan(self.times()), -1, np.round(self.times() * 1000)).astype(np.int64)
        # one int64 key per (media, frame time): 1-D unique is far cheaper than unique(axis=0)
        key = (self.media_id << np.int64(28)) | (millis + 1)
        if len(key) and bool(np.all(key[1:] >= key[:-1])):  # rows as scans write them: by media, frames in time
            new = np.r_[True, key[1:] != key[:-1]]
            frame = np.cumsum(new) - 1
            media_of_frame = self.media_id[new]
            first = np.r_[True, media_of_frame[1:] != media_of_frame[:-1]]  # a media's first frame
            starts = np.flatnonzero(first)
            counts = np.diff(np.r_[starts, len(media_of_frame)])
            return frame, counts[(np.cumsum(first) - 1)[frame]]
        frames_sorted, frame = np.unique(key, return_inverse=True)
        frame = frame.reshape(-1)
        media_of_frame = frames_sorted >> np.int64(28)
        ids, counts = np.unique(media_of_frame, return_counts=True)
        return frame, counts[np.searchsorted(ids, self.media_id)]


@dataclasses.dataclass(frozen=True)
class Thresholds:
    phash: int
    dhash: int
    phash256: int
    frame_share: float = 0.5
    # pairs that only a hard-edit variant (mirror, window, caption, rotation) explains: stricter,
    # as each image brings ~20 such variants, each a chance of a false match
    hard_phash: int = 10
    hard_dhash: int = 12
    hard_phash256: int = 56
    # a hard-edit pair's two pictures must have the same shape within this share: a one-sided crop
    # window lines up with a copy cut that much, while another shot of the scene (a pan, the other
    # camera of a stereo pair) keeps the original's shape and so differs by a window's cut (>= 6%)
    aspect_tolerance: float = 0.045
    # crop windows (one-sided crops, square cuts) join clusters; off: only ``match`` uses them
    crop_windows: bool = True
    # a pair with a side of more than this many frames is matched by ordered runs (clip_runs.py)
    long_frames: int = 64
    run_frames: int = 3  # distinct pictures of each side in the run (or all of the shorter side's frames)
    run_tolerance_s: float = 1.0  # slack on the frames' time stretches when their offsets are compared
    short_pictures: bool = True  # two short videos must share two pictures or all of one (clip_runs.py)
    still_also_bits: int = 6  # a still in a long video: other shots this close to the best are listed (still_time.py)
    # pixel check (pipeline/index/verification.py) of pairs only a hard edit explains; ``verify_plain``:
    # also of plain pairs beyond the hard thresholds (the grey zone)
    verify: bool = False
    verify_plain: bool = False
    # off: the plain joins' multi-index searches one bit short of exact (multi_index.join(exact=False)), missing
    # the pairs at exactly ``phash`` bits that split evenly over its blocks (2.25% of those) for 0.61x the
    # comparisons. On here, as the rule is written; the settings (join_exact) turn it off by default. (The probes'
    # join stays exact: one bit short there saved 3% of a clustering at 2M media and took the recall of the exact
    # join's row pairs from 0.9995 to 0.9984, as many probe pairs lie at exactly ``hard_phash``.)
    exact_join: bool = True

    @classmethod
    def from_settings(cls, settings) -> "Thresholds":
        return cls(settings.phash_threshold, settings.dhash_threshold, settings.phash256_threshold,
                   settings.frame_share, min(settings.hard_phash_threshold, settings.phash_threshold),
                   min(settings.hard_dhash_threshold, settings.dhash_threshold),
                   min(settings.hard_phash256_threshold, settings.phash256_threshold),
                   crop_windows=settings.cluster_crop_windows, long_frames=settings.max_frames,
                   run_frames=settings.clip_run_frames, run_tolerance_s=settings.clip_run_tolerance_s,
                   still_also_bits=settings.still_also_bits,
                   verify=settings.verify_hard, verify_plain=settings.verify_hard and settings.verify_plain,
                   exact_join=settings.join_exact)

    def admits(self, phash: np.ndarray, dhash: np.ndarray, phash256: np.ndarray,
               both_centre: np.ndarray, hard: np.ndarray | bool = False,
               aspect_a: np.ndarray | float = np.nan, aspect_b: np.ndarray | float = np.nan) -> np.ndarray:
        """The matching rule on distances of variant pairs: the one place it is written.

        ``hard``: the pair involves a hard-edit variant (``rank`` > 0) or a probe
        (edges.STRICT), held to the hard thresholds. Clustering (``matching_pairs``) and query by example
        (search.py) both ask it.
        """
        if np.ndim(hard) and np.ndim(phash) and len(phash) > 4096:  # the strict test only where it applies
            out = self.admits(phash, dhash, phash256, both_centre, False)
            rows = np.flatnonzero(hard)
            pick = (lambda v: v[rows] if np.ndim(v) else v)  # noqa: E731
            out[rows] = self.admits(phash[rows], dhash[rows], phash256[rows], pick(both_centre), True,
                                    pick(aspect_a), pick(aspect_b))
            return out
        plain = (phash <= self.phash) & (dhash <= self.dhash) & (phash256 <= self.phash256)
        strict = (phash <= self.hard_phash) & (dhash <= self.hard_dhash) & (phash256 <= self.hard_phash256)
        with np.errstate(invalid="ignore", divide="ignore"):
            shape = np.abs(np.log(np.asarray(aspect_a, dtype=np.float64) / aspect_b)) <= np.log1p(self.aspect_tolerance)
        strict &= shape | np.isnan(aspect_a) | np.isnan(aspect_b)  # unknown shape (old rows): hashes decide
        return np.where(hard, strict, plain) & ~both_centre

    def probes(self) -> np.ndarray:
        """Per variant code: the probes this rule uses (all, or all but the crop windows)."""
        return PROBE & ((RANK != VIA_RANK["crop window"]) | self.crop_windows)

    def shares(self, matched_a: np.ndarray, frames_a: np.ndarray, matched_b: np.ndarray,
               frames_b: np.ndarray) -> np.ndarray:
        """The rule for media of several frames: enough of one side's frames match the other.

        A still (one frame) matching any frame has share 1, so stills match
        stills as before, and a still matches the video that contains it.
        """
        return np.maximum(matched_a / frames_a, matched_b / frames_b) >= self.frame_share - 1e-9

    def still_in_long(self, frames_a: np.ndarray, frames_b: np.ndarray) -> np.ndarray:
        """A still (one frame) against a long video (more than ``long_frames``): the hard thresholds apply."""
        return (np.minimum(frames_a, frames_b) == 1) & (np.maximum(frames_a, frames_b) > self.long_frames)

    def needs_run(self, frames_a: np.ndarray, frames_b: np.ndarray) -> np.ndarray:
        """Pairs matched by an ordered run (clip_runs.py) instead of ``shares``: a long side, and no still."""
        return (np.maximum(frames_a, frames_b) > self.long_frames) & (np.minimum(frames_a, frames_b) >= 2)


@dataclasses.dataclass(frozen=True)
class Assignment:
    media_id: int
    cluster_id: int
    distance: int | None
    via: str = "plain"  # how it is linked: plain, or the hard edit its best link saw through
    via_media: int | None = None  # the member that link goes to (None for plain)
    via_transform: str | None = None  # which variants matched, e.g. "#3 mirror_full ~ #7 full"


def matching_rows(fp: Fingerprints, t: Thresholds, shard: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs of variants within all thresholds, not two centre crops.

    Base variants (plain, trimmed, caption removed) are joined with each
    other: candidates within the pHash64 and dHash64 radii come from the
    exact multi-index join (pipeline/index/multi_index.py). Two centre crops
    never pair, so the centre rows are not indexed with the rest: the other
    base rows are joined with each other, and the centre rows are queried
    against them (a quarter less work than one join of all base rows, when
    half are centres). Probes (mirrors, crop windows, de-rotated centres) are
    joined only with primary rows (base, not centre crops), within the hard
    radii: two probes never meet, so the join's table does not grow with
    them. The 256-bit pHash confirms all.

    ``shard=(k, n)``: only the k-th of n disjoint parts of the join's bucket
    space; the n parts together give exactly the unsharded pairs (the
    distributed join runs them in separate tasks).
    """
    return _RowJoin(fp, t).shard(shard)


class _RowJoin:
    """The indexes of ``matching_rows``' three joins, built once, and its pairs shard by shard.

    ``rows`` (sorted row numbers of ``fp``): join those rows only, as if on
    ``fp.take(rows)`` but without the copy (a gigabyte at 2M media), and
    give pairs of ``fp``'s row numbers.
    """

    def __init__(self, fp: Fingerprints, t: Thresholds, rows: np.ndarray | None = None):
        self.fp, self.t = fp, t
        at = np.arange(len(fp.media_id)) if rows is None else rows
        codes, secondary = fp.codes()[at], fp.secondary[at]
        probe = PROBE[codes]
        whole = at[~probe & ~secondary]
        centre = at[~probe & secondary]
        self.table = multi_index.BlockIndex(fp.phash[whole], fp.dhash[whole], whole)
        self.centre = multi_index.BlockIndex(fp.phash[centre], fp.dhash[centre], centre) if len(centre) else None
        queries, primary = at[probe & t.probes()[codes]], at[PRIMARY[codes]]
        self.probes = None
        if len(queries) and len(primary):
            # the primary rows are the whole rows: the probes' table is the same index
            same = np.array_equal(primary, whole)
            self.probes = (multi_index.BlockIndex(fp.phash[queries], fp.dhash[queries], queries),
                           self.table if same else multi_index.BlockIndex(fp.phash[primary], fp.dhash[primary],
                                                                          primary))

    def shard(self, shard: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
        t = self.t
        found = [multi_index.join(self.table, self.table, t.phash, t.dhash, shard, t.exact_join)]
        if self.centre is not None:
            found.append(multi_index.join(self.centre, self.table, t.phash, t.dhash, shard, t.exact_join,
                                          disjoint=True))
        if self.probes is not None:  # probe rows are never primary rows
            found.append(multi_index.join(*self.probes, t.hard_phash, t.hard_dhash, shard, disjoint=True))
        i, j = np.concatenate([a for a, _ in found]), np.concatenate([b for _, b in found])
        del found
        return admitted(self.fp, i, j, t)


JOIN_SHARD_ROWS = 1 << 19  # rows per shard of a streamed join (see streamed_rows): its candidates stay small


def streamed_rows(fp: Fingerprints, t: Thresholds, take, rows: np.ndarray | None = None) -> None:
    """``matching_rows`` shard by shard, each shard's admitted row pairs handed to ``take`` as they come.

    One shard per JOIN_SHARD_ROWS rows: a shard's candidates are about
    1/n of the whole, so a reducer (spanning.Forest) that drops most of them
    keeps the peak far below the join's full output. ``rows``: only those
    (sorted) rows of ``fp`` take part (``_RowJoin``).
    """
    join = _RowJoin(fp, t, rows)
    parts = max(1, -(-(len(fp.media_id) if rows is None else len(rows)) // JOIN_SHARD_ROWS))
    for k in range(parts):
        take(*join.shard((k, parts)))


def pair_rank(fp: Fingerprints, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The kind of match each row pair stands for (hashing.VIA_RANK): 0 plain, else the hard edit."""
    codes = fp.codes()
    return np.maximum(RANK[codes[i]], RANK[codes[j]])


def within_hard(fp: Fingerprints, i: np.ndarray, j: np.ndarray, t: Thresholds) -> np.ndarray:
    """Row pairs within the hard thresholds, whatever their variants (no shape test: video frames
    are hashed square, so their shape says nothing of a still's)."""
    return t.admits(*pair_distances(fp.phash, fp.dhash, fp.phash256, i, j), fp.secondary[i] & fp.secondary[j], True)


ADMIT_CHUNK = 1 << 22  # row pairs whose 256-bit pHashes are compared at once (~0.5 GB of temporaries)


def admitted(fp: Fingerprints, i: np.ndarray, j: np.ndarray, t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """The candidate row pairs that the whole rule admits.

    In chunks: a big family of near-duplicates gives hundreds of millions of
    candidate pairs, and their 256-bit pHashes at once would take tens of GB.
    The distances come from one compiled pass (row_distances.py), not numpy gathers.
    """
    keep = np.zeros(len(i), dtype=bool)
    codes, aspects = fp.codes(), fp.aspects()
    for s in range(0, len(i), ADMIT_CHUNK):
        a, b = i[s:s + ADMIT_CHUNK], j[s:s + ADMIT_CHUNK]
        code_a, code_b = gathers.take(codes, a), gathers.take(codes, b)
        hard = STRICT[code_a] | STRICT[code_b]  # a hard-edit variant or a probe
        keep[s:s + ADMIT_CHUNK] = t.admits(
            *pair_distances(fp.phash, fp.dhash, fp.phash256, a, b),
            gathers.take(fp.secondary, a) & gathers.take(fp.secondary, b), hard, gathers.take(aspects, a),
            gathers.take(aspects, b))
    return i[keep], j[keep]


def cluster_edges(fp: Fingerprints, t: Thresholds, rows_join=None) -> tuple[Edges, list[FrameMatch]]:
    """Media pairs that connect the same media as ``matching_pairs``, cheaply, and frame details.

    Rows of stills with identical hashes are collapsed first (archives
    repost one meme thousands of times; pairing every copy with every other
    would cost memory quadratic in the copies): the copies are chained to
    each other, and only one row per distinct fingerprint enters the pair
    search. Identical probe rows are collapsed too, but not chained (equal
    crop windows do not make two pictures the same): each copy gets the
    matches its row's first copy found. Video and animation rows are never
    collapsed: their matches are counted frame by frame. The components are
    those of the matching rule; the pair list is not (of the pairs that
    cannot change a cluster or a ``via``, only a spanning forest is kept:
    pipeline/index/spanning.py), so measure with ``matching_pairs``. ``rows_join``: what finds the admitted row pairs
    (default ``matching_rows``; the distributed join, workers/join.py, spreads it over workers).
    """
    frame, frame_count = fp.frames()
    single = frame_count == 1
    probe = PROBE[fp.codes()]
    first, chain_a, chain_b = _identical_rows(fp, np.nonzero(single & ~probe)[0])
    probe_first, copy_row, copy_media = _probe_copies(fp, np.nonzero(single & probe)[0])
    rows = np.sort(np.concatenate([first, probe_first, np.nonzero(~single)[0]]))
    copied = np.zeros(len(fp.media_id), dtype=bool)
    copied[copy_row] = True
    forest = spanning.Forest(fp, frame_count, copied, t)
    if rows_join is None:  # shard by shard: the big families' row pairs never all exist at once
        streamed_rows(fp, t, forest.add, rows)
    else:
        i, j = rows_join(fp.take(rows), t)
        forest.add(rows[i], rows[j])
        del i, j
    a, b, details, rank, ri, rj = media_edges(fp, *forest.pairs(), frame, frame_count, t)
    del forest
    found = _expand_probe_copies(fp, Edges.of_rows(fp, a, b, rank, ri, rj), ri, rj, copy_row, copy_media)
    return Edges.join([found, Edges.plain(chain_a, chain_b)]), _for_copies(details, chain_a, chain_b)


def _probe_copies(fp: Fingerprints, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First row of each distinct probe fingerprint, and (its first row, media) of every other copy, by first row."""
    order, starts = _identity_order(fp, rows)
    sorted_rows = rows[order]
    first = sorted_rows[starts]
    group_first = first[np.cumsum(starts) - 1]
    copies = ~starts
    by_first = np.argsort(group_first[copies], kind="stable")
    return first, group_first[copies][by_first], fp.media_id[sorted_rows[copies]][by_first]


def _for_copies(details: list[FrameMatch], chain_a: np.ndarray, chain_b: np.ndarray) -> list[FrameMatch]:
    """Frame details of a collapsed still, repeated for its identical copies (so ``show`` lists them too)."""
    if not details or len(chain_a) == 0:
        return details
    first_of: dict[int, int] = {}
    for x, y in zip(chain_a.tolist(), chain_b.tolist()):  # chains run from each group's first row
        first_of[y] = first_of.get(x, x)
    copies: dict[int, set[int]] = {}
    for copy, first in first_of.items():
        if copy != first:
            copies.setdefault(first, set()).add(copy)
    out = list(details)
    for d in details:
        for side, other in ((d.media_a, d.media_b), (d.media_b, d.media_a)):
            for copy in sorted(copies.get(side, ())):
                if copy == other:
                    continue
                times = d.times if side == d.media_a else [[b, a] for a, b in d.times]
                frames = (d.frames_a, d.of_a, d.frames_b, d.of_b) if side == d.media_a else \
                    (d.frames_b, d.of_b, d.frames_a, d.of_a)
                # time in other - time in side (a still's place in a long video)
                offset = None if d.offset_s is None else (d.offset_s if side == d.media_a else -d.offset_s)
                if copy < other:
                    out.append(FrameMatch(copy, other, *frames, times, offset, d.also_at))
                else:
                    out.append(FrameMatch(other, copy, frames[2], frames[3], frames[0], frames[1],
                                          [[b, a] for a, b in times], None if offset is None else -offset,
                                          d.also_at))
    return out


def _identical_rows(fp: Fingerprints, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Among ``rows``: the first row of each distinct fingerprint, and media pairs chaining the copies."""
    if len(rows) == 0:
        return rows, np.zeros(0, np.int64), np.zeros(0, np.int64)
    order, starts = _identity_order(fp, rows)
    same = ~starts[1:]
    media = fp.media_id[rows][order]
    return rows[order][starts], media[:-1][same], media[1:][same]


def _identity_order(fp: Fingerprints, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order of ``rows`` that puts identical fingerprints (hashes and variant) together, and group starts.

    Rows are grouped by a 64-bit mix of their columns (a 1-D sort, not
    numpy's slow unique over rows), and neighbours are compared in full, so
    a hash collision can only leave two copies uncollapsed, never merge
    different rows. The variant is part of the identity: a caption-removed
    variant equal to another media's full picture is a caption match, not a copy.
    """
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    columns = (fp.phash, fp.dhash, np.ascontiguousarray(fp.phash256), fp.secondary, fp.codes())
    order = np.argsort(_mixed(*columns, rows), kind="stable")
    return order, _starts(*columns, rows, order)


@njit(cache=True)
def _identity(p, d, p256, secondary, codes, row, k):
    """Column k of a row's identity, as a 64-bit word: pHash, dHash, the four of the 256-bit pHash, centre, variant."""
    if k == 0:
        return p[row]
    if k == 1:
        return d[row]
    if k < 6:
        return p256[row, k - 2]
    return np.uint64(secondary[row]) if k == 6 else np.uint64(codes[row])


@njit(parallel=True, cache=True)
def _mixed(p, d, p256, secondary, codes, rows):
    """A 64-bit mix of each row's identity."""
    mix = np.zeros(len(rows), np.uint64)
    for x in prange(len(rows)):
        m = np.uint64(0)
        for k in range(8):
            m = (m ^ _identity(p, d, p256, secondary, codes, rows[x], k)) * np.uint64(0x9E3779B97F4A7C15 + 2 * k)
            m ^= m >> np.uint64(29)
        mix[x] = m
    return mix


@njit(parallel=True, cache=True)
def _starts(p, d, p256, secondary, codes, rows, order):
    """Where the rows in ``order`` start a new identity: neighbours compared in full."""
    starts = np.ones(len(order), np.bool_)
    for x in prange(1, len(order)):
        a, b = rows[order[x]], rows[order[x - 1]]
        same = True
        for k in range(8):
            if _identity(p, d, p256, secondary, codes, a, k) != _identity(p, d, p256, secondary, codes, b, k):
                same = False
                break
        starts[x] = not same
    return starts


def matching_pairs(fp: Fingerprints, t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Media id pairs that match: some variant pair within all thresholds (stills),
    or enough matching frames (videos and animations)."""
    return matching_edges(fp, t)[:2]


def matching_edges(fp: Fingerprints, t: Thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``matching_pairs`` with each pair's kind of match (hashing.VIA_RANK; a pair may appear once per kind)."""
    frame, frame_count = fp.frames()
    a, b, _, rank, _, _ = _edges(fp, np.arange(len(fp.media_id)), frame, frame_count, t)
    return a, b, rank


def _edges(fp: Fingerprints, rows: np.ndarray, frame: np.ndarray, frame_count: np.ndarray, t: Thresholds,
           rows_join=None):
    """Media pairs among ``rows`` under the whole rule, with frame details for videos (see media_edges)."""
    i, j = (rows_join or matching_rows)(fp.take(rows), t)
    return media_edges(fp, rows[i], rows[j], frame, frame_count, t)


def media_edges(fp: Fingerprints, ri: np.ndarray, rj: np.ndarray, frame: np.ndarray, frame_count: np.ndarray,
                t: Thresholds):
    """Media pairs from admitted row pairs: stills at once, videos when enough frames match.

    ``ri``/``rj`` must hold every admitted row pair of the media they involve,
    or the frame shares come out too low. They are reordered in place (at 2M
    media they are 60M pairs, a gigabyte, and a copy made the peak memory):
    pass arrays that are not needed afterwards. Returns media a, b (a < b),
    frame details, each pair's rank (kind of match) and its row pair (-1 for
    videos, whose rank is their best row pair's).
    """
    ri, rj = np.asarray(ri, dtype=np.int64), np.asarray(rj, dtype=np.int64)
    if not (ri.flags.writeable and rj.flags.writeable):
        ri, rj = ri.copy(), rj.copy()
    n = _orient_in_place(fp.media_id, ri, rj)
    ri, rj = ri[:n], rj[:n]
    keep = np.ones(n, dtype=bool)
    # a still meets a long video's thousands of frames: held to the hard thresholds, like a probe
    # (the rule on the pairs' frame counts a chunk at a time: 60M pairs' counts at once were a gigabyte)
    loose = np.zeros(n, dtype=bool)
    for s in range(0, n, ADMIT_CHUNK):
        loose[s:s + ADMIT_CHUNK] = t.still_in_long(gathers.take(frame_count, ri[s:s + ADMIT_CHUNK]),
                                                   gathers.take(frame_count, rj[s:s + ADMIT_CHUNK]))
    loose = np.flatnonzero(loose)
    if len(loose):
        keep[loose] = within_hard(fp, ri[loose], rj[loose], t)
    del loose
    si, sj, n = _split_stills(frame_count, ri, rj, keep)  # the still pairs out; the others to the front, in place
    del keep
    vi, vj = ri[:n], rj[:n]
    ma, mb, rank = gathers.take(fp.media_id, si), gathers.take(fp.media_id, sj), pair_rank(fp, si, sj)
    if len(vi) == 0:
        return ma, mb, [], rank, si, sj
    va, vb, details, v_rank = video_pairs.edges(fp, vi, vj, pair_rank(fp, vi, vj), frame, frame_count, t)
    none = np.full(len(va), -1, dtype=np.int64)
    return (np.concatenate([ma, va]), np.concatenate([mb, vb]), details, np.concatenate([rank, v_rank]),
            np.concatenate([si, none]), np.concatenate([sj, none]))


@njit(cache=True)
def _orient_in_place(media, ri, rj):
    """Row pairs of two different media, each turned so that its media a < media b (one orientation a pair),
    moved to the front of ``ri``/``rj`` in their order; returns how many."""
    n = 0
    for x in range(len(ri)):
        i, j = ri[x], rj[x]
        a, b = media[i], media[j]
        if a == b:
            continue
        if a < b:
            ri[n], rj[n] = i, j
        else:
            ri[n], rj[n] = j, i
        n += 1
    return n


@njit(cache=True)
def _split_stills(frame_count, ri, rj, keep):
    """The kept pairs of two stills copied out, and the other kept pairs moved to the front in their order."""
    stills = 0
    for x in range(len(ri)):
        if keep[x] and frame_count[ri[x]] == 1 and frame_count[rj[x]] == 1:
            stills += 1
    si, sj = np.empty(stills, np.int64), np.empty(stills, np.int64)
    s, n = 0, 0
    for x in range(len(ri)):
        if not keep[x]:
            continue
        i, j = ri[x], rj[x]
        if frame_count[i] == 1 and frame_count[j] == 1:
            si[s], sj[s] = i, j
            s += 1
        else:
            ri[n], rj[n] = i, j
            n += 1
    return si, sj, n


def same_frames(fp: Fingerprints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Videos and animations whose rows are identical to an earlier one's.

    Returns a per-row mask (False for rows of such copies) and the chain of
    media id pairs that joins each copy to the first. Stills are not looked
    at: their identical rows are collapsed row by row (``cluster_edges``).
    """
    _, frame_count = fp.frames()
    keep = np.ones(len(fp.media_id), dtype=bool)
    multi = np.nonzero(frame_count > 1)[0]
    if len(multi) == 0:
        return keep, np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = multi[np.lexsort((fp.times()[multi], fp.media_id[multi]))]
    media, starts = np.unique(fp.media_id[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    first: dict[bytes, int] = {}
    copies_a, copies_b = [], []
    for m, s_, e in zip(media.tolist(), starts.tolist(), ends.tolist()):
        rows = order[s_:e]
        key = b"".join(a.tobytes() for a in (fp.phash[rows], fp.dhash[rows], fp.phash256[rows],
                                               fp.secondary[rows], fp.times()[rows]))
        if key in first:
            copies_a.append(first[key])
            copies_b.append(m)
            keep[rows] = False
        else:
            first[key] = m
    return keep, np.asarray(copies_a, dtype=np.int64), np.asarray(copies_b, dtype=np.int64)


def sha_groups(sha_by_media: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """Media ids with a SHA-256, sorted by (file, id), and each one's file number.

    One pass of Python (a number per distinct SHA-256), the rest numpy: 2M
    media cost a fraction of a second, where a sort of 2M tuples cost seconds.
    """
    number: dict[str, int] = {}
    ids = np.fromiter(sha_by_media.keys(), dtype=np.int64, count=len(sha_by_media))
    group = np.fromiter((number.setdefault(sha, len(number)) if sha else -1 for sha in sha_by_media.values()),
                        dtype=np.int64, count=len(sha_by_media))
    has = group >= 0
    ids, group = ids[has], group[has]
    order = np.lexsort((ids, group))
    return ids[order], group[order]


def first_copies(fp: Fingerprints, sha_by_media: dict[int, str], groups=None) -> np.ndarray:
    """Per row: its media is the lowest id of its SHA-256 (or has none). ``groups``: sha_groups' answer."""
    ids, group = sha_groups(sha_by_media) if groups is None else groups
    later = np.zeros(len(group), dtype=bool)
    later[1:] = group[1:] == group[:-1]
    return ~np.isin(fp.media_id, ids[later])


def exact_pairs(sha_by_media: dict[int, str], groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Media id pairs chaining together byte-identical files. ``groups``: sha_groups' answer."""
    ids, group = sha_groups(sha_by_media) if groups is None else groups
    same = group[1:] == group[:-1]
    return ids[:-1][same], ids[1:][same]


def find_clusters(fp: Fingerprints, sha_by_media: dict[int, str], thresholds: Thresholds,
                  pictures=None) -> list[Assignment]:
    """Cluster assignments for every media that has at least one duplicate."""
    return cluster_with_details(fp, sha_by_media, thresholds, pictures)[0]


def cluster_with_details(fp: Fingerprints, sha_by_media: dict[int, str], thresholds: Thresholds,
                         pictures=None, verified_out: list | None = None,
                         rows_join=None) -> tuple[list[Assignment], list[FrameMatch]]:
    """Cluster assignments, and which frames joined each video or animation.

    Byte-identical copies (same SHA-256) have identical fingerprints and are
    chained by ``exact_pairs``, and videos with identical frame hashes (a
    re-muxed copy) are chained by ``same_frames``, so only the first copy's
    rows enter the pair search: 100 reposts of one video would otherwise
    cost 100^2 x frames^2.

    ``pictures`` (media ids -> verify.Picture): with ``thresholds.verify``,
    pairs only a probe explains join only when their pixels agree
    (pipeline/index/verification.py); the outcome is appended to ``verified_out``.
    Without it, hard pairs join unchecked (as before the check existed).
    """
    from hashtrail.pipeline.index import verification
    keep, same_a, same_b = same_frames(fp)
    groups = sha_groups(sha_by_media)  # once: a pass of Python over every media
    found, details = cluster_edges(fp.take(np.nonzero(keep & first_copies(fp, sha_by_media, groups))[0]),
                                   thresholds, rows_join)
    edges = Edges.join([found, Edges.plain(*exact_pairs(sha_by_media, groups)), Edges.plain(same_a, same_b)])
    checked = verification.apply(edges, pictures, thresholds)
    edges = checked.edges
    if verified_out is not None:
        verified_out.append(checked)
    a, b = edges.a, edges.b
    if len(a) == 0:
        return [], []
    vias = verification.scored_vias(member_vias(edges), checked)
    ids, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = len(ids)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (inverse[: len(a)], inverse[len(a):])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    rows_of = _row_finder(fp)
    first = np.full(labels.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, labels, ids)  # a cluster's id: its smallest media id, its representative
    order = np.lexsort((ids, first[labels]))  # cluster by cluster, members in id order
    media, representative = ids[order], first[labels][order]
    distance = distances_to(fp, rows_of, sha_by_media, representative, media)
    out = []
    for media_id, rep, d in zip(media.tolist(), representative.tolist(), distance):
        out.append(_assignment(media_id, rep, d, vias.get(media_id)))
    return out, details


def _assignment(media_id: int, representative: int, distance, via: Via | None) -> Assignment:
    if via is None:
        return Assignment(media_id, representative, distance)
    return Assignment(media_id, representative, distance, via.name, via.media, via.transform)


def assign(fp, rows_of, sha_by_media, representative: int, media_id: int, via: Via | None) -> Assignment:
    """One member's assignment (an update's few members: ``distances_to`` does a whole clustering's at once)."""
    return _assignment(media_id, representative, _distance(fp, rows_of, sha_by_media, representative, media_id), via)


class _row_finder:
    """media id -> its row indices, by binary search (no dict of every media); and which rows are probes.

    Built once per clustering: ``_distance`` runs once per member, so nothing
    in it may cost a pass over all rows.
    """

    def __init__(self, fp: Fingerprints):
        ids = fp.media_id
        if len(ids) < 2 or bool((ids[1:] >= ids[:-1]).all()):  # rows in media order (as stored): no sort
            self.order, self.sorted_ids = None, ids
        else:
            self.order = np.argsort(ids, kind="stable")
            self.sorted_ids = ids[self.order]
        self.probe = PROBE[fp.codes()]

    def __call__(self, media: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.sorted_ids, [media, media + 1])
        return np.arange(lo, hi) if self.order is None else self.order[lo:hi]

    def many(self, media: np.ndarray) -> np.ndarray:
        """The rows of all of ``media`` (distinct ids), in no particular order."""
        lo = np.searchsorted(self.sorted_ids, media)
        hi = np.searchsorted(self.sorted_ids, media + 1)
        counts = hi - lo
        at = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return self.rows_at(at)

    def rows_at(self, positions: np.ndarray) -> np.ndarray:
        """Row indices at positions of the media-sorted order (the identity when rows are stored in media order)."""
        return positions if self.order is None else self.order[positions]


def distances_to(fp, rows_of, sha_by_media, representative: np.ndarray, media: np.ndarray) -> list:
    """``_distance`` of each media to its representative, for all members at once.

    One member at a time cost ~20 us of numpy calls: 11 s for the 573,872
    members at 2M media. Here every (representative row, member row) pair is
    laid out in one array and reduced per member.
    """
    out: list = [None] * len(media)
    sha = [sha_by_media.get(m) for m in media.tolist()]
    sha_rep = [sha_by_media.get(r) for r in representative.tolist()]
    todo = []
    for k, (m, r, a, b) in enumerate(zip(media.tolist(), representative.tolist(), sha, sha_rep)):
        if m == r or (a and a == b):
            out[k] = 0
        else:
            todo.append(k)
    todo = np.asarray(todo, dtype=np.int64)
    if len(todo) == 0:
        return out
    lo_r, hi_r = np.searchsorted(rows_of.sorted_ids, representative[todo]), \
        np.searchsorted(rows_of.sorted_ids, representative[todo] + 1)
    lo_m, hi_m = np.searchsorted(rows_of.sorted_ids, media[todo]), np.searchsorted(rows_of.sorted_ids, media[todo] + 1)
    cr, cm = hi_r - lo_r, hi_m - lo_m
    size = cr * cm
    has = size > 0  # no hashable variant (flat image) on one side: joined by a chain, no distance
    step = np.repeat(np.arange(len(todo)), size)
    within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    ri = rows_of.rows_at(lo_r[step] + within // cm[step])
    mi = rows_of.rows_at(lo_m[step] + within % cm[step])
    d = distances(fp.phash[ri], fp.phash[mi])
    d = np.where(rows_of.probe[ri] & rows_of.probe[mi], 64, d)  # two probes are no distance between pictures
    best = np.full(len(todo), 64, dtype=np.int64)
    np.minimum.at(best, step, d)
    for k, h, b in zip(todo.tolist(), has.tolist(), best.tolist()):
        out[k] = int(b) if h else None
    return out


def _distance(fp, rows_of, sha_by_media, representative: int, media_id: int) -> int:
    if media_id == representative or (sha_by_media.get(media_id) and
                                      sha_by_media.get(media_id) == sha_by_media.get(representative)):
        return 0
    r, m = rows_of(representative), rows_of(media_id)
    if len(r) == 0 or len(m) == 0:
        return None  # no hashable variant (flat image) on one side: joined by a chain
    probe = rows_of.probe
    d = distances(fp.phash[r][:, None], fp.phash[m][None, :])
    d = np.where(probe[r][:, None] & probe[m][None, :], 64, d)  # two probes are no distance between pictures
    return int(d.min())
