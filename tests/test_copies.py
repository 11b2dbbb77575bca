"""Issue 10, item 3: the same media under two roots counts once, and a gone root can be forgotten."""
import csv
import io
import json
import os
import sqlite3
import zipfile

from click.testing import CliRunner

from hashtrail.cli import main
from hashtrail.pipeline.store import Store

from conftest import save, twitter_path


def run(*args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def status(db) -> dict:
    return json.loads(run("status", "--db", db, "--format", "json"))


def clusters(db):
    return [json.loads(line) for line in run("clusters", "--db", db, "--format", "json").splitlines()]


def accounts(db):
    return {r["account"]: r["media"] for r in map(json.loads, run("accounts", "--db", db, "--format", "json").splitlines())}


def edges(db):
    return {frozenset((e["source"], e["target"])): int(e["weight"])
            for e in csv.DictReader(io.StringIO(run("graph", "--db", db)))}


def tree(root, photo):
    """Accounts 1 and 2 post one picture, account 3 another, account 1 a third."""
    for account, tweet, seed in ((1, 101, 1), (2, 102, 1), (3, 103, 2), (1, 104, 3)):
        save(twitter_path(root, account, tweet), photo(seed))


def test_moved_folders_count_once_keep_every_path_and_gone_roots_can_be_forgotten(tmp_path, photo):
    old, new, third = tmp_path / "media", tmp_path / "media2", tmp_path / "media3"
    tree(old, photo)
    db = tmp_path / "m.db"
    run("scan", old, "--db", db)
    before = (status(db)["fingerprinted"], accounts(db), edges(db), [(c["size"], c["accounts"]) for c in clusters(db)])
    os.rename(old, new)
    run("scan", new, "--db", db)
    os.rename(new, third)
    run("scan", third, "--db", db)
    counts = status(db)
    assert counts["fingerprinted"] == 4 and counts["copies"] == 8
    assert (counts["fingerprinted"], accounts(db), edges(db),
            [(c["size"], c["accounts"]) for c in clusters(db)]) == before
    (cluster,) = clusters(db)
    for member in cluster["members"]:
        assert member["path"].startswith(str(old) + "/")
        assert member["paths"] == [member["path"].replace(str(old), str(place), 1) for place in (old, new, third)]
    roots = {r["root"]: r for r in counts["roots"]}
    assert set(roots) == {str(old), str(new), str(third)}
    assert (roots[str(old)]["files"], roots[str(old)]["exists"]) == (4, False)
    assert (roots[str(third)]["files"], roots[str(third)]["copies"], roots[str(third)]["exists"]) == (4, 4, True)
    assert f"GONE: hashtrail forget {old}" in run("status", "--db", db)
    assert f"also at {third}" in run("show", str(cluster["cluster"]), "--db", db)

    out = run("forget", old, new, "--db", db)
    assert f"{old}: 4 rows forgotten" in out and f"{new}: 4 rows forgotten" in out
    counts = status(db)
    assert [r["root"] for r in counts["roots"]] == [str(third)] and counts["copies"] == 0
    assert (counts["fingerprinted"], accounts(db), edges(db),
            [(c["size"], c["accounts"]) for c in clusters(db)]) == before
    (cluster,) = clusters(db)
    assert all(m["paths"] == [m["path"]] and m["path"].startswith(str(third)) for m in cluster["members"])
    assert "4 unchanged" in run("scan", third, "--db", db)


def test_release_zips_and_an_unpacked_copy_count_once(tmp_path, photo):
    unpacked = tmp_path / "unpacked"
    tree(unpacked, photo)
    archive = tmp_path / "zips" / "ira_tweet_media_hashed_1.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for folder, _, files in os.walk(unpacked):
            for name in files:
                zf.write(os.path.join(folder, name), os.path.relpath(os.path.join(folder, name), unpacked))
    db = tmp_path / "z.db"
    run("scan", archive, unpacked, "--db", db)
    counts = status(db)
    assert (counts["fingerprinted"], counts["copies"], counts["clusters"]) == (4, 4, 1)
    (cluster,) = clusters(db)
    assert cluster["size"] == 2 and cluster["accounts"] == 2
    assert all(len(m["paths"]) == 2 and sorted("!" in p for p in m["paths"]) == [False, True]
               for m in cluster["members"])
    assert set(accounts(db).values()) == {1, 2}  # account 1 has two media, 2 and 3 one
    assert "copies of these media at other paths" in run("status", "--db", db)


def test_two_posts_of_identical_bytes_stay_two_media(tmp_path, photo):
    """Same bytes, another post (or another file of one account): not a copy."""
    save(twitter_path(tmp_path / "m", 1, 201), photo(1))
    save(twitter_path(tmp_path / "m", 2, 202), photo(1))
    save(str(tmp_path / "m" / "alice" / "a.jpg"), photo(2))
    save(str(tmp_path / "m" / "alice" / "b.jpg"), photo(2))
    db = tmp_path / "t.db"
    run("scan", tmp_path / "m", "--db", db)
    assert (status(db)["fingerprinted"], status(db)["copies"]) == (4, 0)
    assert sorted(c["size"] for c in clusters(db)) == [2, 2]


def test_a_gone_zip_is_listed_and_forgotten(tmp_path, photo):
    folder = tmp_path / "zips"
    folder.mkdir()
    for n, seed in ((1, 1), (2, 1)):
        buf = io.BytesIO()
        photo(seed).convert("RGB").save(buf, "JPEG", quality=90)
        with zipfile.ZipFile(folder / f"part_{n}.zip", "w") as zf:
            zf.writestr(f"ira_1/user{n}/images/{300 + n}-k.jpg", buf.getvalue())
    db = tmp_path / "g.db"
    run("scan", folder, "--db", db)
    assert len(clusters(db)) == 1
    os.remove(folder / "part_2.zip")
    (root,) = status(db)["roots"]
    assert root["exists"] and root["gone_archives"] == [str(folder / "part_2.zip")]
    assert "1 zips gone" in run("status", "--db", db)
    assert "1 row forgotten" in run("forget", folder / "part_2.zip", "--db", db)
    assert clusters(db) == [] and status(db)["fingerprinted"] == 1
    assert status(db)["roots"][0]["gone_archives"] == []


def test_forgetting_what_was_never_recorded_is_an_error(tmp_path, photo):
    save(twitter_path(tmp_path / "m", 1, 1), photo(1))
    db = tmp_path / "e.db"
    run("scan", tmp_path / "m", "--db", db)
    out = run("forget", tmp_path / "elsewhere", "--db", db, code=1)
    assert "nothing recorded at" in out and "'hashtrail status' lists the roots" in out
    assert status(db)["fingerprinted"] == 1


def test_an_older_database_gets_names_and_counts_copies_once(tmp_path, photo, settings):
    old, new = tmp_path / "media", tmp_path / "media2"
    tree(old, photo)
    db = tmp_path / "o.db"
    run("scan", old, "--db", db)
    os.rename(old, new)
    run("scan", new, "--db", db)
    store = Store(str(db))
    from hashtrail.pipeline.store.summaries import TRIGGERS

    for name in TRIGGERS:  # a version 5 database had none of the summaries' triggers
        store.db.execute(f"DROP TRIGGER {name}")
    store.db.execute("DROP INDEX idx_media_identity")
    store.db.execute("ALTER TABLE media DROP COLUMN identity")
    for column in ("name", "media_key", "path_account", "path_rule", "account_source", "is_retweet", "retweet_of"):
        for (index,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE ?",
                                         [f'%("{column}")%']).fetchall():
            store.db.execute(f"DROP INDEX [{index}]")
        store.db.execute(f"ALTER TABLE media DROP COLUMN {column}")
    store.db.execute("DROP TABLE listed_files")
    store.db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    store.db.conn.commit()
    store.close()
    counts = status(db)  # a reading command upgrades it
    assert (counts["fingerprinted"], counts["copies"]) == (4, 4)
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM media WHERE name IS NULL").fetchone() == (0,)
    assert "path_account" in Store(str(db), create=False).db["media"].columns_dict


def test_forgetting_a_folder_that_is_still_there_needs_to_be_asked_for(tmp_path, photo):
    save(twitter_path(tmp_path / "m", 1, 1), photo(1))
    db = tmp_path / "p.db"
    run("scan", tmp_path / "m", "--db", db)
    out = run("forget", tmp_path / "m", "--db", db, code=1)
    assert "still exists" in out and "--even-if-present" in out
    assert status(db)["fingerprinted"] == 1
    assert "1 row forgotten" in run("forget", tmp_path / "m", "--db", db, "--even-if-present")
    assert status(db)["fingerprinted"] == 0
