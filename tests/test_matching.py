"""Every mild reposting edit is matched; different pictures are not."""
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from hashtrail import config
from hashtrail.cli import main
from hashtrail.pipeline import transforms
from hashtrail.pipeline.index.cluster import (
    Fingerprints,
    Thresholds,
    find_clusters,
    matching_pairs,
)
from hashtrail.pipeline.index.hamming import hex_to_u64
from hashtrail.pipeline.media.decode import decode_still
from hashtrail.pipeline.media.hashing import SECONDARY, hash_variants
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store

from conftest import save

SETTINGS = config.load({})
SEEDS = range(1, 7)


def stored(image, fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buf.getvalue()


def fingerprints(datas: list[bytes]) -> Fingerprints:
    ids, ph, dh, p256, names = [], [], [], [], []
    for media_id, data in enumerate(datas):
        for v in hash_variants(decode_still(data, 10**8).image, SETTINGS.min_detail):
            ids.append(media_id)
            ph.append(v.phash)
            dh.append(v.dhash)
            p256.append(v.phash256)
            names.append(v.name)
    return Fingerprints(np.array(ids), hex_to_u64(ph), hex_to_u64(dh), hex_to_u64(p256).reshape(-1, 4),
                        np.isin(names, SECONDARY))


def matched(datas) -> set[tuple[int, int]]:
    a, b = matching_pairs(fingerprints(datas), Thresholds.from_settings(SETTINGS))
    return {(min(x, y), max(x, y)) for x, y in zip(a.tolist(), b.tolist())}


@pytest.mark.parametrize("edit", sorted(transforms.MILD))
def test_mild_edit_matches_its_original(edit, photo):
    for seed in SEEDS:
        original = stored(photo(seed))
        published = decode_source(original)
        copy = stored(transforms.MILD[edit](published), "PNG" if edit == "png" else "JPEG")
        assert (0, 1) in matched([original, copy]), f"{edit} of photo {seed} not matched"


def decode_source(data):
    from PIL import Image
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_different_pictures_do_not_match(photo):
    datas = [stored(photo(seed)) for seed in range(20, 40)]
    assert matched(datas) == set()


def test_other_shots_of_one_scene_stay_apart(photo):
    scene = photo(50, (1200, 900))
    shots = [scene.crop((x, y, x + 720, y + 540)) for x, y in [(0, 0), (240, 0), (480, 0), (0, 180), (480, 360)]]
    assert matched([stored(s) for s in shots]) == set()


def test_byte_identical_files_cluster_even_without_hashes():
    empty = Fingerprints.empty()
    assignments = find_clusters(empty, {1: "aa", 2: "aa", 3: "bb"}, Thresholds(16, 16, 64))
    assert {(a.media_id, a.cluster_id, a.distance) for a in assignments} == {(1, 1, 0), (2, 1, 0)}


def test_clusters_without_accounts_are_listed_and_counted_alike(tmp_path, photo, settings):
    root = tmp_path / "flat"
    for name in ("a.jpg", "b.jpg"):
        save(str(root / name), photo(1))
    summary = scan([str(root)], settings, Store(settings.db))
    assert summary.clusters == 1
    listed = json.loads(CliRunner().invoke(main, ["clusters", "--db", settings.db, "--format", "json"]).output)
    shown = json.loads(CliRunner().invoke(main, ["show", str(listed["cluster"]), "--db", settings.db,
                                                 "--format", "json"]).output)
    assert listed["accounts"] == shown["accounts"] == 1


def test_thousands_of_identical_copies_cluster_in_bounded_memory():
    import resource

    import numpy as np

    from hashtrail.pipeline.index.cluster import Fingerprints, Thresholds, find_clusters
    n = 6000
    one = np.arange(1, 8, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    fp = Fingerprints(np.arange(n), np.full(n, one[0]), np.full(n, one[1]), np.tile(one[2:6], (n, 1)),
                      np.zeros(n, dtype=bool))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assignments = find_clusters(fp, {}, Thresholds(16, 16, 64))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert {a.cluster_id for a in assignments} == {0} and len(assignments) == n
    assert grown_mb < 200, f"{grown_mb:.0f} MB for {n} identical copies: pairs were materialised"
