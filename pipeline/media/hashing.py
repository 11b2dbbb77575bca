"""How an image is hashed: a small bag of perceptual-hash *variants*.

Plain pHash fails exactly where reposting changes an image most: an added
border, letterboxing or a small crop moves every pixel of the 32x32 thumbnail
pHash looks at (benchmarks/quality.py measures recall near 0 for borders).
Instead of one hash, each image gets up to five variants:

- ``full``: the whole picture;
- ``center``: the central 90% (a repost cropped by a few percent per side
  lines up with this one);
- ``trim``: the picture with uniform borders and letterbox bars removed;
- ``trim_center``: the central 90% of the trimmed picture (a primary row, unlike
  ``center``: see SECONDARY);
- ``zoom`` (stills): the central 95%, a probe (queried against other media's
  primary rows, never indexed) for copies cropped by 2-4% a side (ZOOM_KEEP);
- ``textless`` (stills with a line of text written on them): the picture with
  that text painted out (pipeline/media/overlay_text.py), a probe like ``zoom``
  for copies with a caption written onto the picture itself.

Reposts edited to dodge matching get more (pipeline/media/edits.py):
``screen`` (the picture inside a screenshot's UI chrome, pipeline/media/screenshot.py;
the whole screenshot is then not hashed; a frame in chrome whose inside is not
taken for a photograph gets only the secondary ``screened`` and ``screened_trim``,
see SCREENED), ``uncaptioned`` (the picture
without a caption band; the whole becomes the secondary ``banded``), and *probes*, compared only with other media's
primary variants: ``mirror_*`` of every plain variant (from the same DCT),
one-sided crop windows ``crop_<side><pct>`` and square cuts ``square_*``
(pipeline/media/probes.py), and de-rotated centres ``rotate_*``. Settings
choose which (``HardEdits``): by default screenshots, caption removal and rotations.

Each variant carries three hashes: 64-bit pHash (candidate search), 64-bit
dHash (gradient signs, a different view of the picture) and 256-bit pHash
(16x16 DCT: finer detail). Two media match when some pair of their variants,
not both centre crops, is within all three thresholds (see pipeline/index/cluster.py).
The 256-bit confirmation is what keeps similar-but-different shots of one
scene apart; benchmarks/quality.py measures each choice. Flat variants (blank
frames, solid fills) are dropped, as ThreatExchange drops low-quality PDQ
hashes: they would match each other and everything flat.

pHash: http://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html
dHash: http://www.hackerfactor.com/blog/index.php?/archives/529-Kind-of-Like-That.html
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import imagehash
import numpy as np
from PIL import Image

from hashtrail.pipeline.media import overlay_text
from hashtrail.pipeline.media import probes as probes_module

# Stored with every hash: imagehash changed pHash output between releases, so
# hashes of different hasher ids must not be compared blindly.
# v4: stills get the ``zoom`` probe (the central 95%). Video frames get no probes, so they hash as under v3:
# FRAME_HASHER keeps v3's id, and videos are not read again for the change (pipeline/video/keyframes.py).
# v5: stills with a line of text written on them get the ``textless`` probe (frames still get no probes).
FRAME_HASHER = ("variants-v3:phash64+dhash64+phash256+mirror+windows+caption+rotation+screenshot:"
                f"imagehash-{imagehash.__version__}")
# v6: the screenshot search finds smoother and paler pictures (pipeline/media/screenshot.py: grain, not only busy
# pixels, tells a photograph from a flat shape; pixels off the page's colour close a pale picture's outline), and
# a frame in chrome without a photograph gets the secondary SCREENED rows; frames are not searched (v3's id).
HASHER = ("variants-v6:phash64+dhash64+phash256+zoom+textless+mirror+windows+caption+rotation+screenshot:"
          f"imagehash-{imagehash.__version__}")

CENTER_KEEP = 0.90  # share of each side kept by the centre-crop variants
# Share of each side the ``zoom`` probe keeps. ``full`` and ``center`` line up with copies cropped by 0 and 5%
# a side; a copy cropped by 2-4% is ~5% off both, too far for fine textures (benchmarks/quality.py: a brick
# wall cropped 3% a side matched 0.56 of the time). The central 95% halves that worst gap to 2.5%.
ZOOM_KEEP = 0.95
TRIM_TOLERANCE = 12  # grey levels a border line may vary (JPEG noise)
TRIM_MIN_KEEP = 0.30  # never trim an image down below this share of a side
BLEND_LINES = 2  # lines after a border where its colour blends into the picture
# Lanczos costs ~0.1 ms an image more than bilinear or bicubic, and buys
# clustered precision 0.92 against 0.89 / 0.88 (benchmarks/quality.py).
THUMBNAIL_FILTER = Image.LANCZOS
MIN_SIDE = 8  # a variant smaller than this is not hashed
HASH_SIDE = 8  # 8x8 = 64-bit hashes
LARGE_SIDE = 16  # 16x16 = 256-bit pHash, from a 64x64 thumbnail (imagehash's hash_size=16)


# Never matched with each other: two guesses at a crop of the picture (two centres match pictures that
# only share their middle). ``trim_center`` is not one: it is the centre of the picture once its added
# border is gone, the same region as a borderless copy's ``center``, and the centres drop the trim's
# uncertain edge (a pixel either way at the decode size, which moves the hashes of fine textures).
# A screenshot whose chrome is recognised but whose picture is not (pipeline/media/screenshot.py ``Frame``:
# the rectangle inside the chrome is too flat to be taken for a photograph) is hashed only as these, both
# secondary: the whole and the whole without uniform borders. Two such screenshots of one app then never pair
# by their chrome (hashed as primary rows, three crops of a pale micrograph in the phone template of
# benchmarks/quality.py did); each may still match other media's primary rows (a bordered silhouette photo
# taken for such a frame matches its original by the trimmed whole). The frame's inside is not hashed: it is
# not taken for a picture, and on quality.py its matches to originals only grew families that a plain false
# pair had merged (clustered precision 0.8789 -> 0.8788).
SCREENED = ("screened", "screened_trim")
SECONDARY = ("center", "banded", "banded_center", *SCREENED)

# How a variant sees through an edit, as ``via`` reports it; the rank orders
# them when a pair matches several ways (the plainest explanation wins).
VIA_RANK = {"plain": 0, "caption removed": 1, "screenshot": 2, "mirror": 3, "crop window": 4, "rotation": 5}
BASE = ("full", "center", "trim", "trim_center", "uncaptioned", "banded", "banded_center")  # the self join
# compared with other media's primary variants only
PROBE_PREFIXES = ("mirror_", "crop_", "square_", "rotate_", "zoom", "textless")


def via_of(name: str) -> str:
    """The kind of match a variant stands for: 'plain' for the scan's original variants."""
    if name.startswith("mirror_"):
        return "mirror"
    if name.startswith(("crop_", "square_")):
        return "crop window"
    if name.startswith("rotate_"):
        return "rotation"
    if name == "uncaptioned":
        return "caption removed"
    if name == "screen":
        return "screenshot"
    return "plain"


