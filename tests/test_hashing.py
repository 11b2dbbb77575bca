"""Hash variants: same arithmetic as imagehash, borders trimmed, flat pictures refused."""
import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFilter

from hashtrail.pipeline import transforms
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import (ALL_HARD_EDITS, BASE, HASHER, bits_to_hex, dhash_bits, hash_variants, phash_bits, trim_box,
                              variant_images)


def thumbs(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).filter(ImageFilter.BLUR)
            for _ in range(n)]


def test_batched_phash_is_bit_identical_to_imagehash():
    ts = thumbs()
    ours = bits_to_hex(phash_bits(np.stack([np.asarray(t) for t in ts])))
    assert ours == [str(imagehash.phash(t)) for t in ts]


def test_batched_dhash_is_bit_identical_to_imagehash():
    ts = thumbs(seed=1)
    ours = bits_to_hex(dhash_bits(np.stack([np.asarray(t.resize((9, 8), Image.LANCZOS)) for t in ts])))
    assert ours == [str(imagehash.dhash(t)) for t in ts]


def test_batched_256_bit_phash_is_bit_identical_to_imagehash():
    rng = np.random.default_rng(2)
    ts = [Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).filter(ImageFilter.BLUR) for _ in range(30)]
    ours = bits_to_hex(phash_bits(np.stack([np.asarray(t) for t in ts]), 16))
    assert ours == [str(imagehash.phash(t, hash_size=16)) for t in ts]


def test_hasher_id_records_algorithm_and_library_version():
    assert imagehash.__version__ in HASHER and "phash64" in HASHER and "dhash64" in HASHER


def test_pinned_hashes_of_a_fixture_image():
    """Catches a Pillow, numpy or imagehash upgrade that changes hash output.

    If this fails after an upgrade, stored hashes are no longer comparable with
    new ones: bump HASHER's version so rescans re-hash, then update the pins.
    """
    gray = Image.fromarray((np.add.outer(np.arange(120), np.arange(160)) % 97 * 2).astype(np.uint8))
    variants = {v.name: (v.phash, v.dhash, v.phash256) for v in hash_variants(gray, 0.0)}
    assert {name: variants[name] for name in PINNED} == PINNED


PINNED = {
    "full": ("8ca50c5af419fb9a", "f7e7ce9e3c79f3e7",
             "8ccaa4110cdf5abb748a01fbbb400a91bb3d5feb11165ffd13209aeebbba08a4"),
    "center": ("cce44c5efc09ab19", "e7efcf9e3c79f3f7",
               "ccc9e4414cc95eebfc88097fbbdd198511395dd2112119abbba60880ff775955"),
}


def test_trim_box_finds_borders_and_letterbox(photo):
    base = photo(5, (400, 300))
    gray = base.convert("L")
    assert trim_box(gray) is None
    for edited in (transforms.border(base, 0.1), transforms.border(base, 0.05, (0, 0, 0)),
                   transforms.letterbox(base)):
        box = trim_box(edited.convert("L"))
        assert box is not None
        w, h = box[2] - box[0], box[3] - box[1]
        assert abs(w - 400) <= 3 and abs(h - 300) <= 3


def test_variants_of_a_bordered_picture_include_trimmed_ones(photo):
    names = [n for n, _ in variant_images(transforms.border(photo(6), 0.1).convert("L"))]
    assert names == ["full", "center", "trim", "trim_center"]


@pytest.mark.parametrize("color", [0, 128, 255])
def test_flat_pictures_get_no_hash(color):
    assert hash_variants(Image.new("L", (200, 150), color), min_detail=6.0) == []


def test_decoded_photo_gets_full_and_center_variants(photo):
    import io
    buf = io.BytesIO()
    photo(7, (1200, 800)).save(buf, "JPEG")
    variants = hash_variants(decode_still(buf.getvalue(), 10**8).image, 6.0, hard=ALL_HARD_EDITS)
    assert [v.name for v in variants if v.name in BASE] == ["full", "center"]
    assert {"mirror_full", "mirror_center", "crop_l12", "crop_b18", "square_c", "rotate_p4"} <= {v.name for v in variants}
    assert all(len(v.phash) == 16 and len(v.dhash) == 16 and len(v.phash256) == 64 for v in variants)
