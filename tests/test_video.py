"""Videos and animated GIFs: keyframes, cross-format matching, and hostile video files.

Every video here is made by the real ffmpeg (tests/videos.py) and read by
the real ffmpeg (pipeline/video/ffmpeg_process.py): nothing is mocked.
"""
from __future__ import annotations

import json
import os
import random
import stat
import threading
import time
import zipfile

import pytest

import videos
from hashtrail.pipeline.media.fingerprint import fingerprint_file
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store
from click.testing import CliRunner

from hashtrail.cli import main

COPIES = ["reencode", "vp9_webm", "rescale", "letterbox", "fps_change", "trim_start", "cut", "gif", "frame"]


@pytest.fixture(scope="module")
def scanned_videos(video_tree, tmp_path_factory):
    from hashtrail import config

    root, files = video_tree
    db = str(tmp_path_factory.mktemp("videodb") / "videos.db")
    summary = scan([str(root)], config.load({}).replace(db=db, workers=2), Store(db))
    return db, files, summary


class Ran:
    def __init__(self, result):
        self.returncode, self.stdout, self.stderr = result.exit_code, result.output, str(result.exception or "")


def run_cli(args: list[str]) -> Ran:
    return Ran(CliRunner().invoke(main, args))


def cluster_of(store: Store) -> dict[str, int | None]:
    by_path = dict(store.db.execute("SELECT m.path, c.cluster_id FROM media m LEFT JOIN clusters c ON c.media_id = m.id"))
    return by_path


def test_every_reposted_copy_joins_the_source_across_formats(scanned_videos):
    db, files, summary = scanned_videos
    assert summary.failed == 0
    store = Store(db, create=False)
    clusters = cluster_of(store)
    source = clusters[files["source"]]
    assert source is not None
    assert {name: clusters[files[name]] == source for name in COPIES} == {name: True for name in COPIES}
    assert clusters[files["other"]] != source and clusters[files["mandelbrot"]] != source
    kinds = dict(store.db.execute("SELECT path, kind FROM media"))
    assert (kinds[files["source"]], kinds[files["gif"]], kinds[files["frame"]]) == ("video", "animation", "image")


def test_video_rows_carry_what_ffmpeg_probed(scanned_videos):
    db, files, _ = scanned_videos
    store = Store(db, create=False)
    row = next(store.db.query("SELECT * FROM media WHERE path = ?", [files["source"]]))
    assert (row["codec"], row["width"], row["height"], row["fps"]) == ("h264", 320, 240, 15.0)
    assert row["duration_s"] == pytest.approx(6.0, abs=0.1)
    assert row["frames"] == 3  # three photos: three distinct frames, whatever the sampling
    times = [t for (t,) in store.db.execute(
        "SELECT DISTINCT time_s FROM fingerprints WHERE media_id = ? ORDER BY time_s", [row["id"]])]
    assert times[0] == 0.0 and all(0 <= t < 6.0 for t in times)
    gif = next(store.db.query("SELECT * FROM media WHERE path = ?", [files["gif"]]))
    assert gif["codec"] == "GIF" and gif["duration_s"] == pytest.approx(2.0, abs=0.15)
    gif_times = [t for (t,) in store.db.execute("SELECT DISTINCT time_s FROM fingerprints WHERE media_id = ?",
                                                [gif["id"]])]
    # the GIF runs 2.3-4.3 s of the source: a frame each second, and one at the cut to the third photo
    assert 0.0 in gif_times and any(abs(t - 1.7) <= 0.1 for t in gif_times)


def test_show_and_clusters_say_which_frames_matched_and_when(scanned_videos):
    db, files, _ = scanned_videos
    store = Store(db, create=False)
    cluster_id = cluster_of(store)[files["source"]]
    result = run_cli(["show", str(cluster_id), "--db", db, "--format", "json"])
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["kinds"] == {"video": 8, "animation": 1, "image": 1}
    member = {m["path"]: m for m in shown["members"]}
    cut_id = member[files["cut"]]["media_id"]
    to_source = [m for m in member[files["source"]]["matches"] if m["media_id"] == cut_id][0]
    assert to_source["their_frames_matched"] == to_source["their_frames"] == 2  # the whole cut is in the source
    # the cut starts 2.5 s into the source: its frame at t matches the source's near t + 2.5
    assert any(abs((a - b) - 2.5) <= 1.0 for a, b in to_source["times"])
    frame_side = member[files["frame"]]["matches"]
    assert frame_side and all(m["frames"] == 1 and m["times"][0][0] is None for m in frame_side)
    table = run_cli(["show", str(cluster_id), "--db", db]).stdout
    assert "frames:" in table and "0:0" in table and "8 videos" in table


