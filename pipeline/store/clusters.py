"""The store's clustering half (a mixin of ``Store``): fingerprints in, clusters out.

Kept apart from pipeline/store/database.py so each file holds one idea; it is still
the store: all of its SQL runs on the same connection and lock.

Incremental clustering needs to know what is new since the last run and
that nothing old went away, without counting millions of rows each time.
``media.clustered`` is NULL for a file saved since (store.save clears it);
triggers count every change to what the last clustering read
(``meta.cluster_input_changes``: a clustered media re-read, failed,
forgotten or deleted, a row of one deleted, added or changed), and
``meta.clustered`` keeps that count, the rule, an epoch (new at every
rebuild) and how many media and rows the clustering saw (kept by adding
what each update marks). If the count moved or the rule changed, the
next run rebuilds everything instead.

Reading 10M fingerprint rows back out of SQLite costs tens of seconds, so
the rows clustered are kept as append-only column files beside the
database (pipeline/store/column_cache.py, ``<db>-columns/``): an update
maps them, reads only newer rows from SQLite and appends those. The
cache is used only when its manifest carries this database's id and the
current epoch, change count, rows and largest row id (and its tail checks
out); otherwise SQLite is read and the cache written anew.
"""
from __future__ import annotations

import contextlib
import json
import os
import uuid
from typing import Iterable

import numpy as np

from hashtrail.pipeline.index.cluster import (
    Assignment,
    Fingerprints,
    FrameMatch,
    Thresholds,
    Via,
)
from hashtrail.pipeline.index.hamming import hex_to_u64
from hashtrail.pipeline.media.hashing import SECONDARY, VARIANT_CODE, VIA_RANK
from hashtrail.pipeline.store.column_cache import ColumnCache


# New media through their partial index, whatever the planner's statistics: by ``status = 'ok'`` (nearly
# every media) each of these statements was a pass over all media at every update
UNCLUSTERED = "media INDEXED BY idx_media_unclustered"


