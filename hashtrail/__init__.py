"""hashtrail: find media reused across accounts in information-operations archives.

The Python API (plain dicts and lists, the keys of the command line's JSON):

    import hashtrail
    hashtrail.scan(["ira_media/"], db="ira.db")          # the scan summary
    for c in hashtrail.clusters(db="ira.db", min_accounts=2):
        print(c["cluster"], c["accounts"], c["first_seen"])
    hashtrail.cluster(17, db="ira.db")                    # one cluster
    hashtrail.match("meme.jpg", db="ira.db")              # stored media near a file
    hashtrail.status(db="ira.db")                         # counts and failures
    hashtrail.clusters_frame(db="ira.db")                 # a pandas DataFrame, if pandas is installed

Every error is a ``hashtrail.HashtrailError``.
"""
import importlib.metadata as _metadata

from hashtrail.api import cluster, clusters, clusters_frame, match, scan, status
from hashtrail.pipeline.errors import HashtrailError

try:
    __version__ = _metadata.version("hashtrail")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["HashtrailError", "__version__", "cluster", "clusters", "clusters_frame", "match", "scan", "status"]
