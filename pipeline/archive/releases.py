"""Which release (campaign) a file came from, from the zip or folder it sits in.

Twitter's information-operations releases name their media archives after
the campaign: ``ira_tweet_media_hashed_1.zip`` (2018), ``iranian_...``,
``<campaign>_hashed_<NNN>.zip`` from 2020 on (``china_052020_hashed_001.zip``),
and unpacked copies keep those names as folders. Several releases in one
database can then be told apart, and media reused across campaigns found.

The release is the configured ``release_pattern``'s ``release`` group where
it matches the path, else the name of the zip the file is in, else of the
first folder under the scanned root, with the release's common suffixes
(``_tweet_media_hashed_1``, ``_hashed_001``, ``.zip``) taken off.
"""
from __future__ import annotations

import os
import re

from hashtrail.pipeline.archive import zips

SUFFIX = re.compile(r"(?:_tweet)?(?:_media)?(?:_hashed)?(?:_\d+)?$", re.IGNORECASE)


def release_name(name: str) -> str | None:
    """``ira_tweet_media_hashed_1.zip`` -> ``ira``; ``china_052020_hashed_001`` -> ``china_052020``."""
    stem = name[:-4] if name.lower().endswith(".zip") else name
    stem = SUFFIX.sub("", stem)
    return stem or None


def release_of(path: str, root: str, pattern: re.Pattern | None = None) -> str | None:
    """The release of ``path`` scanned under ``root`` (None when nothing names one)."""
    if pattern is not None:
        match = pattern.search(path.replace(os.sep, "/"))
        if match and match.groupdict().get("release"):
            return match.group("release")
    located = zips.split(path)
    if located:
        return release_name(os.path.basename(located[0]))
    rel = os.path.relpath(path, root).replace(os.sep, "/") if root else path.lstrip("/")
    first = rel.split("/", 1)[0] if "/" in rel else os.path.basename(root.rstrip("/")) if root else None
    if not first or first in (".", ".."):
        return None
    return release_name(first)
