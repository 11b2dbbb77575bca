"""Screenshots of `hashtrail serve` on the demo archive, for the README (docs/screenshots/).

Needs Debian's chromium and playwright (both installed by scripts/test.sh):
    python scripts/screenshots.py [hashtrail-demo]
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

import hashtrail

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(HERE, "docs", "screenshots")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else "hashtrail-demo"
    db = os.path.join(folder, "hashtrail.db")
    if not os.path.exists(db):
        subprocess.run([sys.executable, "-m", "hashtrail", "demo", folder], check=True, stdout=subprocess.DEVNULL)
    video = next(c["cluster"] for c in hashtrail.clusters(db=db) if c["kinds"].get("video"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "hashtrail", "serve", "--db", db, "--port", str(port)],
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        os.makedirs(OUT, exist_ok=True)
        query = next(hashtrail.clusters(db=db, min_accounts=2))["members"][1]["path"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            for path, name, full in (("/", "clusters.png", False), (f"/cluster/{video}", "cluster.png", True)):
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=os.path.join(OUT, name), full_page=full)
            page.goto(url + "/match")
            page.set_input_files("input[type=file]", query)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=os.path.join(OUT, "match.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