def is_probe(name: str) -> bool:
    return name.startswith(PROBE_PREFIXES)


def is_secondary(name: str) -> bool:
    """A centre crop (or a centre crop's mirror): two of them never match."""
    return name in SECONDARY or name.removeprefix("mirror_") in SECONDARY


def _vocabulary() -> tuple[str, ...]:
    from hashtrail.pipeline.media import edits
    names = [*BASE, "screen"]
    names += [f"mirror_{n}" for n in names]
    names += [f"crop_{side}{round(s * 100)}" for s in edits.WINDOW_SHARES for side in "lrtb"]
    names += [f"square_{w}" for w in "lcrtb"]
    names += [f"rotate_{'m' if d < 0 else 'p'}{abs(round(d))}" for d in edits.ROTATIONS]
    # last: codes are positions here, and the column cache beside a database stores them (new names go after)
    names += ["zoom", "textless", *SCREENED]
    return tuple(names)


VARIANTS = _vocabulary()  # every variant name; a row's index here is its code in clustering's columns
VARIANT_CODE = {name: code for code, name in enumerate(VARIANTS)}


@dataclasses.dataclass(frozen=True)
class HardEdits:
    """Which hard-edit variants an image gets (settings ``hard_mirror``, ``hard_caption``, ``hard_rotation``,
    ``hard_crop_windows``, ``hard_screenshot``). One switched off is neither computed nor stored: each costs
    hashing time, stored rows and chances of a false match (README "Quality"). The defaults here are
    config/default.toml's."""
    mirror: bool = False
    caption: bool = True
    rotation: bool = True
    crop_windows: bool = False
    screenshot: bool = True

    @classmethod
    def from_settings(cls, settings) -> "HardEdits":
        return cls(settings.hard_mirror, settings.hard_caption, settings.hard_rotation, settings.hard_crop_windows,
                   settings.hard_screenshot)

    @property
    def probing(self) -> bool:
        return self.mirror or self.rotation or self.crop_windows


