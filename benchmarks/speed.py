"""Scan speed against the usual one-off script and against the decode floor.

In one run, on the same JPEG files (real photos from scikit-image's wheel,
cropped and rescaled to social-media sizes, 1024-1280 px on the long side):

- baseline: ``imagehash.phash(Image.open(f))``, a full decode per image, the
  one-off script researchers write today;
- floor: the bare JPEG decode at 1/8 scale (``draft``), nothing else: no
  hashing can be faster than reading the pixels it hashes;
- hashtrail: ``hashtrail scan DIR --workers 1`` as a real subprocess, with
  walking, SHA-256, 4 hash variants, SQLite writes and clustering included.
  Reported per wall-clock second and per CPU second of the whole process tree
  (the scan's writer and its one pool process can overlap on 2 cores, so the
  CPU figure is the fair "per core" one). The interpreter's start-up and
  imports (~0.6 CPU s, paid once per scan) are measured in the same run
  with ``hashtrail --help`` and also reported netted out: the rate that
  holds on a large archive.

Each figure is the best of --repeat runs, interleaved, because shared
machines are noisy; compare ratios, not absolute times.

    python benchmarks/speed.py [--files 600] [--repeat 3]

``--against PYTHON --against-repo DIR`` also runs the scan of another
checkout (e.g. main's, in its own venv), alternating with this one's on the
same files, and prints the ratio of their times per image: a change's cost,
measured in one run.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import imagehash
from PIL import Image

PHOTOS = ["astronaut", "coffee", "chelsea", "hubble_deep_field", "rocket", "retina", "immunohistochemistry",
          "cell", "stereo_motorcycle", "camera", "coins", "gravel", "brick", "grass", "moon"]


def make_files(directory: str, count: int, seed: int = 3) -> list[str]:
    """JPEGs of 1024-1280 px from real photos: random crops, rescaled, quality 85."""
    import skimage.data

    photos = []
    for name in PHOTOS:
        try:
            array = getattr(skimage.data, name)()
            photos.append(Image.fromarray(array[0] if name == "stereo_motorcycle" else array).convert("RGB"))
        except Exception as exc:  # a data file that needs a download
            print(f"note: skipping {name}: {exc}", file=sys.stderr)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        photo = rng.choice(photos)
        w, h = photo.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        long_side = rng.randint(1024, 1280)
        scale = long_side / max(cw, ch)
        im = photo.crop((x, y, x + cw, y + ch)).resize((round(cw * scale), round(ch * scale)), Image.BICUBIC)
        account = os.path.join(directory, f"user{i % 20:02d}", "images")
        os.makedirs(account, exist_ok=True)
        path = os.path.join(account, f"{1000000 + i}-k{i}.jpg")
        im.save(path, "JPEG", quality=85)
        paths.append(path)
    return paths


def per_second(fn, paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        fn(path)
    return len(paths) / (time.perf_counter() - started)


def baseline(path: str) -> None:
    imagehash.phash(Image.open(path))


def floor(path: str) -> None:
    im = Image.open(path)
    im.draft("RGB", (im.width // 8, im.height // 8))
    im.load()


def floor_grey(path: str) -> None:
    im = Image.open(path)
    im.draft("L", (im.width // 8, im.height // 8))
    im.load()


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli_cpu(*args: str, python: str = sys.executable, repo: str = REPO) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree) of one hashtrail command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([python, "-m", "hashtrail", *args], check=True, stdout=subprocess.DEVNULL, cwd=repo)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def hashtrail_scan(directory: str, count: int, python: str = sys.executable,
                   repo: str = REPO) -> tuple[float, float, float]:
    """Images per wall second, per CPU second, and per CPU second net of start-up, of a fresh scan."""
    _, startup = cli_cpu("--help", python=python, repo=repo)  # interpreter + imports: paid once per scan
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = cli_cpu("scan", directory, "--workers", "1", "--db", os.path.join(tmp, "bench.db"),
                            python=python, repo=repo)
    return count / wall, count / cpu, count / (cpu - startup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", help="python of another checkout whose scan is timed alternately")
    parser.add_argument("--against-repo", help="that checkout's directory (the scan runs there)")
    args = parser.parse_args()
    other = 0.0
    with tempfile.TemporaryDirectory() as directory:
        paths = make_files(directory, args.files)
        mean_kb = sum(os.path.getsize(p) for p in paths) / len(paths) / 1024
        best = {"baseline": 0.0, "floor": 0.0, "floor_grey": 0.0, "scan_wall": 0.0, "scan_cpu": 0.0,
                "scan_steady": 0.0}
        for _ in range(args.repeat):
            best["baseline"] = max(best["baseline"], per_second(baseline, paths))
            best["floor"] = max(best["floor"], per_second(floor, paths))
            best["floor_grey"] = max(best["floor_grey"], per_second(floor_grey, paths))
            for key, rate in zip(("scan_wall", "scan_cpu", "scan_steady"), hashtrail_scan(directory, len(paths))):
                best[key] = max(best[key], rate)
            if args.against:
                other = max(other, hashtrail_scan(directory, len(paths), args.against, args.against_repo)[2])
    print(f"{args.files} JPEGs, 1024-1280 px, mean {mean_kb:.0f} KB; best of {args.repeat}; images/s on one core")
    print(f"| method | images/s | vs baseline | floor / method |")
    print(f"|---|---|---|---|")
    rows = [("baseline: imagehash.phash, full decode", best["baseline"]),
            ("floor: bare 1/8 draft decode, RGB", best["floor"]),
            ("floor: bare 1/8 draft decode, grey", best["floor_grey"]),
            ("hashtrail scan --workers 1, per wall second", best["scan_wall"]),
            ("hashtrail scan --workers 1, per CPU second", best["scan_cpu"]),
            ("hashtrail scan --workers 1, per CPU second net of start-up", best["scan_steady"])]
    for label, rate in rows:
        print(f"| {label} | {rate:.0f} | {rate / best['baseline']:.2f}x | {best['floor'] / rate:.2f} |")
    if args.against:
        print(f"| {args.against_repo}: hashtrail scan --workers 1, per CPU second net of start-up | {other:.0f} "
              f"| {other / best['baseline']:.2f}x | {best['floor'] / other:.2f} |")
        print(f"cost: time per image {other / best['scan_steady']:.3f}x {args.against_repo}'s (target <= 1.3)")
    for key in ("scan_cpu", "scan_steady"):
        print(f"speed: {key}={best[key]:.0f}/s baseline={best['baseline']:.0f}/s floor={best['floor']:.0f}/s "
              f"speedup={best[key] / best['baseline']:.2f}x (target >= 3) "
              f"floor_gap={best['floor'] / best[key]:.2f}x (target <= 1.5)")


if __name__ == "__main__":
    main()
