"""hashtrail's pure pipeline: what a file is, how it is hashed, who posted it,
how hashes group, and the store. Nothing here imports Celery or the CLI."""

__version__ = "0.1.0"
