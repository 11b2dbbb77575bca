"""A fresh install runs every command: `pip install .` with no extras, in a new venv.

The test environment has pytest, which brings `packaging` and other packages
along; code that imports something `pyproject.toml` does not ask for would
pass every other test and still fail for a new user (kombu's Redis transport
needs `packaging`, which only `celery[redis]` installs). So this test builds a
venv of its own from the files a clean clone holds, and runs the distributed
mode, the demo and the imports there, away from the repository (so nothing
is imported from the source tree by accident).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import venv

import pytest

from conftest import save
from processes import REPO, RedisServer

pytestmark = pytest.mark.timeout(900)


def _clean_copy(dest: str) -> str:
    """The files a clone of this working tree would hold (tracked and new, never ignored ones)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = os.path.join(REPO, name)
        if not os.path.isfile(source):  # deleted in the working tree but not yet in git
            continue
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A venv holding `pip install .` of a clean copy, and nothing else."""
    base = tmp_path_factory.mktemp("fresh")
    source = _clean_copy(str(base / "clone"))
    env_dir = str(base / "venv")
    venv.create(env_dir, with_pip=True, clear=True)
    bin_dir = os.path.join(env_dir, "bin")
    pip = subprocess.run([os.path.join(bin_dir, "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", source], capture_output=True, text=True, timeout=840)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HASHTRAIL_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = bin_dir + os.pathsep + env["PATH"]
    work = base / "work"
    work.mkdir()
    return {"bin": bin_dir, "env": env, "cwd": str(work)}


def _run(fresh, args, timeout=300, **env):
    return subprocess.run(args, cwd=fresh["cwd"], env={**fresh["env"], **env}, capture_output=True, text=True,
                          timeout=timeout)


def test_the_venv_has_no_test_extras(fresh):
    """The point of the venv: pytest and what it brings are not there to hide a gap."""
    probe = _run(fresh, [os.path.join(fresh["bin"], "python"), "-c", "import pytest"])
    assert probe.returncode != 0


def test_only_the_hashtrail_package_is_installed(fresh):
    python = os.path.join(fresh["bin"], "python")
    ok = _run(fresh, [python, "-c", "import hashtrail, hashtrail.workers.app, hashtrail.cli; print(hashtrail.__version__)"])
    assert ok.returncode == 0, ok.stderr
    version = _run(fresh, [os.path.join(fresh["bin"], "hashtrail"), "--version"])
    assert version.stdout.split()[-1] == ok.stdout.strip()
    for name in ("pipeline", "config", "workers", "cli"):
        gone = _run(fresh, [python, "-c", f"import {name}"])
        assert gone.returncode != 0 and "ModuleNotFoundError" in gone.stderr, name


def test_demo_runs(fresh):
    demo = _run(fresh, [os.path.join(fresh["bin"], "hashtrail"), "demo", os.path.join(fresh["cwd"], "demo")])
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "clusters posted by 2+ accounts" in demo.stdout


def test_distributed_job_on_a_fresh_install(fresh, photo, tmp_path):
    """redis-server, `hashtrail writer`, one worker started the Procfile's way (`celery -A
    hashtrail.workers.app worker`), and `enqueue --wait`, all from the venv."""
    media = tmp_path / "media"
    for n in range(12):
        save(str(media / f"acct{n % 3}" / f"{1000 + n}.jpg"), photo(n % 6))
    redis_server = RedisServer(str(tmp_path))
    env = {"HASHTRAIL_BROKER_URL": redis_server.url, "HASHTRAIL_DB": str(tmp_path / "fresh.db")}
    hashtrail = os.path.join(fresh["bin"], "hashtrail")
    started = []
    try:
        for args, log in (([hashtrail, "writer"], "writer.log"),
                          ([os.path.join(fresh["bin"], "celery"), "-A", "hashtrail.workers.app", "worker", "-Q",
                            "fingerprint", "--hostname", "fresh@%h", "-c", "1", "--without-gossip",
                            "--without-mingle"], "worker.log")):
            log_file = open(tmp_path / log, "wb")
            started.append((subprocess.Popen(args, cwd=fresh["cwd"], env={**fresh["env"], **env}, stdout=log_file,
                                             stderr=subprocess.STDOUT, start_new_session=True), log_file))
        job = _run(fresh, [hashtrail, "enqueue", str(media), "--wait", "--timeout", "240"], timeout=300, **env)
        logs = "".join((tmp_path / n).read_text(errors="replace")[-2000:] for n in ("writer.log", "worker.log"))
        assert job.returncode == 0, job.stdout + job.stderr + logs
        assert "12 fingerprinted, 0 failed" in job.stdout
        status = _run(fresh, [hashtrail, "status", "--format", "json"], **env)
        assert '"fingerprinted": 12' in status.stdout
    finally:
        for process, log_file in started:
            try:
                os.killpg(process.pid, 15)
                process.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, 9)
            log_file.close()
        redis_server.stop()
