"""The row join cut into independent shards, and the bytes that carry it between hosts.

A full clustering spends nearly all its time in the row join
(``cluster.matching_rows``: the multi-index join of pHash64/dHash64, then the
256-bit pHash and hard-edit rules on its candidates). The join is a loop
over bucket chunks of each 16-bit block (pipeline/index/multi_index.py), and
a pair found through block i is kept only when no earlier block finds it,
so any split of the (sub-join, block, chunk) work items gives disjoint
shards whose union is the whole join. Shard k of n takes the items whose
number is k modulo n: round-robin over every block and sub-join, so shards
cost about the same however skewed the bucket sizes are.

Every shard needs all the rows (a bucket meets the buckets of its whole
Hamming ball), so a shard's input is the whole column set and its output
the admitted row pairs it found. ``pack_columns``/``pack_pairs`` turn both
into bytes for a broker; nothing here knows about Celery or Redis
(workers/join.py and workers/tasks.py carry them).
"""
from __future__ import annotations

import dataclasses
import io
import zlib

import numpy as np

from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, matching_rows

# columns whose values repeat (ids, times, variant codes): worth a fast zlib; hashes are random bits
_SQUEEZED = ("media_id", "secondary", "time_s", "variant", "aspect")
_RAW = ("phash", "dhash", "phash256")


class BadShard(ValueError):
    """A shard number outside 0..n-1, or bytes that are not a packed column set or pair list."""


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    k, n = int(shard[0]), int(shard[1])
    if n < 1 or not 0 <= k < n:
        raise BadShard(f"shard {k} of {n}: needs n >= 1 and 0 <= k < n")
    return k, n


def shard_rows(fp: Fingerprints, t: Thresholds, shard: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Admitted row pairs (i, j) of shard k of n: disjoint shards whose union is ``matching_rows(fp, t)``."""
    return matching_rows(fp, t, shard=check_shard(shard))


# -- bytes ---------------------------------------------------------------------------------------------------
def pack_columns(fp: Fingerprints) -> bytes:
    """Every column of ``fp`` as one .npz blob: hashes as they are, repetitive columns zlib-squeezed.

    Hashes are uniform random bits (zlib gains nothing and costs ~10 ns/byte),
    so only ids, times, variant codes and aspects are compressed. 75 bytes a
    row before squeezing; ~59 after on a typical archive (ids and times shrink most).
    """
    columns = {"phash": fp.phash, "dhash": fp.dhash, "phash256": fp.phash256}
    for name in _SQUEEZED:
        value = np.ascontiguousarray({"time_s": fp.times(), "variant": fp.codes(), "aspect": fp.aspects()}.get(
            name, getattr(fp, name)))
        columns[name] = np.frombuffer(zlib.compress(value.tobytes(), 1), dtype=np.uint8)
        columns[name + ".dtype"] = np.array(value.dtype.str)
    out = io.BytesIO()
    np.savez(out, **columns)
    return out.getvalue()


def unpack_columns(blob: bytes) -> Fingerprints:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            raw = {name: npz[name] for name in _RAW}
            for name in _SQUEEZED:
                raw[name] = np.frombuffer(zlib.decompress(npz[name].tobytes()), dtype=str(npz[name + ".dtype"]))
    except (ValueError, KeyError, OSError, zlib.error) as exc:
        raise BadShard(f"not a packed column set: {exc}") from None
    return Fingerprints(**{f.name: raw[f.name] for f in dataclasses.fields(Fingerprints)})


def pack_pairs(i: np.ndarray, j: np.ndarray) -> bytes:
    """Row pairs, sorted, as zlib'd int32 deltas of i and int32 j (rows < 2^31; ~3-5 bytes a pair)."""
    order = np.lexsort((j, i))
    i, j = np.asarray(i, np.int64)[order], np.asarray(j, np.int64)[order]
    deltas = np.diff(i, prepend=0).astype(np.int32)
    return zlib.compress(np.int64(len(i)).tobytes() + deltas.tobytes() + j.astype(np.int32).tobytes(), 1)


def unpack_pairs(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = zlib.decompress(blob)
    except zlib.error as exc:
        raise BadShard(f"not a packed pair list: {exc}") from None
    n = int(np.frombuffer(raw[:8], np.int64)[0])
    if len(raw) != 8 + 8 * n:
        raise BadShard(f"pair list of {len(raw)} bytes does not hold {n} pairs")
    i = np.cumsum(np.frombuffer(raw[8:8 + 4 * n], np.int32).astype(np.int64))
    j = np.frombuffer(raw[8 + 4 * n:], np.int32).astype(np.int64)
    return i, j


def thresholds_dict(t: Thresholds) -> dict:
    """The rule as JSON-safe values (a task message carries it: no pickle)."""
    return dataclasses.asdict(t)


def thresholds_of(values: dict) -> Thresholds:
    return Thresholds(**values)
