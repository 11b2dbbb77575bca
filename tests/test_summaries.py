"""Precomputed cluster summaries and the cached overview equal what grouping everything now gives."""
from __future__ import annotations

import os

from hashtrail.pipeline import transforms
from hashtrail.pipeline.scan import scan, update_clusters
from hashtrail.pipeline.store import Store
from hashtrail.pipeline.store.summaries import GROUPED

from conftest import save, twitter_path


def live(store: Store) -> dict[int, tuple]:
    """Every cluster's summary, grouped now from clusters and media."""
    store._mark_copies()
    return {r[0]: tuple(r[1:]) for r in store.db.execute(GROUPED.format(where=""))}


def live_pairs(store: Store) -> dict[tuple, int]:
    """Clusters shared by each pair of accounts, counted now."""
    return {(a, b): n for a, b, n in store.db.execute(
        "WITH ca AS (SELECT DISTINCT c.cluster_id, m.account FROM clusters c JOIN media m ON m.id = c.media_id "
        "WHERE m.account IS NOT NULL AND m.id NOT IN (SELECT id FROM temp.copies)) SELECT x.account, y.account, COUNT(*) FROM ca x JOIN ca y "
        "ON x.cluster_id = y.cluster_id AND x.account < y.account GROUP BY 1, 2")}


def stored_pairs(store: Store) -> dict[tuple, int]:
    return {(a, b): n for a, b, n in store.db.execute("SELECT a, b, clusters FROM account_pairs")}


def stored(store: Store) -> dict[int, tuple]:
    return {r[0]: tuple(r[1:]) for r in store.db.execute(
        "SELECT cluster_id, size, accounts, first_seen, last_seen, images, videos, animations, retweets, releases "
        "FROM cluster_summary")}


def check(store: Store) -> None:
    assert stored(store) == live(store)
    assert stored_pairs(store) == live_pairs(store)


def test_summaries_follow_scans_merges_moves_and_attribution(tmp_path, photo, settings):
    root = tmp_path / "archive"
    for n, seed in enumerate([1, 1, 2, 2, 3]):
        save(twitter_path(root, n, 947666110763761664 + n * 10**12), photo(seed))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    assert stored(store) == live(store) and len(stored(store)) == 2 and store.summaries_fresh()
    check(store)
    # a later scan adds media to a cluster and a new cluster
    save(twitter_path(root, 7, 947666110763761699), transforms.border(photo(1), 0.05))
    save(twitter_path(root, 8, 947666110763761700), photo(3))
    scan([str(root)], settings, store)
    assert stored(store) == live(store) and len(stored(store)) == 3
    check(store)
    # an account changes without any new media (an import, a rule): a write marks, the refresh regroups
    store.db.execute("UPDATE media SET account = 'renamed' WHERE id = (SELECT MIN(media_id) FROM clusters)")
    store.db.conn.commit()
    assert not store.summaries_fresh()
    reader = Store(settings.db, read_only=True)  # a reader never writes: it groups the dirty state live
    assert {r["cluster"]: r["accounts"] for r in reader.browse_clusters()[0]} == \
        {c: v[1] for c, v in live(store).items()}
    assert store.refresh_summaries() >= 1 and stored(store) == live(store) and store.summaries_fresh()
    check(store)
    partner = store.account_partners("renamed")
    assert partner and all(p["clusters"] == 1 for p in partner)
    # a vanished file: a rebuild drops it everywhere
    os.unlink(twitter_path(root, 8, 947666110763761700))
    scan([str(root)], settings, store)
    check(store)
    update_clusters(store, settings, rebuild=True)
    check(store)
    strip = store.cluster_strips([next(iter(stored(store)))])
    assert all(len(v) >= 2 for v in strip.values())


def test_the_cached_overview_is_used_only_while_nothing_changed(tmp_path, photo, settings):
    root = tmp_path / "archive"
    for n, seed in enumerate([1, 1, 2]):
        save(twitter_path(root, n, 947666110763761664 + n), photo(seed))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    cached = store.overview()
    assert cached == store._compute_overview()
    assert cached["fingerprinted"] == 3 and cached["clusters"] == 1 and cached["accounts"] == 3
    store.db.execute("UPDATE media SET status = 'missing' WHERE id = 1")
    store.db.conn.commit()
    changed = store.overview()  # no refresh yet: computed now, not the stale cache
    assert changed["fingerprinted"] == 2 and changed == store._compute_overview()


def test_an_older_database_gets_summaries_on_upgrade(tmp_path, photo, settings):
    root = tmp_path / "archive"
    for n, seed in enumerate([4, 4, 5, 5]):
        save(twitter_path(root, n, 947666110763761664 + n), photo(seed))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    expected = live(store)
    for name in ("summary_cluster_in", "summary_cluster_moved", "summary_cluster_out", "summary_media_changed",
                 "media_written", "media_removed"):
        store.db.execute(f"DROP TRIGGER {name}")
    store.db.execute("DROP TABLE cluster_summary")
    store.db.execute("DROP TABLE summary_dirty")
    store.db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    store.db.conn.commit()
    store.close()
    upgraded = Store(settings.db, create=False)
    assert not upgraded.summaries_fresh()
    assert {r["cluster"] for r in upgraded.cluster_summaries()} == set(expected)
    upgraded.refresh_summaries()
    assert stored(upgraded) == expected


def test_partner_counts_follow_any_sequence_of_cluster_writes(tmp_path):
    """Random moves, merges, removals and renames, each followed by a refresh, against counting now."""
    import random

    store = Store(str(tmp_path / "p.db"))
    rng = random.Random(4)
    store.db.conn.executemany("INSERT INTO media (id, path, status, account) VALUES (?, ?, 'ok', ?)",
                              [(m, f"/m{m}", f"acct{rng.randrange(12)}") for m in range(1, 301)])
    store.db.conn.commit()
    for step in range(40):
        action = rng.choice(["assign", "assign", "merge", "drop", "rename"])
        if action == "assign":
            rows = [(m, rng.randrange(1, 30)) for m in rng.sample(range(1, 301), 40)]
            store.db.conn.executemany("INSERT INTO clusters (media_id, cluster_id, distance) VALUES (?, ?, 0) "
                                      "ON CONFLICT(media_id) DO UPDATE SET cluster_id = excluded.cluster_id", rows)
        elif action == "merge":
            a, b = rng.sample(range(1, 30), 2)
            store.db.execute("UPDATE clusters SET cluster_id = ? WHERE cluster_id = ?", [min(a, b), max(a, b)])
        elif action == "drop":
            store.db.execute("DELETE FROM clusters WHERE media_id IN (SELECT media_id FROM clusters "
                             "ORDER BY media_id LIMIT 10 OFFSET ?)", [rng.randrange(50)])
        else:
            store.db.execute("UPDATE media SET account = ? WHERE id = ?", [f"acct{rng.randrange(12)}",
                                                                            rng.randrange(1, 301)])
        store.db.conn.commit()
        store.refresh_summaries()
        assert stored_pairs(store) == live_pairs(store), (step, action)
        assert stored(store) == live(store), (step, action)
