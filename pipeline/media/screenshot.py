"""The picture inside a screenshot: the largest inner image rectangle in flat UI chrome.

Campaigns repost a screenshot of another post or of a news page: the picture
sits inside chrome (status and header bars, an avatar and a name, lines of
text, action icons). Hashed whole, the chrome decides the hash: two different
pictures in the same app match each other, and neither matches its original.
``picture_box`` finds the picture so it can be hashed on its own
(pipeline/media/hashing.py, variant ``screen``).

What a screenshot's picture looks like on the finer grey decode (twice the
scan's small size, ~100-250 px a side: ``Decoded.fine``), and what each rule
rules out:

- *busy* pixels, whose 3x3 neighbourhood spans more than BUSY grey levels,
  cover a photograph's texture and its outline against the chrome; flat UI
  is not busy, and a picture's smooth parts (sky) are enclosed by its
  outline, so filling holes gives the whole picture as one solid region.
  Pixels *off the page* count too: more than PAGE_TOLERANCE from the page's
  colour (the median of the left and right margins, mostly page in UI). A
  pale picture whose edge is nearly the white of the page has no busy
  outline there, but it is off the page, so its region still closes;
- an opening by a square of OPEN_SIDE px removes text lines, icons and thin
  rules, and most bridges between the picture and text blocks;
- in the largest region left, the picture is the longest-area run of rows
  that are solid over one span (``_full_rectangle``: a headline touching it
  is wider, a byline narrower); the rest of the region is at most ATTACHED
  of it (a disc or a subject on a plain background is no rectangle);
- it covers AREA_MIN to AREA_MAX of the image and is textured inside
  (``_textured``): either busy over INSIDE_BUSY of it (texture, edges), or
  grainy over most of it (INSIDE_GRAINY of its pixels span more than GRAIN
  grey levels: a smooth photograph, a pale micrograph or a sky, varies from
  pixel to pixel almost everywhere, with few strong edges). A flat shape (a
  silhouette's body, a flat panel) is one tone but for its outline: neither;
- it is *inside* the chrome: not touching the left or right side (a picture
  spanning the width under a text band is a caption, the caption variant's
  case), with plain page beside it on the left or the right (a margin; not
  the smooth side of a larger picture), and what lies outside it is UI:
  mostly flat (a photo of a framed picture on a textured wall is not), with
  some ink (text or icons: a picture in a plain border or letterbox bars has
  none, the trim variants' case).

``find_frame`` applies every rule but the texture one and reports the
texture apart: a ``Frame`` whose inside is not textured is chrome around
something not taken for a photograph (a flat panel, a silhouette's body, a
picture too smooth to tell from one). The scan hashes such a screenshot
only as secondary variants, which never match each other: two of them in
one app do not pair by their chrome. ``picture_box`` is a textured frame's box.

``worth_a_look`` is the cheap first test on the small decode (flat left and
right margins); OpenCV's morphology (50-100x faster than scipy.ndimage's
here) keeps the rest at ~0.1 ms an image. benchmarks/quality.py measures
what it finds and what it takes for a screenshot wrongly.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from PIL import Image

BUSY = 10  # grey levels a 3x3 neighbourhood spans in texture or an edge (JPEG noise in flat UI stays below)
OPEN_SIDE = 9  # px: text lines, icons and rules at the working size are thinner
AREA_MIN, AREA_MAX = 0.15, 0.85  # the picture's share of the screenshot
SIDE_MARGIN = 0.015  # the picture keeps at least this share of the width from the left and right sides
INSIDE_BUSY = 0.1  # share of the picture that is texture (a flat shape is not a photograph)
GRAIN = 2  # grey levels a 3x3 neighbourhood of a smooth photograph spans (a flat fill's, JPEG noise included: 0-1)
INSIDE_GRAINY = 0.5  # ... over most of the picture, if it is not busy (a flat shape's grain is its outline)
PAGE_TOLERANCE = 4  # grey levels a pixel of the page may differ from the page's colour (JPEG noise stays within)
PLAIN_BESIDE = 4.0  # grey-level spread of the page beside the picture, on one side at least (a margin)
OUTSIDE_FLAT = 0.5  # share of the chrome (outside the picture) that is not busy
OUTSIDE_INK = 0.02  # ... and that is busy: text and icons
ATTACHED = 0.6  # the region may hold this much more than its inner rectangle (text lines touching it)
MIN_SIDE = 96  # smaller images are not searched (the finer decode of a screenshot is larger)
FLAT_SHARE = 0.25  # a screenshot's small image has at least this share of equal neighbours (flat UI)


_SQUARE3 = np.ones((3, 3), np.uint8)


def spans(a: np.ndarray) -> np.ndarray:
    """Grey levels each pixel's 3x3 neighbourhood spans (uint8 in and out)."""
    return cv2.dilate(a, _SQUARE3) - cv2.erode(a, _SQUARE3)


