"""Frames of an animated GIF, WebP or PNG, through Pillow.

Animation frames depend on the ones before them (disposal, partial
updates), so every frame is composited in order, and each is reduced to a
small grey square at once: only the chosen ones are kept. The choice is the
video's (pipeline/video/keyframes.py): one frame per ``frame_interval_s`` of display
time, plus every scene change, at most ``max_frames``. The frames are then
hashed exactly as video frames are, so a GIF cut from a video matches it.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from hashtrail.config import Settings
from hashtrail.pipeline.errors import MediaError
from hashtrail.pipeline.video.keyframes import FRAME_SIDE

# Browsers show frames declared shorter than 20 ms for 100 ms; so do we.
DEFAULT_FRAME_MS = 100
# Mean absolute grey difference that counts as a cut: ffmpeg's scene score of
# 0.3 (pipeline/video/keyframes.py) is, roughly, a mean absolute difference of 30 levels.
SCENE_CHANGE_GREY = 30


@dataclasses.dataclass
class Animation:
    frames: list[tuple[float, np.ndarray]]  # (seconds, FRAME_SIDE x FRAME_SIDE grey)
    duration_s: float
    count: int  # frames in the file


def animation_frames(im: Image.Image, settings: Settings) -> Animation:
    """Chosen frames of an opened multi-frame image; raises MediaError if they cannot be decoded."""
    chosen: list[tuple[float, np.ndarray]] = []
    clock_ms, last_t, last_small = 0, None, None
    count = getattr(im, "n_frames", 1)
    try:
        for index in range(count):
            im.seek(index)
            t = clock_ms / 1000
            duration = im.info.get("duration") or 0
            clock_ms += duration if duration >= 20 else DEFAULT_FRAME_MS
            grey = _grey_square(im)
            small = grey[::8, ::8].astype(np.int16)
            cut = last_small is not None and np.abs(small - last_small).mean() > SCENE_CHANGE_GREY
            if last_t is None or t - last_t >= settings.frame_interval_s or cut:
                chosen.append((round(t, 3), grey))
                last_t, last_small = t, small
                if len(chosen) > 4 * settings.max_frames:  # a flickering GIF: memory stays bounded
                    chosen = chosen[::2]
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        if not chosen:
            raise MediaError(f"corrupt animation frame: {exc}") from None
        # a truncated tail: the frames before it are real and kept
    return Animation(chosen, clock_ms / 1000, count)


def _grey_square(im: Image.Image) -> np.ndarray:
    """The frame as FRAME_SIDE x FRAME_SIDE grey, transparency flattened onto white.

    Reduced before any full-canvas work: a 9000 x 9000 canvas is not
    composited at full size for each frame.
    """
    transparent = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    frame = im.convert("RGBA" if transparent else "L")
    factor = min(frame.size) // (2 * FRAME_SIDE)
    if factor > 1:
        frame = frame.reduce(factor)
    if transparent:
        background = Image.new("RGBA", frame.size, (255, 255, 255, 255))
        frame = Image.alpha_composite(background, frame).convert("L")
    return np.asarray(frame.resize((FRAME_SIDE, FRAME_SIDE), Image.BOX))
