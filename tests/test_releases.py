"""Several releases in one database: each media keeps its campaign, and reuse across campaigns is listed."""
from __future__ import annotations

import io
import json
import zipfile

from click.testing import CliRunner

import hashtrail
from hashtrail.cli import main
from hashtrail.pipeline.archive.releases import release_name, release_of
from hashtrail.pipeline.demo import tweet_id, userid


def jpeg(image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def test_release_names_come_from_the_archives():
    assert release_name("ira_tweet_media_hashed_1.zip") == "ira"
    assert release_name("iranian_tweet_media_hashed_12") == "iranian"
    assert release_name("china_052020_hashed_001.zip") == "china_052020"
    assert release_of("/d/china_052020_hashed_001/9000-k.jpg", "/d") == "china_052020"
    assert release_of("/d/ira_tweet_media_hashed_1.zip!ira_1/u/images/1-k.jpg", "/d") == "ira"
    assert release_of("/d/russia_201901_1/x.jpg", "/d/russia_201901_1") == "russia_201901"


def test_reuse_across_campaigns_is_listed_and_filtered(tmp_path, photo):
    root = tmp_path / "releases"
    root.mkdir()
    for name, account, seed in (("ira_tweet_media_hashed_1.zip", 1, 7), ("china_052020_hashed_001.zip", 2, 7),
                                ("iranian_tweet_media_hashed_1.zip", 3, 8), ("ira_tweet_media_hashed_2.zip", 4, 8)):
        with zipfile.ZipFile(root / name, "w") as z:
            z.writestr(f"part/{userid(account)}/images/{tweet_id(account * 1000)}-k{account}.jpg", jpeg(photo(seed)))
    db = str(tmp_path / "r.db")
    assert CliRunner().invoke(main, ["scan", str(root), "--db", db]).exit_code == 0
    every = list(hashtrail.clusters(db=db))
    assert len(every) == 2
    across = list(hashtrail.clusters(db=db, across_releases=True))
    assert len(across) == 2 and {m["release"] for c in across for m in c["members"]} == {"ira", "china_052020",
                                                                                         "iranian"}
    china = list(hashtrail.clusters(db=db, release="china_052020"))
    assert len(china) == 1 and {m["release"] for m in china[0]["members"]} == {"ira", "china_052020"}
    table = CliRunner().invoke(main, ["clusters", "--db", db, "--across-releases"]).output
    assert "2 releases (china_052020, ira)" in table
    status = json.loads(CliRunner().invoke(main, ["status", "--db", db, "--format", "json"]).output)
    assert {r["release"]: r["media"] for r in status["releases"]} == {"ira": 2, "china_052020": 1, "iranian": 1}
