"""Query by example: which stored media are near a given picture.

The query goes through the same decode and hash variants as a scan (a
video or GIF through its frames), and is compared with every stored
fingerprint under the same rule as clustering (some variant pair, not two
centre crops, within the pHash64, dHash64 and pHash256 thresholds; for
videos, enough matching frames on one side, or an ordered run when one
side is long: pipeline/index/clip_runs.py), vectorised. Exhaustive, so exact: fine for the
archives hashtrail holds today; an index for millions of media is issue 6.
"""
from __future__ import annotations

import os

import numpy as np

from hashtrail.pipeline.errors import NotMatchable
from hashtrail.pipeline.index import clip_runs, still_time
from hashtrail.pipeline.index.cluster import (PRIMARY, PROBE, RANK, STRICT, VIA_NAMES, Fingerprints, Thresholds, frame_time,
                                              transform_text)
from hashtrail.pipeline.index.hamming import distances, hex_to_u64
from hashtrail.pipeline.media.hashing import SECONDARY, VARIANT_CODE, VARIANTS, VIA_RANK


def query_fingerprints(variants: list[dict]) -> Fingerprints:
    """Fingerprints of one query file's variants (media id -1), with frame times for videos."""
    return Fingerprints(
        np.full(len(variants), -1, dtype=np.int64), hex_to_u64(v["phash"] for v in variants),
        hex_to_u64(v["dhash"] for v in variants), hex_to_u64(v["phash256"] for v in variants).reshape(-1, 4),
        np.isin([v["name"] for v in variants], SECONDARY),
        np.asarray([np.nan if v.get("time_s") is None else v["time_s"] for v in variants], dtype=np.float64),
        np.array([VARIANT_CODE.get(v["name"], VARIANT_CODE["full"]) for v in variants], dtype=np.int16),
        np.array([np.nan if v.get("aspect") is None else v["aspect"] for v in variants], dtype=np.float64))


