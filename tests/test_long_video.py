"""Long videos (broadcasts): frames in proportion to length, clips found by ordered runs, and where they were cut.

The videos are small and made fast by the real ffmpeg (tests/videos.py):
a 144 s "broadcast" of 70 pictures held 2 s each after a 4 s title card
(more than max_frames=64 frames, so the ordered-run rule decides), a second
one of other pictures sharing only the title card, a 20 s clip cut from the
first and rescaled, the same pictures taken from other places and shuffled,
a clip of the second one's opening (its title card), and a still frame.
The first broadcast also shows a lookalike of the still's picture (the same
photo shifted by 3 px, as another shot of one scene is) earlier, at 44 s,
and shows one picture twice (at 24 s and again at 134 s, a studio view that
comes back), with a still of it.
"""
from __future__ import annotations

import json
import os
import re
import stat
import time

import pytest
from click.testing import CliRunner

import videos
from hashtrail import config
from hashtrail.cli import main
from hashtrail.pipeline.media.fingerprint import fingerprint_file
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store
from hashtrail.pipeline.video.keyframes import frame_cap, time_limit

CUT_AT, CUT_S = 47.3, 20.0
FRAME_AT = 100.9  # in picture 48, shown from 4 + 2 x 48 = 100 s
LOOKALIKE, LOOKALIKE_AT = 20, 44.0  # picture 20 (from 44 s) is picture 48 shifted by 3 px
REPEAT, AGAIN = 10, 65  # picture 10 (from 24 s) is shown again as picture 65 (from 134 s)
REPEAT_FRAME_AT = 24.9
PICTURE_S, TITLE_S = 2.0, 4.0


def shifted(path: str, out: str, pixels: int) -> str:
    """The picture moved ``pixels`` to the left (its left edge cut, the rest stretched back): a lookalike."""
    from PIL import Image
    with Image.open(path) as im:
        w, h = im.size
        im.convert("RGB").crop((pixels, 0, w, h)).resize((w, h), Image.BILINEAR).save(out)
    return out


@pytest.fixture(scope="module")
def broadcasts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broadcasts")
    photos = videos.make_photos(str(folder / "a"), list(range(1000, 1070)), (160, 120))
    others = videos.make_photos(str(folder / "b"), list(range(2000, 2070)), (160, 120))
    card = videos.title_card(str(folder / "title.png"))
    root = folder / "tree"
    os.makedirs(root)
    files = {name: str(root / f"{name}.{'jpg' if name.endswith('frame') else 'mp4'}")
             for name in ("long", "other_long", "clip", "shuffled", "title_clip", "title_clip_a", "frame",
                          "repeat_frame")}
    durations = [TITLE_S] + [PICTURE_S] * 70
    pictures = list(photos)
    pictures[LOOKALIKE] = shifted(photos[48], str(folder / "a" / "lookalike.png"), 3)
    pictures[AGAIN] = photos[REPEAT]
    videos.still_slideshow(files["long"], [card] + pictures, durations)
    videos.still_slideshow(files["other_long"], [card] + others, durations)
    videos.ffmpeg("-ss", f"{CUT_AT:g}", "-t", f"{CUT_S:g}", "-i", files["long"], "-vf", "scale=120:90",
                  "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", files["clip"])
    # the long one's pictures, each from another place, in another order: no stretch of it
    videos.still_slideshow(files["shuffled"], [photos[k] for k in (60, 5, 33, 18, 49, 11, 27)], 1.5)
    for name, source in (("title_clip", "other_long"), ("title_clip_a", "long")):  # each one's opening
        videos.ffmpeg("-t", "5.5", "-i", files[source], "-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
                      files[name])
    videos.frame_at(files["long"], files["frame"], FRAME_AT)
    videos.frame_at(files["long"], files["repeat_frame"], REPEAT_FRAME_AT)
    db = str(folder / "long.db")
    summary = scan([str(root)], config.load({}).replace(db=db, workers=2), Store(db))
    assert summary.failed == 0
    return db, files


def run_cli(args: list[str]):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + str(result.exception or "")
    return result.output


def ids_and_clusters(db: str) -> tuple[dict[str, int], dict[str, int | None]]:
    store = Store(db, create=False)
    rows = list(store.db.execute("SELECT m.path, m.id, c.cluster_id FROM media m "
                                 "LEFT JOIN clusters c ON c.media_id = m.id"))
    return {p: i for p, i, _ in rows}, {p: c for p, _, c in rows}


