"""Time-windowed co-sharing networks, coordinated groups, timelines and clusters set aside, on a generated release.

Accounts A and B post one picture 30 s apart and C posts it two days later;
D and E post another picture 8 s apart. The tweet ids carry those times
(Snowflake), as in a real release.
"""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hashtrail.cli import main
from hashtrail.pipeline import transforms
from hashtrail.pipeline.coordination import BadWindow, Posts, co_sharing_edges, parse_window
from hashtrail.pipeline.demo import tweet_id, userid

from conftest import save

A, B, C, D, E = (userid(n) for n in range(1, 6))
DAY = 86_400_000


@pytest.fixture
def release(tmp_path, photo):
    root = tmp_path / "release"
    posts = {}

    def post(account, ms, picture, name):
        tid = tweet_id(ms)
        posts[name] = tid
        return save(os.path.join(str(root), "ira_1", account, "images", f"{tid}-{name}.jpg"), picture)

    post(A, 10_000, photo(1), "a1")
    post(B, 40_000, transforms.border(photo(1), 0.05), "b1")  # a re-edited copy, 30 s later
    post(C, 10_000 + 2 * DAY, photo(1), "c1")
    post(D, 5 * DAY, photo(2), "d2")
    post(E, 5 * DAY + 8_000, photo(2), "e2")
    post(A, 9 * DAY, photo(3), "a3")  # a picture posted by one account only: no edge
    db = str(tmp_path / "coord.db")
    result = CliRunner().invoke(main, ["scan", str(root), "--db", db, "--workers", "2"])
    assert result.exit_code == 0, result.output
    return db, posts


