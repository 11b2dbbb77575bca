"""Start a distributed job: record it, send batches, optionally wait for it.

Uses the same ``plan`` and ``prepare`` as the embedded scan, so running
``enqueue`` again is the resume: only files without a result are sent. The
broker's queues are kept bounded (``max_queued_batches``, fingerprint and
store queues together), so an archive of millions of files never has to fit
in Redis at once.

A batch whose worker process was killed (hard time limit, segfault, OOM)
is acknowledged by Celery and its files stay pending. The next enqueue
re-sends such files one per message, and a file lost a second time that way
(still pending with nothing queued) is recorded as failed: the same
isolation the embedded pool applies, spread over runs. Those counts mean
nothing when Redis itself lost its data (restarted without ``appendonly``):
enqueue leaves a key in Redis when it sends, and a resume that finds the key
gone sends the pending files again in full batches, counting no loss.

``deadline`` (``--timeout``) bounds the whole command: connecting, waiting
for room in the bounded queues, publishing and ``--wait``'s polling. Every
call to the broker has a socket timeout and a bounded number of retries.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

import redis
from amqp.exceptions import ChannelError
from kombu.exceptions import OperationalError

from hashtrail import config
from hashtrail.pipeline.archive.accounts import AccountRule
from hashtrail.pipeline.errors import HashtrailError
from hashtrail.pipeline.media.hashing import HASHER
from hashtrail.pipeline.report import plural, took
from hashtrail.pipeline.scan import Progress, finish_if_complete, plan, prepare
from hashtrail.pipeline.store import Store
from hashtrail.workers.app import FINGERPRINT_QUEUE, STORE_QUEUE, app
from hashtrail.workers import broker_watch, writer_beacon
from hashtrail.workers.tasks import fingerprint

CHECK_QUEUE_EVERY = 20  # batches between two looks at the queue length
SENT_KEY = "hashtrail:sent:{database}"  # set when a job is sent; gone after Redis lost its data
# kombu retries a broken connection this many times before raising (its default is forever)
CONNECTION_RETRIES = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}
LOST_TWICE = "lost twice: a worker process died or hit batch_time_limit_s while processing this file"


class BrokerUnavailable(HashtrailError):
    """The message broker cannot be reached."""


class WaitTimeout(HashtrailError):
    """--wait gave up after --timeout seconds."""


@dataclasses.dataclass
class EnqueueSummary:
    job: int
    files: int
    sent: int
    unchanged: int
    batches: int
    seconds: float  # walk + record + send
    send_seconds: float  # publishing to the broker alone
    given_up: int = 0  # lost twice: recorded as failed

    def line(self) -> str:
        text = (f"job {self.job}: {plural(self.files, 'file')}, {self.sent:,} sent in "
                f"{plural(self.batches, 'batch', 'batches')} {took(self.seconds, self.sent)}, "
                f"{self.unchanged:,} unchanged")
        if self.given_up:
            text += f"; {self.given_up} failed ({LOST_TWICE.split(':')[0]})"
        return text


def queue_length(connection, name: str = FINGERPRINT_QUEUE) -> int:
    """Messages waiting in a queue (kombu's passive declare, any transport)."""
    try:
        return connection.default_channel.queue_declare(queue=name, passive=True).message_count
    except ChannelError:  # not declared yet: no worker has started, nothing is queued
        return 0


def queued(connection) -> int:
    return queue_length(connection, FINGERPRINT_QUEUE) + queue_length(connection, STORE_QUEUE)


def _connect(settings: config.Settings):
    connection = app.connection_for_write(transport_options=CONNECTION_RETRIES)
    try:
        connection.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5, timeout=10)
    except Exception as exc:
        connection.release()
        raise BrokerUnavailable(
            f"cannot reach the broker at {settings.broker_url} ({exc}); start Redis "
            "(see README 'Scaling out') or set HASHTRAIL_BROKER_URL") from None
    return connection


