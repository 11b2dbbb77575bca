"""The command line: formats for scripts, help that teaches, errors without tracebacks."""
import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hashtrail.cli import main
from hashtrail.pipeline import transforms

from conftest import save, twitter_path


@pytest.fixture
def scanned(tmp_path, photo, monkeypatch):
    monkeypatch.delenv("HASHTRAIL_DB", raising=False)
    root = tmp_path / "archive"
    original = photo(1)
    save(twitter_path(root, 1, 101), original)
    save(twitter_path(root, 2, 102), transforms.caption(original))
    save(twitter_path(root, 3, 103), transforms.resize(original, 0.6))
    save(twitter_path(root, 1, 104), photo(2))
    save(twitter_path(root, 1, 105), transforms.grayscale(photo(2)))  # same account reposts
    save(twitter_path(root, 4, 106), photo(3))
    (root / "ira_1" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    db = str(tmp_path / "cli.db")
    result = CliRunner().invoke(main, ["scan", str(root), "--db", db, "--workers", "2"])
    assert result.exit_code == 0, result.output
    return db, result.output


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_scan_ends_with_a_summary_line(scanned):
    _, output = scanned
    assert "7 files: 6 fingerprinted, 1 failed, 0 skipped" in output
    assert "2 clusters (1 across accounts)" in output


def test_clusters_json_lines(scanned):
    db, _ = scanned
    result = invoke("clusters", "--db", db, "--format", "json")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(c["size"], c["accounts"]) for c in lines] == [(3, 3), (2, 1)]
    member = lines[0]["members"][0]
    assert set(member) == {"media_id", "path", "account", "post_id", "kind", "distance", "via", "via_media",
                           "via_transform", "posted_at", "delay_s", "duration_s", "frames", "matches", "paths",
                           "account_source", "screen_name", "tweet_text", "url", "is_retweet", "retweet_of", "release"}
    assert member["paths"] == [member["path"]] and member["account_source"] == "pattern"
    assert member["via"] == "plain" and member["via_media"] is None
    assert member["kind"] == "image" and member["distance"] == 0 and member["post_id"] == "101"
    assert set(lines[0]) == {"cluster", "size", "accounts", "retweets", "releases", "first_seen", "first_account",
                             "kinds", "members"}
    assert lines[0]["kinds"] == {"image": 3}


def test_min_accounts_and_limit(scanned):
    db, _ = scanned
    lines = invoke("clusters", "--db", db, "--format", "json", "--min-accounts", "2").output.splitlines()
    assert len(lines) == 1
    assert len(invoke("clusters", "--db", db, "--format", "json", "--limit", "1").output.splitlines()) == 1


def test_clusters_csv_has_a_header_and_one_row_per_member(scanned):
    db, _ = scanned
    rows = list(csv.DictReader(io.StringIO(invoke("clusters", "--db", db, "--format", "csv").output)))
    assert len(rows) == 5
    assert list(rows[0])[:3] == ["cluster", "size", "accounts"]


def test_table_and_show(scanned):
    db, _ = scanned
    table = invoke("clusters", "--db", db).output
    assert "3 media, 3 accounts" in table
    cluster_id = json.loads(invoke("clusters", "--db", db, "--format", "json").output.splitlines()[0])["cluster"]
    shown = invoke("show", str(cluster_id), "--db", db)
    assert shown.exit_code == 0 and "3 media, 3 accounts" in shown.output and "post 101" in shown.output
    as_json = json.loads(invoke("show", str(cluster_id), "--db", db, "--format", "json").output)
    assert as_json["size"] == 3 and len(as_json["members"]) == 3


def test_status_json_and_text(scanned):
    db, _ = scanned
    counts = json.loads(invoke("status", "--db", db, "--format", "json").output)
    assert (counts["fingerprinted"], counts["failed"], counts["skipped"]) == (6, 1, 0)
    assert all(isinstance(counts[k], int) for k in ("fingerprinted", "failed", "skipped"))
    assert counts["failures"][0]["path"].endswith("broken.jpg")
    text = invoke("status", "--db", db).output
    assert "broken.jpg" in text and "fingerprinted 6, failed 1" in text


