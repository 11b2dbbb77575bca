"""Decode a still image safely and cheaply into a small greyscale picture.

Hashes are computed on a 32x32 (pHash) or 9x8 (dHash) thumbnail, so decoding a
12-megapixel JPEG in full is wasted work: JPEG ``draft`` mode asks libjpeg to
scale by 1/2, 1/4 or 1/8 inside the DCT, several times faster than a full
decode, and greyscale output skips colour conversion. Other formats are fully
decoded and then box-reduced.

Hostile files are refused before they cost memory: the declared pixel count is
checked against ``max_pixels`` before any pixel is decoded, and a truncated file
is an error (we never hash the grey padding Pillow would invent).
"""
from __future__ import annotations

import dataclasses
import io
from typing import Callable
import threading
import warnings

from PIL import Image, ImageFile, UnidentifiedImageError

from hashtrail.pipeline.errors import MediaError

# Smallest side we want after draft/reduce: enough for pHash's 32 px input
# and border trimming (the 256-bit pHash's 64 px input may be upsampled from
# small variants; benchmarks/quality.py measured 128 as no better overall),
# and small enough that libjpeg's 1/8 DCT scaling
# applies to any picture whose short side is >= 512 px (most posted photos).
WORK_SIZE = 64
FINE_SIZE = 2 * WORK_SIZE

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclasses.dataclass
class Decoded:
    image: Image.Image  # small, mode "L", EXIF orientation applied
    width: int  # full-size dimensions after orientation
    height: int
    format: str
    frames: int
    # the same picture at about twice the size (short side >= FINE_SIZE where the file has it), made on
    # demand: the screenshot search needs UI text and margins that the small image blurs together
    fine: Callable[[], Image.Image] | None = None


def _reduce_factor(width: int, height: int) -> int:
    return max(1, min(width, height) // WORK_SIZE)


_PILLOW_LIMIT = threading.Lock()  # Image.MAX_IMAGE_PIXELS and warning filters are process-wide


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open ``data`` with Pillow (nothing decoded yet) or raise ``MediaError``; sizes over ``max_pixels`` refused.

    Shared by scans and thumbnails: a hostile file gets the same checks
    whichever reads it.
    """
    try:
        with _PILLOW_LIMIT, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Pillow's own bomb check would fire first with its own limit;
            # ours (max_pixels, configurable) is applied just below.
            previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                im = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = previous
    except UnidentifiedImageError:
        raise MediaError("not a decodable image (Pillow cannot identify it)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(f"corrupt image header: {exc}") from None
    width, height = im.size
    if width <= 0 or height <= 0:
        raise MediaError(f"invalid dimensions {width}x{height}")
    if width * height > max_pixels:
        raise MediaError(
            f"declared size {width}x{height} ({width * height:,} pixels) exceeds "
            f"max_pixels={max_pixels:,}; refused without decoding"
        )
    return im


def decode_still(data: bytes, max_pixels: int) -> Decoded:
    """Decode ``data`` into a small greyscale image or raise ``MediaError``."""
    im = open_image(data, max_pixels)
    width, height = im.size
    fmt = im.format or "unknown"
    frames = getattr(im, "n_frames", 1)
    try:
        if fmt == "JPEG":
            # libjpeg picks the largest DCT scale (1/8 at most) keeping both
            # sides >= WORK_SIZE.
            im.draft("L", (WORK_SIZE, WORK_SIZE))
        im.load()
        orientation = _orientation(im)  # from the file itself, before any copy
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        fine = _fine_maker(im, orientation)
        factor = _reduce_factor(*im.size)
        if factor > 1 and im.mode in ("L", "LA", "RGB", "RGBA", "RGBa", "CMYK", "I", "F"):
            im = im.reduce(factor)  # before flattening: an RGBA copy of a 100 MP picture is 400 MB
        small = _to_grey(im)
        factor = _reduce_factor(*small.size)
        if factor > 1:
            small = small.reduce(factor)
        if orientation in _TRANSPOSE:
            small = small.transpose(_TRANSPOSE[orientation])
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        message = str(exc)
        if "truncated" in message:
            raise MediaError(f"truncated image data ({message})") from None
        raise MediaError(f"corrupt image data: {message}") from None

    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Decoded(small, width, height, fmt, frames, fine)


def _fine_maker(im: Image.Image, orientation: int) -> Callable[[], Image.Image]:
    """A function giving ``im`` in grey with its short side reduced to FINE_SIZE-2*FINE_SIZE (or as it is)."""
    def fine() -> Image.Image:
        factor = max(1, min(im.size) // FINE_SIZE)
        source = im.reduce(factor) if factor > 1 and im.mode in ("L", "LA", "RGB", "RGBA", "RGBa", "CMYK") else im
        grey = _to_grey(source)
        return grey.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else grey
    return fine


def _to_grey(im: Image.Image) -> Image.Image:
    """Greyscale, with transparency flattened onto white (as reposting does)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("L")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return im.point(lambda v: v / 256).convert("L")
    if im.mode == "F":  # 32-bit float TIFFs: stretch to 0-255 rather than clip to black
        low, high = im.getextrema()
        scale = 255.0 / (high - low) if high > low else 0.0
        return im.point(lambda v: (v - low) * scale).convert("L")
    return im.convert("L")


# EXIF orientation -> the transpose that undoes it (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not fail an otherwise fine image
        return 1
