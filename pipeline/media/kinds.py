"""What a file is, judged by its content (magic bytes), never by its name.

Twitter serves GIFs as MP4 and archives are full of files whose extension
lies, so the kind comes from the bytes. The extension is used only to word a
failure: a ``.jpg`` that holds HTML is a *failed* image (somebody saved an
error page), while a ``.json`` is simply *skipped* as not media.
"""
from __future__ import annotations

import dataclasses
import os

import filetype

IMAGE = "image"
ANIMATION = "animation"
VIDEO = "video"
OTHER = "other"

# Bytes read to sniff a type; filetype needs at most 262.
SNIFF_BYTES = 512

_STILL_FORMATS = {
    "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
    "image/bmp": "BMP", "image/tiff": "TIFF", "image/x-icon": "ICO", "image/avif": "AVIF",
    "image/heic": "HEIC", "image/apng": "PNG",
}
_MEDIA_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
    ".heic", ".avif", ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".flv", ".ts",
    ".mpg", ".mpeg", ".3gp", ".wmv",
}


@dataclasses.dataclass(frozen=True)
class Sniffed:
    kind: str  # IMAGE, VIDEO or OTHER (ANIMATION is decided after decoding)
    format: str  # e.g. "JPEG", "MP4", or a description for OTHER
    mime: str | None


def sniff(head: bytes) -> Sniffed:
    """Classify content from its first bytes."""
    guess = filetype.guess(head)
    if guess is not None:
        if guess.mime in _STILL_FORMATS:
            return Sniffed(IMAGE, _STILL_FORMATS[guess.mime], guess.mime)
        if guess.mime.startswith("image/"):
            return Sniffed(IMAGE, guess.extension.upper(), guess.mime)
        if guess.mime.startswith("video/"):
            return Sniffed(VIDEO, guess.extension.upper(), guess.mime)
        return Sniffed(OTHER, guess.extension.upper(), guess.mime)
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG-TS: a sync byte every 188
        return Sniffed(VIDEO, "TS", "video/mp2t")
    if head[:2] == b"BM" and len(head) >= 26:  # filetype misses some BMP variants
        return Sniffed(IMAGE, "BMP", "image/bmp")
    return Sniffed(OTHER, describe_unknown(head), None)


def describe_unknown(head: bytes) -> str:
    """A short human description of content that is not a known binary type."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text[:200]:
        return "HTML"
    if text.startswith((b"<?xml", b"<svg")):
        return "XML/SVG"
    if text[:1] in (b"{", b"["):
        return "JSON"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unrecognised binary data"


_VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".flv", ".ts", ".mpg", ".mpeg", ".3gp", ".wmv"}
LARGE_FILE = 64 << 20  # bytes: larger files may be long videos whatever their name


def may_be_long_video(path: str) -> bool:
    """A video by its name, or a plain file too large for a picture (only to size time limits: kinds come from bytes)."""
    if os.path.splitext(path)[1].lower() in _VIDEO_EXTENSIONS:
        return True
    try:
        return "!" not in path and os.path.getsize(path) > LARGE_FILE
    except OSError:
        return False


def claims_media(path: str) -> bool:
    """True when the file name says it is media (used only to word failures)."""
    return os.path.splitext(path)[1].lower() in _MEDIA_EXTENSIONS
