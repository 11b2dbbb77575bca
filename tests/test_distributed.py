"""Distributed mode with a real redis-server and real Celery worker processes."""
from __future__ import annotations

import os
import socket
import time

import pytest

from hashtrail import config
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store
from hashtrail.workers.app import make_app

from conftest import save
from hostile import many_frame_gif
from processes import CeleryProcess, broker_idle, run_cli, wait_until
from test_archives import clusters_by_tail, release  # noqa: F401  (release: a fixture)
from test_scan import tree  # noqa: F401  (the fixture)

HOST = socket.gethostname()


@pytest.fixture
def cluster(redis_server, tmp_path, monkeypatch):
    """Start/stop helpers for workers and the writer against a clean broker and database."""
    redis_server.client.flushall()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    env.update(HASHTRAIL_BROKER_URL=redis_server.url, HASHTRAIL_DB=str(tmp_path / "dist.db"),
               HASHTRAIL_CELERY_BATCH_SIZE="3")
    started: list[CeleryProcess] = []

    class Cluster:
        def __init__(self):
            self.env, self.db = env, env["HASHTRAIL_DB"]
            self.redis = redis_server.client

        def start(self, kind: str, name: str | None = None, **extra_env) -> CeleryProcess:
            args = ["writer"] if kind == "writer" else ["worker", "-n", f"{name}@%h", "-c", "1"]
            process = CeleryProcess(args, {**env, **extra_env}, str(tmp_path / f"{name or kind}.log"))
            started.append(process)
            return process

        def enqueue(self, path, *flags):
            return run_cli(["enqueue", str(path), *flags], env)

    yield Cluster()
    for process in started:
        process.stop()


def snapshot(db_path: str):
    store = Store(db_path, create=False)
    media = sorted(store.db.execute(
        "SELECT id, path, status, reason, kind, format, sha256, width, height, account, post_id, duration_s, fps, "
        "codec, frames, path_account, path_rule, account_source, name, media_key, identity FROM media"))
    prints = sorted(store.db.execute(
        "SELECT m.path, f.variant, f.time_s, f.phash, f.dhash, f.phash256 FROM fingerprints f "
        "JOIN media m ON m.id = f.media_id"))
    clusters = sorted(store.db.execute("SELECT media_id, cluster_id, distance FROM clusters"))
    clusters += sorted(store.db.execute("SELECT * FROM frame_matches"))
    store.close()
    return media, prints, clusters


def both_modes(cluster, root, tmp_path) -> str:
    """Run one job on a writer and two workers, and the embedded scan of the same tree; its database."""
    cluster.start("writer")
    cluster.start("worker", "alpha")
    cluster.start("worker", "beta")
    result = cluster.enqueue(root, "--wait")
    assert result.returncode == 0, result.stderr
    assert "done:" in result.stdout
    embedded = str(tmp_path / "embedded.db")
    scan([str(root)], config.load({}).replace(db=embedded, workers=2), Store(embedded))
    return embedded


def test_two_workers_share_a_job_and_match_the_embedded_scan(cluster, tree, tmp_path):
    root, files = tree
    embedded = both_modes(cluster, root, tmp_path)
    assert snapshot(cluster.db) == snapshot(embedded)
    store = Store(cluster.db, create=False)
    workers = {w for (w,) in store.db.execute("SELECT worker FROM media WHERE worker IS NOT NULL")}
    assert workers == {f"alpha@{HOST}", f"beta@{HOST}"}
    assert store.pending_count() == 0
    assert len(snapshot(cluster.db)[2]) > 0  # clusters were computed by the writer


def test_workers_fingerprint_videos_and_gifs_as_the_embedded_scan_does(cluster, video_tree, tmp_path):
    root, files = video_tree
    embedded = both_modes(cluster, root, tmp_path)
    distributed = snapshot(cluster.db)
    assert distributed == snapshot(embedded)
    kinds = {row[4] for row in distributed[0]}
    assert kinds == {"video", "animation", "image"} and all(row[2] == "ok" for row in distributed[0])
    assert any(isinstance(row, tuple) and len(row) == 9 for row in distributed[2])  # frame matches (offset_s, also_at) stored


