"""Pictures cut out of an image to see through the edits campaigns make.

Plain and centre-crop variants (pipeline/media/hashing.py) survive re-encoding,
resizing, borders and a few percent of crop on every side. Reposts made to
dodge matching do more: cut 10-20% off one side, cut a landscape photo to a
square, add a caption band above or below, tilt the picture. Each function
here gives the picture the *original* would show after such an edit, so its
hash lines up with the edited copy's plain hash:

- ``window_boxes``: the image without 6, 12 or 18% of one side (a copy cut by
  0-21% from that side is within 3% of one of them), and square cuts (left,
  centre, right of a landscape; top, centre, bottom of a portrait);
- ``caption_box``: the picture without a caption band: a near-uniform band
  holding text, at the top or bottom, 8-40% of the height;
- ``derotated_centres``: the image turned back by a few degrees and cut to
  the largest upright rectangle inside it (what a tilted copy keeps).

Windows and rotations are *probes*: stored, but only compared with other
media's primary variants (pipeline/index/cluster.py), so the join's table does
not grow with them. Their hashes come from pipeline/media/probes.py without
resizing each window. Mirrors need no pixels: they come from the same DCT.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

WINDOW_SHARES = (0.06, 0.12, 0.18)  # shares cut from one side by the crop windows
SQUARE_MIN_ASPECT = 1.15  # a square cut is only a new picture of a clearly oblong one
ROTATIONS = (-4.0, 4.0)  # degrees the de-rotated centres turn back (a tilt of 2-6 degrees is within 2 of one)
BAND_TOLERANCE = 14  # grey levels a caption band's background may vary
BAND_MIN, BAND_MAX = 0.08, 0.40  # a caption band's share of the height
BAND_BACKGROUND = 0.10  # a band row has at least this share of background (small text blurs into most of a row)
BAND_CLEAN = 0.97  # a clean row (between text lines, or the band's edge) is this much background
BAND_INK = 0.015  # a band holds text: some of its rows have more ink than this share
BAND_STROKES = 4  # ... broken into at least this many strokes in the median inked row
BAND_PICTURE = 0.6  # right after the band, rows have at most this share of the band's colour


def window_boxes(w: int, h: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """One-sided crop windows ``crop_<side><percent>`` and square cuts ``square_<where>``, as boxes."""
    out = []
    for share in WINDOW_SHARES:
        dx, dy = round(w * share), round(h * share)
        pct = round(share * 100)
        out += [(f"crop_l{pct}", (dx, 0, w, h)), (f"crop_r{pct}", (0, 0, w - dx, h)),
                (f"crop_t{pct}", (0, dy, w, h)), (f"crop_b{pct}", (0, 0, w, h - dy))]
    if w >= h * SQUARE_MIN_ASPECT:
        out += [(f"square_{where}", (x, 0, x + h, h)) for where, x in (("l", 0), ("c", (w - h) // 2), ("r", w - h))]
    elif h >= w * SQUARE_MIN_ASPECT:
        out += [(f"square_{where}", (0, y, w, y + w)) for where, y in (("t", 0), ("c", (h - w) // 2), ("b", h - w))]
    return out


def _band_height(rows: np.ndarray) -> int:
    """Height of a caption band at the start of ``rows`` (the outermost first), 0 if none.

    The band's colour is its outermost row's, which must be uniform. Rows
    stay in the band while at least BAND_BACKGROUND of their pixels have that
    colour (a line of caption text leaves most of the row blank); the band
    ends at its last clean row before the picture, so a text line cut by the
    picture's edge is not taken for the band. A band must hold text: rows of
    ink broken into several strokes (letters), not one or two long runs (a
    silhouette on a plain background), and the picture must start right
    after it (rows mostly not of the band's colour). It is 8-40% of the height.
    """
    height = len(rows)
    first = rows[0]
    if int(first.max()) - int(first.min()) > 2 * BAND_TOLERANCE:
        return 0
    background = np.abs(rows[: int(height * BAND_MAX) + 4] - float(np.median(first))) <= BAND_TOLERANCE
    share = background.mean(axis=1)
    in_band = share >= BAND_BACKGROUND
    run = len(in_band) if in_band.all() else int(np.argmin(in_band))
    clean = np.nonzero(share[:run] >= BAND_CLEAN)[0]
    if len(clean) == 0:
        return 0
    end = int(clean[-1]) + 1
    if not (height * BAND_MIN <= end <= height * BAND_MAX):
        return 0
    ink = ~background[:end]
    inked = (1 - share[:end]) >= BAND_INK
    if not inked.any():
        return 0  # no text: a plain border
    strokes = (ink[:, 1:] & ~ink[:, :-1]).sum(axis=1)[inked]
    if np.median(strokes) < BAND_STROKES:
        return 0  # a shape, not letters
    if share[end: end + 3].mean() > BAND_PICTURE:
        return 0  # the picture does not start here: a plain area of the band's colour goes on
    return end


def caption_box(gray: Image.Image) -> tuple[tuple[int, int, int, int], str] | None:
    """Box of the picture without caption bands, and which sides had one ('t', 'b', 'tb'); None if none."""
    a = np.asarray(gray, dtype=np.int16)
    height, width = a.shape
    if height < 40 or width < 40:
        return None
    top, bottom = _band_height(a), _band_height(a[::-1])
    if top + bottom == 0 or height - top - bottom < height * (1 - 2 * BAND_MAX):
        return None
    sides = ("t" if top else "") + ("b" if bottom else "")
    return (0, top, width, height - bottom), sides


def largest_upright(w: int, h: int, degrees: float) -> tuple[int, int]:
    """Size of the largest axis-aligned rectangle inside a w x h rectangle turned by ``degrees``."""
    angle = math.radians(abs(degrees))
    sin, cos = math.sin(angle), math.cos(angle)
    long_side, short_side = max(w, h), min(w, h)
    if short_side <= 2 * sin * cos * long_side or abs(sin - cos) < 1e-10:
        x = 0.5 * short_side
        wr, hr = (x / sin, x / cos) if w >= h else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        wr, hr = (w * cos - h * sin) / cos2, (h * cos - w * sin) / cos2
    return int(wr), int(hr)


def derotated_centres(gray: Image.Image, side: int = 64) -> list[tuple[str, Image.Image]]:
    """The image turned back by each of ROTATIONS, cut to its largest upright rectangle, as side x side.

    A copy tilted by a degrees and cut to its own largest upright rectangle
    (a "straighten" tool) shows what this image, turned by a and cut the same
    way, shows. One affine resample per angle straight to the thumbnail, from
    the image halved first (a rotate, crop and resize of the whole image cost
    ~5x more and hash the same within a bit or two).
    """
    w, h = gray.size
    source, k = (gray.reduce(2), 0.5) if min(w, h) >= 4 * side else (gray, 1.0)
    cx, cy = w / 2, h / 2
    out = []
    for degrees in ROTATIONS:
        cw, ch = largest_upright(w, h, degrees)
        x0, y0, sx, sy = (w - cw) / 2, (h - ch) / 2, cw / side, ch / side
        t = -math.radians(degrees)  # PIL's rotate: source = R(t) (dest - centre) + centre
        a, b, d, e = math.cos(t), math.sin(t), -math.sin(t), math.cos(t)
        matrix = (k * a * sx, k * b * sy, k * (a * (x0 - cx) + b * (y0 - cy) + cx),
                  k * d * sx, k * e * sy, k * (d * (x0 - cx) + e * (y0 - cy) + cy))
        name = f"rotate_{'m' if degrees < 0 else 'p'}{abs(round(degrees))}"
        out.append((name, source.transform((side, side), Image.AFFINE, matrix, resample=Image.BILINEAR)))
    return out
