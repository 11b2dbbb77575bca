"""Media inside zip archives, read in place: never extracted to disk.

Twitter's releases ship media as hundreds of zips (296 GB for the IRA alone),
so unpacking first is not an option. A member is addressed everywhere as
``ARCHIVE.zip!member/path``: one string that is a row's path, a message's
item and what users see. Members are listed from the central directory
(cheap); fingerprinting reads one member at a time, checks its declared size
first and never inflates more than ``max_image_bytes + 1`` bytes, so a zip
bomb cannot exhaust a worker's memory. A zip cut short is read from its
local headers (partial_zip.py).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import struct
import zipfile

from hashtrail.pipeline.archive import partial_zip
from hashtrail.pipeline.errors import MediaError

SEPARATOR = "!"
SUFFIX = ".zip"


def is_archive(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


def split(path: str) -> tuple[str, str] | None:
    """(archive path, member name) for ``ARCHIVE.zip!member``, else None.

    A folder may itself be called ``x.zip!y``: the archive is the first
    ``.zip!`` prefix that is an existing file (the first one if none exists).
    """
    lowered, marker = path.lower(), SUFFIX + SEPARATOR
    cuts = []
    start = lowered.find(marker)
    while start >= 0:
        cuts.append(start + len(SUFFIX))
        start = lowered.find(marker, start + 1)
    if not cuts:
        return None
    cut = next((c for c in cuts if os.path.isfile(path[:c])), cuts[0])
    return path[:cut], path[cut + len(SEPARATOR):]


@functools.lru_cache(maxsize=4)
def open_archive(path: str, mtime_ns: int) -> zipfile.ZipFile:
    """An open ZipFile, kept for the next members of a batch (the central
    directory of a 20,000-member zip takes ~75 ms to read, once, not per member).

    A zip cut short (no central directory) is read from its local headers.
    """
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        if not partial_zip.starts_like_a_zip(path):
            raise
        return partial_zip.PartialZip(path)


def member_path(archive: str, member: str) -> str:
    return f"{archive}{SEPARATOR}{member}"


def truncated_reason(error: str, complete: int) -> str:
    """What the failed row of a zip read from its local headers says."""
    what = ("truncated zip: its end (the central directory) is missing, likely a partial download"
            if error == "File is not a zip file" else f"damaged zip ({error})")
    return (f"{what}; {complete} complete member{'s' if complete != 1 else ''} read from their local headers, "
            "the rest is missing: download the archive again and re-run the scan")


@dataclasses.dataclass
class Listing:
    members: list[zipfile.ZipInfo]  # file members, in name order
    problem: str | None = None  # set when the zip is truncated or damaged: only complete members are listed


def members(archive: str) -> Listing:
    """The file members of ``archive``; raises MediaError for a zip with none readable.

    A zip without its central directory (a download cut short) is listed
    from its local headers: its complete members get the same
    ``ARCHIVE.zip!member`` paths they have in the complete zip.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            return Listing(sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        error = str(exc)
    if not partial_zip.starts_like_a_zip(archive):
        raise MediaError(f"not a readable zip archive: {error}")
    try:
        with partial_zip.PartialZip(archive) as zf:
            infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise MediaError(f"not a readable zip archive: {error} ({exc})") from None
    if not infos:
        raise MediaError(truncated_reason(error, 0))
    return Listing(infos, truncated_reason(error, len(infos)))
