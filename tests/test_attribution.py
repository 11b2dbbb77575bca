"""Issue 18: accounts and post times from the tweets CSV when the media path does not carry them."""
import csv
import io
import json
import sqlite3
import zipfile

import pytest
from click.testing import CliRunner

import hashtrail
from hashtrail.cli import main
from hashtrail.pipeline.archive.accounts import AccountRule
from hashtrail.pipeline.demo import tweet_id
from hashtrail import config

from conftest import save
from test_history import A, B, C, TWEET_COLUMNS, tweet_row

FOLDER = "china_052020_hashed_001"
IDS = ["9000000000000000000", "9000000000000000001", "9000000000000000002"]


def run(*args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def clusters(db, *flags):
    return [json.loads(line) for line in run("clusters", "--db", db, "--format", "json", *flags).splitlines()]


def media(db) -> dict:
    """File name -> (account, post_id, posted_at, account_source)."""
    return {path.rsplit("/", 1)[-1].rsplit("!", 1)[-1]: rest for path, *rest in sqlite3.connect(db).execute(
        "SELECT path, account, post_id, posted_at, account_source FROM media")}


def edges(db, *flags):
    return {frozenset((e["source"], e["target"])): int(e["weight"])
            for e in csv.DictReader(io.StringIO(run("graph", "--db", db, *flags)))}


def write_tweets(path, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, TWEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def jpeg(image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def flat(tmp_path, photo):
    """The issue's fixture: three Twitter-named files in one flat folder, the first two the same picture."""
    release = tmp_path / "release"
    for n, (tid, seed) in enumerate(zip(IDS, (1, 1, 2))):
        save(str(release / FOLDER / f"{tid}-key{n}.jpg"), photo(seed))
    tweets = write_tweets(tmp_path / "china_052020_tweets_csv_hashed.csv",
                          [tweet_row(IDS[0], "userA", "2020-03-01 10:00"),
                           tweet_row(IDS[1], "userB", "2020-03-01 12:30")])
    return release, tweets


def test_post_id_comes_from_a_twitter_file_name_wherever_it_sits():
    from hashtrail.pipeline.archive.accounts import media_key

    rule = AccountRule.from_settings(config.load({}))
    who = rule.attribute(f"/data/rel/{FOLDER}/{IDS[0]}-key0.jpg", "/data/rel")
    assert (who.account, who.post_id, who.rule) == (FOLDER, IDS[0], "folder")
    who = rule.attribute(f"/data/rel/x.zip!media/2020/{IDS[1]}-k_1-x.mp4", "/data/rel")
    assert (who.account, who.post_id) == ("media", IDS[1])
    assert rule.attribute(f"/data/{IDS[2]}-k.jpg", "/data").post_id == IDS[2]  # no folder, still a post
    assert rule.attribute("/data/alice/holiday-photo.jpg", "/data").post_id is None
    assert media_key(f"{IDS[0]}-key0.jpg") == f"{IDS[0]}-key0" and media_key("photo.jpg") is None
    custom = AccountRule(r"twitter/(?P<account>[^/]+)/(?P<post_id>\d+)_\d+\.\w+$")
    assert custom.attribute("twitter/some_user/1234567890_1.jpg").post_id == "1234567890"


@pytest.mark.parametrize("import_first", [False, True])
def test_flat_folder_takes_accounts_and_times_from_the_tweets_csv(flat, tmp_path, import_first):
    release, tweets = flat
    db = tmp_path / "flat.db"
    steps = [("import", tweets), ("scan", release)]
    for command, path in (reversed(steps) if not import_first else steps):
        run(command, path, "--db", db)
    rows = media(db)
    assert rows[f"{IDS[0]}-key0.jpg"] == ["userA", IDS[0], "2020-03-01T10:00:00+00:00", "tweets"]
    assert rows[f"{IDS[1]}-key1.jpg"] == ["userB", IDS[1], "2020-03-01T12:30:00+00:00", "tweets"]
    assert rows[f"{IDS[2]}-key2.jpg"][:2] == [FOLDER, IDS[2]]  # not in the CSV: the path's account
    assert rows[f"{IDS[2]}-key2.jpg"][3] == "folder"
    (cluster,) = clusters(db)
    assert (cluster["size"], cluster["accounts"]) == (2, 2)
    assert cluster["first_seen"] == "2020-03-01T10:00:00+00:00" and cluster["first_account"] == "userA"
    assert [m["delay_s"] for m in cluster["members"]] == [0, 9000]
    assert edges(db) == {frozenset(("userA", "userB")): 1}
    accounts = {r["account"]: r for r in map(json.loads, run("accounts", "--db", db, "--format", "json").splitlines())}
    assert accounts["userA"]["shared_media"] == 1 and accounts[FOLDER]["media"] == 1
    who = json.loads(run("status", "--db", db, "--format", "json"))["attribution"]
    assert who == {"tweets": 2, "manifest": 0, "pattern": 0, "folder": 1, "none": 0, "disagree": 0}
    assert "accounts from: tweets CSV 2" in run("status", "--db", db)


def test_a_zip_of_an_unknown_shape_gets_accounts_times_and_seconds(tmp_path, photo):
    first, second = tweet_id(10 * 3_600_000 + 37_000), tweet_id(12 * 3_600_000 + 5_000)
    archive = tmp_path / "china_052020_hashed_002.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"export/2018/01/{first}-AbC_1.jpg", jpeg(photo(4)))
        zf.writestr(f"other/{second}-xYz-2.jpg", jpeg(photo(4).resize((320, 240))))
    tweets = write_tweets(tmp_path / "t.csv", [tweet_row(first, A, "2018-01-01 10:00"),
                                               tweet_row(second, B, "2018-01-01 12:00")])
    db = tmp_path / "z.db"
    run("scan", archive, "--db", db)
    assert {r[0] for r in media(db).values()} == {"export", "other"}  # before the CSV: the folders
    assert edges(db) == {frozenset(("export", "other")): 1}
    run("import", tweets, "--db", db)
    rows = media(db)
    assert rows[f"{first}-AbC_1.jpg"] == [A, first, "2018-01-01T10:00:37+00:00", "tweets"]  # the id's seconds
    assert rows[f"{second}-xYz-2.jpg"] == [B, second, "2018-01-01T12:00:05+00:00", "tweets"]
    (cluster,) = clusters(db)
    assert cluster["accounts"] == 2 and cluster["first_account"] == A
    assert cluster["first_seen"] == "2018-01-01T10:00:37+00:00"
    assert [m["delay_s"] for m in cluster["members"]] == [0, 2 * 3600 - 32]
    assert edges(db) == {frozenset((A, B)): 1}


def test_the_csv_wins_over_a_wrong_pattern_and_status_counts_the_disagreement(tmp_path, photo):
    tid, other = tweet_id(1000), tweet_id(2000)
    save(str(tmp_path / "m" / "ira_1" / A / "images" / f"{tid}-k.jpg"), photo(1))
    save(str(tmp_path / "m" / "ira_1" / B / "images" / f"{other}-k.jpg"), photo(1))
    tweets = write_tweets(tmp_path / "t.csv", [tweet_row(tid, C, "2018-01-01 00:00"),
                                               tweet_row(other, B, "2018-01-01 00:00")])
    db = tmp_path / "p.db"
    run("scan", tmp_path / "m", "--db", db)
    run("import", tweets, "--db", db)
    assert media(db)[f"{tid}-k.jpg"][0] == C
    who = json.loads(run("status", "--db", db, "--format", "json"))["attribution"]
    assert (who["tweets"], who["disagree"]) == (2, 1)
    assert "1 where the CSV names another account than account_pattern" in run("status", "--db", db)
    run("scan", tmp_path / "m", "--db", db)  # a rescan does not put the path's account back
    assert media(db)[f"{tid}-k.jpg"][0] == C


def test_a_retweet_is_marked_and_is_no_reuse_unless_asked(tmp_path, photo):
    own, rt, third = tweet_id(1 * 3_600_000), tweet_id(2 * 3_600_000), tweet_id(3 * 3_600_000)
    for account, tid in ((A, own), (B, rt), (C, third)):
        save(str(tmp_path / "m" / "ira_1" / account / "images" / f"{tid}-k.jpg"), photo(5))
    retweet = tweet_row(rt, B, "2018-01-01 02:00")
    retweet.update(is_retweet="True", retweet_tweetid=own, retweet_userid=A)
    tweets = write_tweets(tmp_path / "t.csv", [tweet_row(own, A, "2018-01-01 01:00"), retweet,
                                               tweet_row(third, C, "2018-01-01 03:00")])
    db = tmp_path / "r.db"
    run("scan", tmp_path / "m", "--db", db)
    assert edges(db) == {frozenset((A, B)): 1, frozenset((A, C)): 1, frozenset((B, C)): 1}  # no CSV: unknown
    run("import", tweets, "--db", db)
    (cluster,) = clusters(db)
    assert cluster["retweets"] == 1 and cluster["first_account"] == A
    marks = {m["account"]: (m["is_retweet"], m["retweet_of"]) for m in cluster["members"]}
    assert marks == {A: (False, None), B: (True, own), C: (False, None)}
    assert edges(db) == {frozenset((A, C)): 1}
    assert edges(db, "--include-retweets") == {frozenset((A, B)): 1, frozenset((A, C)): 1, frozenset((B, C)): 1}
    accounts = {r["account"]: r for r in map(json.loads, run("accounts", "--db", db, "--format", "json").splitlines())}
    assert (accounts[B]["media"], accounts[B]["retweets"], accounts[B]["shared_media"]) == (1, 1, 0)
    assert accounts[A]["shares_most_with"] == [{"account": C, "clusters": 1}]
    shown = run("show", str(cluster["cluster"]), "--db", db)
    assert f"RT {B[:8]}" in shown and f"retweet of {own}" in shown


def test_a_media_file_list_tells_which_listed_files_no_scan_has_seen(flat, tmp_path, photo):
    release, _ = flat
    listed = tmp_path / "china_052020_media_file_list_hashed.txt"
    names = [f"{tid}-key{n}.jpg" for n, tid in enumerate(IDS)] + ["9000000000000000003-key3.jpg"]
    listed.write_text("".join(f"china_052020/{name}\n" for name in names))
    db = tmp_path / "l.db"
    run("scan", release, "--db", db)
    assert "file_list, 4 rows: 4 new, 0 changed, 0 unchanged" in run("import", listed, "--db", db)
    status = json.loads(run("status", "--db", db, "--format", "json"))
    assert status["file_list"] == {"listed": 4, "not_seen": 1,
                                   "not_seen_files": ["china_052020/9000000000000000003-key3.jpg"]}
    text = run("status", "--db", db)
    assert "media file list: 4 listed, 1 not seen" in text and "not seen: china_052020/9000000000000000003" in text
    assert "4 rows: 0 new, 0 changed, 4 unchanged" in run("import", listed, "--db", db)
    save(str(release / FOLDER / names[3]), photo(9))
    run("scan", release, "--db", db)
    assert json.loads(run("status", "--db", db, "--format", "json"))["file_list"]["not_seen"] == 0


def test_show_and_clusters_give_screen_name_text_and_url_and_reimport_counts_rows(flat, tmp_path):
    release, _ = flat
    first = tweet_row(IDS[0], "userA", "2020-03-01 10:00")
    first.update(user_screen_name="real_a", tweet_text="the same picture, first")
    tweets = write_tweets(tmp_path / "t.csv", [first, tweet_row(IDS[1], "userB", "2020-03-01 12:30")])
    db = tmp_path / "s.db"
    run("scan", release, "--db", db)
    assert "2 rows: 2 new, 0 changed, 0 unchanged" in run("import", tweets, "--db", db)
    assert "2 rows: 0 new, 0 changed, 2 unchanged" in run("import", tweets, "--db", db)
    first.update(tweet_time="2020-03-01 09:00")
    tweets = write_tweets(tmp_path / "t.csv", [first, tweet_row(IDS[1], "userB", "2020-03-01 12:30")])
    assert "2 rows: 0 new, 1 changed, 1 unchanged" in run("import", tweets, "--db", db)
    (cluster,) = clusters(db)
    head = cluster["members"][0]
    assert (head["screen_name"], head["tweet_text"]) == ("real_a", "the same picture, first")
    assert head["url"] == f"https://twitter.com/i/web/status/{IDS[0]}"
    assert cluster["first_seen"] == "2020-03-01T09:00:00+00:00"
    assert cluster["members"][1]["screen_name"] is None  # a hashed release repeats the userid: no name
    shown = json.loads(run("show", str(cluster["cluster"]), "--db", db, "--format", "json"))
    assert shown["members"][0]["tweet_text"] == "the same picture, first"
    table = run("show", str(cluster["cluster"]), "--db", db)
    assert "@real_a" in table and '"the same picture, first"' in table and f"status/{IDS[0]}" in table
    assert "@real_a" in run("clusters", "--db", db)


def test_attribution_leaves_the_cluster_ids_and_the_incremental_state_alone(flat, tmp_path, photo):
    release, tweets = flat
    db = tmp_path / "c.db"
    run("scan", release, "--db", db)
    before = sorted(sqlite3.connect(db).execute("SELECT media_id, cluster_id FROM clusters"))
    state = sqlite3.connect(db).execute("SELECT value FROM meta WHERE key = 'clustered'").fetchone()
    run("import", tweets, "--db", db)
    assert sorted(sqlite3.connect(db).execute("SELECT media_id, cluster_id FROM clusters")) == before
    assert sqlite3.connect(db).execute("SELECT value FROM meta WHERE key = 'clustered'").fetchone() == state
    assert "up to date" in run("cluster", "--db", db)
    save(str(release / FOLDER / "9000000000000000009-key9.jpg"), photo(2))  # a new copy of key2's picture
    summary = hashtrail.scan([str(release)], db=str(db))
    assert (summary["clusters"], summary["clusters_rebuilt"]) == (2, False)
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM media WHERE clustered IS NULL").fetchone() == (0,)
    sizes = sorted((c["size"], c["accounts"]) for c in clusters(db))
    assert sizes == [(2, 1), (2, 2)]
