"""The store's coordination half: clustered posts for windowed networks, and clusters set aside (all SQL).

Part of the same ``Store`` (a mixin). ``ignored_clusters`` holds the
clusters a researcher set aside as not evidence (a logo, a blank frame, a
picture everybody posted), keyed by the stable cluster id and by the media
that id names (a cluster's id is its lowest media id). When clustering
later merges an ignored cluster into an older one, ``follow_ignored``
moves the ignore to the cluster that media is now in, and says so in the
row's note.
"""
from __future__ import annotations

from hashtrail.pipeline.store.clock import now_iso


class CoordinationMixin:
    def _create_coordination_schema(self) -> None:
        self.db["ignored_clusters"].create({"cluster_id": int, "media_id": int, "reason": str, "at": str,
                                            "note": str}, pk="cluster_id", if_not_exists=True)

    def clustered_posts(self, include_retweets: bool = False, include_ignored: bool = False) -> list[tuple]:
        """(cluster id, account, post id, post time, media id) of every post in a cluster of 2+ media.

        One row per post: the same post seen at two paths (a zip and its
        unpacked copy) counts once.
        """
        where = ["m.status = 'ok'"]
        if not include_retweets and "is_retweet" in self.db["media"].columns_dict:
            where.append("COALESCE(m.is_retweet, 0) = 0")
        if not include_ignored:
            where.append("c.cluster_id NOT IN (SELECT cluster_id FROM ignored_clusters)")
        return self.db.execute(
            "SELECT c.cluster_id, m.account, m.post_id, m.posted_at, MIN(m.id) FROM clusters c "
            f"JOIN media m ON m.id = c.media_id WHERE {' AND '.join(where)} "
            "GROUP BY c.cluster_id, m.account, COALESCE(m.post_id, m.id), m.posted_at "
            "ORDER BY c.cluster_id").fetchall()

    def ignore_clusters(self, cluster_ids: list[int], reason: str | None) -> list[int]:
        """Set clusters aside; returns the ids that are not clusters (nothing is written for them)."""
        known = {r[0] for r in self.db.execute(
            f"SELECT DISTINCT cluster_id FROM clusters WHERE cluster_id IN ({','.join('?' * len(cluster_ids))})",
            cluster_ids)} if cluster_ids else set()
        with self._writing():
            self.db["ignored_clusters"].upsert_all(
                [{"cluster_id": c, "media_id": c, "reason": reason, "at": now_iso(), "note": None}
                 for c in cluster_ids if c in known], pk="cluster_id")
        return [c for c in cluster_ids if c not in known]

    def unignore_clusters(self, cluster_ids: list[int]) -> int:
        with self._writing():
            return self.db.execute(
                f"DELETE FROM ignored_clusters WHERE cluster_id IN ({','.join('?' * len(cluster_ids))})",
                cluster_ids).rowcount if cluster_ids else 0

    def ignored(self) -> list[dict]:
        return list(self.db.query("SELECT cluster_id AS cluster, reason, at, note FROM ignored_clusters "
                                  "ORDER BY cluster_id"))

    def ignored_ids(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT cluster_id FROM ignored_clusters")}

    def ignore_candidates(self, share: float = 0.05, flat_detail: float = 12.0, limit: int = 50) -> list[dict]:
        """Clusters likely to be noise rather than evidence, each with why.

        - posted by a large share of all accounts (``share``, and at least 5):
          a viral picture links everybody;
        - flat or logo-like: the median member has little grey-level detail
          (``flat_detail``, the same measure as ``min_detail``): blank frames,
          solid cards and simple logos match far more than their copies.
        """
        (accounts,) = self.db.execute("SELECT COUNT(DISTINCT account) FROM media WHERE status = 'ok'").fetchone()
        widely = max(5, int(share * accounts))
        rows = self.db.execute(
            "SELECT c.cluster_id, COUNT(*), COUNT(DISTINCT COALESCE(m.account, '')), AVG(m.detail) FROM clusters c "
            "JOIN media m ON m.id = c.media_id WHERE c.cluster_id NOT IN (SELECT cluster_id FROM ignored_clusters) "
            "GROUP BY c.cluster_id HAVING COUNT(*) >= 2 "
            "AND (COUNT(DISTINCT COALESCE(m.account, '')) >= ? OR AVG(m.detail) < ?) "
            "ORDER BY COUNT(DISTINCT COALESCE(m.account, '')) DESC, c.cluster_id LIMIT ?",
            [widely, flat_detail, limit]).fetchall()
        out = []
        for cluster, size, n_accounts, detail in rows:
            why = []
            if n_accounts >= widely:
                why.append(f"posted by {n_accounts} of {accounts} accounts ({n_accounts / max(accounts, 1):.0%})")
            if detail is not None and detail < flat_detail:
                why.append(f"flat or logo-like (mean detail {detail:.1f} < {flat_detail:g})")
            out.append({"cluster": cluster, "size": size, "accounts": n_accounts, "why": "; ".join(why)})
        return out

    def follow_ignored(self) -> list[str]:
        """After clustering: an ignored cluster that was merged moves its ignore to where its media went."""
        notes = []
        moved = self.db.execute(
            "SELECT i.cluster_id, c.cluster_id FROM ignored_clusters i JOIN clusters c ON c.media_id = i.media_id "
            "WHERE c.cluster_id != i.cluster_id").fetchall()
        for old, new in moved:
            note = f"cluster {old} was merged into cluster {new}; the ignore moved with it"
            self.db.execute("DELETE FROM ignored_clusters WHERE cluster_id = ? AND EXISTS "
                            "(SELECT 1 FROM ignored_clusters WHERE cluster_id = ?)", [old, new])
            self.db.execute("UPDATE ignored_clusters SET cluster_id = ?, note = ? WHERE cluster_id = ?",
                            [new, note, old])
            notes.append(note)
        return notes