def busy_mask(a: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood spans more than BUSY grey levels (uint8 in, bool out)."""
    return spans(a) > BUSY


def _textured(span: np.ndarray) -> bool:
    """A photograph's inside (``span``: ``spans`` of it), not a flat shape: busy in places, or grainy all over.

    Busy pixels alone missed smooth photographs: a pale micrograph in a phone
    post has its outline found, but under 5% of it spans more than BUSY grey
    levels, like a silhouette's flat body. Its grain tells them apart: over
    most of the micrograph neighbours differ by a few levels, while a flat
    shape is one tone (JPEG noise spans 0-1 level there) but for its outline.
    """
    return bool(span.size) and bool((span > BUSY).mean() >= INSIDE_BUSY or (span > GRAIN).mean() >= INSIDE_GRAINY)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every region it encloses filled (a flood of the outside from the border, as fill-holes)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    cv2.floodFill(padded, None, (0, 0), 2)
    return (padded != 2)[1:-1, 1:-1]


def worth_a_look(gray: Image.Image) -> bool:
    """A cheap look at the small image: flat margins at the left and right, some flat area in all.

    Most photos fail it (texture reaches their sides), so the search proper,
    on the finer image, runs on few of them.
    """
    a = np.asarray(gray, dtype=np.int16)
    height, width = a.shape
    if min(height, width) < MIN_SIDE // 2:
        return False
    margin = max(1, round(width * SIDE_MARGIN))
    # a column's grey range along its length would be too strict (a header bar); count its busy steps
    sides = np.concatenate([a[:, :margin], a[:, -margin:]], axis=1)
    steps = np.abs(np.diff(sides, axis=0)) > BUSY
    if steps.mean() > (1 - OUTSIDE_FLAT) / 2:
        return False
    flat = (np.abs(np.diff(a, axis=1)) <= 2).mean()
    return flat >= FLAT_SHARE


@dataclasses.dataclass(frozen=True)
class Frame:
    """A rectangle framed by UI chrome (every rule above but the texture one), and whether a photograph fills it.

    ``textured`` False: the chrome is recognised, its picture is not (a flat
    panel, a silhouette's body, a photograph too smooth to tell from one):
    the scan then keeps every row of it secondary (pipeline/media/hashing.py).
    """

    box: tuple[int, int, int, int]  # left, top, right, bottom
    textured: bool


def picture_box(gray: Image.Image) -> tuple[int, int, int, int] | None:
    """Box (left, top, right, bottom) of the picture inside a screenshot's chrome, or None if it is not one."""
    frame = find_frame(gray)
    return frame.box if frame is not None and frame.textured else None


def find_frame(gray: Image.Image) -> Frame | None:
    """The rectangle inside a screenshot's chrome and whether it holds a photograph, or None if it is not one."""
    a = np.asarray(gray.convert("L"), dtype=np.uint8)
    height, width = a.shape
    if min(height, width) < MIN_SIDE:
        return None
    margin = max(1, round(width * SIDE_MARGIN))
    span = spans(a)
    busy = span > BUSY
    if busy[:, :margin].mean() > 1 - OUTSIDE_FLAT or busy[:, -margin:].mean() > 1 - OUTSIDE_FLAT:
        return None  # texture at the sides: a photo
    page = float(np.median(np.concatenate([a[:, :margin], a[:, -margin:]], axis=1)))
    off_page = np.abs(a.astype(np.int16) - page) > PAGE_TOLERANCE
    solid = cv2.morphologyEx(_fill_holes(busy | off_page).astype(np.uint8), cv2.MORPH_OPEN,
                             np.ones((OPEN_SIDE, OPEN_SIDE), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=4)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, size = (int(v) for v in stats[largest])
    t, b, l, r = _full_rectangle(labels[y:y + h, x:x + w] == largest)
    top, bottom, left, right = y + t, y + b, x + l, x + r
    box_area = (bottom - top) * (right - left)
    if not AREA_MIN * height * width <= box_area <= AREA_MAX * height * width:
        return None
    if size - box_area > ATTACHED * box_area:
        return None  # not a rectangle: most of the region lies outside the rectangle inside it
    if left < margin or right > width - margin:
        return None  # spans the width: a caption band's case, or an ordinary photo
    beside = [a[top + 1:bottom - 1, :left - 1], a[top + 1:bottom - 1, right + 1:]]
    if not any(strip.size and strip.std() <= PLAIN_BESIDE for strip in beside):
        return None  # no plain page beside the picture: a part of a larger picture (a meme's smooth side)
    outside = np.ones_like(busy)  # the chrome: away from the region (and its outline)
    outside[max(0, y - 1):y + h + 1, max(0, x - 1):x + w + 1] = False
    if not outside.any() or not OUTSIDE_INK <= busy[outside].mean() <= 1 - OUTSIDE_FLAT:
        return None
    # busy pixels ring the picture's outline one pixel outside it (their 3x3 window reaches in);
    # a flat inside (a silhouette's body) is a frame in chrome, not a photograph
    return Frame((left + 1, top + 1, right - 1, bottom - 1), _textured(span[top + 2:bottom - 2, left + 2:right - 2]))


def _full_rectangle(region: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the largest block of consecutive rows that fill the same span.

    At the working size a headline or a line of text right above or below
    the picture touches it and joins its region. The picture is the rows
    that are solid from one left edge to one right edge (within a pixel, for
    rounded corners): the longest-area run of such rows. Vectorised: a
    region is one or two hundred rows.
    """
    height, width = region.shape
    filled = region.any(axis=1)
    first = np.argmax(region, axis=1)
    last = width - 1 - np.argmax(region[:, ::-1], axis=1)
    solid = filled & (region.sum(axis=1) == last - first + 1)
    same = np.zeros(height, dtype=bool)  # row k continues row k-1's span
    same[1:] = solid[1:] & solid[:-1] & (np.abs(np.diff(first)) <= 1) & (np.abs(np.diff(last)) <= 1)
    starts = np.nonzero(solid & ~same)[0]
    if len(starts) == 0:
        return 0, 0, 0, 0
    ends = np.append(starts[1:], height)
    ends = np.array([s_ + (int(np.argmin(same[s_ + 1:e])) + 1 if not same[s_ + 1:e].all() else e - s_)
                     for s_, e in zip(starts.tolist(), ends.tolist())])
    spans = [(int(np.median(first[a:b])), int(np.median(last[a:b])) + 1) for a, b in zip(starts, ends)]
    areas = [(b - a) * (r - l) for (a, b), (l, r) in zip(zip(starts, ends), spans)]
    best = int(np.argmax(areas))
    return int(starts[best]), int(ends[best]), spans[best][0], spans[best][1]
