"""The clustering join spread over Celery workers (``cluster --distributed``) gives the local clusters.

The shard split is checked directly (pure: the union of the shards is the
local join, and they are disjoint); the distributed rebuild runs with a
real redis-server and two real ``hashtrail worker`` processes on a scanned
archive of near-duplicate families, edits, videos, a GIF and stills, and is
compared with the local ``hashtrail cluster --rebuild`` of the same database.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hashtrail import config
from hashtrail.pipeline.demo import build_demo_archive
from hashtrail.pipeline.index import shards
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, matching_rows
from hashtrail.pipeline.media.hashing import VARIANT_CODE
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store
from hashtrail.workers.app import make_app

from processes import REPO, CeleryProcess, run_cli, wait_until


def archive_columns(n: int, seed: int = 5) -> Fingerprints:
    """Rows like a scan's: families of near-duplicates (0-6 bits apart), centre crops, hard-edit probes."""
    rng = np.random.default_rng(seed)
    families = rng.integers(0, n // 4, n)  # ~4 rows a family
    base_p, base_d = rng.integers(0, 2**64, (2, n // 4 + 1), dtype=np.uint64)
    base_q = rng.integers(0, 2**64, (n // 4 + 1, 4), dtype=np.uint64)

    def near(codes, most):
        out = codes.copy()
        for _ in range(most):
            out ^= np.where(rng.random(len(out)) < 0.5, np.uint64(1) << rng.integers(0, 64, len(out)).astype(np.uint64),
                            np.uint64(0))
        return out
    p, d = near(base_p[families], 6), near(base_d[families], 6)
    q = np.column_stack([near(base_q[families, w], 6) for w in range(4)])
    names = ["full", "center", "trim", "uncaptioned", "mirror_full", "crop_l12", "rotate_p4"]
    codes = np.array([VARIANT_CODE[v] for v in names], dtype=np.int16)[rng.integers(0, len(names), n)]
    return Fingerprints(np.arange(n, dtype=np.int64) // 2, p, d, q, codes == VARIANT_CODE["center"],
                        np.full(n, np.nan), codes, np.where(rng.random(n) < 0.9, 1.5, 1.0))


def test_shards_are_disjoint_and_together_the_local_join():
    fp = archive_columns(8_000)
    t = Thresholds.from_settings(config.load({}))
    i, j = matching_rows(fp, t)
    local = set(zip(i.tolist(), j.tolist()))
    assert len(local) > 2_000  # families, probes and centres all pair
    for n in (2, 5):
        found = []
        for k in range(n):
            a, b = shards.unpack_pairs(shards.pack_pairs(*shards.shard_rows(fp, t, (k, n))))
            assert len(a) < len(local)  # every shard does a part, none does all
            found += zip(a.tolist(), b.tolist())
        assert len(found) == len(set(found)) and set(found) == local


def test_columns_and_pairs_survive_their_bytes():
    fp = archive_columns(3_000)
    back = shards.unpack_columns(shards.pack_columns(fp))
    for name in ("media_id", "phash", "dhash", "phash256", "secondary", "time_s", "variant", "aspect"):
        x, y = getattr(fp, name), getattr(back, name)
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    with pytest.raises(shards.BadShard, match="0 <= k < n"):
        shards.shard_rows(fp, Thresholds(16, 16, 90), (3, 3))
    with pytest.raises(shards.BadShard, match="not a packed"):
        shards.unpack_pairs(b"garbage")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """The demo archive scanned (edited reposts, a video and its smaller copy, a GIF and its still, broken files).

    A first scan clusters from scratch: its clusters are the local join's, the reference.
    """
    where = tmp_path_factory.mktemp("distjoin")
    archive = str(where / "archive")
    build_demo_archive(archive)
    db = str(where / "scanned.db")
    store = Store(db)
    scan([archive], config.load({}).replace(db=db, workers=2), store)
    store.close()  # its WAL checkpointed: copying the one file copies the database
    return db


@pytest.fixture
def env(redis_server):
    redis_server.client.flushall()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    return {**clean, "HASHTRAIL_BROKER_URL": redis_server.url}


@pytest.fixture(scope="module")
def workers(redis_server, tmp_path_factory):
    """Two fingerprint workers (one process each), started when a test first asks (``start()``)."""
    logs = tmp_path_factory.mktemp("workers")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    running: list[CeleryProcess] = []

    class Workers:
        def start(self) -> list[CeleryProcess]:
            if not running:
                running.extend(CeleryProcess(["worker", "-n", f"{name}@%h", "-c", "1"],
                                             {**clean, "HASHTRAIL_BROKER_URL": redis_server.url},
                                             str(logs / f"{name}.log")) for name in ("alpha", "beta"))
            return running
    yield Workers()
    for w in running:
        w.stop()


def clusters_of(db: str):
    store = Store(db, create=False)
    rows = sorted(store.db.execute("SELECT media_id, cluster_id, distance, via, via_media, via_transform FROM clusters"))
    frames = sorted(store.db.execute("SELECT * FROM frame_matches"))
    store.close()
    return rows, frames


def copy_db(source: str, target) -> str:
    shutil.copy(source, str(target))
    return str(target)


# (in this order: the first two need the broker without workers, the workers then stay up for the rest)
def test_no_worker_within_the_timeout_leaves_the_clusters_as_they_were(scanned, env, redis_server, tmp_path):
    db = copy_db(scanned, tmp_path / "waiting.db")
    result = run_cli(["cluster", "--rebuild", "--distributed", "--timeout", "5", "--db", db], env)
    assert result.returncode == 1 and "no worker consumes the fingerprint queue" in result.stderr
    result = run_cli(["cluster", "--rebuild", "--distributed", "--shards", "2", "--timeout", "1", "--db", db], env)
    assert result.returncode == 1
    assert "not done after 1 s: 2 of 2 shards left; the clusters were not changed" in result.stderr
    assert clusters_of(db) == clusters_of(scanned) and clusters_of(db)[0]
    assert not redis_server.client.keys("hashtrail:join:*")  # the columns are gone: stale shards will be dropped


def test_a_lost_shard_is_sent_again_and_the_clusters_stay_exact(scanned, env, redis_server, workers, tmp_path):
    """A shard that vanishes from the broker (its worker's pool child died and Celery acked it) is re-sent."""
    db = copy_db(scanned, tmp_path / "distributed.db")
    coordinator = subprocess.Popen([sys.executable, "-m", "hashtrail", "cluster", "--rebuild", "--distributed",
                                    "--shards", "3", "--timeout", "120", "--db", db],
                                   env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = redis_server.client
    try:
        wait_until(lambda: client.llen("fingerprint") == 3, "three shards queued (no worker yet)", timeout=60)
        assert client.lrem("fingerprint", 1, client.lindex("fingerprint", 1)) == 1
        wait_until(lambda: client.llen("fingerprint") == 3, "the lost shard sent again", timeout=30)
        workers.start()
        out, err = coordinator.communicate(timeout=120)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    assert coordinator.returncode == 0, err
    assert "shard 1 of 3 was lost (its worker process died): sent again" in err
    assert clusters_of(db) == clusters_of(scanned)


def test_distributed_rebuild_on_two_workers_gives_the_local_clusters(scanned, env, redis_server, workers, tmp_path):
    db = copy_db(scanned, tmp_path / "distributed.db")
    alpha, beta = workers.start()
    result = run_cli(["cluster", "--rebuild", "--distributed", "--shards", "6", "--timeout", "120", "--db", db], env)
    assert result.returncode == 0, result.stderr
    assert "joined on the workers: 6 shards" in result.stdout
    rows, frames = clusters_of(db)
    assert (rows, frames) == clusters_of(scanned)
    assert len({cluster for _, cluster, *_ in rows}) >= 10 and frames  # families, and a video matched by frames
    for w in (alpha, beta):  # both took shards of this job
        assert "hashtrail.join_shard" in open(w.log_path).read()
    assert not redis_server.client.keys("hashtrail:join:*")  # columns and pairs are cleaned up
    # a shard of a join that is over (given up, or redelivered late) is dropped, not an error
    broker = make_app(config.load({"HASHTRAIL_BROKER_URL": redis_server.url}))
    broker.send_task("hashtrail.join_shard", args=["over", 0, 1, shards.thresholds_dict(Thresholds(16, 16, 90))],
                     queue="fingerprint")
    wait_until(lambda: any("join over is gone" in open(w.log_path).read() for w in (alpha, beta)),
               "the stale shard dropped", timeout=30)


def test_shards_and_timeout_without_distributed_are_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from hashtrail.cli import main

    result = CliRunner().invoke(main, ["cluster", "--shards", "4", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "--shards and --timeout go with --distributed" in result.output
