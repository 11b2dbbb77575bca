"""Who posted a file, derived from where it sits in the archive.

Twitter's information-operations releases lay media out as
``<part>/<userid>/<images|videos>/<tweetid>-<mediakey>.<ext>``; the userid is
an opaque string (64-hex SHA-256 in 2018, base64 later), so it is matched as
"any path segment", never parsed. Other collections usually keep one folder
per account, hence the fallback: the first directory under the scanned root.
The rule is a regular expression with named groups so users can fit their own
layout (``HASHTRAIL_ACCOUNT_PATTERN``) without code.
"""
from __future__ import annotations

import dataclasses
import os
import posixpath
import re

from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.errors import HashtrailError


@dataclasses.dataclass(frozen=True)
class Attribution:
    account: str | None
    post_id: str | None


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
        the fallback takes the first directory under the root.
        """
        whole = path.replace(os.sep, "/")
        match = self.regex.search(whole)
        if match:
            return Attribution(match.group("account"), match.groupdict().get("post_id"))
        located = zips.split(path)
        if located:  # inside a zip: the archive's folder under the root, then the member path
            outer, member = located
            member = posixpath.normpath("/" + member.replace("\\", "/")).lstrip("/")
            folder = relative_to_root(os.path.dirname(outer), root) if root else ""
            rel = member if folder in ("", ".") else f"{folder}/{member}"
        else:
            rel = relative_to_root(path, root).lstrip("/") if root else whole.lstrip("/")
        first = rel.split("/", 1)[0] if "/" in rel else None
        if self.fallback == "first_dir" and first not in (None, "", ".", ".."):
            return Attribution(first, None)
        return Attribution(None, None)


def relative_to_root(path: str, root: str) -> str:
    """``path`` relative to ``root`` with "/" separators (archive members keep theirs)."""
    rel = os.path.relpath(path, root) if root else path
    return rel.replace(os.sep, "/")
