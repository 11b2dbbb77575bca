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
- raw frames stream from stdout and are reduced as they come (hashed, by a
  ``digest`` the caller gives) and thinned, so a video of ten thousand
  keyframes never holds its raw frames in memory;
- the header may raise the time limit (a broadcast of hours gets more than
  a clip: ``Budget``).

The executable is "ffmpeg" on PATH, else the one the imageio-ffmpeg wheel
carries, so that ``pip install`` alone gives a working install.
"""
from __future__ import annotations

import collections
import contextlib
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

from hashtrail.pipeline.errors import MediaError

PR_SET_PDEATHSIG = 1


class NoFfmpeg(MediaError):
    """No ffmpeg executable could be found."""


MIN_VERSION = (5, 1)  # -fps_mode


@functools.lru_cache(maxsize=4)
def executable(configured: str = "") -> str:
    """The ffmpeg to run: the configured one, else PATH's (5.1 or newer), else imageio-ffmpeg's."""
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise NoFfmpeg(f"ffmpeg setting {configured!r} is not an executable file")
        return configured
    found = shutil.which("ffmpeg")
    if found and version(found) >= MIN_VERSION:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        old = f"ffmpeg {'.'.join(map(str, version(found)))} on PATH is older than 5.1; " if found else "no ffmpeg on PATH; "
        raise NoFfmpeg(f"{old}none from imageio-ffmpeg either ({exc}): pip install imageio-ffmpeg") from None


def version(path: str) -> tuple[int, int]:
    """(major, minor) of an ffmpeg executable; (0, 0) when it does not say (git builds say 'N-...')."""
    try:
        out = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return (0, 0)
    m = re.search(r"ffmpeg version n?(\d+)\.(\d+)", out)
    if m:
        return int(m[1]), int(m[2])
    return (99, 0) if re.search(r"ffmpeg version (N-|git)", out) else (0, 0)


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


# Anchored at the input dump's own indentation: a metadata value (printed
# after "key : ") cannot pose as these lines. A hostile key with a newline
# still can, so the header is advisory: ffmpeg itself enforces the caps
# (-max_pixels, -t) and decides whether there is a video stream.
_DURATION = re.compile(r"^  Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_START = re.compile(r"^  Duration: .*?start: (-?\d+(?:\.\d+)?)")
_STREAM = re.compile(r"^  Stream #\d+:\d+\S*: (Video|Audio): ([\w-]+)")
_SIZE = re.compile(r", (\d{1,6})x(\d{1,6})")
_FPS = re.compile(r", (\d+(?:\.\d+)?)(k?) (?:fps|tbr)")
_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*-?\d+\s+pts_time:(-?\d+(?:\.\d+)?(?:e-?\d+)?)")
HEADER_LINES = 5000  # a header longer than this (thousands of chapters) is cut short
LOG_TAIL = 40  # lines kept after the header, for the failure reason
LINE_LIMIT = 4096  # bytes read per stderr line (SEI dumps, hostile metadata)


def parse_header(lines: list[str]) -> StreamInfo:
    """Duration, start, and the first video stream's codec, size and rate."""
    info = StreamInfo()
    for line in lines:
        if line.startswith("Input #"):
            info.opened = True
        if info.duration_s is None and (m := _DURATION.search(line)):
            info.duration_s = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
            if start := _START.search(line):
                info.start_s = float(start[1])
        if not (m := _STREAM.search(line)):
            continue
        if m[1] == "Audio":
            info.has_audio = True
        elif not info.has_video:
            info.has_video, info.codec = True, m[2]
            if size := _SIZE.search(line):
                info.width, info.height = int(size[1]), int(size[2])
            if rate := _FPS.search(line):
                info.fps = float(rate[1]) * (1000 if rate[2] else 1)
    return info


def failure_reason(lines: list[str], info: StreamInfo | None = None) -> str:
    """The most telling line of an ffmpeg error log, in words a researcher can act on."""
    text = "\n".join(lines)
    no_video = info is not None and info.opened and not info.has_video
    if no_video or "matches no streams" in text or "does not contain any stream" in text:
        # only ever said of a file ffmpeg failed on: a lying header cannot fail a good file
        if info is not None and info.has_audio and not info.has_video:
            return "audio only: no video stream to fingerprint"
        return "no video stream in the file (an empty or zero-length container)"
    useful = [ln.strip() for ln in lines if ln.strip() and not ln.startswith(" ")]
    for line in reversed(useful):
        if any(w in line.lower() for w in ("invalid", "error", "not found", "no such", "unsupported",
                                          "could not", "failed", "too large")):
            return "ffmpeg could not decode it: " + re.sub(r"^\[[^\]]+\] ", "", line)[:300]
    return "ffmpeg could not decode it: " + (useful[-1] if useful else "no output")[:300]


try:  # resolved once here: the child must not dlopen between fork and exec
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the timeout still applies
    _PRCTL = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclasses.dataclass(frozen=True)
class Budget:
    """What the header earns a file: its time limit (seconds from now) and how many frames to hold."""

    timeout_s: float
    keep_at_most: int


@dataclasses.dataclass
class Frames:
    info: StreamInfo
    frames: list[tuple[float, object]]  # (seconds from the start, greyscale side x side or its digest)