def nearest(stored: Fingerprints, query: Fingerprints, t: Thresholds) -> list[dict]:
    """Stored media matching the query, best first: media_id, the best distances, and for
    videos how many frames matched on each side and at what times."""
    stored_frame, stored_count = stored.frames()
    query_frame, query_count = query.frames()
    hits_stored, hits_query, scores = [], [], []
    stored_codes, query_codes = stored.codes(), query.codes()
    stored_probe, stored_primary, used = PROBE[stored_codes], PRIMARY[stored_codes], t.probes()
    for k in range(len(query.phash)):
        near = distances(stored.phash, query.phash[k]) <= t.phash  # the cheap filter first
        # as clustering pairs them: probes meet primary rows only, base rows meet each other
        if PROBE[query_codes[k]] and not used[query_codes[k]]:
            continue
        near &= stored_primary if PROBE[query_codes[k]] else \
            ((~stored_probe | PRIMARY[query_codes[k]]) & (used[stored_codes] | ~stored_probe))
        near = np.nonzero(near)[0]
        p = distances(stored.phash[near], query.phash[k])
        d = distances(stored.dhash[near], query.dhash[k])
        q = distances(stored.phash256[near], query.phash256[k][None, :]).sum(axis=1)
        rank = np.maximum(RANK[stored_codes[near]], RANK[query_codes[k]])
        ok = t.admits(p, d, q, stored.secondary[near] & query.secondary[k],
                      STRICT[stored_codes[near]] | STRICT[query_codes[k]],
                      stored.aspects()[near], query.aspects()[k])
        hits_stored.append(near[ok])
        hits_query.append(np.full(int(ok.sum()), k))
        scores.append(np.column_stack([rank[ok], p[ok], d[ok], q[ok]]))
    if not hits_stored:
        return []
    rows, qrows, score = np.concatenate(hits_stored), np.concatenate(hits_query), np.concatenate(scores)
    times, qtimes = stored.times(), query.times()
    by_media: dict[int, list[int]] = {}
    for n, row in enumerate(rows.tolist()):
        by_media.setdefault(int(stored.media_id[row]), []).append(n)
    out, ends = [], None
    for media, hits in by_media.items():
        hits = np.asarray(hits)
        matched_stored = len(np.unique(stored_frame[rows[hits]]))
        matched_query = len(np.unique(query_frame[qrows[hits]]))
        of_stored, of_query = int(stored_count[rows[hits[0]]]), int(query_count[0])
        offset, also_at, placed = None, None, None
        if t.still_in_long(np.array([of_query]), np.array([of_stored]))[0]:  # as clustering: hard thresholds
            hard = t.admits(score[hits, 1], score[hits, 2], score[hits, 3], np.zeros(len(hits), bool), True)
            if not hard.any():
                continue
            hits = hits[hard]
            matched_stored = len(np.unique(stored_frame[rows[hits]]))
            matched_query = len(np.unique(query_frame[qrows[hits]]))
            # where in the video: its closest frame, and the other shots that fit as well (still_time.py)
            s_, q_ = rows[hits], qrows[hits]
            query_long = of_query > of_stored  # the query is the broadcast, the stored media the still
            long_frame, long_time = (query_frame[q_], qtimes[q_]) if query_long else (stored_frame[s_], times[s_])
            frames_q, at_q = np.unique(query_frame[q_], return_inverse=True)
            frames_s, at_s = np.unique(stored_frame[s_], return_inverse=True)
            whole = still_time.whole_bits(
                query, still_time.whole_rows(query_frame, query_codes, frames_q)[at_q.reshape(-1)],
                stored, still_time.whole_rows(stored_frame, stored_codes, frames_s)[at_s.reshape(-1)])
            chosen, also = still_time.place(np.zeros(len(hits), np.int64), 1, long_frame, long_time, score[hits, 0],
                                            whole, score[hits, 1:].sum(axis=1), t.still_also_bits)
            placed = hits[chosen[0]]
            at = round(float(long_time[chosen[0]]), 3)
            offset, also_at = -at if query_long else at, also[0]  # time in the stored media - in the query
        if t.needs_run(np.array([of_query]), np.array([of_stored]))[0]:
            if ends is None:
                ends = (clip_runs.frame_ends(query_frame, query.media_id, qtimes),
                        clip_runs.frame_ends(stored_frame, stored.media_id, times))
            q, s_ = qrows[hits], rows[hits]
            ok, off, run_q, run_s, member = clip_runs.best_runs(
                np.zeros(len(hits), np.int64), 1, qtimes[q], ends[0][query_frame[q]], query_frame[q],
                times[s_], ends[1][stored_frame[s_]], stored_frame[s_], np.array([of_query]), np.array([of_stored]),
                t.run_frames, t.run_tolerance_s, t.frame_share)
            if not ok[0]:
                continue
            hits, matched_query, matched_stored = hits[member], int(run_q[0]), int(run_s[0])
            offset = round(float(off[0]), 3)
        elif not t.shares(np.array([matched_query]), np.array([of_query]), np.array([matched_stored]),
                          np.array([of_stored]))[0]:
            continue
        elif t.short_pictures and not clip_runs.more_than_one_picture(
                np.zeros(len(hits), np.int64), query_frame[qrows[hits]], stored_frame[rows[hits]], 1,
                np.array([matched_query]), np.array([of_query]), np.array([matched_stored]), np.array([of_stored]))[0]:
            continue  # as clustering: two short videos sharing only one picture (a title card)
        best = hits[np.lexsort((score[hits, 3], score[hits, 2], score[hits, 1], score[hits, 0]))]
        if placed is not None:  # a still's frame is the one it was placed at
            best = np.concatenate([[placed], best[best != placed]])
        # one pair per matched frame of the query (its closest stored frame), in the query's time order
        example, seen = [], set()
        for n in best.tolist():
            frame = int(query_frame[qrows[n]])
            if frame not in seen:
                seen.add(frame)
                example.append([frame_time(qtimes[qrows[n]]), frame_time(times[rows[n]])])
        example.sort(key=lambda pair: (pair[0] is None, pair[0] or 0.0))
        if placed is not None:
            example = [[frame_time(qtimes[qrows[placed]]), frame_time(times[rows[placed]])]]
        rank, p, d, q = (int(x) for x in score[best[0]])
        transform = None if rank == 0 else transform_text(
            -1, int(query_codes[qrows[best[0]]]), media, int(stored_codes[rows[best[0]]])).replace("#-1", "query")
        tries = []  # the variant pairs the pixel check may try, best first (verification.MAX_TRIES)
        for n in best.tolist():
            pair = (VARIANTS[int(query_codes[qrows[n]])], VARIANTS[int(stored_codes[rows[n]])])
            if pair not in tries and int(score[n, 0]) == rank:
                tries.append(pair)
        out.append({"media_id": media, "via": VIA_NAMES[rank], "transform": transform, "_tries": tries[:2],
                    "phash_distance": p, "dhash_distance": d, "phash256_distance": q,
                    "frames_matched": matched_query, "frames": of_query,
                    "their_frames_matched": matched_stored, "their_frames": of_stored, "times": example,
                    "offset_s": offset, "also_at": also_at})
    return sorted(out, key=lambda m: (-(m["frames_matched"] / m["frames"]), VIA_RANK[m["via"]], m["phash_distance"],
                                      m["dhash_distance"], m["phash256_distance"], m["media_id"]))


