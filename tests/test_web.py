"""`hashtrail serve` in a real headless browser (Debian's chromium driven by playwright).

The server runs as users run it (`hashtrail serve`, a subprocess on a free
port) over a generated archive with hostile names, a video, zip members and
a file that went missing after the scan. The browser checks that pictures
really render (naturalWidth > 0), that a video shows its keyframe strip,
that the upload search works, and that hostile names stay text. Screenshots
go to $HASHTRAIL_SCREENSHOTS (the README's come from there), else the test's
folder.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile

import pytest

import hashtrail
from hashtrail.pipeline import transforms
from hashtrail.pipeline.demo import synthetic_photo
from hashtrail.pipeline.store import Store

from conftest import save
from processes import REPO, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed ('bash scripts/test.sh' installs it)")
HOSTILE = '<img src=x onerror="document.title=1">"\'&amp;'
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import videos

    base = tmp_path_factory.mktemp("web")
    root = base / "archive"
    picture = synthetic_photo(41, (640, 480))
    save(str(root / HOSTILE / f"{HOSTILE}.jpg"), picture)
    save(str(root / "acct_b" / "947666110763761664-k1.jpg"), transforms.border(picture, 0.05))
    save(str(root / "acct_c" / "947666110763761665-k2.png"), picture, "PNG")
    gone = save(str(root / "acct_d" / "947666110763761666-k3.jpg"), picture)
    archive = root / "release_hashed_001.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(save(str(base / "zipped.jpg"), picture), "acct_e/947666110763761667-k4.jpg")
    photos = videos.make_photos(str(base / "photos"), [51, 52, 53])
    for folder in ("acct_v", "acct_w"):
        (root / folder).mkdir()
    source = videos.slideshow(str(root / "acct_v" / "948083154017583104-v1.mp4"), photos)
    videos.transform(source, str(root / "acct_w" / "948083154017583105-v2.mp4"), "rescale")
    db = str(base / "web.db")
    hashtrail.scan([str(root)], db=db, workers=2)
    shutil.copy(gone, base / "kept.jpg")
    os.unlink(gone)  # on record, no longer on disk: its thumbnail is the placeholder
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTRAIL_")}
    log = open(base / "serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "hashtrail", "serve", "--db", db, "--port", str(port)],
                              env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/index.json", timeout=5).read()
            break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((base / "serve.log").read_text())
            time.sleep(0.2)
    shots = os.environ.get("HASHTRAIL_SCREENSHOTS") or str(base / "shots")
    os.makedirs(shots, exist_ok=True)
    yield {"url": url, "db": db, "root": root, "query": str(base / "kept.jpg"), "shots": shots}
    server.terminate()
    server.wait(15)
    log.close()


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def _broken_images(page) -> list[str]:
    page.wait_for_load_state("networkidle")
    return page.evaluate("""() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                                   .map(i => i.src)""")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers, r.read()


def _video_cluster(db) -> int:
    return next(c["cluster"] for c in hashtrail.clusters(db=db) if c["kinds"].get("video"))


def test_start_page_shows_clusters_with_thumbnails_that_render(served, page):
    page.goto(served["url"] + "/")
    assert "across accounts" in page.inner_text(".overview")
    strips = page.locator(".cluster .strip img")
    assert strips.count() >= 4
    assert _broken_images(page) == []
    page.screenshot(path=os.path.join(served["shots"], "clusters.png"))


def test_hostile_names_are_text_and_nothing_runs(served, page):
    page.goto(served["url"] + "/?min_accounts=1")
    cluster_id = next(c["cluster"] for c in hashtrail.clusters(db=served["db"])
                      if any(m["account"] == HOSTILE for m in c["members"]))
    page.goto(f"{served['url']}/cluster/{cluster_id}")
    assert HOSTILE in page.inner_text("table.members")  # shown as the characters it is made of
    assert page.title().startswith("cluster")  # the onerror handler never ran
    assert page.dialogs == []
    page.locator("td.who a", has_text=HOSTILE[:12]).first.click()
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1.account") == HOSTILE
    assert page.title().startswith("account")


def test_video_cluster_shows_its_keyframe_strip_and_matched_frames(served, page):
    page.goto(f"{served['url']}/cluster/{_video_cluster(served['db'])}")
    frames = page.locator(".keyframes img")
    assert frames.count() >= 3
    assert _broken_images(page) == []
    timeline = page.locator("figure.timeline img")
    assert timeline.evaluate("i => i.naturalWidth") > 0
    page.screenshot(path=os.path.join(served["shots"], "cluster.png"), full_page=True)


def test_upload_search_finds_the_stored_copies(served, page):
    page.goto(served["url"] + "/match")
    page.set_input_files("input[type=file]", served["query"])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    rows = page.locator("table.members tbody tr")
    assert rows.count() >= 3
    assert "acct_b" in page.inner_text("table.members")
    assert _broken_images(page) == []
    page.screenshot(path=os.path.join(served["shots"], "match.png"))
    before = os.path.getsize(served["db"])
    assert len(list(hashtrail.clusters(db=served["db"]))) > 0 and os.path.getsize(served["db"]) == before


def test_account_page_lists_media_and_partners(served, page):
    page.goto(served["url"] + "/account/acct_b")
    assert "acct_c" in page.inner_text("ol.partners")
    assert page.locator(".grid img").count() >= 1 and _broken_images(page) == []


def test_every_page_is_also_json_with_the_cli_keys(served):
    cluster_id = _video_cluster(served["db"])
    status, headers, body = _get(f"{served['url']}/cluster/{cluster_id}.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == hashtrail.cluster(cluster_id, db=served["db"])
    index = json.loads(_get(served["url"] + "/index.json?min_accounts=1")[2])
    assert {c["cluster"] for c in index["clusters"]} == {c["cluster"] for c in hashtrail.clusters(db=served["db"])}
    account = json.loads(_get(served["url"] + "/account/acct_b.json")[2])
    assert account["media_total"] == 1 and account["partners"]


def test_zip_members_and_missing_files_get_pictures(served):
    rows = {m["path"]: m for c in hashtrail.clusters(db=served["db"]) for m in c["members"]}
    member = next(m for p, m in rows.items() if "!" in p)
    status, headers, body = _get(f"{served['url']}/media/{member['media_id']}/thumb.jpg")
    assert headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    gone = next(m for p, m in rows.items() if p.endswith("-k3.jpg"))
    status, headers, body = _get(f"{served['url']}/media/{gone['media_id']}/thumb.jpg")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")  # the placeholder
    assert os.path.isdir(served["db"] + "-thumbs")  # the cache is beside the database, not in it


def test_read_only_local_and_no_path_from_a_request(served):
    status, headers, _ = _get(served["url"] + "/")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    for method, path in (("POST", "/"), ("DELETE", "/cluster/1"), ("PUT", "/media/1/thumb.jpg")):
        request = urllib.request.Request(served["url"] + path, method=method, data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405
    for path in ("/media/..%2f..%2fetc%2fpasswd/thumb.jpg", "/media/999999/thumb.jpg",
                 "/static/..%2f..%2fapp.py", "/media/1/thumb.jpg?path=/etc/passwd&side=99999"):
        try:
            status, headers, body = _get(served["url"] + path)
        except urllib.error.HTTPError as exc:
            status, body = exc.code, b""
        assert b"root:" not in body and b"import" not in body
        assert status in (200, 400, 404)
        if status == 200:
            assert headers["Content-Type"].startswith("image/")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        Store(served["db"], read_only=True).db.execute("DELETE FROM media")


def test_uploads_are_capped_and_need_a_length(served):
    big = urllib.request.Request(served["url"] + "/match", method="POST", data=b"x" * 100,
                                 headers={"Content-Type": "multipart/form-data; boundary=b",
                                          "Content-Length": str(10**12)})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(big, timeout=10)
    assert refused.value.code == 413
    import http.client

    host, port = served["url"].split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/match")
    conn.putheader("Content-Type", "multipart/form-data; boundary=b")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"5\r\nhello\r\n0\r\n\r\n")
    assert conn.getresponse().status == 411


def test_a_port_in_use_is_a_clear_error_before_any_banner(served):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "hashtrail", "serve", "--db", served["db"], "--port", str(port)],
                              capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1" in done.stderr and "Ctrl-C stops it" not in done.stderr