def test_a_long_video_keeps_frames_in_proportion_to_its_length(broadcasts, settings):
    db, files = broadcasts
    store = Store(db, create=False)
    (frames,) = store.db.execute("SELECT frames FROM media WHERE path = ?", [files["long"]]).fetchone()
    assert frames > 64  # 71 pictures: the old per-file cap of 64 would drop some
    capped = fingerprint_file(files["long"], "", settings.replace(frames_per_hour=0))
    assert capped.frames <= 64
    three_hours = 3 * 3600
    assert frame_cap(settings, three_hours) == 3 * settings.frames_per_hour > settings.max_frames
    assert frame_cap(settings, 10) == settings.max_frames
    assert time_limit(settings, three_hours) == settings.file_timeout_s + 3 * settings.file_timeout_per_hour_s


def test_a_clip_cut_from_a_long_video_matches_it_and_says_where(broadcasts):
    db, files = broadcasts
    ids, clusters = ids_and_clusters(db)
    assert clusters[files["clip"]] == clusters[files["long"]] is not None
    shown = json.loads(run_cli(["show", str(clusters[files["long"]]), "--db", db, "--format", "json"]))
    member = {m["path"]: m for m in shown["members"]}
    to_long = [m for m in member[files["clip"]]["matches"] if m["media_id"] == ids[files["long"]]][0]
    assert to_long["cut"]["clip"] == ids[files["clip"]] and to_long["cut"]["of"] == ids[files["long"]]
    assert abs(to_long["cut"]["start_s"] - CUT_AT) <= 2.0 and abs(to_long["offset_s"] - CUT_AT) <= 2.0
    assert to_long["cut"]["end_s"] - to_long["cut"]["start_s"] == pytest.approx(CUT_S, abs=0.5)
    assert to_long["frames_matched"] >= 3
    from_long = [m for m in member[files["long"]]["matches"] if m["media_id"] == ids[files["clip"]]][0]
    assert from_long["offset_s"] == -to_long["offset_s"] and from_long["cut"] == to_long["cut"]
    text = run_cli(["show", str(clusters[files["long"]]), "--db", db])
    found = re.search(rf"clip = 0:(\d\d)-1:(\d\d) of #{ids[files['long']]}", text)
    assert found and abs(int(found[1]) - CUT_AT) <= 2, text
    matched = run_cli(["match", files["clip"], "--db", db])
    assert re.search(r"this file = 0:4\d-1:0\d of that one", matched), matched
    as_json = [json.loads(line) for line in run_cli(["match", files["clip"], "--db", db, "--format", "json"]).split("\n")
               if line]
    best = [m for m in as_json if m["path"] == files["long"]][0]
    assert best["cut"]["clip"] == "query" and abs(best["cut"]["start_s"] - CUT_AT) <= 2.0


def still_matches(db: str, files: dict, still: str) -> tuple[dict, dict, str, str]:
    """The still's match to the long video from ``match`` (JSON), and from ``show`` (JSON), and both as text."""
    found = [json.loads(line) for line in run_cli(["match", files[still], "--db", db, "--format", "json"]).split("\n")
             if line]
    long = [m for m in found if m["path"] == files["long"]]
    assert long and files["other_long"] not in {m["path"] for m in found}
    ids, clusters = ids_and_clusters(db)
    assert clusters[files[still]] == clusters[files["long"]] is not None
    shown = json.loads(run_cli(["show", str(clusters[files["long"]]), "--db", db, "--format", "json"]))
    member = {m["path"]: m for m in shown["members"]}
    (in_show,) = [m for m in member[files[still]]["matches"] if m["media_id"] == ids[files["long"]]]
    return long[0], in_show, run_cli(["match", files[still], "--db", db]), \
        run_cli(["show", str(clusters[files["long"]]), "--db", db])


def test_a_still_frame_of_a_broadcast_finds_it_and_the_time_not_a_lookalikes(broadcasts):
    # the broadcast shows the still's picture at 100 s and a 3 px shifted copy of it at 44 s: both
    # within the hard thresholds, equally close in pHash64; the closest frame over all hashes is the right one
    db, files = broadcasts
    ids, _ = ids_and_clusters(db)
    matched, shown, matched_text, shown_text = still_matches(db, files, "frame")
    for m in (shown, matched):
        still, at = m["times"][0]  # the time reported first: before, show's was the lookalike's (44 s)
        assert still is None and 100.0 - 0.5 <= at <= FRAME_AT, m  # the picture it shows starts at 100 s
    for m in (shown, matched):
        (_, at), = m["times"]
        assert m["offset_s"] == at and m["cut"]["start_s"] == m["cut"]["end_s"] == round(at, 1)
        assert not m["also_at"], m  # the lookalike is farther by more than still_also_bits
    assert matched["cut"]["clip"] == "query" and shown["cut"]["clip"] == ids[files["frame"]]
    assert re.search(r"this file = 1:40 of that one\n", matched_text), matched_text
    assert f"still = 1:40 of #{ids[files['long']]}" in shown_text, shown_text


