"""Pixel-level check of a pair that only a hard-edit variant (or a loose plain match) explains.

Hashes say two small thumbnails look alike; they cannot tell a one-sided
crop from another shot of the same scene panned a little, nor a mirrored
copy from the other half of a nearly symmetric photo (README "Quality").
Pixels can, with one explainable rule:

    after aligning the two pictures under the transform the hashes claim
    (refined by OpenCV's ECC), the smaller picture must lie ENTIRELY inside
    the larger one, and agree with it everywhere: the minimum normalised
    cross-correlation over a grid of tiles, not only the mean, must be high.

A crop, a caption band removed, a mirror or a tilt keeps every pixel of the
smaller picture inside the larger. A panned neighbour has new content on one
side: either its frame sticks out of the other picture, or the tiles on that
side disagree. The transform starts from the variants that met (a crop
window's box, a mirror's flip, a de-rotation's angle: ``variant_frame``), so
ECC only has to refine a few percent of shift and scale.

Plain pairs (two plain variants: the grey zone, ``verify_plain``) are
checked with two allowances for what mild reposting does, which hard pairs
do not get (on benchmarks/quality.py they let other shots of a scene
through a crop window's guessed geometry). First, what reposting writes ON
a picture (a line of text, a watermark, a logo): the tiles that disagree
may be forgiven when they lie in one strip of at most ``OVERLAY_ROWS``
adjacent tile rows, are at most
``GRID`` tiles (a sixth of the picture), and in every one of them the SAME
picture has clearly more fine detail than the other (``OVERLAY_DETAIL``
times as much Laplacian energy, relative to the ratio the agreeing tiles
show): letters are strokes added to one side. Another shot of the scene
does not look like that: parallax or a pan shifts every depth, so the
disagreement spreads over more rows, and an object moved is missing on one
side where it appears on the other, so the detail is not all on one side.
Only pixels inside each picture's content count: a uniform border found by
the scan's trim (``Picture.trim``) is left out, with a margin, so that its
edge blurred into the picture is not taken for a difference. Second, the
claimed map itself is judged when ECC's refinement does not verify (text
can pull ECC off a plain pair's map, which is right to a pixel or two).

Pictures are the scan's small greyscale decode reduced to at most ``SIDE``
pixels on the longer side (``Picture``), with the boxes the variants were
cut by (trim, caption band) found again on the decode the boxes refer to.
Pure: numpy, Pillow and OpenCV only; where the pixels come from is the
caller's business (pipeline/index/verification.py).
"""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
from PIL import Image

from hashtrail.pipeline.media import edits
from hashtrail.pipeline.media.hashing import CENTER_KEEP, ZOOM_KEEP, trim_box, via_of

# Recorded in the clustering rule (store: meta 'clustered'): a new rule here re-clusters old databases.
VERIFIER = "tiles-v2:side96:grid6:min0.7:contained0.97:ecc-affine-or-claimed:content:overlay2x1.5"
SIDE = 96  # longer side of a verification picture, in pixels
GRID = 6  # tiles per side whose worst agreement decides
CONTAINED = 0.97  # share of the smaller picture that must fall inside the larger one
MIN_TILE_NCC = 0.7  # the worst tile's agreement a verified pair reaches
FLAT = 0.3  # contrast (in units of the picture's own) below which a tile counts as flat
EDGE = 2  # outermost lines of the smaller picture left out of the comparison
BLUR = 1.0  # Gaussian sigma (pixels) against JPEG noise and sub-pixel misalignment
OVERLAY_ROWS = 2  # adjacent tile rows a line of text written on a copy may spoil (it straddles one boundary)
OVERLAY_DETAIL = 1.5  # how much more fine detail the written-on side has in each spoiled tile


Box = tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True)
class Picture:
    """What verification needs of one still: small grey pixels and the boxes its variants were cut by."""

    pixels: np.ndarray  # uint8, longer side <= SIDE
    size: tuple[int, int]  # (w, h) of the decode the boxes below refer to
    trim: Box | None
    caption: Box | None

    @classmethod
    def of(cls, gray: Image.Image, caption: bool = True) -> "Picture":
        """From the scan's decode (``decode_still(...).image``): the boxes are found as hashing found them."""
        band = edits.caption_box(gray) if caption else None
        small = gray.copy()
        small.thumbnail((SIDE, SIDE), Image.LANCZOS)
        return cls(np.asarray(small, dtype=np.uint8).copy(), gray.size,
                   None if band is not None else trim_box(gray), band[0] if band is not None else None)


