"""Start a distributed job: record it, send batches, optionally wait for it.

Uses the same ``plan`` and ``record_pending`` as the embedded scan, so
running ``enqueue`` again is the resume: only files without a result are
sent. The broker's queue is kept bounded (``max_queued_batches``), so an
archive of millions of files never has to fit in Redis at once.
"""
from __future__ import annotations

import dataclasses
import os
import time

from amqp.exceptions import ChannelError

import config
from pipeline.accounts import AccountRule
from pipeline.errors import HashtrailError
from pipeline.scan import Progress, finish_if_complete, plan, prepare
from pipeline.store import Store

from .app import FINGERPRINT_QUEUE, app
from .tasks import fingerprint

CHECK_QUEUE_EVERY = 20  # batches between two looks at the queue length


@dataclasses.dataclass
class EnqueueSummary:
    job: int
    files: int
    sent: int
    unchanged: int
    batches: int
    seconds: float  # walk + record + send
    send_seconds: float  # publishing to the broker alone

    def line(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (f"job {self.job}: {self.files} files, {self.sent} sent in {self.batches} batches "
                f"in {self.seconds:.1f} s ({rate:.0f} files/s), {self.unchanged} unchanged")


def queue_length(connection, name: str = FINGERPRINT_QUEUE) -> int:
    """Messages waiting in a queue (kombu's passive declare, any transport)."""
    try:
        return connection.default_channel.queue_declare(queue=name, passive=True).message_count
    except ChannelError:  # not declared yet: no worker has started, nothing is queued
        return 0


class BrokerUnavailable(HashtrailError):
    """The message broker cannot be reached."""


def _connect(settings: config.Settings):
    connection = app.connection_for_write()
    try:
        connection.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
    except Exception as exc:
        connection.release()
        raise BrokerUnavailable(
            f"cannot reach the broker at {settings.broker_url} ({exc}); start Redis "
            "(see README 'Scaling out') or set HASHTRAIL_BROKER_URL") from None
    return connection


def enqueue(paths: list[str], settings: config.Settings, store: Store, progress: Progress,
            retry_failed: bool = False) -> EnqueueSummary:
    started = time.perf_counter()
    connection = _connect(settings)  # before recording anything: a failed enqueue leaves no job behind
    rule = AccountRule.from_settings(settings)
    the_plan = plan(paths, store, rule, retry_failed)
    job = store.start_scan([os.path.abspath(p) for p in paths], "distributed")
    prepare(store, the_plan, rule, job)
    items = [[f.path, f.root] for f in the_plan.todo if not f.problem]
    size = settings.celery_batch_size
    progress.start(len(items))
    batches = 0
    sending = time.perf_counter()
    with connection, app.producer_pool.acquire(block=True) as producer:
        for start in range(0, len(items), size):
            if batches % CHECK_QUEUE_EVERY == 0:
                while queue_length(connection) >= settings.max_queued_batches:
                    time.sleep(0.5)
            fingerprint.apply_async(args=[items[start:start + size], job], producer=producer)
            batches += 1
            progress.advance(len(items[start:start + size]))
    if not items:
        finish_if_complete(store, settings)  # nothing to do: the job is complete now
    done = time.perf_counter()
    return EnqueueSummary(job, the_plan.found, len(items), the_plan.unchanged, batches, done - started,
                          done - sending)


def wait(store: Store, job: int, progress: Progress, poll_s: float = 0.5) -> dict:
    """Block until the writer has stored every file of ``job`` and re-clustered."""
    total = sum(store.scan_counts(job).values())
    progress.start(total)
    done = 0
    while True:
        now_done = total - store.pending_count(job)
        if now_done > done:
            progress.advance(now_done - done)
            done = now_done
        if store.scan(job).get("finished_at"):
            return store.scan_counts(job)
        time.sleep(poll_s)