def test_match_finds_the_source_from_a_gif_and_from_a_frame(scanned_videos):
    db, files, _ = scanned_videos
    for query in (files["gif"], files["frame"]):
        result = run_cli(["match", query, "--db", db, "--format", "json"])
        assert result.returncode == 0, result.stderr
        found = {json.loads(line)["path"]: json.loads(line) for line in result.stdout.splitlines()}
        assert files["source"] in found and files["other"] not in found and files["mandelbrot"] not in found
        assert found[files["source"]]["times"]
        for m in found.values():  # one [query time, stored time] pair per matched frame of the query
            assert len(m["times"]) == m["frames_matched"]
            assert len({a for a, _ in m["times"]}) == len(m["times"])


def test_unrelated_videos_do_not_match(video_tree, settings):
    _, files = video_tree
    from hashtrail.pipeline.index.cluster import Thresholds, matching_pairs
    from hashtrail.pipeline.index.search import query_fingerprints
    import numpy as np
    from dataclasses import replace

    names = ["source", "other", "mandelbrot"]
    parts = []
    for k, name in enumerate(names):
        fp = query_fingerprints(fingerprint_file(files[name], "", settings).fingerprints)
        parts.append(replace(fp, media_id=np.full(len(fp.media_id), k)))
    joined = type(parts[0])(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                              ("media_id", "phash", "dhash", "phash256", "secondary", "time_s")))
    a, _ = matching_pairs(joined, Thresholds.from_settings(settings))
    assert len(a) == 0


def test_keyframes_only_when_a_full_decode_is_over_budget(video_tree, settings, tmp_path):
    _, files = video_tree
    photos = videos.make_photos(str(tmp_path / "photos"), [11, 12, 13])
    one_keyframe = videos.slideshow(str(tmp_path / "one_keyframe.mp4"), photos,
                                    extra=("-x264-params", "keyint=1000:scenecut=0"))
    keyframes = fingerprint_file(one_keyframe, "", settings.replace(dense_decode_pixels=0))
    dense = fingerprint_file(one_keyframe, "", settings)
    assert keyframes.status == dense.status == "ok"
    # one keyframe, at the start: the keyframe pass alone sees one picture of three
    assert keyframes.frames == 1
    dense_times = sorted({f["time_s"] for f in dense.fingerprints})
    # the time grid reaches every picture (2 s each; B-frames are skipped, so times fall on P-frames)
    assert dense.frames >= 3 and all(any(start <= t < start + 2 for t in dense_times) for start in (0, 2, 4))
    capped = fingerprint_file(files["source"], "", settings.replace(max_frames=2, frames_per_hour=0))
    assert capped.frames <= 2
    # frames_per_hour: a 6 s video earns ceil(6 x 3600 / 3600) = 6 frames, more than max_frames=2
    per_hour = fingerprint_file(files["source"], "", settings.replace(max_frames=2, frames_per_hour=3600))
    assert 2 < per_hour.frames <= 6


def test_a_video_inside_a_zip_is_read_and_matches_its_copy(video_tree, settings, tmp_path):
    _, files = video_tree
    archive = tmp_path / "media_hashed_1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(files["reencode"], "ira_9/abc/videos/1-k.mp4")
    inside = fingerprint_file(f"{archive}!ira_9/abc/videos/1-k.mp4", str(tmp_path), settings)
    plain = fingerprint_file(files["reencode"], "", settings)
    assert inside.status == "ok", inside.reason
    assert inside.fingerprints == plain.fingerprints and inside.sha256 == plain.sha256
    assert not list(tmp_path.glob("hashtrail-*"))  # the temporary copy is gone