ALL_HARD_EDITS = HardEdits(mirror=True, caption=True, rotation=True, crop_windows=True, screenshot=True)


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    phash: str  # 16 hex digits, imagehash's str() form
    dhash: str
    phash256: str  # 64 hex digits
    aspect: float = float("nan")  # width / height of the hashed picture (hard-edit pairs must agree on it)
    box: tuple[float, float, float, float] | None = None  # ``screen``: where the picture is, in shares of the image


def detail(gray: Image.Image) -> float:
    """Grey-level standard deviation: near 0 for blank or solid images."""
    return float(np.asarray(gray, dtype=np.float32).std())


def _border_width(lines: np.ndarray, tolerance: int) -> int:
    """How many lines, from the outermost in, belong to a uniform border.

    The reference colour is the outermost line's and stays fixed, so the trim
    removes what was added around the picture and cannot creep along a
    picture's own smooth margin. Up to BLEND_LINES lines right after a border
    are taken too: resampling and JPEG mix the border's colour with the
    picture's there.
    """
    first = lines[0]
    low, high = int(first.min()), int(first.max())
    if high - low > 2 * tolerance:
        return 0  # the usual case, a picture without a border: decided by one line
    reference = (low + high) / 2
    in_border = np.abs(lines - reference).max(axis=1) <= tolerance
    width = len(in_border) if in_border.all() else int(np.argmin(in_border))
    for line in lines[width:width + BLEND_LINES]:
        if int(line.max()) - int(line.min()) > 2 * tolerance:
            break
        width += 1
    return width


def trim_box(gray: Image.Image, tolerance: int = TRIM_TOLERANCE) -> tuple[int, int, int, int] | None:
    """Box (left, top, right, bottom) without uniform borders, or None if none found."""
    a = np.asarray(gray, dtype=np.int16)
    height, width = a.shape
    top, bottom = _border_width(a, tolerance), _border_width(a[::-1], tolerance)
    left, right = _border_width(a.T, tolerance), _border_width(a.T[::-1], tolerance)
    if top + bottom + left + right == 0:
        return None
    box = (left, top, width - right, height - bottom)
    if box[2] - box[0] < width * TRIM_MIN_KEEP or box[3] - box[1] < height * TRIM_MIN_KEEP:
        return None  # mostly uniform picture: its "border" is the content
    return box


def _center(gray: Image.Image, keep: float = CENTER_KEEP) -> Image.Image:
    w, h = gray.size
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return gray.crop((dx, dy, w - dx, h - dy))


def variant_images(gray: Image.Image, caption: bool = True, screenshot: bool = False,
                   fine: Callable[[], Image.Image] | None = None) -> list[tuple[str, Image.Image]]:
    """The base pictures that get hashed, by variant name; the first primary one after "full" is the probes' source.

    A picture under a caption band (pipeline/media/edits.py) is hashed without
    it ("uncaptioned"); its whole ("banded", band included) is kept only as a
    secondary variant, as centre crops are: two different pictures under the
    same caption template would otherwise match by their band. ``caption=False``
    skips the band search (setting ``hard_caption``).

    A screenshot (pipeline/media/screenshot.py; ``screenshot=True``, setting
    ``hard_screenshot``) is hashed by the picture inside its chrome alone,
    ``screen``, cut from ``fine`` (the same image at twice the size, where the
    decoder has it: UI text blurs into the picture at the small size). Its
    whole is not hashed at all: kept even as a secondary variant, it matched
    the whole of a screenshot of another picture in the same app whose
    picture was not found (benchmarks/quality.py). A screenshot of the same
    screenshot matches through its picture. When the chrome is recognised
    but the rectangle in it is too flat to be taken for a photograph, the
    screenshot gets only the secondary SCREENED rows and no caption search
    (its header would be taken for a band).
    """
    from hashtrail.pipeline.media import edits
    from hashtrail.pipeline.media import screenshot as screenshots
    if screenshot and screenshots.worth_a_look(gray):  # first: a screenshot's header looks like a caption band
        large = fine() if fine is not None else gray
        frame = screenshots.find_frame(large)
        if frame is not None and frame.textured:
            picture = large.crop(frame.box)
            picture.info["screen_box"] = tuple(round(v / side, 4) for v, side in zip(frame.box, large.size * 2))
            return [("screen", picture)]
        if frame is not None:  # the chrome is recognised, its picture is not: secondary rows only (SCREENED)
            box = trim_box(gray)
            return [("screened", gray), *([("screened_trim", gray.crop(box))] if box is not None else [])]
    band = edits.caption_box(gray) if caption else None
    if band is not None:
        return [("banded", gray), ("banded_center", _center(gray)), ("uncaptioned", gray.crop(band[0]))]
    out = [("full", gray), ("center", _center(gray))]
    box = trim_box(gray)
    if box is not None:
        trimmed = gray.crop(box)
        out += [("trim", trimmed), ("trim_center", _center(trimmed))]
    return out


