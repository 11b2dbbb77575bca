"""Fingerprint one file: the unit of work both the local pool and the Celery
workers run. It never raises for a bad file: every outcome is a ``FileResult``
with status ``ok``, ``failed`` (with a reason) or ``skipped`` (not media), so a
batch always completes and one hostile file cannot lose the others' results.
Results are plain JSON-able dicts so they cross process and broker boundaries.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import signal
import stat
import tempfile
import threading
import time
import zipfile
import zlib

from PIL import Image

from hashtrail.config import Settings
from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.archive.path_map import PathMap
from hashtrail.pipeline.errors import MediaError
from hashtrail.pipeline.media import kinds
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import HASHER, HardEdits, detail, hash_variants
from hashtrail.pipeline.video.animation import animation_frames
from hashtrail.pipeline.video.keyframes import VIDEO_HASHER, hash_frames, round_rate, video_print

COPY_CHUNK = 1 << 20

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclasses.dataclass
class FileResult:
    path: str
    root: str
    status: str
    reason: str | None = None
    kind: str | None = None
    format: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    detail: float | None = None
    duration_s: float | None = None  # videos and animations
    fps: float | None = None
    codec: str | None = None
    frames: int | None = None  # distinct frames hashed
    hasher: str = HASHER
    fingerprints: list[dict] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        # shallow on purpose: dataclasses.asdict deep-copies, a measurable
        # share of the per-file cost at ~2 ms a file
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def failed(path: str, root: str, reason: str) -> FileResult:
    """A failed result for a file the worker could not even look at."""
    return FileResult(path=path, root=root, status=FAILED, reason=reason)


class FileTimeout(MediaError):
    """A file took longer than file_timeout_s."""


class Deadline:
    """The per-file limit of ``deadline``; ``allow`` moves it (a long video earns more time from its header)."""

    def __init__(self, seconds: float, armed: bool):
        self.seconds, self.armed, self.started = seconds, armed, time.monotonic()

    def allow(self, seconds: float) -> None:
        """The file may take ``seconds`` from its start in all (file_timeout_s + per hour of video)."""
        self.seconds = seconds
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, max(seconds - (time.monotonic() - self.started), 0.01))


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise FileTimeout in this thread after ``seconds`` (SIGALRM; main thread only).

    This turns a slow or stuck decode into a failed row without losing the
    rest of the batch. A hang inside C code that never returns to Python is
    left to the hard limits (pebble's batch timeout, Celery's time_limit).
    Yields a ``Deadline`` whose ``allow`` sets another limit.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield Deadline(seconds, False)
        return
    limit = Deadline(seconds, True)

    def expired(signum, frame):
        raise FileTimeout(f"timed out after {limit.seconds:g} s (file_timeout_s"
                          + (" + file_timeout_per_hour_s)" if limit.seconds != seconds else ")"))

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield limit
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fingerprint_file(path: str, root: str, settings: Settings, read_from: str | None = None) -> FileResult:
    """Fingerprint ``path``; any problem becomes a failed or skipped result.

    ``read_from`` is where this host reads the file when it differs from the
    recorded ``path`` (see pipeline/archive/path_map.py); the result keeps ``path``.
    """
    started = time.perf_counter()
    result = FileResult(path=path, root=root, status=FAILED)
    try:
        with deadline(settings.file_timeout_s) as limit:
            _fingerprint_into(result, settings, read_from or path, limit)
    except MediaError as exc:
        result.status, result.reason = FAILED, str(exc)
    except MemoryError:
        result.status, result.reason = FAILED, "ran out of memory decoding this file"
    except Exception as exc:  # a decoder bug must not take the batch down
        result.status, result.reason = FAILED, f"unexpected {type(exc).__name__}: {exc}"
    if result.status != OK:
        result.fingerprints = []
    result.seconds = round(time.perf_counter() - started, 6)
    return result


@contextlib.contextmanager
def _open_source(result: FileResult, read_from: str):
    """A readable stream for a file or an archive member; sets size and mtime.

    Yields None for something that is not a regular file (never read: a FIFO
    would block forever).
    """
    located = zips.split(read_from)
    if located:
        archive, member = located
        try:
            st = os.stat(archive)
            zf = zips.open_archive(archive, st.st_mtime_ns)
        except (OSError, zipfile.BadZipFile) as exc:
            raise MediaError(f"cannot read archive: {exc}") from None
        try:
            info = zf.getinfo(member)
            result.size, result.mtime_ns = info.file_size, st.st_mtime_ns
            if info.flag_bits & 0x1:
                raise MediaError("encrypted archive member: a password is needed")
            with zf.open(info) as stream:
                yield stream
        except KeyError:
            raise MediaError(f"no member {member!r} in {archive}") from None
        except (zipfile.BadZipFile, EOFError, NotImplementedError, zlib.error, RuntimeError) as exc:
            raise MediaError(f"cannot read archive member: {exc}") from None
        return
    try:
        fd = os.open(read_from, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        result.size, result.mtime_ns = st.st_size, st.st_mtime_ns
        if not stat.S_ISREG(st.st_mode):
            result.status, result.reason = SKIPPED, "not a regular file"
            yield None
            return
        with os.fdopen(fd, "rb", closefd=False) as stream:
            yield stream
    finally:
        os.close(fd)


def _fingerprint_into(result: FileResult, settings: Settings, read_from: str, limit: Deadline) -> None:
    with _open_source(result, read_from) as stream:
        if stream is None:
            return
        if result.size == 0:
            raise MediaError("empty file (0 bytes)")
        head = stream.read(kinds.SNIFF_BYTES)
        sniffed = kinds.sniff(head)
        result.kind, result.format = sniffed.kind, sniffed.format
        if sniffed.kind == kinds.OTHER and sniffed.format == "ZIP":
            result.status, result.reason = SKIPPED, "archive inside an archive: not read (unpack the outer one)"
            return
        if sniffed.kind == kinds.OTHER:
            if kinds.claims_media(result.path):
                ext = os.path.splitext(result.path)[1]
                raise MediaError(f"named {ext} but the content is {sniffed.format}, not media")
            result.status, result.reason = SKIPPED, f"not media ({sniffed.format})"
            return
        if sniffed.kind == kinds.VIDEO:
            _video_into(result, settings, stream, head, read_from, limit)
            return
        if result.size > settings.max_image_bytes:
            raise MediaError(
                f"image file of {result.size:,} bytes exceeds max_image_bytes={settings.max_image_bytes:,}")
        data = head + stream.read(settings.max_image_bytes + 1 - len(head))
        if len(data) > settings.max_image_bytes:  # an archive member that inflates past its declared size
            raise MediaError(f"content exceeds max_image_bytes={settings.max_image_bytes:,}")
    result.sha256 = hashlib.sha256(data).hexdigest()
    decoded = decode_still(data, settings.max_pixels)
    result.format, result.width, result.height = decoded.format, decoded.width, decoded.height
    if decoded.frames > 1 and decoded.format in ("GIF", "WEBP", "PNG"):
        _animation_into(result, settings, data)
        return
    result.detail = round(detail(decoded.image), 3)
    result.fingerprints = [{"name": v.name, "phash": v.phash, "dhash": v.dhash, "phash256": v.phash256,
                            "aspect": v.aspect, **({"box": v.box} if v.box else {})}
                           for v in hash_variants(decoded.image, settings.min_detail,
                                                   hard=HardEdits.from_settings(settings), fine=decoded.fine)]
    result.status = OK


def _animation_into(result: FileResult, settings: Settings, data: bytes) -> None:
    """An animated GIF/WebP/PNG: chosen frames hashed as video frames are."""
    with Image.open(io.BytesIO(data)) as im:
        animation = animation_frames(im, settings)
    result.kind, result.codec = kinds.ANIMATION, result.format
    result.duration_s = round(animation.duration_s, 3)
    result.fps = round_rate(animation.count / animation.duration_s) if animation.duration_s else None
    result.fingerprints, result.frames = hash_frames(animation.frames, settings)
    result.status = OK


def _video_into(result: FileResult, settings: Settings, stream, head: bytes, read_from: str,
                limit: Deadline) -> None:
    """A video: SHA-256 of its bytes, then keyframes through ffmpeg, within the time its length earns.

    ffmpeg reads a file in place; an archive member is first copied to a
    temporary file (containers such as MP4 need to seek), within max_video_bytes.
    """
    if result.size > settings.max_video_bytes:
        raise MediaError(f"video of {result.size:,} bytes exceeds max_video_bytes={settings.max_video_bytes:,}")
    digest = hashlib.sha256(head)
    # an archive member goes to an unlinked temporary file: nothing is left
    # behind even when the worker is killed mid-way (ffmpeg opens /dev/fd/N)
    copy = tempfile.TemporaryFile(prefix="hashtrail-") if zips.split(read_from) else None
    try:
        if copy is not None:
            copy.write(head)
        copied = len(head)
        while chunk := stream.read(COPY_CHUNK):
            digest.update(chunk)
            copied += len(chunk)
            if copy is not None:
                if copied > settings.max_video_bytes:
                    raise MediaError(f"content exceeds max_video_bytes={settings.max_video_bytes:,}")
                copy.write(chunk)
        result.sha256 = digest.hexdigest()
        if copy is not None:
            copy.flush()
            source, fds = f"/dev/fd/{copy.fileno()}", (copy.fileno(),)
        else:
            source, fds = read_from, ()
        printed = video_print(source, settings, settings.file_timeout_s, fds, limit.allow)
    finally:
        if copy is not None:
            copy.close()
    info = printed.info
    result.width, result.height, result.codec = info.width, info.height, info.codec
    result.duration_s = round(info.duration_s, 3) if info.duration_s is not None else None
    result.fps = round_rate(info.fps)
    result.fingerprints, result.frames = printed.fingerprints, printed.frames
    result.hasher = VIDEO_HASHER
    result.status = OK


def fingerprint_batch(items: list[tuple[str, str]], settings: Settings) -> list[dict]:
    """Fingerprint (path, root) pairs; the pool and Celery tasks call this."""
    local = PathMap.parse(settings.path_map)
    return [fingerprint_file(path, root, settings, local.to_local(path)).as_dict() for path, root in items]