def bad_videos(folder, source: str) -> dict[str, tuple[str, str]]:
    """name -> (path, words the failure reason must contain)."""
    data = open(source, "rb").read()
    out = {}

    def write(name: str, content: bytes, words: str):
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(content)
        out[name] = (path, words)

    write("truncated.mp4", data[: len(data) // 3], "could not decode")
    write("garbage.mp4", data[:32] + random.Random(3).randbytes(20000), "could not decode")
    out["audio.mp4"] = (videos.audio_only(os.path.join(folder, "audio.mp4")), "audio only")
    out["zero.mp4"] = (videos.zero_frames(os.path.join(folder, "zero.mp4")), "no video stream")
    return out


def test_bad_videos_fail_with_a_reason(video_tree, settings, tmp_path):
    _, files = video_tree
    for name, (path, words) in bad_videos(str(tmp_path), files["source"]).items():
        result = fingerprint_file(path, str(tmp_path), settings)
        assert result.status == "failed" and words in result.reason, (name, result.reason)


def test_caps_refuse_absurd_sizes_and_durations_before_decoding(video_tree, settings):
    _, files = video_tree
    big = fingerprint_file(files["source"], "", settings.replace(max_pixels=320 * 240 - 1))
    assert big.status == "failed" and "exceeds max_pixels" in big.reason
    long = fingerprint_file(files["source"], "", settings.replace(max_video_s=5.0))
    assert long.status == "failed" and "exceeds max_video_s" in long.reason
    heavy = fingerprint_file(files["source"], "", settings.replace(max_video_bytes=1000))
    assert heavy.status == "failed" and "max_video_bytes" in heavy.reason


def hanging_ffmpeg(folder) -> tuple[str, str]:
    """An 'ffmpeg' that starts a child of its own and then never answers."""
    pids = os.path.join(folder, "pids")
    script = os.path.join(folder, "ffmpeg")
    with open(script, "w") as fh:
        fh.write(f"#!/bin/sh\nsleep 300 &\necho $! >> {pids}\necho $$ >> {pids}\nsleep 300\n")
    os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)
    return script, pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead, only not yet reaped
        return fh.read().split(") ")[1][0] != "Z"


@pytest.mark.parametrize("where", ["main thread (file deadline)", "other thread (ffmpeg timer)"])
def test_hanging_ffmpeg_is_killed_with_its_whole_process_group(video_tree, settings, tmp_path, where):
    _, files = video_tree
    script, pids = hanging_ffmpeg(str(tmp_path))
    hung = settings.replace(ffmpeg=script, file_timeout_s=1.5)
    started = time.monotonic()
    if where.startswith("main"):
        result = fingerprint_file(files["source"], "", hung)
    else:
        box = []
        worker = threading.Thread(target=lambda: box.append(fingerprint_file(files["source"], "", hung)))
        worker.start()
        worker.join(30)
        result = box[0]
    assert time.monotonic() - started < 10
    assert result.status == "failed" and ("timed out" in result.reason or "did not finish" in result.reason)
    spawned = [int(line) for line in open(pids).read().split()]
    assert len(spawned) == 2
    deadline = time.monotonic() + 5
    while any(alive(p) for p in spawned) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in spawned if alive(p)], "ffmpeg or its child outlived the timeout"


def test_scan_with_a_hanging_ffmpeg_records_the_video_and_keeps_the_rest(video_tree, tmp_path, photo):
    from hashtrail import config
    from conftest import save, twitter_path

    _, files = video_tree
    script, _ = hanging_ffmpeg(str(tmp_path))
    root = tmp_path / "tree"
    save(twitter_path(root, 1, 1), photo(1))
    os.makedirs(root / "v")
    with open(files["source"], "rb") as src, open(root / "v" / "clip.mp4", "wb") as dst:
        dst.write(src.read())
    db = str(tmp_path / "h.db")
    settings = config.load({}).replace(db=db, workers=1, ffmpeg=script, file_timeout_s=1.0)
    summary = scan([str(root)], settings, Store(db))
    assert (summary.fingerprinted, summary.failed) == (1, 1)


