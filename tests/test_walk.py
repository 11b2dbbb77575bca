"""Walking odd trees: odd names, links, nested roots, deep folders."""
import os
import sqlite3

from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store

from conftest import save, statuses


def test_non_utf8_file_name_is_a_failed_row_not_a_crash(tmp_path, photo, settings):
    root = tmp_path / "tree"
    save(str(root / "u1" / "good.jpg"), photo(1))
    with open(os.path.join(os.fsencode(str(root / "u1")), b"caf\xe9.jpg"), "wb") as fh:
        fh.write(open(root / "u1" / "good.jpg", "rb").read())
    summary = scan([str(root)], settings, Store(settings.db))
    found = statuses(settings.db)
    assert found["good.jpg"][0] == "ok"
    assert found["caf\\xe9.jpg"] == ("failed", "file name is not valid UTF-8: rename the file (e.g. with convmv) to scan it")
    assert (summary.fingerprinted, summary.failed) == (1, 1)


def test_symlinked_directory_is_skipped_with_a_reason(tmp_path, photo, settings):
    root = tmp_path / "tree"
    save(str(root / "u1" / "a.jpg"), photo(1))
    os.symlink(str(root / "u1"), str(root / "link"))
    scan([str(root)], settings, Store(settings.db))
    assert statuses(settings.db)["link"] == ("skipped", "symlink to a directory: not followed")


def test_overlapping_roots_fingerprint_each_file_once_under_the_outer_root(tmp_path, photo, settings):
    root = tmp_path / "ov"
    save(str(root / "ira" / "U1" / "images" / "1-a.jpg"), photo(1))
    summary = scan([str(root / "ira" / "U1"), str(root), str(root / "ira")], settings, Store(settings.db))
    assert summary.files == 1 and summary.fingerprinted == 1
    (db_root,) = sqlite3.connect(settings.db).execute("SELECT root FROM media").fetchone()
    assert db_root == str(root)


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
