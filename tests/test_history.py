"""Releases as they ship: media zips plus tweets CSV -> first seen, accounts, network."""
import csv
import datetime as dt
import gzip
import io
import json
import os
import zipfile

import networkx as nx
import pytest
from click.testing import CliRunner

from hashtrail.cli import main
from hashtrail.pipeline import transforms
from hashtrail.pipeline.demo import tweet_id, userid
from hashtrail.pipeline.archive.posts import snowflake_time

TWEET_COLUMNS = ["tweetid", "userid", "user_display_name", "user_screen_name", "user_reported_location",
                 "user_profile_description", "user_profile_url", "follower_count", "following_count",
                 "account_creation_date", "account_language", "tweet_language", "tweet_text", "tweet_time",
                 "tweet_client_name", "in_reply_to_userid", "in_reply_to_tweetid", "quoted_tweet_tweetid",
                 "is_retweet", "retweet_userid", "retweet_tweetid", "latitude", "longitude", "quote_count",
                 "reply_count", "like_count", "retweet_count", "hashtags", "urls", "user_mentions", "poll_choices"]
A, B, C = userid(1), userid(2), userid(3)
HOUR = 3_600_000


def tweet_row(tid, account, time):
    row = {c: "" for c in TWEET_COLUMNS}
    row.update(tweetid=tid, userid=account, user_display_name=account, user_screen_name=account,
               follower_count="12.0", following_count="0.0", tweet_time=time, is_retweet="False",
               latitude="absent", longitude="absent", like_count="0.0", hashtags="['news', 'breaking']",
               urls="[]", user_mentions="[]", tweet_text="look at this")
    return row


@pytest.fixture
def release(tmp_path, photo):
    """Media zip + tweets CSV in two parts (the second gzipped, without poll_choices)."""
    one, two, three = photo(1), photo(2), photo(3)
    posts = [  # (account, image, ms since 2018 in the id, tweet_time in the CSV)
        (A, one, 10 * HOUR, "2019-01-01 10:00"),
        (B, transforms.resize(one, 0.5), 12 * HOUR, "2019-01-01 12:30"),
        (C, transforms.caption(one), 33 * HOUR, "2019-01-02 09:00"),
        (B, two, 50 * HOUR, "2019-01-03 00:00"),
        (A, transforms.border(two, 0.1), 55 * HOUR, "2019-01-03 05:00"),
        (C, three, 60 * HOUR, "2019-01-04 00:00"),
    ]
    archive = tmp_path / "ira_tweet_media_hashed_1.zip"
    rows = []
    with zipfile.ZipFile(archive, "w") as zf:
        for n, (account, image, ms, when) in enumerate(posts):
            tid = tweet_id(ms)
            buf = io.BytesIO()
            image.convert("RGB").save(buf, "JPEG", quality=90)
            zf.writestr(f"ira_1/{account}/images/{tid}-k{n}.jpg", buf.getvalue())
            rows.append(tweet_row(tid, account, when))
    part1 = tmp_path / "ira_tweets_csv_hashed_1.csv"
    with open(part1, "w", newline="") as fh:
        writer = csv.DictWriter(fh, TWEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows[:3])
    part2 = tmp_path / "ira_tweets_csv_hashed_2.csv.gz"
    with gzip.open(part2, "wt", newline="") as fh:
        columns = TWEET_COLUMNS[:-1]  # some releases lack poll_choices
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[3:])
    return tmp_path, archive, [part1, part2], rows


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def clusters(db):
    return [json.loads(line) for line in run("clusters", "--db", db, "--format", "json").splitlines()]


def iso(text):
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=dt.timezone.utc).isoformat()


def test_first_seen_is_the_earliest_tweet_time_of_the_members(release):
    folder, archive, parts, rows = release
    db = folder / "h.db"
    run("scan", archive, "--db", db)
    out = run("import", *parts, "--db", db)
    assert "tweets, 3 rows: 3 new" in out and "tweets, 3 rows: 3 new" in out.split("\n")[1]
    found = clusters(db)
    assert len(found) == 2
    times = {r["tweetid"]: iso(r["tweet_time"]) for r in rows}
    for cluster in found:
        members = cluster["members"]
        assert cluster["first_seen"] == min(times[m["post_id"]] for m in members)
        assert cluster["first_account"] == members[0]["account"]
        assert [m["posted_at"] for m in members] == sorted(times[m["post_id"]] for m in members)
        assert members[0]["delay_s"] == 0
    big = next(c for c in found if c["size"] == 3)
    assert big["first_account"] == A
    assert [m["delay_s"] for m in big["members"]] == [0, 9000, 82800]


