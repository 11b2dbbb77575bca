"""The row join of a full clustering, spread over the fingerprint workers (``hashtrail cluster --distributed``).

The process that runs it (on the database host, where the writer runs) is
the coordinator: it reads the fingerprint columns, publishes them to Redis
once per job, sends one ``hashtrail.join_shard`` task per shard to the
``fingerprint`` queue (pipeline/index/shards.py: shard k of n of the
multi-index join's work items), waits for the shards' row pairs and hands
their union to the same clustering code the local join feeds
(``cluster.cluster_with_details(..., rows_join=...)``), so the clusters are
the local ones: only where the row pairs are computed changes.

Why Redis for the columns: workers on other hosts never open the database
(SQLite stays on the writer's local disk), and the broker is the one
service every worker already reaches. The columns are ~50-75 bytes a row
(hashes are random bits and do not compress): 2M media, ~5.5M rows, is
~300-400 MB, split into keys of ``PART_BYTES`` (Redis refuses strings over
512 MB) and deleted when the join ends (they also expire). Each worker
process fetches them once per job and keeps them for its next shard.

Results come back as Redis keys too (one per shard, written before the
task is acknowledged): a redelivered shard rewrites the same bytes, so
late acks and redelivery are safe, and the coordinator reads each shard
once. A shard is lost when its worker's pool child died (Celery then acks
it, ``task_reject_on_worker_lost`` is False): it is neither queued nor
held unacknowledged nor done. The coordinator sends such a shard again,
once; a shard lost twice is an error (something kills the worker joining
it: memory, most likely). A host lost mid-shard leaves its message
unacknowledged and Redis redelivers it after ``visibility_timeout_s``;
``timeout_s`` bounds the whole wait. Nothing is written to the database
until every shard is in: an interrupted distributed join leaves the old
clusters as they were.
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid
from typing import Callable

import numpy as np
import redis

from hashtrail import config
from hashtrail.pipeline.errors import HashtrailError
from hashtrail.pipeline.index import shards
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, matching_rows
from hashtrail.pipeline.scan import Reclustered, update_clusters
from hashtrail.pipeline.store import Store
from hashtrail.workers.app import FINGERPRINT_QUEUE, make_app

PART_BYTES = 64 << 20  # one Redis string per 64 MB of columns (Redis's limit is 512 MB)
KEY_TTL_S = 24 * 3600  # what a crashed coordinator leaves behind expires
PREFIX = "hashtrail:join"


class JoinUnavailable(HashtrailError):
    """The distributed join cannot run: no Redis broker, or no fingerprint worker answers."""


class JoinTimeout(HashtrailError):
    """The shards were not all done within --timeout seconds."""


class ShardLost(HashtrailError):
    """A shard was lost twice: the worker process joining it died both times."""


def key(job: str, *parts) -> str:
    return ":".join([PREFIX, job, *map(str, parts)])


def client_for(settings: config.Settings) -> redis.Redis:
    if not settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        raise JoinUnavailable(f"the distributed join needs a Redis broker, not {settings.broker_url!r}")
    return redis.Redis.from_url(settings.broker_url, socket_timeout=60, socket_connect_timeout=10)


def fetch_columns(client: redis.Redis, job: str) -> Fingerprints | None:
    """The job's columns from Redis, or None when the job is gone (finished, given up or expired)."""
    raw = client.get(key(job, "meta"))
    if raw is None:
        return None
    meta = json.loads(raw)
    parts = client.mget([key(job, "columns", p) for p in range(meta["parts"])])
    if any(p is None for p in parts):
        return None
    blob = b"".join(parts)
    if len(blob) != meta["bytes"]:
        raise shards.BadShard(f"columns of join {job}: {len(blob)} bytes, expected {meta['bytes']}")
    return shards.unpack_columns(blob)


def worker_processes(app, timeout_s: float = 1.0) -> int:
    """Pool processes of the workers consuming the fingerprint queue (Celery's remote control)."""
    inspect = app.control.inspect(timeout=timeout_s)
    queues = inspect.active_queues() or {}
    stats = inspect.stats() or {}
    return sum(int(stats.get(name, {}).get("pool", {}).get("max-concurrency", 1))
               for name, qs in queues.items() if any(q.get("name") == FINGERPRINT_QUEUE for q in qs))


