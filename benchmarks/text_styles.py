"""Recall of copies with text written on them in styles the ``textless`` probe was not designed on.

quality.py's mild edit "caption" writes one style: a line of small white
letters with a black outline near the bottom (``transforms.caption``). The
text-line search (pipeline/media/overlay_text.py) was chosen on it, so this
measures it on others, on the same real photos (quality.py's default set
and ``--photos held-out``): meme text (large outlined capitals) at the top,
at the bottom, very large, and plain white letters without an outline in
the middle. Per style: recall of (original, copy) without the probe (the
rows of variant ``textless`` left out: the rule before it) and with it, and
the share of copies that got the probe. A measurement: it always exits 0.

    python benchmarks/text_styles.py                    # ~1 min on 2 cores
    python benchmarks/text_styles.py --photos held-out
"""
from __future__ import annotations

import argparse
import io
from concurrent.futures import ProcessPoolExecutor

from PIL import Image, ImageDraw, ImageFont

import quality
from hashtrail import config
from hashtrail.pipeline.index.cluster import Thresholds, matching_pairs
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import HardEdits, hash_variants

# style: (letter size as a share of the picture's height, top of the text as a share of it, outline width)
STYLES = {"meme, top": (1 / 9, 0.04, 3), "meme, bottom": (1 / 9, 0.82, 3), "meme, very large": (1 / 6, 0.05, 4),
          "plain white, middle": (1 / 12, 0.5, 0)}
TEXT = "WHEN THEY SAY IT IS SAFE"


def written(im: Image.Image, share: float, top: float, outline: int) -> Image.Image:
    im = im.convert("RGB").copy()
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=max(10, int(im.height * share)))
    x = (im.width - draw.textlength(TEXT, font=font)) / 2
    draw.text((x, im.height * top), TEXT, fill=(255, 255, 255), font=font, stroke_width=outline,
              stroke_fill=(0, 0, 0))
    return im


def variants(data: bytes, settings) -> list:
    decoded = decode_still(data, settings.max_pixels)
    return hash_variants(decoded.image, settings.min_detail, hard=HardEdits.from_settings(settings),
                         fine=decoded.fine)


def one_picture(picture: Image.Image) -> dict[str, tuple[bool, bool, bool]]:
    """Per style: (matched without the probe, matched with it, the copy got the probe)."""
    settings = config.load()
    t = Thresholds.from_settings(settings)
    original = quality.encode(picture, "JPEG", 90)
    published = Image.open(io.BytesIO(original)).convert("RGB")
    ours = variants(original, settings)
    out = {}
    for style, args in STYLES.items():
        theirs = variants(quality.encode(written(published, *args), "JPEG", 85), settings)
        plain = [[v for v in vs if v.name != "textless"] for vs in (ours, theirs)]
        out[style] = (any(a != b for a, b in zip(*matching_pairs(quality.columns(plain), t))),
                      any(a != b for a, b in zip(*matching_pairs(quality.columns([ours, theirs]), t))),
                      any(v.name == "textless" for v in theirs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", choices=("default", "held-out"), default="default")
    args = parser.parse_args()
    photos = quality.HELD_OUT if args.photos == "held-out" else quality.PHOTOS
    pictures = [p for name in photos for p in quality.distinct_pictures(quality.load_photo(name), quality.SHOTS)]
    with ProcessPoolExecutor() as pool:
        results = list(pool.map(one_picture, pictures, chunksize=4))
    print(f"{len(pictures)} distinct pictures ({args.photos} photos), one copy per style\n")
    print("| text written on the picture | recall without the probe | with it | copies with a textless row |")
    print("|---|---|---|---|")
    for style in STYLES:
        before, after, probe = (sum(r[style][k] for r in results) / len(results) for k in range(3))
        print(f"| {style} | {before:.3f} | {after:.3f} | {probe:.2f} |")


if __name__ == "__main__":
    main()
