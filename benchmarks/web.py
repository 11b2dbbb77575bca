"""Server-side time of every `hashtrail serve` page on a database of archive size.

Builds a database of ``--media`` media (default 2,000,000) shaped like an IO
release: ~4,000 accounts with heavy-tailed volumes, tweet ids that carry
their times, 96% stills, 3% videos with 10 frames, 1% GIFs, 14% of the media
in near-duplicate families of 2 to 5,000 members (one viral picture), the
rest alone. A few hundred media point at real files (JPEGs of 1024-1280 px
made from scikit-image's photos when installed, else synthetic ones; and a
few H.264 videos) so that thumbnails are timed on real decodes; the others
point at files that are not there (the placeholder path).

Each page is requested in-process through the ASGI app (no network, no
browser: server-side time), five times; the table gives the first (cold
SQLite cache) and the median. Thumbnails are timed cold (cache emptied) on
distinct media. Run: python benchmarks/web.py [--media 2000000]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from hashtrail import config
from hashtrail.pipeline.demo import synthetic_photo
from hashtrail.pipeline.store import Store

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
TARGET_PAGE_MS, TARGET_THUMB_MS = 300, 50
EPOCH_MS = 1288834974657


def tweet_id(ms: int, n: int) -> int:
    return ((ms - EPOCH_MS) << 22) | (n & 0x3FFFFF)


def photos(folder: str, count: int) -> list[str]:
    try:
        from skimage import data
        sources = [getattr(data, n)() for n in ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left")]
        base = [Image.fromarray(a).convert("RGB") for a in sources]
    except Exception:  # scikit-image is a bench extra: synthetic photos are the same size and cost
        base = [synthetic_photo(s, (1200, 900)) for s in range(5)]
    out = []
    for k in range(count):
        im = base[k % len(base)].resize((1024 + 64 * (k % 5), 768 + 48 * (k % 5)))
        path = os.path.join(folder, f"p{k}.jpg")
        im.save(path, "JPEG", quality=88)
        out.append(path)
    return out


def build(db: str, media: int, folder: str, rng: np.random.Generator) -> dict:
    """The database, written straight through SQL in large transactions (the scan path is benchmarked elsewhere)."""
    import videos

    store = Store(db)
    real = photos(folder, 300)
    clips = [videos.slideshow(os.path.join(folder, f"v{k}.mp4"), real[k * 3:k * 3 + 3]) for k in range(4)]
    accounts = [f"{k:064x}" for k in rng.integers(0, 2**62, 4000)]
    weights = 1 / np.arange(1, len(accounts) + 1) ** 0.9
    who = rng.choice(len(accounts), media, p=weights / weights.sum())
    start = 1_420_070_400_000  # 2015-01-01
    times = np.sort(rng.integers(start, start + 4 * 365 * 86_400_000, media))
    kinds = rng.choice(["image", "video", "animation"], media, p=[0.96, 0.03, 0.01])
    rows, fps = [], []
    for i in range(media):
        tid = tweet_id(int(times[i]), i)
        iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(times[i] / 1000))
        kind = str(kinds[i])
        if i < len(real):
            kind, path = "image", real[i]
        elif i < len(real) + len(clips):
            kind, path = "video", clips[i - len(real)]
        else:
            path = f"/archive/ira_{i % 302}/{accounts[who[i]]}/{'videos' if kind == 'video' else 'images'}/{tid}-k{i}"
        rows.append((i + 1, path, "/archive", "ok", kind, "JPEG" if kind == "image" else "MP4", f"{i:064x}",
                     accounts[who[i]], str(tid), iso, 6.0 if kind == "video" else None, 10 if kind == "video" else 1))
        if kind == "video":
            fps.extend((i + 1, "full", float(t), "0" * 16, "0" * 16, "0" * 64) for t in range(10))
    store.db.conn.execute("BEGIN")
    store.db.conn.executemany(
        "INSERT INTO media (id, path, root, status, kind, format, sha256, account, post_id, posted_at, duration_s, "
        "frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    store.db.conn.executemany("INSERT INTO fingerprints (media_id, variant, time_s, phash, dhash, phash256) "
                              "VALUES (?, ?, ?, ?, ?, ?)", fps)
    # families: 14% of the media, sizes 2..5000 on a power law, one viral picture of 5,000
    order = rng.permutation(media)
    clusters, taken = [], 0
    sizes = [5000] + list(np.minimum(5000, np.maximum(2, (rng.pareto(1.3, media) + 1) * 2).astype(int)))
    for size in sizes:
        if taken + size > media * 0.14:
            break
        members = order[taken:taken + size] + 1
        cid = int(members.min())
        clusters.extend((int(m), cid, int(rng.integers(0, 12))) for m in members)
        taken += size
    store.db.conn.executemany("INSERT INTO clusters (media_id, cluster_id, distance) VALUES (?, ?, ?)", clusters)
    store.db.conn.commit()
    started = time.perf_counter()
    store.refresh_summaries()
    summary_s = time.perf_counter() - started
    by_size = store.db.execute("SELECT cluster_id, size FROM cluster_summary ORDER BY size DESC").fetchall()
    store.close()
    return {"real": real, "clips": clips, "viral": by_size[0][0], "typical": by_size[len(by_size) // 2][0],
            "busy": accounts[0], "clusters": len(by_size), "summary_s": summary_s}


async def _call(app, path: str, method: str = "GET", body: bytes = b"", content_type: bytes = b"") -> tuple:
    raw, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": raw, "raw_path": raw.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"bench"), (b"content-length", str(len(body)).encode())]
             + ([(b"content-type", content_type)] if content_type else []),
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent, out = False, {"status": None, "body": b""}

    async def receive():
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["body"]


def timed(app, path: str, **kw) -> tuple[float, int, int]:
    started = time.perf_counter()
    status, body = asyncio.run(_call(app, path, **kw))
    return (time.perf_counter() - started) * 1000, status, len(body)


def multipart(path: str) -> tuple[bytes, bytes]:
    boundary = b"hashtrailbench"
    data = open(path, "rb").read()
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="q.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n")
    return body, b"multipart/form-data; boundary=" + boundary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", type=int, default=2_000_000)
    parser.add_argument("--keep", help="build (or reuse) the database at this path instead of a temporary one")
    args = parser.parse_args()
    from hashtrail.web.app import create_app

    folder = tempfile.mkdtemp(prefix="hashtrail-web-bench-")
    db = args.keep or os.path.join(folder, "bench.db")
    try:
        started = time.perf_counter()
        if os.path.exists(db):  # --keep of an earlier run: upgraded and refreshed as a writer would
            store = Store(db, create=False)
            started = time.perf_counter()
            store.refresh_summaries()
            by_size = store.db.execute("SELECT cluster_id FROM cluster_summary ORDER BY size DESC").fetchall()
            real = [r[0] for r in store.db.execute("SELECT path FROM media WHERE id <= 300 ORDER BY id")]
            facts = {"real": real, "clips": [None] * 4, "viral": by_size[0][0],
                     "typical": by_size[len(by_size) // 2][0], "clusters": len(by_size),
                     "busy": store.db.execute("SELECT account FROM media GROUP BY account ORDER BY COUNT(*) DESC "
                                              "LIMIT 1").fetchone()[0], "summary_s": time.perf_counter() - started}
            store.close()
            print(f"reused {db}: {facts['clusters']:,} clusters; upgrade and refresh {facts['summary_s']:.1f} s")
        else:
            facts = build(db, args.media, folder, np.random.default_rng(7))
            print(f"built {args.media:,} media, {facts['clusters']:,} clusters in {time.perf_counter() - started:.0f} s; "
                  f"summaries of every cluster: {facts['summary_s']:.1f} s", flush=True)
        app = create_app(db, config.load())
        pages = [("/", "start page"), ("/?min_accounts=5", "min 5 accounts"), ("/?kind=video", "videos only"),
                 ("/?since=2016-06-01&until=2016-07-01", "one month"), (f"/?account={facts['busy']}", "one account"),
                 ("/?page=300", "page 300"), (f"/cluster/{facts['viral']}", "cluster of 5,000"),
                 (f"/cluster/{facts['typical']}", "typical cluster"), (f"/cluster/{facts['typical']}.json", "its JSON"),
                 (f"/cluster/{facts['typical']}/timeline.svg", "its timeline"),
                 (f"/account/{facts['busy']}", "busiest account"), ("/index.json", "start page JSON"),
                 ("/match", "match form")]
        print(f"\n| page | first (ms) | median of 5 (ms) | target <= {TARGET_PAGE_MS} ms |\n|---|---|---|---|")
        worst = 0.0
        for path, name in pages:
            runs = [timed(app, path) for _ in range(5)]
            assert all(r[1] == 200 for r in runs), (path, runs[0])
            median = statistics.median(r[0] for r in runs)
            worst = max(worst, median)
            print(f"| {name} (`{path[:40]}`) | {runs[0][0]:.0f} | {median:.0f} | "
                  f"{'PASS' if median <= TARGET_PAGE_MS else 'FAIL'} |", flush=True)
        body, ctype = multipart(facts["real"][3])
        runs = [timed(app, "/match", method="POST", body=body, content_type=ctype) for _ in range(3)]
        print(f"| upload match of a JPEG | {runs[0][0]:.0f} | {statistics.median(r[0] for r in runs):.0f} | "
              f"(reads every stored fingerprint) |")
        shutil.rmtree(db + "-thumbs", ignore_errors=True)
        ids = random.Random(3).sample(range(1, len(facts["real"]) + 1), 60)
        cold = [timed(app, f"/media/{i}/thumb.jpg")[0] for i in ids]
        warm = [timed(app, f"/media/{i}/thumb.jpg")[0] for i in ids]
        video = [timed(app, f"/media/{len(facts['real']) + k + 1}/thumb.jpg?t={k}")[0] for k in range(len(facts["clips"]))]
        cold_median = statistics.median(cold)
        print(f"\n| thumbnail | median (ms) | p90 (ms) | target |\n|---|---|---|---|\n"
              f"| cold, 1024-1280 px JPEG (60 distinct) | {cold_median:.1f} | {np.percentile(cold, 90):.1f} | "
              f"<= {TARGET_THUMB_MS} ms: {'PASS' if cold_median <= TARGET_THUMB_MS else 'FAIL'} |\n"
              f"| cached | {statistics.median(warm):.1f} | {np.percentile(warm, 90):.1f} | |\n"
              f"| cold, a video frame (ffmpeg) | {statistics.median(video):.0f} | {max(video):.0f} | |")
        print(f"\nworst page median {worst:.0f} ms; database {os.path.getsize(db) / 1e9:.2f} GB")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
