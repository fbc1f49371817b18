"""Starts the real `box-chunked serve` binary for the interop tests."""
import contextlib
import functools
import hashlib
import http.server
import os
import subprocess
import tempfile
import threading

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
                            headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10,
                            verify=getattr(self, "ca", True)).json()

    def download_sha1(self, file_id):
        r = requests.get(f"{self.url}/2.0/files/{file_id}/content",
                         headers={"Authorization": f"Bearer {TOKEN}"}, stream=True, timeout=60,
                         verify=getattr(self, "ca", True))
        assert r.status_code == 200, r.text
        h = hashlib.sha1()
        for chunk in r.iter_content(1 << 20):
            h.update(chunk)
        return h.hexdigest()

    def session_status(self, session_id):
        return requests.get(f"{self.url}/api/2.0/files/upload_sessions/{session_id}",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code


def start_server(data, extra=()):
    binary = os.environ.get("BOX_CHUNKED_BIN", "target/debug/box-chunked")
    proc = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--data", data, "--token", f"{TOKEN}=alice",
         "--admin-token", ADMIN, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    url = next(w for w in line.split() if w.startswith(("http://", "https://")))
    return Server(url, proc, data)


@contextlib.contextmanager
def static_origin(directory):
    """A static file server for `directory` on its own loopback port (a page's
    origin, other than the Box server's): yields its origin URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                          ".wasm": "application/wasm", ".js": "text/javascript"}

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture()
def server():
    with tempfile.TemporaryDirectory(prefix="box-chunked-interop-") as data:
        s = start_server(data)
        try:
            yield s
        finally:
            s.proc.terminate()
            s.proc.wait(timeout=20)


def make_certificates(directory, dns=("localhost",)):
    """A test CA and a certificate it signed for 127.0.0.1 and the host names `dns`:
    (ca, cert, key) paths."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "box-chunked test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                + [x509.DNSName(d) for d in dns]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(directory, n) for n in ("ca.pem", "cert.pem", "key.pem")]
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


@pytest.fixture()
def tls_server(monkeypatch):
    """The server over HTTPS with a test CA that `requests` (and so the SDKs) trusts."""
    with tempfile.TemporaryDirectory(prefix="box-chunked-interop-tls-") as data:
        ca, cert, key = make_certificates(data)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
        s = start_server(os.path.join(data, "store"), ["--tls-cert", cert, "--tls-key", key])
        s.ca = ca
        try:
            yield s
        finally:
            s.proc.terminate()
            s.proc.wait(timeout=20)


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
