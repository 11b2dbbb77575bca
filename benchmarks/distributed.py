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

Best of --repeat runs, alternating. Each distributed run carries about a
second of fixed cost (CLI start-up, the final re-cluster, --wait's polling),
so small --files understate the steady-state ratio.

    python benchmarks/distributed.py [--files 4000] [--repeat 2] [--workers 2] [--enqueue-files 100000]
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
from processes import CeleryProcess, RedisServer, run_cli
from speed import make_files


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = run_cli(args, env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - started


def throughput(tmp: str, files: int, workers: int, redis_url: str, repeat: int) -> tuple[float, float]:
    """Best of ``repeat`` runs of each mode, alternating, each into a fresh database.

    Workers stay up between runs (they never touch a database); each
    distributed run gets a fresh database and its own writer, started before
    the clock starts, as they are in production.
    """
    media = os.path.join(tmp, "media")
    make_files(media, files)
    base = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    base.update(HASHTRAIL_BROKER_URL=redis_url)
    worker = CeleryProcess(["worker", "-n", "bench@%h", "-c", str(workers)], base, os.path.join(tmp, "worker.log"))
    embedded = distributed = 0.0
    try:
        for run in range(repeat):
            scan_db = os.path.join(tmp, f"e{run}.db")
            embedded = max(embedded, files / timed(["scan", media, "--workers", str(workers), "--db", scan_db], base))
            env = {**base, "HASHTRAIL_DB": os.path.join(tmp, f"d{run}.db")}
            writer = CeleryProcess(["writer"], env, os.path.join(tmp, f"writer{run}.log"))
            try:
                distributed = max(distributed, files / timed(["enqueue", media, "--wait"], env))
            finally:
                writer.stop()
    finally:
        worker.stop()
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
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--enqueue-files", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(tmp)
        try:
            embedded, distributed = throughput(tmp, args.files, args.workers, redis.url, args.repeat)
            redis.client.flushall()
            rate = enqueue_rate(tmp, args.enqueue_files, redis.url)
        finally:
            redis.stop()
    print(f"| mode ({args.files} JPEGs, {args.workers} worker processes, best of {args.repeat}) | files/s |")
    print("|---|---|")
    print(f"| hashtrail scan --workers {args.workers} | {embedded:.0f} |")
    print(f"| hashtrail enqueue --wait, 1 worker -c {args.workers} + writer | {distributed:.0f} |")
    print(f"| enqueue alone ({args.enqueue_files} files: walk, record, publish) | {rate:.0f} |")
    print(f"distributed: ratio={distributed / embedded:.2f} (target >= 0.90) enqueue_rate={rate:.0f}/s "
          f"(target >= 20000)")


if __name__ == "__main__":
    main()