def test_without_a_csv_post_times_come_from_the_tweet_id(release):
    folder, archive, _, _ = release
    db = folder / "s.db"
    run("scan", archive, "--db", db)
    for cluster in clusters(db):
        for m in cluster["members"]:
            assert m["posted_at"] == snowflake_time(m["post_id"])
        assert cluster["first_seen"] == min(m["posted_at"] for m in cluster["members"])
    assert snowflake_time(tweet_id(0)) == "2018-01-01T00:00:00+00:00"


def test_import_is_idempotent_and_order_independent(release):
    folder, archive, parts, _ = release
    db = folder / "i.db"
    run("import", *parts, "--db", db)  # before the scan: applied to media when they arrive
    run("scan", archive, "--db", db)
    before = clusters(db)
    run("import", *parts, "--db", db)
    assert clusters(db) == before
    import sqlite3
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM posts").fetchone()[0] == 6


def test_bad_rows_are_named_by_file_and_line_and_the_rest_is_imported(release, tmp_path):
    folder, archive, parts, rows = release
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as fh:
        writer = csv.DictWriter(fh, TWEET_COLUMNS)
        writer.writeheader()
        writer.writerow(tweet_row("12a", A, "2019-01-01 10:00"))
        writer.writerow(rows[0])
        writer.writerow(tweet_row("123", A, "yesterday"))
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,age\nx,1\n")
    result = CliRunner().invoke(main, ["import", str(wrong), str(bad), "--db", str(folder / "b.db")])
    assert result.exit_code == 1
    assert "wrong.csv" in result.output and "header is not a tweets CSV" in result.output
    assert f"{bad}:2: bad tweetid '12a'" in result.output
    assert f"{bad}:4: bad time 'yesterday'" in result.output
    assert "tweets, 1 row: 1 new, 0 changed, 0 unchanged, 2 bad rows skipped" in result.output


def test_graph_edges_and_accounts(release):
    folder, archive, parts, _ = release
    db = folder / "g.db"
    run("scan", archive, "--db", db)
    edges = list(csv.DictReader(io.StringIO(run("graph", "--db", db))))
    assert list(edges[0])[:2] == ["source", "target"]
    weights = {frozenset((e["source"], e["target"])): int(e["weight"]) for e in edges}
    assert weights == {frozenset((A, B)): 2, frozenset((A, C)): 1, frozenset((B, C)): 1}
    gexf = nx.read_gexf(io.BytesIO(run("graph", "--db", db, "--format", "gexf").encode()))
    assert gexf.number_of_nodes() == 3 and gexf[A][B]["weight"] == 2
    accounts = {r["account"]: r for r in map(json.loads, run("accounts", "--db", db, "--format", "json").splitlines())}
    assert accounts[A]["media"] == 2 and accounts[A]["shared_media"] == 2
    assert accounts[A]["shares_most_with"][0] == {"account": B, "clusters": 2}
    assert accounts[C]["shared_media"] == 1


def test_users_csv_gives_screen_names_and_hashed_names_are_dropped(release, tmp_path):
    folder, archive, _, _ = release
    users = tmp_path / "ira_users_csv_hashed.csv"
    users.write_text("userid,user_display_name,user_screen_name,user_reported_location,follower_count\n"
                     f"{A},{A},{A},absent,10.0\n{B},Real Name,real_b,Moscow,3.0\n")
    db = folder / "u.db"
    run("scan", archive, "--db", db)
    assert "users, 2 rows: 2 new" in run("import", users, "--db", db)
    accounts = {r["account"]: r for r in map(json.loads, run("accounts", "--db", db, "--format", "json").splitlines())}
    assert accounts[B]["screen_name"] == "real_b" and accounts[A]["screen_name"] is None


def test_manifest_ties_other_collections_to_posts(tmp_path, photo):
    from conftest import save
    save(str(tmp_path / "dump" / "x1.jpg"), photo(7))
    save(str(tmp_path / "dump" / "x2.jpg"), transforms.grayscale(photo(7)))
    manifest = tmp_path / "dump" / "manifest.csv"
    manifest.write_text("path,account,post_id,posted_at,platform,url\n"
                        "x1.jpg,chan_a,55,2020-05-01T08:00:00Z,telegram,https://t.me/a/55\n"
                        "x2.jpg,chan_b,9,2020-05-01 07:00,telegram,https://t.me/b/9\n")
    db = tmp_path / "m.db"
    run("scan", tmp_path / "dump", "--db", db)
    assert "manifest, 2 rows: 2 new" in run("import", manifest, "--db", db)
    (cluster,) = clusters(db)
    assert cluster["first_account"] == "chan_b" and cluster["first_seen"] == "2020-05-01T07:00:00+00:00"
    assert cluster["accounts"] == 2
