"""How an image is hashed: a small bag of perceptual-hash *variants*.

Plain pHash fails exactly where reposting changes an image most: an added
border, letterboxing or a small crop moves every pixel of the 32x32 thumbnail
pHash looks at (benchmarks/quality.py measures recall near 0 for borders).
Instead of one hash, each image gets up to four variants:

- ``full``: the whole picture;
- ``center``: the central 90% (a repost cropped by a few percent per side
  lines up with this one);
- ``trim``: the picture with uniform borders and letterbox bars removed;
- ``trim_center``: the central 90% of the trimmed picture.

Two media match when *some* pair of their variants is within both the pHash
and the dHash threshold. pHash finds candidates; dHash (gradient signs, a
different view of the image) confirms them, which keeps similar-but-different
photos of one scene apart. Flat variants (blank frames, solid fills) are
dropped, as ThreatExchange drops low-quality PDQ hashes: they would match each
other and everything flat.

pHash: http://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html
dHash: http://www.hackerfactor.com/blog/index.php?/archives/529-Kind-of-Like-That.html
"""
from __future__ import annotations

import dataclasses

import imagehash
import numpy as np
from PIL import Image

# Stored with every hash: imagehash changed pHash output between releases, so
# hashes of different hasher ids must not be compared blindly.
HASHER = f"variants-v1:phash64+dhash64:imagehash-{imagehash.__version__}"

CENTER_KEEP = 0.90  # share of each side kept by the centre-crop variants
TRIM_TOLERANCE = 12  # grey levels a border line may vary (JPEG noise)
TRIM_MIN_KEEP = 0.30  # never trim an image down below this share of a side
MIN_SIDE = 8  # a variant smaller than this is not hashed


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    phash: str  # 16 hex digits, imagehash's str() form
    dhash: str


def detail(gray: Image.Image) -> float:
    """Grey-level standard deviation: near 0 for blank or solid images."""
    return float(np.asarray(gray, dtype=np.float32).std())


def _uniform_run(lines: np.ndarray, tolerance: int) -> int:
    """How many lines, from the first on, are uniform and of the first's colour."""
    reference = np.median(lines[0])
    uniform = np.abs(lines - reference).max(axis=1) <= tolerance
    return len(uniform) if uniform.all() else int(np.argmin(uniform))


def trim_box(gray: Image.Image, tolerance: int = TRIM_TOLERANCE) -> tuple[int, int, int, int] | None:
    """Box (left, top, right, bottom) without uniform borders, or None if none found.

    Repeats so that nested borders (a black frame around a white one) go too.
    """
    a = np.asarray(gray, dtype=np.int16)
    height, width = a.shape
    left, top, right, bottom = 0, 0, width, height
    for _ in range(3):
        view = a[top:bottom, left:right]
        t = _uniform_run(view, tolerance)
        b = _uniform_run(view[::-1], tolerance)
        l = _uniform_run(view.T, tolerance)
        r = _uniform_run(view.T[::-1], tolerance)
        if t + b == 0 and l + r == 0:
            break
        new = (left + l, top + t, right - r, bottom - b)
        if new[2] - new[0] < width * TRIM_MIN_KEEP or new[3] - new[1] < height * TRIM_MIN_KEEP:
            break  # mostly uniform picture: its "border" is the content
        left, top, right, bottom = new
    if (left, top, right, bottom) == (0, 0, width, height):
        return None
    return left, top, right, bottom


def _center(gray: Image.Image) -> Image.Image:
    w, h = gray.size
    dx, dy = round(w * (1 - CENTER_KEEP) / 2), round(h * (1 - CENTER_KEEP) / 2)
    return gray.crop((dx, dy, w - dx, h - dy))


def variant_images(gray: Image.Image) -> list[tuple[str, Image.Image]]:
    """The pictures that get hashed, by variant name."""
    out = [("full", gray), ("center", _center(gray))]
    box = trim_box(gray)
    if box is not None:
        trimmed = gray.crop(box)
        out += [("trim", trimmed), ("trim_center", _center(trimmed))]
    return out


def hash_variants(gray: Image.Image, min_detail: float) -> list[Variant]:
    """Hash every variant of a greyscale image that has enough detail."""
    variants = []
    for name, picture in variant_images(gray):
        if min(picture.size) < MIN_SIDE or detail(picture) < min_detail:
            continue
        variants.append(Variant(name, str(imagehash.phash(picture)), str(imagehash.dhash(picture))))
    return variants
