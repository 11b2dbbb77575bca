"""Small colour pictures of stored media, for people to look at (``hashtrail serve``).

Made on demand from the file the database names: a still or an animation's
first frame through Pillow (JPEG draft decoding, EXIF orientation, the same
``max_pixels`` and ``max_image_bytes`` caps as a scan), a video's frame at a
stored time through the contained ffmpeg, a zip member read in place. They
are cached as JPEG files in a folder *beside* the database, never inside
it: the database stays what the scans wrote, and the cache can be deleted
at any time.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
import zlib

import ffmpeg
from PIL import Image, ImageOps

from hashtrail.config import Settings
from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.errors import MediaError
from hashtrail.pipeline.media import kinds
from hashtrail.pipeline.media.decode import open_image
from hashtrail.pipeline.video.ffmpeg_process import capture, executable

MAX_SIDE = 640  # the largest thumbnail a request may ask for
MAX_JPEG_BYTES = 4 << 20


def _read(read_from: str, limit: int) -> bytes:
    """The bytes of a file or an ``ARCHIVE.zip!member``, at most ``limit``."""
    located = zips.split(read_from)
    try:
        if located:
            archive, member = located
            with zipfile.ZipFile(archive) as zf, zf.open(member) as stream:
                data = stream.read(limit + 1)
        else:
            with open(read_from, "rb") as stream:
                data = stream.read(limit + 1)
    except KeyError:
        raise MediaError(f"no member {located[1]!r} in {located[0]}") from None
    except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, zlib.error, RuntimeError) as exc:
        raise MediaError(f"cannot read {read_from}: {exc}") from None
    if len(data) > limit:
        raise MediaError(f"{read_from} is larger than {limit:,} bytes")
    return data


def _jpeg(im: Image.Image, side: int) -> bytes:
    im.thumbnail((side, side))
    out = io.BytesIO()
    im.convert("RGB").save(out, "JPEG", quality=82)
    return out.getvalue()


def still_thumbnail(data: bytes, settings: Settings, side: int) -> bytes:
    """A still or an animation's first frame, as a JPEG at most ``side`` pixels on its longer side."""
    im = open_image(data, settings.max_pixels)
    try:
        with im:
            if im.format == "JPEG":
                im.draft("RGB", (side, side))
            return _jpeg(ImageOps.exif_transpose(im), side)
    except MediaError:
        raise
    except Exception as exc:  # Pillow raises many kinds for hostile files; a thumbnail is never worth a crash
        raise MediaError(f"cannot decode the picture: {exc}") from None


def video_frame(read_from: str, time_s: float, settings: Settings, side: int) -> bytes:
    """The video frame at ``time_s`` as a JPEG, through the contained ffmpeg (a zip member via a temp copy)."""
    located = zips.split(read_from)
    copy = None
    try:
        if located:
            copy = tempfile.TemporaryFile(prefix="hashtrail-thumb-")
            copy.write(_read(read_from, settings.max_video_bytes))
            copy.flush()
            source, fds = f"/dev/fd/{copy.fileno()}", (copy.fileno(),)
        else:
            source, fds = read_from, ()
        scale = f"min({side},iw)", f"min({side},ih)"
        stream = ffmpeg.input("file:" + source, ss=f"{max(0.0, time_s):.3f}", threads=1,
                              max_pixels=settings.max_pixels, protocol_whitelist="file")
        cmd = (stream.video.filter("scale", *scale, force_original_aspect_ratio="decrease")
               .output("pipe:", vframes=1, format="image2pipe", vcodec="mjpeg", **{"q:v": 4})
               .compile(cmd=executable(settings.ffmpeg)))
        cmd = cmd[:1] + ["-hide_banner", "-nostdin", "-loglevel", "error"] + cmd[1:]
        return capture(cmd, min(settings.file_timeout_s, 20.0), MAX_JPEG_BYTES, fds)
    finally:
        if copy is not None:
            copy.close()


def make_thumbnail(read_from: str, kind: str, settings: Settings, time_s: float | None = None,
                   side: int = 240) -> bytes:
    """A JPEG of the media at ``read_from``: a video at ``time_s`` (default: its first second)."""
    side = max(16, min(int(side), MAX_SIDE))
    if kind == kinds.VIDEO:
        return video_frame(read_from, time_s or 0.0, settings, side)
    return still_thumbnail(_read(read_from, settings.max_image_bytes), settings, side)


class ThumbnailCache:
    """JPEG files in ``<db>-thumbs/``, named by media id, time, size and content hash.

    The content hash in the name means a file that was re-read with other
    bytes never shows its old picture. A folder that cannot be written is
    not an error: thumbnails are then made for every request.
    """

    def __init__(self, db_path: str):
        self.folder = os.path.abspath(db_path) + "-thumbs"

    def path(self, media_id: int, sha256: str | None, time_s: float | None, side: int) -> str:
        at = "x" if time_s is None else f"{round(time_s * 1000)}"
        tag = hashlib.sha256(f"{sha256}".encode()).hexdigest()[:12]
        return os.path.join(self.folder, f"{int(media_id)}-{at}-{int(side)}-{tag}.jpg")

    def get(self, media_id: int, sha256: str | None, time_s: float | None, side: int, make) -> bytes:
        target = self.path(media_id, sha256, time_s, side)
        try:
            with open(target, "rb") as cached:
                return cached.read()
        except OSError:
            pass
        data = make()
        try:
            os.makedirs(self.folder, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".part")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, target)  # atomic: a concurrent request reads a whole file or none
        except OSError:
            pass
        return data