def _batches(items: list[list[str]], attempts: dict[str, int], size: int, queues_empty: bool,
             broker_lost: bool = False):
    """(batches to send, paths given up) for this run.

    Files sent before are sent again one per message (a duplicate of a batch
    still queued costs work, never correctness: writes are idempotent). A file
    already sent alone and still pending while nothing is queued or in flight
    was lost with its worker twice: it is given up as failed instead of
    killing a third. When the broker lost its data (``broker_lost``), no file
    is to blame: all are sent again in full batches.
    """
    if broker_lost:
        attempts = {}
    fresh = [i for i in items if attempts.get(i[0], 0) == 0]
    lost = {i[0] for i in items if attempts.get(i[0], 0) >= 2} if queues_empty else set()
    again = [i for i in items if attempts.get(i[0], 0) >= 1 and i[0] not in lost]
    batches = [fresh[s:s + size] for s in range(0, len(fresh), size)] + [[i] for i in again]
    return batches, sorted(lost)


def _broker_lost(settings: config.Settings, database_id: str) -> bool:
    """Redis no longer holds the key an earlier enqueue of this database left: it lost its data."""
    redis_client = broker_watch.client(settings)
    if redis_client is None:
        return False
    with redis_client:
        return not redis_client.exists(SENT_KEY.format(database=database_id))


def _mark_sent(settings: config.Settings, database_id: str, job: int) -> None:
    redis_client = broker_watch.client(settings)
    if redis_client is not None:
        with redis_client:
            redis_client.set(SENT_KEY.format(database=database_id), job)


def _in_flight(settings: config.Settings) -> int:
    state = broker_watch.look(settings)
    return state.in_flight if state is not None and state.reachable else 0


def enqueue(paths: list[str], settings: config.Settings, store: Store, progress: Progress,
            retry_failed: bool = False, warn: Callable[[str], None] = lambda message: None,
            deadline: float | None = None) -> EnqueueSummary:
    """Record a job and send its batches; ``deadline`` (time.monotonic()) bounds all of it."""
    started = time.perf_counter()
    connection = _connect(settings)  # before recording anything: a failed enqueue leaves no job behind
    if writer_beacon.check_writer(settings, store.database_id) is None:  # raises when it holds another file
        warn(writer_beacon.no_writer_message(settings))
    rule = AccountRule.from_settings(settings)
    the_plan = plan(paths, store, rule, retry_failed)
    job = store.start_scan([os.path.abspath(p) for p in paths], "distributed")
    prepare(store, the_plan, rule, job)
    items = [[f.path, f.root] for f in the_plan.todo if not f.problem]
    meta = {"database": store.database_id, "hasher": HASHER}
    try:
        sent_before = any(the_plan.attempts.get(path, 0) for path, _ in items)
        broker_lost = sent_before and _broker_lost(settings, store.database_id)
        if broker_lost:
            warn("the broker no longer holds this database's earlier batches (Redis restarted without "
                 "appendonly, or was flushed): sending the pending files again in full batches")
        batches, given_up = _batches(items, the_plan.attempts, settings.celery_batch_size,
                                     queues_empty=queued(connection) == 0 and _in_flight(settings) == 0,
                                     broker_lost=broker_lost)
        if given_up:
            store.save([{"path": p, "status": "failed", "reason": LOST_TWICE} for p in given_up])
        store.mark_recorded(job)  # only now may the writer finish this job
        sending = time.perf_counter()
        to_send = sum(len(b) for b in batches)
        progress.start(to_send)
        sent: list[str] = []
        if batches:
            _mark_sent(settings, store.database_id, job)
        with connection, app.producer_pool.acquire(block=True, timeout=30) as producer:
            for number, batch in enumerate(batches):
                if number % CHECK_QUEUE_EVERY == 0:
                    store.count_attempt(sent)  # one transaction per CHECK_QUEUE_EVERY batches
                    sent = []
                    _wait_for_room(connection, settings, warn, deadline, job)
                fingerprint.apply_async(args=[batch, job, meta], producer=producer)
                sent += [path for path, _ in batch]
                progress.advance(len(batch))
            store.count_attempt(sent)
    except (OperationalError, redis.RedisError) as exc:
        raise BrokerUnavailable(f"lost the broker at {settings.broker_url} while sending ({exc}); the files "
                                "not sent stay pending: run the same enqueue again") from None
    if not batches:  # nothing to do: finish now, re-clustering only if something changed
        finish_if_complete(store, settings,
                           recluster_needed=bool(the_plan.todo or the_plan.reattributed or given_up))
    done = time.perf_counter()
    return EnqueueSummary(job, the_plan.found, to_send, the_plan.unchanged, len(batches),
                          done - started, done - sending, len(given_up))


