"""The embedded mode's process pool: batches of files, and no file can sink it.

``concurrent.futures.ProcessPoolExecutor`` marks the whole pool broken when one
child dies (a decoder segfault, the OOM killer) and has no per-task timeout.
pebble's ``ProcessPool`` replaces a dead or timed-out child and fails only that
task, which is what a scan over hostile archives needs. A batch that fails as a
whole is split and its files retried one by one, so the culprit is found and
recorded as failed while its batch-mates are fingerprinted normally.
"""
from __future__ import annotations

import collections
import concurrent.futures
from typing import Callable, Iterator

import pebble

from hashtrail.config import Settings
from hashtrail.pipeline.media import kinds
from hashtrail.pipeline.media.fingerprint import failed, fingerprint_batch

Item = tuple[str, str]  # (path, root)

# Replace a pool child after this many batches: bounds slow leaks in decoders.
MAX_TASKS_PER_CHILD = 200


def crash_reason(exc: BaseException, timeout_s: float) -> str:
    """Recorded reason for a file whose worker process died or hung."""
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g} s (file_timeout_s); the worker process was killed"
    if isinstance(exc, pebble.ProcessExpired):
        return f"the worker process died while decoding this file (exit code {exc.exitcode})"
    return f"worker error {type(exc).__name__}: {exc}"


def fingerprint_in_pool(items: list[Item], settings: Settings, workers: int,
                        work: Callable[[list[Item], Settings], list[dict]] = fingerprint_batch,
                        ) -> Iterator[list[dict]]:
    """Yield lists of result dicts, one list per finished batch, in completion order.

    ``work`` is the batch function run in the pool processes (a parameter so
    tests can run the isolation logic against real process deaths).
    """
    pool = pebble.ProcessPool(max_workers=workers, max_tasks=MAX_TASKS_PER_CHILD)
    try:
        yield from _run(pool, items, settings, workers, work)
    except BaseException:
        pool.stop()  # Ctrl-C, an error, or the caller stopped early: do not wait for batches in flight
        raise
    finally:
        pool.close()
        pool.join()


def batch_timeout(batch: list[Item], settings: Settings) -> float:
    """The pool's backstop for a batch: each file has its own deadline inside the worker, and a
    batch that may hold a video also gets the per-hour allowance of the longest one allowed
    (a broadcast's deadline grows with its length, from its header)."""
    seconds = settings.file_timeout_s * len(batch) + 1
    if any(kinds.may_be_long_video(path) for path, _ in batch):
        seconds += settings.file_timeout_per_hour_s * settings.max_video_s / 3600
    return seconds


def _run(pool, items: list[Item], settings: Settings, workers: int, work) -> Iterator[list[dict]]:
    pending = collections.deque(
        items[i:i + settings.batch_size] for i in range(0, len(items), settings.batch_size))
    in_flight: dict[concurrent.futures.Future, list[Item]] = {}
    while pending or in_flight:
        while pending and len(in_flight) < 2 * workers:
            batch = pending.popleft()
            future = pool.schedule(work, args=(batch, settings), timeout=batch_timeout(batch, settings))
            in_flight[future] = batch
        done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            batch = in_flight.pop(future)
            try:
                yield future.result()
            except Exception as exc:
                if len(batch) > 1:  # isolate the culprit: retry each file alone
                    pending.extendleft([item] for item in reversed(batch))
                else:
                    path, root = batch[0]
                    yield [failed(path, root, crash_reason(exc, settings.file_timeout_s)).as_dict()]
