"""rclone (Debian's, 1.60) against the server, through its real Box backend.

rclone's Box hosts are fixed (`api.box.com`, `upload.box.com`), so it reaches
the server the way a company network would: through an HTTP `CONNECT` proxy
(`HTTPS_PROXY`, as rclone honours) that tunnels every host to the server's
own TLS port, with a test CA (rclone's `--ca-cert`) whose certificate names
Box's hosts. Nothing leaves 127.0.0.1. The server's public URL is
`https://api.box.com`, so its download redirects go through the tunnel too.
"""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest
import requests

from conftest import ADMIN, TOKEN, make_certificates, start_server

RCLONE = shutil.which("rclone")


class ConnectProxy:
    """An HTTP CONNECT proxy that tunnels every host:port to one address."""

    def __init__(self, target):
        self.target = target
        self.hosts = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.tunnel, args=(client,), daemon=True).start()

    def tunnel(self, client):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode()
        method, host = line.split()[:2]
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        self.hosts.append(host)
        upstream = socket.create_connection(self.target)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)

        def pump(a, b):
            try:
                while True:
                    data = a.recv(1 << 16)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        pump(upstream, client)

    def close(self):
        self.sock.close()


@pytest.fixture()
def box_remote(tmp_path):
    if RCLONE is None:
        pytest.skip("rclone is not installed (scripts/rclone-env.sh installs Debian's `rclone` as root)")
    with tempfile.TemporaryDirectory(prefix="box-chunked-rclone-") as data:
        ca, cert, key = make_certificates(data, dns=("api.box.com", "upload.box.com", "localhost"))
        server = start_server(os.path.join(data, "store"), [
            "--tls-cert", cert, "--tls-key", key, "--public-url", "https://api.box.com",
            "--min-file-size", "1"])
        server.ca = ca
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        proxy = ConnectProxy(("127.0.0.1", port))
        conf = tmp_path / "rclone.conf"
        conf.write_text("")
        token = {"access_token": TOKEN, "token_type": "Bearer", "refresh_token": "unused",
                 "expiry": "2099-01-01T00:00:00Z"}
        env = dict(os.environ)
        env.update({
            "HTTPS_PROXY": proxy.url, "https_proxy": proxy.url, "NO_PROXY": "", "no_proxy": "",
            "RCLONE_CONFIG": str(conf),
            "RCLONE_CONFIG_BOX_TYPE": "box",
            "RCLONE_CONFIG_BOX_TOKEN": json.dumps(token),
        })

        def rclone(*args, check=True):
            r = subprocess.run([RCLONE, "--ca-cert", ca, "--low-level-retries", "2",
                                "--retries", "1", *args],
                               env=env, capture_output=True, text=True, timeout=300)
            if check and r.returncode != 0:
                pytest.fail(f"rclone {' '.join(args)} exited {r.returncode}:\n{r.stderr[-4000:]}")
            return r

        local = f"{server.url}"
        try:
            yield rclone, server, proxy, ca, local
        finally:
            proxy.close()
            server.proc.terminate()
            server.proc.wait(timeout=20)


def api(server, ca, method, path, **kw):
    return requests.request(method, f"{server.url}/2.0{path}",
                            headers={"Authorization": f"Bearer {TOKEN}"}, verify=ca,
                            timeout=30, **kw)


