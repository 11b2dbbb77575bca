"""The writer says which database it holds, in a Redis key it keeps fresh.

``enqueue`` records a job in the database it opened and sends batches; only
the writer stores their results. If the two opened different files (a
relative ``--db`` in another folder is the usual cause), the writer can only
refuse every batch, and ``enqueue --wait`` sees no progress. With this key
``enqueue`` finds the mismatch before it sends anything and says why, and
``--wait`` can tell "no writer is running" from "a batch was lost".

The key holds the database id (``Store.database_id``) and absolute path,
host and pid; it expires ``TTL_S`` after the last refresh, so a writer that
died stops being announced within that time, and a clean stop removes it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading

import redis

from hashtrail import config
from hashtrail.pipeline.errors import HashtrailError
from hashtrail.pipeline.store import Store

KEY = "hashtrail:writer"
TTL_S = 30
REFRESH_S = 10

log = logging.getLogger(__name__)


class WriterHoldsAnotherDatabase(HashtrailError):
    """The running writer stores results in another database than this command's."""


@dataclasses.dataclass(frozen=True)
class WriterInfo:
    database_id: str
    path: str  # absolute, on the writer's host
    host: str
    pid: int

    def where(self) -> str:
        return f"{self.path} (database id {self.database_id[:8]}, writer pid {self.pid} on {self.host})"


def _client(settings: config.Settings) -> redis.Redis | None:
    """A client of the broker when it is Redis (the only broker hashtrail documents)."""
    if not settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(settings.broker_url, socket_timeout=10, socket_connect_timeout=10)


def announced(settings: config.Settings) -> WriterInfo | None:
    """The writer announced on the broker, or None (none running, or the broker is not Redis)."""
    client = _client(settings)
    if client is None:
        return None
    with client:
        raw = client.get(KEY)
    if raw is None:
        return None
    fields = json.loads(raw)
    return WriterInfo(fields["database_id"], fields["path"], fields["host"], int(fields["pid"]))


class Beacon:
    """Keeps ``KEY`` fresh from a daemon thread of the writer's main process."""

    def __init__(self, settings: config.Settings):
        store = Store(settings.db)  # the writer would create it at its first batch anyway
        try:
            self.info = WriterInfo(store.database_id, os.path.abspath(settings.db), socket.gethostname(), os.getpid())
        finally:
            store.close()
        self.client = _client(settings)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hashtrail-writer-beacon", daemon=True)

    def start(self) -> None:
        if self.client is not None:
            self.thread.start()

    def _run(self) -> None:
        payload = json.dumps(dataclasses.asdict(self.info))
        while not self.stopped.is_set():
            try:
                self.client.set(KEY, payload, ex=TTL_S)
            except redis.RedisError as exc:  # the broker is down: Celery itself reconnects; so do we
                log.warning("cannot announce the writer's database on the broker: %s", exc)
            self.stopped.wait(REFRESH_S)

    def stop(self) -> None:
        """Withdraw the announcement, if it is still this writer's."""
        if self.client is None:
            return
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(REFRESH_S)
        try:
            raw = self.client.get(KEY)
            if raw is not None and json.loads(raw)["pid"] == self.info.pid and \
                    json.loads(raw)["host"] == self.info.host:
                self.client.delete(KEY)
        except redis.RedisError:
            pass  # it expires by itself


def check_writer(settings: config.Settings, database_id: str | None = None) -> WriterInfo | None:
    """Refuse, with the cause and the fix, when the running writer holds another database.

    ``database_id`` is this command's database, when it is open already;
    otherwise the file at ``settings.db`` is looked at without creating it.
    Returns the writer (None when no writer is running).
    """
    try:
        writer = announced(settings)
    except redis.RedisError:
        return None  # the broker itself is unreachable: enqueue says so next
    if writer is None:
        return None
    path = os.path.abspath(settings.db)
    if database_id is None and os.path.exists(path):
        store = Store(path, create=False)
        try:
            database_id = store.database_id
        finally:
            store.close()
    same = database_id == writer.database_id if database_id is not None else path == writer.path
    if not same:
        relative = "" if os.path.isabs(settings.db) else (
            f" (--db {settings.db} is relative: it was read from the current folder, {os.getcwd()})")
        raise WriterHoldsAnotherDatabase(
            f"the writer holds {writer.where()}, but this command opened {path}{relative}: nothing was sent. "
            f"Pass the same absolute path to both, e.g. --db {writer.path}, or set HASHTRAIL_DB={writer.path} "
            "for the writer and for enqueue")
    return writer


def no_writer_message(settings: config.Settings) -> str:
    return (f"no writer is running (none announced itself on {settings.broker_url} in the last {TTL_S} s): "
            "the batches wait in Redis until one runs; start it with the same database: "
            f"HASHTRAIL_DB={os.path.abspath(settings.db)} hashtrail writer")
