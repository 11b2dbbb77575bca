"""Long sources for benchmarks/video.py: clips, GIFs and frames cut from 1-hour and 3-hour videos.

Run through ``python benchmarks/video.py --long`` (or this file directly)::

    python benchmarks/video.py --long           # makes the sources once (~30-60 min on 2 busy cores), then ~10 min
    python benchmarks/video.py --long --quick   # 8 and 12 minute sources, about 2 minutes

Sources (made here with the real ffmpeg, cached under --cache, default
/tmp/hashtrail-long-video-bench, so a second run only measures):

- ``photos-1h``: 1 hour of 1280x720 pictures, 5 s each, 25 fps, libx264
  ``-preset veryfast`` (scene cuts become keyframes, GOP 250): the pictures
  are 720 crops (30-80% of the side, random places, 16:9) of the 18 real
  CC0 photos shipped in scikit-image's wheel (benchmarks/quality.py), so
  many pictures are other shots of one scene, the hard case for the ordered
  run rule. The CPU-per-hour figure is measured on this file;
- ``photos-3h``: 3 hours, 2160 other crops, at 640x360;
- ``patterns-1h``, ``patterns-3h``: the same layout at 426x240 with
  pictures of ffmpeg's own test sources (Conway's life, spiral and radial
  gradients, a mandelbrot zoom; the 3-hour one in negative, so the two
  share no picture), encoded as a broadcast is (a keyframe every 2 s,
  ``-g 50``, no scene-cut keyframes). Life pictures are generations 40,
  80 and 120 of a new random board every 3 pictures: one board settles into
  a still life after a few thousand generations (the first version's did
  after ~40 min, and from then on every fourth picture was one image, so a
  still of it had no single right time). No two pictures of a source may
  be the same pixel for pixel (checked when it is made). A source's cached
  name carries its generator's version (GENERATOR), so a change remakes
  only those sources and their items. testsrc2 and cellauto pictures were
  tried first and left out: half their pairs are within the pHash
  threshold of each other (testsrc2 changes only in its moving parts,
  cellauto is stripes), so a clip of them fits many places;
- every source opens with the same 5 s title card (a "BREAKING NEWS" card):
  they share it and nothing else, which is the negative test.

From each source, --clips clips of 10-30 s cut at random instants (one at
0, over the title card), re-encoded (libx264 CRF 28) and rescaled (to 640,
or 320 px wide for the small sources); from each clip an animated GIF (its
first 10 s at 10 fps, 240 px wide) and a single frame at a random time
(JPEG). Every item goes through ``fingerprint_file``; all rows form one
``Fingerprints`` and ``cluster.cluster_edges`` runs with the configured
settings, which gives each matched pair its frame details and, for a clip
in a long video, the cut offset.

Reported: recall per kind (a clip/GIF/frame matched its source), the cut
position error (|reported start - true start|; for a frame, its time),
pair precision (pairs between an item and another source, or between two
sources, are false), rows and frames per hour, and CPU seconds per hour of
720p (this process and its ffmpeg children; best of --repeat) with the old
rule's frames (max_frames=64) beside it, and what a VP9 copy costs (its
decoder ignores skip_frame: every frame is decoded).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from hashtrail import config  # noqa: E402
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, cluster_edges  # noqa: E402
from hashtrail.pipeline.index.hamming import hex_to_u64  # noqa: E402
from hashtrail.pipeline.media.fingerprint import fingerprint_file  # noqa: E402
from hashtrail.pipeline.media.hashing import SECONDARY, VARIANT_CODE  # noqa: E402
from hashtrail.pipeline.video.ffmpeg_process import executable  # noqa: E402

SECONDS_EACH, FPS, TITLE_S = 5.0, 25, 5.0
TARGET_RECALL, TARGET_CUT_S, TARGET_PRECISION, TARGET_CPU_PER_HOUR = 0.95, 2.0, 0.99, 20.0
# name: (pictures, hours, size, extra encoder options)
SOURCES = {
    "photos-1h": ("photos", 1.0, (1280, 720), ("-preset", "veryfast")),
    "photos-3h": ("photos", 3.0, (640, 360), ("-preset", "veryfast")),
    "patterns-1h": ("patterns", 1.0, (426, 240), ("-preset", "veryfast", "-g", "50", "-sc_threshold", "0")),
    "patterns-3h": ("patterns", 3.0, (426, 240), ("-preset", "veryfast", "-g", "50", "-sc_threshold", "0")),
}
QUICK_HOURS = {1.0: 8 / 60, 3.0: 12 / 60}  # --quick: 8 and 12 minute sources (still over 64 frames)
# The generator's version per kind of picture, part of a source's cached name (version 1 adds nothing,
# the names before versions were kept), so a change remakes only that kind's sources and their items.
# patterns 2: a new life board every LIFE_RUN pictures (one board settled into a still life after
# ~40 min, so from then on every fourth picture of patterns-3h was one image).
GENERATOR = {"photos": 1, "patterns": 2}
# life pictures from one board, at generations 40, 80, 120 (not 0: that is noise): later ones of a
# board change slowly, and within a few hundred generations look alike to pHash (of 20 a board, from
# the 3rd on, half had another of their board within the pHash64 threshold)
LIFE_RUN = 3


def ffmpeg(*args: str, timeout: float = 7200) -> None:
    subprocess.run([executable(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-threads", "1", *args],
                   check=True, timeout=timeout)


def cpu_seconds() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def title_card(size: tuple[int, int]) -> Image.Image:
    """A generic news card: what two unrelated broadcasts of one channel share."""
    w, h = size
    im = Image.new("RGB", size, (16, 32, 96))
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, int(h * 0.62), w, int(h * 0.80)], fill=(200, 20, 30))
    font = ImageFont.load_default(size=max(12, h // 8))
    draw.text((w * 0.06, h * 0.64), "BREAKING NEWS", fill=(255, 255, 255), font=font)
    draw.ellipse([w * 0.78, h * 0.12, w * 0.92, h * 0.12 + w * 0.14], outline=(255, 255, 255), width=max(2, h // 60))
    draw.text((w * 0.06, h * 0.2), "HT 24", fill=(230, 230, 255), font=font)
    return im


def photo_pictures(count: int, size: tuple[int, int], seed: int) -> list[Image.Image]:
    import quality  # benchmarks/quality.py: the photos in scikit-image's wheel
    photos = [quality.load_photo(name) for name in quality.PHOTOS]
    rng = random.Random(seed)
    out = []
    for k in range(count):
        photo = photos[k % len(photos)]
        pw, ph = photo.size
        cw = rng.uniform(0.3, 0.8) * min(pw, ph * 16 / 9)
        ch = cw * 9 / 16
        x, y = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
        out.append(photo.crop((round(x), round(y), round(x + cw), round(y + ch))).resize(size, Image.BILINEAR))
    return out


def pattern_pictures(folder: str, count: int, size: tuple[int, int], seed: int) -> list[str]:
    """Frames of ffmpeg's test sources, interleaved, as JPEG files."""
    w, h = size
    per = math.ceil(count / 4)
    makers = {
        # frames far apart, so the pictures differ: testsrc2 (frames seconds apart differ only in
        # their moving parts) and cellauto (stripes) look alike to the hashes, and were left out
        # a board settles (into still lifes and blinkers) after a few thousand generations:
        # a new board every LIFE_RUN pictures, see life_pictures
        "life": None,
        "spiral": f"gradients=s={w}x{h}:r=1:nb_colors=4:seed={seed}:speed=0.4:type=spiral",
        "radial": f"gradients=s={w}x{h}:r=1:nb_colors=5:seed={seed + 1}:speed=0.37:type=radial",
        "mandelbrot": f"mandelbrot=s={w}x{h}:r=25:maxiter=400:end_pts={per * 8}:start_scale=3:end_scale=0.0005,"
                      f"select='not(mod(n\\,8))'",
    }
    files: dict[str, list[str]] = {}
    for name, graph in makers.items():
        sub = os.path.join(folder, name)
        os.makedirs(sub, exist_ok=True)
        if name == "life":
            files[name] = life_pictures(sub, per, size, seed)
            continue
        ffmpeg("-f", "lavfi", "-i", graph, "-fps_mode", "passthrough", "-frames:v", str(per), "-q:v", "3",
               os.path.join(sub, "%05d.jpg"))
        files[name] = sorted(os.path.join(sub, f) for f in os.listdir(sub))
    order = [files[name][k] for k in range(per) for name in makers if k < len(files[name])]
    return order[:count]


