"""What the fault tests share: a tree of generated photos, the child environment, and the "every file once" check.

Kept in one place so that a fault test in one file proves the same thing as
in another: a database that passes ``PRAGMA integrity_check`` and holds each
file exactly once, fingerprinted, with no doubled fingerprint row.
"""
from __future__ import annotations

import os
import sqlite3

from conftest import save


def photo_tree(root, files: int, size: tuple[int, int], accounts: int) -> None:
    """``files`` generated photos under ``root``/userK/images/, named as a release names them (post id first)."""
    from hashtrail.pipeline.demo import synthetic_photo

    for i in range(files):
        save(os.path.join(str(root), f"user{i % accounts}", "images", f"{1000 + i}-k.jpg"), synthetic_photo(i, size))


def clean_env() -> dict:
    """This environment without HASHTRAIL_* settings, for CLI children that must run on the defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}


def assert_every_file_once(db: str, files: int) -> None:
    """The database is intact and holds each of ``files`` files once, ok, fingerprinted, no row doubled."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total, distinct, ok = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT path), SUM(status = 'ok') FROM media").fetchone()
        without = conn.execute("SELECT COUNT(*) FROM media m WHERE NOT EXISTS "
                               "(SELECT 1 FROM fingerprints f WHERE f.media_id = m.id)").fetchone()[0]
        doubled = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM fingerprints GROUP BY media_id, variant, "
                               "time_s HAVING COUNT(*) > 1)").fetchone()[0]
    assert (total, distinct, ok, without, doubled) == (files, files, files, 0, 0)
