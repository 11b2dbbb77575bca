"""The store: every SQL statement hashtrail runs lives in this module.

One SQLite file through sqlite-utils. Tables:

- ``media``: one row per file path ever seen (status ok/failed/skipped, the
  reason, SHA-256, size, format, account, post id, the hasher id). The
  account is the attributed one (the tweets CSV, a manifest, else the path:
  store/history.py); ``path_account`` keeps what the path said. One media
  seen at two paths (a moved folder, a zip and its unpacked copy) has two
  rows with the same ``identity`` (see ``IDENTITY``), and reports count it once;
- ``fingerprints``: one row per hashed variant (pHash and dHash as 16-digit
  hex, imagehash's own string form, so rows are readable in any SQLite tool);
- ``clusters``: media id -> cluster id and distance to the representative;
- ``scans``: one row per scan run with its counts.

Writes are grouped, one transaction per batch of results, so a crash loses at
most the batch in flight and never leaves half a file's rows behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import urllib.parse
import uuid
from typing import NamedTuple

import sqlite_utils

from hashtrail.pipeline.errors import HashtrailError, NoDatabase
from hashtrail.pipeline.store.browse import BrowseMixin
from hashtrail.pipeline.store.clock import now_iso
from hashtrail.pipeline.store.clusters import ClustersMixin
from hashtrail.pipeline.store.coordination import CoordinationMixin
from hashtrail.pipeline.store.copies import IDENTITY, CopiesMixin
from hashtrail.pipeline.store.history import HistoryMixin
from hashtrail.pipeline.store.listing import ListingMixin
from hashtrail.pipeline.store.partners import PartnersMixin
from hashtrail.pipeline.store.summaries import SummariesMixin

SCHEMA_VERSION = 14  # 2: posts, users, manifest, media.posted_at; 3: attempts, scans.recorded_at;
# 4: video columns (duration_s, fps, codec, frames), frame_matches; 5: media.clustered;
# 6: attribution (path_account, path_rule, account_source, is_retweet, retweet_of), name, media_key,
#    identity, listed_files; 7: cluster_summary, summary_dirty and their triggers, the cached overview;
# 8: ignored_clusters; 9: cluster_summary.strip and .retweets, account_pairs, cluster_accounts;
# 10: media.release, cluster_summary.releases; 11: scans.interrupted_at, scans.interrupted_by;
# 12: clusters.via, .via_media, .via_transform, fingerprints.aspect; 13: frame_matches.offset_s;
# 14: frame_matches.also_at; meta.cluster_input_changes and its triggers (store/clusters.py)

MEDIA_COLUMNS = {
    "id": int, "path": str, "root": str, "status": str, "reason": str, "kind": str, "format": str,
    "size": int, "mtime_ns": int, "sha256": str, "width": int, "height": int, "detail": float,
    "duration_s": float, "fps": float, "codec": str, "frames": int,
    "hasher": str, "account": str, "post_id": str, "posted_at": str, "scan_id": int, "seconds": float,
    "worker": str, "attempts": int, "updated_at": str, "clustered": int,
    "path_account": str, "path_rule": str, "account_source": str, "is_retweet": int, "retweet_of": str,
    "name": str, "media_key": str, "release": str,
}


# aspect: width / height of the hashed picture (pairs through a hard-edit variant must agree on it)
FINGERPRINT_COLUMNS = {"id": int, "media_id": int, "variant": str, "time_s": float, "phash": str, "dhash": str,
                       "phash256": str, "aspect": float}
# via: how a member is linked (plain, mirror, crop window, ...); via_media / via_transform: its best
# hard-edit match when it has no plain one (pipeline/index/cluster.py member_vias)
CLUSTER_COLUMNS = {"media_id": int, "cluster_id": int, "distance": int, "via": str, "via_media": int,
                   "via_transform": str}

# offset_s: for a clip matched to a long video by an ordered run, time in media_b - time in media_a
# (pipeline/index/clip_runs.py), and for a still in a long video its closest frame's time, signed the
# same way (pipeline/index/still_time.py); NULL for pairs matched by their share of frames.
# also_at: a still in a long video: JSON list of the other times in the video it fits nearly as well
FRAME_MATCH_COLUMNS = {"media_a": int, "media_b": int, "frames_a": int, "of_a": int, "frames_b": int, "of_b": int,
                       "times": str, "offset_s": float, "also_at": str}


class Known(NamedTuple):
    """A recorded file, as a scan compares it with the walk."""

    size: int | None
    mtime_ns: int | None
    hasher: str | None
    status: str
    account: str | None
    post_id: str | None
    root: str | None
    attempts: int
    kind: str | None
    path_account: str | None  # what the path rule said (``account`` may come from a CSV)
    path_rule: str | None
    name: str | None
    media_key: str | None
    release: str | None = None


class StoreBusy(HashtrailError):
    """The database stayed locked past the busy timeout (another writer holds it)."""


class DiskFull(HashtrailError):
    """A write failed for want of space (a full disk, a quota, a file size limit): nothing of it was stored."""


def _write_failure(path: str, exc: sqlite3.Error) -> DiskFull | None:
    """The clear error for a write SQLite could not make for want of space, else None.

    ENOSPC is SQLITE_FULL ("database or disk is full"); a quota or a file
    size limit (EFBIG, EDQUOT) reaches Python as "disk I/O error". The
    transaction was rolled back, so the database holds what was committed
    before it, and running the same command again goes on from there.
    """
    text = str(exc)
    if "full" not in text and "disk I/O error" not in text:
        return None
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        free = os.statvfs(folder)
        room = f"{free.f_bavail * free.f_frsize / 1e6:,.0f} MB free in {folder}"
    except OSError:
        room = f"free space in {folder} unknown"
    return DiskFull(f"cannot write to {path} ({text}; {room}): the disk is full, or a quota or file size limit "
                    "was reached. Nothing of the last batch was stored and the database is intact; free some "
                    "space and run the same command again to go on from where it stopped")


class DatabaseUnavailable(HashtrailError):
    """The database file cannot be opened or is not SQLite."""


class Store(ClustersMixin, HistoryMixin, CopiesMixin, ListingMixin, SummariesMixin, PartnersMixin, BrowseMixin,
            CoordinationMixin):
    """A hashtrail database. ``create=False`` refuses to invent an empty one."""

    def __init__(self, path: str, create: bool = True, read_only: bool = False):
        """Open (``create``: or create) a hashtrail database.

        With ``create=False`` nothing is written: reading commands can run on a
        read-only copy, and pointing --db at some other SQLite file is an error
        instead of silently adding hashtrail's tables to it. ``read_only``
        opens the file with SQLite's ``mode=ro``, so that no statement can
        write, whatever it is (the web browser of the evidence).
        """
        if (not create or read_only) and path != ":memory:" and not os.path.exists(path):
            raise NoDatabase(f"no database at {path}: run 'hashtrail scan PATH' first (or pass --db)")
        self.path = path
        try:
            if read_only:
                uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
                self.db = sqlite_utils.Database(sqlite3.connect(uri, uri=True, check_same_thread=False))
            else:
                self.db = sqlite_utils.Database(path) if path != ":memory:" else sqlite_utils.Database(memory=True)
            self.db.execute("PRAGMA busy_timeout = 30000")
            current = self._schema_version()
            if read_only:
                if current is None:
                    raise NoDatabase(f"{path} is not a hashtrail database")
                if current < SCHEMA_VERSION:
                    raise DatabaseUnavailable(
                        f"{path} was made by an older hashtrail: open it once with 'hashtrail status --db "
                        f"{path}' (which upgrades it) before browsing it")
                return
            if not create:
                if current is None:
                    raise NoDatabase(f"{path} is not a hashtrail database")
                if current < SCHEMA_VERSION:
                    self._upgrade(path)  # additive: new columns and tables, nothing rewritten
                return
            if path != ":memory:" and self.db.journal_mode != "wal":
                self.db.enable_wal()
            if current != SCHEMA_VERSION:
                self._create_schema()
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot use {path} as a database: {exc}") from None

    def _upgrade(self, path: str) -> None:
        """Bring a database made by an older hashtrail to this schema (readers need the new columns)."""
        try:
            self._create_schema()
        except sqlite3.OperationalError as exc:
            raise DatabaseUnavailable(
                f"{path} was made by an older hashtrail and cannot be upgraded here ({exc}): "
                "open it once where it is writable, e.g. 'hashtrail status --db FILE'") from None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _writing(self):
        """A write transaction that takes the write lock up front.

        sqlite-utils' atomic() issues a deferred BEGIN; in WAL mode a deferred
        transaction that reads and then writes fails at once with "database is
        locked" (no busy wait) when another process committed in between.
        BEGIN IMMEDIATE waits for the lock (busy_timeout) instead.
        """
        if self.db.conn.in_transaction:
            yield
            return
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.conn.commit()
        except BaseException as exc:
            if self.db.conn.in_transaction:  # also when commit itself failed (disk full, locked)
                self.db.conn.rollback()
            full = _write_failure(self.path, exc) if isinstance(exc, sqlite3.OperationalError) else None
            if full is not None:
                raise full from None
            raise

    # -- schema ---------------------------------------------------------------
    def _schema_version(self) -> int | None:
        if "meta" not in self.db.table_names():
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else None

    def _create_schema(self) -> None:
        db = self.db
        with self._writing():
            db["media"].create(MEDIA_COLUMNS, pk="id", if_not_exists=True)
            db["media"].create_index(["path"], unique=True, if_not_exists=True)
            db["media"].create_index(["sha256"], if_not_exists=True)
            db["media"].create_index(["status"], if_not_exists=True)
            db["media"].create_index(["scan_id", "status"], if_not_exists=True)
            db["fingerprints"].create(
                FINGERPRINT_COLUMNS,
                pk="id", foreign_keys=[("media_id", "media", "id")], if_not_exists=True)
            db["fingerprints"].create_index(["media_id"], if_not_exists=True)
            db["clusters"].create(CLUSTER_COLUMNS, pk="media_id", if_not_exists=True)
            db["clusters"].create_index(["cluster_id"], if_not_exists=True)
            db["frame_matches"].create(FRAME_MATCH_COLUMNS,
                                       pk=("media_a", "media_b"), if_not_exists=True)
            db["frame_matches"].create_index(["media_b"], if_not_exists=True)
            db["scans"].create({"id": int, "started_at": str, "recorded_at": str, "finished_at": str,
                                "roots": str, "mode": str, "counts": str, "interrupted_at": str,
                                "interrupted_by": str}, pk="id", if_not_exists=True)
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            self._create_history_schema()
            named = "name" in db["media"].columns_dict
            added_to_scans = {"recorded_at": str, "interrupted_at": str, "interrupted_by": str}
            for table, columns in (("media", MEDIA_COLUMNS), ("scans", added_to_scans),
                                   ("clusters", CLUSTER_COLUMNS), ("fingerprints", FINGERPRINT_COLUMNS),
                                   ("frame_matches", FRAME_MATCH_COLUMNS)):
                for name, kind in columns.items():  # databases made by an older hashtrail
                    if name not in db[table].columns_dict:
                        db[table].add_column(name, kind)
            if not named:
                self._backfill_names()
            if "identity" not in {r[1] for r in db.execute("PRAGMA table_xinfo(media)")}:
                db.execute(f"ALTER TABLE media ADD COLUMN identity TEXT GENERATED ALWAYS AS ({IDENTITY}) VIRTUAL")
            db.execute("CREATE INDEX IF NOT EXISTS idx_media_identity ON media (identity) WHERE status = 'ok'")
            db["media"].create_index(["name"], if_not_exists=True)
            db["media"].create_index(["root"], if_not_exists=True)
            self._create_summary_schema()
            self._create_partner_schema()
            self._create_coordination_schema()
            self._create_cluster_input_schema()
            db.execute("CREATE INDEX IF NOT EXISTS idx_media_unclustered ON media (id) WHERE clustered IS NULL")
            db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
            if not db.execute("SELECT 1 FROM meta WHERE key = 'database_id'").fetchone():
                db["meta"].insert({"key": "database_id", "value": uuid.uuid4().hex})

    def _backfill_names(self) -> None:
        """Rows of an older hashtrail get their file name and media key; their account was the path's."""
        from hashtrail.pipeline.archive.accounts import file_name, media_key

        rows = self.db.execute("SELECT id, path FROM media").fetchall()
        self.db.conn.executemany(
            "UPDATE media SET name = ?, media_key = ?, path_account = account WHERE id = ?",
            [(file_name(path), media_key(file_name(path)), media_id) for media_id, path in rows])

    # -- scans ------------------------------------------------------------------
    def start_scan(self, roots: list[str], mode: str) -> int:
        with self._writing():
            table = self.db["scans"].insert({"started_at": now_iso(), "roots": json.dumps(roots), "mode": mode})
        return int(table.last_pk)

    def finish_scan(self, scan_id: int, counts: dict) -> None:
        with self._writing():
            self.db["scans"].update(scan_id, {"finished_at": now_iso(), "counts": json.dumps(counts)})

    def interrupt_scan(self, scan_id: int, by: str) -> None:
        """The scan was stopped (SIGINT, SIGTERM) before it finished: say so, keep its rows for the resume."""
        if self.db.conn.in_transaction:  # the signal arrived inside a write: that write is undone
            self.db.conn.rollback()
        with self._writing():
            self.db["scans"].update(scan_id, {"interrupted_at": now_iso(), "interrupted_by": by})

    def mark_recorded(self, scan_id: int) -> None:
        """All of a job's rows are written: from now on it can finish."""
        with self._writing():
            self.db["scans"].update(scan_id, {"recorded_at": now_iso()})

    def scan(self, scan_id: int) -> dict:
        return self.db["scans"].get(scan_id)

    def unfinished_scans(self, mode: str) -> list[int]:
        """Recorded jobs of ``mode`` not marked finished yet."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM scans WHERE mode = ? AND finished_at IS NULL AND recorded_at IS NOT NULL ORDER BY id",
            [mode])]

    def has_pending(self, scan_id: int) -> bool:
        return bool(self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM media WHERE scan_id = ? AND status = 'pending')", [scan_id]).fetchone()[0])

    @property
    def database_id(self) -> str:
        """A random id made with the database: messages name it so a writer holding another file refuses them."""
        return self.db.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()[0]

    def count_attempt(self, paths: list[str]) -> None:
        """These files were sent to the workers once more."""
        if not paths:
            return
        with self._writing():
            self.db.conn.executemany("UPDATE media SET attempts = COALESCE(attempts, 0) + 1 WHERE path = ?",
                                     [(p,) for p in paths])

    def pending_count(self, scan_id: int | None = None) -> int:
        """Files recorded but without a result yet (of one scan, or all)."""
        if scan_id is None:
            return self.db.execute("SELECT COUNT(*) FROM media WHERE status = 'pending'").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM media WHERE status = 'pending' AND scan_id = ?",
                               [scan_id]).fetchone()[0]

    def scan_counts(self, scan_id: int) -> dict[str, int]:
        """Files of one scan by status."""
        return dict(self.db.execute("SELECT status, COUNT(*) FROM media WHERE scan_id = ? GROUP BY status",
                                    [scan_id]).fetchall())

    # -- media --------------------------------------------------------------------
    def known_files(self) -> dict[str, "Known"]:
        """What the database knows of every recorded file, by path."""
        cursor = self.db.execute(
            "SELECT path, size, mtime_ns, hasher, status, account, post_id, root, COALESCE(attempts, 0), kind, "
            "path_account, path_rule, name, media_key, release FROM media")
        return {row[0]: Known(*row[1:]) for row in cursor}

    def update_attribution(self, rows: list[dict]) -> None:
        """What the path says (account, post id, root, name) for files that were not re-read.

        The account and post time set here are the path's; ``refresh_attribution``
        then applies imported tweets and manifests over them.
        """
        if rows:
            with self._writing():
                self.db.conn.executemany(
                    "UPDATE media SET account = :account, path_account = :account, path_rule = :path_rule, "
                    "account_source = :path_rule, post_id = :post_id, posted_at = :posted_at, root = :root, "
                    "name = :name, media_key = :media_key, release = :release, is_retweet = NULL, "
                    "retweet_of = NULL WHERE path = :path", rows)

    def mark_missing(self, prefixes: list[str], seen: list[str]) -> int:
        """Rows under ``prefixes`` (a folder + "/", an archive + "!") the walk did not see become 'missing'.

        Missing media leave the clusters (only 'ok' rows are matched) and come
        back, re-read, when a later scan finds them again.
        """
        if not prefixes:
            return 0
        with self._writing():
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (path TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM temp.seen")
            for chunk in _chunks(seen, 10000):
                self.db.conn.executemany("INSERT OR IGNORE INTO temp.seen VALUES (?)", [(p,) for p in chunk])
            marked = 0
            for prefix in prefixes:
                marked += self.db.execute(
                    "UPDATE media SET status = 'missing', reason = 'not found by the last scan of ' || ? "
                    "WHERE status != 'missing' AND substr(path, 1, ?) = ? "
                    "AND path NOT IN (SELECT path FROM temp.seen)", [prefix[:-1], len(prefix), prefix]).rowcount
            self.db.execute("DELETE FROM temp.seen")
        return marked

    def save_results(self, results: list[dict]) -> None:
        """Store fingerprint results over their pending rows.

        Size and mtime stay as the walk recorded them: a worker's stat may be
        missing (it died first) or differ (another host's mount), and either
        would make the file look changed at every later scan.
        """
        self.save([{k: v for k, v in r.items() if k not in ("size", "mtime_ns")} for r in results])

    def save(self, rows: list[dict]) -> None:
        """Upsert media rows (with their ``fingerprints`` lists) in one transaction.

        Idempotent: saving the same rows twice leaves the same database. All
        rows of one call must carry the same keys (sqlite-utils sets a key
        missing from one row to NULL when others have it).
        """
        if not rows:
            return
        media_rows = [{k: v for k, v in r.items() if k in MEDIA_COLUMNS and k != "id"} for r in rows]
        for row in media_rows:
            row["updated_at"] = now_iso()
            row["clustered"] = None  # new or re-read: the next clustering must look at it
        try:
            self._save(rows, media_rows)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusy(str(exc)) from exc
            raise

    def _save(self, rows: list[dict], media_rows: list[dict]) -> None:
        columns = list(media_rows[0])
        updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c != "path")
        # one executemany: sqlite-utils' upsert_all costs ~25 us a row in Python
        # (type checks, 58-row statements), the main cost of recording 2M files
        upsert = (f"INSERT INTO media ({', '.join(f'[{c}]' for c in columns)}) "
                  f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT(path) DO UPDATE SET {updates}")
        with self._writing():
            self.db.conn.executemany(upsert, [[r.get(c) for c in columns] for r in media_rows])
            ids = self._ids_for([r["path"] for r in rows])
            media_ids = [ids[r["path"]] for r in rows]
            self._delete_where_media_in("fingerprints", media_ids)
            # executemany: the hot insert (2-4 rows a file, millions of rows);
            # sqlite-utils' insert_all re-checks the table on every call
            self.db.conn.executemany(
                "INSERT INTO fingerprints (media_id, variant, time_s, phash, dhash, phash256, aspect) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(ids[r["path"]], f["name"], f.get("time_s"), f["phash"], f["dhash"], f["phash256"], f.get("aspect"))
                 for r in rows for f in r.get("fingerprints") or ()])

    def _ids_for(self, paths: list[str]) -> dict[str, int]:
        out = {}
        for chunk in _chunks(paths, 900):
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT path, id FROM media WHERE path IN ({marks})", chunk).fetchall())
        return out

    def _delete_where_media_in(self, table: str, media_ids: list[int]) -> None:
        for chunk in _chunks(media_ids, 900):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM [{table}] WHERE media_id IN ({marks})", chunk)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