def life_pictures(folder: str, count: int, size: tuple[int, int], seed: int) -> list[str]:
    """Conway's life, a picture every 40 generations from the 40th, a new random board (its own seed) every LIFE_RUN."""
    w, h = size
    out = []
    for run in range(math.ceil(count / LIFE_RUN)):
        n = min(LIFE_RUN, count - run * LIFE_RUN)
        graph = (f"life=s={w}x{h}:r=25:mold=10:ratio=0.4:seed={seed * 1000 + run}:death_color=#203040:"
                 f"life_color=#e0d040,select='not(mod(n\\,40))*gte(n\\,40)'")
        pattern = os.path.join(folder, f"{run:03d}-%03d.jpg")
        ffmpeg("-f", "lavfi", "-i", graph, "-fps_mode", "passthrough", "-frames:v", str(n), "-q:v", "3", pattern)
        out += [pattern % (k + 1) for k in range(n)]
    return out


def duplicates(files: list[str]) -> int:
    """How many pictures are, pixel for pixel, one shown before: a still of one fits every place it is shown."""
    import hashlib
    seen, dup = set(), 0
    for path in files:
        with Image.open(path) as im:
            key = hashlib.sha1(im.convert("RGB").tobytes()).digest()
        dup += key in seen
        seen.add(key)
    return dup


