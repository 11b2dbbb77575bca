"""Text written on a picture (a meme's caption, a slogan, a watermark line), found and painted out.

A copy with a line of text drawn onto the photo itself keeps every other
pixel, yet on a smooth picture (a clock on a plain wall, a rocket against
the sky) the letters are the sharpest thing in it and move the 256-bit
pHash past its threshold, and on a photo of text they move the 64-bit one
(benchmarks/quality.py). The hashes cannot be told to ignore a region; the
pixels can be given back. So a still also gets the ``textless`` probe: its
picture with the lines of written text found here filled in from around
them (OpenCV's Telea inpainting), hashed like any other variant and, as a
probe, compared only with other media's primary variants, at the hard
thresholds. The original has no text there, so its primary rows are what
the copy's probe is compared with; the original's own probe is at worst
one more row.

What counts as a line of written text, on the scan's small greyscale
decode (letters are a few pixels tall there):

- *strokes*: pixels that stand out from their 3x3 neighbourhood (white
  top-hat or black-hat: thin bright letters, their dark outline or shadow)
  by at least ``MIN_CONTRAST`` grey levels and ``TEXTURE`` times the
  picture's median, so that the picture's own fine texture is not taken
  for letters;
- *words*: runs of rows where strokes fill at least ``DENSITY`` of every
  ``2 * REACH + 1`` pixels along the row, at most ``MAX_HEIGHT`` of the
  picture tall, with quiet rows just above and below (``QUIET``: a line of
  letters has a top and a bottom; a texture or the picture's own edges do
  not stop there);
- *a line*: words side by side on the same rows, gaps up to ``GAP`` line
  heights, drawn alike (contrast within ``ALIKE``), together at least
  ``MIN_WIDTH`` of the picture wide and ``MIN_ASPECT`` times as wide as tall.

Written text is drawn to be read on any picture, so it is the most
contrasted line there: only lines within ``KEEP`` of the most contrasted
one are painted out. On a photo of a printed page with a caption written
on it, that is the caption, not the page's own lines.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from PIL import Image

STROKE = 3  # side of the square the strokes are thinner than (top-hat / black-hat), decode pixels
MIN_CONTRAST = 24  # grey levels a stroke stands out from its neighbourhood, at least
TEXTURE = 3.0  # ... and this many times the picture's median, so its own texture is not letters
REACH = 4  # strokes within this many pixels along a row are letters of one word
DENSITY = 0.35  # share of a row's window that strokes fill in a word
MAX_HEIGHT = 0.20  # a line of text is at most this share of the picture's height ...
MIN_WIDTH = 0.20  # ... and at least this share of its width
MIN_ASPECT = 4.0  # ... and this many times as wide as tall
QUIET = 0.5  # stroke density just above and below a word, relative to inside it, at most
GAP = 2.0  # words of one line are at most this many line heights apart
ALIKE = 1.5  # words of one line have contrasts within this ratio (one line is drawn alike)
KEEP = 0.9  # lines painted out: contrast at least this share of the most contrasted line's
PAD = 1  # pixels around each word painted out too (an outline's blur)
INPAINT_RADIUS = 3


@dataclasses.dataclass(frozen=True)
class Line:
    """A line of written text: its words' boxes (left, top, right, bottom) and mean stroke contrast."""

    words: tuple[tuple[int, int, int, int], ...]
    contrast: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (min(w[0] for w in self.words), min(w[1] for w in self.words),
                max(w[2] for w in self.words), max(w[3] for w in self.words))


def _box_sums(integral: np.ndarray, x0, y0, x1, y1) -> np.ndarray:
    """Sums over boxes [y0, y1) x [x0, x1) from an integral image (cv2.integral), vectorised over boxes."""
    return integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]


def _median(values: np.ndarray) -> int:
    """Median of uint8 values, by their histogram (np.median sorts: 4x slower on a small decode)."""
    counts = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return int(np.searchsorted(counts, counts[-1] / 2))


