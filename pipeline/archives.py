"""Media inside zip archives, read in place: never extracted to disk.

Twitter's releases ship media as hundreds of zips (296 GB for the IRA alone),
so unpacking first is not an option. A member is addressed everywhere as
``ARCHIVE.zip!member/path``: one string that is a row's path, a message's
item and what users see. Members are listed from the central directory
(cheap); fingerprinting reads one member at a time, checks its declared size
first and never inflates more than ``max_image_bytes + 1`` bytes, so a zip
bomb cannot exhaust a worker's memory.
"""
from __future__ import annotations

import zipfile
from typing import Iterator

from .errors import MediaError

SEPARATOR = "!"
SUFFIX = ".zip"


def is_archive(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


def split(path: str) -> tuple[str, str] | None:
    """(archive path, member name) for ``ARCHIVE.zip!member``, else None."""
    marker = path.lower().find(SUFFIX + SEPARATOR)
    if marker < 0:
        return None
    cut = marker + len(SUFFIX)
    return path[:cut], path[cut + len(SEPARATOR):]


def member_path(archive: str, member: str) -> str:
    return f"{archive}{SEPARATOR}{member}"


def members(archive: str) -> Iterator[zipfile.ZipInfo]:
    """File members in name order; raises MediaError for an unreadable zip."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise MediaError(f"not a readable zip archive: {exc}") from None
    yield from sorted(infos, key=lambda i: i.filename)
