"""Precomputed summaries, so reports and pages stay fast at millions of media (all SQL).

Part of the same ``Store`` (a mixin). Counting a cluster's size, accounts
and first post means grouping every clustered media: seconds at 2M media,
for every page of ``hashtrail serve`` and at the end of every scan. So:

- ``cluster_summary`` holds one row per cluster of 2+ media (size,
  accounts, first and last post, media by kind), indexed for the listing's
  order and filters;
- triggers note which clusters a write touched (``summary_dirty``): a
  cluster row inserted, moved or deleted, or a clustered media whose
  account, post time, kind or status changed. They only record ids, so a
  write costs a few microseconds more, never a regrouping;
- writers call ``refresh_summaries()`` at the end of what they do (scans,
  jobs, imports, clustering); it regroups only the dirty clusters;
- ``overview`` (counts by status and kind, accounts, the date range) is
  cached in ``meta`` together with a counter of media writes kept by
  triggers, so a cached overview is used only while no media row changed.

Readers never write: a reader that finds dirty rows computes those
clusters live (``summaries_fresh()`` says whether it must).
"""
from __future__ import annotations

import json

# a media seen at several paths counts once (its first row: ``temp.copies``, store/copies.py)
GROUPED = """
SELECT c.cluster_id, COUNT(*) AS size, COUNT(DISTINCT COALESCE(m.account, '')) AS accounts,
       MIN(m.posted_at) AS first_seen, MAX(m.posted_at) AS last_seen,
       CAST(TOTAL(m.kind = 'image') AS INTEGER) AS images, CAST(TOTAL(m.kind = 'video') AS INTEGER) AS videos,
       CAST(TOTAL(m.kind = 'animation') AS INTEGER) AS animations, CAST(TOTAL(m.is_retweet = 1) AS INTEGER) AS retweets,
       COUNT(DISTINCT m.release) AS releases
FROM clusters c JOIN media m ON m.id = c.media_id WHERE m.id NOT IN (SELECT id FROM temp.copies) {where}
GROUP BY c.cluster_id HAVING COUNT(*) >= 2
"""

def _mark(value: str) -> str:
    # not INSERT OR IGNORE: inside a trigger the outer statement's conflict rule wins, and an
    # upsert of clusters (ON CONFLICT DO UPDATE) would then fail on a cluster already marked
    return (f"INSERT INTO summary_dirty SELECT {value} WHERE {value} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM summary_dirty WHERE cluster_id = {value}); ")


# a cluster's first members in post order: its thumbnail strip
STRIP = ("SELECT m.id AS media_id, m.kind, m.account, m.posted_at FROM clusters c JOIN media m ON m.id = c.media_id "
         "WHERE c.cluster_id = ? AND m.id NOT IN (SELECT id FROM temp.copies) "
         "ORDER BY m.posted_at IS NULL, m.posted_at, m.id LIMIT ?")
STRIP_SIZE = 6

TRIGGERS = {
    "summary_cluster_in": f"AFTER INSERT ON clusters BEGIN {_mark('NEW.cluster_id')} END",
    "summary_cluster_moved": f"AFTER UPDATE OF cluster_id ON clusters BEGIN {_mark('OLD.cluster_id')}"
                             f"{_mark('NEW.cluster_id')} END",
    "summary_cluster_out": f"AFTER DELETE ON clusters BEGIN {_mark('OLD.cluster_id')} END",
    "summary_media_changed": "AFTER UPDATE OF account, posted_at, kind, status, is_retweet, release ON media "
                             "WHEN NEW.account IS NOT OLD.account OR NEW.posted_at IS NOT OLD.posted_at "
                             "OR NEW.kind IS NOT OLD.kind OR NEW.status IS NOT OLD.status "
                             "OR NEW.is_retweet IS NOT OLD.is_retweet OR NEW.release IS NOT OLD.release BEGIN "
                             f"{_mark('(SELECT cluster_id FROM clusters WHERE media_id = NEW.id)')}"
                             "UPDATE meta SET value = value + 1 WHERE key = 'media_writes'; END",
    "media_written": "AFTER INSERT ON media BEGIN "
                     "UPDATE meta SET value = value + 1 WHERE key = 'media_writes'; END",
    "media_removed": "AFTER DELETE ON media BEGIN "
                     "UPDATE meta SET value = value + 1 WHERE key = 'media_writes'; END",
}