@dataclasses.dataclass(frozen=True)
class Check:
    """The outcome for one pair: ``score`` is the worst tile's NCC (0 when not contained)."""

    verified: bool
    score: float  # worst tile outside a forgiven overlay strip
    contained: float  # share of the smaller picture inside the larger
    tiles: tuple = ()  # every tile's agreement, worst first
    overlay: int = 0  # tiles forgiven as text or a mark written on one side


def _box_frame(box: Box) -> np.ndarray:
    """Affine map (2x3) from unit square coordinates to the box's pixel coordinates."""
    x0, y0, x1, y1 = box
    return np.array([[x1 - x0, 0, x0], [0, y1 - y0, y0]], dtype=np.float64)


def _center_box(box: Box, keep: float = CENTER_KEEP) -> Box:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return x0 + dx, y0 + dy, x1 - dx, y1 - dy


def variant_frame(picture: Picture, name: str) -> np.ndarray | None:
    """Where a variant's picture lies in the decode: unit square -> decode pixels (2x3), None if unknown."""
    w, h = picture.size
    whole = (0, 0, w, h)
    if name.startswith("mirror_"):
        inner = variant_frame(picture, name.removeprefix("mirror_"))
        if inner is None:
            return None
        flip = np.array([[-1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
        return inner @ flip
    source = picture.caption or whole  # probes are cut from the picture without its caption band
    boxes = {"full": whole, "banded": whole, "center": _center_box(whole), "banded_center": _center_box(whole),
             "zoom": _center_box(whole, ZOOM_KEEP), "textless": whole}  # textless: the whole, text painted out
    if picture.trim is not None:
        boxes |= {"trim": picture.trim, "trim_center": _center_box(picture.trim)}
    if picture.caption is not None:
        boxes["uncaptioned"] = picture.caption
    sx0, sy0, sx1, sy1 = source
    for window, (x0, y0, x1, y1) in edits.window_boxes(sx1 - sx0, sy1 - sy0):
        boxes[window] = (x0 + sx0, y0 + sy0, x1 + sx0, y1 + sy0)
    if name in boxes:
        return _box_frame(boxes[name])
    if name.startswith("rotate_"):
        degrees = (-1 if name[7] == "m" else 1) * float(name[8:])
        sw, sh = sx1 - sx0, sy1 - sy0
        cw, ch = edits.largest_upright(sw, sh, degrees)
        cx, cy = sx0 + sw / 2, sy0 + sh / 2
        t = -math.radians(degrees)  # as edits.derotated_centres: source = R(t) (dest - centre) + centre
        a, b, d, e = math.cos(t), math.sin(t), -math.sin(t), math.cos(t)
        x0, y0 = (sw - cw) / 2 - sw / 2, (sh - ch) / 2 - sh / 2
        return np.array([[a * cw, b * ch, a * x0 + b * y0 + cx], [d * cw, e * ch, d * x0 + e * y0 + cy]])
    return None


def _homogeneous(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0, 0, 1]])


def claimed_warp(a: Picture, name_a: str, b: Picture, name_b: str) -> np.ndarray | None:
    """The map (3x3) from b's verification pixels to a's that the matched variants claim."""
    fa, fb = variant_frame(a, name_a), variant_frame(b, name_b)
    if fa is None or fb is None:
        return None
    scale_a = np.diag([a.pixels.shape[1] / a.size[0], a.pixels.shape[0] / a.size[1], 1.0])
    scale_b = np.diag([b.pixels.shape[1] / b.size[0], b.pixels.shape[0] / b.size[1], 1.0])
    return scale_a @ _homogeneous(fa) @ np.linalg.inv(scale_b @ _homogeneous(fb))


def _inside(m: np.ndarray, inner: tuple[int, int], outer: tuple[int, int]) -> float:
    """Share of the inner picture's pixels (h, w) that the map puts inside the outer picture (h, w)."""
    h, w = inner
    ys, xs = np.mgrid[0:h:2, 0:w:2]
    pts = m[:2, :2] @ np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5]) + m[:2, 2:3]
    oh, ow = outer
    tol = 0.01 * max(ow, oh)  # resampling puts the edge a pixel either way
    ok = (pts[0] >= -tol) & (pts[0] <= ow + tol) & (pts[1] >= -tol) & (pts[1] <= oh + tol)
    return float(ok.mean())