def test_a_still_of_a_picture_shown_twice_says_both_times(broadcasts):
    db, files = broadcasts
    shown_at = (TITLE_S + PICTURE_S * REPEAT, TITLE_S + PICTURE_S * AGAIN)  # 24 s and 134 s
    matched, shown, matched_text, shown_text = still_matches(db, files, "repeat_frame")
    for m in (matched, shown):
        (_, at), = m["times"]
        assert m["also_at"] and len(m["also_at"]) == 1, m
        found = sorted([at, m["also_at"][0]])
        assert all(start - 0.5 <= t <= start + PICTURE_S for t, start in zip(found, shown_at)), m
    assert re.search(r"this file = (0:24 of that one, also fits 2:14|2:14 of that one, also fits 0:24)\n",
                     matched_text), matched_text
    assert re.search(r"still = (0:24 of #\d+, also fits 2:14|2:14 of #\d+, also fits 0:24)", shown_text), shown_text


def test_shuffled_frames_and_a_shared_title_card_do_not_match(broadcasts):
    db, files = broadcasts
    _, clusters = ids_and_clusters(db)
    long = clusters[files["long"]]
    # every picture of "shuffled" is in the long video, but each at another offset: no ordered run
    assert clusters[files["shuffled"]] != long
    # the two broadcasts share their title card and nothing else; the title clip (the card and one
    # picture: half its frames, which the share rule would take) matches only the broadcast it was cut from
    assert clusters[files["other_long"]] != long and clusters[files["title_clip"]] != long
    # the title clip is the other one's opening: it matches that one
    assert clusters[files["title_clip"]] == clusters[files["other_long"]] is not None
    for query in ("shuffled", "title_clip"):
        found = {json.loads(line)["path"] for line in
                 run_cli(["match", files[query], "--db", db, "--format", "json"]).split("\n") if line}
        assert files["long"] not in found


def test_two_short_clips_that_share_only_their_opening_card_do_not_match(broadcasts):
    # each broadcast's first 5.5 s: the card for 4 s (several keyframes, one picture), then a picture
    # of its own. The card is half their frames, so the share rule alone took them as one video, and
    # through them the two broadcasts fell into one cluster; two pictures (or all of one) are needed now
    db, files = broadcasts
    ids, clusters = ids_and_clusters(db)
    assert clusters[files["title_clip_a"]] == clusters[files["long"]] is not None
    assert clusters[files["title_clip"]] == clusters[files["other_long"]] != clusters[files["long"]]
    found = {json.loads(line)["path"] for line in
             run_cli(["match", files["title_clip_a"], "--db", db, "--format", "json"]).split("\n") if line}
    assert files["long"] in found and files["title_clip"] not in found and files["other_long"] not in found


def fake_broadcast_ffmpeg(folder: str, hours: int, runs_s: float) -> str:
    """An 'ffmpeg' that declares a video of ``hours`` hours, then works for ``runs_s`` s and gives no frame."""
    script = os.path.join(folder, "ffmpeg")
    with open(script, "w") as fh:
        fh.write("#!/bin/sh\n"
                 "echo \"Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x':\" >&2\n"
                 f"echo '  Duration: {hours:02d}:00:00.00, start: 0.000000, bitrate: 900 kb/s' >&2\n"
                 "echo '  Stream #0:0(und): Video: h264 (High), yuv420p, 160x120, 10 fps, 10 tbr' >&2\n"
                 "echo 'Stream mapping:' >&2\n"
                 f"sleep {runs_s:g}\n")
    os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)
    return script


def test_the_time_limit_grows_with_the_declared_length(broadcasts, settings, tmp_path):
    _, files = broadcasts
    script = fake_broadcast_ffmpeg(str(tmp_path), 3, 2.0)
    tight = settings.replace(ffmpeg=script, file_timeout_s=1.0, file_timeout_per_hour_s=0.0)
    started = time.monotonic()
    result = fingerprint_file(files["clip"], "", tight)
    assert result.status == "failed" and ("timed out" in result.reason or "did not finish" in result.reason)
    assert time.monotonic() - started < 1.9
    # 1 s + 1 s per hour: a 3-hour header earns 4 s, and the 2 s run ends on its own
    result = fingerprint_file(files["clip"], "", tight.replace(file_timeout_per_hour_s=1.0))
    assert result.status == "failed" and "no decodable video frame" in result.reason, result.reason