def probe_source(variants: list[tuple[str, Image.Image]]) -> str | None:
    """Which variant the crop windows and rotations are cut from: the picture without its caption band.

    Windows of a caption band would match other captioned pictures by their
    band. Trimmed pictures are not used: many photos have a plain background
    that trims, and their copies, cropped or tilted as a whole, do not trim alike.
    None for a screenshot whose picture is not recognised (SCREENED): probes
    of its chrome would match other screenshots of the app.
    """
    names = [n for n, _ in variants]
    if "full" not in names and "uncaptioned" not in names and "screen" not in names:
        return None
    return "uncaptioned" if "uncaptioned" in names else "screen" if "screen" in names else "full"


def phash_bits(thumbs: np.ndarray, side: int = HASH_SIDE) -> np.ndarray:
    """pHash bits of a stack of square greyscale thumbnails, shape (k, side*side).

    The arithmetic of ``imagehash.phash(hash_size=side)`` (2-D DCT-II, top-left
    side x side block, above its median), run on all of an image's variants
    at once: one call instead of one per variant and hash size saves a
    quarter of the per-file time. tests/test_hashing.py checks it is
    bit-identical to imagehash.
    """
    return _above_median(low_dct(thumbs, side))


def low_dct(thumbs: np.ndarray, side: int = HASH_SIDE) -> np.ndarray:
    """Top-left side x side block of each thumbnail's 2-D DCT-II, shape (k, side, side) (rows: vertical)."""
    basis = _dct_basis(thumbs.shape[1], side)
    return basis @ thumbs.astype(np.float64) @ basis.T


def mirrored_dct(low: np.ndarray) -> np.ndarray:
    """The DCT block of the left-right mirrored thumbnails, from the same DCT.

    Reversing the pixels along x multiplies the DCT-II coefficient of
    horizontal frequency k by (-1)^k, exactly (perception's
    ``get_isometric_dct_transforms``, PDQ's dihedral hashes); the median is
    then taken again, as hashing the flipped pixels would.
    """
    sign = np.where(np.arange(low.shape[-1]) % 2 == 1, -1.0, 1.0)
    return low * sign


def _above_median(low: np.ndarray) -> np.ndarray:
    flat = low.reshape(len(low), -1)
    return flat > np.median(flat, axis=1, keepdims=True)


@functools.lru_cache(maxsize=4)
def _dct_basis(n: int, side: int) -> np.ndarray:
    """First ``side`` rows of the n-point DCT-II matrix, as scipy's unnormalised dct.

    pHash needs only the top-left side x side block of the 2-D DCT; computing
    it as basis @ X @ basis.T skips the rest of the transform.
    """
    k = np.arange(side)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))


def dhash_bits(smalls: np.ndarray) -> np.ndarray:
    """dHash bits of a stack of 9x8 thumbnails, shape (k, 64), as ``imagehash.dhash``."""
    return (smalls[:, :, 1:] > smalls[:, :, :-1]).reshape(len(smalls), -1)


def bits_to_hex(bits: np.ndarray) -> list[str]:
    """Rows of bits to hex, the digits of imagehash's ``str()``."""
    return [row.tobytes().hex() for row in np.packbits(bits, axis=1)]


