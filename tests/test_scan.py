"""The embedded scan over a real tree: rows, failures, clusters, accounts, rescans."""
import os
import random
import sqlite3

import pytest
from PIL import Image

from hashtrail.pipeline import transforms
from hashtrail.pipeline.demo import userid
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store

from conftest import save, statuses, twitter_path
from test_decode import png_header_only


class Recorder:
    def __init__(self):
        self.total, self.done = None, 0

    def start(self, total):
        self.total = total

    def advance(self, n):
        self.done += n


@pytest.fixture
def tree(tmp_path, photo):
    root = tmp_path / "archive"
    p = {}
    original = photo(1)
    p["original"] = save(twitter_path(root, 1, 1001), original)
    p["resized"] = save(twitter_path(root, 2, 1002), transforms.resize(original, 0.5))
    p["bordered"] = save(twitter_path(root, 3, 1003, "png"), transforms.border(original, 0.1), "PNG")
    p["exact_a"] = save(twitter_path(root, 1, 2001), photo(2))
    p["exact_b"] = twitter_path(root, 4, 2002)
    os.makedirs(os.path.dirname(p["exact_b"]))
    with open(p["exact_a"], "rb") as src, open(p["exact_b"], "wb") as dst:
        dst.write(src.read())
    p["alone"] = save(twitter_path(root, 2, 3001), photo(3))
    scene = photo(4, (960, 720))
    p["shot_1"] = save(twitter_path(root, 2, 4001), scene.crop((0, 0, 640, 480)))
    p["shot_2"] = save(twitter_path(root, 3, 4002), scene.crop((320, 240, 960, 720)))
    p["png_named_jpg"] = save(twitter_path(root, 4, 5001), photo(5), "PNG")  # content decides
    p["flat_a"] = save(str(root / "flat" / "white.png"), Image.new("RGB", (300, 200), "white"), "PNG")
    p["flat_b"] = save(str(root / "flat" / "white-copy.png"), Image.new("RGB", (300, 200), "white"), "PNG")
    p["flat_c"] = save(str(root / "flat" / "black.png"), Image.new("RGB", (300, 200), "black"), "PNG")
    p["gif_still"] = save(str(root / "gifs" / "still.gif"), photo(6, (200, 150)), "GIF")
    frames = [photo(7 + i, (120, 90)) for i in range(3)]
    p["gif_anim"] = str(root / "gifs" / "anim.gif")
    frames[0].save(p["gif_anim"], save_all=True, append_images=frames[1:], duration=100)
    bad = root / "bad"
    bad.mkdir()
    data = open(p["alone"], "rb").read()
    writes = {"empty.jpg": b"", "truncated.jpg": data[: len(data) // 2],
              "error.jpg": b"<!DOCTYPE html><html><body>Not found</body></html>",
              "random.jpg": random.Random(1).randbytes(5000), "random.bin": random.Random(2).randbytes(5000),
              "notes.txt": b"researcher notes\n", "meta.json": b'{"a": 1}', "bomb.png": png_header_only(40000, 40000)}
    for name, content in writes.items():
        (bad / name).write_bytes(content)
        p[name] = str(bad / name)
    p["dangling"] = str(bad / "dangling.jpg")
    os.symlink(str(bad / "does-not-exist.jpg"), p["dangling"])
    p["fifo"] = str(bad / "pipe.jpg")
    os.mkfifo(p["fifo"])
    return root, p


def rows_by_path(store):
    return {r["path"]: r for r in store.db.query("SELECT * FROM media")}


def cluster_sets(store):
    summaries = store.cluster_summaries()
    members = store.cluster_members([s["cluster"] for s in summaries])
    return {frozenset(m["path"] for m in ms) for ms in members.values()}


def test_scan_records_every_file_with_a_status_and_reason(tree, settings):
    root, p = tree
    store = Store(settings.db)
    progress = Recorder()
    summary = scan([str(root)], settings, store, progress)
    rows = rows_by_path(store)
    assert len(rows) == len(p) == summary.files
    assert progress.total == len(p) and progress.done == len(p)
    status = {name: rows[path]["status"] for name, path in p.items()}
    reasons = {name: rows[path]["reason"] or "" for name, path in p.items()}
    for name in ("original", "resized", "bordered", "exact_a", "exact_b", "alone", "shot_1", "shot_2",
                 "png_named_jpg", "flat_a", "flat_b", "flat_c", "gif_still", "gif_anim"):
        assert status[name] == "ok", (name, reasons[name])
    expected_failures = {"empty.jpg": "empty file", "truncated.jpg": "truncated", "error.jpg": "HTML",
                         "random.jpg": "not media", "bomb.png": "max_pixels", "dangling": "cannot read"}
    for name, words in expected_failures.items():
        assert status[name] == "failed" and words in reasons[name], (name, reasons[name])
    for name, words in {"random.bin": "not media", "notes.txt": "text", "meta.json": "JSON",
                        "fifo": "not a regular file"}.items():
        assert status[name] == "skipped" and words in reasons[name], (name, reasons[name])
    assert rows[p["png_named_jpg"]]["format"] == "PNG"
    assert rows[p["gif_anim"]]["kind"] == "animation"
    assert rows[p["gif_anim"]]["frames"] == 3  # three different pictures: three scene changes
    assert (summary.fingerprinted, summary.failed, summary.skipped) == (14, 6, 4)
    counts = store.status_counts()
    assert (counts["fingerprinted"], counts["failed"], counts["skipped"]) == (14, 6, 4)


def test_fingerprints_and_hasher_are_stored(tree, settings):
    root, p = tree
    store = Store(settings.db)
    scan([str(root)], settings, store)
    row = rows_by_path(store)[p["original"]]
    assert row["sha256"] and len(row["sha256"]) == 64
    assert (row["width"], row["height"], row["format"]) == (640, 480, "JPEG")
    assert "imagehash" in row["hasher"]
    variants = list(store.db.query("SELECT variant, phash, dhash, phash256 FROM fingerprints WHERE media_id = ?",
                                   [row["id"]]))
    assert [v["variant"] for v in variants][:2] == ["full", "center"]
    assert {"rotate_m4", "rotate_p4"} <= {v["variant"] for v in variants}  # the default hard-edit variants
    flat = rows_by_path(store)[p["flat_a"]]
    assert store.db.execute("SELECT COUNT(*) FROM fingerprints WHERE media_id = ?", [flat["id"]]).fetchone()[0] == 0


def test_clusters_join_reposts_and_copies_and_keep_other_shots_apart(tree, settings):
    root, p = tree
    store = Store(settings.db)
    summary = scan([str(root)], settings, store)
    assert cluster_sets(store) == {
        frozenset({p["original"], p["resized"], p["bordered"]}),
        frozenset({p["exact_a"], p["exact_b"]}),
        frozenset({p["flat_a"], p["flat_b"]}),  # byte-identical though too flat to hash
    }
    assert (summary.clusters, summary.cross_account_clusters) == (3, 2)


def test_accounts_and_post_ids_come_from_the_layout(tree, settings):
    root, p = tree
    store = Store(settings.db)
    scan([str(root)], settings, store)
    rows = rows_by_path(store)
    assert (rows[p["resized"]]["account"], rows[p["resized"]]["post_id"]) == (userid(2), "1002")
    assert rows[p["flat_a"]]["account"] == "flat"  # fallback: first directory under the root


def test_rescan_does_no_work_and_duplicates_nothing(tree, settings):
    root, p = tree
    store = Store(settings.db)
    scan([str(root)], settings, store)
    before = rows_by_path(store)
    fingerprints_before = store.db.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0]
    progress = Recorder()
    again = scan([str(root)], settings, store, progress)
    assert (again.unchanged, again.fingerprinted, again.failed, again.skipped) == (len(p), 0, 0, 0)
    assert progress.total == 0
    after = rows_by_path(store)
    assert {k: (v["id"], v["sha256"], v["status"]) for k, v in after.items()} == \
           {k: (v["id"], v["sha256"], v["status"]) for k, v in before.items()}
    assert store.db.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0] == fingerprints_before


