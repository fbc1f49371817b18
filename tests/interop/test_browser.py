"""A page in headless Chromium (Debian's `chromium`, driven by npm
`puppeteer-core`; both installed by scripts/browser-env.sh and
scripts/node-env.sh) on another origin than the server: a chunked upload of
30 MB with plain `fetch`, one part answered 503 and one 429 waited out by
its Retry-After (which the page can read only because it is exposed), then
downloaded back and compared. The server lists the
page's origin (`--cors-origin`); a server that lists none refuses the page.
And a page that uploads through Box's own Node SDK in its browser build
(bundled by npm `esbuild` from the SDK's ES modules when the test runs).
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import TOKEN, start_server, static_origin

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
SIZE = 30_000_000


def why_not():
    if not CHROMIUM:
        return "chromium not installed (scripts/browser-env.sh installs Debian's chromium as root)"
    if not shutil.which("node") or not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "puppeteer-core")):
        return "puppeteer-core not installed (run scripts/node-env.sh)"
    return None


@pytest.fixture()
def page_origin():
    """The page's own origin: a static server for tests/interop/browser."""
    with static_origin(os.path.join(HERE, "browser")) as origin:
        yield origin


@pytest.fixture()
def sdk_page_origin(tmp_path):
    """The origin of a page that loads Box's Node SDK, bundled for browsers."""
    esbuild = os.path.join(NODE_DIR, "node_modules", ".bin", "esbuild")
    if not os.path.exists(esbuild):
        pytest.skip("esbuild not installed (run scripts/node-env.sh)")
    shutil.copy(os.path.join(HERE, "browser", "sdk-upload.html"), tmp_path)
    out = subprocess.run(
        [esbuild, "node_modules/box-node-sdk/lib-esm/index.js", "--bundle", "--platform=browser",
         "--format=iife", "--global-name=BoxSdk", f"--outfile={tmp_path / 'box-sdk.js'}",
         "--log-level=error"],
        capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    with static_origin(tmp_path) as origin:
        yield origin


def run_page(origin, server_url, page="upload.html"):
    env = dict(os.environ, CHROMIUM=CHROMIUM)
    out = subprocess.run(
        ["node", os.path.join(NODE_DIR, "browser.js"), f"{origin}/{page}", server_url, TOKEN,
         str(SIZE)],
        capture_output=True, text=True, timeout=300, cwd=NODE_DIR, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(why_not() is not None, reason=why_not() or "")
def test_a_page_on_another_origin_uploads_with_fetch(page_origin):
    with tempfile.TemporaryDirectory(prefix="box-chunked-browser-") as data:
        s = start_server(data, ["--cors-origin", page_origin, "--faults", "part:503@#2,part:429=1@#3"])
        try:
            r = run_page(page_origin, s.url)
            assert "error" not in r, r
            assert r["sha1"] == r["expected_sha1"] and r["size"] == SIZE, r
            # The 503, and the 429 whose Retry-After the page could read (exposed).
            assert {"status": 503, "retry_after": None} in r["waits"], r
            assert {"status": 429, "retry_after": "1"} in r["waits"], r
            assert s.download_sha1(r["id"]) == r["expected_sha1"]
        finally:
            s.proc.terminate()
            s.proc.wait(timeout=20)


@pytest.mark.skipif(why_not() is not None, reason=why_not() or "")
def test_a_page_from_an_origin_not_listed_is_refused(page_origin):
    with tempfile.TemporaryDirectory(prefix="box-chunked-browser-") as data:
        s = start_server(data, ["--cors-origin", "https://elsewhere.example"])
        try:
            r = run_page(page_origin, s.url)
            assert "Failed to fetch" in r.get("error", ""), r
            assert s.counters()["files_committed"] == 0
        finally:
            s.proc.terminate()
            s.proc.wait(timeout=20)


@pytest.mark.skipif(why_not() is not None, reason=why_not() or "")
def test_a_page_uploads_through_box_node_sdk_in_the_browser(sdk_page_origin):
    with tempfile.TemporaryDirectory(prefix="box-chunked-browser-sdk-") as data:
        s = start_server(data, ["--cors-origin", sdk_page_origin])
        try:
            r = run_page(sdk_page_origin, s.url, page="sdk-upload.html")
            assert "error" not in r, r
            assert r["sha1"] == r["expected_sha1"] and r["size"] == SIZE, r
            assert s.download_sha1(r["id"]) == r["expected_sha1"]
            assert s.counters()["sessions_created"] == 1
        finally:
            s.proc.terminate()
            s.proc.wait(timeout=20)
