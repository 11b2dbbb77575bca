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


# --- screenshots: a picture shown inside an app's or a web page's chrome ---------------------------------

_WORDS = ("the", "official", "report", "shows", "what", "they", "did", "not", "want", "you", "to", "see",
          "breaking", "news", "today", "city", "council", "leaked", "photo", "share", "before", "deleted",
          "people", "are", "asking", "why", "nobody", "talks", "about", "this", "video", "truth", "minister")


def _words(rng, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _lines(draw, rng, x: int, y: int, width: int, size: int, count: int, fill, spacing: float = 1.45) -> int:
    """``count`` lines of random words, each cut to ``width`` pixels; returns the y after them."""
    font = ImageFont.load_default(size=size)
    for n in range(count):
        text = _words(rng, 14)
        limit = width * (rng.uniform(0.45, 0.75) if n == count - 1 else rng.uniform(0.85, 1.0))
        while text and draw.textlength(text, font=font) > limit:
            text = text.rsplit(" ", 1)[0]
        draw.text((x, y), text, fill=fill, font=font)
        y += round(size * spacing)
    return y


def _fit(im: Image.Image, width: int, max_height: int) -> Image.Image:
    """The picture scaled to ``width`` (less if it would be taller than ``max_height``)."""
    scale = min(width / im.width, max_height / im.height)
    return im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)


def _seed(im: Image.Image, seed: int | None) -> int:
    """A seed that differs between pictures (so texts vary), or the one given (the same chrome for all)."""
    if seed is not None:
        return seed
    return sum(im.convert("L").resize((8, 8)).tobytes()) + im.width * 7919 + im.height


def _icons(draw, rng, y: int, x0: int, x1: int, count: int, fill, size: int) -> None:
    """A row of action icons (outlined circles, squares, hearts stand-ins) with counts beside them."""
    font = ImageFont.load_default(size=round(size * 0.8))
    step = (x1 - x0) / count
    for k in range(count):
        x = round(x0 + k * step)
        if k % 2:
            draw.ellipse((x, y, x + size, y + size), outline=fill, width=2)
        else:
            draw.rounded_rectangle((x, y, x + size, y + size), radius=size // 4, outline=fill, width=2)
        draw.text((x + size + 8, y), str(rng.randint(1, 999)), fill=fill, font=font)


def phone_post(im: Image.Image, seed: int | None = None) -> Image.Image:
    """A phone screenshot of a post: status bar, avatar and name, text lines, the picture, action icons."""
    import random
    rng = random.Random(_seed(im, seed))
    width, margin = 720, 32
    picture = _fit(im, width - 2 * margin, 900)
    top = 48 + 120 + 3 * 40 + 16
    canvas = Image.new("RGB", (width, top + picture.height + 220), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 48), fill=(246, 246, 246))
    small = ImageFont.load_default(size=22)
    draw.text((24, 12), f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}", fill=(20, 20, 20), font=small)
    for k in range(3):
        draw.rectangle((width - 120 + k * 30, 16, width - 100 + k * 30, 34), fill=(20, 20, 20))
    draw.ellipse((margin, 64, margin + 80, 144), fill=tuple(rng.randint(60, 200) for _ in range(3)))
    draw.text((margin + 100, 72), _words(rng, 2).title(), fill=(15, 20, 25), font=ImageFont.load_default(size=28))
    draw.text((margin + 100, 110), "@" + _words(rng, 1) + str(rng.randint(1, 9999)), fill=(100, 110, 120), font=small)
    _lines(draw, rng, margin, 168, width - 2 * margin, 26, 3, (15, 20, 25), spacing=1.5)
    x = (width - picture.width) // 2
    mask = Image.new("L", picture.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, *picture.size), radius=18, fill=255)
    canvas.paste(picture, (x, top), mask)
    _icons(draw, rng, top + picture.height + 28, margin, width - margin, 4, (90, 100, 110), 32)
    draw.line((0, top + picture.height + 96, width, top + picture.height + 96), fill=(225, 228, 232), width=2)
    _lines(draw, rng, margin, top + picture.height + 120, width - 2 * margin, 26, 2, (15, 20, 25))
    return canvas.resize((canvas.width * 3 // 2, canvas.height * 3 // 2), Image.BICUBIC)  # a 1080 px wide phone


def news_page(im: Image.Image, seed: int | None = None) -> Image.Image:
    """A desktop news page: header bar and menu, headline lines, the picture, a sidebar and body text."""
    import random
    rng = random.Random(_seed(im, seed))
    width, left = 1280, 64
    picture = _fit(im, 760, 560)
    top = 72 + 40 + 2 * 54 + 44
    canvas = Image.new("RGB", (width, top + picture.height + 230), (252, 252, 250))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 72), fill=(150, 20, 30))
    draw.text((left, 18), _words(rng, 1).upper() + " NEWS", fill=(255, 255, 255), font=ImageFont.load_default(size=34))
    menu = ImageFont.load_default(size=20)
    for k in range(6):
        draw.text((460 + k * 120, 26), _words(rng, 1).title(), fill=(255, 235, 235), font=menu)
    _lines(draw, rng, left, 112, 1100, 42, 2, (10, 10, 10), spacing=1.3)
    byline = f"By {_words(rng, 2).title()} - {rng.randint(1, 28)} May"
    draw.text((left, top - 36), byline, fill=(110, 110, 110), font=menu)
    canvas.paste(picture, (left, top))
    side = left + 760 + 48
    draw.text((side, top), "Most read", fill=(150, 20, 30), font=ImageFont.load_default(size=26))
    y = top + 44
    for _ in range(4):
        y = _lines(draw, rng, side, y, width - side - 40, 19, 3, (30, 30, 30)) + 20
        draw.line((side, y - 10, width - 40, y - 10), fill=(220, 220, 220), width=1)
    _lines(draw, rng, left, top + picture.height + 20, 760, 19, 2, (110, 110, 110))
    _lines(draw, rng, left, top + picture.height + 90, 760, 21, 4, (20, 20, 20))
    return canvas