class ClustersMixin:
    # -- clustering input -------------------------------------------------------------
    def fingerprints(self) -> Fingerprints:
        """All fingerprint rows of successfully hashed media, as numpy columns."""
        return self.fingerprints_and_new()[0]

    def fingerprints_version(self) -> tuple:
        """Changes whenever the rows ``fingerprints()`` returns may have changed (cheap: two indexed reads)."""
        (last,) = self.db.execute("SELECT MAX(id) FROM fingerprints").fetchone()
        writes = self.db.execute("SELECT value FROM meta WHERE key = 'media_writes'").fetchone()
        return self.database_id, last, writes[0] if writes else None

    def fingerprints_and_new(self, cached: bool = False) -> tuple[Fingerprints, np.ndarray, np.ndarray]:
        """All rows of ok media, which rows belong to media not clustered yet, and the rows' ids.

        ``cached``: take the rows the last clustering saw from the column
        cache (pipeline/store/column_cache.py), read only newer rows from
        SQLite and stage them in the cache (``save_fingerprint_cache``
        publishes them once the clusters are stored); the columns are then
        memmaps of the cache files. Only valid when ``can_update_clusters``
        says nothing old changed.
        """
        self._staged = None
        cache, stamp, valid = self._valid_cache() if cached else (None, None, None)
        after = stamp["max_id"] if valid is not None and stamp["max_id"] is not None else -1  # None: no rows yet
        fp, new, ids = self._fingerprint_rows(after)
        if valid is None:
            return fp, new, ids
        old_rows = len(valid[1])
        if len(ids) and cache.stage(old_rows, fp, ids):
            staged = cache.read(stamp, extra=len(ids))
            if staged is not None:
                self._staged = (old_rows, len(ids), stamp)
                return staged[0], np.concatenate([np.zeros(old_rows, bool), new]), staged[1]
        elif not len(ids):
            self._staged = (old_rows, 0, stamp)
            return valid[0], np.zeros(old_rows, bool), valid[1]
        old, old_ids = valid  # staging failed (disk full?): the columns in memory, the cache left as it was
        joined = Fingerprints(*(np.concatenate([np.asarray(getattr(old, f)), getattr(fp, f)]) for f in
                                ("media_id", "phash", "dhash", "phash256", "secondary", "time_s", "variant",
                                 "aspect")))
        return joined, np.concatenate([np.zeros(old_rows, bool), new]), np.concatenate([old_ids, ids])

    def _fingerprint_rows(self, after: int) -> tuple[Fingerprints, np.ndarray, np.ndarray]:
        """Rows of ok media with ids above ``after``, which of them are of unclustered media, and their ids."""
        centre = ", ".join("?" * len(SECONDARY))
        rows = self.db.execute(
            f"SELECT f.id, f.media_id, f.phash || f.dhash || f.phash256, f.variant IN ({centre}), "
            "f.time_s, m.clustered IS NULL, f.variant, f.aspect FROM fingerprints f CROSS JOIN media m "
            "ON m.id = f.media_id WHERE m.status = 'ok' AND f.id > ? ORDER BY f.id", [*SECONDARY, after]).fetchall()
        if not rows:
            return Fingerprints.empty(), np.zeros(0, bool), np.zeros(0, np.int64)
        ids, media_ids, hashes, secondary, times, new, names, aspect = zip(*rows)
        words = hex_to_u64(hashes).reshape(-1, 6)
        code = {name: VARIANT_CODE.get(name, VARIANT_CODE["full"]) for name in set(names)}
        fp = Fingerprints(np.asarray(media_ids, dtype=np.int64), words[:, 0].copy(), words[:, 1].copy(),
                          words[:, 2:].copy(), np.asarray(secondary, dtype=bool),
                          np.asarray(times, dtype=np.float64),
                          np.fromiter((code[n] for n in names), dtype=np.int16, count=len(names)),
                          np.array(aspect, dtype=np.float64))
        return fp, np.asarray(new, dtype=bool), np.asarray(ids, dtype=np.int64)

    def _valid_cache(self) -> tuple[ColumnCache | None, dict | None, tuple | None]:
        """The column cache, the stamp it must carry, and its (rows, ids) if it holds the last clustering's rows."""
        cache, stamp = self._column_cache(), self._cache_stamp()
        if cache is None or stamp is None:
            return cache, stamp, None
        valid = cache.read(stamp)
        if valid is not None and not self._cache_agrees(*valid, stamp):
            valid = None
        return cache, stamp, valid

    def _column_cache(self) -> ColumnCache | None:
        return None if self.path == ":memory:" else ColumnCache(self.path + "-columns")

    def _cache_stamp(self) -> dict | None:
        """What the cache's manifest must say to hold exactly the rows of the last clustering."""
        if self.path == ":memory:":
            return None
        last = self._clustered_record()
        if last is None or "epoch" not in last:
            return None
        return {"database_id": self.database_id, "epoch": last["epoch"], "changes": self._input_changes(),
                "rows": last["rows"], "max_id": last.get("max_id")}

    def _cache_agrees(self, fp: Fingerprints, ids: np.ndarray, stamp: dict) -> bool:
        """The cache's last row is the database's row of that id (two indexed reads, no count)."""
        if len(ids) == 0:
            return stamp["max_id"] is None or stamp["max_id"] < 0
        if int(ids[-1]) != stamp["max_id"]:
            return False
        row = self.db.execute("SELECT media_id FROM fingerprints WHERE id = ?", [int(ids[-1])]).fetchone()
        return row is not None and row[0] == int(fp.media_id[-1])

    def save_fingerprint_cache(self, fp: Fingerprints, ids: np.ndarray) -> None:
        """Keep the rows just clustered beside the database, for the next incremental update.

        After an update whose new rows were staged, only they are published
        (appended); otherwise every column is written anew.
        """
        cache, stamp = self._column_cache(), self._cache_stamp()
        if cache is None:
            return
        with contextlib.suppress(OSError):
            os.remove(self.path + "-fingerprints.npz")  # the whole-table cache of an older hashtrail
        staged, self._staged = getattr(self, "_staged", None), None
        if stamp is None:
            return
        if staged is not None and staged[0] + staged[1] == len(ids) and staged[0] + staged[1] == stamp["rows"]:
            cache.publish(staged[0], staged[1], stamp)
        else:
            cache.write(fp, ids, stamp)

    def sha_by_media(self) -> dict[int, str]:
        return dict(self.db.execute("SELECT id, sha256 FROM media WHERE status = 'ok'").fetchall())

    def sha_of_new(self) -> dict[int, str]:
        """SHA-256 of the unclustered media and of every media sharing one with them.

        All an incremental update needs of the hashes: reading every media's
        (2M rows) would cost more than the update itself.
        """
        return dict(self.db.execute(
            "SELECT id, sha256 FROM media INDEXED BY idx_media_sha256 WHERE status = 'ok' AND sha256 IN "
            f"(SELECT sha256 FROM {UNCLUSTERED} WHERE clustered IS NULL AND status = 'ok' AND sha256 IS NOT NULL)"))

    def unclustered_media(self) -> set[int]:
        return {m for (m,) in self.db.execute(
            f"SELECT id FROM {UNCLUSTERED} WHERE clustered IS NULL AND status = 'ok'")}

    def cluster_state(self) -> tuple[dict[int, int], dict[int, list[int]]]:
        """media -> cluster id, and cluster id -> members, as stored."""
        previous, members = {}, {}
        for media, cluster in self.db.execute("SELECT media_id, cluster_id FROM clusters ORDER BY media_id"):
            previous[media] = cluster
            members.setdefault(cluster, []).append(media)
        return previous, members

    def hard_vias(self) -> dict[int, Via]:
        """Members linked only through a hard edit, with that link (the rest are plain)."""
        return {m: Via(VIA_RANK[via], partner, transform) for m, via, partner, transform in self.db.execute(
            "SELECT media_id, via, via_media, via_transform FROM clusters WHERE via IS NOT NULL AND via != 'plain'")}

    # -- is an incremental update valid? --------------------------------------------------
    def _create_cluster_input_schema(self) -> None:
        """Triggers that count changes to what the last clustering read (``meta.cluster_input_changes``).

        A clustered media no longer ok and clustered (re-read: store.save
        clears ``clustered``; failed; forgotten; deleted), or a row of a
        clustered media deleted, added or changed. Marking new media
        clustered is not a change. Each costs one indexed read a written
        row, where counting the clustered rows cost seconds at 2M media.
        """
        bump = "UPDATE meta SET value = value + 1 WHERE key = 'cluster_input_changes';"
        clustered = "(SELECT clustered IS 1 AND status IS 'ok' FROM media WHERE id = {}.media_id)"
        triggers = {
            "cluster_input_media": "AFTER UPDATE OF clustered, status ON media WHEN OLD.clustered IS 1 AND "
                                   "(OLD.status IS 'ok') != (NEW.status IS 'ok' AND NEW.clustered IS 1)",
            "cluster_input_media_gone": "AFTER DELETE ON media WHEN OLD.clustered IS 1 AND OLD.status IS 'ok'",
            "cluster_input_rows_gone": f"AFTER DELETE ON fingerprints WHEN {clustered.format('OLD')}",
            "cluster_input_rows_added": f"AFTER INSERT ON fingerprints WHEN {clustered.format('NEW')}",
            "cluster_input_rows_changed": f"AFTER UPDATE ON fingerprints WHEN {clustered.format('OLD')} "
                                          f"OR {clustered.format('NEW')}",
        }
        self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('cluster_input_changes', '0')")
        for name, when in triggers.items():
            self.db.execute(f"DROP TRIGGER IF EXISTS {name}")
            self.db.execute(f"CREATE TRIGGER {name} {when} BEGIN {bump} END")

    def _input_changes(self) -> int | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'cluster_input_changes'").fetchone()
        return None if row is None else int(row[0])

    def _clustered_record(self) -> dict | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'clustered'").fetchone()
        return None if row is None else json.loads(row[0])

    def _clustered_counts(self) -> tuple[int, int]:
        media = self.db.execute("SELECT COUNT(*) FROM media WHERE status = 'ok' AND clustered = 1").fetchone()[0]
        rows = self.db.execute("SELECT COUNT(*) FROM fingerprints f JOIN media m ON m.id = f.media_id "
                               "WHERE m.status = 'ok' AND m.clustered = 1").fetchone()[0]
        return media, rows

    def can_update_clusters(self, t: Thresholds) -> bool:
        """True when the last clustering's media and rows are all still there, under the same rule.

        No count: the change counter the triggers keep must be where the
        last clustering left it. A record from before the counter (an
        older hashtrail) is checked by counting, once.
        """
        last = self._clustered_record()
        if last is None or last.get("rule") != _rule(t):
            return False
        if "changes" in last:
            return last["changes"] == self._input_changes()
        media, rows = self._clustered_counts()
        return (last["media"], last["rows"]) == (media, rows)

    def _mark_clustered(self, t: Thresholds, added_to: dict | None = None, max_id: int | None = None) -> None:
        """Mark what was just clustered and record it; ``added_to``: the record an update grew.

        ``max_id``: the largest fingerprint row id the clustering read (the column cache's last row).
        """
        new_rows = self.db.execute(
            "SELECT COUNT(*) FROM media m INDEXED BY idx_media_unclustered CROSS JOIN fingerprints f "
            "ON f.media_id = m.id WHERE m.clustered IS NULL AND m.status = 'ok'").fetchone()[0]
        marked = self.db.execute(f"UPDATE {UNCLUSTERED} SET clustered = 1 WHERE clustered IS NULL AND status = 'ok'"
                                 ).rowcount
        if added_to is not None and "epoch" in added_to:  # counting 10M rows again costs seconds
            media, rows, epoch = added_to["media"] + marked, added_to["rows"] + new_rows, added_to["epoch"]
        else:
            (media, rows), epoch = self._clustered_counts(), uuid.uuid4().hex
        record = {"media": media, "rows": rows, "rule": _rule(t), "epoch": epoch, "changes": self._input_changes(),
                  "max_id": max_id}
        self.db["meta"].upsert({"key": "clustered", "value": json.dumps(record)}, pk="key")

    def record_verification(self, checks: list, rebuilt: bool) -> None:
        """What the last clustering's pixel check did (meta 'verification'): checked, rejected, unreadable.

        An update adds to the rebuild's counts; pairs left unjoined because a
        file could not be read show here until a rebuild finds the files again.
        """
        from hashtrail.pipeline.media.verify import VERIFIER
        row = None if rebuilt else self.db.execute("SELECT value FROM meta WHERE key = 'verification'").fetchone()
        last = json.loads(row[0]) if row else {"checked": 0, "rejected": 0, "unavailable": 0}
        for c in checks:
            last = {"checked": last["checked"] + c.checked, "rejected": last["rejected"] + c.rejected,
                    "unavailable": last["unavailable"] + c.unavailable}
        with self._writing():
            self.db["meta"].upsert({"key": "verification", "value": json.dumps({**last, "verifier": VERIFIER})},
                                   pk="key")

    def verification_counts(self) -> dict | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'verification'").fetchone()
        return json.loads(row[0]) if row else None

    # -- clustering output ----------------------------------------------------------------
    def replace_clusters(self, assignments: Iterable[Assignment], frame_matches: Iterable[FrameMatch] = (),
                         t: Thresholds | None = None, max_id: int | None = None) -> None:
        """A full rebuild: every cluster row and frame match replaced (a new epoch)."""
        with self._writing():
            self.db.execute("DELETE FROM clusters")
            self.db.execute("DELETE FROM frame_matches")
            self._write_clusters(assignments, frame_matches)
            if t is not None:
                self._mark_clustered(t, max_id=max_id)

    def update_clusters(self, assignments: Iterable[Assignment], frame_matches: Iterable[FrameMatch],
                        t: Thresholds, max_id: int | None = None) -> None:
        """An incremental update: the rows of changed clusters, and new frame matches."""
        with self._writing():
            last = self._clustered_record()
            self._write_clusters(assignments, frame_matches)
            self._mark_clustered(t, added_to=last, max_id=max_id)

    def stored_clusters(self) -> "StoredClusters":
        """The stored clusters, read only where an update asks (pipeline/index/incremental.py)."""
        return StoredClusters(self.db)

    def _write_clusters(self, assignments, frame_matches) -> None:
        self.db.conn.executemany(
            "INSERT INTO clusters (media_id, cluster_id, distance, via, via_media, via_transform) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(media_id) DO UPDATE SET cluster_id = excluded.cluster_id, "
            "distance = excluded.distance, via = excluded.via, via_media = excluded.via_media, "
            "via_transform = excluded.via_transform",
            [(a.media_id, a.cluster_id, a.distance, a.via, a.via_media, a.via_transform) for a in assignments])
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO frame_matches (media_a, media_b, frames_a, of_a, frames_b, of_b, times, offset_s, "
            "also_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(m.media_a, m.media_b, m.frames_a, m.of_a, m.frames_b, m.of_b, json.dumps(m.times), m.offset_s,
              None if m.also_at is None else json.dumps(m.also_at)) for m in frame_matches])

    def frame_matches(self, media_ids: list[int]) -> list[dict]:
        """Frame-level reasons (which frames matched) involving some media."""
        out, seen = [], set()
        for start in range(0, len(media_ids), 450):
            chunk = media_ids[start:start + 450]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT * FROM frame_matches WHERE media_a IN ({marks}) "
                                     f"UNION SELECT * FROM frame_matches WHERE media_b IN ({marks})", chunk + chunk):
                if (row["media_a"], row["media_b"]) in seen:
                    continue  # its two ends fell in different chunks
                seen.add((row["media_a"], row["media_b"]))
                row["times"] = json.loads(row["times"])
                row["also_at"] = json.loads(row["also_at"]) if row.get("also_at") else None
                out.append(row)
        return out