def many_files(root, photo, n):
    for i in range(n):
        save(os.path.join(str(root), f"user{i % 7}", "images", f"{1000 + i}-k.jpg"), photo(i, (96, 72)))


def test_worker_killed_mid_job_then_enqueue_again_loses_nothing(cluster, photo, tmp_path):
    root = tmp_path / "media"
    many_files(root, photo, 240)
    cluster.start("writer")
    victim = cluster.start("worker", "victim", HASHTRAIL_CELERY_BATCH_SIZE="1")
    first = run_cli(["enqueue", str(root)], {**cluster.env, "HASHTRAIL_CELERY_BATCH_SIZE": "1"})
    assert first.returncode == 0, first.stderr
    store = Store(cluster.db, create=False)
    wait_until(lambda: store.pending_count() <= 200, "the worker to make progress", timeout=60, poll=0.02)
    victim.kill()
    assert store.pending_count() > 0, "the worker finished before it could be killed mid-job"
    cluster.start("worker", "rescuer")
    second = cluster.enqueue(root, "--wait")
    assert second.returncode == 0, second.stderr
    total, distinct, pending, ok = store.db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT path), SUM(status = 'pending'), SUM(status = 'ok') FROM media").fetchone()
    assert (total, distinct, pending, ok) == (240, 240, 0, 240)


def test_same_batch_delivered_twice_is_stored_once(cluster, photo, tmp_path, redis_server):
    root = tmp_path / "media"
    many_files(root, photo, 9)
    cluster.start("writer")
    cluster.start("worker", "only")
    assert cluster.enqueue(root, "--wait").returncode == 0
    before = snapshot(cluster.db)
    store = Store(cluster.db, create=False)
    items = [[p, str(root)] for (p,) in store.db.execute("SELECT path FROM media ORDER BY id LIMIT 3")]
    job = store.db.execute("SELECT MAX(id) FROM scans").fetchone()[0]
    stamp = store.db.execute("SELECT MAX(updated_at) FROM media").fetchone()[0]
    app = make_app(config.load({"HASHTRAIL_BROKER_URL": redis_server.url}))
    from hashtrail.pipeline.store.database import now_iso
    wait_until(lambda: now_iso() > stamp, "the clock to pass updated_at (1 s resolution)")
    from hashtrail.pipeline.media.hashing import HASHER
    meta = {"database": store.database_id, "hasher": HASHER}
    for _ in range(2):
        app.send_task("hashtrail.fingerprint", args=[items, job, meta], queue="fingerprint")
    wait_until(lambda: store.db.execute("SELECT COUNT(*) FROM media WHERE updated_at > ?",
                                        [stamp]).fetchone()[0] >= 3, "the redelivered batch to be stored")
    wait_until(lambda: broker_idle(redis_server.client), "the second copy to be stored too")
    assert snapshot(cluster.db) == before


def warm_up(cluster, photo, tmp_path, env: dict | None = None) -> None:
    """One job of one photo outside the tree under test, so the worker's pool child is warm for that tree.

    The first file a pool child reads imports what fingerprinting needs (OpenCV among them): its task
    took 50 ms on the idle machine, 70-200 ms with two CPU burners on the shared 2 cores, against the
    0.5 s per-file and 1 s per-batch limits below; a warm child takes 3-12 ms a file under that load.
    """
    save(os.path.join(str(tmp_path), "warm", "user0", "images", "5000-k.jpg"), photo(99, (96, 72)))
    result = run_cli(["enqueue", str(tmp_path / "warm"), "--wait", "--timeout", "120"], env or cluster.env)
    assert result.returncode == 0, result.stderr


def rows_under(store: Store, root) -> dict:
    """File name -> (status, reason) of the files under ``root``."""
    return {os.path.basename(p): (s, r) for p, s, r in store.db.execute(
        "SELECT path, status, reason FROM media WHERE path LIKE ?", [f"{root}{os.sep}%"])}


