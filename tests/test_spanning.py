"""Only a spanning forest of the free plain pairs is kept (pipeline/index/spanning.py), and the clustering
is exactly that of every admitted row pair: clusters, distances, ``via``, frame details and the pixel check."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hashtrail.pipeline.index import cluster, spanning, video_pairs
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, cluster_edges, cluster_with_details
from hashtrail.pipeline.index.edges import member_vias
from hashtrail.pipeline.index.verification import Rule, verify_edges
from hashtrail.pipeline.media.hashing import SECONDARY, VARIANT_CODE

T = Thresholds(16, 16, 64)
STILL = ("full", "center", "trim", "trim_center", "uncaptioned", "banded", "rotate_m4", "rotate_p4", "mirror_full")


class KeepEverything(spanning.Forest):
    """The reference: every admitted row pair (what clustering used before the forest)."""

    def add(self, i, j):
        self.others.append((i, j))

    def pairs(self):
        return (np.concatenate([x for x, _ in self.others]).astype(np.int64),
                np.concatenate([y for _, y in self.others]).astype(np.int64))


def flip(rng, words: np.ndarray, bits: int) -> np.ndarray:
    out = words.copy()
    for _ in range(bits):
        out ^= np.uint64(1) << rng.integers(0, 64, out.shape).astype(np.uint64)
    return out


def archive(seed: int, families: int = 12, singles: int = 150) -> tuple[Fingerprints, dict[int, str]]:
    """Stills in families (2-60 members, members a few bits from the original, variants a few bits from
    their picture), members linked only by a rotation or a caption, identical probe rows of different
    pictures, byte-identical copies, and videos: some frames of one scene, some sharing a still's frame."""
    rng = np.random.default_rng(seed)
    media, code, p, d, q, time_s = [], [], [], [], [], []

    def add(m, name, words, t=np.nan):
        media.append(m), code.append(VARIANT_CODE[name]), time_s.append(t)
        p.append(words[0]), d.append(words[1]), q.append(words[2:6])

    pictures, rotated, m = [], [], 0
    sizes = [int(2 + 58 * rng.random() ** 3) for _ in range(families)] + [1] * singles
    for size in sizes:
        base = rng.integers(0, 2**64, 6, dtype=np.uint64)
        for k in range(size):
            picture = flip(rng, base, int(rng.integers(0, 7)) if k else 0)
            pictures.append(picture)
            names = [n for n in STILL if rng.random() < 0.6] or ["full"]
            if "full" not in names and rng.random() < 0.5:
                names.append("full")
            edit = rng.random()
            if k and edit < 0.25:  # only a hard edit links this member (a rotation, a caption band removed)
                add(m, "full", flip(rng, picture, 40))
                add(m, "rotate_p4" if edit < 0.15 else "uncaptioned", flip(rng, picture, 3))
                m += 1
                continue
            if k == 0 and size > 1:  # a family's original: its rotation's row is also another picture's
                names = [n for n in names if n != "rotate_m4"]
                rotated.append(flip(rng, picture, 3))
                add(m, "rotate_m4", rotated[-1])
            for name in names:
                add(m, name, flip(rng, picture, 0 if name == "full" else int(rng.integers(0, 9))))
            m += 1
    for words in rotated:  # a loner whose rotation row is a family original's: linked through that copy
        add(m, "full", rng.integers(0, 2**64, 6, dtype=np.uint64))
        add(m, "rotate_m4", words)
        m += 1
    for _ in range(6):  # different pictures with one identical probe row (e.g. a blank rotation)
        same = rng.integers(0, 2**64, 6, dtype=np.uint64)
        for _ in range(3):
            add(m, "full", rng.integers(0, 2**64, 6, dtype=np.uint64))
            add(m, "rotate_m4", same)
            m += 1
        target = flip(rng, same, 2)  # a picture that probe finds
        add(m, "full", target)
        m += 1
    for v in range(12):  # videos: frames of a family picture or of their own scenes
        frames = int(rng.integers(3, 12))
        source = pictures[int(rng.integers(0, len(pictures)))] if v % 2 else rng.integers(0, 2**64, 6, dtype=np.uint64)
        for f in range(frames):
            add(m, "full", flip(rng, source, int(rng.integers(0, 5))), float(f))
        m += 1
        if v % 3 == 0:  # a re-encoded copy of the video
            for f in range(frames):
                add(m, "full", flip(rng, source, int(rng.integers(0, 5))), float(f))
            m += 1
    media = np.asarray(media, dtype=np.int64)
    codes = np.asarray(code, dtype=np.int16)
    sha = {x: f"s{x}" for x in range(m)}
    for x in rng.integers(0, m, 10).tolist():  # byte-identical copies get a new id
        rows = np.nonzero(media == x)[0]
        media = np.concatenate([media, np.full(len(rows), m)])
        codes = np.concatenate([codes, codes[rows]])
        for col in (p, d, time_s):
            col += [col[r] for r in rows]
        q += [q[r] for r in rows]
        sha[m] = sha[x]
        m += 1
    secondary = np.isin(codes, [VARIANT_CODE[n] for n in SECONDARY])
    fp = Fingerprints(media, np.asarray(p, np.uint64), np.asarray(d, np.uint64), np.asarray(q, np.uint64),
                      secondary, np.asarray(time_s), codes, np.full(len(media), np.nan))
    return fp, sha


