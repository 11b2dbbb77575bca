"""Representative frames of a video, chosen cheaply, hashed like stills.

Decoding every frame of a 720p H.264 video runs at about 15x real time on
one core; decoding only its keyframes (``-skip_frame nokey``) at several
hundred times. Encoders put a keyframe at every scene cut (x264's scenecut)
and at least every few seconds, so keyframes are both cheap and
representative, and they are what we take first.

Some clips have too few keyframes to stand for them: a short Twitter "GIF"
MP4 often has a single one. When the keyframes leave gaps longer than
``frame_interval_s`` and decoding every frame fits ``dense_decode_pixels``,
a second pass decodes them all at once, keeping one frame per
``frame_interval_s`` and every scene change (ffmpeg's ``scene`` score).
Longer, larger videos keep their keyframes: a repost cut from them still
lines up with the scene cuts.

Frames are kept in proportion to the length: ``max_frames``, or
``frames_per_hour`` for each hour if that is more, spread over the video (a
broadcast keeps its keyframes, a frame a second or so, where a per-file cap
of 64 would leave a frame a minute and miss every clip cut from it).
Consecutive frames with identical hashes count once, so a slideshow's frame
count is its number of pictures and a static broadcast stays small. Each
frame is scaled to FRAME_SIDE x FRAME_SIDE grey by ffmpeg and hashed as it
arrives, with the same variants as a still (pipeline/media/hashing.py), so a
frame posted as a picture matches; raw frames are never accumulated, so a
12-hour file holds only its hashes. The time limit grows with the length
too: ``file_timeout_s`` plus ``file_timeout_per_hour_s`` per hour of video
(from the header).
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import ffmpeg
import numpy as np
from PIL import Image

from hashtrail.config import Settings
from hashtrail.pipeline.errors import MediaError
from hashtrail.pipeline.media.hashing import FRAME_HASHER, hash_variants
from hashtrail.pipeline.video.ffmpeg_process import (
    Budget,
    Frames,
    StreamInfo,
    executable,
    read_frames,
)

# Recorded on video rows: videos hashed before frames were kept per hour (at most 64 over
# any length) are read again by the next scan; stills and animations keep HASHER. Frames hash as
# FRAME_HASHER says (no probes): the stills' zoom probe (hasher v4) did not change them.
VIDEO_HASHER = FRAME_HASHER + "+frames-per-hour-v1"
FRAME_SIDE = 128  # as a 1/8-scale JPEG decode of a 1024 px picture: enough to trim borders
SCENE_CHANGE = 0.3  # ffmpeg's scene score (0-1) that counts as a cut


@dataclasses.dataclass
class VideoPrint:
    info: StreamInfo
    fingerprints: list[dict]  # variant rows with time_s
    frames: int  # distinct hashed frames


def _command(settings: Settings, source: str, keyframes_only: bool) -> list[str]:
    # -max_pixels and -t make ffmpeg itself enforce the caps the header check
    # applies, should a hostile header lie about size or duration
    options = {"threads": 1, "max_pixels": settings.max_pixels, "protocol_whitelist": "file",
               "t": f"{settings.max_video_s:g}"}
    spacing = settings.frame_interval_s / 2
    if keyframes_only:
        # decoder-level: the demuxer's "-discard nokey" is cheaper but shifts
        # H.264 timestamps (the decoder's reorder delay pairs a keyframe
        # with a later packet's time)
        options["skip_frame"] = "nokey"
        # some decoders (VP9, AV1) ignore skip_frame, and in all-intra codecs
        # (MJPEG) every frame is a keyframe: keep keyframes, half a grid step apart
        choose = f"key*(isnan(prev_selected_t)+gte(t-prev_selected_t,{spacing:g}))"
    else:
        # the deblocking filter is invisible at 128 px and costs ~15% of a decode;
        # B-frames are not skipped (half the cost) because the grid must fall on
        # the same instants in every copy, whatever its GOP: fast motion moves
        # the picture between frames (benchmarks/video.py, testsrc2)
        options["skip_loop_filter"] = "all"
        choose = (f"isnan(prev_selected_t)+gte(t-prev_selected_t,{settings.frame_interval_s:g})"
                  f"+gt(scene,{SCENE_CHANGE})")
    stream = ffmpeg.input("file:" + source, **options).video
    stream = stream.filter("scale", FRAME_SIDE, FRAME_SIDE, flags="area").filter("format", "gray")
    stream = stream.filter("select", choose)
    cmd = (stream.filter("showinfo").output("pipe:", format="rawvideo", fps_mode="passthrough", an=None)
           .compile(cmd=executable(settings.ffmpeg)))
    return cmd[:1] + ["-hide_banner", "-nostdin", "-loglevel", "info"] + cmd[1:]


def frame_cap(settings: Settings, duration_s: float | None) -> int:
    """Frames a video of ``duration_s`` keeps at most: max_frames, or frames_per_hour per hour if more."""
    if not settings.frames_per_hour or not duration_s or not math.isfinite(duration_s):
        return settings.max_frames
    hours = min(duration_s, settings.max_video_s) / 3600
    return max(settings.max_frames, math.ceil(settings.frames_per_hour * hours))


def time_limit(settings: Settings, duration_s: float | None) -> float:
    """Seconds a video of ``duration_s`` may take: file_timeout_s plus file_timeout_per_hour_s per hour."""
    if not duration_s or not math.isfinite(duration_s):
        return settings.file_timeout_s
    return settings.file_timeout_s + settings.file_timeout_per_hour_s * min(duration_s, settings.max_video_s) / 3600


def _checker(settings: Settings, started: float, allow: Callable[[float], None] | None = None):
    """Refuse from the header what is plainly too big (advisory: ffmpeg enforces the caps too), and
    give the file the time and frames its length earns (``allow`` extends the per-file deadline)."""
    def check(info: StreamInfo) -> Budget:
        if info.width and info.height and info.width * info.height > settings.max_pixels:
            raise MediaError(f"frame size {info.width}x{info.height} ({info.width * info.height:,} pixels) "
                             f"exceeds max_pixels={settings.max_pixels:,}; refused without decoding")
        if info.duration_s is not None and info.duration_s > settings.max_video_s:
            raise MediaError(f"declared duration {info.duration_s:,.0f} s exceeds "
                             f"max_video_s={settings.max_video_s:g}; refused without decoding")
        limit = time_limit(settings, info.duration_s)
        if allow is not None:
            allow(limit)
        return Budget(max(limit - (time.monotonic() - started), 1.0), 4 * frame_cap(settings, info.duration_s))
    return check


class _FrameHasher:
    """Hash each frame as ffmpeg delivers it; None for a flat frame or a repeat of the previous one."""

    def __init__(self, settings: Settings):
        self.min_detail, self.previous = settings.min_detail, None

    def __call__(self, pixels: np.ndarray):
        # frames keep the plain variants: windows and mirrors per frame would cost ~10x the rows
        variants = hash_variants(Image.fromarray(pixels), self.min_detail, probes=False)
        key = _key(variants)
        if not variants or key == self.previous:
            return None
        self.previous = key
        return variants


def _key(variants) -> tuple:
    return tuple((v.phash, v.dhash, v.phash256) for v in variants)


def _wants_dense(info: StreamInfo, times: list[float], settings: Settings) -> bool:
    """Keyframes leave long gaps, and decoding every frame is within budget."""
    if settings.dense_decode_pixels <= 0 or not info.duration_s or not info.width or not info.height:
        return False
    # frame times start at 0; some demuxers (Matroska) count the start time
    # into the duration, others (MPEG-TS) do not
    length = max(info.duration_s - info.start_s, max(times, default=0.0))
    gaps = np.diff([0.0] + sorted(times) + [length])
    if max(gaps) <= 2 * settings.frame_interval_s:
        return False
    cost = info.width * info.height * (info.fps or 30.0) * info.duration_s
    return cost <= settings.dense_decode_pixels


def video_print(source: str, settings: Settings, timeout_s: float, pass_fds: tuple[int, ...] = (),
                allow: Callable[[float], None] | None = None) -> VideoPrint:
    """Keyframes (then, if needed and cheap, a time grid with scene changes) of ``source``, hashed.

    ``pass_fds``: descriptors ffmpeg must inherit (``source`` may be /dev/fd/N).
    ``timeout_s`` holds until the header is read; then the video gets
    ``time_limit`` for its duration, and ``allow`` is told that limit (the
    caller's own per-file deadline follows it).
    """
    started = time.monotonic()
    check, keep = _checker(settings, started, allow), 4 * settings.max_frames
    run = read_frames(_command(settings, source, True), FRAME_SIDE, timeout_s, check, keep, pass_fds,
                      _FrameHasher(settings))
    dense = _wants_dense(run.info, [t for t, _ in run.frames], settings)
    if dense:
        # optional: a header that lied about the cost must not lose the keyframes
        limit = time_limit(settings, run.info.duration_s)
        try:
            second = read_frames(_command(settings, source, False), FRAME_SIDE, limit / 4,
                                 _checker(settings, time.monotonic() + limit * 3 / 4), keep, pass_fds,
                                 _FrameHasher(settings))
        except MediaError:
            second = None
        if second is not None and second.frames:
            run = Frames(run.info, sorted(run.frames + second.frames, key=lambda tf: tf[0]))
    if not run.frames:
        raise MediaError("no decodable video frame (empty or zero-length video stream)")
    length = run.info.duration_s or max(t for t, _ in run.frames)
    fingerprints, frames = frame_rows(run.frames, frame_cap(settings, length))
    return VideoPrint(run.info, fingerprints, frames)


def spread(items: list, at_most: int) -> list:
    """At most ``at_most`` of ``items``, evenly spaced, first and last kept."""
    if len(items) <= at_most:
        return items
    picks = np.unique(np.linspace(0, len(items) - 1, at_most).round().astype(int))
    return [items[i] for i in picks]


def hash_frames(frames: list[tuple[float, np.ndarray]], settings: Settings) -> tuple[list[dict], int]:
    """Variant rows of up to ``max_frames`` frames (an animation's); repeats of the previous frame count once.

    Returns the rows (each with ``time_s``) and the number of distinct frames hashed.
    Flat frames (black, blank) give no rows, as flat stills do.
    """
    hashed = [(t, hash_variants(Image.fromarray(pixels), settings.min_detail, probes=False))
              for t, pixels in spread(frames, settings.max_frames)]
    return frame_rows([(t, v) for t, v in hashed if v], settings.max_frames)


def frame_rows(hashed: list[tuple[float, list]], at_most: int) -> tuple[list[dict], int]:
    """Variant rows of hashed frames in time order: one frame per time, repeats of the previous
    frame once, then at most ``at_most`` spread over the video."""
    distinct, previous, seen_times = [], None, set()
    for time_s, variants in hashed:
        if time_s in seen_times:
            continue
        seen_times.add(time_s)
        key = _key(variants)
        if key == previous:
            continue
        previous = key
        distinct.append((time_s, variants))
    rows = []
    chosen = spread(distinct, at_most)
    for time_s, variants in chosen:
        rows += [{"name": v.name, "phash": v.phash, "dhash": v.dhash, "phash256": v.phash256, "aspect": v.aspect,
                  "time_s": float(time_s)} for v in variants]
    return rows, len(chosen)


def round_rate(fps: float | None) -> float | None:
    return None if fps is None or not math.isfinite(fps) else round(fps, 3)