def test_file_that_hangs_the_decoder_hits_the_time_limit(cluster, photo, tmp_path):
    root = tmp_path / "media"
    many_files(root, photo, 4)
    many_frame_gif(root / "user0" / "images" / "9999-huge.gif")
    cluster.start("writer")
    cluster.start("worker", "timed", HASHTRAIL_FILE_TIMEOUT_S="0.5")
    warm_up(cluster, photo, tmp_path)  # the good files must not pay the child's first imports within 0.5 s
    result = cluster.enqueue(root, "--wait")
    assert result.returncode == 0, result.stderr
    store = Store(cluster.db, create=False)
    rows = rows_under(store, root)
    assert len(rows) == 5
    assert rows["9999-huge.gif"][0] == "failed" and "timed out" in rows["9999-huge.gif"][1]
    assert sum(status == "ok" for status, _ in rows.values()) == 4


def test_enqueue_without_broker_is_a_clear_error(tmp_path, photo):
    many_files(tmp_path / "m", photo, 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    env.update(HASHTRAIL_BROKER_URL="redis://127.0.0.1:1/0", HASHTRAIL_DB=str(tmp_path / "x.db"))
    result = run_cli(["enqueue", str(tmp_path / "m")], env, timeout=120)
    assert result.returncode == 1
    assert "broker" in result.stderr.lower() and "Traceback" not in result.stderr


def test_workers_read_zip_members_in_place(cluster, release, tmp_path):
    _, zips = release
    cluster.start("writer")
    cluster.start("worker", "zipper")
    assert cluster.enqueue(zips, "--wait").returncode == 0
    embedded = Store(str(tmp_path / "e.db"))
    scan([str(zips)], config.load({}).replace(db=embedded.path, workers=1), embedded)
    assert clusters_by_tail(Store(cluster.db, create=False)) == clusters_by_tail(embedded)
    assert snapshot(cluster.db) == snapshot(embedded.path)


def test_worker_on_another_host_reads_through_a_path_map(cluster, photo, tmp_path):
    """Paths recorded under one mount point, read by a worker that sees them elsewhere."""
    media = tmp_path / "media"
    many_files(media, photo, 6)
    alias = tmp_path / "mnt-on-db-host"
    os.symlink(media, alias)
    cluster.start("writer")
    first = cluster.enqueue(alias)  # no worker yet: the batches wait in Redis
    assert first.returncode == 0, first.stderr
    os.remove(alias)  # this "host" cannot see the recorded paths
    cluster.start("worker", "remote", HASHTRAIL_PATH_MAP=f"{alias}={media}")
    store = Store(cluster.db, create=False)
    wait_until(lambda: store.pending_count() == 0, "the mapped worker to finish", timeout=60)
    statuses = {p: s for p, s in store.db.execute("SELECT path, status FROM media")}
    assert len(statuses) == 6 and set(statuses.values()) == {"ok"}
    assert all(p.startswith(str(alias)) for p in statuses)


def test_batch_killed_by_the_hard_limit_is_isolated_over_resumes(cluster, photo, tmp_path):
    """The pool child is killed on every delivery of the batch: resumes isolate the culprit."""
    root = tmp_path / "media"
    many_files(root, photo, 4)
    # walked last (user0-3 hold the photos): on the resume the good files go first, all in one warm child
    os.makedirs(root / "user6" / "images")
    many_frame_gif(root / "user6" / "images" / "9999-huge.gif")
    limits = {"HASHTRAIL_BATCH_TIME_LIMIT_S": "1.0", "HASHTRAIL_FILE_TIMEOUT_S": "100",
              "HASHTRAIL_CELERY_BATCH_SIZE": "5"}
    cluster.start("writer")
    worker = cluster.start("worker", "strict", **limits)
    env = {**cluster.env, **limits}

    def killed_times() -> int:
        return open(worker.log_path, "rb").read().count(b"Hard time limit")

    def settle(kills: int, pending: int) -> None:
        """The batch was killed ``kills`` times, and every other message was stored."""
        wait_until(lambda: killed_times() >= kills, f"hard time limit kill number {kills}")
        wait_until(lambda: broker_idle(cluster.redis), "the worker and the writer to take every message")
        wait_until(lambda: store.pending_count() == pending, f"{pending} files left pending", timeout=30)

    assert run_cli(["enqueue", str(root)], env).returncode == 0
    store = Store(cluster.db, create=False)
    settle(1, pending=5)  # the whole batch is lost: its child was killed
    warm_up(cluster, photo, tmp_path, env)  # the child forked after the kill, before the good files come
    assert run_cli(["enqueue", str(root)], env).returncode == 0  # resume: one file per message
    settle(2, pending=1)  # the four good files are in
    last = run_cli(["enqueue", str(root), "--wait", "--timeout", "60"], env)
    assert last.returncode == 0, last.stderr
    assert "1 failed" in last.stdout
    rows = rows_under(store, root)
    assert len(rows) == 5
    assert rows["9999-huge.gif"][0] == "failed" and "lost twice" in rows["9999-huge.gif"][1]
    assert sum(status == "ok" for status, _ in rows.values()) == 4


def test_writer_holding_another_database_stores_nothing(cluster, photo, tmp_path):
    root = tmp_path / "media"
    many_files(root, photo, 3)
    other = str(tmp_path / "other.db")
    Store(other).close()
    Store(cluster.db).close()
    cluster.start("writer", HASHTRAIL_DB=other)  # misconfigured: not the enqueue's database
    cluster.start("worker", "w")
    result = cluster.enqueue(root, "--wait", "--timeout", "60")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"the writer holds {other}" in result.stderr and f"this command opened {cluster.db}" in result.stderr
    assert "nothing was sent" in result.stderr
    assert Store(other, create=False).db.execute("SELECT COUNT(*) FROM media").fetchone()[0] == 0
    assert Store(cluster.db, create=False).db.execute("SELECT COUNT(*) FROM scans").fetchone()[0] == 0
    assert broker_idle(cluster.redis)  # no batch was published


def test_enqueue_from_another_folder_with_a_relative_db_names_the_cause_and_the_fix(cluster, photo, tmp_path):
    """The README's "in another terminal": a new terminal opens in another folder."""
    import subprocess
    import sys

    root = tmp_path / "media"
    many_files(root, photo, 3)
    cluster.start("writer")  # HASHTRAIL_DB: the absolute cluster.db
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    env = {k: v for k, v in cluster.env.items() if k != "HASHTRAIL_DB"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "hashtrail", "enqueue", str(root), "--db",
                             os.path.basename(cluster.db), "--wait"],
                            env=env, cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60, "the mismatch was not detected at once"
    assert result.returncode == 1 and "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    assert f"the writer holds {cluster.db}" in err
    assert f"this command opened {elsewhere / os.path.basename(cluster.db)}" in err
    assert f"is relative: it was read from the current folder, {elsewhere}" in err
    assert f"--db {cluster.db}" in err and f"HASHTRAIL_DB={cluster.db}" in err
    assert "lost" not in err
    assert os.listdir(elsewhere) == []  # no stray database was created
    assert broker_idle(cluster.redis)


def test_wait_without_a_writer_says_so_and_blames_no_lost_batch(cluster, photo, tmp_path):
    root = tmp_path / "media"
    many_files(root, photo, 4)
    cluster.start("worker", "lonely")
    result = run_cli(["enqueue", str(root), "--wait", "--timeout", "6"],
                     {**cluster.env, "HASHTRAIL_STALL_WARNING_S": "2"})
    assert result.returncode == 1 and "not finished" in result.stderr
    err = " ".join(result.stderr.split())
    assert "no writer is running" in err and f"HASHTRAIL_DB={cluster.db} hashtrail writer" in err
    assert "lost" not in err  # the batches wait for the writer: nothing was lost
    store = Store(cluster.db, create=False)
    assert store.pending_count() == 4
    cluster.start("writer")  # the results waiting in Redis are stored now
    wait_until(lambda: store.pending_count() == 0, "the late writer to store the waiting results")
    assert {s for (s,) in store.db.execute("SELECT status FROM media")} == {"ok"}
