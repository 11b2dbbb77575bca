"""Where the pixel check's pictures come from at cluster time: the files themselves, re-read.

``hashtrail cluster`` (and a scan's re-clustering) checks only the few
pairs that a hard edit alone explains and that would join two clusters
(pipeline/index/verification.py): about one per media that joins through a
mirror, a crop window or a tilt. So the pictures are not stored at scan
time (2M media x ~7 KB would double a database); each media of such a pair
is read again from its path or zip member, decoded as a scan decodes it
(1/8-scale JPEG draft, ~1-2 ms) and reduced to a ``verify.Picture``.

The host that clusters must be able to read the files (as ``hashtrail
serve`` must, for thumbnails). A file that moved, was deleted or no longer
decodes gives no picture: its unchecked pairs are not joined, and the count
is recorded with the clustering (``Verified.unavailable``, meta
``verification``). In a distributed scan the writer clusters, so the same
files give the same clusters as an embedded scan.
"""
from __future__ import annotations

from typing import Callable

from hashtrail.pipeline.errors import MediaError
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.thumbnail import _read
from hashtrail.pipeline.media.verify import Picture


def picture_of_file(read_from: str, settings) -> Picture | None:
    """The verification picture of a still at a path or ``ARCHIVE.zip!member``; None if it cannot be read."""
    try:
        data = _read(read_from, settings.max_image_bytes)
        return Picture.of(decode_still(data, settings.max_pixels).image, settings.hard_caption)
    except MediaError:
        return None
    except Exception:  # noqa: BLE001 - a hostile or vanished file must not stop a clustering
        return None


def file_pictures(paths_of: Callable[[list[int]], dict[int, str]], settings) -> Callable[[list[int]], dict]:
    """A ``pictures`` callable for verification.verify_edges: media ids -> Pictures, read from their files."""
    def pictures(media_ids: list[int]) -> dict[int, Picture]:
        out = {}
        for media, path in paths_of(media_ids).items():
            picture = picture_of_file(path, settings) if path else None
            if picture is not None:
                out[media] = picture
        return out
    return pictures