def run(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def pairs(csv_text: str) -> set[frozenset]:
    return {frozenset(line.split(",")[:2]) for line in csv_text.splitlines()[1:]}


def test_a_window_keeps_close_co_posts_only(release):
    db, _ = release
    assert pairs(run("graph", "--db", db, "--window", "60s")) == {frozenset({A, B}), frozenset({D, E})}
    assert pairs(run("graph", "--db", db, "--window", "5s")) == set()  # 30 s and 8 s apart: both out
    assert pairs(run("graph", "--db", db, "--window", "10s")) == {frozenset({D, E})}
    ever = pairs(run("graph", "--db", db))
    assert ever == {frozenset({A, B}), frozenset({A, C}), frozenset({B, C}), frozenset({D, E})}
    assert pairs(run("graph", "--db", db, "--window", "3d")) == ever


def test_evidence_names_the_clusters_posts_and_delays(release):
    db, posts = release
    edges = [json.loads(line) for line in run("graph", "--db", db, "--window", "60s", "--format", "json").splitlines()]
    ab = next(e for e in edges if {e["source"], e["target"]} == {A, B})
    assert ab["weight"] == 1 and ab["co_posts"] == 1 and len(ab["clusters"]) == 1
    (ev,) = ab["evidence"]
    assert {ev["source_post"], ev["target_post"]} == {posts["a1"], posts["b1"]}
    assert ev["cluster"] == ab["clusters"][0] and ev["delay_s"] == 30.0
    assert ev["source_time"] < ev["target_time"] and ev["source_account"] == A


def test_an_ignored_cluster_drops_its_edges_and_comes_back(release):
    db, _ = release
    edges = [json.loads(line) for line in run("graph", "--db", db, "--window", "60s", "--format", "json").splitlines()]
    de = next(e for e in edges if {e["source"], e["target"]} == {D, E})["clusters"][0]
    assert "set aside 1 cluster" in run("ignore", de, "--reason", "channel logo", "--db", db)
    assert pairs(run("graph", "--db", db, "--window", "60s")) == {frozenset({A, B})}
    assert de not in {json.loads(c)["cluster"] for c in run("clusters", "--db", db, "--format", "json").splitlines()}
    assert "channel logo" in run("ignore", "--list", "--db", db)
    assert "set aside with 'hashtrail ignore' (channel logo)" in run("show", de, "--db", db)
    assert json.loads(run("show", de, "--db", db, "--format", "json"))["ignored"] is True
    assert "1 cluster set aside" in run("status", "--db", db)
    assert pairs(run("graph", "--db", db, "--window", "60s", "--include-ignored")) == \
        {frozenset({A, B}), frozenset({D, E})}
    run("unignore", de, "--db", db)
    assert pairs(run("graph", "--db", db, "--window", "60s")) == {frozenset({A, B}), frozenset({D, E})}


def test_groups_and_network_files(release, tmp_path):
    db, _ = release
    found = [json.loads(line) for line in run("groups", "--db", db, "--window", "60s", "--format", "json").splitlines()]
    assert sorted(sorted(g["accounts"]) for g in found) == sorted([sorted([A, B]), sorted([D, E])])
    de = next(g for g in found if D in g["accounts"])
    assert de["median_delay_s"] == 8.0 and de["first"] < de["last"]
    assert "2 groups of accounts" in run("groups", "--db", db, "--window", "60s")
    gexf = tmp_path / "g.gexf"
    gexf.write_text(run("graph", "--db", db, "--window", "60s", "--format", "gexf"))
    graphml = tmp_path / "g.graphml"
    graphml.write_text(run("graph", "--db", db, "--window", "60s", "--format", "graphml"))
    for graph in (nx.read_gexf(gexf), nx.read_graphml(graphml)):
        assert {frozenset(e) for e in graph.edges()} == {frozenset({A, B}), frozenset({D, E})}
    refused = CliRunner().invoke(main, ["groups", "--db", db])
    assert refused.exit_code != 0 and "needs --window" in refused.output


def test_timeline_files_show_every_post(release, tmp_path):
    db, _ = release
    cluster = next(json.loads(c) for c in run("clusters", "--db", db, "--format", "json").splitlines()
                   if json.loads(c)["size"] == 3)
    svg, png = tmp_path / "spread.svg", tmp_path / "spread.png"
    assert "3 posts of cluster" in run("timeline", cluster["cluster"], "--out", svg, "--db", db)
    run("timeline", cluster["cluster"], "--out", png, "--db", db)
    tree = ET.parse(svg)  # well-formed SVG
    assert tree.getroot().tag.endswith("svg")
    text = svg.read_text()
    assert text.count("<use") >= 3 or text.count("<path") >= 3  # a marker per post
    labels = "".join(t.text or "" for t in tree.iter() if t.tag.endswith("text"))
    for account in (A, B, C):
        assert account[:16] in labels  # real text, not glyph outlines
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 400
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
        assert ((pixels[:, 0] > 150) & (pixels[:, 1] < 90)).any()  # the first post in red
    bad = CliRunner().invoke(main, ["timeline", str(cluster["cluster"]), "--out", str(tmp_path / "x.gif"), "--db", db])
    assert bad.exit_code != 0 and ".svg or .png" in bad.output


def test_windows_read_as_durations():
    assert parse_window("60s") == 60 and parse_window("10m") == 600 and parse_window("1d") == 86400
    assert parse_window("1.5h") == 5400 and parse_window("45") == 45
    for bad in ("", "ten minutes", "-5s", "0s", "5y"):
        with pytest.raises(BadWindow):
            parse_window(bad)


def test_a_viral_cluster_costs_its_close_pairs_not_all_pairs():
    """20,000 posts of one picture over a year, by 2,000 accounts: a 60 s window pairs only the close ones."""
    rng = np.random.default_rng(3)
    n = 20_000
    start = np.datetime64("2017-01-01T00:00:00")
    times = start + np.sort(rng.integers(0, 365 * 86400, n)).astype("timedelta64[s]")
    rows = [(1, f"acct{rng.integers(0, 2000)}", str(k), str(t) + "+00:00", k) for k, t in enumerate(times)]
    posts = Posts.from_rows(rows)
    edges = co_sharing_edges(posts, 60.0)
    t = posts.time_s
    brute = {frozenset((posts.names[posts.account[x]], posts.names[posts.account[y]]))
             for x in range(n) for y in range(x + 1, min(n, x + 50)) if t[y] - t[x] <= 60
             and posts.account[x] != posts.account[y]}
    assert {frozenset((e.source, e.target)) for e in edges} == brute
    assert sum(e.co_posts for e in edges) < n  # a few hundred close pairs, not 200 million


def test_suggest_ignore_names_flat_and_everywhere_clusters(tmp_path, photo):
    root = tmp_path / "r"
    blankish = Image.new("RGB", (400, 300), (200, 200, 200))
    blankish.paste((190, 190, 190), (0, 0, 200, 300))  # a little detail: hashed, but flat
    for n in range(8):  # one picture posted by every account
        save(os.path.join(str(root), "ira_1", userid(n), "images", f"{tweet_id(n * 1000)}-x{n}.jpg"), photo(9))
    for n in range(2):
        save(os.path.join(str(root), "ira_1", userid(n), "images", f"{tweet_id(99_000 + n)}-f{n}.jpg"), blankish)
    save(os.path.join(str(root), "ira_1", userid(1), "images", f"{tweet_id(500_000)}-p.jpg"), photo(10))
    save(os.path.join(str(root), "ira_1", userid(2), "images", f"{tweet_id(600_000)}-q.jpg"), photo(10))
    db = str(tmp_path / "s.db")
    run("scan", root, "--db", db)
    found = [json.loads(line) for line in run("clusters", "--suggest-ignore", "--format", "json", "--db", db).splitlines()]
    why = {c["accounts"]: c["why"] for c in found}
    assert "posted by 8 of 8 accounts" in why[8]
    assert any("flat or logo-like" in w for w in why.values())
    assert all(c["accounts"] != 2 or "flat" in c["why"] for c in found)  # the ordinary pair is not noise
    assert "hashtrail ignore" in run("clusters", "--suggest-ignore", "--db", db)


def test_show_and_clusters_flag_fast_reposts(release):
    db, posts = release
    clusters = [json.loads(c) for c in run("clusters", "--db", db, "--format", "json", "--window", "60s").splitlines()]
    assert clusters[0]["fast_reposts"] == 1  # the clusters with a fast repost come first
    three = next(c for c in clusters if c["size"] == 3)
    fast = {m["post_id"]: m["fast_repost"] for m in three["members"]}
    assert fast == {posts["a1"]: False, posts["b1"]: True, posts["c1"]: False}
    shown = run("show", three["cluster"], "--db", db, "--window", "60s")
    assert "FAST = posted within 60 s" in shown and shown.count(" FAST ") == 1
    assert "fast_repost" not in run("clusters", "--db", db, "--format", "json")  # only when asked


def test_an_ignore_follows_its_cluster_when_it_grows_or_is_merged(tmp_path):
    from hashtrail.pipeline.store import Store

    store = Store(str(tmp_path / "i.db"))
    store.db.conn.executemany("INSERT INTO media (id, path, status, account) VALUES (?, ?, 'ok', ?)",
                              [(m, f"/m{m}", f"a{m}") for m in range(1, 8)])
    store.db.conn.executemany("INSERT INTO clusters (media_id, cluster_id, distance) VALUES (?, ?, ?)",
                              [(1, 1, 0), (2, 1, 0), (3, 3, 0), (4, 3, 0)])
    store.db.conn.commit()
    store.refresh_summaries()
    assert store.ignore_clusters([3, 99], "logo") == [99]
    store.db.execute("INSERT INTO clusters (media_id, cluster_id, distance) VALUES (5, 3, 0)")  # it grows
    store.db.conn.commit()
    store.refresh_summaries()
    assert [(r["cluster"], r["note"]) for r in store.ignored()] == [(3, None)]
    store.db.execute("UPDATE clusters SET cluster_id = 1 WHERE cluster_id = 3")  # a bridge merges it into 1
    store.db.conn.commit()
    store.refresh_summaries()
    (moved,) = store.ignored()
    assert moved["cluster"] == 1 and moved["reason"] == "logo" and "merged into cluster 1" in moved["note"]
    assert store.cluster_summaries(include_ignored=False) == []