@pytest.mark.parametrize("args,message", [
    (["show", "999"], "no cluster 999"),
    (["clusters"], "no database"),
    (["scan", "/no/such/dir"], "no such file or directory"),
])
def test_errors_are_one_clear_line(scanned, tmp_path, args, message):
    db = scanned[0] if args[0] == "show" else str(tmp_path / "missing.db")
    result = invoke(*args, "--db", db)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_bad_setting_in_environment_is_a_clear_error(scanned, monkeypatch):
    monkeypatch.setenv("HASHTRAIL_WORKERS", "many")
    result = invoke("status", "--db", scanned[0])
    assert result.exit_code == 1 and "HASHTRAIL_WORKERS='many'" in result.output


def test_every_command_has_help_with_an_example():
    for name, command in main.commands.items():
        result = invoke(name, "--help")
        assert result.exit_code == 0
        assert command.help and "Example" in command.help, name
        # each example on a line of its own (click re-wraps paragraphs unless a \b block keeps them)
        shown = [line.strip() for line in result.output.split("Example")[1].split("Options:")[0].splitlines()[1:]]
        written = [line.strip() for line in command.help.split("Example")[1].splitlines()[1:]]
        assert [line for line in shown if line] == [line for line in written if line], name


def test_match_legend_and_post_times(tmp_path, photo):
    save(twitter_path(tmp_path / "t", 1, 947666110763761664), photo(1))  # a real tweet id: it carries its time
    db = str(tmp_path / "t.db")
    assert invoke("scan", str(tmp_path / "t"), "--db", db).exit_code == 0
    query = save(str(tmp_path / "q" / "query.jpg"), photo(1))
    text = invoke("match", query, "--db", db).output
    assert "bits apart in pHash64 (match <= 16)" in text and "posted (UTC)" in text
    assert "p=" not in text
    rows = [json.loads(line) for line in invoke("match", query, "--db", db, "--format", "json").output.splitlines()]
    dated = [r for r in rows if r["posted_at"]]
    assert dated and all(r["posted_at"][:16].replace("T", " ") in text for r in dated)


def test_match_of_a_zip_says_it_takes_one_media_file(scanned, tmp_path, photo):
    import zipfile

    db, _ = scanned
    archive = tmp_path / "release_hashed_001.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(save(str(tmp_path / "x.jpg"), photo(1)), "x.jpg")
    result = invoke("match", str(archive), "--db", db)
    assert result.exit_code == 1
    assert "takes one image, GIF or video" in result.output and "inside an archive" not in result.output


def test_counts_read_as_words(scanned, tmp_path, photo):
    save(str(tmp_path / "one" / "a" / "1.jpg"), photo(5))
    out = invoke("scan", str(tmp_path / "one"), "--db", str(tmp_path / "one.db")).output
    # a count of one is "1 file"; a rate such as "5.1 files/s" is not a count
    assert out.startswith("1 file: 1 fingerprinted") and not re.search(r"(?<![\d.])1 files", out)
    again = invoke("scan", str(tmp_path / "one"), "--db", str(tmp_path / "one.db")).output
    assert "files/s" not in again and "0 fingerprinted" in again  # nothing read: no rate to speak of


def test_status_says_why_files_were_skipped_and_lists_roots_as_json(scanned, tmp_path):
    db, root = scanned
    counts = json.loads(invoke("status", "--db", db, "--format", "json").output)
    assert isinstance(counts["last_scan"]["roots"], list) and counts["skipped_reasons"] == []
    notes = tmp_path / "skips" / "a"
    notes.mkdir(parents=True)
    (notes / "readme.txt").write_text("release notes")
    (notes / "data.json").write_text('{"a": 1}')
    (notes / "more.txt").write_text("more notes")
    skip_db = str(tmp_path / "skips.db")
    invoke("scan", str(tmp_path / "skips"), "--db", skip_db)
    counts = json.loads(invoke("status", "--db", skip_db, "--format", "json").output)
    assert counts["skipped_reasons"] == [{"reason": "not media (text)", "files": 2},
                                         {"reason": "not media (JSON)", "files": 1}]
    text = invoke("status", "--db", skip_db).output
    assert "skipped (3), why:" in text and "not media (text)" in text


def test_default_database_comes_from_environment(scanned, monkeypatch):
    monkeypatch.setenv("HASHTRAIL_DB", scanned[0])
    assert json.loads(invoke("status", "--format", "json").output)["fingerprinted"] == 6


