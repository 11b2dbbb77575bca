"""The Python API: plain data with the CLI's JSON keys, HashtrailError for everything a user can act on."""
from __future__ import annotations

import json
import os
import re

import pytest
from click.testing import CliRunner

import hashtrail
from hashtrail.cli import main
from hashtrail.pipeline.demo import build_demo_archive

from processes import REPO


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    base = tmp_path_factory.mktemp("api")
    build_demo_archive(str(base / "hashtrail-demo" / "archive"))
    db = str(base / "demo.db")
    summary = hashtrail.scan([str(base / "hashtrail-demo" / "archive")], db=db, workers=2)
    return base, db, summary


def test_readme_example_runs_as_written(demo_db, monkeypatch, capsys):
    base, _, _ = demo_db
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(base)
    monkeypatch.delenv("HASHTRAIL_DB", raising=False)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "fingerprinted," in printed and "no cluster 1000000000" in printed


def test_api_returns_what_the_cli_prints_as_json(demo_db):
    _, db, summary = demo_db
    assert summary["fingerprinted"] > 0 and summary["clusters"] == len(list(hashtrail.clusters(db=db)))
    cli = CliRunner().invoke(main, ["clusters", "--db", db, "--format", "json", "--min-accounts", "2"])
    assert cli.exit_code == 0
    assert [json.loads(line) for line in cli.output.splitlines()] == list(hashtrail.clusters(db=db, min_accounts=2))
    status = CliRunner().invoke(main, ["status", "--db", db, "--format", "json"])
    assert json.loads(status.output) == hashtrail.status(db=db)
    first = next(hashtrail.clusters(db=db, limit=1))
    assert hashtrail.cluster(first["cluster"], db=db) == first


def test_match_is_the_cli_match(demo_db):
    _, db, _ = demo_db
    member = next(hashtrail.clusters(db=db, min_accounts=2))["members"][0]
    found = hashtrail.match(member["path"], db=db)
    assert found and found[0]["phash_distance"] == 0
    assert member["media_id"] in {m["media_id"] for m in found}
    cli = CliRunner().invoke(main, ["match", member["path"], "--db", db, "--format", "json"])
    assert [json.loads(line) for line in cli.output.splitlines()] == found


def test_errors_are_hashtrail_errors_with_the_cli_message(demo_db, tmp_path, monkeypatch):
    _, db, _ = demo_db
    with pytest.raises(hashtrail.HashtrailError, match="no cluster 999999"):
        hashtrail.cluster(999999, db=db)
    with pytest.raises(hashtrail.HashtrailError, match="no database at"):
        hashtrail.status(db=str(tmp_path / "none.db"))
    with pytest.raises(hashtrail.HashtrailError, match="cannot use .*missing.x.db"):
        hashtrail.scan([str(tmp_path)], db=str(tmp_path / "missing" / "x.db"))
    monkeypatch.setenv("HASHTRAIL_WORKERS", "two")
    with pytest.raises(hashtrail.HashtrailError, match="HASHTRAIL_WORKERS"):
        hashtrail.status(db=db)
    monkeypatch.delenv("HASHTRAIL_WORKERS")
    text = str(tmp_path / "notes.txt")
    open(text, "w").write("not a picture")
    with pytest.raises(hashtrail.HashtrailError, match="notes.txt"):
        hashtrail.match(text, db=db)


def test_version_is_the_package_metadata():
    from importlib.metadata import version

    assert hashtrail.__version__ == version("hashtrail")
    out = CliRunner().invoke(main, ["--version"]).output
    assert out.split()[-1] == hashtrail.__version__


def test_clusters_frame_has_one_row_per_member(demo_db):
    pd = pytest.importorskip("pandas")
    _, db, _ = demo_db
    frame = hashtrail.clusters_frame(db=db, min_accounts=2)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == sum(c["size"] for c in hashtrail.clusters(db=db, min_accounts=2))
    assert {"cluster", "account", "path", "posted_at"} <= set(frame.columns)
