"""Hashes of the crop windows and de-rotated centres, at a fraction of a resize each.

An image has 15 crop windows (pipeline/media/edits.py). Resizing each to the
64x64 thumbnail of a 256-bit pHash, as the plain variants are, would cost
six times the plain variants' hashing. But a window's hashes are linear
maps of its pixels up to the final comparisons: resampling, halving to
32x32, the DCTs and dHash's 9x8 resize are all matrices. A window that keeps
every row shares the whole image's vertical resampling (done once, Lanczos,
to 64 rows: a "strip"); its own horizontal resampling is an area-average
matrix ``A`` (64 x width). So each DCT block is ``(G @ strip) @ (A.T @ H)``,
where ``G @ strip`` is computed once for all windows and ``A.T @ H`` depends
only on the image width and the window (cached: archive images come in few
sizes). Windows that keep every column are the same with rows and columns
swapped. tests/test_hard_edits.py checks the result against hashing the
cropped pixels.

Flat windows are dropped as flat variants are; a window's spread is read
off its low DCT block (the energy outside the DC term, a slight
underestimate of the pixels' standard deviation).
"""
from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from hashtrail.pipeline.media import edits

SIDE = 64  # thumbnail side of the 256-bit pHash
LARGE, SMALL = 16, 8  # DCT blocks: 16x16 of the 64x64, 8x8 of the 32x32
MAX_SIZES = 4096  # cached window matrices (distinct image sides)


@functools.lru_cache(maxsize=8)
def _dct(n: int, side: int) -> np.ndarray:
    k = np.arange(side)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))


