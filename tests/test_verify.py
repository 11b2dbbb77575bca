"""The pixel check of pairs only a hard edit explains (pipeline/media/verify.py, pipeline/index/verification.py)."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import save, twitter_path
from hashtrail.pipeline import transforms
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, cluster_with_details
from hashtrail.pipeline.index.edges import Edges
from hashtrail.pipeline.index.hamming import hex_to_u64
from hashtrail.pipeline.index.verification import Rule, needs_check, verify_edges
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import ALL_HARD_EDITS, VARIANT_CODE, VIA_RANK, hash_variants
from hashtrail.pipeline.media.verify import Picture, check


def published(im: Image.Image, quality: int = 85) -> Image.Image:
    """What a scan decodes of a picture posted as a JPEG."""
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return decode_still(buf.getvalue(), 10**8).image


def picture(im: Image.Image) -> Picture:
    return Picture.of(published(im))


def test_a_mirrored_copy_is_verified_and_the_unflipped_claim_is_not(photo):
    original = photo(31, (640, 480))
    copy = picture(transforms.mirror(original))
    result = check(picture(original), "mirror_full", copy, "full")
    assert result.verified and result.score >= 0.9 and result.contained >= 0.99
    assert not check(picture(original), "full", copy, "full").verified  # the flip is what makes them agree


@pytest.mark.parametrize("side,window", [("l", "crop_l12"), ("r", "crop_r18"), ("t", "crop_t12"), ("b", "crop_b6")])
def test_a_one_sided_crop_is_verified(photo, side, window):
    original = photo(32, (640, 480))
    share = {"crop_l12": 0.15, "crop_r18": 0.2, "crop_t12": 0.1, "crop_b6": 0.08}[window]
    result = check(picture(original), window, picture(transforms.crop_side(original, share, side)), "full")
    assert result.verified and result.contained >= 0.99, result


def test_a_rotated_copy_is_verified(photo):
    original = photo(33, (640, 480))
    result = check(picture(original), "rotate_p4", picture(transforms.rotate(original, 4)), "full")
    assert result.verified, result


def scene(seed: int) -> Image.Image:
    """A wide generated scene several shots are taken of."""
    from hashtrail.pipeline.demo import synthetic_photo
    return synthetic_photo(seed, (1200, 600))


def test_a_panned_shot_of_the_same_scene_is_not_a_crop():
    """Two 60% shots a tenth of the scene apart: the second has new content on its right."""
    wide = scene(34)
    first, panned = wide.crop((0, 0, 720, 480)), wide.crop((120, 0, 840, 480))
    for window in ("crop_l12", "crop_l18", "crop_l6"):
        # what a crop window of the first shot claims about the panned one
        assert not check(picture(first), window, picture(panned.crop((round(720 * 0.15), 0, 720, 480))),
                         "full").verified
    assert not check(picture(first), "full", picture(panned), "full").verified
    # while a real one-sided crop of the first shot passes the same check
    assert check(picture(first), "crop_l12", picture(first.crop((108, 0, 720, 480))), "full").verified


def near_symmetric(seed: int, marks: list[tuple[int, int]]) -> Image.Image:
    """A picture whose right half is its left half mirrored, with a few marks of its own."""
    from hashtrail.pipeline.demo import synthetic_photo
    half = synthetic_photo(seed, (400, 480))
    whole = Image.new("RGB", (800, 480))
    whole.paste(half, (0, 0))
    whole.paste(transforms.mirror(half), (400, 0))
    draw = ImageDraw.Draw(whole)
    for x, y in marks:
        draw.ellipse((x, y, x + 70, y + 70), fill=(250, 250, 20))
    return whole


def test_a_near_symmetric_picture_is_not_a_mirror_of_a_different_one():
    """The left and right cuts of a nearly symmetric photo: mirrored, they agree except where it is not."""
    whole = near_symmetric(35, [(560, 120), (650, 330)])
    left, right = whole.crop((0, 0, 480, 480)), whole.crop((320, 0, 800, 480))
    assert not check(picture(left), "mirror_full", picture(right), "full").verified
    assert check(picture(left), "mirror_full", picture(transforms.mirror(left)), "full").verified


def fingerprints(items: dict[int, Image.Image]) -> tuple[Fingerprints, dict[int, Picture]]:
    decoded = {m: published(im) for m, im in items.items()}
    rows = [(m, v) for m, g in decoded.items() for v in hash_variants(g, 6.0, hard=ALL_HARD_EDITS)]
    fp = Fingerprints(np.array([m for m, _ in rows]), hex_to_u64(v.phash for _, v in rows),
                      hex_to_u64(v.dhash for _, v in rows), hex_to_u64(v.phash256 for _, v in rows).reshape(-1, 4),
                      np.array([v.name in ("center", "trim_center", "banded", "banded_center") for _, v in rows]),
                      None, np.array([VARIANT_CODE[v.name] for _, v in rows], dtype=np.int16),
                      np.array([v.aspect for _, v in rows]))
    return fp, {m: Picture.of(g) for m, g in decoded.items()}


def test_clustering_joins_a_verified_mirror_and_says_its_score(photo):
    original = photo(36, (480, 360))
    fp, pictures = fingerprints({1: original, 2: transforms.mirror(original), 3: photo(37, (480, 360))})
    outcome = []
    t = Thresholds(16, 16, 64, verify=True)
    found = {a.media_id: a for a in cluster_with_details(fp, {}, t, lambda ids: {m: pictures[m] for m in ids},
                                                         outcome)[0]}
    assert set(found) == {1, 2} and found[2].via == "mirror"
    assert float(found[2].via_transform.split(", verified ")[1]) >= 0.7
    assert outcome[0].checked == 1 and outcome[0].rejected == 0 and outcome[0].unavailable == 0


def test_a_pair_whose_pixels_cannot_be_read_is_not_joined_and_is_counted(photo):
    original = photo(38, (480, 360))
    fp, _ = fingerprints({1: original, 2: transforms.mirror(original)})
    outcome = []
    t = Thresholds(16, 16, 64, verify=True)
    assert cluster_with_details(fp, {}, t, lambda ids: {}, outcome)[0] == []  # the files are gone
    assert outcome[0].unavailable == 1 and outcome[0].checked == 0
    # without the check (verify_hard = false) the hashes alone join them, as before
    assert len(cluster_with_details(fp, {}, Thresholds(16, 16, 64), lambda ids: {})[0]) == 2


def edges(a, b, rank, pdist=0, qdist=0, codes=("full", "full")) -> Edges:
    n = len(a)
    return Edges(np.array(a), np.array(b), np.array(rank, np.int8), np.full(n, VARIANT_CODE[codes[0]], np.int16),
                 np.full(n, VARIANT_CODE[codes[1]], np.int16), np.full(n, pdist), np.full(n, qdist))


def test_which_pairs_are_checked():
    hard = VIA_RANK["mirror"]
    e = Edges.join([edges([1, 1], [2, 2], [0, hard]), edges([3], [4], [hard]),
                    edges([5], [6], [VIA_RANK["caption removed"]]), edges([7], [8], [0], pdist=12, qdist=60)])
    assert needs_check(e).tolist() == [False, False, True, False, False]  # a plain or caption match explains 1-2, 5-6
    assert needs_check(e, Rule(10, 56)).tolist() == [False, False, True, False, True]  # the grey zone: 7-8


def test_a_pair_already_connected_is_not_checked_again():
    calls = []

    def counting(a, na, b, nb):  # the "pictures" here are the media ids; every check passes
        calls.append((a, b))
        return _Passed()

    hard = VIA_RANK["mirror"]
    e = Edges.join([edges([1], [2], [0]), edges([1, 2], [3, 3], [hard, hard], codes=("mirror_full", "full"))])
    result = verify_edges(e, lambda ids: {m: m for m in ids}, check=counting)
    assert calls == [(1, 3)] and result.checked == 1 and len(result.edges.a) == 2
    every = verify_edges(e, lambda ids: {m: m for m in ids}, check=counting, skip_connected=False)
    assert every.checked == 2 and len(every.edges.a) == 3


class _Passed:
    verified, score = True, 1.0


def test_the_scan_verifies_from_the_files_and_a_moved_file_is_counted(tmp_path, photo, settings):
    """End to end: a scan re-reads the pictures of the pairs to check; a rebuild without a file leaves it out."""
    import os

    from hashtrail.pipeline.scan import scan, update_clusters
    from hashtrail.pipeline.store import Store

    settings = settings.replace(hard_mirror=True, hard_crop_windows=True)
    root = tmp_path / "tree"
    original = photo(39)
    save(twitter_path(root, 1, 101), original)
    mirrored = save(twitter_path(root, 2, 102), transforms.mirror(original))
    save(twitter_path(root, 3, 103), photo(40))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    rows = dict(store.db.execute("SELECT m.post_id, c.via_transform FROM clusters c JOIN media m ON m.id = c.media_id"))
    assert set(rows) == {"101", "102"} and ", verified " in rows["102"]
    assert store.verification_counts()["checked"] == 1
    os.rename(mirrored, mirrored + ".moved")
    assert update_clusters(store, settings, rebuild=True).rebuilt
    assert store.db.execute("SELECT COUNT(*) FROM clusters").fetchone()[0] == 0
    assert store.verification_counts()["unavailable"] == 1


def test_the_verification_rule_is_part_of_the_clustering_rule(tmp_path, photo, settings):
    """Switching the check on or off re-clusters everything instead of updating."""
    from hashtrail.pipeline.scan import scan
    from hashtrail.pipeline.store import Store

    root = tmp_path / "tree"
    save(twitter_path(root, 1, 101), photo(41))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    assert store.can_update_clusters(Thresholds.from_settings(settings))
    assert not store.can_update_clusters(Thresholds.from_settings(settings.replace(verify_hard=False)))


def test_an_update_checks_only_new_pairs_that_could_change_a_cluster(tmp_path, photo, settings):
    """A new plain copy of an old mirrored pair joins without a check; the result equals a rebuild's."""
    import sqlite3

    from hashtrail.pipeline.scan import scan, update_clusters
    from hashtrail.pipeline.store import Store

    settings = settings.replace(hard_mirror=True)
    root = tmp_path / "tree"
    original = photo(42)
    save(twitter_path(root, 1, 101), original)
    save(twitter_path(root, 2, 102), transforms.mirror(original))
    store = Store(settings.db)
    scan([str(root)], settings, store)
    assert store.verification_counts()["checked"] == 1
    save(twitter_path(root / "later", 3, 103), transforms.resize(original, 0.7))  # plain copy of #1, mirror of #2
    assert not scan([str(root)], settings, store).clusters_rebuilt
    assert store.verification_counts()["checked"] == 1  # its mirror pair with #2 is inside the cluster it joins
    incremental = sorted(store.db.execute("SELECT media_id, cluster_id, via, via_media, via_transform FROM clusters"))
    assert len(incremental) == 3 and len({row[1] for row in incremental}) == 1
    copy = str(tmp_path / "copy.db")
    with sqlite3.connect(copy) as target:
        store.db.conn.backup(target)
    assert update_clusters(Store(copy), settings.replace(db=copy), rebuild=True).rebuilt
    assert sorted(Store(copy).db.execute("SELECT media_id, cluster_id, via, via_media, via_transform FROM clusters")) \
        == incremental


