"""Adding media updates clusters in place, with the same result as a rebuild and stable ids."""
from __future__ import annotations

import os
import sqlite3

import numpy as np

from conftest import save, twitter_path
from hashtrail.pipeline import transforms
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, find_clusters
from hashtrail.pipeline.index.incremental import add_to_clusters
from hashtrail.pipeline.scan import scan, update_clusters
from hashtrail.pipeline.store import Store

T = Thresholds(16, 16, 64)


def fingerprints(rows):
    """rows: (media_id, p, d, q-word) with the 256-bit hash as four copies of one word."""
    media, p, d, q = zip(*rows)
    return Fingerprints(np.array(media, dtype=np.int64), np.array(p, dtype=np.uint64), np.array(d, dtype=np.uint64),
                        np.tile(np.array(q, dtype=np.uint64)[:, None], (1, 4)), np.zeros(len(rows), dtype=bool))


def bits(n: int) -> int:
    return (1 << n) - 1


def as_clusters(assignments) -> dict[int, int]:
    return {a.media_id: a.cluster_id for a in assignments}


def test_a_new_media_that_bridges_two_clusters_merges_them_under_the_older_id():
    # x and y are 20 bits apart (two clusters); z is 10 bits from each: it joins both
    x, y, z = 0, bits(20), bits(10)
    old = [(1, x, x, x), (2, x ^ 1, x, x), (3, y, y, y), (4, y ^ 1, y, y), (5, bits(40) << 24, 7, 7),
           (6, (bits(40) << 24) ^ 3, 7, 7)]
    full_before = as_clusters(find_clusters(fingerprints(old), {}, T))
    assert full_before == {1: 1, 2: 1, 3: 3, 4: 3, 5: 5, 6: 5}
    members: dict[int, list[int]] = {}
    for m, c in full_before.items():
        members.setdefault(c, []).append(m)
    everything = fingerprints(old + [(7, z, z, z), (8, bits(40) << 24, 7, 7)])
    update = add_to_clusters(everything, np.array([6, 7]), full_before, members, {}, {7, 8}, T)
    after = {**full_before, **as_clusters(update.assignments)}
    assert after == as_clusters(find_clusters(everything, {}, T))
    assert after[3] == after[4] == after[7] == 1  # merged: the older id survives
    assert after[8] == 5  # a cluster that gains a member keeps its id
    assert update.changed_clusters == 2


def test_a_scan_that_adds_media_updates_clusters_like_a_rebuild(tmp_path, photo, settings):
    root = tmp_path / "tree"
    for k in range(1, 6):
        save(twitter_path(root, k, 100 + k), photo(k))
        save(twitter_path(root, k + 10, 200 + k), transforms.MILD["jpeg_q50"](photo(k)))
    store = Store(settings.db)
    assert scan([str(root)], settings, store).clusters_rebuilt  # the first clustering
    before = dict(store.db.execute("SELECT media_id, cluster_id FROM clusters"))
    assert len(set(before.values())) == 5
    # a later archive: one more copy of picture 1, a new picture with its copy, a flat picture twice
    later = root / "later"
    save(twitter_path(later, 30, 301), transforms.MILD["border_white_10"](photo(1)))
    os.makedirs(os.path.dirname(twitter_path(later, 35, 306)), exist_ok=True)
    with open(twitter_path(root, 2, 102), "rb") as src, open(twitter_path(later, 35, 306), "wb") as dst:
        dst.write(src.read())  # the same bytes as an old file: joins through its SHA-256
    save(twitter_path(later, 31, 302), photo(9))
    save(twitter_path(later, 32, 303), transforms.MILD["resize_50"](photo(9)))
    from PIL import Image
    save(twitter_path(later, 33, 304), Image.new("RGB", (200, 100), "white"), "PNG")
    save(twitter_path(later, 34, 305), Image.new("RGB", (200, 100), "white"), "PNG")
    assert not scan([str(root)], settings, store).clusters_rebuilt  # new media added in place
    incremental = dict(store.db.execute("SELECT media_id, cluster_id FROM clusters"))
    assert {m: c for m, c in incremental.items() if m in before} == before  # old clusters keep their ids
    assert len(set(incremental.values())) == 7
    copy = str(tmp_path / "copy.db")
    with sqlite3.connect(copy) as target:  # WAL: a file copy could miss the last commits
        store.db.conn.backup(target)
    result = update_clusters(Store(copy), settings.replace(db=copy), rebuild=True)
    assert result.rebuilt
    rebuilt = Store(copy)
    assert dict(rebuilt.db.execute("SELECT media_id, cluster_id FROM clusters")) == incremental
    assert sorted(rebuilt.db.execute("SELECT * FROM clusters")) == sorted(store.db.execute("SELECT * FROM clusters"))