def test_changed_file_is_fingerprinted_again(tree, settings, photo):
    root, p = tree
    store = Store(settings.db)
    scan([str(root)], settings, store)
    old = rows_by_path(store)[p["alone"]]
    save(p["alone"], photo(99))
    os.utime(p["alone"], ns=(old["mtime_ns"] + 10**9, old["mtime_ns"] + 10**9))
    again = scan([str(root)], settings, store)
    assert again.fingerprinted == 1 and again.unchanged == len(p) - 1
    new = rows_by_path(store)[p["alone"]]
    assert new["id"] == old["id"] and new["sha256"] != old["sha256"]


def test_interrupted_scan_resumes_pending_files(tree, settings):
    root, p = tree
    store = Store(settings.db)
    scan([str(root)], settings, store)
    store.db.execute("UPDATE media SET status = 'pending' WHERE path = ?", [p["alone"]])
    store.db.conn.commit()
    again = scan([str(root)], settings, store)
    assert again.fingerprinted == 1
    assert rows_by_path(store)[p["alone"]]["status"] == "ok"


def test_same_tree_gives_same_ids_and_clusters_in_a_fresh_database(tree, settings, tmp_path):
    root, _ = tree
    first, second = Store(str(tmp_path / "a.db")), Store(str(tmp_path / "b.db"))
    scan([str(root)], settings.replace(workers=1), first)
    scan([str(root)], settings.replace(workers=2, batch_size=3), second)
    def snapshot(store):
        return (sorted((r["id"], r["path"], r["status"], r["sha256"]) for r in store.db.query("SELECT * FROM media")),
                sorted(store.db.execute("SELECT media_id, cluster_id, distance FROM clusters").fetchall()))
    assert snapshot(first) == snapshot(second)


