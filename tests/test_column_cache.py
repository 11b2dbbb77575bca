"""The incremental path: an append-only column cache, no counts or full reads, stale caches detected."""
from __future__ import annotations

import json
import os
import shutil

from conftest import save, twitter_path
from test_incremental import assert_cache_equals_sqlite

from hashtrail.pipeline import transforms
from hashtrail.pipeline.index.cluster import Thresholds
from hashtrail.pipeline.scan import scan, update_clusters
from hashtrail.pipeline.store import Store


def clusters(store) -> list:
    return sorted(store.db.execute("SELECT media_id, cluster_id, distance, via, via_media FROM clusters"))


def rebuilt(store, settings) -> list:
    """The clusters a full rebuild gives, left in the store."""
    update_clusters(store, settings, rebuild=True)
    return clusters(store)


def first_scan(tmp_path, photo, settings, n=3):
    root = tmp_path / "tree"
    for k in range(1, n + 1):
        save(twitter_path(root, k, 100 + k), photo(k))
        save(twitter_path(root, k + 10, 200 + k), transforms.MILD["jpeg_q50"](photo(k)))
    store = Store(settings.db)
    assert scan([str(root)], settings, store).clusters_rebuilt
    return root, store


def test_updates_append_to_the_cache_and_equal_a_rebuild(tmp_path, photo, settings):
    root, store = first_scan(tmp_path, photo, settings)
    column = settings.db + "-columns/phash.col"
    inode, size = os.stat(column).st_ino, os.path.getsize(column)
    for k in range(4, 7):  # three updates, each a new picture and a copy of an old one
        save(twitter_path(root, k, 100 + k), photo(k))
        save(twitter_path(root, 30 + k, 300 + k), transforms.MILD["resize_50"](photo(k - 3)))
        assert not scan([str(root)], settings, store).clusters_rebuilt
        assert os.stat(column).st_ino == inode  # appended to, not written anew
        assert os.path.getsize(column) > size
        size = os.path.getsize(column)
        assert_cache_equals_sqlite(store)
    manifest = json.load(open(settings.db + "-columns/manifest.json"))
    (rows,) = store.db.execute("SELECT COUNT(*) FROM fingerprints").fetchone()
    assert manifest["rows"] == rows and size == rows * 8
    incremental = clusters(store)
    assert incremental == rebuilt(store, settings)


def test_an_update_reads_no_whole_table(tmp_path, photo, settings, monkeypatch):
    # counting every clustered row, reading every cluster row, or finding new media and rows through
    # ``status = 'ok'`` (nearly every media) cost seconds at 2M media, at every update
    from hashtrail.pipeline import scan as scanning
    root, store = first_scan(tmp_path, photo, settings)
    save(twitter_path(root, 7, 700), photo(7))
    save(twitter_path(root, 8, 800), transforms.MILD["resize_50"](photo(1)))
    with monkeypatch.context() as m:  # the scan saves the new files; their clustering runs below, traced
        m.setattr(scanning, "recluster", lambda store, settings: (0, 0, scanning.Reclustered(False, 0, 0, 0.0)))
        scan([str(root)], settings, store)
    statements = []
    store.db.conn.set_trace_callback(statements.append)
    with monkeypatch.context() as m:  # the summaries' own passes are not the clustering's (README)
        m.setattr(store, "refresh_summaries", lambda: 0)
        assert not update_clusters(store, settings).rebuilt
    store.db.conn.set_trace_callback(None)
    sql = [" ".join(s.split()) for s in statements]
    assert [s for s in sql if "INSERT INTO clusters" in s]  # it did update clusters
    full = []
    for statement in sql:
        if statement.split()[0].upper() not in ("SELECT", "UPDATE", "DELETE"):
            continue
        for *_, detail in store.db.execute("EXPLAIN QUERY PLAN " + statement).fetchall():
            every = detail.startswith("SCAN") or "(status=?)" in detail  # a search by status: nearly all media
            if every and not any(ok in detail for ok in ("idx_media_unclustered", "sqlite_master")):
                full.append((statement[:120], detail))
    assert not full
    assert clusters(store) == rebuilt(store, settings)


def test_rows_forgotten_or_deleted_out_of_band_make_the_next_run_a_rebuild(tmp_path, photo, settings):
    root, store = first_scan(tmp_path, photo, settings)
    t = Thresholds.from_settings(settings)
    assert store.can_update_clusters(t)
    store.forget(str(twitter_path(root, 11, 201)))  # a clustered media gone
    assert not store.can_update_clusters(t)
    assert store._valid_cache()[2] is None
    save(twitter_path(root, 5, 500), photo(5))
    assert scan([str(root)], settings, store).clusters_rebuilt
    assert store.can_update_clusters(t) and store._valid_cache()[2] is not None
    # one fingerprint row of a clustered media deleted by hand: no count would be needed to notice
    with store._writing():
        store.db.execute("DELETE FROM fingerprints WHERE id = (SELECT MIN(id) FROM fingerprints)")
    assert not store.can_update_clusters(t)
    assert store._valid_cache()[2] is None
    assert scan([str(root)], settings, store).clusters_rebuilt
    assert_cache_equals_sqlite(store)


def test_a_cache_from_before_a_rebuild_or_of_another_format_is_not_used(tmp_path, photo, settings):
    root, store = first_scan(tmp_path, photo, settings)
    folder = settings.db + "-columns"
    kept = str(tmp_path / "kept")
    shutil.copytree(folder, kept)
    update_clusters(store, settings, rebuild=True)  # a new epoch
    shutil.rmtree(folder)
    shutil.copytree(kept, folder)  # the older cache back (a rebuild that died before writing its cache)
    assert store._valid_cache()[2] is None
    update_clusters(store, settings, rebuild=True)
    manifest_path = os.path.join(folder, "manifest.json")
    manifest = json.load(open(manifest_path))
    assert store._valid_cache()[2] is not None
    json.dump({**manifest, "format": manifest["format"] + 1}, open(manifest_path, "w"))  # another layout
    assert store._valid_cache()[2] is None
    json.dump(manifest, open(manifest_path, "w"))
    with open(os.path.join(folder, "phash.col"), "r+b") as fh:  # the tail overwritten behind the manifest
        fh.seek(-8, os.SEEK_END)
        fh.write(b"\xff" * 8)
    assert store._valid_cache()[2] is None


def test_rows_staged_by_an_update_that_never_finished_are_ignored(tmp_path, photo, settings, monkeypatch):
    root, store = first_scan(tmp_path, photo, settings)
    save(twitter_path(root, 6, 600), photo(6))

    def dies(*args, **kwargs):
        raise RuntimeError("killed before its clusters were stored")

    monkeypatch.setattr(store, "update_clusters", dies)
    try:
        scan([str(root)], settings, store)  # its new rows are staged in the cache, never published
    except RuntimeError:
        pass
    monkeypatch.undo()
    rows = json.load(open(settings.db + "-columns/manifest.json"))["rows"]
    assert os.path.getsize(settings.db + "-columns/phash.col") > rows * 8  # staged, past the valid rows
    save(twitter_path(root, 7, 700), transforms.MILD["resize_50"](photo(6)))
    assert not scan([str(root)], settings, store).clusters_rebuilt
    assert_cache_equals_sqlite(store)
    assert clusters(store) == rebuilt(store, settings)
