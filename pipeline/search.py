"""Query by example: which stored media are near a given picture.

The query goes through the same decode and hash variants as a scan, and
is compared with every stored fingerprint under the same rule as clustering
(some variant pair, not two centre crops, within the pHash64, dHash64 and
pHash256 thresholds), vectorised. Exhaustive, so exact: fine for the
archives hashtrail holds today; an index for millions of media is issue 6.
"""
from __future__ import annotations

import numpy as np

from .cluster import Fingerprints, Thresholds
from .hamming import distances, hex_to_u64
from .hashing import SECONDARY


def query_fingerprints(variants: list[dict]) -> Fingerprints:
    """Fingerprints of one query file's variants (media id -1)."""
    return Fingerprints(
        np.full(len(variants), -1, dtype=np.int64), hex_to_u64(v["phash"] for v in variants),
        hex_to_u64(v["dhash"] for v in variants), hex_to_u64(v["phash256"] for v in variants).reshape(-1, 4),
        np.isin([v["name"] for v in variants], SECONDARY))


def nearest(stored: Fingerprints, query: Fingerprints, t: Thresholds) -> list[dict]:
    """Stored media matching the query, best first: media_id and the best distances."""
    best: dict[int, tuple[int, int, int]] = {}
    for k in range(len(query.phash)):
        p = distances(stored.phash, query.phash[k])
        d = distances(stored.dhash, query.dhash[k])
        q = distances(stored.phash256, query.phash256[k][None, :]).sum(axis=1)
        ok = t.admits(p, d, q, stored.secondary & query.secondary[k])
        for row in np.nonzero(ok)[0].tolist():
            media, score = int(stored.media_id[row]), (int(p[row]), int(d[row]), int(q[row]))
            if media not in best or score < best[media]:
                best[media] = score
    return [{"media_id": m, "phash_distance": s[0], "dhash_distance": s[1], "phash256_distance": s[2]}
            for m, s in sorted(best.items(), key=lambda item: (item[1], item[0]))]
