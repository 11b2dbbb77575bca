"""hashtrail's pure pipeline: what a file is, how it is hashed, who posted it,
how hashes group, and the store. Nothing here imports Celery, click or the
web framework.

- ``media/``: one file: its kind, decoding, hashing, the fingerprint result;
- ``video/``: keyframes of videos (ffmpeg) and frames of animations (Pillow);
- ``index/``: Hamming search, clustering, incremental updates, query by example;
- ``store/``: all SQL;
- ``archive/``: walking folders and zips, accounts and posts, path maps;
- ``scan.py`` and ``local_pool.py``: a scan, shared by the embedded and the
  distributed mode; ``report.py``: what reports say.
"""