def test_console_script_runs_as_installed(scanned, tmp_path):
    """The installed entry point, run from outside the checkout: catches packaging gaps."""
    db, _ = scanned
    exe = os.path.join(os.path.dirname(sys.executable), "hashtrail")
    assert os.path.exists(exe), "hashtrail is not installed: pip install -e ."
    out = subprocess.run([exe, "status", "--db", db, "--format", "json"], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert json.loads(out.stdout)["fingerprinted"] == 6
    for command in main.commands:  # every command's module imports from an installed copy
        subprocess.run([exe, command, "--help"], capture_output=True, check=True, cwd=tmp_path)


def test_demo_builds_scans_and_reports(tmp_path):
    result = invoke("demo", str(tmp_path / "demo"), "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "16 clusters (16 across accounts)" in result.output
    assert "of 16 clusters posted by 2+ accounts" in result.output and "--min-accounts 2" in result.output
    assert "3 failed, 1 skipped" in result.output
    # the slideshow video, its smaller copy, a GIF cut from it and a still frame: one cluster
    assert "4 media (1 animation, 1 image, 2 videos), 4 accounts" in result.output


def test_match_finds_stored_copies_of_a_new_file(scanned, tmp_path, photo):
    db, _ = scanned
    query = save(str(tmp_path / "q" / "query.jpg"), transforms.border(photo(1), 0.05))  # not in the database
    rows = [json.loads(line) for line in invoke("match", query, "--db", db, "--format", "json").output.splitlines()]
    assert {r["post_id"] for r in rows} == {"101", "102", "103"}
    assert rows[0]["phash_distance"] <= rows[-1]["phash_distance"]
    assert len({r["cluster_id"] for r in rows}) == 1
    other = save(str(tmp_path / "q" / "other.jpg"), photo(77))
    assert f"no stored media near {other}" in invoke("match", other, "--db", db).output
    bad = tmp_path / "q" / "bad.jpg"
    bad.write_bytes(b"<html></html>")
    result = invoke("match", str(bad), "--db", db)
    assert result.exit_code == 1 and "HTML" in result.output


def test_output_into_a_closed_pipe_ends_quietly(scanned, tmp_path):
    """`hashtrail clusters | head`: the reader leaves early; no error message, no traceback."""
    db, _ = scanned
    exe = os.path.join(os.path.dirname(sys.executable), "hashtrail")
    # `true` exits without reading, so the first write surely meets a closed pipe
    done = subprocess.run(f"{exe} clusters --db {db} --format csv | true", shell=True, executable="/bin/bash",
                          capture_output=True, text=True, cwd=tmp_path)
    assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_missing_path_refuses_the_scan_before_the_database_exists(tmp_path, photo):
    save(twitter_path(tmp_path / "real", 1, 101), photo(1))
    db = tmp_path / "new.db"
    result = invoke("scan", str(tmp_path / "real"), str(tmp_path / "typo"), str(tmp_path / "typo2"), "--db", str(db))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(tmp_path / "typo") in result.output and str(tmp_path / "typo2") in result.output
    assert "nothing was scanned" in result.output
    assert not db.exists()  # nothing created: the corrected command starts clean
    fixed = invoke("scan", str(tmp_path / "real"), "--db", str(db))
    assert fixed.exit_code == 0 and "1 fingerprinted" in fixed.output


def test_cluster_exact_is_part_of_the_rule(scanned):
    """--exact rebuilds under the exact join; the next update without it rebuilds again: the rule changed."""
    db, _ = scanned
    before = json.loads(invoke("clusters", "--db", db, "--format", "json").output.splitlines()[0])
    assert "up to date" in invoke("cluster", "--db", db).output
    exact = invoke("cluster", "--exact", "--db", db)
    assert exact.exit_code == 0 and "rebuilt" in exact.output, exact.output
    assert "up to date" in invoke("cluster", "--exact", "--db", db).output
    assert "rebuilt" in invoke("cluster", "--db", db).output
    after = json.loads(invoke("clusters", "--db", db, "--format", "json").output.splitlines()[0])
    assert {m["path"] for m in after["members"]} == {m["path"] for m in before["members"]}
    assert "--exact" in invoke("cluster", "--help").output