def test_changed_account_rule_applies_to_unchanged_files(tmp_path, photo, settings):
    root = tmp_path / "gallery"
    save(str(root / "twitter" / "some_user" / "123_1.jpg"), photo(1))
    scan([str(root)], settings, Store(settings.db))
    custom = settings.replace(account_pattern=r"twitter/(?P<account>[^/]+)/(?P<post_id>\d+)_\d+\.\w+$")
    summary = scan([str(root)], custom, Store(settings.db))
    assert summary.unchanged == 1
    assert sqlite3.connect(settings.db).execute("SELECT account, post_id FROM media").fetchone() == ("some_user", "123")


def test_retry_failed_reads_failed_files_again(tmp_path, photo, settings):
    save(str(tmp_path / "m" / "big.jpg"), photo(1, (1200, 900)))
    scan([str(tmp_path / "m")], settings.replace(max_pixels=1000), Store(settings.db))
    assert statuses(settings.db)["big.jpg"][0] == "failed"
    assert scan([str(tmp_path / "m")], settings, Store(settings.db)).unchanged == 1
    again = scan([str(tmp_path / "m")], settings, Store(settings.db), retry_failed=True)
    assert again.fingerprinted == 1 and statuses(settings.db)["big.jpg"][0] == "ok"


def test_moved_files_leave_the_clusters_and_come_back(tmp_path, photo, settings):
    import shutil
    save(str(tmp_path / "a" / "u1" / "x.jpg"), photo(1))
    save(str(tmp_path / "a" / "u2" / "y.jpg"), photo(2))
    store = Store(settings.db)
    scan([str(tmp_path / "a")], settings, store)
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    os.makedirs(tmp_path / "a")
    moved = scan([str(tmp_path / "a"), str(tmp_path / "b")], settings, store)
    assert moved.clusters == 0, "a moved file must not look like its own duplicate"
    statuses = sorted(r[0] for r in sqlite3.connect(settings.db).execute("SELECT status FROM media"))
    assert statuses == ["missing", "missing", "ok", "ok"]
    shutil.copytree(str(tmp_path / "b"), str(tmp_path / "a"), dirs_exist_ok=True)
    back = scan([str(tmp_path / "a")], settings, store)
    # the copies under a and b are one media each (same bytes, account and name): seen twice, no reuse
    assert back.fingerprinted == 2 and back.clusters == 0
    assert store.status_counts()["copies"] == 2 and store.status_counts()["fingerprinted"] == 2
    assert sorted(len(m["paths"]) for ms in store.cluster_members([1, 2]).values() for m in ms) == [2, 2]
