"""The store's report queries: cluster listings and members, media by id, status (all SQL).

Part of the same ``Store`` (a mixin): what ``clusters``, ``show``,
``match`` and ``status`` read. Listings come from ``cluster_summary``
while it is fresh (store/summaries.py), and a media seen at several paths
counts once (store/copies.py).
"""
from __future__ import annotations

import json

from hashtrail.pipeline.errors import NoSuchCluster
from hashtrail.pipeline.store.summaries import GROUPED


class ListingMixin:
    def cluster_summaries(self, min_accounts: int = 1, limit: int | None = None, include_ignored: bool = True,
                          across_releases: bool = False, release: str | None = None) -> list[dict]:
        """Clusters of 2+ media, largest cross-account reuse first (from ``cluster_summary`` while fresh).

        A media seen at several paths counts once (its first row, see
        store/copies.py): a cluster of one picture and its copy in a moved
        folder is no reuse. ``retweets``: members that are retweets;
        ``releases``: how many releases (campaigns) its media came from.
        ``across_releases``: only clusters of media from 2+ releases;
        ``release``: only clusters with media of that release.
        """
        where = "" if include_ignored else " AND cluster_id NOT IN (SELECT cluster_id FROM ignored_clusters)"
        if across_releases:
            where += " AND releases >= 2"
        if release is not None:
            where += (" AND cluster_id IN (SELECT c.cluster_id FROM clusters c JOIN media m ON m.id = c.media_id "
                      "WHERE m.release = :release)")
        if self.summaries_fresh():
            source = "cluster_summary"
        else:
            self._mark_copies()
            source = "(" + GROUPED.format(where="") + ")"
        sql = (f"SELECT cluster_id AS cluster, size, accounts, retweets, releases FROM {source} "
               f"WHERE accounts >= :min_accounts{where} ORDER BY accounts DESC, size DESC, cluster_id ASC")
        params: dict = {"min_accounts": min_accounts, "release": release}
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return list(self.db.query(sql, params))

    def cluster_members(self, cluster_ids: list[int]) -> dict[int, list[dict]]:
        """Members of clusters in post order, each media once: ``paths`` lists every path it was seen at.

        Rows of one media (same identity) are merged into its first row;
        tweet fields (screen name, text, URL) come from the imported CSVs.
        """
        out: dict[int, list[dict]] = {cid: [] for cid in cluster_ids}
        for chunk in _chunks(cluster_ids, 900):
            marks = ",".join("?" * len(chunk))
            by_identity: dict[tuple, dict] = {}
            for row in self.db.query(
                "SELECT c.cluster_id, m.id AS media_id, m.path, m.root, m.account, m.post_id, m.posted_at, m.kind, "
                "m.format, m.width, m.height, m.duration_s, m.frames, m.sha256, c.distance, m.identity, "
                "m.account_source, m.path_account, m.is_retweet, m.retweet_of, m.release, "
                "COALESCE(c.via, 'plain') AS via, c.via_media, c.via_transform, "
                "COALESCE(u.screen_name, p.screen_name) AS screen_name, p.text AS tweet_text, "
                "COALESCE(mf.url, p.url) AS url "
                "FROM clusters c JOIN media m ON m.id = c.media_id LEFT JOIN posts p ON p.post_id = m.post_id "
                "LEFT JOIN users u ON u.account = m.account LEFT JOIN manifest mf ON mf.path = m.path "
                f"WHERE c.cluster_id IN ({marks}) "
                # same second: the smaller tweet id was posted first (Snowflake ids grow with time)
                "ORDER BY c.cluster_id, m.posted_at IS NULL, m.posted_at, length(m.post_id), m.post_id, m.id",
                chunk):
                cluster_id, identity = row.pop("cluster_id"), row.pop("identity")
                row["is_retweet"] = None if row["is_retweet"] is None else bool(row["is_retweet"])
                key = (cluster_id, identity) if identity is not None else (cluster_id, "media", row["media_id"])
                first = by_identity.get(key)
                if first is None or row["media_id"] < first["media_id"]:
                    row["paths"] = [row["path"]] + (first["paths"] if first else [])
                    if first is not None:
                        out[cluster_id][out[cluster_id].index(first)] = row
                    else:
                        out[cluster_id].append(row)
                    by_identity[key] = row
                else:
                    first["paths"].append(row["path"])
        return out

    def media_rows(self, media_ids: list[int]) -> dict[int, dict]:
        """Path, account, post and cluster of some media, by id."""
        out = {}
        for chunk in _chunks(media_ids, 900):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                    "SELECT m.id, m.path, m.account, m.post_id, m.posted_at, m.kind, m.duration_s, c.cluster_id FROM media m "
                    f"LEFT JOIN clusters c ON c.media_id = m.id WHERE m.id IN ({marks})", chunk):
                out[row["id"]] = row
        return out

    def cluster(self, cluster_id: int) -> dict:
        rows = self.cluster_members([cluster_id])[cluster_id]
        if not rows:
            raise NoSuchCluster(f"no cluster {cluster_id}: 'hashtrail clusters' lists the cluster ids")
        accounts = {r["account"] or "" for r in rows}  # no account counts as one "unknown" account, as in clusters
        return {"cluster": cluster_id, "size": len(rows), "accounts": len(accounts),
                "retweets": sum(1 for r in rows if r["is_retweet"]),
                "releases": len({r["release"] for r in rows if r["release"] is not None}), "members": rows}

    def status_counts(self) -> dict:
        """Files by status and kind (a media seen at several paths once), roots, attribution, file lists."""
        self._mark_copies()
        counts = {"fingerprinted": 0, "failed": 0, "skipped": 0}
        by_kind: dict[str, dict[str, int]] = {}
        names = {"ok": "fingerprinted", "failed": "failed", "skipped": "skipped"}
        # every row, less the copies (ok rows repeating an earlier row's media): cheaper than a filter
        copies = dict(self.db.execute("SELECT COALESCE(kind, 'unknown'), COUNT(*) FROM temp.copies t "
                                      "JOIN media m ON m.id = t.id GROUP BY 1").fetchall())
        for status, kind, n in self.db.execute(
                "SELECT status, COALESCE(kind, 'unknown'), COUNT(*) FROM media GROUP BY 1, 2").fetchall():
            n -= copies.get(kind, 0) if status == "ok" else 0
            counts[names.get(status, status)] = counts.get(names.get(status, status), 0) + n
            by_kind.setdefault(kind, {})[names.get(status, status)] = n
        counts["by_kind"] = by_kind
        counts["copies"] = sum(copies.values())
        (counts["clusters"],) = self.db.execute(  # clusters hold ok media only: a copy is in temp.copies
            "SELECT COUNT(*) FROM (SELECT cluster_id FROM clusters WHERE media_id NOT IN (SELECT id FROM temp.copies) "
            "GROUP BY cluster_id HAVING COUNT(*) >= 2)").fetchone()
        counts["roots"] = self.roots()
        counts["attribution"] = self.attribution_counts()
        listed, unseen = self.listed_not_seen()
        counts["file_list"] = {"listed": listed, "not_seen": len(unseen), "not_seen_files": unseen}
        counts["failures"] = list(self.db.query(
            "SELECT path, reason FROM media WHERE status = 'failed' ORDER BY path"))
        (counts["ignored_clusters"],) = self.db.execute("SELECT COUNT(*) FROM ignored_clusters").fetchone()
        counts["releases"] = [{"release": r, "media": n} for r, n in self.db.execute(
            "SELECT COALESCE(release, '?'), COUNT(*) FROM media WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC")]
        # why files were skipped, most common first: reasons repeat ("not media (text)"), paths don't matter
        counts["skipped_reasons"] = list(self.db.query(
            "SELECT reason, COUNT(*) AS files FROM media WHERE status = 'skipped' GROUP BY reason "
            "ORDER BY files DESC, reason"))
        last = list(self.db.query("SELECT * FROM scans ORDER BY id DESC LIMIT 1"))
        counts["last_scan"] = last[0] if last else None
        for key in ("counts", "roots"):  # stored as JSON text; given back as JSON
            if counts["last_scan"] and counts["last_scan"].get(key):
                counts["last_scan"][key] = json.loads(counts["last_scan"][key])
        if counts["last_scan"]:
            last = counts["last_scan"]
            last["state"] = ("finished" if last.get("finished_at") else
                             "interrupted" if last.get("interrupted_at") else "running")
        return counts


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