def source_stem(name: str, hours: float) -> str:
    """The cached source's name: with its generator's version when past 1."""
    version = GENERATOR[SOURCES[name][0]]
    return f"{name}-{hours * 60:g}min" + (f"-v{version}" if version > 1 else "")


def make_source(job) -> str:
    """The long video ``name`` (cached): title card, then pictures SECONDS_EACH s each."""
    name, hours, cache = job
    pictures, _, size, extra = SOURCES[name]
    out = os.path.join(cache, source_stem(name, hours) + ".mp4")
    if os.path.exists(out):
        return out
    folder = os.path.join(cache, f"pictures-{source_stem(name, hours)}")
    os.makedirs(folder, exist_ok=True)
    count = round(hours * 3600 / SECONDS_EACH) - 1
    seed = sum(map(ord, name))
    card = os.path.join(cache, f"title-{size[0]}x{size[1]}.jpg")
    title_card(size).save(card, quality=95)
    if pictures == "photos":
        files = []
        for k, im in enumerate(photo_pictures(count, size, seed)):
            files.append(os.path.join(folder, f"{k:05d}.jpg"))
            im.save(files[-1], quality=90)
    else:
        files = pattern_pictures(folder, count, size, seed)
        for path in files:  # one JPEG flavour for all (ffmpeg's differ by source): concat needs one
            with Image.open(path) as im:
                rgb = im.convert("RGB")
            if name == "patterns-3h":  # in negative, so the two share no picture (testsrc2 frames would)
                rgb = ImageOps.invert(rgb)
            rgb.save(path, quality=90)
    same = duplicates(files)  # the benchmark's pictures differ, or a still of one has no single right time
    print(f"{name}: {len(files)} pictures, {same} identical to an earlier one")
    if same:
        raise RuntimeError(f"{name}: {same} of its {len(files)} pictures repeat an earlier one pixel for pixel")
    listing = os.path.join(folder, "list.txt")
    with open(listing, "w") as fh:
        for path in [card] + files:
            fh.write(f"file '{path}'\nduration {SECONDS_EACH:g}\n")
        fh.write(f"file '{files[-1]}'\n")  # the concat demuxer ignores the last entry's duration
    partial = out + ".part.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-vf",
           f"fps={FPS},scale={size[0]}:{size[1]},setsar=1,format=yuv420p", "-fps_mode", "cfr", "-c:v", "libx264", *extra,
           "-t", f"{hours * 3600:g}", partial)
    os.replace(partial, out)
    return out


