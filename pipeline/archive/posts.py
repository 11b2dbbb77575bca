"""Read the CSVs that come with information-operations releases.

Three kinds, told apart by their header, never by the file name:

- tweets (Twitter IO releases, 31 columns: tweetid, userid, ..., tweet_time,
  ...): one post per row;
- users (userid, user_display_name, user_screen_name, follower_count, ...):
  one account per row;
- manifest (path, account, post_id, posted_at, platform, url): a generic
  sidecar for any other collection, tying a media file to its post.

Real-world quirks handled: gzip (by magic bytes), a UTF-8 BOM, huge text
fields, ids kept as strings (never floats), ``tweet_time`` as
``YYYY-MM-DD HH:MM`` (UTC), ``absent`` coordinates, list columns written as
Python reprs (``['a', 'b']``), counts as ``0.0``, ``poll_choices`` missing in
some releases, and display names that are the hashed userid. A bad row is a
``Problem`` naming the file and line; the rest of the file is read.
"""
from __future__ import annotations

import ast
import csv
import dataclasses
import datetime as dt
import gzip
import io
import json
import re
import sys
import zlib
from typing import Iterator

from hashtrail.pipeline.errors import HashtrailError

TWEETS, USERS, MANIFEST = "tweets", "users", "manifest"
SNOWFLAKE_EPOCH_MS = 1288834974657
FIRST_SNOWFLAKE_ID = 29_700_859_247  # ids below are sequential (2006-2010) and carry no time
_DIGITS = re.compile(r"^[0-9]+$")  # ASCII only: \d also matches other scripts' digits

csv.field_size_limit(sys.maxsize)


class UnknownCsv(HashtrailError):
    """A CSV whose header is none of the kinds hashtrail imports."""


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def detect(header: list[str]) -> str:
    columns = set(header)
    if {"tweetid", "userid", "tweet_time"} <= columns:
        return TWEETS
    if {"userid", "user_screen_name"} <= columns and "tweetid" not in columns:
        return USERS
    if {"path", "account"} <= columns and ({"post_id", "posted_at"} & columns):
        return MANIFEST
    raise UnknownCsv(
        "header is not a tweets CSV (tweetid, userid, tweet_time, ...), a users CSV (userid, "
        "user_screen_name, ...) or a manifest (path, account, post_id, posted_at, platform, url): "
        + ", ".join(header[:8]) + ("..." if len(header) > 8 else ""))


def open_text(path: str) -> io.TextIOBase:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    raw = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def snowflake_time(post_id: str | None) -> str | None:
    """Post time encoded in a Twitter id (Snowflake, ids from 2010-11-04 on), ISO 8601 UTC."""
    if not post_id or len(post_id) > 19 or not _DIGITS.match(post_id):
        return None
    value = int(post_id)
    if not FIRST_SNOWFLAKE_ID <= value < 1 << 63:
        return None
    ms = (value >> 22) + SNOWFLAKE_EPOCH_MS
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return None


def parse_time(value: str) -> str:
    """``YYYY-MM-DD HH:MM[:SS]`` or ISO 8601 -> ISO 8601 UTC (naive times are UTC)."""
    text = value.strip().replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad time {value!r} (expected YYYY-MM-DD HH:MM)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _id(value: str | None, name: str) -> str:
    text = (value or "").strip()
    if text.endswith(".0") and _DIGITS.match(text[:-2]):  # a spreadsheet turned it into a float
        text = text[:-2]
    if not _DIGITS.match(text):
        raise ValueError(f"bad {name} {value!r} (expected digits)")
    return text


def _count(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "", "absent") else None
    except ValueError:
        return None


def _list(value: str | None) -> str | None:
    """A Python-repr list column as JSON text (None for empty)."""
    if not value or value.strip() in ("", "[]", "absent"):
        return None
    try:
        items = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        items = [value]
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        items = [value]  # not a list of strings: keep the text as it was
    return json.dumps(list(items))


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if value in ("", "absent") else value


def _tweet(row: dict) -> dict:
    post_id, account = _id(row.get("tweetid"), "tweetid"), _text(row.get("userid"))
    if not account:
        raise ValueError("empty userid")
    posted = parse_time(row.get("tweet_time") or "")
    exact = snowflake_time(post_id)
    if exact and exact[:16] == posted[:16]:
        posted = exact  # tweet_time has minutes only; the id has the second, and orders same-minute reposts
    return {
        "post_id": post_id, "account": account, "posted_at": posted,
        "platform": "twitter", "url": f"https://twitter.com/i/web/status/{post_id}",
        # hashed releases repeat the userid as the screen name of accounts under 5,000 followers
        "screen_name": None if _text(row.get("user_screen_name")) == account else _text(row.get("user_screen_name")),
        "text": _text(row.get("tweet_text")),
        "is_retweet": (row.get("is_retweet") or "").strip().lower() == "true",
        "retweet_of": _text(row.get("retweet_tweetid")), "hashtags": _list(row.get("hashtags")),
        "urls": _list(row.get("urls")),
    }


def _user(row: dict) -> dict:
    account = _text(row.get("userid"))
    if not account:
        raise ValueError("empty userid")
    display = _text(row.get("user_display_name"))
    return {
        "account": account,
        "screen_name": _text(row.get("user_screen_name")) if row.get("user_screen_name") != account else None,
        "display_name": None if display == account else display,  # hashed releases repeat the userid
        "follower_count": _count(row.get("follower_count")), "following_count": _count(row.get("following_count")),
        "created": _text(row.get("account_creation_date")), "language": _text(row.get("account_language")),
        "location": _text(row.get("user_reported_location")),
    }


def _manifest(row: dict) -> dict:
    post_id = _text(row.get("post_id"))
    posted = _text(row.get("posted_at"))
    platform = _text(row.get("platform"))
    if posted:
        posted = parse_time(posted)
    elif (platform or "twitter").lower() in ("twitter", "x"):  # other platforms' ids carry no Twitter time
        posted = snowflake_time(post_id)
    return {"path": (row.get("path") or "").strip(), "account": _text(row.get("account")), "post_id": post_id,
            "posted_at": posted, "platform": platform, "url": _text(row.get("url"))}


_PARSERS = {TWEETS: _tweet, USERS: _user, MANIFEST: _manifest}


def read_csv(path: str) -> tuple[str, Iterator[dict | Problem]]:
    """(kind, rows): each row a dict for the store, or a Problem naming file and line."""
    stream = open_text(path)
    reader = csv.DictReader(stream)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except (OSError, EOFError, csv.Error, UnicodeError) as exc:
        stream.close()
        raise UnknownCsv(f"{path}: cannot read: {exc}") from None
    if not header:
        stream.close()
        raise UnknownCsv(f"{path}: empty file")
    reader.fieldnames = header
    try:
        kind = detect(header)
    except UnknownCsv as exc:
        stream.close()
        raise UnknownCsv(f"{path}: {exc}") from None
    parse = _PARSERS[kind]

    def rows() -> Iterator[dict | Problem]:
        with stream:
            try:
                for row in reader:
                    try:
                        if None in row.values():
                            raise ValueError(f"short row: {sum(v is not None for v in row.values())} of "
                                             f"{len(header)} columns")
                        if kind == MANIFEST and not (row.get("path") or "").strip():
                            raise ValueError("empty path")
                        yield parse(row)
                    except Exception as exc:  # any bad row is reported, never fatal
                        yield Problem(path, reader.line_num, str(exc))
            except (OSError, EOFError, csv.Error, zlib.error) as exc:  # truncated gzip, broken file
                yield Problem(path, reader.line_num, f"file ends here: {exc}")

    return kind, rows()
