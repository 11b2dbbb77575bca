"""Flower, the Celery monitor, against the hashtrail app: real workers, a real job, its HTTP API.

Started as the Procfile starts it (``celery -A hashtrail.workers.app flower``,
bound to 127.0.0.1). Flower 2 serves its JSON API only when authentication is
configured or ``FLOWER_UNAUTHENTICATED_API`` is set; the test sets the latter,
on loopback only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import save
from processes import REPO, free_port, wait_until
from test_distributed import cluster  # noqa: F401  (fixture; redis_server comes from conftest)

pytest.importorskip("flower", reason="pip install -e '.[flower]'")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _until(fetch, test, what: str, timeout: float = 90):
    """``wait_until`` on a Flower answer: connection errors while it starts count as not yet."""
    last = []

    def answered():
        try:
            last[:] = [fetch()]
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            return None
        return last[0] if test(last[0]) else None
    try:
        return wait_until(answered, what, timeout=timeout, poll=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: last answer {last[0] if last else None!r}") from None


def test_flower_shows_the_workers_and_the_fingerprint_and_store_tasks(cluster, photo, tmp_path):
    for n in range(4):
        save(str(tmp_path / "media" / f"a{n}" / f"{n}.jpg"), photo(n))
    started = [cluster.start("writer"), cluster.start("worker", "w1")]
    port = free_port()
    log = open(tmp_path / "flower.log", "wb")
    flower = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hashtrail.workers.app", "flower", "--address=127.0.0.1",
         f"--port={port}"], cwd=REPO, env={**cluster.env, "FLOWER_UNAUTHENTICATED_API": "true"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        workers = _until(lambda: _get(f"{base}/api/workers?refresh=1"),
                         lambda w: any(n.startswith("w1@") for n in w) and any(n.startswith("writer@") for n in w),
                         "flower lists the worker and the writer")
        assert all(isinstance(info, dict) for info in workers.values())
        # Flower turns task events on in the workers it finds; a job sent after that is seen task by task
        _until(lambda: [open(p.log_path, "rb").read() for p in started],
               lambda logs: all(b"enabled by remote" in log for log in logs), "flower enabled task events")
        done = cluster.enqueue(tmp_path / "media", "--wait", "--timeout", "120")
        assert done.returncode == 0, done.stderr
        tasks = _until(lambda: _get(f"{base}/api/tasks"),
                       lambda t: {"hashtrail.fingerprint", "hashtrail.store"} <= {v.get("name") for v in t.values()},
                       "flower saw both kinds of task")
        assert {v["state"] for v in tasks.values() if v.get("name") == "hashtrail.store"} == {"SUCCESS"}
    finally:
        os.killpg(flower.pid, 15)
        try:
            flower.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(flower.pid, 9)
        log.close()