def make_items(job) -> list[dict]:
    """Clips, GIFs and frames of one source (cached), with where they were cut from."""
    name, source, duration, count, cache = job
    folder = os.path.join(cache, f"items-{os.path.basename(source)}-{count}")
    manifest = os.path.join(folder, "items.json")
    if os.path.exists(manifest):
        with open(manifest) as fh:
            return json.load(fh)
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(sum(map(ord, name)) + count)
    width = 640 if SOURCES[name][2][0] >= 640 else 320
    items = []
    for k in range(count):
        seconds = rng.uniform(10, 30)
        start = 0.0 if k == 0 else round(rng.uniform(0, duration - seconds - 1), 2)
        clip = os.path.join(folder, f"clip-{k:02d}.mp4")
        ffmpeg("-ss", f"{start:g}", "-t", f"{seconds:.2f}", "-i", source, "-an", "-vf", f"scale={width}:-2",
               "-c:v", "libx264", "-crf", "28", "-preset", "veryfast", clip)
        items.append({"source": name, "kind": "clip", "path": clip, "start": start, "seconds": seconds})
        gif = os.path.join(folder, f"gif-{k:02d}.gif")
        ffmpeg("-t", "10", "-i", clip, "-vf", "fps=10,scale=240:-1", gif)
        items.append({"source": name, "kind": "gif", "path": gif, "start": start, "seconds": min(seconds, 10)})
        at = round(rng.uniform(0.5, seconds - 0.5), 2)
        frame = os.path.join(folder, f"frame-{k:02d}.jpg")
        ffmpeg("-ss", f"{at:g}", "-i", clip, "-frames:v", "1", "-q:v", "3", frame)
        items.append({"source": name, "kind": "frame", "path": frame, "start": start + at, "seconds": 0})
    with open(manifest, "w") as fh:
        json.dump(items, fh)
    return items


def fingerprint_item(job) -> dict:
    item, settings = job
    result = fingerprint_file(item["path"], os.path.dirname(item["path"]), settings)
    return {**item, "result": result.as_dict()}


def build(results: list[dict]) -> Fingerprints:
    rows = [(m, f) for m, r in enumerate(results) for f in r["result"]["fingerprints"]]
    return Fingerprints(
        np.array([m for m, _ in rows], dtype=np.int64), hex_to_u64(f["phash"] for _, f in rows),
        hex_to_u64(f["dhash"] for _, f in rows), hex_to_u64(f["phash256"] for _, f in rows).reshape(-1, 4),
        np.isin([f["name"] for _, f in rows], SECONDARY),
        np.array([np.nan if f.get("time_s") is None else f["time_s"] for _, f in rows], dtype=np.float64),
        np.array([VARIANT_CODE.get(f["name"], VARIANT_CODE["full"]) for _, f in rows], dtype=np.int16),
        np.array([np.nan if f.get("aspect") is None else f["aspect"] for _, f in rows], dtype=np.float64))


def timed(path: str, settings) -> tuple[float, float, dict]:
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    result = fingerprint_file(path, os.path.dirname(path), settings)
    return cpu_seconds() - cpu0, time.perf_counter() - wall0, result.as_dict()


