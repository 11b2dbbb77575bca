"""Faults of an embedded scan, with the real CLI in real processes: a full disk, two scans on one
database at once, a corrupt --db, hostile zips (a 1 GiB member, ../ and absolute names,
duplicate names) and a zip of 100,000 members."""
from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import time
import warnings
import zipfile

import pytest

from conftest import save
from jobs import assert_every_file_once as _every_file_once, clean_env, photo_tree
from processes import REPO

FILES = 300


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("scanfaults") / "media"
    photo_tree(root, FILES, (96, 72), accounts=9)
    return root


env = clean_env


def hashtrail(*args, limit_bytes: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    def file_size_limit():  # the kernel refuses writes past it (EFBIG), as a full disk refuses them
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "hashtrail", *args], env=env(), cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=file_size_limit if limit_bytes else None)


def rows(db: str) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return dict(conn.execute("SELECT status, COUNT(*) FROM media GROUP BY status"))


def assert_every_file_once(db: str, files: int = FILES) -> None:
    _every_file_once(db, files)


def test_disk_full_while_writing_is_a_clear_error_and_the_rerun_completes(tree, tmp_path):
    db = str(tmp_path / "full.db")
    # a limit the recording of the files fits in, but not all their fingerprints
    full = hashtrail("scan", str(tree), "--db", db, "--workers", "2", limit_bytes=1_200_000)
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    message = " ".join(full.stderr.split())
    assert f"cannot write to {db}" in message and "the disk is full, or a quota or file size limit" in message
    assert "database is intact" in message and "run the same command again" in message
    before = rows(db)  # PRAGMA integrity_check passes
    assert 0 < before.get("ok", 0) < FILES and before.get("pending", 0) > 0, before
    assert not [line for line in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
                .splitlines() if db in line], "a process of the failed scan is still running"

    again = hashtrail("scan", str(tree), "--db", db, "--workers", "2")  # space freed: no limit
    assert again.returncode == 0, again.stderr
    assert f"{FILES} files: {FILES - before['ok']} fingerprinted" in again.stdout
    assert_every_file_once(db)


def test_two_scans_of_one_database_at_once_both_finish_and_store_every_file_once(tree, tmp_path):
    db = str(tmp_path / "twice.db")
    scans = [subprocess.Popen([sys.executable, "-m", "hashtrail", "scan", str(tree), "--db", db, "--workers", "1"],
                              env=env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for scan in scans:
        out, err = scan.communicate(timeout=300)
        assert scan.returncode == 0, err
        assert "Traceback" not in err
    assert_every_file_once(db)
    status = hashtrail("status", "--db", db)
    assert status.returncode == 0 and "pending" not in status.stdout


def test_corrupt_database_is_refused_with_a_clear_error_and_left_as_it_was(tree, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(64 * 1024))
    damaged = tmp_path / "damaged.db"
    assert hashtrail("scan", str(tree / "user0"), "--db", str(damaged), "--workers", "1").returncode == 0
    data = bytearray(damaged.read_bytes())
    data[100:4096 * 3] = os.urandom(4096 * 3 - 100)  # the header's tail and the first pages, schema included
    damaged.write_bytes(bytes(data))
    for db in (junk, damaged):
        before = db.read_bytes()
        for args in (["scan", str(tree / "user1"), "--workers", "1"], ["status"]):
            result = hashtrail(*args, "--db", str(db))
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr
            assert f"{db}" in result.stderr and ("not a database" in result.stderr
                                                 or "malformed" in result.stderr), result.stderr
        assert db.read_bytes() == before, f"{db.name} was changed"


@pytest.fixture(scope="module")
def hostile_zip(tmp_path_factory):
    """A 1 GiB zero-filled member (about 1 MB compressed), ../ and absolute names, a duplicate name."""
    from hashtrail.pipeline.demo import synthetic_photo

    folder = tmp_path_factory.mktemp("hostilezip")
    path = folder / "hostile.zip"
    photo = folder / "photo.jpg"
    save(str(photo), synthetic_photo(7, (160, 120)))
    other = folder / "other.jpg"
    save(str(other), synthetic_photo(8, (160, 120)))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("user1/images/1-bomb.jpg", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(1024):
                member.write(zeros)
        zf.write(photo, "user1/images/2-k.jpg")
        zf.write(photo, "../../escaped/3-k.jpg")
        zf.writestr(zipfile.ZipInfo("/etc/hashtrail-absolute/4-k.jpg"), photo.read_bytes())  # write() strips "/"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns: "Duplicate name"
            zf.write(photo, "user1/images/5-dup.jpg")
            zf.write(other, "user1/images/5-dup.jpg")
    assert path.stat().st_size < 3 * 1024 * 1024
    return path


def test_hostile_zip_members_are_read_in_place_and_nothing_escapes(hostile_zip, tmp_path):
    db = str(tmp_path / "hostile.db")
    work = tmp_path / "cwd"
    work.mkdir()
    started = time.monotonic()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "hashtrail", "scan",
                             str(hostile_zip), "--db", db, "--workers", "1"], env=env(), cwd=work,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60, "the 1 GiB member was inflated"
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    assert peak_kb < 400_000, f"peak RSS {peak_kb / 1000:.0f} MB"  # the scan's main process
    with sqlite3.connect(db) as conn:
        found = {path.split("!", 1)[1]: (status, reason) for path, status, reason in
                 conn.execute("SELECT path, status, reason FROM media")}
    assert set(found) == {"user1/images/1-bomb.jpg", "user1/images/2-k.jpg", "../../escaped/3-k.jpg",
                          "/etc/hashtrail-absolute/4-k.jpg", "user1/images/5-dup.jpg"}
    status, reason = found["user1/images/1-bomb.jpg"]  # judged from its first bytes: zeros are no JPEG
    assert status == "failed" and ("not media" in reason or "max_image_bytes" in reason), reason
    assert all(found[name][0] == "ok" for name in found if "bomb" not in name), found
    assert os.listdir(work) == [] and not os.path.exists("/etc/hashtrail-absolute")
    assert not os.path.exists(hostile_zip.parent.parent / "escaped")  # nothing extracted anywhere
    rescan = subprocess.run([sys.executable, "-m", "hashtrail", "scan", str(hostile_zip), "--db", db, "--workers",
                             "1"], env=env(), cwd=work, capture_output=True, text=True, timeout=300)
    assert rescan.returncode == 0 and "5 unchanged" in rescan.stdout, rescan.stdout + rescan.stderr


@pytest.mark.slow  # 1-2 min on this shared 2-core machine: recording 100,000 rows dominates
def test_zip_of_100000_members_is_scanned(tmp_path, photo):
    path = tmp_path / "many.zip"
    jpeg = tmp_path / "one.jpg"
    save(str(jpeg), photo(3, (64, 48)))
    data = jpeg.read_bytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(100_000):  # notes of a few bytes, and every 10,000th a picture
            if i % 10_000 == 0:
                zf.writestr(f"user{i % 50}/images/{10 ** 6 + i}-k.jpg", data)
            else:
                zf.writestr(f"user{i % 50}/notes/{i}.txt", b"n")
    db = str(tmp_path / "many.db")
    result = hashtrail("scan", str(path), "--db", db, "--workers", "2")
    assert result.returncode == 0, result.stderr
    counts = rows(db)
    assert counts == {"ok": 10, "skipped": 99_990}, counts
