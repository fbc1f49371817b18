"""The container image (`cargo xtask image`) run the way another project's CI
runs it: configured only by `BOX_CHUNKED_*` variables, with `--network host`
(all traffic on 127.0.0.1), its data in a mounted volume, seeded at start,
healthy by its own healthcheck, a chunked upload through Box's Python SDK,
the journal read, a reset, and a restart on the same data.

`cargo xtask ci` builds the image where the Docker engine runs and passes
its tag in BOX_CHUNKED_IMAGE; elsewhere the test skips with the reason.
"""
import hashlib
import os
import socket
import subprocess
import time
import uuid

import pytest
import requests

from conftest import ADMIN, TOKEN
from test_box_sdks import gen_client

IMAGE = os.environ.get("BOX_CHUNKED_IMAGE")


def need_image():
    why = os.environ.get("BOX_CHUNKED_IMAGE_SKIP", "")
    if IMAGE:
        return IMAGE
    if why.startswith("FAIL:"):
        pytest.fail(why)
    pytest.skip(why or "BOX_CHUNKED_IMAGE is not set: `cargo xtask ci` builds the image where Docker runs")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True,
                          timeout=120)


def run_container(image, name, port, data, seed):
    # Variables only: no flag reaches `serve`.
    env = {
        "BOX_CHUNKED_ADDR": f"127.0.0.1:{port}",
        "BOX_CHUNKED_TOKEN": f"{TOKEN}=alice",
        "BOX_CHUNKED_ADMIN_TOKEN": ADMIN,
        "BOX_CHUNKED_SEED": "alice=/seed",
    }
    args = ["run", "-d", "--name", name, "--network", "host",
            "-v", f"{data}:/data", "-v", f"{seed}:/seed:ro"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    docker(*args, image)


def wait_healthy(name, timeout=60):
    deadline = time.time() + timeout
    status = ""
    while time.time() < deadline:
        status = docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
        if status == "healthy":
            return
        time.sleep(0.5)
    logs = docker("logs", name, check=False)
    pytest.fail(f"container {name} is {status!r} after {timeout}s: {logs.stdout}{logs.stderr}")


def download_sha1(url, file_id):
    # Box's 302 to the short-lived URL, followed as clients do.
    r = requests.get(f"{url}/2.0/files/{file_id}/content",
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert r.status_code == 200, r.text
    return hashlib.sha1(r.content).hexdigest()


def root_names(url):
    r = requests.get(f"{url}/2.0/folders/0/items", headers={"Authorization": f"Bearer {TOKEN}"},
                     timeout=10)
    assert r.status_code == 200, r.text
    return sorted(e["name"] for e in r.json()["entries"])


def test_the_image_serves_configured_only_by_variables(tmp_path, big_file):
    image = need_image()
    path, size, sha1 = big_file
    data, seed = tmp_path / "data", tmp_path / "seed"
    data.mkdir()
    (seed / "docs").mkdir(parents=True)
    (seed / "docs" / "readme.txt").write_bytes(b"seeded by BOX_CHUNKED_SEED\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name = f"box-chunked-test-{uuid.uuid4().hex[:8]}"
    run_container(image, name, port, data, seed)
    try:
        wait_healthy(name)
        assert requests.get(f"{url}/__box-chunked/health", timeout=5).status_code == 200
        assert root_names(url) == ["docs"]

        client = gen_client(url)
        with open(path, "rb") as f:
            uploaded = client.chunked_uploads.upload_big_file(f, "image.bin", size, "0")
        assert uploaded.sha_1 == sha1
        assert download_sha1(url, uploaded.id) == sha1

        admin = {"Authorization": f"Bearer {ADMIN}"}
        journal = requests.get(f"{url}/__box-chunked/requests?path_prefix=/api/2.0/files/upload_sessions",
                               headers=admin, timeout=10).json()
        parts = [e for e in journal["entries"] if e["method"] == "PUT"]
        assert len(parts) == 4, journal
        assert all(e["status"] == 200 and e["user"] == "alice" for e in parts), journal

        # The data is in the volume: a new container on it has the file.
        docker("stop", "-t", "10", name)
        docker("rm", name)
        run_container(image, name, port, data, seed)
        wait_healthy(name)
        assert root_names(url) == ["docs", "image.bin"]
        assert download_sha1(url, uploaded.id) == sha1

        r = requests.post(f"{url}/__box-chunked/reset", headers=admin, timeout=10)
        assert r.status_code in (200, 204), r.text
        assert root_names(url) == []
    finally:
        docker("rm", "-f", name, check=False)