class _Log:
    """ffmpeg's stderr after the header: frame times kept, other lines only the last few."""

    def __init__(self):
        self.times: dict[int, float] = {}
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)

    def read(self, stream) -> None:
        for line in _lines(stream):
            if m := _SHOWINFO.search(line):
                self.times[int(m[1])] = float(m[2])
            elif "Parsed_showinfo" not in line:
                self.tail.append(line)


@contextlib.contextmanager
def _contained(cmd: list[str], timeout_s: float, pass_fds: tuple[int, ...]):
    """ffmpeg started in its own process group, killed with the group on timeout and on the way out.

    Yields (process, timed_out event, restart: a function that sets a new
    time limit, in seconds from now). Everything after Popen runs inside
    the try, so a SIGALRM anywhere (the per-file deadline) still kills the
    group, and whatever ffmpeg started goes too, even when it exited itself.
    """
    timed_out = threading.Event()
    proc = timer = None
    timers: list[threading.Timer] = []

    def kill_group() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def expire() -> None:
        timed_out.set()
        kill_group()

    def restart(seconds: float) -> None:
        for old in timers:
            old.cancel()
        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timers.append(timer)
        timer.start()

    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=_die_with_parent, pass_fds=pass_fds)
        restart(timeout_s)
        yield proc, timed_out, restart
    finally:
        for timer in timers:
            timer.cancel()
        if proc is not None:
            kill_group()
            if proc.poll() is None:
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


def read_frames(cmd: list[str], side: int, timeout_s: float, check: Callable[[StreamInfo], Budget | None],
                keep_at_most: int, pass_fds: tuple[int, ...] = (),
                digest: Callable[[np.ndarray], object] | None = None) -> Frames:
    """Run ``cmd`` (raw greyscale side x side frames on stdout, showinfo on stderr).

    ``check`` sees the header first and raises to refuse the file; it may
    return a ``Budget`` (a new time limit and frame count for this file).
    ``digest``, if given, turns each frame into what is kept (its hashes),
    or None to drop it (a repeat of the previous one), as it arrives. Kept
    frames are halved, and from then on only every other one taken,
    whenever more than ``keep_at_most`` are held, so they stay spread over
    the whole video. Times are ffmpeg's, which already start at 0 whatever
    the container's start time.
    """
    header: list[str] = []
    log = _Log()
    kept: list[tuple[int, object]] = []
    budget: Budget | None = None
    with _contained(cmd, timeout_s, pass_fds) as (proc, timed_out, restart):
        for line in _lines(proc.stderr):  # the input dump comes before any frame
            header.append(line)
            if line.startswith(("Stream mapping:", "Output #0", "Press [q]")) or len(header) >= HEADER_LINES:
                break
        info = parse_header(header)
        budget = check(info)
        if budget is not None:
            restart(budget.timeout_s)
            keep_at_most = budget.keep_at_most
        drain = threading.Thread(target=log.read, args=(proc.stderr,), daemon=True)
        drain.start()
        size, stride, number, taken = side * side, 1, 0, 0
        while True:
            chunk = proc.stdout.read(size)
            if len(chunk) < size:
                break
            frame = np.frombuffer(chunk, dtype=np.uint8).reshape(side, side)
            reduced = frame if digest is None else digest(frame)
            if reduced is not None:
                if taken % stride == 0:
                    kept.append((number, reduced))
                    if len(kept) > keep_at_most:
                        stride *= 2
                        kept = kept[::2]
                taken += 1
            number += 1
        proc.wait()
        drain.join(timeout=5)
    if timed_out.is_set():
        limit = budget.timeout_s if budget is not None else timeout_s
        raise MediaError(f"ffmpeg did not finish within {limit:g} s; its process group was killed")
    if proc.returncode != 0 and not kept:
        raise MediaError(failure_reason(header + list(log.tail), info))
    return Frames(info, [(max(0.0, round(log.times.get(n, float(n)), 3)), f) for n, f in kept])


def _lines(stream):
    for raw in iter(lambda: stream.readline(LINE_LIMIT), b""):
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


def capture(cmd: list[str], timeout_s: float, max_bytes: int, pass_fds: tuple[int, ...] = ()) -> bytes:
    """Run ``cmd`` contained as ``read_frames`` runs it and return its stdout (at most ``max_bytes``).

    For one encoded picture (a thumbnail of a video frame): the same
    process group, parent-death signal and hard timeout, and output past
    ``max_bytes`` ends the run instead of filling memory.
    """
    log = _Log()
    with _contained(cmd, timeout_s, pass_fds) as (proc, timed_out, _):
        drain = threading.Thread(target=log.read, args=(proc.stderr,), daemon=True)
        drain.start()
        out = proc.stdout.read(max_bytes + 1)
        if len(out) <= max_bytes:  # else leave at once: the group is killed on the way out
            proc.wait()
            drain.join(timeout=5)
    if timed_out.is_set():
        raise MediaError(f"ffmpeg did not finish within {timeout_s:g} s; its process group was killed")
    if len(out) > max_bytes:
        raise MediaError(f"ffmpeg's output exceeds {max_bytes:,} bytes")
    if proc.returncode != 0 or not out:
        raise MediaError(failure_reason(list(log.tail)))
    return out
