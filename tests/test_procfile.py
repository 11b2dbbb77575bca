"""The Procfile's redis, run as honcho runs it (through the shell), keeps its data out of the repository."""
from __future__ import annotations

import os
import subprocess

import redis

from processes import REPO, free_port, wait_until


def procfile_command(name: str) -> str:
    for line in open(os.path.join(REPO, "Procfile")):
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in the Procfile")


def test_procfile_redis_writes_into_its_own_data_folder(tmp_path):
    port = free_port()
    command = procfile_command("redis").replace("6379", str(port))
    checkout = tmp_path / "checkout"  # stands for the repository root honcho starts in
    checkout.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "HASHTRAIL_REDIS_DIR"}
    server = subprocess.Popen(["sh", "-c", command], cwd=checkout, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = redis.Redis(port=port)

        def answers() -> bool:
            assert server.poll() is None, "redis-server exited (did its data folder exist?)"
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_until(answers, "the Procfile's redis-server to answer", timeout=30)
        client.set("k", "v")
        client.save()  # dump.rdb, next to appendonlydir/
    finally:
        server.terminate()
        server.wait(15)
    assert sorted(os.listdir(checkout)) == [".hashtrail-redis"]
    assert {"appendonlydir", "dump.rdb"} <= set(os.listdir(checkout / ".hashtrail-redis"))
    assert ".hashtrail-redis/" in open(os.path.join(REPO, ".gitignore")).read().split()
