"""A real ``hashtrail scan`` stopped mid-way by Ctrl-C (SIGINT) or by systemd/``timeout`` (SIGTERM)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from jobs import clean_env, photo_tree
from processes import REPO, wait_until

FILES = 500


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead, only not yet reaped
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in os.listdir(f"/proc/{parent}/task") if os.path.isdir(f"/proc/{parent}/task") else []:
            try:
                children = open(f"/proc/{parent}/task/{task}/children").read().split()
            except FileNotFoundError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt") / "media"
    photo_tree(root, FILES, (320, 240), accounts=9)
    return root


env = clean_env


def count(db: str, status: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM media WHERE status = ?", [status]).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def hashtrail(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hashtrail", *args], env=env(), cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_scan_stopped_by_a_signal_is_marked_interrupted_and_the_rescan_completes_it(big_tree, tmp_path, sig):
    db = str(tmp_path / "stopped.db")
    scan = subprocess.Popen([sys.executable, "-m", "hashtrail", "scan", str(big_tree), "--db", db, "--workers", "2"],
                            env=env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: scan.poll() is None and count(db, "ok") >= 10 and len(descendants(scan.pid)) >= 2,
                   "the scan to be fingerprinting in its pool", timeout=120, poll=0.05)
        pool = descendants(scan.pid)
        assert count(db, "pending") > 0, "the scan finished before it could be interrupted"
        stopped_at = time.monotonic()
        scan.send_signal(sig)
        out, err = scan.communicate(timeout=60)
    finally:
        if scan.poll() is None:
            scan.kill()
            scan.wait()
    assert time.monotonic() - stopped_at < 30, "the scan did not stop promptly"
    assert scan.returncode == 128 + sig, err
    assert "Traceback" not in err and f"interrupted by {sig.name}" in err
    assert f"hashtrail scan {big_tree} --db {db}" in err  # the resume command, ready to paste
    wait_until(lambda: not [p for p in pool if alive(p)], "the pool processes to be gone", timeout=20)

    status = hashtrail("status", "--db", db)
    assert status.returncode == 0, status.stderr
    assert f"interrupted by {sig.name}" in status.stdout and "running" not in status.stdout
    assert "found but not fingerprinted yet" in status.stdout and "Run the same scan" in status.stdout
    state = json.loads(hashtrail("status", "--db", db, "--format", "json").stdout)
    assert state["last_scan"]["state"] == "interrupted" and state["last_scan"]["interrupted_by"] == sig.name
    done, left = count(db, "ok"), count(db, "pending")
    assert done + left == FILES and left > 0

    again = hashtrail("scan", str(big_tree), "--db", db, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert f"{FILES} files: {left} fingerprinted, 0 failed, 0 skipped, {done} unchanged" in again.stdout
    with sqlite3.connect(db) as conn:
        total, distinct, ok = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT path), SUM(status = 'ok') FROM media").fetchone()
        without_prints = conn.execute("SELECT COUNT(*) FROM media m WHERE NOT EXISTS "
                                      "(SELECT 1 FROM fingerprints f WHERE f.media_id = m.id)").fetchone()[0]
    assert (total, distinct, ok, without_prints) == (FILES, FILES, FILES, 0)  # every file, exactly once
    final = hashtrail("status", "--db", db)
    assert "pending" not in final.stdout and "finished" in final.stdout
