"""The store: every SQL statement hashtrail runs lives in this package.

One ``Store`` class over one SQLite connection, written in files by topic
so that a change to one kind of table has one place to go:

- ``database.py``: the connection (read-write, or ``mode=ro`` for the web),
  the schema and its upgrades, scans/jobs, media rows;
- ``listing.py``: cluster listings and members, media by id, status;
- ``history.py``: posts, users and manifests from the release's CSVs,
  attribution (the tweets CSV over the path), the co-sharing network;
- ``copies.py``: one media seen at several paths, roots, ``forget``;
- ``clusters.py``: fingerprints in, clusters out, the column cache;
- ``summaries.py``: per-cluster counts and the overview, kept fresh by
  triggers and ``refresh_summaries``;
- ``partners.py``: co-sharing partner counts, updated by difference;
- ``browse.py``: the bounded queries the web pages read;
- ``coordination.py``: clustered posts for time-windowed networks, clusters
  set aside.

Why one class and not composed parts: the parts share tables and
transactions. A batch of results writes media and fingerprints and marks
summaries dirty in one ``_writing()`` transaction; ``forget`` deletes
across media, fingerprints, clusters and frame matches at once; summaries
and partners read what the other parts write. Parts holding the same
connection and transaction would only move ``store.x()`` to
``store.part.x()`` without separating anything.
"""
from hashtrail.pipeline.store.database import DatabaseUnavailable, DiskFull, Known, Store, StoreBusy

__all__ = ["DatabaseUnavailable", "DiskFull", "Known", "Store", "StoreBusy"]