@functools.lru_cache(maxsize=8)
def _lanczos(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's Lanczos resize of n_in samples to n_out, as a matrix (by resizing unit impulses)."""
    impulses = np.eye(n_in, dtype=np.float32)
    return np.stack([np.asarray(Image.fromarray(row[None, :], "F").resize((n_out, 1), Image.LANCZOS))[0]
                     for row in impulses], axis=1).astype(np.float64)


@functools.lru_cache(maxsize=1)
def _maps() -> tuple[np.ndarray, np.ndarray]:
    """Row maps G (33 x 64) and column maps H (64 x 33) from a 64x64 thumbnail to its hash inputs.

    Rows 0-15 / columns 0-15: the 16x16 DCT block (256-bit pHash); 16-23:
    the 8x8 DCT block of the thumbnail halved (64-bit pHash); 24-31 rows and
    24-32 columns: dHash's 9x8 Lanczos thumbnail of the halved one. The DCT
    blocks are G[a] @ X @ H[:, a]; dHash's is G[24:32] @ X @ H[:, 24:33].
    """
    half = np.zeros((SIDE // 2, SIDE))
    half[np.arange(SIDE // 2), 2 * np.arange(SIDE // 2)] = 0.5
    half[np.arange(SIDE // 2), 2 * np.arange(SIDE // 2) + 1] = 0.5
    big, small = _dct(SIDE, LARGE), _dct(SIDE // 2, SMALL) @ half
    rows = np.vstack([big, small, _lanczos(SIDE // 2, SMALL) @ half])  # (32, 64)
    cols = np.vstack([big, small, _lanczos(SIDE // 2, SMALL + 1) @ half]).T  # (64, 33)
    return rows, cols


@functools.lru_cache(maxsize=MAX_SIZES)
def _area(n: int, start: float, stop: float) -> np.ndarray:
    """Area-average resampling of samples [start, stop) of n to SIDE bins, a (SIDE, n) matrix."""
    edges = np.linspace(start, stop, SIDE + 1)
    pixel = np.arange(n)
    overlap = np.clip(np.minimum(edges[1:, None], pixel[None, :] + 1) - np.maximum(edges[:-1, None], pixel[None, :]),
                      0, None)
    return overlap / (edges[1:] - edges[:-1])[:, None]


@functools.lru_cache(maxsize=MAX_SIZES)
def _window_map(n: int, start: float, stop: float) -> np.ndarray:
    """A window of columns' factor of its hash inputs: (A.T @ H), n x 33, for samples [start, stop) of n."""
    return _area(n, start, stop).T @ _maps()[1]


@functools.lru_cache(maxsize=MAX_SIZES)
def _window_rows(n: int, start: float, stop: float) -> np.ndarray:
    """The same for a window of rows: (G @ A), 32 x n."""
    return _maps()[0] @ _area(n, start, stop)


def _split(rows_out: np.ndarray, cols_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low256, low64, small) from stacked left and right factors (k, 32, n) and (k, n, 33) of G @ X @ H."""
    return (rows_out[:, :LARGE] @ cols_out[:, :, :LARGE],
            rows_out[:, LARGE:LARGE + SMALL] @ cols_out[:, :, LARGE:LARGE + SMALL],
            rows_out[:, LARGE + SMALL:] @ cols_out[:, :, LARGE + SMALL:])


def window_blocks(gray: Image.Image, cols_strip: np.ndarray) -> tuple[list[str], tuple[np.ndarray, ...]]:
    """Names and (low256, low64, small) of the crop windows; ``cols_strip``: the image resized to 64 x height."""
    w, h = gray.size
    g, hmap = _maps()
    boxes = edits.window_boxes(w, h)
    wide = [(n, b) for n, b in boxes if b[1] == 0 and b[3] == h]  # keep every row
    tall = [(n, b) for n, b in boxes if not (b[1] == 0 and b[3] == h)]  # keep every column
    parts, names = [], []
    if wide:
        strip = np.asarray(gray.resize((w, SIDE), Image.LANCZOS), dtype=np.float64)  # (64, w)
        left = g @ strip  # (32, w)
        right = np.stack([_window_map(w, b[0], b[2]) for _, b in wide])  # (m, w, 33)
        parts.append(_split(np.broadcast_to(left, (len(wide), *left.shape)), right))
        names += [n for n, _ in wide]
    if tall:
        strip = cols_strip.astype(np.float64)  # (h, 64)
        right = strip @ hmap  # (h, 33)
        left = np.stack([_window_rows(h, b[1], b[3]) for _, b in tall])  # (m, 32, h)
        parts.append(_split(left, np.broadcast_to(right, (len(tall), *right.shape))))
        names += [n for n, _ in tall]
    return names, tuple(np.concatenate(p) for p in zip(*parts))


def rotation_blocks(gray: Image.Image) -> tuple[list[str], tuple[np.ndarray, ...]]:
    """Names and (low256, low64, small) of the de-rotated centres."""
    g, hmap = _maps()
    turned = edits.derotated_centres(gray, SIDE)
    x = np.stack([np.asarray(im, dtype=np.float64) for _, im in turned])
    return [n for n, _ in turned], _split(g @ x, np.broadcast_to(hmap, (len(x), *hmap.shape)))


def spread(low256: np.ndarray) -> np.ndarray:
    """Pixel standard deviation of 64x64 thumbnails from their 16x16 DCT blocks (a lower bound)."""
    n = SIDE
    scale = np.full(LARGE, np.sqrt(1 / (2 * n)))
    scale[0] = np.sqrt(1 / (4 * n))
    ortho = low256 * scale[:, None] * scale[None, :]  # orthonormal DCT coefficients
    energy = (ortho ** 2).sum(axis=(1, 2)) - ortho[:, 0, 0] ** 2
    return np.sqrt(np.maximum(energy, 0)) / n


def aspects(gray: Image.Image, names: list[str]) -> list[float]:
    """Width / height of each window or de-rotated centre, by name."""
    w, h = gray.size
    sizes = {name: (box[2] - box[0], box[3] - box[1]) for name, box in edits.window_boxes(w, h)}
    for degrees in edits.ROTATIONS:
        sizes[f"rotate_{'m' if degrees < 0 else 'p'}{abs(round(degrees))}"] = edits.largest_upright(w, h, degrees)
    return [sizes[n][0] / max(sizes[n][1], 1) for n in names]