class SummariesMixin:
    def _create_summary_schema(self) -> None:
        db = self.db
        fresh = "cluster_summary" not in db.table_names()
        db["cluster_summary"].create(
            {"cluster_id": int, "size": int, "accounts": int, "first_seen": str, "last_seen": str, "images": int,
             "videos": int, "animations": int, "retweets": int, "releases": int, "strip": str}, pk="cluster_id",
            if_not_exists=True)
        for column in ("strip", "retweets", "releases"):
            if column not in db["cluster_summary"].columns_dict:  # summaries of an older hashtrail: redo them all
                db["cluster_summary"].add_column(column, str if column == "strip" else int)
                fresh = True
        db.execute("CREATE INDEX IF NOT EXISTS idx_summary_order ON cluster_summary "
                   "(accounts DESC, size DESC, cluster_id)")
        db.execute("CREATE INDEX IF NOT EXISTS idx_summary_first ON cluster_summary (first_seen)")
        db.execute("CREATE TABLE IF NOT EXISTS summary_dirty (cluster_id INTEGER PRIMARY KEY)")
        # an account's media in post order, undated last, and its count, straight from one index
        db.execute("CREATE INDEX IF NOT EXISTS idx_media_account_time ON media "
                   "(account, status, (posted_at IS NULL), posted_at, id)")
        db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('media_writes', '0')")
        for name, body in TRIGGERS.items():  # made anew: an upgrade may change what a trigger watches
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
            db.execute(f"CREATE TRIGGER {name} {body}")
        if fresh:  # a database made before summaries (or before some of their columns): every cluster
            db.execute("INSERT OR IGNORE INTO summary_dirty SELECT DISTINCT cluster_id FROM clusters")

    def refresh_summaries(self) -> int:
        """Regroup the clusters that writes touched (all of them after a rebuild); returns how many."""
        with self._writing():
            (dirty,) = self.db.execute("SELECT COUNT(*) FROM summary_dirty").fetchone()
            if dirty:
                (clusters,) = self.db.execute("SELECT COUNT(*) FROM cluster_summary").fetchone()
                everything = dirty > clusters // 4  # most of them: one pass over everything is cheaper
                columns = ("(cluster_id, size, accounts, first_seen, last_seen, images, videos, animations, retweets, "
                           "releases)")
                self._mark_copies()
                if everything:
                    self.db.execute("DELETE FROM cluster_summary")
                    self.db.execute(f"INSERT INTO cluster_summary {columns} " + GROUPED.format(where=""))
                else:
                    self.db.execute("DELETE FROM cluster_summary WHERE cluster_id IN "
                                    "(SELECT cluster_id FROM summary_dirty)")
                    self.db.execute(f"INSERT INTO cluster_summary {columns} " + GROUPED.format(
                        where="AND c.cluster_id IN (SELECT cluster_id FROM summary_dirty)"))
                strip = STRIP.replace("m.id AS media_id, m.kind, m.account, m.posted_at", "c.media_id").replace(
                    "c.cluster_id = ?", "c.cluster_id = cluster_summary.cluster_id").replace("LIMIT ?",
                                                                                           f"LIMIT {STRIP_SIZE}")
                self.db.execute(f"UPDATE cluster_summary SET strip = (SELECT json_group_array(media_id) FROM "
                                f"({strip}))" + ("" if everything else
                                                 " WHERE cluster_id IN (SELECT cluster_id FROM summary_dirty)"))
                self._refresh_partners(everything)
                self.db.execute("DELETE FROM summary_dirty")
                self.follow_ignored()
            self._cache_overview()
        return dirty

    def summaries_fresh(self) -> bool:
        return self.db.execute("SELECT NOT EXISTS (SELECT 1 FROM summary_dirty)").fetchone()[0] == 1

    def _media_writes(self) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'media_writes'").fetchone()
        return row[0] if row else "0"

    def _compute_overview(self) -> dict:
        by_kind: dict[str, dict[str, int]] = {}
        totals: dict[str, int] = {"fingerprinted": 0, "failed": 0, "skipped": 0}
        names = {"ok": "fingerprinted"}
        for status, kind, n in self.db.execute(
                "SELECT status, COALESCE(kind, 'unknown'), COUNT(*) FROM media GROUP BY 1, 2"):
            name = names.get(status, status)
            totals[name] = totals.get(name, 0) + n
            by_kind.setdefault(kind, {})[name] = n
        self._mark_copies()
        if self.summaries_fresh():
            clusters, cross = self.db.execute(
                "SELECT COUNT(*), CAST(TOTAL(accounts >= 2) AS INTEGER) FROM cluster_summary").fetchone()
        else:
            clusters, cross = self.db.execute(
                "SELECT COUNT(*), CAST(TOTAL(accounts >= 2) AS INTEGER) FROM (" + GROUPED.format(where="") + ")"
            ).fetchone()
        accounts, first, last = self.db.execute(
            "SELECT COUNT(DISTINCT account), MIN(posted_at), MAX(posted_at) FROM media WHERE status = 'ok'"
        ).fetchone()
        return {**totals, "by_kind": by_kind, "clusters": clusters, "cross_account_clusters": cross,
                "accounts": accounts, "first_post": first, "last_post": last}

    def _cache_overview(self) -> None:
        value = {"writes": self._media_writes(), "overview": self._compute_overview()}
        self.db["meta"].upsert({"key": "overview", "value": json.dumps(value)}, pk="key")

    def overview(self) -> dict:
        """The archive at a glance: counts by status and kind, clusters, accounts, the date range.

        From the cache the last writer left, while no media row changed since;
        else computed now (a reader cannot store it).
        """
        row = self.db.execute("SELECT value FROM meta WHERE key = 'overview'").fetchone()
        if row:
            cached = json.loads(row[0])
            if cached["writes"] == self._media_writes() and self.summaries_fresh():
                return cached["overview"]
        return self._compute_overview()
