"""Soak: a distributed job through faults, against the embedded scan of the same archive.

A generated archive (--files small JPEGs, one in ten a repost of an earlier
picture, resized, so there are clusters to get right) is scanned twice:

1. ``hashtrail scan --workers 2`` (the baseline, timed);
2. ``hashtrail enqueue --wait`` with a writer and two workers (``-c 1`` each)
   on a redis-server with ``appendonly yes``, while one worker is SIGKILLed
   with all its processes every --kill-every seconds (a host lost, then
   replaced) and Redis is SIGKILLed once, at --redis-kill-at of the job, and
   restarted on the same port and folder. A short visibility timeout
   (--visibility) brings the batches of the killed workers back.

If the waiting enqueue gives up, the same enqueue is run again (the resume a
user runs) and counted. The final media rows, fingerprints, clusters and
frame matches must equal the embedded scan's, every file exactly once, and
``PRAGMA integrity_check`` must pass.

    python benchmarks/soak.py [--files 20000] [--kill-every 20] [--redis-kill-at 0.4] [--visibility 20]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests")]
from processes import REPO, CeleryProcess, RedisServer, run_cli  # noqa: E402


def make_archive(root: str, files: int) -> None:
    from PIL import Image

    from hashtrail.pipeline.demo import synthetic_photo

    for i in range(files):
        path = os.path.join(root, f"part{i // 5000}", f"user{i % 97}", "images", f"{10 ** 6 + i}-k{i}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        picture = synthetic_photo(i - i % 10 if i % 10 == 9 else i, (128, 96))
        if i % 10 == 9:  # a repost of the picture nine files back, resized
            picture = picture.resize((112, 84), Image.BILINEAR)
        picture.save(path, "JPEG", quality=85)


def count_ok(db: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute("SELECT COUNT(*) FROM media WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def soak(tmp: str, media: str, files: int, kill_every: float, redis_kill_at: float, visibility: float) -> dict:
    os.makedirs(os.path.join(tmp, "redis"), exist_ok=True)
    redis = RedisServer(os.path.join(tmp, "redis"), "appendonly")
    db = os.path.join(tmp, "soak.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    env.update(HASHTRAIL_BROKER_URL=redis.url, HASHTRAIL_DB=db, HASHTRAIL_VISIBILITY_TIMEOUT_S=str(visibility),
               HASHTRAIL_BATCH_TIME_LIMIT_S=str(visibility / 2 - 1))
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    started_processes: list[CeleryProcess] = []

    def start(args: list[str], name: str) -> CeleryProcess:
        process = CeleryProcess(args, env, os.path.join(logs, f"{name}-{len(started_processes)}.log"))
        started_processes.append(process)
        return process

    writer = start(["writer"], "writer")
    workers = {name: start(["worker", "-n", f"{name}@%h", "-c", "1"], name) for name in ("a", "b")}
    figures = {"worker_kills": 0, "redis_kills": 0, "resumes": 0}
    try:
        began = time.monotonic()
        job = subprocess.Popen([sys.executable, "-m", "hashtrail", "enqueue", media, "--wait", "--timeout", "1800"],
                               env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        next_kill, victim = began + kill_every, "a"
        while job.poll() is None:
            now = time.monotonic()
            if now >= next_kill:
                workers[victim].kill()  # the host is gone with every process of it
                workers[victim] = start(["worker", "-n", f"{victim}@%h", "-c", "1"], victim)  # its replacement
                figures["worker_kills"] += 1
                victim = "b" if victim == "a" else "a"
                next_kill = time.monotonic() + kill_every
            if not figures["redis_kills"] and count_ok(db) >= redis_kill_at * files:
                redis.kill()
                time.sleep(1)
                redis.restart()
                figures["redis_kills"] += 1
                figures["redis_killed_at_s"] = round(time.monotonic() - began, 1)
            time.sleep(0.2)
        out, err = job.communicate()
        while job.returncode != 0 and figures["resumes"] < 3:  # the resume a user runs
            print(f"enqueue --wait exited {job.returncode}: {err.strip()[-500:]}", file=sys.stderr)
            figures["resumes"] += 1
            job = subprocess.run([sys.executable, "-m", "hashtrail", "enqueue", media, "--wait", "--timeout", "900"],
                                 env=env, cwd=REPO, capture_output=True, text=True)
            err = job.stderr
        if job.returncode != 0:
            raise SystemExit(f"the job did not finish: {err}")
        figures["distributed_s"] = round(time.monotonic() - began, 1)
    finally:
        for process in started_processes:
            process.stop()
        redis.stop()
    del writer
    return figures


def check(db: str, files: int) -> dict:
    with sqlite3.connect(db) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        total, distinct, ok = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT path), SUM(status = 'ok') FROM media").fetchone()
        doubled = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM fingerprints GROUP BY media_id, variant, "
                               "time_s HAVING COUNT(*) > 1)").fetchone()[0]
        clusters = conn.execute("SELECT COUNT(DISTINCT cluster_id) FROM clusters").fetchone()[0]
    return {"integrity": integrity, "rows": total, "distinct_paths": distinct, "ok": ok,
            "duplicate_fingerprints": doubled, "clusters": clusters, "files": files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--kill-every", type=float, default=20.0)
    parser.add_argument("--redis-kill-at", type=float, default=0.4)
    parser.add_argument("--visibility", type=float, default=20.0)
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    tmp = args.dir or tempfile.mkdtemp(prefix="hashtrail-soak-")
    media = os.path.join(tmp, "media")
    if not os.path.isdir(media):
        made = time.monotonic()
        make_archive(media, args.files)
        print(f"archive of {args.files:,} files made in {time.monotonic() - made:.0f} s", flush=True)
    embedded_db = os.path.join(tmp, "embedded.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    began = time.monotonic()
    result = run_cli(["scan", media, "--db", embedded_db, "--workers", "2"], env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    embedded_s = time.monotonic() - began
    figures = soak(tmp, media, args.files, args.kill_every, args.redis_kill_at, args.visibility)

    from test_distributed import snapshot

    distributed_db = os.path.join(tmp, "soak.db")
    equal = snapshot(distributed_db) == snapshot(embedded_db)
    print(f"embedded scan --workers 2: {embedded_s:.1f} s ({args.files / embedded_s:,.0f} files/s)")
    print(f"distributed, 2 workers -c 1, faults: {figures['distributed_s']:.1f} s "
          f"({args.files / figures['distributed_s']:,.0f} files/s); {figures['worker_kills']} worker kills "
          f"(every {args.kill_every:g} s), {figures['redis_kills']} Redis kill at "
          f"{figures.get('redis_killed_at_s')} s, {figures['resumes']} resumes")
    print("distributed:", check(distributed_db, args.files))
    print("embedded:   ", check(embedded_db, args.files))
    print(f"rows, fingerprints, clusters and frame matches equal to the embedded scan's: {equal}")
    if not equal:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
