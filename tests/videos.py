"""Videos the tests and benchmarks make with the real ffmpeg: sources and reposted copies.

A source is a slideshow of synthetic photos, each shown for a few seconds
with a slow zoom (as news clips and memes move), or one of ffmpeg's own test
sources. Transforms are what reposting does: re-encode, rescale, trim,
letterbox, change the frame rate, cut a clip, make a GIF, grab a frame.
"""
from __future__ import annotations

import os
import subprocess

from hashtrail.pipeline.video.ffmpeg_process import executable


def ffmpeg(*args: str) -> None:
    subprocess.run([executable(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True,
                   timeout=300)


def slideshow(out: str, photos: list[str], seconds_each: float = 2.0, size: tuple[int, int] = (320, 240),
              fps: int = 15, codec: str = "libx264", extra: tuple[str, ...] = ()) -> str:
    """Each photo for ``seconds_each`` with a slow 5% zoom, cut to the next one."""
    w, h = size
    inputs, chains = [], []
    frames = int(seconds_each * fps)
    for k, photo in enumerate(photos):
        inputs += ["-framerate", str(fps), "-loop", "1", "-t", f"{seconds_each:g}", "-i", photo]
        chains.append(f"[{k}:v]scale={2 * w}:{2 * h},setsar=1,"
                      f"zoompan=z='1+0.05*on/{frames}':d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
                      f":s={w}x{h}:fps={fps}[v{k}]")
    graph = ";".join(chains) + ";" + "".join(f"[v{k}]" for k in range(len(photos))) + \
        f"concat=n={len(photos)}:v=1:a=0,format=yuv420p[out]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", codec, *extra, out)
    return out


def test_source(out: str, source: str, seconds: float = 4.0, size: tuple[int, int] = (320, 240),
                fps: int = 15) -> str:
    """One of ffmpeg's generated sources (testsrc2, mandelbrot, smptebars, life...)."""
    ffmpeg("-f", "lavfi", "-i", f"{source}=size={size[0]}x{size[1]}:rate={fps}", "-t", f"{seconds:g}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", out)
    return out


def transform(src: str, out: str, kind: str) -> str:
    """A reposted copy of ``src``: the name says what reposting did."""
    recipes = {
        "reencode": ["-c:v", "libx264", "-crf", "36", "-preset", "veryfast"],
        "vp9_webm": ["-c:v", "libvpx-vp9", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"],
        "rescale": ["-vf", "scale=iw*3/4:ih*3/4", "-c:v", "libx264"],
        "letterbox": ["-vf", "scale=iw:ih*3/4,pad=iw:ih*4/3:0:(oh-ih)/2:black", "-c:v", "libx264"],
        "fps_change": ["-vf", "fps=10", "-c:v", "libx264"],
        "trim_start": ["-ss", "1.0", "-c:v", "libx264"],
    }
    if kind not in recipes:
        raise ValueError(f"unknown transform {kind!r}")
    args = recipes[kind]
    if args[:1] == ["-ss"]:
        ffmpeg("-ss", args[1], "-i", src, "-an", *args[2:], out)
    else:
        ffmpeg("-i", src, "-an", *args, out)
    return out


def cut(src: str, out: str, start: float, seconds: float) -> str:
    """A clip cut from a longer video, re-encoded."""
    ffmpeg("-ss", f"{start:g}", "-t", f"{seconds:g}", "-i", src, "-an", "-c:v", "libx264", out)
    return out


def to_gif(src: str, out: str, start: float, seconds: float, fps: int = 10, width: int = 200) -> str:
    """An animated GIF cut from a video, as GIF makers do."""
    ffmpeg("-ss", f"{start:g}", "-t", f"{seconds:g}", "-i", src, "-vf", f"fps={fps},scale={width}:-1", out)
    return out


def frame_at(src: str, out: str, t: float) -> str:
    """A frame posted as a picture (a screenshot of the video)."""
    ffmpeg("-ss", f"{t:g}", "-i", src, "-frames:v", "1", "-q:v", "3", out)
    return out


def audio_only(out: str, seconds: float = 2.0) -> str:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:g}", "-c:a", "aac", out)
    return out


def zero_frames(out: str) -> str:
    """An MP4 whose video stream holds no frame."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-frames:v", "0", "-c:v", "libx264", out)
    return out


def make_photos(folder: str, seeds: list[int], size=(480, 360)) -> list[str]:
    from hashtrail.pipeline.demo import synthetic_photo  # textured photo-like pictures that hash apart
    os.makedirs(folder, exist_ok=True)
    out = []
    for seed in seeds:
        path = os.path.join(folder, f"photo-{seed}.png")
        synthetic_photo(seed, size).save(path)
        out.append(path)
    return out


def title_card(path: str, size=(160, 120)) -> str:
    """A generic channel card ("BREAKING NEWS" on a bar): what unrelated broadcasts of one channel share."""
    from PIL import Image, ImageDraw
    w, h = size
    im = Image.new("RGB", size, (16, 32, 96))
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, int(h * 0.6), w, int(h * 0.8)], fill=(200, 20, 30))
    draw.text((w * 0.08, h * 0.63), "BREAKING NEWS", fill=(255, 255, 255))
    draw.ellipse([w * 0.7, h * 0.1, w * 0.9, h * 0.1 + w * 0.2], outline=(255, 255, 255), width=3)
    im.save(path)
    return path


def still_slideshow(out: str, pictures: list[str], seconds_each: float | list[float], size=(160, 120), fps: int = 10,
                    gop: int = 10) -> str:
    """Pictures held still for ``seconds_each`` each (or a list, one per picture), as a broadcast-like video.

    Made fast: x264 ultrafast, a keyframe every ``gop`` frames (broadcasts
    keep a short GOP), constant frame rate. All pictures must share one format.
    """
    listing = out + ".txt"
    seconds = seconds_each if isinstance(seconds_each, list) else [seconds_each] * len(pictures)
    with open(listing, "w") as fh:
        for path, length in zip(pictures, seconds):
            fh.write(f"file '{os.path.abspath(path)}'\nduration {length:g}\n")
        fh.write(f"file '{os.path.abspath(pictures[-1])}'\n")  # concat ignores the last entry's duration
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-vf", f"fps={fps},scale={size[0]}:{size[1]},format=yuv420p",
           "-fps_mode", "cfr", "-t", f"{sum(seconds):g}", "-c:v", "libx264", "-preset", "ultrafast",
           "-g", str(gop), out)
    os.remove(listing)
    return out
