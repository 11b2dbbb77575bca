"""The web face: ``hashtrail serve``, a read-only browser of clusters, accounts and spread."""