@dataclasses.dataclass
class Timings:
    """Where a distributed join's time went (the terms of the README's model), seconds."""

    rows: int = 0
    shards: int = 0
    pack_s: float = 0.0  # columns to bytes
    publish_s: float = 0.0  # bytes into Redis
    column_bytes: int = 0
    wait_s: float = 0.0  # first task sent to last shard in: workers fetch, unpack, join
    collect_s: float = 0.0  # shards' pairs out of Redis and unpacked
    pair_bytes: int = 0
    pairs: int = 0
    per_shard: list = dataclasses.field(default_factory=list)  # what each task reported
    resent: int = 0


class DistributedJoin:
    """A ``rows_join`` for ``cluster_with_details``: ``matching_rows`` computed by the workers, shard by shard."""

    def __init__(self, settings: config.Settings, shard_count: int | None = None, timeout_s: float | None = None,
                 poll_s: float = 0.1, warn: Callable[[str], None] = lambda message: None,
                 progress: Callable[[int, int], None] = lambda done, total: None):
        self.settings, self.shard_count, self.timeout_s = settings, shard_count, timeout_s
        self.poll_s, self.warn, self.progress = poll_s, warn, progress
        self.timings = Timings()
        self.app = make_app(settings)  # this broker, whatever the environment says

    def __call__(self, fp: Fingerprints, t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
        if len(fp.media_id) == 0:
            return matching_rows(fp, t)
        client = client_for(self.settings)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise JoinUnavailable(f"cannot reach the broker at {self.settings.broker_url} ({exc}): start Redis "
                                  "(see README 'Scaling out') or set HASHTRAIL_BROKER_URL") from None
        # a loaded host may answer the broadcast after a second: ask once more, longer, before saying there is none
        n = self.shard_count or worker_processes(self.app) or worker_processes(self.app, timeout_s=5.0)
        if n < 1:
            raise JoinUnavailable("no worker consumes the fingerprint queue: start 'hashtrail worker' "
                                  "(on any host reaching HASHTRAIL_BROKER_URL), or cluster without --distributed")
        job = uuid.uuid4().hex
        timings = self.timings = Timings(rows=len(fp.media_id), shards=n)
        try:
            self._publish(client, job, fp, timings)
            sent = time.perf_counter()
            self._send(job, range(n), n, t)
            self.progress(0, n)
            self._wait(client, job, n, t, timings)
            timings.wait_s = time.perf_counter() - sent
            return self._collect(client, job, n, timings)
        finally:
            client.delete(*[key(job, name) for name in ("meta",)],
                          *[key(job, "columns", p) for p in range(-(-timings.column_bytes // PART_BYTES) or 1)],
                          *[key(job, what, k) for k in range(n) for what in ("pairs", "took")])

    def _publish(self, client: redis.Redis, job: str, fp: Fingerprints, timings: Timings) -> None:
        started = time.perf_counter()
        blob = shards.pack_columns(fp)
        timings.pack_s, timings.column_bytes = time.perf_counter() - started, len(blob)
        started = time.perf_counter()
        parts = [blob[at:at + PART_BYTES] for at in range(0, len(blob), PART_BYTES)]
        for p, part in enumerate(parts):  # one command per part: a 400 MB pipeline would sit in memory twice
            client.set(key(job, "columns", p), part, ex=KEY_TTL_S)
        client.set(key(job, "meta"), json.dumps({"parts": len(parts), "bytes": len(blob), "rows": timings.rows}),
                   ex=KEY_TTL_S)
        timings.publish_s = time.perf_counter() - started

    def _send(self, job: str, ks, n: int, t: Thresholds) -> None:
        rule = shards.thresholds_dict(t)
        for k in ks:  # workers/tasks.py join_shard, on the fingerprint queue
            self.app.send_task("hashtrail.join_shard", args=[job, k, n, rule], queue=FINGERPRINT_QUEUE,
                               task_id=f"hashtrail-join-{job}-{k}-{uuid.uuid4().hex[:8]}")

    def _wait(self, client: redis.Redis, job: str, n: int, t: Thresholds, timings: Timings) -> None:
        started = last_change = time.monotonic()
        done: set[int] = set()
        lost_once: set[int] = set()
        suspect: dict[int, int] = {}  # shard -> consecutive looks that found it nowhere
        last_look, warned = 0.0, False
        while len(done) < n:
            flags = client.mget([key(job, "took", k) for k in range(n)])
            now_done = {k for k, f in enumerate(flags) if f is not None}
            now = time.monotonic()
            if now_done - done:
                self.progress(len(now_done), n)
                done, last_change = now_done, now
            if len(done) == n:
                break
            if now - last_look > 2:  # is any missing shard nowhere (its pool child died)?
                last_look = now
                held = _held_task_ids(client)
                for k in set(range(n)) - done:
                    if any(f"hashtrail-join-{job}-{k}-" in h for h in held):
                        suspect.pop(k, None)
                        continue
                    suspect[k] = suspect.get(k, 0) + 1
                    if suspect[k] < 2:  # taken off the queue but not yet in unacked: look again first
                        continue
                    if client.exists(key(job, "took", k)):
                        continue
                    if k in lost_once:
                        raise ShardLost(f"shard {k} of {n} was lost twice: the worker process joining it died "
                                        "(memory? each worker process holds all columns and its shard's index)")
                    lost_once.add(k)
                    suspect.pop(k)
                    timings.resent += 1
                    self.warn(f"shard {k} of {n} was lost (its worker process died): sent again")
                    self._send(job, [k], n, t)
            if not warned and now - last_change > self.settings.stall_warning_s:
                warned = True
                self.warn(f"no shard finished for {self.settings.stall_warning_s:.0f} s: {n - len(done)} of {n} "
                          "shards left; are the fingerprint workers busy with a scan, or gone? "
                          "(a lost host's shard comes back after visibility_timeout_s)")
            if self.timeout_s is not None and now - started > self.timeout_s:
                raise JoinTimeout(f"distributed join not done after {self.timeout_s:g} s: {n - len(done)} of {n} "
                                  "shards left; the clusters were not changed")
            time.sleep(self.poll_s)

    def _collect(self, client: redis.Redis, job: str, n: int, timings: Timings) -> tuple[np.ndarray, np.ndarray]:
        started = time.perf_counter()
        found_i, found_j = [], []
        for k in range(n):
            blob = client.get(key(job, "pairs", k))
            if blob is None:
                raise JoinUnavailable(f"shard {k} of join {job} reported done but its pairs are gone (Redis restarted?)")
            timings.pair_bytes += len(blob)
            i, j = shards.unpack_pairs(blob)
            found_i.append(i)
            found_j.append(j)
            timings.per_shard.append(json.loads(client.get(key(job, "took", k)) or "{}"))
        i, j = np.concatenate(found_i), np.concatenate(found_j)
        timings.pairs = len(i)
        timings.collect_s = time.perf_counter() - started
        return i, j


def _held_task_ids(client: redis.Redis) -> list[str]:
    """Raw messages queued on, or delivered but unacknowledged from, the broker (kombu's Redis layout)."""
    queued = client.lrange(FINGERPRINT_QUEUE, 0, -1)
    unacked = client.hvals("unacked")
    return [m.decode("utf-8", "replace") for m in (*queued, *unacked)]


def cluster_distributed(store: Store, settings: config.Settings, rebuild: bool = False,
                        shard_count: int | None = None, timeout_s: float | None = None,
                        warn: Callable[[str], None] = lambda message: None,
                        progress: Callable[[int, int], None] = lambda done, total: None
                        ) -> tuple[Reclustered, Timings | None]:
    """``update_clusters`` with a rebuild's row join spread over the workers.

    An incremental update (new rows against all rows) stays local: it is
    proportional to the new rows and takes seconds. Returns how the clusters
    were updated and, when the join was distributed, where its time went.
    """
    join = DistributedJoin(settings, shard_count, timeout_s, warn=warn, progress=progress)
    done = update_clusters(store, settings, rebuild=rebuild, rows_join=join)
    return done, (join.timings if join.timings.shards else None)
