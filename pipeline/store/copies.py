"""One media at several paths: how the store tells copies from distinct media.

Moving a folder and scanning it again, or scanning a release's zips and an
unpacked copy, records the same files under new paths. Rows are kept per
path (each is where the media was seen, and ``forget`` drops a vanished
one), but every report counts a media once: by its first (lowest id) ok
row, listing the other paths beside it.
"""
from __future__ import annotations

import os

from hashtrail.pipeline.archive import zips

# What makes two rows one media: the same bytes and the same post. A Twitter
# media key (``<tweetid>-<key>`` from the file name) names the post by
# itself; otherwise the account, the post id and the file name do. Computed
# by SQLite (a virtual column, indexed), so it follows attribution changes.
IDENTITY = ("CASE WHEN sha256 IS NULL THEN NULL WHEN media_key IS NOT NULL THEN sha256 || '|' || media_key "
            "ELSE sha256 || '|' || COALESCE(account, '') || '|' || COALESCE(post_id, '') || '|' "
            "|| COALESCE(name, '') END")


def first_copy(alias: str = "m") -> str:
    """SQL: the row ``alias`` is not a copy of an earlier row (needs ``_mark_copies`` first)."""
    return f"{alias}.id NOT IN (SELECT id FROM temp.copies)"


class CopiesMixin:
    _copies_as_of = None

    def _mark_copies(self) -> None:
        """Note in ``temp.copies`` every ok row that repeats an earlier row's media.

        One scan of the identity index (~1 s at 2M media), redone only when
        the database changed since (``PRAGMA data_version`` moves when
        another connection commits, ``total_changes`` when this one does),
        so the reports' filters are cheap lookups, nothing when there are no
        copies.
        """
        state = (self.db.execute("PRAGMA data_version").fetchone()[0], self.db.conn.total_changes)
        if state == self._copies_as_of:
            return
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS copies (id INTEGER PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.copies")
        self.db.execute(
            "INSERT INTO temp.copies SELECT id FROM media m INDEXED BY idx_media_identity "
            "WHERE m.status = 'ok' AND m.identity IS NOT NULL AND EXISTS (SELECT 1 FROM media d "
            "INDEXED BY idx_media_identity WHERE d.identity = m.identity AND d.status = 'ok' AND d.id < m.id)")
        self._copies_as_of = (self.db.execute("PRAGMA data_version").fetchone()[0], self.db.conn.total_changes)

    def roots(self) -> list[dict]:
        """Every scanned root with its rows, whether it is still there, and its archives that are gone.

        ``copies``: rows of media first seen under another root (e.g. the
        old place of a moved folder). A gone root or archive stays until
        ``hashtrail forget PATH``.
        """
        self._mark_copies()
        out = []
        for row in self.db.query(
                "SELECT root, COUNT(*) AS files, CAST(TOTAL(status = 'ok') AS INTEGER) AS fingerprinted, "
                f"CAST(TOTAL(status = 'ok' AND NOT {first_copy()}) AS INTEGER) AS copies "
                "FROM media m WHERE root IS NOT NULL GROUP BY root ORDER BY root"):
            row["exists"] = os.path.isdir(row["root"])
            archives = [a for (a,) in self.db.execute(  # a gone root's archives are gone with it
                "SELECT DISTINCT substr(path, 1, instr(lower(path), '.zip!') + 3) FROM media "
                "WHERE root = ? AND instr(lower(path), '.zip!') > 0", [row["root"]])] if row["exists"] else []
            row["gone_archives"] = sorted(a for a in archives if not os.path.isfile(a))
            out.append(row)
        return out

    def forget(self, path: str) -> int:
        """Drop every row recorded at or under ``path`` (a root, a folder, a zip or a file); returns how many.

        For media that are gone for good (a moved or deleted folder, a
        removed zip), which a scan cannot mark missing. Their clusters are
        left to be rebuilt: the next clustering sees media went away.
        """
        path = os.path.abspath(path).rstrip("/") or "/"
        where = ("path = :p OR substr(path, 1, :n) = :dir OR substr(path, 1, :n) = :zip OR root = :p "
                 "OR substr(root, 1, :n) = :dir")
        params = {"p": path, "n": len(path) + 1, "dir": path.rstrip("/") + "/", "zip": path + zips.SEPARATOR}
        with self._writing():
            ids = [i for (i,) in self.db.execute(f"SELECT id FROM media WHERE {where}", params)]
            for table in ("fingerprints", "clusters"):
                self._delete_where_media_in(table, ids)
            for chunk in _chunks(ids, 900):
                marks = ",".join("?" * len(chunk))
                self.db.execute(f"DELETE FROM frame_matches WHERE media_a IN ({marks}) OR media_b IN ({marks})",
                                chunk + chunk)
                self.db.execute(f"DELETE FROM media WHERE id IN ({marks})", chunk)
        return len(ids)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