def cost(sources: dict[str, str], settings, repeat: int, cache: str) -> dict:
    """CPU per hour of the 720p source (this rule and the old 64-frame cap), and of a VP9 copy."""
    path = sources["photos-1h"]
    out = {}
    for label, s in (("hashtrail", settings), ("old cap: max_frames=64, frames_per_hour=0", settings.replace(
            frames_per_hour=0, max_frames=64))):
        runs = [timed(path, s) for _ in range(repeat)]
        cpu, wall, res = min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]
        hours = res["duration_s"] / 3600
        out[label] = {"cpu_per_hour": cpu / hours, "wall_per_hour": wall / hours, "frames": res["frames"],
                      "rows": len(res["fingerprints"]), "hours": hours, "status": res["status"],
                      "reason": res["reason"]}
    vp9 = os.path.join(cache, "photos-720p-vp9-5min.webm")
    if not os.path.exists(vp9):
        ffmpeg("-t", "300", "-i", path, "-an", "-c:v", "libvpx-vp9", "-b:v", "800k", "-deadline", "realtime",
               "-cpu-used", "8", vp9 + ".part.webm")
        os.replace(vp9 + ".part.webm", vp9)
    h264 = os.path.join(cache, "photos-720p-h264-5min.mp4")
    if not os.path.exists(h264):
        ffmpeg("-t", "300", "-i", path, "-an", "-c", "copy", h264)
    for label, p in (("720p VP9 (5 min)", vp9), ("720p H.264 (the same 5 min)", h264)):
        runs = [timed(p, settings) for _ in range(repeat)]
        cpu, res = min(r[0] for r in runs), runs[-1][2]
        out[label] = {"cpu_per_hour": cpu / (res["duration_s"] / 3600), "frames": res["frames"],
                      "rows": len(res["fingerprints"]), "status": res["status"], "reason": res["reason"]}
    return out


def score(results: list[dict], fp: Fingerprints, t: Thresholds) -> dict:
    edges, details = cluster_edges(fp, t)
    pairs = set(zip(edges.a.tolist(), edges.b.tolist()))
    detail = {(d.media_a, d.media_b): d for d in details}
    long_of = {r["source"]: m for m, r in enumerate(results) if r["kind"] == "source"}
    frame_times = {m: np.array(sorted({f["time_s"] for f in results[m]["result"]["fingerprints"]}) + [np.inf])
                   for m in long_of.values()}
    out = {"by_kind": {}, "by_source": {}, "false": [], "errors": {}, "misses": [], "also": [], "among": []}
    for m, r in enumerate(results):
        if r["kind"] == "source":
            continue
        src = long_of[r["source"]]
        # cluster_edges collapses stills with identical hashes (two stills of one smooth picture from
        # overlapping clips): only the first copy's pair with the source is in the pair list, the others
        # are chained to it and get its frame details (what ``show`` prints), so a detail counts too
        found = (min(m, src), max(m, src)) in pairs or (r["kind"] == "frame" and (min(m, src), max(m, src)) in detail)
        error = None
        if found:
            d = detail.get((min(m, src), max(m, src)))
            if r["kind"] == "frame":
                # a still matches the long video's frame that shows its picture: the error is how far
                # its true time lies outside that frame's stretch (until the source's next hashed frame).
                # Scored: the time reported (the first); and whether the true time is that one or one of
                # the other times listed as fitting as well (also_at)
                times = [b if m == d.media_a else a for a, b in d.times] if d else []
                own = frame_times[src]

                def outside(x):
                    return max(0.0, x - r["start"], r["start"] - own[min(np.searchsorted(own, x, "right"),
                                                                         len(own) - 1)])
                times = [x for x in times if x is not None]
                error = outside(times[0]) if times else None
                also = list(getattr(d, "also_at", None) or []) if d else []
                out["also"].append(len(also))
                out["among"].append(min((outside(x) for x in times[:1] + also), default=np.inf) <= TARGET_CUT_S)
            elif d is not None and d.offset_s is not None:
                offset = d.offset_s if m == d.media_a else -d.offset_s
                error = abs(offset - r["start"])
        out["by_kind"].setdefault(r["kind"], []).append(found)
        out["by_source"].setdefault((SOURCES[r["source"]][0], r["kind"]), []).append(found)
        out["errors"].setdefault(r["kind"], []).append(error)
        if not found:
            out["misses"].append((r["source"], r["kind"], r["start"], r["result"]["frames"]))
    source_of = [r["source"] for r in results]
    out["kinds"] = {"item-long": [0, 0], "long-long": [0, 0], "item-item": [0, 0]}  # [pairs, false]
    out["title_false"], out["card_stills"] = 0, 0
    for a, b in pairs:
        longs = (results[a]["kind"] == "source") + (results[b]["kind"] == "source")
        kind = ("item-item", "item-long", "long-long")[longs]
        wrong = source_of[a] != source_of[b]
        card = [results[m]["kind"] == "frame" and results[m]["start"] < TITLE_S for m in (a, b)]
        if wrong and any(card):  # a still of the title card is that picture: every source opens with it
            out["card_stills"] += 1
            continue
        out["kinds"][kind][0] += 1
        out["kinds"][kind][1] += wrong
        if wrong:
            out["false"].append((results[a]["kind"], results[a]["source"], results[a]["start"],
                                 results[b]["kind"], results[b]["source"], results[b]["start"]))
            # both cut over the title card (the opening of their sources)
            out["title_false"] += results[a]["start"] < TITLE_S and results[b]["start"] < TITLE_S
    out["pairs"] = len(pairs) - out["card_stills"]
    return out