def test_videos_hashed_with_the_old_per_file_cap_are_read_again(broadcasts, tmp_path):
    import sqlite3
    from hashtrail.pipeline.archive.accounts import AccountRule
    from hashtrail.pipeline.media.hashing import HASHER
    from hashtrail.pipeline.scan import plan
    from hashtrail.pipeline.video.keyframes import VIDEO_HASHER

    db, files = broadcasts
    copy = str(tmp_path / "copy.db")
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # WAL: the file alone may not hold the last writes
    store = Store(copy)
    hashers = dict(store.db.execute("SELECT path, hasher FROM media"))
    assert hashers[files["long"]] == VIDEO_HASHER and hashers[files["frame"]] == HASHER
    rule = AccountRule.from_settings(config.load({}))
    root = os.path.dirname(files["long"])
    assert plan([root], store, rule).todo == []
    store.db.execute("UPDATE media SET hasher = ? WHERE path = ?", [HASHER, files["long"]])  # an older hashtrail's
    store.db.conn.commit()
    assert [f.path for f in plan([root], store, rule).todo] == [files["long"]]


def test_a_still_is_placed_at_its_closest_shot_and_lists_the_ones_as_close():
    import numpy as np
    from hashtrail.pipeline.index.still_time import place
    # one still against one long video; per matched row pair: frame id, time, rank, bits as a whole, bits
    frame = np.array([3, 4, 10, 20, 20, 30, 40])
    time_s = np.array([6.0, 8.0, 20.0, 40.0, 40.0, 60.0, 80.0])
    rank = np.array([0, 0, 0, 0, 0, 0, 4])  # frame 40 only through a crop window: another shot
    whole = np.array([30, 28, 20, 25, 25, 60, 0])
    bits = np.array([14, 12, 9, 2, 15, 40, 0])  # frame 20's best single pair is closer than frame 10's
    best, also = place(np.zeros(len(frame), np.int64), 1, frame, time_s, rank, whole, bits, margin=6)
    assert time_s[best[0]] == 20.0  # plain, and the closest as a whole (20 bits)
    # frames 3 and 4 are one shot (next to each other): listed once, at its closest (8 s, 28 bits, not
    # within 6); 40 s (25 bits) is; 60 s (60 bits) and the crop window are not
    assert also[0] == [40.0]
    best, also = place(np.zeros(2, np.int64), 1, np.array([5, 9]), np.array([30.0, 10.0]), np.zeros(2, np.int64),
                       np.array([7, 7]), np.array([7, 7]), margin=0)
    assert best[0] == 1 and also[0] == [30.0]  # a tie: the earlier time (10 s) is the answer, the other is listed


def test_the_long_benchmark_life_pictures_all_differ(tmp_path):
    """benchmarks/long_video.py: a still of a picture shown in many places has no single right time.

    Its first version took one life board for all of a source's life pictures, and the board settled into
    a still life: in patterns-3h from picture ~121 on (40 generations apart) every one was the same image.
    A small board settles sooner (one board of this seed at 96x64 repeats from picture 68): 80 pictures
    now repeat none, and the check that guards the sources finds a repeat.
    """
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
    import long_video
    files = long_video.life_pictures(str(tmp_path), 80, (96, 64), sum(map(ord, "patterns-3h")))
    assert len(files) == 80 and all(os.path.getsize(f) > 0 for f in files)
    assert long_video.duplicates(files) == 0
    assert long_video.duplicates(files + files[:2]) == 2


def test_distinct_pictures_counts_frames_with_different_first_partners_whatever_the_ids():
    """The two-picture rule's count, against its definition in plain Python, on negative ids too (a query's frames)."""
    import numpy as np

    from hashtrail.pipeline.index.clip_runs import _distinct_pictures
    rng = np.random.default_rng(7)
    for _ in range(200):
        n, m, low = int(rng.integers(1, 12)), int(rng.integers(1, 80)), int(rng.integers(-40, 5))
        group = rng.integers(0, n, m)
        frame = rng.integers(low, low + 15, m)
        partner = np.full(m, -1) if rng.random() < 0.2 else rng.integers(low, low + 15, m)
        first: dict = {}
        for g, f, p in zip(group.tolist(), frame.tolist(), partner.tolist()):
            first[g, f] = min(p, first.get((g, f), p))
        expected = [len({p for (g, _), p in first.items() if g == k}) for k in range(n)]
        assert _distinct_pictures(group, frame, partner, n).tolist() == expected


def test_distinct_values_per_group_whatever_the_ids():
    """clip_runs.distinct_per_group (frames matched per media pair) against its definition in plain Python."""
    import numpy as np

    from hashtrail.pipeline.index.clip_runs import distinct_per_group
    rng = np.random.default_rng(4)
    for _ in range(20):
        n = int(rng.integers(1, 30))
        group = rng.integers(0, n, int(rng.integers(1, 200)))
        value = rng.integers(-40, 40, len(group))  # a query's frames have negative ids
        expected = [len({v for g, v in zip(group.tolist(), value.tolist()) if g == k}) for k in range(n)]
        assert distinct_per_group(group, value, n).tolist() == expected
    assert distinct_per_group(np.zeros(0, np.int64), np.zeros(0, np.int64), 3).tolist() == [0, 0, 0]
