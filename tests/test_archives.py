"""Media read straight from zip archives, as Twitter's releases ship them."""
import io
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
    (zips / "ira_tweet_media_hashed_2.zip").write_bytes(os.urandom(len(data) // 2))  # not a zip at all
    store = Store(settings.db)
    summary = scan([str(zips)], settings, store)
    assert summary.fingerprinted == 2
    failed = list(store.db.query("SELECT path, reason FROM media WHERE status = 'failed'"))
    assert len(failed) == 1 and failed[0]["path"].endswith("ira_tweet_media_hashed_2.zip")
    assert "not a readable zip archive" in failed[0]["reason"]


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes sizes in data descriptors after each member (flag bit 3),
    as zips streamed by a web server are."""

    def __init__(self, fh):
        self.fh = fh

    def writable(self):
        return True

    def write(self, data):
        return self.fh.write(data)


def write_zip(path, files: dict[str, bytes], streamed: bool) -> list[int]:
    """Write a zip; the offsets where each member's local header starts, in order."""
    with open(path, "wb") as fh:
        target = _Unseekable(fh) if streamed else fh
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED if streamed else zipfile.ZIP_STORED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    with zipfile.ZipFile(path) as zf:
        return [i.header_offset for i in zf.infolist()]


def media_rows(store):
    return {p: (s, sha) for p, s, sha in store.db.execute("SELECT path, status, sha256 FROM media")}


@pytest.mark.parametrize("streamed", [False, True], ids=["sizes-in-headers", "data-descriptors"])
def test_truncated_zip_reads_its_complete_members_and_the_full_download_adds_no_duplicates(
        tmp_path, photo, settings, streamed):
    files = {}
    for n in range(5):
        buffer = io.BytesIO()
        photo(n, (160, 120)).save(buffer, "JPEG", quality=90)
        files[f"ira_1/{1000 + n}/images/{5000 + n}-k.jpg"] = buffer.getvalue()
    complete = tmp_path / "complete.zip"
    offsets = write_zip(complete, files, streamed)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    partial = downloads / "ira_tweet_media_hashed_1.zip"
    data = complete.read_bytes()
    partial.write_bytes(data[:offsets[3] + 100])  # cut inside the fourth member

    store = Store(settings.db)
    summary = scan([str(downloads)], settings, store)
    assert (summary.fingerprinted, summary.failed) == (3, 1)
    rows = media_rows(store)
    reason = store.db.execute("SELECT reason FROM media WHERE path = ?", [str(partial)]).fetchone()[0]
    assert "truncated zip" in reason and "partial download" in reason and "3 complete members" in reason
    members = sorted(files)[:3]
    assert {p for p in rows if p != str(partial)} == {f"{partial}!{m}" for m in members}

    partial.write_bytes(data)  # the download finished
    again = scan([str(partial)], settings, store)  # given directly this time
    assert (again.fingerprinted, again.failed) == (5, 0)
    whole = media_rows(store)
    ok = {p: sha for p, (status, sha) in whole.items() if status == "ok"}
    assert sorted(ok) == [f"{partial}!{m}" for m in sorted(files)]  # each member once, same paths
    assert all(ok[p] == rows[p][1] for p in rows if p != str(partial))  # the same bytes were read
    assert whole[str(partial)][0] == "missing"  # no longer reported as truncated


def test_member_over_the_size_cap_fails_without_inflating(release, settings):
    _, zips = release
    store = Store(settings.db)
    scan([str(zips)], settings.replace(max_image_bytes=1000), store)
    reasons = [r for (r,) in store.db.execute("SELECT reason FROM media WHERE status = 'failed'")]
    assert len(reasons) == 5 and all("max_image_bytes" in r for r in reasons)


def test_size_caps_hold_for_members_of_a_truncated_zip(tmp_path, photo, settings):
    buffer = io.BytesIO()
    photo(1, (320, 240)).save(buffer, "JPEG", quality=95)
    offsets = write_zip(tmp_path / "c.zip", {"a/1-k.jpg": buffer.getvalue(), "a/2-k.jpg": buffer.getvalue()}, True)
    cut = tmp_path / "cut" / "cut.zip"
    cut.parent.mkdir()
    cut.write_bytes((tmp_path / "c.zip").read_bytes()[:offsets[1] + 10])
    store = Store(settings.db)
    scan([str(cut)], settings.replace(max_image_bytes=1000), store)
    rows = dict(store.db.execute("SELECT path, reason FROM media WHERE status = 'failed'").fetchall())
    assert "max_image_bytes" in rows[f"{cut}!a/1-k.jpg"] and "truncated zip" in rows[str(cut)]
