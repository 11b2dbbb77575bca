"""The Celery app. Every delivery setting is here, and each has a reason.

- JSON only, in and out: a broker message must never be able to run code
  (pickle could).
- Late acks + prefetch 1: a batch is acknowledged after it is processed, and
  a worker holds one batch at a time, so a lost host loses at most what it
  was working on, and Redis redelivers it after ``visibility_timeout``.
- ``task_reject_on_worker_lost`` stays False: a file that kills its pool
  child would otherwise be redelivered forever (celery#9082). The batch is
  acked instead, its files stay ``pending``, and the next ``enqueue`` re-sends
  them.
- Hard time limit per fingerprint batch (not for the writer, which
  re-clusters); the per-file limit (``file_timeout_s``) fires first inside
  the task, so normally only the hung file fails. A batch killed anyway
  stays pending; the next ``enqueue`` re-sends its files one by one and
  records a file that is lost twice as failed.
- The visibility timeout is checked (config) to exceed 2 x the batch limit,
  or long batches are delivered twice (celery#5935).
- No result backend: progress is read from SQLite, not from Celery.
- kombu looks for messages past their visibility timeout every
  ``unacked_restore_interval`` x ``unacked_restore_throttle`` seconds (100 by
  default); here every tenth of the visibility timeout (1-60 s), so the
  batches of a lost host come back soon after it expires, not minutes later.
- Socket timeouts on every Redis connection (kombu's default is none: a
  publish to a broker that vanished without closing the connection waits
  forever). Workers and the writer retry the broker forever: after a Redis
  restart they come back by themselves instead of exiting after 100 tries.
"""
from __future__ import annotations

import math

from celery import Celery

from hashtrail import config
from hashtrail.workers import kombu_guard

kombu_guard.install()  # a worker must survive Redis dying while it holds batches (see kombu_guard)

FINGERPRINT_QUEUE = "fingerprint"
STORE_QUEUE = "store"


def make_app(settings: config.Settings | None = None) -> Celery:
    settings = settings or config.load()
    restore_every = max(1, min(60, math.ceil(settings.visibility_timeout_s / 10)))
    app = Celery("hashtrail", broker=settings.broker_url, include=["hashtrail.workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        task_annotations={"hashtrail.fingerprint": {"time_limit": settings.batch_time_limit_s}},
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s,
                                  "unacked_restore_interval": restore_every, "unacked_restore_throttle": 1,
                                  "socket_timeout": 30, "socket_connect_timeout": 10},
        broker_connection_max_retries=None,
        task_routes={"hashtrail.fingerprint": {"queue": FINGERPRINT_QUEUE},
                     "hashtrail.store": {"queue": STORE_QUEUE}},
        task_default_queue=FINGERPRINT_QUEUE,
        worker_max_tasks_per_child=200,  # decoders can leak: recycle pool children
        worker_max_memory_per_child=1_500_000,  # KiB
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app()
