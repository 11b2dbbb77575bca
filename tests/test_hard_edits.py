"""Hard edits: mirrors from the same DCT, crop windows, caption bands, rotations; how a pair matched."""
import io
import json

import imagehash
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter, ImageOps

from conftest import save, twitter_path
from hashtrail.cli import main
from hashtrail.pipeline import transforms
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, find_clusters, matching_edges
from hashtrail.pipeline.index.hamming import distances, hex_to_u64
from hashtrail.pipeline.media import edits
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import (ALL_HARD_EDITS, VARIANT_CODE, VIA_RANK, HardEdits, bits_to_hex,
                                              dhash_bits, hash_variants, low_dct, mirrored_dct)

ALL = ALL_HARD_EDITS  # the variants off by default (config/default.toml) are switched on here


def blurred(n, side, seed):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).filter(ImageFilter.BLUR)
            for _ in range(n)]


@pytest.mark.parametrize("side,hash_size", [(32, 8), (64, 16)])
def test_mirrored_phash_from_the_same_dct_is_bit_identical_to_imagehash_on_flipped_pixels(side, hash_size):
    thumbs = blurred(40, side, seed=side)
    low = low_dct(np.stack([np.asarray(t) for t in thumbs]), hash_size)
    flat = mirrored_dct(low).reshape(len(thumbs), -1)
    ours = bits_to_hex(flat > np.median(flat, axis=1, keepdims=True))
    assert ours == [str(imagehash.phash(ImageOps.mirror(t), hash_size=hash_size)) for t in thumbs]
    # flipping the stored bits without a new median is not the same thing
    plain = low.reshape(len(thumbs), -1)
    naive = bits_to_hex(mirrored_dct(low).reshape(len(thumbs), -1) > np.median(plain, axis=1, keepdims=True))
    assert naive != ours


def test_mirror_variants_equal_hashing_the_mirrored_picture(photo):
    buf = io.BytesIO()
    photo(3, (1280, 960)).save(buf, "JPEG")
    gray = decode_still(buf.getvalue(), 10**8).image
    ours = {v.name: v for v in hash_variants(gray, 6.0, hard=ALL)}
    flipped = {v.name: v for v in hash_variants(ImageOps.mirror(gray), 6.0, hard=ALL)}
    for name in ("full", "center"):
        mirrored, direct = ours[f"mirror_{name}"], flipped[name]
        assert (mirrored.phash, mirrored.dhash, mirrored.phash256) == (direct.phash, direct.dhash, direct.phash256)
    # and the dHash is imagehash's on the flipped 9x8 pixels
    small = np.asarray(gray.resize((64, 64), Image.LANCZOS).reduce(2).resize((9, 8), Image.LANCZOS))
    assert bits_to_hex(dhash_bits(small[None, :, ::-1]))[0] == ours["mirror_full"].dhash


def bits_apart(a, b) -> tuple[int, int, int]:
    return (int(distances(hex_to_u64([a.phash]), hex_to_u64([b.phash]))[0]),
            int(distances(hex_to_u64([a.dhash]), hex_to_u64([b.dhash]))[0]),
            int(distances(hex_to_u64([a.phash256]), hex_to_u64([b.phash256])).sum()))


def test_crop_windows_hash_like_the_cropped_pixels(photo):
    gray = photo(4, (400, 300)).convert("L")
    ours = {v.name: v for v in hash_variants(gray, 6.0, hard=ALL)}
    for name, box in edits.window_boxes(*gray.size):
        direct = {v.name: v for v in hash_variants(gray.crop(box), 6.0, probes=False)}["full"]
        p, d, q = bits_apart(ours[name], direct)
        assert p <= 4 and d <= 6 and q <= 16, (name, p, d, q)


def test_caption_bands_are_found_and_pictures_without_one_are_left_alone(photo):
    base = photo(5, (480, 360))
    for where, share in (("top", 0.22), ("bottom", 0.30)):
        found = edits.caption_box(transforms.caption_band(base, where, share).convert("L"))
        assert found is not None and found[1] == where[0]
        band = round(360 * share)
        box = found[0]
        assert abs((box[3] - box[1]) - 360) <= 4, box  # what is left is the picture
    assert edits.caption_box(base.convert("L")) is None
    assert edits.caption_box(transforms.caption(base).convert("L")) is None  # text on the picture: no band
    assert edits.caption_box(transforms.border(base, 0.1).convert("L")) is None  # a plain border: trim's job
    names = [v.name for v in hash_variants(base.convert("L"), 6.0, hard=ALL)]
    assert "uncaptioned" not in names
    assert "uncaptioned" in [v.name for v in hash_variants(transforms.caption_band(base).convert("L"), 6.0, hard=ALL)]