def hash_variants(gray: Image.Image, min_detail: float, probes: bool = True,
                  hard: HardEdits = HardEdits(), fine: Callable[[], Image.Image] | None = None) -> list[Variant]:
    """Hash every variant of a greyscale image that has enough detail, and the mirror of each base one.

    One Lanczos resize per variant to 64x64 (imagehash's input for a 256-bit
    pHash); the 32x32 input of the 64-bit pHash is that thumbnail halved, and
    dHash's 9x8 comes from the 32x32, so each variant costs one large resize.
    A mirror costs no resize: its pHashes are sign flips of the same DCT
    (``mirrored_dct``), its dHash is recomputed from the reversed 9x8 pixels
    (bit tricks on the stored dHash fail on flat regions, where neighbours tie).
    Probes (crop windows, rotations, mirrors) are cut from the picture itself:
    without its caption band or borders (``probe_source``). Every still also
    gets the ``zoom`` probe, its central 95% (``ZOOM_KEEP``): a mild edit, so
    it is on whatever ``hard`` says, and reported as a plain match; so is the
    ``textless`` probe, the whole picture with the lines of text written on it
    painted out (pipeline/media/overlay_text.py), made only when it has some.
    ``probes=False`` leaves them out (video frames); ``hard`` says which hard
    edits are seen through (the scan passes ``HardEdits.from_settings``).
    Screenshots are searched in stills only (``probes``), in ``fine`` if given (``variant_images``).
    """
    variants = variant_images(gray, caption=hard.caption, screenshot=probes and hard.screenshot, fine=fine)
    source = probe_source(variants)
    probing = probes and hard.probing and min(gray.size) >= 2 * MIN_SIDE and source is not None
    pictures = dict(variants)
    # the source's 64x64 goes through its 64-column strip (bit-identical to one resize:
    # Pillow resamples columns first), which the crop windows reuse
    strip = pictures[source].resize((4 * LARGE_SIDE, pictures[source].height), THUMBNAIL_FILTER) \
        if probing and hard.crop_windows and min(pictures[source].size) >= 2 * MIN_SIDE else None
    names, large, thumbs, smalls, aspects = [], [], [], [], []
    # stills only: the picture's central 95%, queried against other media's primary rows (ZOOM_KEEP)
    zoom = [("zoom", _center(pictures["full"], ZOOM_KEEP))] if probes and "full" in pictures else []
    # stills only: the picture with the text written on it painted out, queried like the zoom
    textless = overlay_text.without_text(pictures["full"]) if probes and "full" in pictures else None
    zoom += [("textless", textless)] if textless is not None else []
    for name, picture in variants + zoom:
        if min(picture.size) < MIN_SIDE:
            continue
        if name == source and strip is not None:
            big = strip.resize((4 * LARGE_SIDE, 4 * LARGE_SIDE), THUMBNAIL_FILTER)
        else:
            big = picture.resize((4 * LARGE_SIDE, 4 * LARGE_SIDE), THUMBNAIL_FILTER)
        thumb = big.reduce(2)
        pixels = np.asarray(thumb)
        if pixels.std() < min_detail:
            continue
        names.append(name)
        aspects.append(picture.width / picture.height)
        large.append(np.asarray(big))
        thumbs.append(pixels)
        smalls.append(np.asarray(thumb.resize((HASH_SIDE + 1, HASH_SIDE), Image.LANCZOS)))
    if not names:
        return []
    low, low256, small = low_dct(np.stack(thumbs)), low_dct(np.stack(large), LARGE_SIDE), np.stack(smalls)
    if probing and min(pictures[source].size) >= 2 * MIN_SIDE:
        # every plain variant's mirror (the banded whole is left out, as it never meets another banded)
        base = [k for k, name in enumerate(names)
                if not name.startswith("banded") and name not in SCREENED and not is_probe(name)] \
            if hard.mirror else []
        extra_names, blocks = [], []
        if strip is not None:
            window_names, windows = probes_module.window_blocks(pictures[source], np.asarray(strip))
            extra_names += window_names
            blocks.append(windows)
        if hard.rotation:
            turned_names, turned = probes_module.rotation_blocks(pictures[source])
            extra_names += turned_names
            blocks.append(turned)
        if blocks:
            extra256, extra64, extra_small = (np.concatenate(part) for part in zip(*blocks))
            detailed = probes_module.spread(extra256) >= min_detail
            extra_aspects = probes_module.aspects(pictures[source], extra_names)
            aspects += [a for a, keep in zip(extra_aspects, detailed) if keep]
            names += [n for n, keep in zip(extra_names, detailed) if keep]
            low = np.concatenate([low, extra64[detailed]])
            low256 = np.concatenate([low256, extra256[detailed]])
            small = np.concatenate([small, extra_small[detailed]])
        if base:
            aspects += [aspects[k] for k in base]
            names += [f"mirror_{names[k]}" for k in base]
            low = np.concatenate([low, mirrored_dct(low[base])])
            low256 = np.concatenate([low256, mirrored_dct(low256[base])])
            small = np.concatenate([small, small[base][:, :, ::-1]])
    phashes = bits_to_hex(_above_median(low))
    dhashes = bits_to_hex(dhash_bits(small))
    phash256 = bits_to_hex(_above_median(low256))
    box = pictures["screen"].info.get("screen_box") if "screen" in pictures else None
    return [Variant(*row, box=box if row[0] == "screen" else None)
            for row in zip(names, phashes, dhashes, phash256, [round(a, 4) for a in aspects])]
