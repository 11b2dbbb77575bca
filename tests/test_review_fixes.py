"""Regressions from the code review: odd trees, odd names, odd databases."""
import json
import os
import sqlite3

import pytest
from click.testing import CliRunner
from PIL import Image

from hashtrail.cli import main
from hashtrail.pipeline.local_pool import fingerprint_in_pool
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store

from conftest import save
from test_pool import die_on_marker


def rows(db):
    return {os.path.basename(r[0]): r[1:] for r in sqlite3.connect(db).execute("SELECT path, status, reason FROM media")}


def test_non_utf8_file_name_is_a_failed_row_not_a_crash(tmp_path, photo, settings):
    root = tmp_path / "tree"
    save(str(root / "u1" / "good.jpg"), photo(1))
    with open(os.path.join(os.fsencode(str(root / "u1")), b"caf\xe9.jpg"), "wb") as fh:
        fh.write(open(root / "u1" / "good.jpg", "rb").read())
    summary = scan([str(root)], settings, Store(settings.db))
    found = rows(settings.db)
    assert found["good.jpg"][0] == "ok"
    assert found["caf\\xe9.jpg"] == ("failed", "file name is not valid UTF-8: rename the file (e.g. with convmv) to scan it")
    assert (summary.fingerprinted, summary.failed) == (1, 1)


def test_symlinked_directory_is_skipped_with_a_reason(tmp_path, photo, settings):
    root = tmp_path / "tree"
    save(str(root / "u1" / "a.jpg"), photo(1))
    os.symlink(str(root / "u1"), str(root / "link"))
    scan([str(root)], settings, Store(settings.db))
    assert rows(settings.db)["link"] == ("skipped", "symlink to a directory: not followed")


def test_overlapping_roots_fingerprint_each_file_once_under_the_outer_root(tmp_path, photo, settings):
    root = tmp_path / "ov"
    save(str(root / "ira" / "U1" / "images" / "1-a.jpg"), photo(1))
    summary = scan([str(root / "ira" / "U1"), str(root), str(root / "ira")], settings, Store(settings.db))
    assert summary.files == 1 and summary.fingerprinted == 1
    (db_root,) = sqlite3.connect(settings.db).execute("SELECT root FROM media").fetchone()
    assert db_root == str(root)


def test_clusters_without_accounts_are_listed_and_counted_alike(tmp_path, photo, settings):
    root = tmp_path / "flat"
    for name in ("a.jpg", "b.jpg"):
        save(str(root / name), photo(1))
    summary = scan([str(root)], settings, Store(settings.db))
    assert summary.clusters == 1
    listed = json.loads(CliRunner().invoke(main, ["clusters", "--db", settings.db, "--format", "json"]).output)
    shown = json.loads(CliRunner().invoke(main, ["show", str(listed["cluster"]), "--db", settings.db,
                                                 "--format", "json"]).output)
    assert listed["accounts"] == shown["accounts"] == 1


def test_a_file_that_kills_its_worker_is_not_retried_on_every_rescan(tmp_path, photo, settings):
    root = tmp_path / "t"
    path = save(str(root / "KILLME.jpg"), photo(1))
    store = Store(settings.db)
    from hashtrail.pipeline.scan import plan, record_pending
    from hashtrail.pipeline.archive.accounts import AccountRule
    rule = AccountRule.from_settings(settings)
    first = plan([str(root)], store, rule)
    record_pending(store, first.todo, rule, 1)
    for results in fingerprint_in_pool([(path, str(root))], settings, 1, die_on_marker):
        store.save_results(results)
    assert rows(settings.db)["KILLME.jpg"][0] == "failed"
    assert plan([str(root)], store, rule).unchanged == 1


def test_reading_commands_write_nothing_and_refuse_foreign_databases(tmp_path, photo, settings):
    save(str(tmp_path / "m" / "a.jpg"), photo(1))
    scan([str(tmp_path / "m")], settings, Store(settings.db))
    before = os.stat(settings.db).st_mtime_ns
    assert CliRunner().invoke(main, ["status", "--db", settings.db]).exit_code == 0
    assert os.stat(settings.db).st_mtime_ns == before
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)")
    result = CliRunner().invoke(main, ["status", "--db", str(other)])
    assert result.exit_code == 1 and "not a hashtrail database" in result.output
    assert [r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")] == ["notes"]


@pytest.mark.parametrize("content,message", [(b"this is not sqlite at all" * 100, "cannot use")])
def test_non_database_file_is_a_clear_error(tmp_path, content, message):
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["status", "--db", str(bad)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_database_in_a_missing_folder_is_a_clear_error(tmp_path, photo):
    save(str(tmp_path / "m" / "a.jpg"), photo(1))
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "m"), "--db", str(tmp_path / "nope" / "x.db")])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_very_deep_tree_is_walked(tmp_path, photo, settings):
    deep = tmp_path / "d"
    path = str(deep)
    os.mkdir(path)
    for _ in range(1200):  # deeper than Python's recursion limit
        path = os.path.join(path, "x")
        os.mkdir(path)
    save(os.path.join(path, "a.jpg"), photo(1))
    try:
        assert scan([str(deep)], settings, Store(settings.db)).fingerprinted == 1
    finally:  # pytest's own clean-up would recurse that deep
        os.remove(os.path.join(path, "a.jpg"))
        while path != str(deep):
            os.rmdir(path)
            path = os.path.dirname(path)


def test_thousands_of_identical_copies_cluster_in_bounded_memory():
    import resource
    import numpy as np
    from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, find_clusters
    n = 6000
    one = np.arange(1, 8, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    fp = Fingerprints(np.arange(n), np.full(n, one[0]), np.full(n, one[1]), np.tile(one[2:6], (n, 1)),
                      np.zeros(n, dtype=bool))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assignments = find_clusters(fp, {}, Thresholds(16, 16, 64))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert {a.cluster_id for a in assignments} == {0} and len(assignments) == n
    assert grown_mb < 200, f"{grown_mb:.0f} MB for {n} identical copies: pairs were materialised"


def test_float_tiff_is_stretched_not_black(tmp_path, photo, settings):
    import numpy as np
    pixels = np.asarray(photo(1).convert("L"), dtype=np.float32) / 255.0
    Image.fromarray(pixels, mode="F").save(tmp_path / "f.tif")
    scan([str(tmp_path)], settings, Store(settings.db))
    (n,) = sqlite3.connect(settings.db).execute("SELECT COUNT(*) FROM fingerprints").fetchone()
    assert n >= 1


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
    assert rows(settings.db)["big.jpg"][0] == "failed"
    assert scan([str(tmp_path / "m")], settings, Store(settings.db)).unchanged == 1
    again = scan([str(tmp_path / "m")], settings, Store(settings.db), retry_failed=True)
    assert again.fingerprinted == 1 and rows(settings.db)["big.jpg"][0] == "ok"


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
    assert back.fingerprinted == 2 and back.clusters == 2
