"""Run ffmpeg as a contained child: bounded time, bounded memory, no orphans.

A video file is hostile input for a large C program, so the program runs in
a process of its own and this module decides when it must die:

- its own session and process group, so a timeout kills the whole group,
  anything it started included (``os.killpg``), never our own group;
- ``PR_SET_PDEATHSIG``: if the worker running us is killed (a Celery hard
  time limit, the local pool's batch timeout, SIGKILL), the kernel kills
  ffmpeg too instead of leaving it decoding for nobody;
- the stream header is read from stderr *before* any frame, so absurd sizes
  or durations are refused before ffmpeg decodes a single picture;
- raw frames stream from stdout and are thinned as they come, so a video of
  ten thousand keyframes holds at most a few hundred small frames in memory.

The executable is "ffmpeg" on PATH, else the one the imageio-ffmpeg wheel
carries, so that ``pip install`` alone gives a working install.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import re
import shutil
import signal
import subprocess
import threading
from typing import Callable

import numpy as np

from .errors import MediaError

PR_SET_PDEATHSIG = 1


class NoFfmpeg(MediaError):
    """No ffmpeg executable could be found."""


@functools.lru_cache(maxsize=4)
def executable(configured: str = "") -> str:
    """The ffmpeg to run: the configured one, else PATH's, else imageio-ffmpeg's."""
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise NoFfmpeg(f"ffmpeg setting {configured!r} is not an executable file")
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise NoFfmpeg(f"no ffmpeg on PATH and none from imageio-ffmpeg ({exc}): "
                       "pip install imageio-ffmpeg, or install ffmpeg") from None


@dataclasses.dataclass
class StreamInfo:
    """What ffmpeg's input dump says about a file, before decoding."""

    duration_s: float | None = None
    start_s: float = 0.0
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_video: bool = False
    has_audio: bool = False
    opened: bool = False  # ffmpeg read the container's header


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_START = re.compile(r"start: (-?\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: ([\w-]+)")
_SIZE = re.compile(r", (\d{1,6})x(\d{1,6})")
_FPS = re.compile(r", (\d+(?:\.\d+)?)(k?) (?:fps|tbr)")
_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*-?\d+\s+pts_time:(-?\d+(?:\.\d+)?(?:e-?\d+)?)")


def parse_header(lines: list[str]) -> StreamInfo:
    """Duration, start, and the first video stream's codec, size and rate."""
    info = StreamInfo()
    for line in lines:
        if line.startswith("Input #"):
            info.opened = True
        if info.duration_s is None and (m := _DURATION.search(line)):
            info.duration_s = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
        if (m := _START.search(line)) and "Duration" in line:
            info.start_s = float(m[1])
        if ": Audio: " in line and "Stream #" in line:
            info.has_audio = True
        if not info.has_video and (m := _VIDEO.search(line)):
            info.has_video, info.codec = True, m[1]
            if size := _SIZE.search(line):
                info.width, info.height = int(size[1]), int(size[2])
            if rate := _FPS.search(line):
                info.fps = float(rate[1]) * (1000 if rate[2] else 1)
    return info


def frame_times(lines: list[str]) -> dict[int, float]:
    """Output frame number -> presentation time, from the showinfo filter's lines."""
    return {int(m[1]): float(m[2]) for line in lines if (m := _SHOWINFO.search(line))}


def failure_reason(lines: list[str]) -> str:
    """The most telling line of an ffmpeg error log."""
    useful = [ln.strip() for ln in lines if ln.strip() and "showinfo" not in ln and not ln.startswith(" ")]
    for line in reversed(useful):
        if any(w in line.lower() for w in ("invalid", "error", "not found", "no such", "unsupported",
                                          "could not", "failed", "matches no streams", "too large")):
            return re.sub(r"^\[[^\]]+\] ", "", line)[:300]
    return (useful[-1] if useful else "no output")[:300]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the timeout still applies


@dataclasses.dataclass
class Frames:
    info: StreamInfo
    frames: list[tuple[float, np.ndarray]]  # (seconds from the start, greyscale side x side)


def read_frames(cmd: list[str], side: int, timeout_s: float, check: Callable[[StreamInfo], None],
                keep_at_most: int) -> Frames:
    """Run ``cmd`` (raw greyscale side x side frames on stdout, showinfo on stderr).

    ``check`` sees the header first and raises to refuse the file. Frames
    are thinned by doubling a stride whenever more than ``keep_at_most`` are
    held, so the kept ones stay spread over the whole video.
    """
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_die_with_parent)
    timed_out = threading.Event()

    def kill_group() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def expire() -> None:
        timed_out.set()
        kill_group()

    timer = threading.Timer(timeout_s, expire)
    timer.daemon = True
    timer.start()
    log: list[str] = []
    drain = threading.Thread(target=lambda: log.extend(_lines(proc.stderr)), daemon=True)
    try:
        for line in _lines(proc.stderr):  # the input dump comes before any frame
            log.append(line)
            if line.startswith(("Stream mapping:", "Output #0")) or "Press [q]" in line:
                break
        info = parse_header(log)
        check(info)
        drain.start()
        size, stride, kept, number = side * side, 1, [], 0
        while True:
            chunk = proc.stdout.read(size)
            if len(chunk) < size:
                break
            if number % stride == 0:
                kept.append((number, np.frombuffer(chunk, dtype=np.uint8).reshape(side, side)))
                if len(kept) > keep_at_most:
                    stride *= 2
                    kept = [(n, f) for n, f in kept if n % stride == 0]
            number += 1
        proc.wait()
        drain.join(timeout=5)
    finally:
        timer.cancel()
        kill_group()  # whatever it started goes too, even when it exited itself
        if proc.poll() is None:
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if timed_out.is_set():
        raise MediaError(f"ffmpeg did not finish within {timeout_s:g} s; its process group was killed")
    if proc.returncode != 0 and not kept:
        raise MediaError(f"ffmpeg could not decode it: {failure_reason(log)}")
    times = frame_times(log)
    start = info.start_s
    return Frames(info, [(max(0.0, round(times.get(n, n) - start, 3)), f) for n, f in kept])


def _lines(stream):
    for raw in iter(stream.readline, b""):
        yield raw.decode("utf-8", "replace").rstrip("\r\n")