def everything(monkeypatch, run):
    with monkeypatch.context() as patch:
        patch.setattr(spanning, "Forest", KeepEverything)
        return run()


def summary(assignments, details):
    return (sorted(dataclasses.astuple(a) for a in assignments),
            sorted((d.media_a, d.media_b, d.frames_a, d.of_a, d.frames_b, d.of_b, str(d.times), d.offset_s)
                   for d in details))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clusters_distances_vias_and_frame_details_equal_those_of_every_row_pair(monkeypatch, seed):
    fp, sha = archive(seed)
    mine = summary(*cluster_with_details(fp, sha, T))
    want = summary(*everything(monkeypatch, lambda: cluster_with_details(fp, sha, T)))
    assert mine == want
    vias = {a[3] for a in want[0]}
    assert {"plain", "rotation", "caption removed"} <= vias and want[1]  # the test has them all


@dataclasses.dataclass
class Outcome:
    verified: bool
    score: float


def fake_check(pa, va, pb, vb) -> Outcome:
    """A deterministic stand-in for the pixel check: a function of the two media and variants only."""
    h = hash((pa, va, pb, vb)) % 7
    return Outcome(h >= 3, h / 7)


@pytest.mark.parametrize("seed,rule", [(4, Rule()), (5, Rule(10, 56)), (6, Rule())])
def test_the_pixel_check_joins_the_same_pairs_and_reports_the_same_links(monkeypatch, seed, rule):
    fp, sha = archive(seed)
    t = dataclasses.replace(T, verify=True, verify_plain=rule.plain_phash is not None)
    rows = np.nonzero(cluster.first_copies(fp, sha))[0]

    def outcome():
        edges, _ = cluster_edges(fp.take(rows), t)
        checked = verify_edges(edges, lambda ids: {x: x for x in ids}, rule, check=fake_check)
        from hashtrail.pipeline.index.verification import scored_vias
        graph = {}
        for a, b in zip(checked.edges.a.tolist(), checked.edges.b.tolist()):
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set()).add(a)
        label = {}
        for start in sorted(graph):  # components, labelled by their smallest media
            if start in label:
                continue
            stack = [start]
            while stack:
                x = stack.pop()
                if x not in label:
                    label[x] = start
                    stack += list(graph[x])
        return (label, scored_vias(member_vias(checked.edges), checked), checked.score, checked.checked,
                checked.rejected)

    mine, want = outcome(), everything(monkeypatch, outcome)
    assert mine == want
    assert want[3] and want[4]  # pairs were checked, and some failed


