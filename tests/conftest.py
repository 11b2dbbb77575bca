"""Shared fixtures: real images written to a temporary tree, real SQLite files."""
from __future__ import annotations

import os
import sqlite3

import pytest
from PIL import Image

from hashtrail import config
from hashtrail.pipeline.demo import synthetic_photo, userid
from processes import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A real redis-server on a free port for one test module (the distributed tests flush it per test)."""
    server = RedisServer(str(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Default settings with the database in the test's own folder and 2 workers."""
    monkeypatch.delenv("HASHTRAIL_DB", raising=False)
    return config.load().replace(db=str(tmp_path / "test.db"), workers=2)


@pytest.fixture
def photo():
    """A factory of distinct photo-like pictures, by seed."""
    return lambda seed=1, size=(640, 480): synthetic_photo(seed, size)


def save(path, image: Image.Image, fmt: str = "JPEG", **options) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if fmt == "JPEG":
        options.setdefault("quality", 90)
        image = image.convert("RGB")
    image.save(path, fmt, **options)
    return str(path)


def twitter_path(root, account: int, tweet: int, ext: str = "jpg") -> str:
    """A path in the Twitter IO release layout."""
    return os.path.join(str(root), "ira_1", userid(account), "images", f"{tweet}-k{tweet}.{ext}")


@pytest.fixture(scope="session")
def video_tree(tmp_path_factory):
    """A source video, its reposted copies (other formats, a GIF, a frame as a JPEG) and unrelated videos.

    Made once per test session with the real ffmpeg (tests/videos.py); the
    photos the slideshows are made of stay outside the tree.
    """
    import videos

    base = tmp_path_factory.mktemp("video")
    photos = videos.make_photos(str(base / "photos"), [11, 12, 13, 21, 22, 23])
    root = base / "tree"
    files: dict[str, str] = {}

    def at(name: str, account: int, tweet: int, ext: str) -> str:
        path = os.path.join(str(root), "ira_1", userid(account), "videos", f"{tweet}-k{tweet}.{ext}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files[name] = path
        return path

    src = videos.slideshow(at("source", 1, 7001, "mp4"), photos[:3])
    for n, kind in enumerate(["reencode", "vp9_webm", "rescale", "letterbox", "fps_change", "trim_start"]):
        videos.transform(src, at(kind, 2 + n, 7100 + n, "webm" if kind == "vp9_webm" else "mp4"), kind)
    videos.cut(src, at("cut", 9, 7200, "mp4"), 2.5, 2.5)
    videos.to_gif(src, at("gif", 10, 7300, "gif"), 2.3, 2.0)
    videos.frame_at(src, at("frame", 11, 7400, "jpg"), 4.6)
    videos.slideshow(at("other", 12, 7500, "mp4"), photos[3:])
    videos.test_source(at("mandelbrot", 13, 7600, "mp4"), "mandelbrot")
    return root, files


def statuses(db) -> dict:
    """File name -> (status, reason) of every media row."""
    return {os.path.basename(r[0]): r[1:] for r in sqlite3.connect(db).execute("SELECT path, status, reason FROM media")}


def scan_clusters(root, db) -> list[dict]:
    """Scan ``root`` into ``db`` with the real CLI (one worker) and return ``clusters --format json``'s clusters."""
    import json

    from click.testing import CliRunner

    from hashtrail.cli import main
    result = CliRunner().invoke(main, ["scan", str(root), "--db", db, "--workers", "1"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in
            CliRunner().invoke(main, ["clusters", "--db", db, "--format", "json"]).output.splitlines()]
