"""The database file: reading commands write nothing, foreign or broken files are clear errors."""
import os
import sqlite3

import pytest
from click.testing import CliRunner

from hashtrail.cli import main
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store

from conftest import save


def test_reading_commands_write_nothing_and_refuse_foreign_databases(tmp_path, photo, settings):
    save(str(tmp_path / "m" / "a.jpg"), photo(1))
    store = Store(settings.db)
    scan([str(tmp_path / "m")], settings, store)
    store.close()  # else its close (a WAL checkpoint) may come whenever the garbage collector runs
    before = os.stat(settings.db).st_mtime_ns
    assert CliRunner().invoke(main, ["status", "--db", settings.db]).exit_code == 0
    assert os.stat(settings.db).st_mtime_ns == before
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)")
    result = CliRunner().invoke(main, ["status", "--db", str(other)])
    assert result.exit_code == 1 and "not a hashtrail database" in result.output
    assert [r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")] == ["notes"]


@pytest.mark.parametrize("content,message", [(b"this is not sqlite at all" * 100, "cannot use")])
def test_non_database_file_is_a_clear_error(tmp_path, content, message):
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["status", "--db", str(bad)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_database_in_a_missing_folder_is_a_clear_error(tmp_path, photo):
    save(str(tmp_path / "m" / "a.jpg"), photo(1))
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "m"), "--db", str(tmp_path / "nope" / "x.db")])
    assert result.exit_code == 1 and "Traceback" not in result.output
