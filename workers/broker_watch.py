"""What the broker can tell about a job that does not move, asked with short timeouts.

``enqueue --wait`` reads progress from SQLite; when nothing moves it asks
Redis why: how long each queue is, which hashtrail processes are connected
and which of them is waiting for a message, what is delivered but not
acknowledged, and how long ago Redis started. Workers and the writer set a
Redis client name (``client_name``) for this. A worker that silently stopped
consuming after a reconnect (celery#8030) is connected but never blocked in
BRPOP, while its queue holds batches: that is named, with its queue.

Every call here has a socket timeout and catches Redis errors: a look at the
broker must never be what hangs the command (issue: a second
``enqueue --wait --timeout 300`` that had not returned after 400 s).
"""
from __future__ import annotations

import dataclasses
import os
import re
import socket

import redis

from hashtrail import config

CLIENT_PREFIX = "hashtrail"
TIMEOUT_S = 5.0  # every command to the broker from here
UNACKED_KEY = "unacked"  # kombu's Redis transport: delivered, not yet acknowledged
ROLES = {"fingerprint": "worker", "store": "writer"}  # queue -> the role that consumes it


def client_name(role: str) -> str:
    """A Redis client name for this process (letters, digits, - and . only: CLIENT SETNAME refuses spaces)."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())
    return f"{CLIENT_PREFIX}-{role}-{host}-{os.getpid()}"


def client(settings: config.Settings) -> redis.Redis | None:
    """A client of the broker with bounded timeouts, when it is Redis (the only broker hashtrail documents)."""
    if not settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(settings.broker_url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                client_name=client_name("enqueue"))


@dataclasses.dataclass
class QueueState:
    name: str
    length: int
    consumers: int  # connected processes of the role that consumes it
    waiting: int  # of those, blocked in BRPOP: ready to take a message at once


@dataclasses.dataclass
class BrokerState:
    reachable: bool
    error: str = ""
    queues: dict[str, QueueState] = dataclasses.field(default_factory=dict)
    in_flight: int = 0
    uptime_s: int | None = None

    def stalled_queues(self) -> list[QueueState]:
        """Queues holding messages that no connected consumer is waiting to take."""
        return [q for q in self.queues.values() if q.length and q.consumers and not q.waiting]


def look(settings: config.Settings) -> BrokerState | None:
    """The broker's state now; None when it is not Redis."""
    redis_client = client(settings)
    if redis_client is None:
        return None
    try:
        with redis_client:
            lengths = {name: int(redis_client.llen(name)) for name in ROLES}
            in_flight = int(redis_client.hlen(UNACKED_KEY))
            uptime = int(redis_client.info("server").get("uptime_in_seconds", 0))
            clients = redis_client.client_list()
    except redis.RedisError as exc:
        return BrokerState(reachable=False, error=str(exc) or type(exc).__name__)
    queues = {}
    for name, role in ROLES.items():
        mine = [c for c in clients if c.get("name", "").startswith(f"{CLIENT_PREFIX}-{role}-")]
        processes = {c["name"] for c in mine}
        waiting = {c["name"] for c in mine if c.get("cmd") == "brpop" and "b" in c.get("flags", "")}
        queues[name] = QueueState(name, lengths[name], len(processes), len(waiting))
    return BrokerState(reachable=True, queues=queues, in_flight=in_flight, uptime_s=uptime)


def explain(state: BrokerState | None, settings: config.Settings, writer_missing: bool, job_age_s: float) -> str:
    """Why a job makes no progress, in a sentence that names the queue and what to do."""
    if state is None:
        return "the broker is not Redis: look at the workers' and the writer's logs"
    if not state.reachable:
        return (f"the broker at {settings.broker_url} is unreachable ({state.error}): workers and the writer "
                "reconnect by themselves once it is back; start Redis again (same port and --dir)")
    restarted = (f"; Redis restarted {state.uptime_s} s ago, after this job began"
                 if state.uptime_s is not None and state.uptime_s < job_age_s else "")
    for queue in state.stalled_queues():
        role = ROLES[queue.name]
        return (f"the '{queue.name}' queue holds {queue.length} batches and none of the {queue.consumers} "
                f"connected {role} process{'es' if queue.consumers > 1 else ''} is waiting to take one"
                f"{restarted}: a Celery {role} that stopped consuming after a broker reconnect (celery#8030) "
                f"looks like this (or one busy with long batches: {state.in_flight} in flight); restart the "
                f"{role} ('hashtrail {role}'): nothing is lost")
    if writer_missing:
        from hashtrail.workers.writer_beacon import no_writer_message

        return no_writer_message(settings)
    waiting, results = state.queues["fingerprint"], state.queues["store"]
    if waiting.length:
        return (f"{waiting.length} batches wait in the 'fingerprint' queue and no worker is connected: start "
                "one ('hashtrail worker') on the same broker")
    if results.length:
        return f"{results.length} batches of results wait in the 'store' queue: see the writer's log"
    if state.in_flight:
        return (f"{state.in_flight} batches are held by workers or the writer (a slow file, a batch waiting "
                f"to be retried, or batches of a process that died: Redis gives those back after "
                f"visibility_timeout_s, {settings.visibility_timeout_s:g} s){restarted}: see their logs, or run "
                "the same 'hashtrail enqueue' again to re-send them now")
    return ("nothing is queued or in flight, so their batch was lost (a worker process died, or Redis lost "
            f"its data{restarted}); run the same 'hashtrail enqueue' again to resume them")
