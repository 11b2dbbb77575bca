"""Shared fixtures: real images written to a temporary tree, real SQLite files."""
from __future__ import annotations

import os

import pytest
from PIL import Image

import config
from pipeline.demo import synthetic_photo, userid


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