def _words(a: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, int]]:
    """Words: (box, sum of stroke contrast, stroke pixels), left to right."""
    h = a.shape[0]
    element = np.ones((STROKE, STROKE), np.uint8)
    strength = np.maximum(cv2.morphologyEx(a, cv2.MORPH_TOPHAT, element),
                          cv2.morphologyEx(a, cv2.MORPH_BLACKHAT, element))
    strokes = (strength >= max(MIN_CONTRAST, TEXTURE * _median(strength))).astype(np.float32)
    density = cv2.blur(strokes, (2 * REACH + 1, 1), borderType=cv2.BORDER_CONSTANT)
    _, _, stats, _ = cv2.connectedComponentsWithStats((density >= DENSITY).astype(np.uint8), connectivity=8)
    x, y, w, height = (stats[1:, k].astype(np.int64) for k in range(4))
    keep = (height >= 2) & (height <= max(3, MAX_HEIGHT * h))
    x, y, w, height = x[keep], y[keep], w[keep], height[keep]
    count = cv2.integral(strokes, sdepth=cv2.CV_64F)
    contrast = cv2.integral(strength.astype(np.float32) * strokes, sdepth=cv2.CV_64F)
    x1, y1 = x + w, y + height
    n = _box_sums(count, x, y, x1, y1)
    above = _box_sums(count, x, np.maximum(y - 2, 0), x1, y) / (w * (y - np.maximum(y - 2, 0))).clip(1)
    below = _box_sums(count, x, y1, x1, np.minimum(y1 + 2, h)) / (w * (np.minimum(y1 + 2, h) - y1)).clip(1)
    quiet = np.maximum(above, below) <= QUIET * n / (w * height)
    total = _box_sums(contrast, x, y, x1, y1)
    return sorted(((int(x[k]), int(y[k]), int(x1[k]), int(y1[k])), float(total[k]), int(round(n[k])))
                  for k in np.nonzero(quiet & (n > 0))[0])


def text_lines(gray: Image.Image) -> list[Line]:
    """Lines of letters in the picture, most contrasted first: written on it, or its own (a photographed page)."""
    a = np.asarray(gray, dtype=np.uint8)
    h, w = a.shape
    groups: list[list] = []  # [box, words, contrast sum, stroke count]
    for box, total, n in _words(a):
        x0, y0, x1, y1 = box
        for g in groups:
            gx0, gy0, gx1, gy1 = g[0]
            overlap = min(y1, gy1) - max(y0, gy0)
            alike = max(total / n, g[2] / g[3]) <= ALIKE * min(total / n, g[2] / g[3])
            if alike and overlap >= 0.5 * min(y1 - y0, gy1 - gy0) and x0 - gx1 <= GAP * max(y1 - y0, gy1 - gy0):
                g[0] = (gx0, min(y0, gy0), max(x1, gx1), max(y1, gy1))
                g[1].append(box)
                g[2] += total
                g[3] += n
                break
        else:
            groups.append([box, [box], total, n])
    lines = [Line(tuple(words), total / n) for (x0, y0, x1, y1), words, total, n in groups
             if x1 - x0 >= MIN_WIDTH * w and x1 - x0 >= MIN_ASPECT * (y1 - y0)]
    return sorted(lines, key=lambda line: -line.contrast)


def written_lines(gray: Image.Image) -> list[Line]:
    """The lines painted out: those within KEEP of the most contrasted line's contrast."""
    lines = text_lines(gray)
    return [line for line in lines if line.contrast >= KEEP * lines[0].contrast] if lines else []


def without_text(gray: Image.Image) -> Image.Image | None:
    """The picture with its written lines of text filled in from around them; None when it has none."""
    lines = written_lines(gray)
    if not lines:
        return None
    a = np.asarray(gray, dtype=np.uint8)
    mask = np.zeros(a.shape, np.uint8)
    for line in lines:
        for x0, y0, x1, y1 in line.words:
            mask[max(0, y0 - PAD):y1 + PAD, max(0, x0 - PAD):x1 + PAD] = 1
    return Image.fromarray(cv2.inpaint(a, mask, INPAINT_RADIUS, cv2.INPAINT_TELEA))