def fingerprints(items: dict[int, Image.Image]) -> Fingerprints:
    rows = [(m, v) for m, im in items.items() for v in hash_variants(im.convert("L"), 6.0, hard=ALL)]
    return Fingerprints(np.array([m for m, _ in rows]), hex_to_u64(v.phash for _, v in rows),
                        hex_to_u64(v.dhash for _, v in rows), hex_to_u64(v.phash256 for _, v in rows).reshape(-1, 4),
                        np.array([v.name in ("center", "trim_center") for _, v in rows]), None,
                        np.array([VARIANT_CODE[v.name] for _, v in rows], dtype=np.int16))


T = Thresholds(16, 16, 64)
EDITED = {"mirror": transforms.mirror, "crop window": lambda im: transforms.crop_side(im, 0.15, "l"),
          "caption removed": lambda im: transforms.caption_band(im, "top"),
          "rotation": lambda im: transforms.rotate(im, 4)}


@pytest.mark.parametrize("via", list(EDITED))
def test_a_hard_edit_matches_its_original_and_says_how(photo, via):
    original = photo(6, (480, 360))
    fp = fingerprints({1: original, 2: EDITED[via](original), 3: photo(7, (480, 360)), 4: photo(8, (360, 480))})
    a, b, rank = matching_edges(fp, T)
    pairs = {(int(x), int(y)) for x, y in zip(a, b)}
    assert (1, 2) in pairs and not pairs - {(1, 2)}
    assert min(int(r) for x, y, r in zip(a, b, rank) if (x, y) == (1, 2)) == VIA_RANK[via]
    clusters = {c.media_id: c for c in find_clusters(fp, {}, T)}
    assert set(clusters) == {1, 2} and clusters[2].via == clusters[1].via == via
    assert clusters[2].via_media == 1 and clusters[1].via_media == 2
    assert clusters[2].via_transform.startswith("#2 ") and "#1 " in clusters[2].via_transform


def test_without_the_hard_variants_those_copies_are_missed(photo):
    """The test above fails for a plain hasher: the variants are what finds these copies."""
    original = photo(6, (480, 360))
    rows = [(m, v) for m, im in {1: original, 2: transforms.mirror(original)}.items()
            for v in hash_variants(im.convert("L"), 6.0, probes=False)]
    fp = Fingerprints(np.array([m for m, _ in rows]), hex_to_u64(v.phash for _, v in rows),
                      hex_to_u64(v.dhash for _, v in rows), hex_to_u64(v.phash256 for _, v in rows).reshape(-1, 4),
                      np.array([v.name == "center" for _, v in rows]))
    assert find_clusters(fp, {}, T) == []


@pytest.fixture
def hard_archive(tmp_path, photo, monkeypatch):
    for setting in ("HASHTRAIL_HARD_MIRROR", "HASHTRAIL_HARD_CROP_WINDOWS"):
        monkeypatch.setenv(setting, "1")  # off by default
    root = tmp_path / "archive"
    original = photo(11)
    save(twitter_path(root, 1, 101), original)
    save(twitter_path(root, 2, 102), transforms.mirror(original))
    save(twitter_path(root, 3, 103), transforms.crop_side(original, 0.2, "t"))
    save(twitter_path(root, 4, 104), photo(12))
    save(twitter_path(root, 5, 105), transforms.resize(photo(12), 0.7))
    db = str(tmp_path / "hard.db")
    result = CliRunner().invoke(main, ["scan", str(root), "--db", db, "--workers", "2"])
    assert result.exit_code == 0, result.output
    return root, db, original


