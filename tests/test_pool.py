"""The local pool survives files that kill or hang their worker process.

These use a real pebble pool and real process deaths (SIGKILL) and hangs; the
batch function is swapped for one that dies on a marked path, since no
standard decoder reliably segfaults on demand.
"""
import os
import signal
import time

from hashtrail.pipeline.local_pool import fingerprint_in_pool
from hashtrail.pipeline.media.fingerprint import fingerprint_batch
from hashtrail.pipeline.store import Store

from conftest import save, statuses


def die_on_marker(items, settings):
    if any("KILLME" in path for path, _ in items):
        os.kill(os.getpid(), signal.SIGKILL)
    return fingerprint_batch(items, settings)


def hang_on_marker(items, settings):
    if any("HANG" in path for path, _ in items):
        time.sleep(60)
    return fingerprint_batch(items, settings)


def make_files(tmp_path, photo, names):
    paths = []
    for i, name in enumerate(names):
        path = tmp_path / name
        photo(i, (200, 150)).save(path, "JPEG")
        paths.append((str(path), str(tmp_path)))
    return paths


def run(items, settings, work):
    return {r["path"]: r for batch in fingerprint_in_pool(items, settings, 2, work) for r in batch}


def test_a_file_that_kills_its_worker_fails_alone(tmp_path, photo, settings):
    names = [f"{i}.jpg" for i in range(10)] + ["KILLME.jpg"] + [f"{i}b.jpg" for i in range(10)]
    items = make_files(tmp_path, photo, names)
    results = run(items, settings.replace(batch_size=4), die_on_marker)
    assert len(results) == len(items)
    killed = results[str(tmp_path / "KILLME.jpg")]
    assert killed["status"] == "failed" and "died" in killed["reason"]
    assert sum(r["status"] == "ok" for r in results.values()) == len(items) - 1


def test_a_file_that_hangs_hits_the_time_limit(tmp_path, photo, settings):
    items = make_files(tmp_path, photo, ["a.jpg", "HANG.jpg", "b.jpg", "c.jpg"])
    started = time.monotonic()
    results = run(items, settings.replace(batch_size=2, file_timeout_s=1.0), hang_on_marker)
    assert time.monotonic() - started < 30
    hung = results[str(tmp_path / "HANG.jpg")]
    assert hung["status"] == "failed" and "timed out" in hung["reason"]
    assert [results[str(tmp_path / n)]["status"] for n in ("a.jpg", "b.jpg", "c.jpg")] == ["ok"] * 3


def test_a_file_that_kills_its_worker_is_not_retried_on_every_rescan(tmp_path, photo, settings):
    root = tmp_path / "t"
    path = save(str(root / "KILLME.jpg"), photo(1))
    store = Store(settings.db)
    from hashtrail.pipeline.archive.accounts import AccountRule
    from hashtrail.pipeline.scan import plan, record_pending
    rule = AccountRule.from_settings(settings)
    first = plan([str(root)], store, rule)
    record_pending(store, first.todo, rule, 1)
    for results in fingerprint_in_pool([(path, str(root))], settings, 1, die_on_marker):
        store.save_results(results)
    assert statuses(settings.db)["KILLME.jpg"][0] == "failed"
    assert plan([str(root)], store, rule).unchanged == 1