def _wait_for_room(connection, settings: config.Settings, warn: Callable[[str], None],
                   deadline: float | None, job: int) -> None:
    """Block while the queues hold ``max_queued_batches``; never past ``deadline``."""
    began, warned = time.monotonic(), False
    while queued(connection) >= settings.max_queued_batches:
        now = time.monotonic()
        if not warned and now - began >= 10:
            warn(f"{settings.max_queued_batches} batches are waiting in Redis and none was taken for 10 s: "
                 + broker_watch.explain(broker_watch.look(settings), settings, _writer_missing(settings), 0))
            warned = True
        if deadline is not None and now > deadline:
            raise WaitTimeout(
                f"job {job} not fully sent before --timeout: the queues stayed full "
                f"({settings.max_queued_batches} batches): "
                + broker_watch.explain(broker_watch.look(settings), settings, _writer_missing(settings), 0)
                + "; the files not sent stay pending: 'hashtrail enqueue' again resumes")
        time.sleep(0.5)


def _writer_missing(settings: config.Settings) -> bool:
    try:
        return writer_beacon.check_writer(settings) is None
    except writer_beacon.WriterHoldsAnotherDatabase:
        return False


def wait(store: Store, job: int, progress: Progress, settings: config.Settings, timeout_s: float | None = None,
         stall_s: float | None = None, poll_s: float = 0.2, warn: Callable[[str], None] = lambda message: None,
         deadline: float | None = None) -> dict:
    """Block until the writer has stored every file of ``job`` and re-clustered.

    Refuses at once when the writer announces another database; says so
    when no writer is running; after ``stall_s`` without progress it says
    why (broker_watch: an unreachable broker, a queue nobody takes from,
    batches in flight, batches lost). ``deadline`` (time.monotonic()), or
    ``timeout_s`` from now, bounds it; the timeout says why too.
    """
    stall_s = settings.stall_warning_s if stall_s is None else stall_s
    total = sum(store.scan_counts(job).values())
    progress.start(total)
    done, started = 0, time.monotonic()
    if deadline is None and timeout_s is not None:
        deadline = started + timeout_s
    job_age = _job_age_s(store, job)
    last_progress, warned, writer_checked, writer_missing = started, False, 0.0, False
    while not store.scan(job).get("finished_at"):
        now_done = total - store.pending_count(job)
        now = time.monotonic()
        if now_done > done:
            progress.advance(now_done - done)
            done, last_progress = now_done, now
        if now - writer_checked > 2:
            writer_checked = now
            missing = writer_beacon.check_writer(settings, store.database_id) is None
            if missing and not writer_missing:
                state = broker_watch.look(settings)
                if state is not None and not state.reachable:  # not the writer's absence: Redis is down
                    warn(broker_watch.explain(state, settings, False, 0) + "; waiting for it")
                else:
                    warn(writer_beacon.no_writer_message(settings))
            writer_missing = missing
        if not warned and now - last_progress > stall_s:
            warn(f"no progress for {stall_s:.0f} s: {total - done} files of job {job} pending; "
                 + broker_watch.explain(broker_watch.look(settings), settings, writer_missing,
                                        job_age + now - started))
            warned = True
        if deadline is not None and now > deadline:
            reason = (broker_watch.explain(broker_watch.look(settings), settings, writer_missing,
                                           job_age + now - started)
                      if now - last_progress > min(stall_s, 5) else "it was still making progress")
            raise WaitTimeout(f"job {job} not finished before --timeout: {total - done} files pending; {reason} "
                              "('hashtrail status' shows them; 'hashtrail enqueue' again resumes)")
        time.sleep(poll_s)
    return store.scan_counts(job)


def _job_age_s(store: Store, job: int) -> float:
    """Seconds since the job was started (its row's time, in UTC)."""
    from datetime import datetime, timezone

    try:
        began = datetime.fromisoformat(store.scan(job)["started_at"])
    except (TypeError, ValueError):
        return 0.0
    if began.tzinfo is None:
        began = began.replace(tzinfo=timezone.utc)
    return max(0.0, (datetime.now(timezone.utc) - began).total_seconds())
