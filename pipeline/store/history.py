"""The store's history half: posts, accounts and the co-sharing network (all SQL).

Kept apart from store.py (files, fingerprints, clusters) only for size: it is
part of the same ``Store`` (a mixin), and like it the only code that speaks
SQL. Tables: ``posts`` (post_id -> account, posted_at, ...), ``users`` (one
row per account from a users CSV), ``manifest`` (path -> account, post id,
time for collections without the Twitter layout) and ``listed_files`` (the
release's media file list, to tell which files a scan has not seen).

Attribution (``refresh_attribution``): a media whose post id is an imported
tweet takes the tweet's account, time and retweet mark (the tweets CSV is
the authority on who posted a tweet); else a manifest row for its path;
else what the path says (``path_account``). ``media.account_source`` says
which. ``media.posted_at`` is the post time used everywhere: from an
imported tweet or manifest row, else from the Snowflake id. None of this
touches the clusters: they are groups of media ids, and the accounts are
looked up when a report is made.
"""
from __future__ import annotations

import dataclasses
import os

from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.store.copies import first_copy

POSTS = {"post_id": str, "account": str, "posted_at": str, "platform": str, "url": str, "screen_name": str,
         "text": str, "is_retweet": int, "retweet_of": str, "hashtags": str, "urls": str}
USERS = {"account": str, "screen_name": str, "display_name": str, "follower_count": int,
         "following_count": int, "created": str, "language": str, "location": str}
MANIFEST = {"path": str, "account": str, "post_id": str, "posted_at": str, "platform": str, "url": str}
LISTED = {"name": str, "path": str, "list": str}
TABLES = {"tweets": ("posts", POSTS, "post_id"), "users": ("users", USERS, "account"),
          "manifest": ("manifest", MANIFEST, "path"), "file_list": ("listed_files", LISTED, "name")}

# account pairs that posted media of one cluster; weight = number of such clusters.
# A retweet is not reuse: it counts only when asked (include_retweets).
_EDGES = """
WITH ca AS (SELECT DISTINCT c.cluster_id, m.account FROM clusters c JOIN media m ON m.id = c.media_id
            WHERE m.account IS NOT NULL AND (? OR COALESCE(m.is_retweet, 0) = 0) AND {first})
SELECT a.account AS source, b.account AS target, COUNT(*) AS weight
FROM ca a JOIN ca b ON a.cluster_id = b.cluster_id AND a.account < b.account
GROUP BY a.account, b.account HAVING weight >= ? ORDER BY weight DESC, source, target
"""

# the tweet's values, for media whose post id is an imported tweet
_FROM_POST = "(SELECT p.account, 'tweets', p.posted_at, p.is_retweet, p.retweet_of FROM posts p " \
             "WHERE p.post_id = media.post_id)"


