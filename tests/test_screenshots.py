"""Screenshots: the picture inside a generated UI is found, hashed on its own and matched; the chrome is not."""
import io
import json

import numpy as np
import pytest
from PIL import Image
from click.testing import CliRunner

from conftest import save, scan_clusters, twitter_path
from hashtrail.cli import main
from hashtrail.pipeline import transforms
from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, matching_edges
from hashtrail.pipeline.index.hamming import hex_to_u64
from hashtrail.pipeline.media import screenshot
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import (ALL_HARD_EDITS, SCREENED, SECONDARY, VARIANT_CODE, VARIANTS, VIA_RANK,
                                              HardEdits, hash_variants, is_secondary, via_of)

TEMPLATES = sorted(transforms.SCREENSHOTS)


def variants_of(image, hard=HardEdits(), min_detail=6.0):
    """The scan's path for a still: JPEG bytes, the small decode (and its finer one), the variants."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=88)
    decoded = decode_still(buf.getvalue(), 10**8)
    return hash_variants(decoded.image, min_detail, hard=hard, fine=decoded.fine)


def pale_micrograph(seed: int, size=(640, 480)) -> Image.Image:
    """A pale, smooth picture like a micrograph: grain of a few grey levels on a light field, no edge in it.

    Few of its pixels span more than screenshot.BUSY grey levels: it looks as
    flat as a silhouette's body to a busy-pixel test, and a screenshot of it
    hashed whole matches a screenshot of another such picture by their chrome.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    grain = Image.fromarray(rng.normal(0, 1, (height // 10, width // 10)).astype(np.float32))
    grain = grain.resize(size, Image.BICUBIC)
    field = Image.fromarray(rng.normal(0, 1, (4, 5)).astype(np.float32)).resize(size, Image.BICUBIC)
    pixels = 205 + 4 * np.asarray(grain) + 2 * np.asarray(field)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")


def fingerprints(per_media: list[list]) -> Fingerprints:
    rows = [v for vs in per_media for v in vs]
    return Fingerprints(np.repeat(np.arange(len(per_media), dtype=np.int64), [len(vs) for vs in per_media]),
                        hex_to_u64(v.phash for v in rows), hex_to_u64(v.dhash for v in rows),
                        hex_to_u64(v.phash256 for v in rows).reshape(-1, 4),
                        np.array([v.name in SECONDARY for v in rows]), None,
                        np.array([VARIANT_CODE[v.name] for v in rows], dtype=np.int16),
                        np.array([v.aspect for v in rows]))


def media_pairs(per_media, settings) -> dict[tuple[int, int], int]:
    """Matching media pairs and the rank (VIA_RANK) of the plainest way each matched."""
    a, b, rank = matching_edges(fingerprints(per_media), Thresholds.from_settings(settings))
    best: dict[tuple[int, int], int] = {}
    for x, y, r in zip(a.tolist(), b.tolist(), rank.tolist()):
        best[x, y] = min(best.get((x, y), r), r)
    return best


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_screenshot_matches_its_picture_and_not_another_picture_in_the_same_ui(template, photo, settings):
    first, second = photo(41, (640, 480)), photo(42, (640, 480))
    render = transforms.SCREENSHOTS[template]
    shots = [render(first, seed=0), render(second, seed=0)]  # the same chrome, texts and all
    per_media = [variants_of(first), variants_of(second), *(variants_of(s) for s in shots)]
    for shot in per_media[2:]:
        assert "screen" in {v.name for v in shot}
        assert not {"full", "center", "banded"} & {v.name for v in shot}  # the whole frame is not hashed
    pairs = media_pairs(per_media, settings)
    assert pairs.get((0, 2)) == VIA_RANK["screenshot"] and pairs.get((1, 3)) == VIA_RANK["screenshot"]
    assert (2, 3) not in pairs and (0, 3) not in pairs and (1, 2) not in pairs and (0, 1) not in pairs


@pytest.mark.parametrize("seeds", [(1, 2), (5, 6)])
def test_screenshots_of_two_pale_pictures_in_one_ui_match_their_pictures_not_each_other(seeds, settings):
    """Smooth pictures are found by their grain: hashed whole, the two screenshots matched by their chrome."""
    first, second = (pale_micrograph(seed) for seed in seeds)
    shots = [transforms.phone_post(first, seed=0), transforms.phone_post(second, seed=0)]  # the same chrome and texts
    per_media = [variants_of(picture, min_detail=settings.min_detail) for picture in (first, second, *shots)]
    pairs = media_pairs(per_media, settings)
    assert (2, 3) not in pairs
    assert all("screen" in {v.name for v in shot} for shot in per_media[2:])
    assert pairs.get((0, 2)) == VIA_RANK["screenshot"] and pairs.get((1, 3)) == VIA_RANK["screenshot"]


def test_a_pale_picture_whose_edge_is_nearly_the_page_white_is_found(settings):
    """No busy outline where the picture is as light as the page: its pixels off the page's colour close it."""
    def light_edged(seed):  # the micrograph brightened towards its sides, to 240 grey at the edge (the page: 255)
        pixels = np.asarray(pale_micrograph(seed).convert("L"), dtype=np.float32)
        height, width = pixels.shape
        x = np.minimum(np.arange(width), width - 1 - np.arange(width)) / (width / 2)
        y = np.minimum(np.arange(height), height - 1 - np.arange(height)) / (height / 2)
        edge = (1 - np.minimum(x[None, :], y[:, None])) ** 2  # 1 at the sides, 0 in the middle
        return Image.fromarray(np.clip(pixels + 35 * edge, 0, 255).astype(np.uint8)).convert("RGB")

    first, second = light_edged(1), light_edged(2)
    shots = [transforms.phone_post(first, seed=0), transforms.phone_post(second, seed=0)]
    per_media = [variants_of(picture, min_detail=settings.min_detail) for picture in (first, second, *shots)]
    pairs = media_pairs(per_media, settings)
    assert (2, 3) not in pairs
    assert all("screen" in {v.name for v in shot} for shot in per_media[2:])
    assert pairs.get((0, 2)) == VIA_RANK["screenshot"] and pairs.get((1, 3)) == VIA_RANK["screenshot"]


@pytest.mark.parametrize("seeds", [(1, 2), (5, 6)])
def test_screenshots_whose_frame_holds_no_photograph_never_pair(seeds, settings):
    """The chrome recognised, the picture not (too smooth for a photograph): only secondary rows, so the two
    screenshots of one app cannot match each other by their chrome (hashed whole, they did)."""
    def smooth(seed):  # pale_micrograph without its grain: a field varying by a few grey levels
        rng = np.random.default_rng(seed)
        field = Image.fromarray(rng.normal(0, 1, (4, 5)).astype(np.float32)).resize((640, 480), Image.BICUBIC)
        return Image.fromarray(np.clip(205 + 4 * np.asarray(field), 0, 255).astype(np.uint8)).convert("RGB")

    shots = [transforms.phone_post(smooth(seed), seed=0) for seed in seeds]
    per_media = [variants_of(shot, hard=ALL_HARD_EDITS, min_detail=settings.min_detail) for shot in shots]
    assert (0, 1) not in media_pairs(per_media, settings)
    for shot in per_media:
        assert {v.name for v in shot} <= set(SCREENED) and "screened" in {v.name for v in shot}
        assert all(v.name in SECONDARY for v in shot)  # no probes, no mirrors, no caption search


def test_the_rows_of_an_unrecognised_picture_are_secondary_and_appended():
    assert all(is_secondary(name) and via_of(name) == "plain" for name in SCREENED)
    # after every older name: stored variant codes of older databases keep their meaning
    assert VARIANTS[VARIANTS.index("textless") + 1:][:len(SCREENED)] == SCREENED


def test_a_flat_shape_in_a_frame_is_not_a_picture():
    """The grain rule does not take a flat shape for a photograph: a black disc inside a grey frame on a page."""
    page = np.full((240, 150), 255, np.uint8)
    page[8:14, 10:90] = 40  # a line of "text" above (ink outside the frame)
    page[60:200, 10:140] = 120  # the frame, a flat panel
    page[90:170, 40:110] = 20  # a flat shape on it
    page[215:220, 10:80] = 40
    panel = Image.fromarray(page)
    assert screenshot.picture_box(panel) is None
    assert screenshot.find_frame(panel) == screenshot.Frame((10, 60, 140, 200), textured=False)  # the chrome is seen
    grainy = page.astype(np.int16)
    grainy[62:198, 12:138] += np.random.default_rng(0).integers(-3, 4, (136, 126))  # grain of a few levels all over
    assert screenshot.picture_box(Image.fromarray(np.clip(grainy, 0, 255).astype(np.uint8))) is not None


def test_a_screenshot_of_the_same_screenshot_matches(photo, settings):
    """A screenshot reposted (re-encoded, scaled) is found again: its two pictures match."""
    shot = transforms.phone_post(photo(43), seed=5)
    again = transforms.resize(transforms.reencode(shot, 70), 0.8)
    per_media = [variants_of(shot), variants_of(again)]
    assert all("screen" in {v.name for v in vs} for vs in per_media)
    assert (0, 1) in media_pairs(per_media, settings)


def test_photos_bordered_photos_and_captioned_memes_are_not_screenshots(photo):
    picture = photo(44, (640, 480))
    for edit in (lambda im: im, lambda im: transforms.border(im, 0.10), transforms.letterbox,
                 lambda im: transforms.caption_band(im, "top"), lambda im: transforms.caption_band(im, "bottom", 0.3),
                 transforms.caption):
        names = {v.name for v in variants_of(edit(picture))}
        assert "screen" not in names and names & {"full", "banded"}, names
    buf = io.BytesIO()
    transforms.caption_band(picture, "top").save(buf, "JPEG")
    decoded = decode_still(buf.getvalue(), 10**8)
    assert screenshot.picture_box(decoded.fine()) is None
    assert "uncaptioned" in {v.name for v in variants_of(transforms.caption_band(picture, "top"))}


def test_picture_box_is_the_picture_in_the_finer_decode(photo):
    picture = photo(45, (600, 600))
    shot = transforms.news_page(picture, seed=1)  # the picture at (64, top), 560 x 560 on a 1280 px page
    buf = io.BytesIO()
    shot.save(buf, "PNG")
    decoded = decode_still(buf.getvalue(), 10**8)
    fine = decoded.fine()
    scale = fine.width / shot.width
    left, top, right, bottom = screenshot.picture_box(fine)
    assert abs(left - 64 * scale) <= 2 and abs((right - left) - 560 * scale) <= 3
    assert abs((bottom - top) - 560 * scale) <= 3
    assert screenshot.picture_box(decoded.image.resize((40, 60))) is None  # too small to search


def test_scan_clusters_a_screenshot_with_its_picture_via_screenshot(tmp_path, photo, settings):
    """The real scan and CLI: via "screenshot" in clusters, show and match; other pictures in the UI stay apart."""
    root = tmp_path / "tree"
    first, second = photo(46), photo(47)
    save(twitter_path(root, 1, 101), first)
    save(twitter_path(root, 2, 102), transforms.dark_app(first, seed=3))
    save(twitter_path(root, 3, 103), transforms.dark_app(second, seed=3), "PNG")  # same chrome, other picture
    save(twitter_path(root, 4, 104), photo(48))
    db = settings.db
    clusters = scan_clusters(root, db)
    assert len(clusters) == 1
    members = {m["post_id"]: m for m in clusters[0]["members"]}
    assert set(members) == {"101", "102"}
    assert members["102"]["via"] == "screenshot" and "screen ~" in members["102"]["via_transform"]
    shown = CliRunner().invoke(main, ["show", str(clusters[0]["cluster"]), "--db", db]).output
    assert "via screenshot: #" in shown
    query = save(tmp_path / "query" / "q.png", transforms.phone_post(first, seed=9), "PNG")
    found = [json.loads(line) for line in
             CliRunner().invoke(main, ["match", query, "--db", db, "--format", "json"]).output.splitlines()]
    by_post = {f["post_id"]: f for f in found}
    assert by_post["101"]["via"] == "screenshot" and "103" not in by_post
    # the rectangle found, in the query's pixels: the phone post's picture is 984 px wide from x = 48
    x0, y0, x1, y1 = map(int, by_post["101"]["transform"].split("screen[")[1].split("]")[0].split(","))
    assert abs(x0 - 48) <= 16 and abs((x1 - x0) - 984) <= 24 and y1 > y0
