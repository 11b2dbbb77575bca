"""A small synthetic archive in the Twitter IO release layout, for ``hashtrail demo``.

No download: pictures are drawn from seeded random fields and shapes, so they
are distinct "photos" with real structure. Some are reposted by other accounts
after the edits reposting makes (re-encode, resize, borders, captions...);
two are different shots of one scene (must stay apart); and a few files are
broken the ways real dumps are (truncated, HTML saved as .jpg, empty, JSON).
"""
from __future__ import annotations

import hashlib
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import transforms

SNOWFLAKE_EPOCH_MS = 1288834974657


def synthetic_photo(seed: int, size=(640, 480)) -> Image.Image:
    """A distinct photo-like picture: smooth colour field, shapes, texture."""
    rng = np.random.default_rng(seed)
    field = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(field)
    r = random.Random(seed)
    for _ in range(r.randint(4, 9)):
        x0, y0 = r.randint(0, size[0]), r.randint(0, size[1])
        x1, y1 = x0 + r.randint(40, 260), y0 + r.randint(40, 220)
        color = tuple(r.randint(0, 255) for _ in range(3))
        (draw.ellipse if r.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=color)
    noise = rng.normal(0, 8, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(field.filter(ImageFilter.GaussianBlur(2)), dtype=np.float32) + noise, 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def tweet_id(ms_since_2018: int) -> str:
    """A Snowflake id whose timestamp is 2018-01-01 + the given milliseconds."""
    ms = 1514764800000 + ms_since_2018
    return str((ms - SNOWFLAKE_EPOCH_MS) << 22)


def userid(n: int) -> str:
    return hashlib.sha256(f"demo-account-{n}".encode()).hexdigest()


REPOSTS = ["jpeg_q50", "resize_50", "border_white_10", "caption", "crop_3", "grayscale", "letterbox",
           "brightness_130"]


def build_demo_archive(directory: str, originals: int = 30, accounts: int = 10, seed: int = 7) -> dict:
    """Write the demo archive; returns counts of what was written."""
    r = random.Random(seed)
    base = os.path.join(directory, "ira_tweet_media_hashed_1", "ira_1")
    written = {"images": 0, "reposts": 0, "broken": 0}
    clock = 0

    def save(account: int, im: Image.Image, fmt: str = "JPEG") -> str:
        nonlocal clock
        clock += r.randint(60_000, 3_600_000)
        folder = os.path.join(base, userid(account), "images")
        os.makedirs(folder, exist_ok=True)
        key = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
        path = os.path.join(folder, f"{tweet_id(clock)}-{key}.{'png' if fmt == 'PNG' else 'jpg'}")
        im.convert("RGB").save(path, fmt, **({"quality": 88} if fmt == "JPEG" else {}))
        return path

    for n in range(originals):
        photo = synthetic_photo(seed * 1000 + n)
        save(r.randrange(accounts), photo)
        written["images"] += 1
        if n % 2 == 0:  # every other picture is reused by 1-4 other accounts
            for edit in r.sample(REPOSTS, r.randint(1, 4)):
                save(r.randrange(accounts), transforms.MILD[edit](photo), "PNG" if n % 6 == 0 else "JPEG")
                written["reposts"] += 1
    # two different shots of one scene: must not be clustered together
    scene = synthetic_photo(seed * 1000 + 999, size=(960, 720))
    save(0, scene.crop((0, 0, 640, 480)))
    save(1, scene.crop((320, 240, 960, 720)))
    written["images"] += 2
    # what real dumps contain besides pictures
    folder = os.path.join(base, userid(accounts), "images")
    os.makedirs(folder, exist_ok=True)
    good = save(accounts, synthetic_photo(seed * 1000 + 998))
    with open(good, "rb") as fh:
        data = fh.read()
    with open(os.path.join(folder, f"{tweet_id(clock + 1)}-truncated.jpg"), "wb") as fh:
        fh.write(data[: len(data) // 2])
    with open(os.path.join(folder, f"{tweet_id(clock + 2)}-error.jpg"), "w") as fh:
        fh.write("<!DOCTYPE html><html><body>Sorry, that page does not exist.</body></html>")
    open(os.path.join(folder, f"{tweet_id(clock + 3)}-empty.jpg"), "wb").close()
    with open(os.path.join(base, "manifest.json"), "w") as fh:
        fh.write('{"release": "demo", "note": "not media: recorded as skipped"}\n')
    written["broken"] = 4
    return written
