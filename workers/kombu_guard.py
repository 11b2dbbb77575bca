"""A guard on kombu's Redis transport: a worker must survive Redis dying under it.

When a worker loses Redis while it holds unacknowledged batches, Celery
closes the connection, and kombu's channel tries to give those batches back
to their queue (``QoS.restore_unacked``). Redis being gone, that needs a new
client, and when the connection was already torn down kombu (5.7) builds it
from ``connection.client``, which is None by then: ``AttributeError:
'NoneType' object has no attribute 'hostname'``. Celery takes that for an
unrecoverable error and the worker process shuts down, so after a Redis
restart no worker is left and the job stops (seen here in about one Redis
kill in six; the cause of an ``enqueue --wait`` that never returned).

Giving the batches back is only a shortcut: they are still in Redis's
``unacked`` hash, and Redis redelivers them after ``visibility_timeout_s``.
So a restore that cannot run is logged and skipped, and the worker
reconnects as Celery intends. Applied once, when ``workers.app`` is imported.

The same torn-down channel breaks the acknowledgement of a batch that
finishes just after Redis died: ``QoS.ack`` (and ``reject``) build a client
from ``connection.client`` too, and the ``AttributeError`` escapes kombu's
``ack_log_error``, which catches connection errors only (seen once in a
fresh-clone CI run of ``test_redis_killed_and_restarted_mid_job_every_file_once``).
An acknowledgement that cannot reach Redis leaves the batch in its
``unacked`` hash: Redis redelivers it after the visibility timeout and the
writer stores it once (stores are idempotent). So it is logged and the tag
dropped locally, and the worker goes on. Only a channel whose connection is
gone is guarded: any other ``AttributeError`` is a bug and is raised.
"""
from __future__ import annotations

import functools
import logging

import redis
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)


def _guarded(restore_unacked):
    @functools.wraps(restore_unacked)
    def restore(self, client=None):
        try:
            return restore_unacked(self, client)
        except (AttributeError, redis.RedisError, OSError) as exc:
            log.warning("could not give %d unacknowledged batch(es) back to Redis after losing it (%s: %s): "
                        "Redis redelivers them after the visibility timeout", len(self._delivered),
                        type(exc).__name__, exc)
            self._delivered.clear()  # kombu would try again at shutdown, with the same result
            return None

    restore._hashtrail_guarded = True
    return restore


def _torn_down(qos) -> bool:
    return getattr(qos.channel, "connection", None) is None


def _guarded_ack(settle, verb: str):
    @functools.wraps(settle)
    def guarded(self, delivery_tag, *args, **kwargs):
        try:
            return settle(self, delivery_tag, *args, **kwargs)
        except AttributeError as exc:
            if not _torn_down(self):
                raise
            log.warning("could not %s batch %s: Redis was lost under it (%s); it stays unacknowledged in Redis, "
                        "which redelivers it after the visibility timeout", verb, delivery_tag, exc)
            self._quick_ack(delivery_tag)  # settled here: the channel forgets it, Redis keeps it
            return None

    guarded._hashtrail_guarded = True
    return guarded


def install() -> None:
    qos = kombu_redis.QoS
    if not getattr(qos.restore_unacked, "_hashtrail_guarded", False):
        qos.restore_unacked = _guarded(qos.restore_unacked)
    if not getattr(qos.ack, "_hashtrail_guarded", False):
        qos.ack = _guarded_ack(qos.ack, "acknowledge")
    if not getattr(qos.reject, "_hashtrail_guarded", False):
        qos.reject = _guarded_ack(qos.reject, "reject")
