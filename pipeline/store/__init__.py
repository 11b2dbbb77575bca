"""The store: every SQL statement hashtrail runs lives in this package.

One ``Store`` class over one SQLite connection, written in three files by
topic so that a change to one kind of table has one place to go:

- ``database.py``: the connection, the schema, scans/jobs and media rows;
- ``history.py``: posts, accounts and the co-sharing network;
- ``clusters.py``: fingerprints in, clusters out, what is new since.
"""
from hashtrail.pipeline.store.database import (
    DatabaseUnavailable,
    Known,
    Store,
    StoreBusy,
)

__all__ = ["DatabaseUnavailable", "Known", "Store", "StoreBusy"]
