"""The Python API: what the command line does, as functions that return plain data.

For notebooks and scripts. Every function takes ``db`` (default: the
``HASHTRAIL_DB`` setting, else ``./hashtrail.db``) and returns dicts and
lists with the same keys as the command line's JSON output. Nothing here
prints, draws a progress bar or exits; every error is a ``HashtrailError``
carrying the message the command line would print.

    >>> import hashtrail
    >>> hashtrail.scan(["ira_media/"], db="ira.db")["fingerprinted"]
    >>> for c in hashtrail.clusters(db="ira.db", min_accounts=2): ...
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import os
from typing import Iterable, Iterator

from hashtrail import config
from hashtrail.pipeline import report
from hashtrail.pipeline.errors import HashtrailError, SettingsError
from hashtrail.pipeline.store import Store


def _errors_as_hashtrail(function):
    """Settings and file-system errors become HashtrailError, with the CLI's words."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except HashtrailError:
            raise
        except config.ConfigError as exc:
            raise SettingsError(str(exc)) from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            raise HashtrailError(os_error_message(exc)) from exc

    return wrapper


def os_error_message(exc: OSError) -> str:
    """'No such file or directory: /data/x.db', the way hashtrail reports file-system errors."""
    return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")


def settings(**overrides) -> config.Settings:
    """The settings in force (defaults, then HASHTRAIL_* variables), with ``overrides`` that are not None."""
    return config.load().replace(**overrides)


@contextlib.contextmanager
def _store(db: str | None, create: bool = False) -> Iterator[Store]:
    store = Store(settings(db=db).db, create=create)
    try:
        yield store
    finally:
        store.close()


@_errors_as_hashtrail
def scan(paths: str | Iterable[str], db: str | None = None, workers: int | None = None,
         retry_failed: bool = False) -> dict:
    """Fingerprint every image, GIF and video under ``paths`` and update the clusters.

    Returns the scan summary: files, unchanged, fingerprinted, failed,
    skipped, clusters, cross_account_clusters, clusters_rebuilt, seconds.
    """
    from hashtrail.pipeline.scan import scan as run_scan

    from hashtrail.pipeline.archive.walk import check_paths

    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    check_paths(paths)  # before the database is created
    chosen = settings(db=db, workers=workers)
    with _store(chosen.db, create=True) as store:
        return dataclasses.asdict(run_scan(paths, chosen, store, retry_failed=retry_failed))


@_errors_as_hashtrail
def clusters(db: str | None = None, min_accounts: int = 1, limit: int | None = None,
             across_releases: bool = False, release: str | None = None) -> Iterator[dict]:
    """Clusters of 2+ near-duplicate media, most accounts first: each one line of ``clusters --format json``.

    ``across_releases``: only media reused across releases (campaigns);
    ``release``: only clusters with media of that release.
    """
    with _store(db) as store:
        found = report.clusters_with_members(store, min_accounts, limit, False, across_releases, release)
    for c in found:
        yield report.public(c)


@_errors_as_hashtrail
def cluster(cluster_id: int, db: str | None = None) -> dict:
    """One cluster, as ``clusters --format json`` gives it (members in post order)."""
    with _store(db) as store:
        return report.public(report.cluster_report(store, int(cluster_id)))


@_errors_as_hashtrail
def match(path: str, db: str | None = None, threshold: int | None = None) -> list[dict]:
    """Stored media near the image, GIF or video at ``path``, best first (``match --format json``).

    ``threshold`` is the pHash64 distance in bits (default: the
    ``phash_threshold`` setting); nothing is written to the database.
    """
    from hashtrail.pipeline.index.search import match_file

    chosen = settings(db=db, phash_threshold=threshold)
    with _store(chosen.db) as store:
        return match_file(store, os.fspath(path), chosen)


@_errors_as_hashtrail
def status(db: str | None = None) -> dict:
    """Counts by status and kind, every failure with its reason, the last scan (``status --format json``)."""
    with _store(db) as store:
        return store.status_counts()


def clusters_frame(db: str | None = None, min_accounts: int = 1, limit: int | None = None):
    """The clusters as a pandas DataFrame, one row per member (the columns of ``clusters --format csv``).

    Needs pandas, which hashtrail does not install.
    """
    try:
        import pandas as pd
    except ImportError:
        raise HashtrailError("clusters_frame needs pandas: pip install pandas") from None
    head = ("cluster", "size", "accounts", "first_seen", "first_account")
    rows = [{**{k: c[k] for k in head}, **m} for c in clusters(db, min_accounts, limit) for m in c["members"]]
    return pd.DataFrame(rows, columns=[*head, *report.MEMBER_FIELDS])
