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


def crop_side(im: Image.Image, share: float, side: str = "r") -> Image.Image:
    """Cut ``share`` off one side only: "l", "r", "t" or "b"."""
    w, h = im.size
    dx, dy = round(w * share), round(h * share)
    box = {"l": (dx, 0, w, h), "r": (0, 0, w - dx, h), "t": (0, dy, w, h), "b": (0, 0, w, h - dy)}[side]
    return im.crop(box)


def square_cut(im: Image.Image) -> Image.Image:
    """The central square (a landscape photo cut to 1:1, as profile pictures and some feeds do)."""
    w, h = im.size
    side = min(w, h)
    x, y = (w - side) // 2, (h - side) // 2
    return im.crop((x, y, x + side, y + side))


def rotate(im: Image.Image, degrees: float) -> Image.Image:
    """Tilt by ``degrees`` (counter-clockwise) and cut to the largest upright rectangle, as "straighten" tools do."""
    from hashtrail.pipeline.media.edits import largest_upright
    w, h = im.size
    cw, ch = largest_upright(w, h, degrees)
    x, y = (w - cw) // 2, (h - ch) // 2
    return im.rotate(degrees, resample=Image.BICUBIC).crop((x, y, x + cw, y + ch))


def caption_band(im: Image.Image, where: str = "top", share: float = 0.22,
                 text: str = "When they tell you it's safe, remember this") -> Image.Image:
    """A meme caption: a white band of ``share`` of the height with black text, above or below the picture."""
    im = im.convert("RGB")
    band = round(im.height * share)
    canvas = Image.new("RGB", (im.width, im.height + band), (255, 255, 255))
    canvas.paste(im, (0, band if where == "top" else 0))
    draw = ImageDraw.Draw(canvas)
    size = max(10, band // 3)
    font = ImageFont.load_default(size=size)
    y0 = (0 if where == "top" else im.height) + (band - 2 * size) // 3
    words = text.split()
    half = len(words) // 2
    for n, line in enumerate([" ".join(words[:half]), " ".join(words[half:])]):
        draw.text((im.width * 0.05, y0 + n * round(size * 1.2)), line, fill=(0, 0, 0), font=font)
    return canvas


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
# Harder edits, what campaigns do to dodge matching: plain pHash/dHash cannot see through them, the
# hard-edit variants (pipeline/media/edits.py) do; benchmarks/quality.py targets recall >= 0.8 on each.
HARD = {
    "mirror": mirror,
    "mirror_crop_5": lambda im: crop(mirror(im), 0.05),
    **{f"crop_{side}_{round(share * 100)}": (lambda s, d: lambda im: crop_side(im, s, d))(share, side)
       for share in (0.10, 0.15, 0.20) for side in "lrtb"},
    "square_cut": square_cut,
    "rotate_3": lambda im: rotate(im, 3),
    "rotate_5": lambda im: rotate(im, -5),
    "caption_top": lambda im: caption_band(im, "top"),
    "caption_bottom": lambda im: caption_band(im, "bottom", 0.30),
}
