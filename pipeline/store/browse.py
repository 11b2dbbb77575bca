"""The store's browsing queries: what the web pages (``hashtrail serve``) read (all SQL, read-only).

Part of the same ``Store`` (a mixin, like history.py and clusters.py).
Every query is bounded: pages ask for one page of clusters or media at a
time, and a cluster's thumbnail strip reads a few members, never all of
them, so a cluster of thousands of copies costs what a small one costs.
"""
from __future__ import annotations

import json

from hashtrail.pipeline.store.summaries import GROUPED, STRIP

KIND_FILTERS = {"image": "images > 0", "video": "videos > 0", "animation": "animations > 0"}

ORDER = " ORDER BY accounts DESC, size DESC, cluster LIMIT :limit OFFSET :offset"


class BrowseMixin:
    def browse_clusters(self, min_accounts: int = 1, kind: str | None = None, since: str | None = None,
                        until: str | None = None, account: str | None = None, limit: int = 50,
                        offset: int = 0) -> tuple[list[dict], int]:
        """One page of clusters (2+ media) matching the filters, most accounts first, and how many match.

        From ``cluster_summary`` (indexed) while it is fresh, else grouped now.
        """
        where = ["accounts >= :min_accounts"]
        if kind:
            where.append(KIND_FILTERS[kind])
        if since:
            where.append("first_seen >= :since")
        if until:
            where.append("first_seen < :until")
        if account:
            where.append("cluster IN (SELECT c.cluster_id FROM media m JOIN clusters c ON c.media_id = m.id "
                         "WHERE m.account = :account)")
        params = {"min_accounts": min_accounts, "since": since, "until": until, "account": account,
                  "limit": limit, "offset": offset}
        fresh = self.summaries_fresh()
        if not fresh:
            self._mark_copies()
        source = ("SELECT cluster_id AS cluster, size, accounts, first_seen, last_seen, images, videos, animations, "
                  "retweets FROM cluster_summary") if fresh else \
            "SELECT cluster_id AS cluster, * FROM (" + GROUPED.format(where="") + ")"
        body = f"SELECT * FROM ({source}) WHERE {' AND '.join(where)}"
        rows = list(self.db.query(body + ORDER, params))
        for row in rows:
            row.pop("cluster_id", None)
        (total,) = self.db.execute(f"SELECT COUNT(*) FROM ({body})", params).fetchone()
        return rows, total

    def cluster_strips(self, cluster_ids: list[int], per_cluster: int = 6) -> dict[int, list[dict]]:
        """The first members (in post order) of each cluster, for a strip of thumbnails.

        The ids come from ``cluster_summary.strip`` (kept by the writers), so
        a page of clusters reads a few media rows by id whatever the
        clusters' sizes; grouped now when the summaries are not fresh.
        """
        out: dict[int, list[dict]] = {}
        fresh = self.summaries_fresh()
        for cid in cluster_ids:
            row = self.db.execute("SELECT strip FROM cluster_summary WHERE cluster_id = ?", [int(cid)]).fetchone() \
                if fresh else None
            if row and row[0]:
                ids = json.loads(row[0])[:per_cluster]
                found = {r["media_id"]: r for r in self.db.query(
                    "SELECT id AS media_id, kind, account, posted_at FROM media "
                    f"WHERE id IN ({','.join('?' * len(ids))})", ids)}
                out[cid] = [found[i] for i in ids if i in found]
            else:
                out[cid] = list(self.db.query(STRIP, [int(cid), per_cluster]))
        return out

    def cluster_head(self, cluster_id: int) -> dict | None:
        """A cluster's summary and its first post, without reading all its members."""
        self._mark_copies()
        if self.summaries_fresh():
            rows = list(self.db.query("SELECT cluster_id AS cluster, size, accounts, first_seen, images, videos, "
                                      "animations FROM cluster_summary WHERE cluster_id = ?", [int(cluster_id)]))
        else:
            rows = list(self.db.query("SELECT cluster_id AS cluster, size, accounts, first_seen, images, videos, "
                                      "animations FROM (" + GROUPED.format(where="AND c.cluster_id = :c") + ")",
                                      {"c": int(cluster_id)}))
        if not rows:
            return None
        head = rows[0]
        first = self.db.execute(
            "SELECT m.account FROM clusters c JOIN media m ON m.id = c.media_id WHERE c.cluster_id = ? "
            "AND m.posted_at IS NOT NULL ORDER BY m.posted_at, length(m.post_id), m.post_id, m.id LIMIT 1",
            [int(cluster_id)]).fetchone()
        kinds = {k: head.pop(k + "s") for k in ("image", "video", "animation")}
        return {**head, "first_account": first[0] if first else None, "kinds": {k: n for k, n in kinds.items() if n}}

    def cluster_members_page(self, cluster_id: int, limit: int, offset: int = 0) -> list[dict]:
        """One page of a cluster's members, in post order (as ``cluster_members`` orders them), copies left out."""
        self._mark_copies()
        return list(self.db.query(
            "SELECT m.id AS media_id, m.path, m.root, m.account, m.post_id, m.posted_at, m.kind, m.format, m.width, "
            "m.height, m.duration_s, m.frames, m.sha256, c.distance FROM clusters c JOIN media m ON m.id = c.media_id "
            "WHERE c.cluster_id = ? AND m.id NOT IN (SELECT id FROM temp.copies) "
            "ORDER BY m.posted_at IS NULL, m.posted_at, length(m.post_id), m.post_id, m.id LIMIT ? OFFSET ?",
            [int(cluster_id), int(limit), int(offset)]))

    def media_item(self, media_id: int) -> dict | None:
        """One media row by id (what a thumbnail request may read), or None."""
        rows = list(self.db.query(
            "SELECT m.id AS media_id, m.path, m.kind, m.format, m.status, m.sha256, m.duration_s, m.frames, "
            "m.width, m.height, m.account, m.post_id, m.posted_at, c.cluster_id FROM media m "
            "LEFT JOIN clusters c ON c.media_id = m.id WHERE m.id = ?", [int(media_id)]))
        return rows[0] if rows else None

    def frame_times(self, media_ids: list[int]) -> dict[int, list[float]]:
        """The sampled frame times of videos and animations, by media id (stills have none)."""
        out: dict[int, list[float]] = {m: [] for m in media_ids}
        if not media_ids:
            return out
        marks = ",".join("?" * len(media_ids))
        for media_id, time_s in self.db.execute(
                f"SELECT DISTINCT media_id, time_s FROM fingerprints WHERE media_id IN ({marks}) "
                "AND time_s IS NOT NULL ORDER BY media_id, time_s", media_ids):
            out[media_id].append(time_s)
        return out

    def account_media(self, account: str, limit: int = 60, offset: int = 0) -> tuple[list[dict], int]:
        """One page of an account's media, in post order, with their clusters."""
        rows = list(self.db.query(
            "SELECT m.id AS media_id, m.path, m.kind, m.post_id, m.posted_at, c.cluster_id FROM media m "
            "LEFT JOIN clusters c ON c.media_id = m.id WHERE m.account = ? AND m.status = 'ok' "
            "ORDER BY (m.posted_at IS NULL), m.posted_at, m.id LIMIT ? OFFSET ?", [account, limit, offset]))
        (total,) = self.db.execute("SELECT COUNT(*) FROM media WHERE account = ? AND status = 'ok'",
                                   [account]).fetchone()
        return rows, total

    def account_profile(self, account: str) -> dict | None:
        """The users-CSV row of an account, if one was imported."""
        if "users" not in self.db.table_names():
            return None
        rows = list(self.db.query("SELECT * FROM users WHERE account = ?", [account]))
        return rows[0] if rows else None