def test_ffmpeg_dies_with_the_worker_that_started_it(video_tree, tmp_path):
    """A Celery hard limit or a pool timeout SIGKILLs the worker: its ffmpeg must not run on."""
    import signal
    import subprocess
    import sys

    _, files = video_tree
    script, pids = hanging_ffmpeg(str(tmp_path))
    code = ("import sys; from hashtrail import config; from hashtrail.pipeline.media.fingerprint import fingerprint_file; "
            f"fingerprint_file({files['source']!r}, '', config.load({{}}).replace(ffmpeg={script!r}, "
            "file_timeout_s=120))")
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(__file__)))
    deadline = time.monotonic() + 20
    while (not os.path.exists(pids) or len(open(pids).read().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    child, ffmpeg_pid = (int(x) for x in open(pids).read().split())
    assert alive(ffmpeg_pid)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 5
    while alive(ffmpeg_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(ffmpeg_pid), "ffmpeg outlived the worker that started it"
    os.kill(child, signal.SIGKILL)  # the fake's own child: real ffmpeg starts none


def test_containers_with_a_start_time_keep_frame_times_from_zero(video_tree, settings, tmp_path):
    """MPEG-TS starts at 1.4 s, a shifted MKV at 5 s: times must still run from 0, frames stay apart."""
    _, files = video_tree
    plain = fingerprint_file(files["source"], "", settings)
    shifted = str(tmp_path / "shifted.mkv")
    videos.ffmpeg("-i", files["source"], "-c", "copy", "-output_ts_offset", "5", shifted)
    ts = str(tmp_path / "clip.ts")
    videos.ffmpeg("-i", files["source"], "-c", "copy", "-f", "mpegts", ts)
    for path in (shifted, ts):
        result = fingerprint_file(path, "", settings)
        assert result.status == "ok", result.reason
        assert result.kind == "video"
        assert result.frames == plain.frames == 3
        assert sorted({f["time_s"] for f in result.fingerprints}) == sorted({f["time_s"] for f in plain.fingerprints})


def test_a_lying_header_cannot_refuse_or_hide_a_good_video(video_tree, settings, tmp_path):
    """Metadata that poses as the header's own lines changes no verdict."""
    _, files = video_tree
    spoofed = str(tmp_path / "spoofed.mp4")
    videos.ffmpeg("-i", files["source"], "-c", "copy", "-metadata", "title=Duration: 00:00:01.00, start: 0",
                  "-metadata", "comment=Stream #0:0: Video: h264, 16x16, 1 fps", spoofed)
    result = fingerprint_file(spoofed, "", settings.replace(max_video_s=5.5))
    assert result.status == "failed" and "max_video_s" in result.reason  # the real 6 s header line decides
    fine = fingerprint_file(spoofed, "", settings)
    assert fine.status == "ok" and (fine.width, fine.height) == (320, 240)


def test_identical_copies_of_a_still_each_get_the_frame_details_of_their_match():
    """Stills with identical hashes are collapsed before the join; each copy still says which frame it is."""
    import numpy as np

    from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, cluster_with_details

    video_a, video_b = np.uint64(0xF0F0F0F0), np.uint64(0xF0F0F0F0) << np.uint64(24)
    hashes = np.array([video_a, video_b, video_a, video_a], dtype=np.uint64)  # video: 2 frames; 2 identical stills
    fp = Fingerprints(np.array([1, 1, 2, 3]), hashes, hashes.copy(), np.tile(hashes[:, None], (1, 4)),
                      np.zeros(4, dtype=bool), np.array([0.0, 4.0, np.nan, np.nan]))
    assignments, details = cluster_with_details(fp, {}, Thresholds(16, 16, 64))
    assert {a.media_id: a.cluster_id for a in assignments} == {1: 1, 2: 1, 3: 1}
    by_pair = {(d.media_a, d.media_b): d for d in details}
    assert set(by_pair) == {(1, 2), (1, 3)}
    assert by_pair[(1, 3)].times == by_pair[(1, 2)].times == [[0.0, None]]


def test_a_big_family_of_near_identical_videos_keeps_each_member_s_closest_frame_details(monkeypatch):
    """Every pair of 24 reposts matches (276 pairs); the clusters hold all, the details each one's 5 closest."""
    import numpy as np

    from hashtrail.pipeline.index import video_pairs
    from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, cluster_with_details

    monkeypatch.setattr(video_pairs, "MATCHES_KEPT", 5)
    base = np.array([0x0F0F0F0F0F0F0F0F, 0x3C3C3C3C3C3C3C3C, 0x5A5A5A5A5A5A5A5A], dtype=np.uint64)
    media, hashes, times = [], [], []
    for m in range(1, 25):  # each copy one bit off the others in a frame of its own (no two identical)
        for f, h in enumerate(base):
            media.append(m)
            hashes.append(h ^ (np.uint64(1) << np.uint64(m)) if f == m % 3 else h)
            times.append(float(f))
    hashes = np.array(hashes, dtype=np.uint64)
    fp = Fingerprints(np.array(media), hashes, hashes.copy(), np.tile(hashes[:, None], (1, 4)),
                      np.zeros(len(media), dtype=bool), np.array(times))
    assignments, details = cluster_with_details(fp, {}, Thresholds(16, 16, 64))
    assert {a.media_id for a in assignments} == set(range(1, 25)) and len({a.cluster_id for a in assignments}) == 1
    pairs = {(d.media_a, d.media_b) for d in details}
    assert len(pairs) == len(details) < 276
    for m in range(1, 25):  # all shares are equal: a media keeps its first 5 pairs, and may be kept by others
        mine = sorted(p for p in pairs if m in p)
        firsts = sorted((min(m, o), max(m, o)) for o in range(1, 25) if o != m)[:5]
        assert set(firsts) <= set(mine)
    assert all(d.frames_a == d.of_a == 3 and len(d.times) == 3 for d in details)
