"""Thin tasks: unpack the message, call ``pipeline``, pass the result on.

``fingerprint`` runs on any host and never touches the database: it sends its
results to the ``store`` queue, which exactly one writer consumes. Messages
carry paths and plain dicts only.
"""
from __future__ import annotations

import functools

from kombu.exceptions import OperationalError

import config
from pipeline.fingerprint import fingerprint_batch
from pipeline.scan import finish_if_complete
from pipeline.store import Store, StoreBusy

from .app import app


@functools.lru_cache(maxsize=1)
def _settings() -> config.Settings:
    return config.load()


@functools.lru_cache(maxsize=1)
def _writer_store() -> Store:
    """The writer's one connection, opened on its first message."""
    return Store(_settings().db)


@app.task(name="hashtrail.fingerprint", bind=True, autoretry_for=(OperationalError,),
          retry_backoff=True, retry_backoff_max=120, max_retries=8)
def fingerprint(self, items: list[list[str]], job_id: int) -> None:
    """Fingerprint a batch of [path, root] and send the results to the writer."""
    results = fingerprint_batch([(path, root) for path, root in items], _settings())
    for result in results:
        result["worker"] = self.request.hostname
    store.apply_async(args=[results, job_id])


@app.task(name="hashtrail.store", bind=True, autoretry_for=(StoreBusy,),
          retry_backoff=True, retry_backoff_max=60, max_retries=20)
def store(self, results: list[dict], job_id: int) -> None:
    """Write one batch of results (idempotent: a redelivered batch changes nothing)."""
    writer = _writer_store()
    writer.save(results)
    finish_if_complete(writer, _settings())