def test_a_large_family_keeps_a_spanning_forest_not_its_pairs():
    """60 near-identical stills with several variants: 1,770 media pairs, most found several times over."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**64, 6, dtype=np.uint64)
    names = ("full", "center", "trim", "rotate_p4")
    rows = [(m, name, flip(rng, base, 2)) for m in range(60) for name in names]
    codes = np.asarray([VARIANT_CODE[n] for _, n, _ in rows], dtype=np.int16)
    words = np.stack([w for _, _, w in rows])
    fp = Fingerprints(np.asarray([m for m, _, _ in rows], np.int64), words[:, 0].copy(), words[:, 1].copy(),
                      words[:, 2:6].copy(), np.isin(codes, [VARIANT_CODE["center"]]), np.full(len(rows), np.nan),
                      codes, np.full(len(rows), np.nan))
    every = len(cluster.matching_pairs(fp, T)[0])
    edges, _ = cluster_edges(fp, T)
    assert every >= 1770 and len(edges.a) == 59  # one tree over the 60 members
    assert {a.cluster_id for a in cluster.find_clusters(fp, {}, T)} == {0}


def test_streamed_shards_add_up_to_the_whole_join(monkeypatch):
    fp, _ = archive(8)
    got = []
    monkeypatch.setattr(cluster, "JOIN_SHARD_ROWS", 97)
    cluster.streamed_rows(fp, T, lambda i, j: got.append((i, j)))
    assert len(got) > 5
    pairs = sorted(zip(np.concatenate([i for i, _ in got]).tolist(), np.concatenate([j for _, j in got]).tolist()))
    assert pairs == sorted(zip(*(x.tolist() for x in cluster.matching_rows(fp, T))))


@pytest.mark.parametrize("seed", [1, 9])
def test_distances_of_all_members_at_once_equal_those_one_member_at_a_time(seed):
    fp, sha = archive(seed)
    found = cluster.find_clusters(fp, sha, T)
    rows_of = cluster._row_finder(fp)
    want = [cluster._distance(fp, rows_of, sha, a.cluster_id, a.media_id) for a in found]
    assert [a.distance for a in found] == want
    assert len(set(want)) > 3 and 0 in want  # copies, near and far members


@pytest.mark.parametrize("seed", [1, 4])
def test_video_pairs_counted_in_parts_give_the_same_edges_and_details(monkeypatch, seed):
    """media_edges counts video frames in parts by media (memory); the parts must not split a media pair."""
    fp, sha = archive(seed)
    whole = summary(*cluster_with_details(fp, sha, T))
    monkeypatch.setattr(video_pairs, "VIDEO_PAIR_ROWS", 5)
    parts = []
    real = video_pairs._media_parts
    monkeypatch.setattr(video_pairs, "_media_parts",
                        lambda media_id, vi, rows: parts.append(real(media_id, vi, rows)) or parts[-1])
    assert summary(*cluster_with_details(fp, sha, T)) == whole
    assert max(len(p) for p in parts) > 5  # the video pairs really went through several parts
    assert whole[1]  # frame details were compared


def test_a_streamed_join_of_some_rows_in_place_equals_the_join_of_their_copy(monkeypatch):
    """cluster_edges streams the join over a subset of rows without copying them; the pairs must be the copy's."""
    fp, _ = archive(6)
    rows = np.sort(np.random.default_rng(2).choice(len(fp.media_id), len(fp.media_id) * 2 // 3, replace=False))
    got = []
    monkeypatch.setattr(cluster, "JOIN_SHARD_ROWS", 97)
    cluster.streamed_rows(fp, T, lambda i, j: got.append((i, j)), rows)
    assert len(got) > 5
    pairs = sorted(zip(np.concatenate([i for i, _ in got]).tolist(), np.concatenate([j for _, j in got]).tolist()))
    i, j = cluster.matching_rows(fp.take(rows), T)
    want = sorted(zip(rows[i].tolist(), rows[j].tolist()))
    assert pairs == want and want


def test_media_edges_reorders_writable_pairs_in_place_and_copies_read_only_ones():
    fp, _ = archive(7)
    frame, count = fp.frames()
    i, j = cluster.matching_rows(fp, T)
    want = cluster.media_edges(fp, i.copy(), j.copy(), frame, count, T)
    ro_i, ro_j = i.copy(), j.copy()
    ro_i.flags.writeable = ro_j.flags.writeable = False
    got = cluster.media_edges(fp, ro_i, ro_j, frame, count, T)
    assert np.array_equal(ro_i, i) and np.array_equal(ro_j, j)  # read-only: left as they were
    for mine, theirs in zip(got[:2] + got[3:], want[:2] + want[3:]):
        assert np.array_equal(mine, theirs)
    assert len(want[0]) > 10