def test_nothing_new_changes_nothing_and_a_vanished_file_forces_a_rebuild(tmp_path, photo, settings):
    root = tmp_path / "tree"
    paths = [save(twitter_path(root, k, 100 + k), photo(1)) for k in range(1, 4)]
    store = Store(settings.db)
    scan([str(root)], settings, store)
    again = update_clusters(store, settings)
    assert (again.rebuilt, again.new_rows, again.changed) == (False, 0, 0)
    os.remove(paths[0])
    assert scan([str(root)], settings, store).clusters_rebuilt  # the vanished file leaves its cluster
    assert store.db.execute("SELECT COUNT(*) FROM clusters").fetchone()[0] == 2
    assert update_clusters(store, settings).new_rows == 0


def test_cluster_command_updates_and_rebuilds(tmp_path, photo, settings):
    from click.testing import CliRunner

    from hashtrail.cli import main

    root = tmp_path / "tree"
    for k in range(1, 4):
        save(twitter_path(root, k, 100 + k), photo(1))
    scan([str(root)], settings, Store(settings.db))
    run = CliRunner().invoke(main, ["cluster", "--db", settings.db])
    assert run.exit_code == 0 and "up to date: 1 cluster" in run.output
    run = CliRunner().invoke(main, ["cluster", "--rebuild", "--db", settings.db])
    rows = sqlite3.connect(settings.db).execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0]
    assert rows > 6  # 3 files x (full, centre, and the hard-edit variants)
    assert run.exit_code == 0 and f"rebuilt from {rows} fingerprint rows" in run.output


def test_a_database_of_an_older_schema_is_upgraded_by_a_reading_command(tmp_path, photo, settings):
    from click.testing import CliRunner

    from hashtrail.cli import main

    root = tmp_path / "tree"
    for k in range(1, 3):
        save(twitter_path(root, k, 100 + k), photo(1))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    store.db.execute("DROP INDEX idx_media_unclustered")
    for (trigger,) in store.db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'cluster_input_%'").fetchall():
        store.db.execute(f"DROP TRIGGER {trigger}")  # a schema-3 database has none of them
    store.db.execute("ALTER TABLE media DROP COLUMN clustered")
    store.db.execute("DROP TABLE frame_matches")
    store.db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    store.db.conn.commit()
    store.close()
    run = CliRunner().invoke(main, ["clusters", "--db", settings.db, "--format", "json"])
    assert run.exit_code == 0, run.output
    assert '"size": 2' in run.output
    assert "clustered" in Store(settings.db, create=False).db["media"].columns_dict


def test_the_column_cache_gives_the_rows_sqlite_gives_and_a_bad_one_is_ignored(tmp_path, photo, settings):
    root = tmp_path / "tree"
    for k in range(1, 4):
        save(twitter_path(root, k, 100 + k), photo(k))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    manifest = settings.db + "-columns/manifest.json"
    assert os.path.exists(manifest)
    save(twitter_path(root, 9, 900), photo(1))  # a new copy: its rows come from SQLite, the rest from the cache
    assert not scan([str(root)], settings, store).clusters_rebuilt
    assert_cache_equals_sqlite(store)
    with open(manifest, "w") as fh:
        fh.write("not a manifest")
    assert store._valid_cache()[2] is None  # unreadable: SQLite is read instead
    save(twitter_path(root, 10, 1000), photo(2))
    assert not scan([str(root)], settings, store).clusters_rebuilt
    copy = str(tmp_path / "copy.db")
    with sqlite3.connect(copy) as target:
        store.db.conn.backup(target)
    update_clusters(Store(copy), settings.replace(db=copy), rebuild=True)
    assert sorted(Store(copy).db.execute("SELECT * FROM clusters")) == sorted(store.db.execute("SELECT * FROM clusters"))


def assert_cache_equals_sqlite(store):
    """The rows an update takes from the column cache (and SQLite after it) are SQLite's rows."""
    assert store._valid_cache()[2] is not None
    cached = store.fingerprints_and_new(cached=True)
    plain = store.fingerprints_and_new(cached=False)
    for got, want in zip(cached, plain):
        if isinstance(got, Fingerprints):
            for field in ("media_id", "phash", "dhash", "phash256", "secondary"):
                assert np.array_equal(getattr(got, field), getattr(want, field)), field
            assert np.array_equal(got.times(), want.times(), equal_nan=True)
            assert np.array_equal(got.codes(), want.codes())
            assert np.array_equal(got.aspects(), want.aspects(), equal_nan=True)
        else:
            assert np.array_equal(got, want)
