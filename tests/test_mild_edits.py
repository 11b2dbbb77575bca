"""Mild edits that plain variants used to miss: a crop of a few percent a side, an added white border.

The ``zoom`` probe (the central 95%) lines up with copies cropped by 2-4% a
side, between what ``full`` (0%) and ``center`` (5%) line up with; trimmed
centres are primary rows, so a bordered copy's ``trim_center`` meets the
original's ``center``. Real photos, measured: benchmarks/quality.py.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from hashtrail import config
from hashtrail.pipeline import transforms
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, matching_pairs, matching_rows
from hashtrail.pipeline.index.hamming import distances, hex_to_u64
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import SECONDARY, VARIANT_CODE, HardEdits, hash_variants


def grain(seed: int, size=(512, 384), scale: int = 4) -> Image.Image:
    """A fine random texture (gravel, foliage, a crowd from afar): where a few pixels of misalignment cost most."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(128, 60, (size[1] // scale, size[0] // scale))
    return Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).resize(size, Image.BICUBIC).convert("RGB")


def jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def variants(data: bytes):
    settings = config.load()
    decoded = decode_still(data, settings.max_pixels)
    return hash_variants(decoded.image, settings.min_detail, hard=HardEdits.from_settings(settings),
                         fine=decoded.fine)


def columns(*media) -> Fingerprints:
    rows = [(m, v) for m, vs in enumerate(media) for v in vs]
    return Fingerprints(np.array([m for m, _ in rows], dtype=np.int64), hex_to_u64(v.phash for _, v in rows),
                        hex_to_u64(v.dhash for _, v in rows), hex_to_u64(v.phash256 for _, v in rows).reshape(-1, 4),
                        np.array([v.name in SECONDARY for _, v in rows]), None,
                        np.array([VARIANT_CODE[v.name] for _, v in rows], dtype=np.int16),
                        np.array([v.aspect for _, v in rows]))


def matched(*media) -> set[tuple[int, int]]:
    a, b = matching_pairs(columns(*media), Thresholds.from_settings(config.load()))
    return {(int(x), int(y)) for x, y in zip(a, b) if x != y}


def published(seed: int) -> tuple[bytes, Image.Image]:
    original = jpeg(grain(seed), 90)
    return original, Image.open(io.BytesIO(original)).convert("RGB")


def test_a_copy_cropped_3_percent_a_side_matches_through_the_zoom_probe():
    original, picture = published(1)
    copy = jpeg(transforms.crop(picture, 0.03), 85)
    fp = columns(variants(original), variants(copy))
    i, j = matching_rows(fp, Thresholds.from_settings(config.load()))
    names = {(fp.media_id[a], VARIANT_CODE_NAMES[fp.codes()[a]], fp.media_id[b], VARIANT_CODE_NAMES[fp.codes()[b]])
             for a, b in zip(i, j)}
    # the original's central 95% against the copy's whole picture (1% apart), within the hard thresholds
    assert any({(m, n), (k, o)} == {(0, "zoom"), (1, "full")} for m, n, k, o in names), names
    zoom = next(v for v in variants(original) if v.name == "zoom")
    full = next(v for v in variants(copy) if v.name == "full")
    close = distances(hex_to_u64([zoom.phash256]).reshape(1, 4), hex_to_u64([full.phash256]).reshape(1, 4)).sum()
    whole = next(v for v in variants(original) if v.name == "full")
    far = distances(hex_to_u64([whole.phash256]).reshape(1, 4), hex_to_u64([full.phash256]).reshape(1, 4)).sum()
    assert close < far  # the zoom lines up better than the whole picture does
    assert (0, 1) in matched(variants(original), variants(copy))


def test_a_copy_with_a_white_border_matches_through_its_trimmed_centre():
    original, picture = published(1)
    copy = variants(jpeg(transforms.border(picture, 0.10), 85))
    assert "trim_center" in {v.name for v in copy}
    assert (0, 1) in matched(variants(original), copy)  # missed while trimmed centres were secondary


def test_other_shots_of_the_same_texture_stay_apart():
    """Two 60% crops of one texture a third of a crop apart (a pan), and another texture: no match."""
    scene = grain(3, (800, 600))
    shots = [scene.crop((x, 0, x + 480, 360)) for x in (0, 160)]
    media = [variants(jpeg(shot, 90)) for shot in shots] + [variants(jpeg(grain(4), 90))]
    assert any(v.name == "zoom" for v in media[0])
    assert matched(*media) == set()


VARIANT_CODE_NAMES = {code: name for name, code in VARIANT_CODE.items()}
