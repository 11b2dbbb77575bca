"""Real processes for the distributed tests: a redis-server and Celery workers.

No eager mode and no mocks: each test talks to a redis-server on a free port
and to worker processes started the way users start them (the CLI).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import redis

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server on a free port.

    ``persistence``: "none" (the tests' default: nothing survives a restart),
    "appendonly" (every write logged, fsync each second) or "default"
    (redis-server's own settings: RDB snapshots only, after 1 change in an
    hour, 100 in 5 minutes or 10,000 in a minute). ``kill`` and ``restart``
    SIGKILL it and start it again on the same port and folder, as a crash and
    a supervisor would.
    """

    def __init__(self, directory: str, persistence: str = "none"):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed; 'bash scripts/test.sh' installs it")
        self.directory, self.persistence = directory, persistence
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port, socket_timeout=10)
        self.process = None
        self.restart()

    def restart(self) -> None:
        persistence = {"none": ["--save", "", "--appendonly", "no"],
                       "appendonly": ["--save", "", "--appendonly", "yes"],
                       "default": []}[self.persistence]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *persistence,
             "--dir", self.directory, "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client.ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class CeleryProcess:
    """``hashtrail worker`` or ``hashtrail writer`` in its own process group."""

    def __init__(self, args: list[str], env: dict, log_path: str):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "hashtrail", *args], env=env, cwd=REPO,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while b" ready." not in open(log_path, "rb").read():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()  # never leave a half-started worker behind
                raise RuntimeError(f"celery did not start:\n{open(log_path, 'rb').read().decode()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole group (main process and pool children), as the OOM killer or a lost host would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self.log.close()

    def freeze(self) -> None:
        """SIGSTOP the whole group and return once every process of it is stopped.

        Frozen, it can neither take nor acknowledge a message: what the broker
        holds for it can be read without racing it, then kept (``kill``) or let
        go on (``thaw``).
        """
        os.killpg(self.process.pid, signal.SIGSTOP)
        wait_until(lambda: all(state in "TtZX" for state in self._states()), "the group to stop", timeout=30,
                   poll=0.001)

    def thaw(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def _states(self) -> list[str]:
        """The state letter of each process of this group (from /proc: Linux)."""
        states = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    stat = fh.read()
            except OSError:  # gone meanwhile
                continue
            state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
            if int(pgrp) == self.process.pid:
                states.append(state)
        return states

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.log.close()


def wait_until(condition, what: str, timeout: float = 90, poll: float = 0.1):
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout`` s.

    Tests wait on conditions, never on fixed sleeps: the machine is shared and
    a step that takes 0.1 s idle can take seconds under load.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def broker_idle(client: redis.Redis) -> bool:
    """No message queued or delivered-but-unacknowledged on the broker (kombu's Redis layout)."""
    return (client.llen("fingerprint") == 0 and client.llen("store") == 0
            and client.hlen("unacked") == 0)


def held_batches(client: redis.Redis, queue: str) -> dict[str, tuple[float, list]]:
    """Messages of ``queue`` delivered and not acknowledged: delivery tag -> (delivery time, task args).

    kombu's Redis layout: the ``unacked`` hash holds [message, exchange,
    routing key] by tag, ``unacked_index`` the time of delivery (time.time()),
    from which Redis redelivers after the visibility timeout.
    """
    held = {}
    for tag, raw in client.hgetall("unacked").items():
        message, _exchange, routing_key = json.loads(raw)
        if routing_key != queue:
            continue
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        held[tag.decode()] = (client.zscore("unacked_index", tag), args)
    return held


def run_cli(args: list[str], env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hashtrail", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
