"""Regressions from the review of zips, CSV import and history."""
import gzip
import io
import json
import os
import sqlite3
import zipfile

from click.testing import CliRunner

from hashtrail.cli import main
from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.demo import tweet_id
from hashtrail.pipeline.archive.posts import snowflake_time

from conftest import save
from test_history import A, B, TWEET_COLUMNS, tweet_row


def run(*args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def jpeg(image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_accounts_and_gexf_with_an_account_that_shares_nothing(tmp_path, photo):
    save(str(tmp_path / "m" / "alice" / "a.jpg"), photo(1))
    save(str(tmp_path / "m" / "bob" / "b.jpg"), photo(1))
    save(str(tmp_path / "m" / "carol" / "c.jpg"), photo(2))  # no duplicate anywhere
    db = tmp_path / "x.db"
    run("scan", tmp_path / "m", "--db", db)
    assert "carol" in run("accounts", "--db", db)
    rows = {r["account"]: r for r in map(json.loads, run("accounts", "--db", db, "--format", "json").splitlines())}
    assert rows["carol"]["shared_media"] == 0 and rows["alice"]["shared_media"] == 1
    assert "<gexf" in run("graph", "--db", db, "--format", "gexf")


def test_short_rows_and_truncated_gzip_are_reported_and_the_rest_imported(tmp_path):
    good = ",".join(tweet_row(tweet_id(1000), A, "2018-01-01 00:00")[c] for c in TWEET_COLUMNS)
    text = ",".join(TWEET_COLUMNS) + "\n" + good + "\n1079000000000000001,b,x\n"
    plain = tmp_path / "short.csv"
    plain.write_text(text)
    body = gzip.compress((",".join(TWEET_COLUMNS) + "\n" + (good + "\n") * 200).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(body[: len(body) // 2])
    out = run("import", plain, cut, "--db", tmp_path / "x.db")
    assert "short.csv: tweets, 1 row: 1 new, 0 changed, 0 unchanged, 1 bad rows skipped" in out
    assert f"{plain}:3: short row" in out
    assert "cut.csv.gz: tweets" in out and "file ends here" in out


def test_odd_ids_get_no_time_and_never_break_a_scan(tmp_path, photo):
    assert snowflake_time("20000000000") is None  # pre-Snowflake sequential id (2009-2010)
    assert snowflake_time("9" * 30) is None and snowflake_time("1" * 20) is None
    save(str(tmp_path / "m" / ("9" * 30) / "images" / f"{'9' * 30}-k.jpg"), photo(1))
    assert "1 fingerprinted" in run("scan", tmp_path / "m", "--db", tmp_path / "x.db")


def test_same_minute_reposts_keep_the_order_of_their_ids(tmp_path, photo):
    first, second = tweet_id(10 * 3_600_000 + 5_000), tweet_id(10 * 3_600_000 + 40_000)  # 35 s apart
    archive = tmp_path / "r.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"ira_1/{B}/images/{second}-k.jpg", jpeg(photo(3)))
        zf.writestr(f"ira_1/{A}/images/{first}-k.jpg", jpeg(photo(3)))
    tweets = tmp_path / "t.csv"
    tweets.write_text(",".join(TWEET_COLUMNS) + "\n" + "\n".join(
        ",".join(tweet_row(t, who, "2018-01-01 10:00")[c] for c in TWEET_COLUMNS)
        for t, who in ((first, A), (second, B))) + "\n")
    db = tmp_path / "x.db"
    run("scan", archive, "--db", db)
    run("import", tweets, "--db", db)
    (cluster,) = [json.loads(line) for line in run("clusters", "--db", db, "--format", "json").splitlines()]
    assert cluster["first_account"] == A
    assert [m["delay_s"] for m in cluster["members"]] == [0, 35]


def test_manifest_ids_of_other_platforms_get_no_twitter_time(tmp_path, photo):
    save(str(tmp_path / "d" / "a.jpg"), photo(1))
    manifest = tmp_path / "d" / "m.csv"
    manifest.write_text("path,account,post_id,posted_at,platform,url\n"
                        f"a.jpg,page,{tweet_id(0)},,facebook,\n")
    db = tmp_path / "x.db"
    run("scan", tmp_path / "d", "--db", db)
    run("import", manifest, "--db", db)
    assert sqlite3.connect(db).execute("SELECT account, posted_at FROM media WHERE path LIKE '%a.jpg'").fetchone() \
        == ("page", None)


def test_members_dropped_from_a_zip_given_directly_are_marked_missing(tmp_path, photo):
    archive = tmp_path / "r.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("u1/a.jpg", jpeg(photo(1)))
        zf.writestr("u2/b.jpg", jpeg(photo(1)))
    db = tmp_path / "x.db"
    assert "1 cluster (" in run("scan", archive, "--db", db)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("u1/a.jpg", jpeg(photo(1)))
    assert "0 clusters" in run("scan", archive, "--db", db)
    assert sqlite3.connect(db).execute("SELECT status FROM media WHERE path LIKE '%u2/b.jpg'").fetchone() == ("missing",)


def test_account_fallback_in_a_zip_is_the_folder_holding_it(tmp_path, photo):
    os.makedirs(tmp_path / "m" / "acct")
    with zipfile.ZipFile(tmp_path / "m" / "acct" / "media.zip", "w") as zf:
        zf.writestr("img.jpg", jpeg(photo(1)))
        zf.writestr("./odd/../img2.jpg", jpeg(photo(2)))
        zf.writestr("inner.zip", b"PK\x03\x04" + b"\x00" * 60)
    db = tmp_path / "x.db"
    run("scan", tmp_path / "m", "--db", db)
    rows = dict(sqlite3.connect(db).execute("SELECT substr(path, instr(path, '!') + 1), account FROM media"))
    assert rows["img.jpg"] == "acct" and rows["./odd/../img2.jpg"] == "acct"
    reason = sqlite3.connect(db).execute("SELECT reason FROM media WHERE path LIKE '%inner.zip'").fetchone()[0]
    assert "archive inside an archive" in reason


def test_folder_named_like_an_archive_member(tmp_path, photo):
    folder = tmp_path / "odd.zip!dir"
    folder.mkdir()
    with zipfile.ZipFile(folder / "t.zip", "w") as zf:
        zf.writestr("a.jpg", jpeg(photo(1)))
    member = zips.member_path(str(folder / "t.zip"), "a.jpg")
    assert zips.split(member) == (str(folder / "t.zip"), "a.jpg")
    assert "1 fingerprinted" in run("scan", folder, "--db", tmp_path / "x.db")