def _rule(t: Thresholds) -> list:
    from hashtrail.pipeline.media.verify import VERIFIER
    return [t.phash, t.dhash, t.phash256, t.frame_share, t.hard_phash, t.hard_dhash, t.hard_phash256, t.aspect_tolerance,
            t.crop_windows, t.long_frames, t.run_frames, t.run_tolerance_s, VERIFIER if t.verify else None,
            t.verify_plain, t.short_pictures, t.still_also_bits, t.exact_join]


class StoredClusters:
    """Cluster ids, members and hard-edit links of given media or clusters, read from the clusters table.

    What an update needs of the existing clusters: the clusters of the media
    its new edges reach, their members, and those members' links. Reading
    every cluster row instead (``cluster_state``) was a pass over 600k rows
    at 2M media for an update that touches a few hundred clusters.
    """

    CHUNK = 900  # ids per statement (SQLite's default limit on host parameters is 999)

    def __init__(self, db):
        self.db = db

    def _by_chunks(self, sql: str, ids) -> list[tuple]:
        ids = sorted({int(i) for i in ids})
        out = []
        for start in range(0, len(ids), self.CHUNK):
            chunk = ids[start:start + self.CHUNK]
            out += self.db.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return out

    def clusters_of(self, media) -> dict[int, int]:
        return dict(self._by_chunks("SELECT media_id, cluster_id FROM clusters WHERE media_id IN ({})", media))

    def members_of(self, clusters) -> dict[int, list[int]]:
        members: dict[int, list[int]] = {}
        for cluster, media in sorted(self._by_chunks(
                "SELECT cluster_id, media_id FROM clusters WHERE cluster_id IN ({})", clusters)):
            members.setdefault(cluster, []).append(media)
        return members

    def vias_of(self, media) -> dict[int, Via]:
        return {m: Via(VIA_RANK[via], partner, transform) for m, via, partner, transform in self._by_chunks(
            "SELECT media_id, via, via_media, via_transform FROM clusters WHERE media_id IN ({}) "
            "AND via IS NOT NULL AND via != 'plain'", media)}