def run(args) -> dict:
    cache = args.cache
    os.makedirs(cache, exist_ok=True)
    settings = config.load()
    started = time.perf_counter()
    names = list(SOURCES)
    hours = {n: (QUICK_HOURS[SOURCES[n][1]] if args.quick else SOURCES[n][1]) for n in names}
    with ProcessPoolExecutor(max_workers=2) as pool:
        paths = dict(zip(names, pool.map(make_source, [(n, hours[n], cache) for n in names])))
        made = time.perf_counter()
        print(f"sources ready in {made - started:.0f} s: {', '.join(os.path.basename(p) for p in paths.values())}")
        if args.make_only:
            return {}
        items = [i for batch in pool.map(make_items, [(n, paths[n], hours[n] * 3600, args.clips, cache)
                                                      for n in names]) for i in batch]
        print(f"items ready in {time.perf_counter() - made:.0f} s")
        jobs = [({"source": n, "kind": "source", "path": paths[n], "start": 0.0, "seconds": hours[n] * 3600},
                 settings) for n in names] + [(i, settings) for i in items]
        results = list(pool.map(fingerprint_item, jobs))
    failed = [(r["source"], r["kind"], r["result"]["reason"]) for r in results if r["result"]["status"] != "ok"]
    fp = build(results)
    t = Thresholds.from_settings(settings)
    joined = time.perf_counter()
    s = score(results, fp, t)
    join_s = time.perf_counter() - joined
    print(f"\n## long sources ({'quick: ' if args.quick else ''}{', '.join(f'{n} {hours[n] * 60:g} min' for n in names)}; "
          f"{args.clips} clips each)\n")
    print("| source | size | frames hashed | rows | frames / hour | rows / hour |")
    print("|---|---|---|---|---|---|")
    for r in results[:len(names)]:
        res, h = r["result"], r["seconds"] / 3600
        size = f"{res['width']}x{res['height']}"
        print(f"| {r['source']} | {size} | {res['frames']} | {len(res['fingerprints'])} | {res['frames'] / h:.0f} "
              f"| {len(res['fingerprints']) / h:.0f} |")
    print("\n| item | n | recall | cut error (frame: time outside its stretch), median (s) | max (s) | within 2 s |")
    print("|---|---|---|---|---|---|")
    recall = {}
    for kind, found in s["by_kind"].items():
        errors = [e for e in s["errors"][kind] if e is not None]
        recall[kind] = float(np.mean(found))
        within = np.mean([e <= TARGET_CUT_S for e in errors]) if errors else float("nan")
        print(f"| {kind} | {len(found)} | {recall[kind]:.3f} | {statistics.median(errors) if errors else float('nan'):.2f} "
              f"| {max(errors, default=float('nan')):.2f} | {within:.3f} |")
    if s["also"]:
        also = np.array(s["also"])
        print(f"\nstills found: {len(also)}; with other times listed as fitting as well (also_at): "
              f"{int((also > 0).sum())} (mean {also[also > 0].mean() if (also > 0).any() else 0:.1f} times); "
              f"the true time reported or listed: {int(np.sum(s['among']))}/{len(also)}")
    print("\nrecall by source: " + ", ".join(f"{p} {k} {np.mean(v):.3f} ({len(v)})"
                                           for (p, k), v in sorted(s["by_source"].items())))
    true_pairs = s["pairs"] - len(s["false"])
    precision = true_pairs / s["pairs"] if s["pairs"] else 1.0
    print("\n| pairs | matched | false | precision |")
    print("|---|---|---|---|")
    for kind, (n, wrong) in s["kinds"].items():
        print(f"| {kind} | {n} | {wrong} | {(n - wrong) / n if n else 1.0:.4f} |")
    print(f"| all | {s['pairs']} | {len(s['false'])} | {precision:.4f} |")
    print(f"\nstills of the title card matching other sources (not counted): {s['card_stills']}; "
          f"false pairs between two items both cut over the title card: {s['title_false']}; "
          f"the other false pairs: {[f for f in s['false'] if not (f[2] < TITLE_S and f[5] < TITLE_S)] or 'none'}")
    # the same items under the share rule alone between two short videos (before: one shared picture,
    # a title card held for seconds, could be half the frames)
    import dataclasses
    share_only = score(results, fp, dataclasses.replace(t, short_pictures=False)) \
        if hasattr(t, "short_pictures") else s  # (an older hashtrail has only the share rule)
    recall_share = {k: float(np.mean(v)) for k, v in share_only["by_kind"].items()}
    print(f"item-item pairs: {s['kinds']['item-item'][0]} matched, {s['kinds']['item-item'][1]} false; "
          f"with the share rule alone between short videos (before): {share_only['kinds']['item-item'][0]} matched, "
          f"{share_only['kinds']['item-item'][1]} false (recall then "
          + ", ".join(f"{k} {v:.3f}" for k, v in recall_share.items()) + ")")
    item_long = s["kinds"]["item-long"]
    precision_long = (item_long[0] - item_long[1]) / item_long[0] if item_long[0] else 1.0
    print(f"misses: {s['misses'][:20] or 'none'}; failed: {failed or 'none'}; join {join_s:.1f} s "
          f"over {len(fp.media_id):,} rows")
    out = {"recall": recall, "precision": precision, "precision_long": precision_long, "false": s["false"]}
    # baseline, same run: the sources fingerprinted as before (at most max_frames=64 frames each),
    # so no side is long and the share rule decides every pair (the items are short: unchanged)
    old = settings.replace(frames_per_hour=0)
    with ProcessPoolExecutor(max_workers=2) as pool:
        before = list(pool.map(fingerprint_item, [(r, old) for r in results[:len(names)]]))
    b = score(before + results[len(names):], build(before + results[len(names):]), Thresholds.from_settings(old))
    print("\nbaseline (64 frames a file, the share rule): recall "
          + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in b["by_kind"].items())
          + f"; item-long pairs {b['kinds']['item-long'][0]}, false {b['kinds']['item-long'][1]}")
    out["baseline"] = {k: float(np.mean(v)) for k, v in b["by_kind"].items()}
    if not args.quick or args.cost:
        c = cost(paths, settings, args.repeat, cache)
        print("\n| cost | CPU s per hour | frames | rows |")
        print("|---|---|---|---|")
        for label, v in c.items():
            print(f"| {label} | {v['cpu_per_hour']:.1f} | {v['frames']} | {v['rows']} |"
                  + (f" {v['status']}: {v['reason']}" if v["status"] != "ok" else ""))
        out["cost"] = c
    print(f"\nlong: time {time.perf_counter() - started:.0f} s; recall "
          + " ".join(f"{k}={v:.3f}" for k, v in recall.items())
          + f" precision_item_long={precision_long:.4f} precision_all={precision:.4f}")
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", default=os.environ.get("HASHTRAIL_BENCH_CACHE", "/tmp/hashtrail-long-video-bench"))
    p.add_argument("--clips", type=int, default=20, help="clips cut from each source")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="8 and 12 minute sources, no cost figures")
    p.add_argument("--cost", action="store_true", help="with --quick: the cost figures too")
    p.add_argument("--make-only", action="store_true", help="make the sources and stop")
    return p


if __name__ == "__main__":
    run(parser().parse_args())