def write_tree(root, big):
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "docs" / "a.txt").write_bytes(b"alpha\n" * 1000)
    (root / "docs" / "deep" / "b.bin").write_bytes(os.urandom(300_000))
    (root / "top.txt").write_bytes(b"top\n")
    with open(root / "big.bin", "wb") as f:
        for i in range(big // (1 << 20)):
            f.write(hashlib.sha256(str(i).encode()).digest() * 32768)


def test_rclone_copy_sync_check_and_modification_times(box_remote, tmp_path):
    rclone, server, proxy, ca, _ = box_remote
    src = tmp_path / "src"
    # 60 MiB: above rclone's 50 MiB cutoff, so it goes up in chunks.
    write_tree(src, 60 << 20)
    os.utime(src / "top.txt", (1_600_000_000, 1_600_000_000))
    rclone("copy", str(src), "box:backup")
    assert all(h.split(":")[0] in ("api.box.com", "upload.box.com") for h in proxy.hosts), proxy.hosts
    c = server.counters()
    assert c["sessions_created"] == 1 and c["files_committed"] >= 1, c
    rclone("check", str(src), "box:backup")
    listed = rclone("lsjson", "-R", "--hash", "box:backup").stdout
    entries = {e["Path"]: e for e in json.loads(listed)}
    assert entries["top.txt"]["ModTime"].startswith("2020-09-13T12:26:40"), entries["top.txt"]
    big_sha1 = hashlib.sha1((src / "big.bin").read_bytes()).hexdigest()
    assert entries["big.bin"]["Hashes"]["sha1"] == big_sha1
    # The modification times stuck: a second sync transfers and updates nothing.
    before = server.counters()
    r = rclone("sync", "-v", str(src), "box:backup")
    after = server.counters()
    assert "Transferred:" in r.stderr
    assert "Copied" not in r.stderr and "Updated modification time" not in r.stderr, r.stderr
    assert after["files_committed"] == before["files_committed"], (before, after)
    # A changed file and a removed one: sync sends the one, deletes the other (to the trash).
    (src / "top.txt").write_bytes(b"changed\n")
    (src / "docs" / "a.txt").unlink()
    rclone("sync", str(src), "box:backup")
    rclone("check", str(src), "box:backup")
    dst = tmp_path / "back"
    rclone("copy", "box:backup", str(dst))
    for p in ("top.txt", "big.bin", "docs/deep/b.bin"):
        assert (dst / p).read_bytes() == (src / p).read_bytes(), p
    trash = api(server, ca, "GET", "/folders/trash/items").json()
    assert [e["name"] for e in trash["entries"]] == ["a.txt"], trash


def test_rclone_moveto_link_copy_and_cleanup(box_remote, tmp_path):
    rclone, server, proxy, ca, _ = box_remote
    src = tmp_path / "src"
    write_tree(src, 1 << 20)
    rclone("copy", str(src), "box:work")
    # moveto of a directory: one PUT /folders/{id} (rename and move).
    rclone("mkdir", "box:archive")
    rclone("moveto", "box:work/docs", "box:archive/documents")
    names = rclone("lsf", "-R", "box:archive").stdout.split()
    assert "documents/a.txt" in names and "documents/deep/b.bin" in names, names
    assert "docs/" not in rclone("lsf", "box:work").stdout.split()
    # Server-side copy: POST /files/{id}/copy, no bytes sent again.
    before = server.counters()["bytes_received"]
    rclone("copyto", "box:work/top.txt", "box:archive/top-copy.txt")
    assert server.counters()["bytes_received"] == before
    assert rclone("cat", "box:archive/top-copy.txt").stdout == "top\n"
    # A shared link that downloads without a token.
    link = rclone("link", "box:archive/documents/a.txt").stdout.strip()
    assert link.startswith("https://api.box.com/"), link
    # Fetched as a browser would: no token, through the same tunnel.
    shared = requests.get(link, verify=ca, timeout=30, proxies={"https": proxy.url})
    assert shared.status_code == 200, shared.text
    assert shared.content == (src / "docs" / "a.txt").read_bytes()
    # Deleted files go to the trash; cleanup empties it.
    rclone("delete", "box:work")
    trash = api(server, ca, "GET", "/folders/trash/items").json()
    assert trash["total_count"] >= 2, trash
    rclone("cleanup", "box:")
    trash = api(server, ca, "GET", "/folders/trash/items").json()
    assert trash["total_count"] == 0, trash