def dark_app(im: Image.Image, seed: int | None = None) -> Image.Image:
    """A dark-mode app (tablet-sized): top bar with icons, a text post, the picture framed, a bottom tab bar."""
    import random
    rng = random.Random(_seed(im, seed))
    width, margin = 900, 60
    picture = _fit(im, width - 2 * margin, 820)
    top = 88 + 100 + 2 * 44 + 20
    canvas = Image.new("RGB", (width, top + picture.height + 260), (21, 24, 28))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 88), fill=(32, 36, 42))
    draw.text((margin, 26), _words(rng, 1).title(), fill=(235, 235, 240), font=ImageFont.load_default(size=32))
    for k in range(3):
        x = width - margin - 40 - k * 70
        draw.ellipse((x, 26, x + 36, 62), outline=(200, 200, 210), width=3)
    draw.ellipse((margin, 104, margin + 64, 168), fill=tuple(rng.randint(80, 220) for _ in range(3)))
    draw.text((margin + 84, 112), _words(rng, 2).title(), fill=(240, 240, 245), font=ImageFont.load_default(size=26))
    draw.text((margin + 84, 144), f"{rng.randint(2, 59)} min", fill=(140, 145, 155),
              font=ImageFont.load_default(size=20))
    _lines(draw, rng, margin, 196, width - 2 * margin, 28, 2, (225, 225, 230), spacing=1.55)
    x = (width - picture.width) // 2
    draw.rounded_rectangle((x - 3, top - 3, x + picture.width + 3, top + picture.height + 3), radius=10,
                           outline=(60, 66, 74), width=3)
    canvas.paste(picture, (x, top))
    _icons(draw, rng, top + picture.height + 30, margin, width - margin, 4, (170, 175, 185), 34)
    _lines(draw, rng, margin, top + picture.height + 96, width - 2 * margin, 24, 2, (200, 200, 205))
    bar = canvas.height - 80
    draw.rectangle((0, bar, width, canvas.height), fill=(32, 36, 42))
    for k in range(5):
        cx = round(width * (k + 0.5) / 5)
        draw.rounded_rectangle((cx - 18, bar + 22, cx + 18, bar + 58), radius=8, outline=(180, 185, 195), width=3)
    return canvas


SCREENSHOTS = {"screenshot_phone": phone_post, "screenshot_news": news_page, "screenshot_dark": dark_app}
HARD.update(SCREENSHOTS)
