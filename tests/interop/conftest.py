"""Starts the real `box-chunked serve` binary for the interop tests."""
import hashlib
import os
import subprocess
import tempfile

import pytest
import requests

TOKEN = "DEV_TOKEN"
ADMIN = "DEV_ADMIN"


class Server:
    def __init__(self, url, proc, data):
        self.url = url
        self.proc = proc
        self.data = data

    def set_faults(self, spec):
        r = requests.put(f"{self.url}/__box-chunked/faults", data=spec,
                         headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert r.status_code == 204, r.text

    def counters(self):
        return requests.get(f"{self.url}/__box-chunked/counters",
                            headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()

    def download_sha1(self, file_id):
        r = requests.get(f"{self.url}/2.0/files/{file_id}/content",
                         headers={"Authorization": f"Bearer {TOKEN}"}, stream=True, timeout=60)
        assert r.status_code == 200, r.text
        h = hashlib.sha1()
        for chunk in r.iter_content(1 << 20):
            h.update(chunk)
        return h.hexdigest()

    def session_status(self, session_id):
        return requests.get(f"{self.url}/api/2.0/files/upload_sessions/{session_id}",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code


@pytest.fixture()
def server():
    binary = os.environ.get("BOX_CHUNKED_BIN", "target/debug/box-chunked")
    with tempfile.TemporaryDirectory(prefix="box-chunked-interop-") as data:
        proc = subprocess.Popen(
            [binary, "serve", "--addr", "127.0.0.1:0", "--data", data, "--token", f"{TOKEN}=alice",
             "--admin-token", ADMIN],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline()
        url = next(w for w in line.split() if w.startswith("http://"))
        try:
            yield Server(url, proc, data)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture()
def big_file(tmp_path):
    """A file of 25 MiB and a bit (4 parts at the server's 8 MiB part size)."""
    path = tmp_path / "big.bin"
    size = 25 * 1024 * 1024 + 12345
    h = hashlib.sha1()
    with open(path, "wb") as f:
        block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB
        written = 0
        while written < size:
            chunk = block[: min(len(block), size - written)]
            chunk = bytes([written // len(block) % 251]) + chunk[1:]
            f.write(chunk)
            h.update(chunk)
            written += len(chunk)
    return str(path), size, h.hexdigest()
