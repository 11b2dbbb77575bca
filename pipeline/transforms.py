"""What reposting does to a picture, as reusable functions.

Shared by the demo archive, the tests and the quality benchmark, so that all
three measure the same "social-media" edits.
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps


def reencode(im: Image.Image, quality: int = 60, fmt: str = "JPEG") -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, fmt, quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def resize(im: Image.Image, factor: float) -> Image.Image:
    return im.resize((max(1, round(im.width * factor)), max(1, round(im.height * factor))), Image.BICUBIC)


def crop(im: Image.Image, share: float) -> Image.Image:
    """Cut ``share`` of each side off (0.05 keeps the central 90%)."""
    dx, dy = round(im.width * share), round(im.height * share)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def crop_side(im: Image.Image, share: float) -> Image.Image:
    """Cut ``share`` off the right side only."""
    return im.crop((0, 0, round(im.width * (1 - share)), im.height))


def border(im: Image.Image, share: float, color=(255, 255, 255)) -> Image.Image:
    return ImageOps.expand(im, border=round(max(im.size) * share), fill=color)


def letterbox(im: Image.Image, aspect: float = 16 / 9) -> Image.Image:
    """Black bars to fit a frame of the given aspect ratio (as video thumbnails do)."""
    w, h = im.size
    if w / h >= aspect:
        canvas = Image.new("RGB", (w, round(w / aspect)), (0, 0, 0))
    else:
        canvas = Image.new("RGB", (round(h * aspect), h), (0, 0, 0))
    canvas.paste(im, ((canvas.width - w) // 2, (canvas.height - h) // 2))
    return canvas


def caption(im: Image.Image, text: str = "BREAKING: share before it's deleted") -> Image.Image:
    im = im.convert("RGB").copy()
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=max(10, im.height // 16))
    draw.text((im.width * 0.04, im.height * 0.84), text, fill=(255, 255, 255), font=font,
              stroke_width=2, stroke_fill=(0, 0, 0))
    return im


def brightness(im: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(factor)


def contrast(im: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Contrast(im).enhance(factor)


def grayscale(im: Image.Image) -> Image.Image:
    return ImageOps.grayscale(im).convert("RGB")


def mirror(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im)


# Named edits; "mild" ones are what reposting routinely does and must match.
MILD = {
    "jpeg_q50": lambda im: reencode(im, 50),
    "resize_50": lambda im: resize(im, 0.5),
    "resize_150": lambda im: resize(im, 1.5),
    "png": lambda im: im,  # format change only: saved as PNG by the caller
    "webp": lambda im: reencode(im, 80, "WEBP"),
    "crop_3": lambda im: crop(im, 0.03),
    "crop_5": lambda im: crop(im, 0.05),
    "border_white_10": lambda im: border(im, 0.10),
    "border_black_5": lambda im: border(im, 0.05, (0, 0, 0)),
    "letterbox": letterbox,
    "caption": caption,
    "brightness_130": lambda im: brightness(im, 1.3),
    "contrast_70": lambda im: contrast(im, 0.7),
    "grayscale": grayscale,
}
# Harder edits, reported but not targeted: plain pHash/dHash cannot see through them.
HARD = {
    "crop_side_10": lambda im: crop_side(im, 0.10),
    "mirror": mirror,
}
