"""Distributed mode against the embedded scan, and the enqueue rate, in one run.

1. Throughput: the same JPEGs (benchmarks/speed.py's) fingerprinted by
   ``hashtrail scan --workers N`` and by ``hashtrail enqueue --wait`` with one
   Celery worker of N processes plus the writer, against a redis-server
   started here. Workers are started (and warm) before the clock starts,
   as they are in production; the time is enqueue to "every file stored
   and clustered". Target: distributed >= 90% of embedded.
2. Enqueue rate: ``hashtrail enqueue`` of an N-file tree (empty files: only
   walking, recording and publishing count) with no workers running.
   Target: >= 20,000 files/s.

    python benchmarks/distributed.py [--files 2000] [--workers 2] [--enqueue-files 100000]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests")]
from processes import CeleryProcess, RedisServer, run_cli  # noqa: E402
from speed import make_files  # noqa: E402


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = run_cli(args, env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - started


def throughput(tmp: str, files: int, workers: int, redis_url: str) -> tuple[float, float]:
    media = os.path.join(tmp, "media")
    make_files(media, files)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    embedded = files / timed(["scan", media, "--workers", str(workers), "--db", os.path.join(tmp, "e.db")], env)
    env.update(HASHTRAIL_BROKER_URL=redis_url, HASHTRAIL_DB=os.path.join(tmp, "d.db"))
    writer = CeleryProcess(["writer"], env, os.path.join(tmp, "writer.log"))
    worker = CeleryProcess(["worker", "-n", "bench@%h", "-c", str(workers)], env,
                           os.path.join(tmp, "worker.log"))
    try:
        distributed = files / timed(["enqueue", media, "--wait"], env)
    finally:
        worker.stop()
        writer.stop()
    return embedded, distributed


def enqueue_rate(tmp: str, files: int, redis_url: str) -> float:
    tree = os.path.join(tmp, "tree")
    for i in range(files):
        folder = os.path.join(tree, f"user{i % 3000:04d}", "images")
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, f"{10**17 + i}-k.jpg"), "wb").close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    env.update(HASHTRAIL_BROKER_URL=redis_url, HASHTRAIL_DB=os.path.join(tmp, "q.db"),
               HASHTRAIL_MAX_QUEUED_BATCHES=str(files))  # no workers here: do not wait for the queue to drain
    result = run_cli(["enqueue", tree], env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    seconds = float(re.search(r"in ([\d.]+) s", result.stdout).group(1))
    return files / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--enqueue-files", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(tmp)
        try:
            embedded, distributed = throughput(tmp, args.files, args.workers, redis.url)
            redis.client.flushall()
            rate = enqueue_rate(tmp, args.enqueue_files, redis.url)
        finally:
            redis.stop()
    print(f"| mode ({args.files} JPEGs, {args.workers} worker processes) | files/s |")
    print("|---|---|")
    print(f"| hashtrail scan --workers {args.workers} | {embedded:.0f} |")
    print(f"| hashtrail enqueue --wait, 1 worker -c {args.workers} + writer | {distributed:.0f} |")
    print(f"| enqueue alone ({args.enqueue_files} files: walk, record, publish) | {rate:.0f} |")
    print(f"distributed: ratio={distributed / embedded:.2f} (target >= 0.90) enqueue_rate={rate:.0f}/s "
          f"(target >= 20000)")


if __name__ == "__main__":
    main()
