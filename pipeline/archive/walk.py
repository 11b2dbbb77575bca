"""Find the files under the paths a user gives, with their stat, cheaply.

The walk is the only place that touches every directory entry, so it uses
``os.scandir`` (stat cached on Linux), an explicit stack (no recursion limit
on deep trees) and a stable sorted order: two scans of one tree enqueue in
the same order, which keeps ids, progress and resumption predictable.

What the walk itself cannot handle is reported, never dropped: an unlistable
directory or a file name that is not valid UTF-8 (SQLite and JSON messages
need text) comes back as a ``Found`` with a ``problem``, which becomes a
failed or skipped row. Symlinked directories are not followed (they loop in
real dumps); symlinked files are. Zip archives are walked into: each member
is a ``Found`` of its own (see zips.py). A file reached through overlapping roots is
yielded once, under the outermost root.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Iterator

from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.errors import MediaError, NoMediaFound


@dataclasses.dataclass(frozen=True)
class Found:
    path: str  # absolute
    root: str  # the scanned root it was found under (account rules use it)
    size: int | None  # None when stat failed (broken link): fingerprinting records why
    mtime_ns: int | None
    problem: tuple[str, str] | None = None  # (status, reason) decided by the walk itself


def _stat(path: str) -> tuple[int | None, int | None]:
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def printable(path: str) -> str:
    """``path`` as valid UTF-8 text (undecodable bytes shown as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_text(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


NOT_UTF8 = ("failed", "file name is not valid UTF-8: rename the file (e.g. with convmv) to scan it")


def _entry(entry: os.DirEntry, root: str) -> Iterator[Found]:
    path = os.path.abspath(entry.path)
    if not _is_text(path):
        yield Found(printable(path), root, None, None, NOT_UTF8)
        return
    try:
        if entry.is_symlink() and entry.is_dir():
            yield Found(path, root, None, None, ("skipped", "symlink to a directory: not followed"))
            return
        st = entry.stat()
    except OSError:
        yield Found(path, root, None, None)  # fingerprinting records the precise error
        return
    yield from _expand(path, root, st.st_size, st.st_mtime_ns)


def _expand(path: str, root: str, size: int | None, mtime_ns: int | None) -> Iterator[Found]:
    """A file, or, for a zip archive, each of its members (``ARCHIVE.zip!member``)."""
    if size is None or not zips.is_archive(path):
        yield Found(path, root, size, mtime_ns)
        return
    try:
        listing = zips.members(path)
    except MediaError as exc:
        yield Found(path, root, size, mtime_ns, ("failed", str(exc)))
        return
    if listing.problem:  # truncated: the complete members are read, the archive's row says what is missing
        yield Found(path, root, size, mtime_ns, ("failed", listing.problem))
    for info in listing.members:
        if not _is_text(info.filename):
            yield Found(printable(zips.member_path(path, info.filename)), root, None, None, NOT_UTF8)
            continue
        # a member changes only with its archive: the archive's mtime stands for it
        yield Found(zips.member_path(path, info.filename), root, info.file_size, mtime_ns)


def _walk_dir(top: str, root: str) -> Iterator[Found]:
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            yield Found(printable(os.path.abspath(directory)), root, None, None,
                        ("failed", f"cannot list directory: {exc.strerror or exc}"))
            continue
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(entry.path)
            else:
                yield from _entry(entry, root)
        stack.extend(reversed(subdirs))  # depth-first, in name order


def check_paths(paths: Iterable[str]) -> None:
    """Refuse the whole scan, naming every missing path, before anything is created.

    Called before the database is opened: a typo must not leave an empty
    database behind, nor a scan that read some paths and stopped at the typo.
    """
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        names = ", ".join(missing)
        hint = (f" (a relative path is read from the current folder, {os.getcwd()})"
                if any(not os.path.isabs(p) for p in missing) else "")
        raise NoMediaFound(f"no such file or directory: {names}; nothing was scanned{hint}")


def walk(paths: Iterable[str]) -> Iterator[Found]:
    """Every file under ``paths`` once (files given directly are yielded as themselves)."""
    seen: set[str] = set()
    # parents sort before their children, so an overlapping root's files keep the outermost root
    for given in sorted(paths, key=lambda p: os.path.abspath(p)):
        path = os.path.abspath(given)
        if os.path.isdir(path):
            found = _walk_dir(path, path)
        elif os.path.lexists(path) and not _is_text(path):
            found = iter([Found(printable(path), os.path.dirname(printable(path)), None, None, NOT_UTF8)])
        elif os.path.lexists(path):
            found = _expand(path, os.path.dirname(path), *_stat(path))
        else:
            raise NoMediaFound(f"no such file or directory: {given}")
        for f in found:
            if f.path not in seen:
                seen.add(f.path)
                yield f
