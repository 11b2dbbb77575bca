"""The store's history half: posts, accounts and the co-sharing network (all SQL).

Kept apart from store.py (files, fingerprints, clusters) only for size: it is
part of the same ``Store`` (a mixin), and like it the only code that speaks
SQL. Tables: ``posts`` (post_id -> account, posted_at, ...), ``users`` (one
row per account from a users CSV) and ``manifest`` (path -> account, post id,
time for collections without the Twitter layout). ``media.posted_at`` is the
post time used everywhere: from an imported tweet or manifest row, else from
the Snowflake id.
"""
from __future__ import annotations

import os

from hashtrail.pipeline.archive import zips

POSTS = {"post_id": str, "account": str, "posted_at": str, "platform": str, "url": str, "screen_name": str,
         "text": str, "is_retweet": int, "retweet_of": str, "hashtags": str, "urls": str}
USERS = {"account": str, "screen_name": str, "display_name": str, "follower_count": int,
         "following_count": int, "created": str, "language": str, "location": str}
MANIFEST = {"path": str, "account": str, "post_id": str, "posted_at": str, "platform": str, "url": str}
TABLES = {"tweets": ("posts", POSTS, "post_id"), "users": ("users", USERS, "account"),
          "manifest": ("manifest", MANIFEST, "path")}

# account pairs that posted media of one cluster; weight = number of such clusters
_EDGES = """
WITH ca AS (SELECT DISTINCT c.cluster_id, m.account FROM clusters c JOIN media m ON m.id = c.media_id
            WHERE m.account IS NOT NULL)
SELECT a.account AS source, b.account AS target, COUNT(*) AS weight
FROM ca a JOIN ca b ON a.cluster_id = b.cluster_id AND a.account < b.account
GROUP BY a.account, b.account HAVING weight >= ? ORDER BY weight DESC, source, target
"""


def _absolute(path: str, base_dir: str) -> str:
    """A manifest path made absolute; inside an archive only the archive part is normalised."""
    located = zips.split(path)
    outer, member = located if located else (path, None)
    outer = outer if os.path.isabs(outer) else os.path.abspath(os.path.join(base_dir, outer))
    return zips.member_path(outer, member) if member is not None else outer


class HistoryMixin:
    def _create_history_schema(self) -> None:
        db = self.db
        for table, columns, pk in TABLES.values():
            db[table].create(columns, pk=pk, if_not_exists=True)
        db["posts"].create_index(["account"], if_not_exists=True)
        if "posted_at" not in db["media"].columns_dict:
            db["media"].add_column("posted_at", str)
        db["media"].create_index(["post_id"], if_not_exists=True)

    def import_rows(self, kind: str, rows: list[dict], base_dir: str = "") -> None:
        """Upsert rows of one CSV kind (idempotent: importing twice changes nothing)."""
        table, _, pk = TABLES[kind]
        if kind == "manifest":
            for row in rows:
                row["path"] = _absolute(row["path"], base_dir)
        with self._writing():
            self.db[table].upsert_all(rows, pk=pk, batch_size=500)

    def refresh_post_times(self) -> None:
        """Apply imported posts and manifest rows to media (after imports and scans).

        Only rows whose values change are written (no WAL churn on rescans);
        correlated subqueries rather than UPDATE ... FROM, which needs SQLite 3.33.
        """
        with self._writing():
            self.db.execute(
                "UPDATE media SET posted_at = (SELECT p.posted_at FROM posts p WHERE p.post_id = media.post_id) "
                "WHERE post_id IN (SELECT post_id FROM posts WHERE posted_at IS NOT NULL) "
                "AND posted_at IS NOT (SELECT p.posted_at FROM posts p WHERE p.post_id = media.post_id)")
            for column in ("account", "post_id", "posted_at"):
                self.db.execute(
                    f"UPDATE media SET {column} = (SELECT mf.{column} FROM manifest mf WHERE mf.path = media.path) "
                    f"WHERE path IN (SELECT path FROM manifest WHERE {column} IS NOT NULL) "
                    f"AND {column} IS NOT (SELECT mf.{column} FROM manifest mf WHERE mf.path = media.path)")

    def manifest_paths(self) -> set[str]:
        """Files whose account and post come from a manifest, not from the path rule."""
        return {p for (p,) in self.db.execute("SELECT path FROM manifest WHERE account IS NOT NULL")}

    def account_edges(self, min_weight: int = 1) -> list[dict]:
        return list(self.db.query(_EDGES, [min_weight]))

    def account_summaries(self) -> list[dict]:
        """Per account: media posted, media shared with other accounts, first post time."""
        return list(self.db.query(
            "WITH shared AS (SELECT c.cluster_id FROM clusters c JOIN media m ON m.id = c.media_id "
            "                GROUP BY c.cluster_id HAVING COUNT(DISTINCT m.account) >= 2) "
            "SELECT m.account, COUNT(*) AS media, "
            "       CAST(TOTAL(c.cluster_id IN (SELECT cluster_id FROM shared)) AS INTEGER) AS shared_media, "
            "       MIN(m.posted_at) AS first_post, u.screen_name "
            "FROM media m LEFT JOIN clusters c ON c.media_id = m.id LEFT JOIN users u ON u.account = m.account "
            "WHERE m.status = 'ok' AND m.account IS NOT NULL "
            "GROUP BY m.account ORDER BY shared_media DESC, media DESC, m.account"))
