"""Who posted a file, derived from where it sits in the archive.

Twitter's information-operations releases lay media out as
``<part>/<userid>/<images|videos>/<tweetid>-<mediakey>.<ext>``; the userid is
an opaque string (64-hex SHA-256 in 2018, base64 later), so it is matched as
"any path segment", never parsed. Other collections usually keep one folder
per account, hence the fallback: the first directory under the scanned root.
The rule is a regular expression with named groups so users can fit their own
layout (``HASHTRAIL_ACCOUNT_PATTERN``) without code.

The post id does not depend on the folders: Twitter names every media file
``<tweetid>-<mediakey>.<ext>``, and a flat folder, a zip of another shape or
a renamed collection keeps that name. So a name of that form gives the post
id (and the media key) wherever it sits, and the tweets CSV can then say who
posted it (store/history.py). The path's account is only the fallback.
"""
from __future__ import annotations

import dataclasses
import os
import posixpath
import re

from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.errors import HashtrailError


# Twitter's media file name: the tweet id, a dash, the media key (twimg's id of the upload)
TWITTER_NAME = re.compile(r"^(?P<post_id>[0-9]+)-(?P<key>[A-Za-z0-9_-]+)\.[A-Za-z0-9]+$")
PATTERN, FOLDER = "pattern", "folder"  # where a path's account came from


@dataclasses.dataclass(frozen=True)
class Attribution:
    account: str | None
    post_id: str | None
    rule: str | None = None  # PATTERN (account_pattern matched), FOLDER (the fallback) or None


def file_name(path: str) -> str:
    """The base name of a file or of an archive member (``a.zip!dir/x.jpg`` -> ``x.jpg``)."""
    located = zips.split(path)
    inner = located[1].replace("\\", "/") if located else path.replace(os.sep, "/")
    return posixpath.basename(inner)


def media_key(name: str) -> str | None:
    """``<tweetid>-<mediakey>`` for a file named as Twitter names media, else None.

    Two files with the same bytes and the same media key are one media seen
    at two places (a moved folder, a zip and its unpacked copy), whatever
    the folders around them say about the account.
    """
    match = TWITTER_NAME.match(name)
    return f"{match.group('post_id')}-{match.group('key')}" if match else None


def post_id_from_name(path: str) -> str | None:
    match = TWITTER_NAME.match(file_name(path))
    return match.group("post_id") if match else None


class AccountRule:
    """Applies the configured pattern, then the fallback, to a relative path."""

    def __init__(self, pattern: str, fallback: str = "first_dir"):
        try:
            self.regex = re.compile(pattern)
        except re.error as exc:
            raise HashtrailError(f"account_pattern is not a valid regular expression: {exc}") from None
        if "account" not in self.regex.groupindex:
            raise HashtrailError("account_pattern needs a named group (?P<account>...)")
        self.fallback = fallback

    @classmethod
    def from_settings(cls, settings) -> "AccountRule":
        return cls(settings.account_pattern, settings.account_fallback)

    def attribute(self, path: str, root: str = "") -> Attribution:
        """Account and post id of ``path``, scanned under ``root``.

        The pattern is matched against the whole path, so scanning a single
        account's folder (``.../<userid>``) still finds ``<userid>/images/...``;
        the fallback takes the first directory under the root. The post id
        comes from the pattern's ``post_id`` group, else from a Twitter file
        name (``<tweetid>-<mediakey>.<ext>``) anywhere.
        """
        whole = path.replace(os.sep, "/")
        match = self.regex.search(whole)
        if match:
            return Attribution(match.group("account"), match.groupdict().get("post_id") or post_id_from_name(path),
                               PATTERN)
        located = zips.split(path)
        if located:  # inside a zip: the archive's folder under the root, then the member path
            outer, member = located
            member = posixpath.normpath("/" + member.replace("\\", "/")).lstrip("/")
            folder = relative_to_root(os.path.dirname(outer), root) if root else ""
            rel = member if folder in ("", ".") else f"{folder}/{member}"
        else:
            rel = relative_to_root(path, root).lstrip("/") if root else whole.lstrip("/")
        first = rel.split("/", 1)[0] if "/" in rel else None
        post_id = post_id_from_name(path)
        if self.fallback == "first_dir" and first not in (None, "", ".", ".."):
            return Attribution(first, post_id, FOLDER)
        return Attribution(None, post_id)


def relative_to_root(path: str, root: str) -> str:
    """``path`` relative to ``root`` with "/" separators (archive members keep theirs)."""
    rel = os.path.relpath(path, root) if root else path
    return rel.replace(os.sep, "/")