def test_via_is_reported_by_show_clusters_json_and_match(hard_archive, tmp_path):
    root, db, original = hard_archive
    clusters = [json.loads(line) for line in
                CliRunner().invoke(main, ["clusters", "--db", db, "--format", "json"]).output.splitlines()]
    assert len(clusters) == 2
    hard = next(c for c in clusters if c["size"] == 3)
    by_post = {m["post_id"]: m for m in hard["members"]}
    assert by_post["102"]["via"] == "mirror" and "mirror_" in by_post["102"]["via_transform"]
    assert ", verified " in by_post["102"]["via_transform"]
    assert by_post["103"]["via"] == "crop window" and "crop_t" in by_post["103"]["via_transform"]
    plain = next(c for c in clusters if c["size"] == 2)
    assert {m["via"] for m in plain["members"]} == {"plain"}
    shown = CliRunner().invoke(main, ["show", str(hard["cluster"]), "--db", db]).output
    assert "via mirror: #" in shown and "via crop window: #" in shown
    as_json = json.loads(CliRunner().invoke(main, ["show", str(hard["cluster"]), "--db", db, "--format", "json"]).output)
    assert {m["post_id"]: m["via"] for m in as_json["members"]}["102"] == "mirror"
    query = save(tmp_path / "query" / "q.jpg", transforms.mirror(transforms.crop(original, 0.05)))
    found = [json.loads(line) for line in
             CliRunner().invoke(main, ["match", query, "--db", db, "--format", "json"]).output.splitlines()]
    assert found and {f["post_id"]: f["via"] for f in found}["101"] == "mirror"
    assert all(f["cluster_id"] == hard["cluster"] for f in found)
    transform = next(f for f in found if f["post_id"] == "101")["transform"]
    assert next(f for f in found if f["post_id"] == "101")["verified"] >= 0.7  # the pixel check, as clustering's
    assert transform.startswith("query ") and "mirror_" in transform and "~ #1 " in transform
    table = CliRunner().invoke(main, ["match", query, "--db", db]).output
    assert f"via mirror ({transform})" in table


def test_incremental_equals_rebuild_with_hard_variants(tmp_path, photo, settings):
    import sqlite3

    from hashtrail.pipeline.scan import scan, update_clusters
    from hashtrail.pipeline.store import Store

    settings = settings.replace(hard_mirror=True, hard_crop_windows=True)  # off by default
    root = tmp_path / "tree"
    save(twitter_path(root, 1, 101), photo(21))
    save(twitter_path(root, 2, 102), photo(22))
    save(twitter_path(root, 3, 103), transforms.crop_side(photo(22), 0.12, "r"))
    store = Store(settings.db)
    assert scan([str(root)], settings, store).clusters_rebuilt
    later = root / "later"
    save(twitter_path(later, 4, 104), transforms.mirror(photo(21)))  # a new mirror of an old picture
    save(twitter_path(later, 5, 105), transforms.caption_band(photo(22), "bottom"))  # joins the old cluster
    save(twitter_path(later, 6, 106), photo(22))  # a plain copy: the old crop stays "crop window"
    assert not scan([str(root)], settings, store).clusters_rebuilt
    incremental = sorted(store.db.execute("SELECT media_id, cluster_id, via, via_media, via_transform FROM clusters"))
    vias = {row[0]: row[2] for row in incremental}
    assert set(vias.values()) >= {"mirror", "crop window"} and len({row[1] for row in incremental}) == 2
    copy = str(tmp_path / "copy.db")
    with sqlite3.connect(copy) as target:
        store.db.conn.backup(target)
    assert update_clusters(Store(copy), settings.replace(db=copy), rebuild=True).rebuilt
    rebuilt = sorted(Store(copy).db.execute("SELECT media_id, cluster_id, via, via_media, via_transform FROM clusters"))
    assert rebuilt == incremental


def test_hard_edits_switched_off_are_neither_computed_nor_stored(tmp_path, photo, settings):
    """The defaults: caption bands and rotations. Mirrors and crop windows come only when a setting asks."""
    from hashtrail.pipeline.scan import scan
    from hashtrail.pipeline.store import Store

    defaults = HardEdits.from_settings(settings)
    assert defaults == HardEdits(mirror=False, caption=True, rotation=True, crop_windows=False) == HardEdits()
    banded = transforms.caption_band(photo(31, (480, 360)), "top").convert("L")
    names = {v.name for v in hash_variants(banded, 6.0, hard=defaults)}
    assert names == {"banded", "banded_center", "uncaptioned", "rotate_m4", "rotate_p4"}
    everything = {v.name for v in hash_variants(banded, 6.0, hard=ALL)}
    assert {"mirror_uncaptioned", "crop_l6", "square_c"} <= everything
    for setting, prefix in (("rotation", "rotate_"), ("crop_windows", "crop_"), ("caption", "uncaptioned"),
                            ("mirror", "mirror_")):
        alone = HardEdits(**{"mirror": False, "caption": False, "rotation": False, "crop_windows": False,
                             setting: True})
        names = {v.name for v in hash_variants(banded, 6.0, hard=alone)}
        assert any(n.startswith(prefix) for n in names), setting
        others = {"rotate_", "crop_", "uncaptioned", "mirror_"} - {prefix}
        assert not any(n.startswith(tuple(others)) for n in names), (setting, names)
    root = tmp_path / "tree"
    save(twitter_path(root, 1, 101), photo(32))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    stored = {r["variant"] for r in store.db.query("SELECT variant FROM fingerprints")}
    assert stored == {"full", "center", "zoom", "rotate_m4", "rotate_p4"}  # zoom: a mild edit, always on