def test_text_written_on_a_copy_is_verified(photo):
    """A plain copy with a line of text on it: the strip of tiles the text spoils is forgiven (README)."""
    original = photo(44, (400, 300))
    result = check(picture(original), "full", picture(transforms.caption(original)), "full")
    assert result.verified and result.overlay > 0, result
    # the strip is forgiven only to a plain pair: a crop window's guessed geometry gets no allowance
    assert not check(picture(original), "crop_l6", picture(transforms.caption(transforms.crop_side(original, 0.06, "l"))),
                     "full").overlay


def shots(seed: int) -> dict[str, Image.Image]:
    """Shots of one generated scene: a textured object in front of a textured background.

    "left" and "right" are the two cameras of a stereo pair (the near object shifts 8% of the width,
    the far background 1%); "moved" is the left camera after the object was moved sideways.
    """
    from hashtrail.pipeline.demo import synthetic_photo
    background = synthetic_photo(seed, (800, 480))
    thing = synthetic_photo(seed + 1, (220, 220))
    mask = Image.new("L", thing.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, *thing.size), fill=255)

    def shot(far: int, near: int) -> Image.Image:
        im = background.crop((far, 0, far + 640, 480))
        im.paste(thing, (near, 140), mask)
        return im
    return {"left": shot(0, 260), "right": shot(6, 210), "moved": shot(0, 380)}


def test_other_shots_of_a_scene_are_rejected_as_plain_pairs(settings):
    """Parallax and a moved object disagree beyond one strip, or on both sides: rejected, while text on the
    same shot is forgiven; with verify_plain, grey-zone plain pairs are checked at all."""
    scene_shots = shots(44)
    left = picture(scene_shots["left"])
    for other in ("right", "moved"):
        assert not check(left, "full", picture(scene_shots[other]), "full").verified, other
    assert check(left, "full", picture(transforms.caption(scene_shots["left"])), "full").verified
    rule = Rule.from_thresholds(Thresholds.from_settings(settings.replace(verify_plain=True)))
    assert rule.plain_phash is not None
    e = edges([1], [2], [0], pdist=13, qdist=50)
    assert needs_check(e, rule).tolist() == [True]

