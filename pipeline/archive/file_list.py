"""The media file list a release ships beside its media zips.

Twitter's releases include ``<campaign>_media_file_list_hashed.txt``: the
media files the release holds, one per line, so a researcher can check a
download is complete without unpacking 300 zips. Lines may be bare file
names or paths inside the zips; they are matched to scanned media by file
name (``<tweetid>-<mediakey>.<ext>`` is unique in a release), so the folder
layout of the zips does not matter.
"""
from __future__ import annotations

import os
import re
from typing import Iterator

from hashtrail.pipeline.archive.accounts import file_name
from hashtrail.pipeline.archive.posts import open_text

FILE_LIST = "file_list"
_LOOKS_LIKE_A_FILE = re.compile(r"^[^,\t]+\.[A-Za-z0-9]{2,5}$")


def is_file_list(path: str) -> bool:
    """A ``.txt`` file, or one whose first line is a single file name rather than a CSV header."""
    lowered = os.path.basename(path).lower()
    if lowered.endswith((".txt", ".txt.gz")) or "media_file_list" in lowered:
        return True
    with open_text(path) as stream:
        first = next((line.strip() for line in stream if line.strip()), "")
    return bool(_LOOKS_LIKE_A_FILE.match(first))


def read_file_list(path: str) -> Iterator[dict]:
    """One row per listed file: its name, the line as listed, and the list it came from."""
    listed_in = os.path.basename(path)
    with open_text(path) as stream:
        for line in stream:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                yield {"name": file_name(entry.replace("\\", "/")), "path": entry, "list": listed_in}