def _content(picture: Picture, shape: tuple[int, int], trim: bool = True) -> np.ndarray:
    """1 on the pixels (of an array of ``shape``, the picture at some scale) that show its content.

    Its outermost ``EDGE`` lines are left out (resampling and blur mix in
    what lies beyond), and, when the scan found a uniform border, the border
    and ``EDGE`` lines inside it: a white frame blurred into the picture's
    first lines would count as a difference.
    """
    h, w = shape
    x0, y0, x1, y1 = 0, 0, w, h
    if trim and picture.trim is not None:
        sx, sy = w / picture.size[0], h / picture.size[1]
        tx0, ty0, tx1, ty1 = picture.trim
        x0, y0, x1, y1 = round(tx0 * sx), round(ty0 * sy), round(tx1 * sx), round(ty1 * sy)
    mask = np.zeros(shape, np.float32)
    mask[y0 + EDGE:max(y0 + EDGE, y1 - EDGE), x0 + EDGE:max(x0 + EDGE, x1 - EDGE)] = 1
    return mask


def _refine(template: np.ndarray, image: np.ndarray, m: np.ndarray) -> np.ndarray:
    """ECC (OpenCV) refinement of an affine map template -> image; the start when it does not converge."""
    warp = m[:2].astype(np.float32)
    try:
        _, warp = cv2.findTransformECC(template, image, warp, cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-4), None, 1)
    except cv2.error:
        return m
    refined = _homogeneous(warp.astype(np.float64))
    # a refinement that runs off (flat pictures give ECC nothing to hold) is not a refinement
    if np.abs(refined[:2, :2] - m[:2, :2]).max() > 0.25 * np.abs(m[:2, :2]).max():
        return m
    return refined