def match_file(store, path: str, settings, stored: Fingerprints | None = None) -> list[dict]:
    """Stored media near the file at ``path``, best first, each with its path, account, post and cluster.

    The file is fingerprinted as a scan would (it need not be in the
    database) and nothing is written. Raises ``NotMatchable`` when the file
    cannot be fingerprinted or is too flat to match by appearance. ``stored``:
    the fingerprints to compare with, when the caller keeps them (the web
    app, between uploads); else they are read now.
    """
    from hashtrail.pipeline.media import kinds
    from hashtrail.pipeline.media.fingerprint import fingerprint_file

    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise NotMatchable(f"{path}: not a file ('hashtrail match' takes one image, GIF or video)")
    result = fingerprint_file(path, os.path.dirname(path), settings)
    if result.status != "ok":
        if result.kind == kinds.OTHER and result.format == "ZIP":
            raise NotMatchable(f"{path}: a zip archive; 'hashtrail match' takes one image, GIF or video "
                               "(scan the zip to compare its members)")
        raise NotMatchable(f"{path}: {result.reason}")
    if not result.fingerprints:
        raise NotMatchable(f"{path}: too flat to match by appearance (only byte-identical copies would)")
    stored = store.fingerprints() if stored is None else stored
    t = Thresholds.from_settings(settings)
    found = nearest(stored, query_fingerprints(result.fingerprints), t)
    box = next((v["box"] for v in result.fingerprints if v.get("box")), None)
    for f in found:  # the query is a screenshot: say where its picture was found
        if box and f["transform"] and f["transform"].startswith("query screen "):
            x0, y0, x1, y1 = (round(share * side) for share, side in zip(box, (result.width, result.height) * 2))
            f["transform"] = f["transform"].replace("query screen ", f"query screen[{x0},{y0},{x1},{y1}] ", 1)
    rows = store.media_rows([f["media_id"] for f in found])
    found = _verified(found, path, rows, settings, t)
    return [{"media_id": f["media_id"],
             **{k: rows[f["media_id"]][k] for k in ("path", "account", "post_id", "posted_at", "kind", "cluster_id")},
             **{k: v for k, v in f.items() if k not in ("media_id", "_tries")},
             "cut": clip_runs.cut(f["offset_s"], "query", result.duration_s, f["media_id"],
                                  rows[f["media_id"]]["duration_s"])} for f in found]


def _verified(found: list[dict], path: str, rows: dict, settings, t: Thresholds) -> list[dict]:
    """The pixel check clustering applies (pipeline/index/verification.py), on matches only a probe explains.

    A stored still matched only through a mirror, crop window or
    de-rotated centre is kept when its pixels agree with the query's (its
    ``verified`` score is the worst tile's), and left out when they do not
    or its file cannot be read: ``match`` shows what clustering would join.
    """
    from hashtrail.pipeline.index.verification import UNCHECKED_RANK
    from hashtrail.pipeline.media.verify import check
    from hashtrail.pipeline.media.verify_pictures import picture_of_file
    if not t.verify:
        return found
    query = None
    out = []
    for f in found:
        still = f["frames"] == 1 and f["their_frames"] == 1
        if VIA_RANK[f["via"]] <= UNCHECKED_RANK or not still:
            out.append(f)
            continue
        query = query or picture_of_file(path, settings)
        theirs = picture_of_file(rows[f["media_id"]]["path"], settings)
        if query is None or theirs is None:
            continue
        for mine, their_variant in f["_tries"]:
            result = check(query, mine, theirs, their_variant)
            if result.verified:
                out.append({**f, "verified": result.score})
                break
    return out
