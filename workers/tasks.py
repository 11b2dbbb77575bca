"""Thin tasks: unpack the message, call ``pipeline``, pass the result on.

``fingerprint`` runs on any host and never touches the database: it sends its
results to the ``store`` queue, which exactly one writer consumes. Messages
carry paths, plain dicts and two checks: the id of the database the job was
recorded in (a writer holding another file refuses the results instead of
storing them in the wrong place) and the hasher (a worker with another
imagehash or hashtrail version refuses the batch instead of mixing
incomparable hashes into the clusters).
"""
from __future__ import annotations

import functools
import os

from celery.utils.log import get_task_logger
from kombu.exceptions import OperationalError

from hashtrail import config
from hashtrail.pipeline.archive.path_map import PathMap
from hashtrail.pipeline.errors import HashtrailError
from hashtrail.pipeline.media.fingerprint import fingerprint_batch
from hashtrail.pipeline.media.hashing import HASHER
from hashtrail.pipeline.scan import finish_if_complete
from hashtrail.pipeline.store import DatabaseUnavailable, DiskFull, Store, StoreBusy
from hashtrail.workers.app import app

log = get_task_logger(__name__)


class WrongHost(HashtrailError):
    """This worker cannot take the batch (another hasher, or the media is not mounted here)."""


class WrongDatabase(HashtrailError):
    """The writer holds another database than the one the job was recorded in."""


@functools.lru_cache(maxsize=1)
def _settings() -> config.Settings:
    return config.load()


@functools.lru_cache(maxsize=1)
def _writer_store() -> Store:
    """The writer's one connection, opened on its first message."""
    return Store(_settings().db)


def _check_host(items: list[list[str]], meta: dict) -> None:
    if meta.get("hasher") != HASHER:
        raise WrongHost(f"batch hashed with {meta.get('hasher')!r}, this worker has {HASHER!r}: "
                        "install the same hashtrail and imagehash versions everywhere")
    local = PathMap.parse(_settings().path_map)
    for root in {root for _, root in items}:
        if not os.path.isdir(local.to_local(root)):
            raise WrongHost(f"{local.to_local(root)} (recorded as {root}) is not a directory on this host: "
                            "mount the media or set HASHTRAIL_PATH_MAP")


@app.task(name="hashtrail.fingerprint", bind=True, autoretry_for=(OperationalError, WrongHost),
          retry_backoff=5, retry_backoff_max=300, max_retries=12)
def fingerprint(self, items: list[list[str]], job_id: int, meta: dict) -> None:
    """Fingerprint a batch of [path, root] and send the results to the writer."""
    try:
        _check_host(items, meta)
    except WrongHost as exc:
        log.error("refusing batch of job %s: %s", job_id, exc)
        raise  # retried later, by whichever worker takes it then
    results = fingerprint_batch([(path, root) for path, root in items], _settings())
    for result in results:
        result["worker"] = self.request.hostname
    store.apply_async(args=[results, job_id, meta])


# No time limit: the writer re-clusters the archive when a job ends. Not acked
# on failure: a database error leaves the batch in Redis to be redelivered.
@app.task(name="hashtrail.store", bind=True, autoretry_for=(StoreBusy, WrongDatabase, DatabaseUnavailable, DiskFull),
          retry_backoff=5, retry_backoff_max=300, max_retries=None, time_limit=None, soft_time_limit=None,
          acks_on_failure_or_timeout=False)
def store(self, results: list[dict], job_id: int, meta: dict) -> None:
    """Write one batch of results (idempotent: a redelivered batch changes nothing)."""
    writer = _writer_store()
    if meta.get("database") != writer.database_id:
        log.error("results of job %s belong to database %s, this writer holds %s (%s): not stored",
                  job_id, meta.get("database"), writer.database_id, writer.path)
        raise WrongDatabase(f"this writer holds {writer.path}, not the job's database")
    writer.save_results(results)
    finish_if_complete(writer, _settings())


# -- the distributed join (workers/join.py coordinates it) ----------------------------------------------------
_joined_columns: dict[str, object] = {}  # job -> its columns: a worker process fetches them once per job


def _join_columns(client, job: str):
    from hashtrail.workers.join import fetch_columns

    if job not in _joined_columns:
        _joined_columns.clear()  # one job's columns at a time (hundreds of MB at archive scale)
        columns = fetch_columns(client, job)
        if columns is None:
            return None
        _joined_columns[job] = columns
    return _joined_columns[job]


def _share_cores() -> None:
    """Each of the host's pool processes may run a shard at once: numba gets cores / processes threads each."""
    import numba

    processes = max(1, int(os.environ.get("HASHTRAIL_POOL_PROCESSES", "1")))
    numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS // processes))


@app.task(name="hashtrail.join_shard", bind=True, autoretry_for=(OperationalError,), retry_backoff=5,
          retry_backoff_max=60, max_retries=12)
def join_shard(self, job: str, k: int, n: int, rule: dict) -> None:
    """Shard k of n of a clustering's row join; its pairs go to Redis (idempotent: a redelivery rewrites them)."""
    import json
    import resource
    import time

    from hashtrail.pipeline.index import shards
    from hashtrail.workers.app import FINGERPRINT_QUEUE
    from hashtrail.workers.join import KEY_TTL_S, client_for, key

    client = client_for(_settings())
    _share_cores()
    started = time.perf_counter()
    fp = _join_columns(client, job)
    if fp is None:
        log.warning("join %s is gone (done, given up or expired): shard %s of %s dropped", job, k, n)
        return
    fetched = time.perf_counter()
    i, j = shards.shard_rows(fp, shards.thresholds_of(rule), (k, n))
    joined = time.perf_counter()
    blob = shards.pack_pairs(i, j)
    client.set(key(job, "pairs", k), blob, ex=KEY_TTL_S)
    client.set(key(job, "took", k), json.dumps({  # written last: the coordinator counts a shard done by it
        "worker": self.request.hostname, "fetch_s": fetched - started, "join_s": joined - fetched,
        "pack_s": time.perf_counter() - joined, "pairs": int(len(i)), "bytes": len(blob),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), ex=KEY_TTL_S)
    if not any(job.encode() in m for m in client.lrange(FINGERPRINT_QUEUE, 0, -1)):
        _joined_columns.clear()  # no more shards of this job waiting: do not sit on its columns