def _tile_stats(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per tile of a GRID x GRID grid (NaN where mostly unseen): agreement, and x's detail over y's.

    Agreement, over valid pixels: 1 alike, 0 unrelated. Both pictures are
    first brought to zero mean and unit contrast over what they share (so
    brightness and contrast edits do not count); a tile's agreement is
    ``1 - mean((x - y)^2) / (var x + var y + FLAT^2)``: the normalised
    cross-correlation of the tile when it is textured (less when the
    contrasts differ), and near 1 for two flat tiles of the same tone, where
    NCC would only correlate JPEG noise. A flat tile against a textured one,
    or two different textures, score near 0. Detail is the mean squared
    Laplacian (fine strokes, edges); its ratio says which side has more.
    """
    v = (valid > 0.5).astype(np.float64)
    if v.sum() < 16:
        return None
    shared = v > 0
    x = (x - x[shared].mean()) / max(x[shared].std(), 1e-6)
    y = (y - y[shared].mean()) / max(y[shared].std(), 1e-6)
    h, w = x.shape
    ys = np.linspace(0, h, GRID + 1).round().astype(int)[:-1]
    xs = np.linspace(0, w, GRID + 1).round().astype(int)[:-1]
    tiles = lambda a: np.add.reduceat(np.add.reduceat(a * v, ys, axis=0), xs, axis=1)  # noqa: E731
    n, sx, sy = tiles(np.ones_like(x)), tiles(x), tiles(y)
    area = np.add.reduceat(np.add.reduceat(np.ones_like(x), ys, axis=0), xs, axis=1)
    seen = n >= 0.5 * area  # a tile mostly outside the other picture: containment judges that
    if not seen.any():
        return None
    n = np.maximum(n, 1)
    var_x = tiles(x * x) / n - (sx / n) ** 2
    var_y = tiles(y * y) / n - (sy / n) ** 2
    agree = 1.0 - (tiles((x - y) ** 2) / n) / (var_x + var_y + FLAT ** 2)
    detail = lambda z: tiles(cv2.Laplacian(z.astype(np.float32), cv2.CV_32F).astype(np.float64) ** 2)  # noqa: E731
    ratio = (detail(x) + 1e-9) / (detail(y) + 1e-9)
    agree[~seen] = np.nan
    return agree, ratio


def _overlay(agree: np.ndarray, ratio: np.ndarray) -> int:
    """How many disagreeing tiles are forgiven as one overlay (text, a mark) written on one side; 0: none.

    They must lie in at most OVERLAY_ROWS adjacent tile rows, be at most GRID
    tiles, and all have more detail on the same side, by OVERLAY_DETAIL
    against the detail ratio of the agreeing tiles (the two pictures' own
    sharpness differs with their scale and compression).
    """
    seen = ~np.isnan(agree)
    bad = seen & (agree < MIN_TILE_NCC)
    good = seen & ~bad
    rows = np.nonzero(bad.any(axis=1))[0]
    if not bad.any() or not good.any() or bad.sum() > GRID or rows[-1] - rows[0] + 1 > OVERLAY_ROWS:
        return 0
    relative = ratio[bad] / np.median(ratio[good])
    one_side = (relative > OVERLAY_DETAIL).all() or (relative < 1 / OVERLAY_DETAIL).all()
    return int(bad.sum()) if one_side else 0


def _judge(template: np.ndarray, image: np.ndarray, m: np.ndarray, valid_inner: np.ndarray,
           content_outer: np.ndarray, overlay: bool) -> tuple[float, float, np.ndarray, int]:
    """(containment, worst judged tile, all tiles, forgiven overlay tiles) of the inner picture mapped by m."""
    contained = _inside(m, template.shape, image.shape)
    if contained < CONTAINED:
        return contained, 0.0, np.zeros(0), 0
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    size = (template.shape[1], template.shape[0])
    warp = m[:2].astype(np.float32)
    warped = cv2.warpAffine(image, warp, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpAffine(content_outer, warp, size, flags=flags) * valid_inner
    stats = _tile_stats(template, warped, valid)
    if stats is None:
        return contained, 0.0, np.zeros(0), 0
    agree, ratio = stats
    forgiven = _overlay(agree, ratio) if overlay else 0
    judged = agree[~np.isnan(agree) & ((agree >= MIN_TILE_NCC) if forgiven else True)]
    tiles = np.sort(np.maximum(-1.0, agree[~np.isnan(agree)]))
    return contained, float(np.maximum(-1.0, judged).min()), tiles, forgiven


def check(a: Picture, name_a: str, b: Picture, name_b: str) -> Check:
    """Whether a's variant ``name_a`` and b's ``name_b`` really show the same picture (see the module doc)."""
    m = claimed_warp(a, name_a, b, name_b)
    if m is None or abs(np.linalg.det(m[:2, :2])) < 1e-9:
        return Check(False, 0.0, 0.0)
    pic_inner, pic_outer = b, a
    inner, outer = b.pixels, a.pixels
    area_b_in_a = abs(np.linalg.det(m[:2, :2])) * inner.size
    if area_b_in_a > outer.size:  # a is the smaller picture: map a into b
        m, inner, outer, pic_inner, pic_outer = np.linalg.inv(m), outer, inner, a, b
    # the same detail on both sides: the picture that shows the shared part with more pixels is
    # brought down to the other's scale (else fine texture only one side resolves counts as a difference)
    scale = math.sqrt(abs(np.linalg.det(m[:2, :2])))  # outer pixels per inner pixel
    if scale < 1:
        size = (max(8, round(inner.shape[1] * scale)), max(8, round(inner.shape[0] * scale)))
        m = m @ np.diag([inner.shape[1] / size[0], inner.shape[0] / size[1], 1.0])
        inner = cv2.resize(inner, size, interpolation=cv2.INTER_AREA)
        scale = 1.0
    plain = via_of(name_a) == via_of(name_b) == "plain"
    content_inner = _content(pic_inner, inner.shape, plain)
    content_outer = _content(pic_outer, outer.shape) if plain else np.ones(outer.shape, np.float32)
    template = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), BLUR)
    image = cv2.GaussianBlur(outer.astype(np.float32), (0, 0), BLUR * scale)
    # ECC's refinement; for a plain pair also the claimed map itself, when the refinement does not verify
    first = None
    for trial in (_refine(template, image, m), m)[:2 if plain else 1]:
        contained, score, tiles, forgiven = _judge(template, image, trial, content_inner, content_outer, plain)
        result = Check(contained >= CONTAINED and score >= MIN_TILE_NCC, round(score, 4), round(contained, 4),
                       tuple(tiles.round(3).tolist()), forgiven)
        if result.verified:
            return result
        first = first or result
    return first
