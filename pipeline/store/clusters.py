"""The store's clustering half (a mixin of ``Store``): fingerprints in, clusters out.

Kept apart from pipeline/store/database.py so each file holds one idea; it is still
the store: all of its SQL runs on the same connection and lock.

Incremental clustering needs to know what is new since the last run and
that nothing old went away. ``media.clustered`` is NULL for a file saved
since (store.save clears it), and ``meta`` keeps how many media and
fingerprint rows the last clustering saw and with which rule: if fewer
old ones remain (a file went missing, was re-read or the rule changed),
the next run rebuilds everything instead.

Reading 2M fingerprint rows back out of SQLite costs ~10 s, more than the
update itself, so each clustering leaves its rows as numpy columns beside
the database (``<db>-fingerprints.npz``); an update takes them from there
when the cache matches the last clustering of this database, and reads
only newer rows from SQLite. Any doubt (missing, unreadable, another
database's, other counts) means SQLite is read instead.
"""
from __future__ import annotations

import contextlib
import json
import os
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
        cache beside the database (``save_fingerprint_cache``) and read only
        newer rows from SQLite; only valid when ``can_update_clusters`` says
        nothing old changed. Reading 2M rows from SQLite costs ~10 s.
        """
        cache = self._fingerprint_cache() if cached else None
        after = int(cache["max_id"]) if cache is not None else -1
        centre = ", ".join("?" * len(SECONDARY))
        rows = self.db.execute(
            f"SELECT f.id, f.media_id, f.phash || f.dhash || f.phash256, f.variant IN ({centre}), "
            "f.time_s, m.clustered IS NULL, f.variant, f.aspect FROM fingerprints f JOIN media m ON m.id = f.media_id "
            "WHERE m.status = 'ok' AND f.id > ? ORDER BY f.id", [*SECONDARY, after]).fetchall()
        if rows:
            ids, media_ids, hashes, secondary, times, new, names, aspect = zip(*rows)
            words = hex_to_u64(hashes).reshape(-1, 6)
            code = {name: VARIANT_CODE.get(name, VARIANT_CODE["full"]) for name in set(names)}
            fp = Fingerprints(np.asarray(media_ids, dtype=np.int64), words[:, 0].copy(), words[:, 1].copy(),
                              words[:, 2:].copy(), np.asarray(secondary, dtype=bool),
                              np.asarray(times, dtype=np.float64),
                              np.fromiter((code[n] for n in names), dtype=np.int16, count=len(names)),
                              np.array(aspect, dtype=np.float64))
            ids, new = np.asarray(ids, dtype=np.int64), np.asarray(new, dtype=bool)
        else:
            fp, ids, new = Fingerprints.empty(), np.zeros(0, np.int64), np.zeros(0, bool)
        if cache is None:
            return fp, new, ids
        old = Fingerprints(cache["media_id"], cache["phash"], cache["dhash"], cache["phash256"], cache["secondary"],
                           cache["time_s"], cache["variant"], cache["aspect"])
        joined = Fingerprints(*(np.concatenate([getattr(old, f), getattr(fp, f)]) for f in
                                ("media_id", "phash", "dhash", "phash256", "secondary", "time_s")),
                              np.concatenate([old.codes(), fp.codes()]), np.concatenate([old.aspects(), fp.aspects()]))
        return joined, np.concatenate([np.zeros(len(old.media_id), bool), new]), np.concatenate([cache["ids"], ids])

    def _cache_path(self) -> str | None:
        return None if self.path == ":memory:" else self.path + "-fingerprints.npz"

    def _fingerprint_cache(self) -> dict | None:
        """The cache, if it holds exactly the rows the last clustering saw in this database."""
        path = self._cache_path()
        row = self.db.execute("SELECT value FROM meta WHERE key = 'clustered'").fetchone()
        if path is None or row is None:
            return None
        try:
            with np.load(path) as npz:
                cache = {k: npz[k] for k in npz.files}
            cache["variant"], cache["aspect"]  # written by a hashtrail that knew variant codes
        except (OSError, ValueError, KeyError):
            return None  # missing, unreadable or half-written: read SQLite instead
        rows = int(cache["ids"].size)
        if (str(cache["database_id"]) != self.database_id or rows != json.loads(row[0])["rows"]
                or rows != self.db.execute("SELECT COUNT(*) FROM fingerprints WHERE id <= ?",
                                           [int(cache["max_id"])]).fetchone()[0]):
            return None
        return cache

    def save_fingerprint_cache(self, fp: Fingerprints, ids: np.ndarray) -> None:
        """Keep the rows just clustered beside the database, for the next incremental update."""
        path = self._cache_path()
        if path is None:
            return
        partial = path + ".partial.npz"
        try:
            np.savez(partial, ids=ids, media_id=fp.media_id, phash=fp.phash, dhash=fp.dhash, phash256=fp.phash256,
                     secondary=fp.secondary, time_s=fp.times(), variant=fp.codes(), aspect=fp.aspects(), max_id=ids.max(initial=-1),
                     database_id=self.database_id)
            os.replace(partial, path)  # readers see the old cache or the new one, never half of one
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(partial)

    def sha_by_media(self) -> dict[int, str]:
        return dict(self.db.execute("SELECT id, sha256 FROM media WHERE status = 'ok'").fetchall())

    def sha_of_new(self) -> dict[int, str]:
        """SHA-256 of the unclustered media and of every media sharing one with them.

        All an incremental update needs of the hashes: reading every media's
        (2M rows) would cost more than the update itself.
        """
        return dict(self.db.execute(
            "SELECT id, sha256 FROM media WHERE status = 'ok' AND sha256 IN "
            "(SELECT sha256 FROM media WHERE clustered IS NULL AND status = 'ok' AND sha256 IS NOT NULL)"))

    def unclustered_media(self) -> set[int]:
        return {m for (m,) in self.db.execute("SELECT id FROM media WHERE clustered IS NULL AND status = 'ok'")}

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
    def _clustered_counts(self) -> tuple[int, int]:
        media = self.db.execute("SELECT COUNT(*) FROM media WHERE status = 'ok' AND clustered = 1").fetchone()[0]
        rows = self.db.execute("SELECT COUNT(*) FROM fingerprints f JOIN media m ON m.id = f.media_id "
                               "WHERE m.status = 'ok' AND m.clustered = 1").fetchone()[0]
        return media, rows

    def can_update_clusters(self, t: Thresholds) -> bool:
        """True when the last clustering's media and rows are all still there, under the same rule."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'clustered'").fetchone()
        if row is None:
            return False
        last = json.loads(row[0])
        media, rows = self._clustered_counts()
        return last == {"media": media, "rows": rows, "rule": _rule(t)}

    def _mark_clustered(self, t: Thresholds, added_to: dict | None = None) -> None:
        """Mark what was just clustered and record the counts; ``added_to``: the record an update grew."""
        new_rows = self.db.execute("SELECT COUNT(*) FROM fingerprints f JOIN media m ON m.id = f.media_id "
                                   "WHERE m.clustered IS NULL AND m.status = 'ok'").fetchone()[0]
        marked = self.db.execute("UPDATE media SET clustered = 1 WHERE clustered IS NULL AND status = 'ok'").rowcount
        if added_to is not None:  # counting 2M rows again costs ~1 s
            media, rows = added_to["media"] + marked, added_to["rows"] + new_rows
        else:
            media, rows = self._clustered_counts()
        self.db["meta"].upsert({"key": "clustered", "value": json.dumps({"media": media, "rows": rows,
                                                                          "rule": _rule(t)})}, pk="key")

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
                         t: Thresholds | None = None) -> None:
        """A full rebuild: every cluster row and frame match replaced."""
        with self._writing():
            self.db.execute("DELETE FROM clusters")
            self.db.execute("DELETE FROM frame_matches")
            self._write_clusters(assignments, frame_matches)
            if t is not None:
                self._mark_clustered(t)

    def update_clusters(self, assignments: Iterable[Assignment], frame_matches: Iterable[FrameMatch],
                        t: Thresholds) -> None:
        """An incremental update: the rows of changed clusters, and new frame matches."""
        last = json.loads(self.db.execute("SELECT value FROM meta WHERE key = 'clustered'").fetchone()[0])
        with self._writing():
            self._write_clusters(assignments, frame_matches)
            self._mark_clustered(t, added_to=last)

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
            t.verify_plain, t.short_pictures, t.still_also_bits]
