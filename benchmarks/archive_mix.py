"""Fingerprint rows shaped like a real scan's, N media at a time (``cluster_scale.py --media N``).

A scan stores several rows per media (pipeline/media/hashing.py), not one,
and they are not independent: a centre crop's hash is near its full
picture's. The mix, per media:

- stills (97%), each with the variants today's default settings store:
  plain pictures ``full, center`` and the ``zoom`` probe (54%), pictures with
  borders also ``trim, trim_center`` (30%), captioned ones ``uncaptioned, banded,
  banded_center`` (16%), and every still the two de-rotated probes
  ``rotate_m4, rotate_p4``: 5.6 rows a still (4.76 before the zoom probe);
  and 30% of the stills with a full picture the ``textless`` probe (lines of
  text painted out: 6 of quality.py's 20 photos get one, 3.7 bits from full);
- videos and GIFs (3%): 5-60 frames (a truncated power law, mean ~6.5, so
  ~13 rows a video), each frame ``full`` and ``center``; frames of one scene
  are near each other (a scene cut with probability 0.3 a frame), and one
  video in five opens with one of a few logo cards;
- families of near-duplicates (14% of media): sizes 2 to 2,000, a power law
  P(size >= s) = (s/2)^-1.5; each member is its family's original with 0-6
  bits (on average) flipped per row, row by row, so members' centre crops
  are near each other as the pictures are;
- byte-identical copies (8% of media): another media's rows exactly, and its
  SHA-256;
- near-blank pictures (0.3% of stills): one of 8 values, 0-1 bits apart.

Correlated variants are the original picture's hash with bits flipped at
random, as many on average as measured on the photos benchmarks/quality.py
uses (this module's ``VARIANT_BITS``: pHash64 distance of each variant to
the full picture, mean over 270 photos and crops; dHash and each 64-bit word
of the 256-bit pHash get the same share of flipped bits). Distinct pictures
get uniform random hashes.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hashtrail.pipeline.index.cluster import Fingerprints
from hashtrail.pipeline.media.hashing import SECONDARY, VARIANT_CODE

# mean pHash64 bits between each variant and the full picture (uncaptioned for banded ones),
# measured with hash_variants on quality.py's photos and crops (skimage.data): 270 pictures
VARIANT_BITS = {"full": 0, "uncaptioned": 0, "center": 12, "trim": 12, "trim_center": 17, "rotate_m4": 12,
                "rotate_p4": 12, "banded": 14, "banded_center": 18, "zoom": 7, "textless": 4}
TEXTLESS_SHARE = 0.3  # stills with a full picture that also get the textless probe: 6 of quality.py's 20 photos
_PLAIN = ("full", "center", "zoom", "rotate_m4", "rotate_p4")
_BORDERED = ("full", "center", "zoom", "trim", "trim_center", "rotate_m4", "rotate_p4")
STILLS = ((0.54 * (1 - TEXTLESS_SHARE), _PLAIN), (0.54 * TEXTLESS_SHARE, _PLAIN + ("textless",)),
          (0.30 * (1 - TEXTLESS_SHARE), _BORDERED), (0.30 * TEXTLESS_SHARE, _BORDERED + ("textless",)),
          (0.16, ("uncaptioned", "banded", "banded_center", "rotate_m4", "rotate_p4")))
VIDEO_SHARE = 0.03
FAMILY_SHARE, COPY_SHARE, BLANK_SHARE = 0.14, 0.08, 0.003
LOGOS, BLANKS = 6, 8


@dataclasses.dataclass
class Archive:
    fp: Fingerprints
    sha: dict[int, str]  # media id -> SHA-256 stand-in (copies share their source's)
    media: int


def noise(rng, bits: np.ndarray, words: int = 1) -> np.ndarray:
    """Per row, ``words`` random 64-bit masks with each bit set with probability bits/64 (0 where bits is 0)."""
    out = np.zeros((len(bits), words), dtype=np.uint64)
    rows = np.nonzero(bits > 0)[0]
    step = 1 << 20
    for s in range(0, len(rows), step):
        r = rows[s:s + step]
        threshold = np.round(bits[r] * 4).astype(np.uint8)[:, None, None]  # bits/64 of 256
        for w in range(words):
            flips = rng.integers(0, 256, (len(r), 8, 8), dtype=np.uint8) < threshold
            out[r, w] = np.packbits(flips.reshape(len(r), 64), axis=1).view(">u8").reshape(-1).astype(np.uint64)
    return out if words > 1 else out[:, 0]


def _random(rng, n: int, words: int = 1) -> np.ndarray:
    return rng.integers(0, 2**64, (n, words) if words > 1 else n, dtype=np.uint64)


def _originals(rng, n: int) -> tuple[np.ndarray, ...]:
    """Rows of n distinct originals: (original of row, variant code, picture hashes p, d, q, time, row noise bits)."""
    video = rng.random(n) < VIDEO_SHARE
    layout = rng.choice(len(STILLS), n, p=[share for share, _ in STILLS])
    frames = np.where(video, np.minimum(60, np.floor(5 * rng.random(n) ** (-1 / 4.33))).astype(np.int64), 0)
    per_media = np.where(video, 2 * frames, np.array([len(v) for _, v in STILLS])[layout])
    orig = np.repeat(np.arange(n), per_media)
    first = np.concatenate(([0], np.cumsum(per_media)[:-1]))
    k = np.arange(len(orig)) - first[orig]  # row number inside its media
    is_video = video[orig]
    # stills: the layout's k-th variant; videos: frame k // 2, full then center
    names = [VARIANT_CODE[v] for _, vs in STILLS for v in vs]
    offsets = np.concatenate(([0], np.cumsum([len(vs) for _, vs in STILLS])[:-1]))
    code = np.where(is_video, np.where(k % 2 == 0, VARIANT_CODE["full"], VARIANT_CODE["center"]),
                    np.asarray(names)[offsets[layout[orig]] + np.where(is_video, 0, k)])
    bits = np.zeros(len(VARIANT_CODE), dtype=np.float64)
    for name, b in VARIANT_BITS.items():
        bits[VARIANT_CODE[name]] = b
    row_bits = bits[code]
    # the picture each row shows: a still's one picture; a video frame's own (near its scene's)
    picture = orig.copy()
    frame = np.where(is_video, k // 2, 0)
    p, d, q = _random(rng, n), _random(rng, n), _random(rng, n, 4)
    blank = ~video & (rng.random(n) < BLANK_SHARE)
    kinds = rng.integers(0, BLANKS, int(blank.sum()))
    blank_p, blank_d, blank_q = _random(rng, BLANKS), _random(rng, BLANKS), _random(rng, BLANKS, 4)
    p[blank], d[blank], q[blank] = blank_p[kinds], blank_d[kinds], blank_q[kinds]
    rp, rd, rq = p[picture], d[picture], q[picture]
    vrows = np.nonzero(is_video)[0]
    if len(vrows):
        # scenes: a cut with probability 0.3 a frame; a scene's frames are its hash with ~4 bits flipped
        fkey = orig[vrows] * 64 + frame[vrows]
        frames_u, frame_of = np.unique(fkey, return_inverse=True)
        cut = rng.random(len(frames_u)) < 0.3
        cut[np.concatenate(([True], frames_u[1:] // 64 != frames_u[:-1] // 64))] = True
        scene = np.cumsum(cut) - 1
        sp, sd, sq = _random(rng, scene[-1] + 1), _random(rng, scene[-1] + 1), _random(rng, scene[-1] + 1, 4)
        jitter = np.full(len(frames_u), 4.0)
        fp_, fd_, fq_ = (sp[scene] ^ noise(rng, jitter), sd[scene] ^ noise(rng, jitter),
                         sq[scene] ^ noise(rng, jitter, 4))
        # one video in five opens with a logo card
        logo = (frames_u % 64 == 0) & (rng.random(len(frames_u)) < 0.2)
        which = rng.integers(0, LOGOS, int(logo.sum()))
        lp, ld, lq = _random(rng, LOGOS), _random(rng, LOGOS), _random(rng, LOGOS, 4)
        fp_[logo], fd_[logo], fq_[logo] = lp[which], ld[which], lq[which]
        rp[vrows], rd[vrows], rq[vrows] = fp_[frame_of], fd_[frame_of], fq_[frame_of]
    rp ^= noise(rng, row_bits)
    rd ^= noise(rng, row_bits)
    rq ^= noise(rng, row_bits, 4)
    time_s = np.where(is_video, frame * 1.0, np.nan)
    return orig, code.astype(np.int16), rp, rd, rq, time_s


def _family_sizes(rng, budget: int) -> list[int]:
    sizes = []
    while budget > 1:
        size = min(budget, int(np.clip(2 * rng.random() ** (-1 / 1.5), 2, 2000)))
        sizes.append(size)
        budget -= size
    return sizes


def archive(media: int, rng, first_media: int = 0, grow: Archive | None = None) -> Archive:
    """``media`` media of the mix above, ids from ``first_media``; with ``grow``, a third of the
    families and copies are new members and reposts of ``grow``'s media (an archive's next release)."""
    copies = int(COPY_SHARE * media)
    sizes = _family_sizes(rng, int(FAMILY_SHARE * media))
    singles = media - copies - sum(sizes)
    n_orig = singles + len(sizes)
    orig, code, p, d, q, time_s = _originals(rng, n_orig)
    # media -> its original, and the noise its rows get (family members: 0-6 bits, the first one none)
    member_of = np.concatenate([np.arange(singles), np.repeat(np.arange(singles, n_orig), sizes)])
    level = np.concatenate([np.zeros(singles), *[np.r_[0, rng.uniform(0, 6, s - 1)] for s in sizes]])
    starts = np.concatenate(([0], np.cumsum(np.bincount(orig, minlength=n_orig))))
    counts = np.diff(starts)
    rows = _rows_of(member_of, starts, counts)
    owner = np.repeat(np.arange(len(member_of)), counts[member_of])
    src = _Columns(p[rows], d[rows], q[rows], code[rows], time_s[rows])
    del orig, code, p, d, q, time_s, rows  # the originals' columns: a third of the peak at 10M media
    bits = level[owner]
    src.p ^= noise(rng, bits)
    src.d ^= noise(rng, bits)
    src.q ^= noise(rng, bits, 4)
    made = len(member_of)
    if grow is not None:  # new members of old media: a third of the families' media
        old = rng.integers(0, grow.media, sizes and sum(sizes) // 3 or 0)
        extra = _media_rows(grow.fp, grow.fp.media_id.min() + old)
        more = _Columns(grow.fp.phash[extra[0]], grow.fp.dhash[extra[0]], grow.fp.phash256[extra[0]],
                        grow.fp.codes()[extra[0]], grow.fp.times()[extra[0]])
        b = rng.uniform(0, 6, len(old))[extra[1]]
        more.p ^= noise(rng, b)
        more.d ^= noise(rng, b)
        more.q ^= noise(rng, b, 4)
        src = src.join(more)
        owner = np.concatenate([owner, made + extra[1]])
        made += len(old)
    media_id = first_media + owner
    sha = {first_media + m: f"m{first_media + m}" for m in range(made)}
    secondary = np.isin(src.code, [VARIANT_CODE[n] for n in SECONDARY])
    pool = Fingerprints(media_id, src.p, src.d, src.q, secondary, src.t, src.code, np.full(len(media_id), np.nan))
    # byte-identical copies: reposts of a media made here (or, growing, a third of them of an old one)
    source = rng.integers(first_media, first_media + made, copies)
    if grow is not None:
        old = rng.random(copies) < 1 / 3
        source[old] = grow.fp.media_id.min() + rng.integers(0, grow.media, int(old.sum()))
        sha.update({int(s): grow.sha[int(s)] for s in np.unique(source[old])})
    both = pool if grow is None else concat(grow.fp, pool)  # both sorted by media id
    rows_c, owner_c = _media_rows(both, source)
    cp = np.arange(first_media + made, first_media + made + copies)
    del src
    fp = concat(pool, both.take(rows_c))
    del pool, both
    fp = dataclasses.replace(fp, media_id=np.concatenate([media_id, cp[owner_c]]))
    for c, s in zip(cp.tolist(), source.tolist()):
        sha[c] = sha[s]
    return Archive(fp, sha, made + copies)


@dataclasses.dataclass
class _Columns:
    p: np.ndarray
    d: np.ndarray
    q: np.ndarray
    code: np.ndarray
    t: np.ndarray

    def join(self, other: "_Columns") -> "_Columns":
        return _Columns(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in ("p", "d", "q", "code", "t")))


def _rows_of(which: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The row indices of groups ``which`` (groups given by starts and counts), concatenated."""
    c = counts[which]
    first = np.repeat(starts[which], c)
    return first + (np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c))


def _media_rows(fp: Fingerprints, media: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each of ``media`` (fp sorted by media id) and, per row, the index in ``media`` it is for."""
    ids, starts, counts = np.unique(fp.media_id, return_index=True, return_counts=True)
    at = np.searchsorted(ids, media)
    return _rows_of(at, starts, counts), np.repeat(np.arange(len(media)), counts[at])


def concat(a: Fingerprints, b: Fingerprints) -> Fingerprints:
    """All columns of two row sets, one after the other."""
    return Fingerprints(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                          ("media_id", "phash", "dhash", "phash256", "secondary")),
                        np.concatenate([a.times(), b.times()]), np.concatenate([a.codes(), b.codes()]),
                        np.concatenate([a.aspects(), b.aspects()]))