@dataclasses.dataclass
class Imported:
    """What one import did to its table: rows never seen, rows whose values changed, rows as before."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def add(self, other: "Imported") -> None:
        self.new, self.changed, self.unchanged = (self.new + other.new, self.changed + other.changed,
                                                  self.unchanged + other.unchanged)

    def text(self) -> str:
        total = self.new + self.changed + self.unchanged
        return (f"{total} {'row' if total == 1 else 'rows'}: {self.new} new, {self.changed} changed, "
                f"{self.unchanged} unchanged")


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
        db["listed_files"].create_index(["list"], if_not_exists=True)
        if "posted_at" not in db["media"].columns_dict:
            db["media"].add_column("posted_at", str)
        db["media"].create_index(["post_id"], if_not_exists=True)

    def import_rows(self, kind: str, rows: list[dict], base_dir: str = "") -> Imported:
        """Upsert rows of one CSV kind; returns how many were new, changed and unchanged.

        Only new and changed rows are written, so importing a file twice
        writes nothing and says so.
        """
        table, columns, pk = TABLES[kind]
        if kind == "manifest":
            for row in rows:
                row["path"] = _absolute(row["path"], base_dir)
        counts = Imported()
        current = self._rows_by_key(table, pk, [r[pk] for r in rows])
        writes = {}
        for row in rows:
            row = {k: (int(v) if isinstance(v, bool) else v) for k, v in row.items() if k in columns}
            before = current.get(row[pk])
            if before is None:
                counts.new += 1
            elif all(before.get(k) == v for k, v in row.items()):
                counts.unchanged += 1
                continue
            else:
                counts.changed += 1
            current[row[pk]] = row
            writes[row[pk]] = row
        if writes:
            with self._writing():
                self.db[table].upsert_all(list(writes.values()), pk=pk, batch_size=500)
        return counts

    def _rows_by_key(self, table: str, pk: str, keys: list[str]) -> dict[str, dict]:
        out = {}
        for start in range(0, len(keys), 900):
            chunk = keys[start:start + 900]
            marks = ",".join("?" * len(chunk))
            out.update((r[pk], r) for r in self.db.query(f"SELECT * FROM [{table}] WHERE [{pk}] IN ({marks})", chunk))
        return out

    def refresh_attribution(self) -> None:
        """Apply imported tweets and manifest rows to media (after imports and scans).

        A manifest row sets its file's account, post id and time; then a
        media whose post id is an imported tweet takes the tweet's account,
        time and retweet mark: the CSV wins over the path and the manifest.
        Only rows whose values change are written (no WAL churn on rescans);
        correlated subqueries rather than UPDATE ... FROM, which needs SQLite 3.33.
        """
        with self._writing():
            for column in ("account", "post_id", "posted_at"):
                self.db.execute(
                    f"UPDATE media SET {column} = (SELECT mf.{column} FROM manifest mf WHERE mf.path = media.path) "
                    f"WHERE path IN (SELECT path FROM manifest WHERE {column} IS NOT NULL) "
                    f"AND {column} IS NOT (SELECT mf.{column} FROM manifest mf WHERE mf.path = media.path)")
            self.db.execute(
                "UPDATE media SET account_source = 'manifest' WHERE path IN "
                "(SELECT path FROM manifest WHERE account IS NOT NULL) AND account_source IS NOT 'manifest' "
                "AND (post_id IS NULL OR post_id NOT IN (SELECT post_id FROM posts))")
            self.db.execute(
                f"UPDATE media SET (account, account_source, posted_at, is_retweet, retweet_of) = {_FROM_POST} "
                "WHERE post_id IN (SELECT post_id FROM posts) "
                f"AND (account, account_source, posted_at, is_retweet, retweet_of) IS NOT {_FROM_POST}")

    refresh_post_times = refresh_attribution  # the name of older callers

    def attribution_counts(self) -> dict:
        """Media by where their account came from, and how often the tweets CSV contradicts the path.

        ``disagree`` counts media whose account_pattern named another account
        than the CSV (the folder fallback is a guess, not a claim): many
        usually mean a pattern that picks the wrong folder.
        """
        self._mark_copies()
        counts = {"tweets": 0, "manifest": 0, "pattern": 0, "folder": 0, "none": 0, "disagree": 0}
        query = ("SELECT COALESCE(m.account_source, 'none'), COUNT(*), "
                 "TOTAL(m.account_source = 'tweets' AND m.path_rule = 'pattern' AND m.path_account IS NOT m.account) "
                 "FROM {rows} WHERE m.status = 'ok' GROUP BY 1")
        # every ok row, less the copies (a filter on 2M rows costs more than the subtraction)
        for rows, sign in (("media m", 1), ("temp.copies t JOIN media m ON m.id = t.id", -1)):
            for source, n, disagree in self.db.execute(query.format(rows=rows)).fetchall():
                counts[source] = counts.get(source, 0) + sign * n
                counts["disagree"] += sign * int(disagree)
        return counts

    def listed_not_seen(self) -> tuple[int, list[str]]:
        """(files in the imported media file lists, those no scan has found), by file name."""
        (listed,) = self.db.execute("SELECT COUNT(*) FROM listed_files").fetchone()
        unseen = [p for (p,) in self.db.execute(
            "SELECT path FROM listed_files l WHERE NOT EXISTS "
            "(SELECT 1 FROM media m WHERE m.name = l.name AND m.status != 'missing') ORDER BY path")]
        return listed, unseen

    def manifest_paths(self) -> set[str]:
        """Files whose account and post come from a manifest, not from the path rule."""
        return {p for (p,) in self.db.execute("SELECT path FROM manifest WHERE account IS NOT NULL")}

    def account_edges(self, min_weight: int = 1, include_retweets: bool = False) -> list[dict]:
        self._mark_copies()
        return list(self.db.query(_EDGES.format(first=first_copy()), [int(include_retweets), min_weight]))

    def account_summaries(self, include_retweets: bool = False) -> list[dict]:
        """Per account: media posted (copies at other paths once), retweets among them, media shared
        with other accounts (retweets only if ``include_retweets``), first post time."""
        self._mark_copies()
        own = "" if include_retweets else "AND COALESCE(m.is_retweet, 0) = 0"
        return list(self.db.query(
            "WITH shared AS (SELECT c.cluster_id FROM clusters c JOIN media m ON m.id = c.media_id "
            f"                WHERE m.account IS NOT NULL {own} "
            "                GROUP BY c.cluster_id HAVING COUNT(DISTINCT m.account) >= 2) "
            "SELECT m.account, COUNT(*) AS media, CAST(TOTAL(m.is_retweet = 1) AS INTEGER) AS retweets, "
            "       CAST(TOTAL(c.cluster_id IN (SELECT cluster_id FROM shared) "
            f"           {'' if include_retweets else 'AND COALESCE(m.is_retweet, 0) = 0'}) AS INTEGER) "
            "           AS shared_media, "
            "       MIN(m.posted_at) AS first_post, COALESCE(u.screen_name, "
            "           (SELECT p.screen_name FROM posts p WHERE p.account = m.account AND p.screen_name IS NOT NULL "
            "            LIMIT 1)) AS screen_name "
            "FROM media m LEFT JOIN clusters c ON c.media_id = m.id LEFT JOIN users u ON u.account = m.account "
            f"WHERE m.status = 'ok' AND m.account IS NOT NULL AND {first_copy()} "
            "GROUP BY m.account ORDER BY shared_media DESC, media DESC, m.account"))
