"""A small synthetic archive in the Twitter IO release layout, for ``hashtrail demo``.

No download: pictures are drawn from seeded random fields and shapes, so they
are distinct "photos" with real structure. Some are reposted by other accounts
after the edits reposting makes (re-encode, resize, borders, captions...);
a slideshow video comes back re-encoded smaller, as a GIF and as a still;
two are different shots of one scene (must stay apart); and a few files are
broken the ways real dumps are (truncated, HTML saved as .jpg, empty, JSON).
"""
from __future__ import annotations

import hashlib
import os
import random
import subprocess

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hashtrail.pipeline import transforms
from hashtrail.pipeline.video.ffmpeg_process import executable

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
    video_clock = [clock]

    def next_tweet() -> str:  # the video first, then its reposts
        video_clock[0] += r.randint(600_000, 7_200_000)
        return tweet_id(video_clock[0])

    written["videos"] = _demo_videos(base, seed, next_tweet)
    with open(os.path.join(base, "manifest.json"), "w") as fh:
        fh.write('{"release": "demo", "note": "not media: recorded as skipped"}\n')
    written["broken"] = 4
    return written


def _frames(photos: list[Image.Image], seconds_each: float, fps: int, size=(480, 270)):
    """Slideshow frames: each photo with a slow 5% zoom, then a cut."""
    count = int(seconds_each * fps)
    for photo in photos:
        w, h = photo.size
        for k in range(count):
            zoom = 1 + 0.05 * k / count
            dx, dy = w * (1 - 1 / zoom) / 2, h * (1 - 1 / zoom) / 2
            yield photo.resize(size, Image.BILINEAR, box=(dx, dy, w - dx, h - dy))


def _encode(frames, path: str, fps: int, size=(480, 270)) -> None:
    process = subprocess.Popen(
        [executable(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "pipe:", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         path], stdin=subprocess.PIPE)
    for frame in frames:
        process.stdin.write(frame.convert("RGB").tobytes())
    process.stdin.close()
    if process.wait(timeout=120) != 0:
        raise RuntimeError(f"ffmpeg could not write the demo video {path}")


def _demo_videos(base: str, seed: int, next_tweet) -> int:
    """A slideshow video by one account, reposted as a smaller MP4, a GIF of a few seconds and a still."""
    photos = [synthetic_photo(seed * 1000 + 500 + k, size=(640, 360)) for k in range(3)]
    fps = 10

    def path(account: int, ext: str) -> str:
        folder = os.path.join(base, userid(account), "videos" if ext == "mp4" else "images")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{next_tweet()}-v{account}.{ext}")

    frames = list(_frames(photos, 3.0, fps))
    _encode(frames, path(2, "mp4"), fps)
    _encode((f.resize((320, 180)) for f in frames), path(5, "mp4"), fps, size=(320, 180))
    gif = [f.resize((240, 135)) for f in frames[int(2.5 * fps):int(5.0 * fps)]]
    gif[0].save(path(7, "gif"), save_all=True, append_images=gif[1:], duration=1000 // fps, loop=0)
    frames[int(7.2 * fps)].save(path(8, "jpg"), quality=85)
    return 4
