"""The fingerprint rows the last clustering saw, as append-only column files beside the database.

Reading 10M fingerprint rows back out of SQLite costs tens of seconds, and
rewriting them as one ``.npz`` after every update cost a full write of
the table (hundreds of MB at 2M media) to add 1%. So each column is a raw
file (``<db>-columns/phash.u8`` ...) that an update only appends to, and a
small manifest (``manifest.json``, replaced atomically) says how many rows
of them are valid and for which clustering:

- an update first *stages* its new rows after the valid ones and maps all
  of them (numpy memmaps: nothing is copied or read until used), and
  *publishes* them (a new manifest) only once its clusters are committed.
  A crash in between leaves the old manifest: the staged tail is ignored
  and overwritten by the next stage;
- a rebuild writes every column to new files and renames them over the
  old ones (a reader holding a map keeps the old inode), the manifest
  removed first and written last;
- a reader trusts the files only if the manifest's stamp (database id,
  clustering epoch, count of out-of-band changes, rows, largest row id;
  the store decides what they must be) is the expected one, every file
  holds the rows, and the last appended chunk still has the CRC-32 it was
  written with (a cheap check of the tail, where a half-done or foreign
  write would show). Anything else: ``None``, and the store reads SQLite.

Pure files and numpy; the store (pipeline/store/clusters.py) owns the
stamps and the SQL.
"""
from __future__ import annotations

import contextlib
import json
import os
import zlib

import numpy as np

from hashtrail.pipeline.index.cluster import Fingerprints

FORMAT = 1  # a change of the files' layout: older caches are not read
# column -> (dtype, values per row); ``ids`` are the fingerprint rows' SQLite ids
COLUMNS = {"ids": ("<i8", 1), "media_id": ("<i8", 1), "phash": ("<u8", 1), "dhash": ("<u8", 1),
           "phash256": ("<u8", 4), "secondary": ("|b1", 1), "time_s": ("<f8", 1), "variant": ("<i2", 1),
           "aspect": ("<f8", 1)}


def _columns(fp: Fingerprints, ids: np.ndarray) -> dict[str, np.ndarray]:
    return {"ids": ids, "media_id": fp.media_id, "phash": fp.phash, "dhash": fp.dhash, "phash256": fp.phash256,
            "secondary": fp.secondary, "time_s": fp.times(), "variant": fp.codes(), "aspect": fp.aspects()}


class ColumnCache:
    def __init__(self, folder: str):
        self.folder = folder
        self.manifest_path = os.path.join(folder, "manifest.json")

    def _file(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.col")

    def manifest(self) -> dict | None:
        try:
            with open(self.manifest_path) as fh:
                manifest = json.load(fh)
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else None

    def read(self, stamp: dict, extra: int = 0) -> tuple[Fingerprints, np.ndarray] | None:
        """The valid rows (plus ``extra`` staged after them) as memmaps, if the manifest carries ``stamp``."""
        manifest = self.manifest()
        if manifest is None or manifest.get("stamp") != stamp:
            return None
        rows = int(manifest["rows"]) + extra
        try:
            cols = {}
            for name, (dtype, width) in COLUMNS.items():
                size = np.dtype(dtype).itemsize * width
                if os.path.getsize(self._file(name)) < rows * size:
                    return None
                shape = (rows, width) if width > 1 else (rows,)
                cols[name] = (np.memmap(self._file(name), dtype=dtype, mode="r", shape=shape) if rows
                              else np.zeros(shape, dtype=dtype))
            if self._tail_crc(cols, manifest["tail"]) != manifest["tail_crc"]:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        fp = Fingerprints(cols["media_id"], cols["phash"], cols["dhash"], cols["phash256"], cols["secondary"],
                          cols["time_s"], cols["variant"], cols["aspect"])
        return fp, cols["ids"]

    @staticmethod
    def _tail_crc(cols: dict[str, np.ndarray], tail: list) -> int:
        start, stop = int(tail[0]), int(tail[1])
        crc = 0
        for name in COLUMNS:
            crc = zlib.crc32(np.ascontiguousarray(cols[name][start:stop]).tobytes(), crc)
        return crc

    def write(self, fp: Fingerprints, ids: np.ndarray, stamp: dict) -> None:
        """All rows anew (a rebuild, or a cache that could not be used)."""
        with contextlib.suppress(OSError):
            os.remove(self.manifest_path)  # no manifest while the files change: readers go to SQLite
        try:
            os.makedirs(self.folder, exist_ok=True)
            for name, values in _columns(fp, ids).items():
                partial = self._file(name) + ".partial"
                np.ascontiguousarray(values, dtype=COLUMNS[name][0]).tofile(partial)
                os.replace(partial, self._file(name))
            self._publish(len(ids), (0, len(ids)), _columns(fp, ids), stamp)
        except OSError:
            self._clear()

    def stage(self, rows: int, fp: Fingerprints, ids: np.ndarray) -> bool:
        """Write new rows after the first ``rows`` (the valid ones), not yet published."""
        try:
            for name, values in _columns(fp, ids).items():
                dtype, width = COLUMNS[name]
                with open(self._file(name), "r+b") as fh:
                    fh.seek(rows * np.dtype(dtype).itemsize * width)
                    fh.write(np.ascontiguousarray(values, dtype=dtype).tobytes())
            return True
        except OSError:
            return False

    def publish(self, rows: int, added: int, stamp: dict) -> None:
        """Make the ``added`` rows staged after ``rows`` valid, under ``stamp``."""
        try:
            cols = {name: np.memmap(self._file(name), dtype=dtype, mode="r",
                                    shape=(rows + added, width) if width > 1 else (rows + added,))
                    for name, (dtype, width) in COLUMNS.items()} if rows + added else None
            if cols is None:
                return self._clear()
            self._publish(rows + added, (rows, rows + added), cols, stamp)
        except (OSError, ValueError):
            self._clear()

    def _publish(self, rows: int, tail: tuple[int, int], cols: dict, stamp: dict) -> None:
        for name in COLUMNS:  # the data reaches the files before the manifest that vouches for it
            with open(self._file(name), "rb+") as fh:
                os.fsync(fh.fileno())
        manifest = {"format": FORMAT, "rows": rows, "tail": list(tail), "tail_crc": self._tail_crc(cols, tail),
                    "stamp": stamp}
        partial = self.manifest_path + ".partial"
        with open(partial, "w") as fh:
            json.dump(manifest, fh)
        os.replace(partial, self.manifest_path)  # readers see the old manifest or the new one

    def _clear(self) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.manifest_path)
