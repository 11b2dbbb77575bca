"""Media read straight from zip archives, as Twitter's releases ship them."""
import os
import zipfile

import pytest

from hashtrail.pipeline import transforms
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store

from conftest import save, twitter_path


@pytest.fixture
def release(tmp_path, photo):
    """An unpacked tree and the same media as two release zips."""
    tree = tmp_path / "tree"
    original, other = photo(1), photo(2)
    save(twitter_path(tree / "p1", 1, 101), original)
    save(twitter_path(tree / "p1", 2, 102), transforms.border(original, 0.1))
    save(twitter_path(tree / "p2", 3, 103), transforms.resize(original, 0.5))
    save(twitter_path(tree / "p2", 4, 104), other)
    save(twitter_path(tree / "p2", 5, 105), transforms.caption(other))
    (tree / "p2" / "ira_1" / "README.txt").write_text("release notes")
    zips = tmp_path / "zips"
    zips.mkdir()
    for part, name in (("p1", "ira_tweet_media_hashed_1.zip"), ("p2", "ira_tweet_media_hashed_2.zip")):
        with zipfile.ZipFile(zips / name, "w") as zf:
            for folder, _, files in os.walk(tree / part):
                for f in files:
                    full = os.path.join(folder, f)
                    zf.write(full, os.path.relpath(full, tree / part))
    return tree, zips


def clusters_by_tail(store):
    """Clusters as sets of (account, post id, file name): comparable across layouts."""
    members = store.cluster_members([c["cluster"] for c in store.cluster_summaries()])
    return {frozenset((m["account"], m["post_id"], os.path.basename(m["path"])) for m in ms)
            for ms in members.values()}


def test_clusters_from_zips_equal_clusters_from_the_unpacked_tree(release, settings, tmp_path):
    tree, zips = release
    unpacked, zipped = Store(str(tmp_path / "u.db")), Store(str(tmp_path / "z.db"))
    a = scan([str(tree)], settings, unpacked)
    b = scan([str(zips)], settings, zipped)
    assert (a.fingerprinted, a.skipped) == (b.fingerprinted, b.skipped) == (5, 1)
    assert clusters_by_tail(unpacked) == clusters_by_tail(zipped)
    assert len(clusters_by_tail(zipped)) == 2
    paths = [p for (p,) in zipped.db.execute("SELECT path FROM media")]
    assert all(".zip!ira_1/" in p for p in paths)
    assert sorted(os.listdir(zips)) == ["ira_tweet_media_hashed_1.zip", "ira_tweet_media_hashed_2.zip"]


def test_zip_given_directly_and_rescan_is_unchanged(release, settings):
    _, zips = release
    one = str(zips / "ira_tweet_media_hashed_1.zip")
    store = Store(settings.db)
    assert scan([one], settings, store).fingerprinted == 2
    again = scan([one], settings, store)
    assert (again.unchanged, again.fingerprinted) == (2, 0)


def test_corrupt_zip_is_a_failed_row_and_the_rest_is_scanned(release, settings):
    _, zips = release
    data = (zips / "ira_tweet_media_hashed_2.zip").read_bytes()
    (zips / "ira_tweet_media_hashed_2.zip").write_bytes(data[: len(data) // 2])
    store = Store(settings.db)
    summary = scan([str(zips)], settings, store)
    assert summary.fingerprinted == 2
    failed = list(store.db.query("SELECT path, reason FROM media WHERE status = 'failed'"))
    assert len(failed) == 1 and failed[0]["path"].endswith("ira_tweet_media_hashed_2.zip")
    assert "not a readable zip archive" in failed[0]["reason"]


def test_member_over_the_size_cap_fails_without_inflating(release, settings):
    _, zips = release
    store = Store(settings.db)
    scan([str(zips)], settings.replace(max_image_bytes=1000), store)
    reasons = [r for (r,) in store.db.execute("SELECT reason FROM media WHERE status = 'failed'")]
    assert len(reasons) == 5 and all("max_image_bytes" in r for r in reasons)
