"""A new version of a large file with a small change, for `cargo xtask bench --delta`.

usage: bench_delta.py BINARY SIZE WORKDIR
Writes a SIZE-byte random file in WORKDIR, starts `box-chunked serve` (the
durable server: it keeps versions and answers the upload session plan) and
uploads the file twice as two files. Then 1 MiB in the middle of the source
changes (across a part boundary, so two parts differ) and each file gets the
changed source as a new version: one by `box-chunked upload --file`, one by
Box's Python SDK (`box_sdk_gen` `upload_big_file_version`, which also plans).
Before them the server computes the SHA-512s of the stored parts (as Box
holds them; our server computes them when a plan first asks), timed apart.
Beside them, on the same file in the same run: one read pass of it with
SHA-512 and one with SHA-1 (Python's hashlib: OpenSSL), the floors a
one-pass upload is measured against. Prints one JSON line.
"""
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time

MIB = 1 << 20
# The admin token of the benchmark's server (its counters).
ADMIN = "BENCH-ADMIN"


def rchar():
    """Bytes this process read through read calls (files and sockets)."""
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def write_source(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MIB)
            f.write(os.urandom(n))
            left -= n


def hash_pass(path, algorithm):
    started = time.monotonic()
    h = hashlib.new(algorithm)
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(MIB)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return time.monotonic() - started


def serve(binary, data):
    proc = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--data", data, "--token", "BENCH=bench",
         "--admin-token", ADMIN],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    return proc, next(w for w in line.split() if w.startswith("http://"))


def cli(binary, url, home, args):
    env = dict(os.environ, XDG_DATA_HOME=home)
    env.pop("BOX_ACCESS_TOKEN", None)
    started = time.monotonic()
    out = subprocess.run([binary, "--token", "BENCH", "--base-url", url, "--stats"] + args,
                         capture_output=True, text=True, env=env, timeout=3600)
    secs = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"box-chunked {' '.join(args)} failed: {out.stderr.strip()[-1000:]}")
    stats = next(json.loads(l[7:]) for l in out.stderr.splitlines() if l.startswith("stats: "))
    return secs, stats, out.stdout


def server_secs(log):
    """How long the server took to answer our plan and commit requests
    (from the client's log: `box request ... ms=`)."""
    total = {}
    with open(log) as f:
        for line in f:
            if "box request" not in line or " ms=" not in line:
                continue
            for kind in ("plan", "commit"):
                if f"/{kind} " in line:
                    ms = int(line.rsplit(" ms=", 1)[1].split()[0])
                    total[kind] = total.get(kind, 0) + ms / 1000
    return total


def server_counters(url):
    """The server's counters (`/__box-chunked/counters`)."""
    import urllib.request
    req = urllib.request.Request(f"{url}/__box-chunked/counters",
                                 headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def warm_plan(url, file_id, size):
    """Has the server compute (and keep) the SHA-512s of a file's stored
    parts, as Box holds them: one plan of every part with a digest that
    matches none, in a session then deleted. Returns its seconds."""
    import urllib.request

    def call(method, u, body=None):
        req = urllib.request.Request(u, method=method, data=None if body is None else
                                     json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer BENCH",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=3600) as r:
            text = r.read()
            return json.loads(text) if text else None

    started = time.monotonic()
    s = call("POST", f"{url}/api/2.0/files/{file_id}/upload_sessions", {"file_size": size})
    ps, n = s["part_size"], s["total_parts"]
    parts = [{"offset": i * ps, "size": min(ps, size - i * ps), "sha512": "00" * 64}
             for i in range(n)]
    call("POST", s["session_endpoints"]["plan"], {"parts": parts})
    secs = time.monotonic() - started
    call("DELETE", s["session_endpoints"]["abort"])
    return secs


def peer_version(url, file_id, path):
    """box_sdk_gen's upload_big_file_version in a process of its own."""
    code = f"""
import json, os, resource, sys, time
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_delta import rchar
from box_sdk_gen import BaseUrls, BoxClient, BoxDeveloperTokenAuth
client = BoxClient(auth=BoxDeveloperTokenAuth(token="BENCH")).with_custom_base_urls(
    BaseUrls(base_url={url!r}, upload_url={url!r} + "/api", oauth_2_url={url!r} + "/oauth2"))
size = os.path.getsize({path!r})
before = rchar()
started = time.monotonic()
with open({path!r}, "rb") as f:
    v = client.chunked_uploads.upload_big_file_version({file_id!r}, f, size)
secs = time.monotonic() - started
assert v is not None and v.size == size
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"secs": secs, "rchar": rchar() - before,
                  "cpu_secs": ru.ru_utime + ru.ru_stime, "peak_rss": ru.ru_maxrss * 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=3600)
    if out.returncode != 0:
        sys.exit(f"upload_big_file_version failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    binary, size, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(work, exist_ok=True)
    source = os.path.join(work, "delta-source.bin")
    data = os.path.join(work, "delta-server")
    home = os.path.join(work, "delta-home")
    for d in (data, home):
        shutil.rmtree(d, ignore_errors=True)
    print(f"writing {size} bytes", file=sys.stderr)
    write_source(source, size)
    proc, url = serve(binary, data)
    try:
        ids = []
        for name in ("ours.bin", "peer.bin"):
            _, _, out = cli(binary, url, home, ["upload", "--no-progress", "--json", "--name",
                                                name, source])
            ids.append(json.loads(out.strip().splitlines()[-1])["id"])
            print(f"first version of {name}: {ids[-1]}", file=sys.stderr)
        warm = [warm_plan(url, i, size) for i in ids]
        print(f"the server's SHA-512s of the stored parts: {warm} s", file=sys.stderr)
        at = size // 2 - MIB // 2
        with open(source, "r+b") as f:
            f.seek(at)
            f.write(os.urandom(MIB))
        # The floors, with the file in the page cache as for the uploads.
        hash_pass(source, "sha1")
        floors = {a: hash_pass(source, a) for a in ("sha512", "sha1")}
        print(f"hash passes: {floors}", file=sys.stderr)
        log = os.path.join(work, "delta-ours.log")
        before = server_counters(url)
        secs, stats, _ = cli(binary, url, home, ["-vv", "--log-file", log, "upload",
                                                 "--no-progress", "--file", ids[0], source])
        ours = {"secs": secs, "bytes_read": stats.get("bytes_read"), "rchar": stats.get("rchar"),
                "cpu_secs": stats.get("cpu_secs"), "peak_rss": stats.get("peak_rss_bytes"),
                "server_secs": server_secs(log)}
        after = server_counters(url)
        # What the server read back of the stored parts to hash the new
        # version for its commit, and the parts whose hash it resumed.
        ours["server_prefix_bytes_read"] = after["prefix_bytes_read"] - before["prefix_bytes_read"]
        ours["server_parts_resumed"] = (after["prefix_parts_resumed"]
                                        - before["prefix_parts_resumed"])
        print(f"ours: {ours}", file=sys.stderr)
        peer = peer_version(url, ids[1], source)
        print(f"peer: {peer}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    print(json.dumps({"kind": "delta", "bytes": size, "changed": MIB, "changed_at": at,
                      "hash_pass_secs": floors, "server_digests_secs": warm, "ours": ours, "peer:gen": peer}))


if __name__ == "__main__":
    main()
