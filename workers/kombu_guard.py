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


def install() -> None:
    qos = kombu_redis.QoS
    if not getattr(qos.restore_unacked, "_hashtrail_guarded", False):
        qos.restore_unacked = _guarded(qos.restore_unacked)
