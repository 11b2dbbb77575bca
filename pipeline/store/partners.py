"""Co-sharing partners kept up to date, so an account's page never regroups the archive (all SQL).

Part of the same ``Store`` (a mixin). ``account_pairs`` holds, for every
two accounts that posted media of one cluster, how many clusters they
share; ``cluster_accounts`` remembers each cluster's accounts as they were
counted. When ``refresh_summaries`` regroups the clusters writes touched,
it compares their accounts then and now and applies only the difference:
an account joining a viral cluster adds one pair per account already in
it, instead of recounting all of them. A busy account's partners are then
one indexed read.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np


def _pairs(codes: np.ndarray) -> np.ndarray:
    """Every unordered pair of distinct codes, as a*2^32+b with a < b."""
    codes = np.unique(codes)
    if len(codes) < 2:
        return np.zeros(0, np.int64)
    a, b = np.triu_indices(len(codes), 1)
    return (codes[a] << 32) | codes[b]


def _cross(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pairs with one code from each side (sides disjoint), ordered a < b."""
    if len(left) == 0 or len(right) == 0:
        return np.zeros(0, np.int64)
    x, y = np.repeat(left, len(right)), np.tile(right, len(left))
    return (np.minimum(x, y) << 32) | np.maximum(x, y)


class PartnersMixin:
    def _create_partner_schema(self) -> None:
        db = self.db
        fresh = "account_pairs" not in db.table_names()
        db.execute("CREATE TABLE IF NOT EXISTS account_pairs (a TEXT, b TEXT, clusters INTEGER, PRIMARY KEY (a, b))")
        db.execute("CREATE INDEX IF NOT EXISTS idx_account_pairs_b ON account_pairs (b)")
        db.execute("CREATE TABLE IF NOT EXISTS cluster_accounts (cluster_id INTEGER, account TEXT, "
                   "PRIMARY KEY (cluster_id, account))")
        if fresh and "summary_dirty" in db.table_names():  # every cluster must be counted once
            db.execute("INSERT INTO summary_dirty SELECT DISTINCT cluster_id FROM clusters "
                       "WHERE cluster_id NOT IN (SELECT cluster_id FROM summary_dirty)")

    def _refresh_partners(self, everything: bool) -> None:
        """Apply the change in accounts of the dirty clusters (or of all clusters) to ``account_pairs``."""
        where = "" if everything else "WHERE cluster_id IN (SELECT cluster_id FROM summary_dirty)"
        if everything:
            self.db.execute("DELETE FROM account_pairs")
            self.db.execute("DELETE FROM cluster_accounts")
            old_rows = []
        else:
            old_rows = self.db.execute(f"SELECT cluster_id, account FROM cluster_accounts {where}").fetchall()
        new_rows = self.db.execute(
            "SELECT DISTINCT c.cluster_id, m.account FROM clusters c JOIN media m ON m.id = c.media_id "
            "WHERE m.account IS NOT NULL AND m.id NOT IN (SELECT id FROM temp.copies) "
            f"{where.replace('WHERE', 'AND').replace('cluster_id IN', 'c.cluster_id IN')}"
        ).fetchall()
        names = sorted({a for _, a in old_rows} | {a for _, a in new_rows})
        code = {a: k for k, a in enumerate(names)}
        old, new = defaultdict(set), defaultdict(set)
        for cluster, account in old_rows:
            old[cluster].add(code[account])
        for cluster, account in new_rows:
            new[cluster].add(code[account])
        plus, minus = [], []
        for cluster in set(old) | set(new):
            before, after = old.get(cluster, set()), new.get(cluster, set())
            if before == after:
                continue
            added = np.fromiter(after - before, np.int64)
            removed = np.fromiter(before - after, np.int64)
            kept = np.fromiter(before & after, np.int64)
            plus += [_pairs(added), _cross(added, kept)]
            minus += [_pairs(removed), _cross(removed, kept)]
        delta: dict[int, int] = {}
        for sign, parts in ((1, plus), (-1, minus)):
            if parts:
                values, counts = np.unique(np.concatenate(parts), return_counts=True)
                for v, n in zip(values.tolist(), counts.tolist()):
                    delta[v] = delta.get(v, 0) + sign * n
        self.db.conn.executemany(
            "INSERT INTO account_pairs (a, b, clusters) VALUES (?, ?, ?) "
            "ON CONFLICT(a, b) DO UPDATE SET clusters = clusters + excluded.clusters",
            [(names[v >> 32], names[v & 0xFFFFFFFF], n) for v, n in delta.items() if n])
        self.db.execute("DELETE FROM account_pairs WHERE clusters <= 0")
        if not everything:
            self.db.execute(f"DELETE FROM cluster_accounts {where}")
        self.db.conn.executemany("INSERT INTO cluster_accounts (cluster_id, account) VALUES (?, ?)", new_rows)

    def account_partners(self, account: str, limit: int = 50) -> list[dict]:
        """Accounts that posted media of the same clusters as ``account``, with the number of clusters."""
        return list(self.db.query(
            "SELECT p.account, p.clusters, u.screen_name FROM "
            "(SELECT b AS account, clusters FROM account_pairs WHERE a = :a "
            " UNION ALL SELECT a AS account, clusters FROM account_pairs WHERE b = :a) p "
            "LEFT JOIN users u ON u.account = p.account ORDER BY p.clusters DESC, p.account LIMIT :limit",
            {"a": account, "limit": limit}))
