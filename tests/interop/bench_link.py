"""Uploads through the server's link model, for `cargo xtask bench --link`.

usage: bench_link.py BINARY SIZE PROFILE[,PROFILE...] [SETTING,...]
For each link profile (docs/server.md), on a fresh verify-only server with
`--link PROFILE` for every run: `box-chunked upload` at its default
parallelism and at each fixed `--parallel` from 1 to 32, then Box's Python
SDKs at their own defaults (`box_sdk_gen` `upload_big_file`, `boxsdk`
chunked uploader, through bench_peers.py) and Box's Node SDK
(`uploadBigFile`, node/bench.js, where scripts/node-env.sh installed it)
and rclone (`rclone copyto` through its Box backend at its defaults, where
scripts/rclone-env.sh installed it). rclone's Box hosts are fixed, so its
server runs with TLS and a CONNECT proxy tunnels them to it, as in
test_rclone.py: the same link model, over HTTPS. SETTINGS, when given,
replaces that list: `default`, `default@SIZE` (the default with
`--max-memory SIZE`), a number for `--parallel`, `peer:gen`, `peer:legacy`,
`peer:node`, `peer:rclone`. Prints one JSON line:
each run's wall seconds and MB/s, per profile.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PARALLEL = [1, 2, 4, 8, 16, 32]


def serve(binary, data, profile):
    proc = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--data", data, "--token", "BENCH=bench",
         "--verify-only", "--link", profile],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    return proc, next(w for w in line.split() if w.startswith("http://"))


def timed(cmd, env, what):
    """Runs `cmd` to its end: its wall seconds; a failure ends the script."""
    started = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    secs = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"{what} failed: {out.stderr.strip()[-1000:]}")
    return secs


def one_rclone(binary, work, profile, source):
    """rclone's `copyto` of `source` through a CONNECT proxy to a TLS server
    with the link model: its wall seconds."""
    sys.path.insert(0, HERE)
    from conftest import make_certificates
    from test_rclone import ConnectProxy

    data = tempfile.mkdtemp(dir=work)
    ca, cert, key = make_certificates(data, dns=("api.box.com", "upload.box.com", "localhost"))
    proc = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--data", os.path.join(data, "store"),
         "--token", "BENCH=bench", "--verify-only", "--link", profile, "--tls-cert", cert,
         "--tls-key", key, "--public-url", "https://api.box.com"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    proxy = ConnectProxy(("127.0.0.1", port))
    conf = os.path.join(data, "rclone.conf")
    open(conf, "w").close()
    token = {"access_token": "BENCH", "token_type": "Bearer", "refresh_token": "unused",
             "expiry": "2099-01-01T00:00:00Z"}
    env = dict(os.environ, HTTPS_PROXY=proxy.url, https_proxy=proxy.url, NO_PROXY="",
               no_proxy="", RCLONE_CONFIG=conf, RCLONE_CONFIG_BOX_TYPE="box",
               RCLONE_CONFIG_BOX_TOKEN=json.dumps(token))
    try:
        return timed(["rclone", "--ca-cert", ca, "copyto", source, "box:bench/source.bin"], env,
                     f"peer:rclone on {profile}")
    finally:
        proxy.close()
        proc.terminate()
        proc.wait(timeout=20)


def one(binary, work, profile, setting, source):
    if setting == "peer:rclone":
        return one_rclone(binary, work, profile, source)
    data = tempfile.mkdtemp(dir=work)
    proc, url = serve(binary, data, profile)
    try:
        if setting == "peer:node":
            cmd = ["node", os.path.join(HERE, "node", "bench.js"), url, "BENCH", source]
        elif setting.startswith("peer:"):
            cmd = [sys.executable, os.path.join(HERE, "bench_peers.py"), setting[5:], url, "BENCH",
                   source]
        else:
            cmd = [binary, "--token", "BENCH", "--base-url", url, "upload", "--no-progress",
                   "--json", source]
            if setting.startswith("default@"):
                cmd[-1:-1] = ["--max-memory", setting[8:]]
            elif setting != "default":
                cmd[-1:-1] = ["--parallel", setting]
        env = dict(os.environ, XDG_DATA_HOME=os.path.join(data, "home"))
        env.pop("BOX_ACCESS_TOKEN", None)
        return timed(cmd, env, f"{setting} on {profile}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def node_ready():
    return shutil.which("node") and os.path.isdir(
        os.path.join(HERE, "node", "node_modules", "box-node-sdk"))


def main():
    binary, size, profiles = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    settings = (sys.argv[4].split(",") if len(sys.argv) > 4 else
                ["default"] + [str(p) for p in PARALLEL] + ["peer:gen", "peer:legacy"]
                + (["peer:node"] if node_ready() else [])
                + (["peer:rclone"] if shutil.which("rclone") else []))
    results = {}
    with tempfile.TemporaryDirectory(prefix="box-chunked-bench-link-") as work:
        source = os.path.join(work, "source.bin")
        with open(source, "wb") as f:
            f.write(os.urandom(size))
        for profile in profiles:
            rows = []
            for setting in settings:
                secs = one(binary, work, profile, setting, source)
                rows.append({"setting": setting, "secs": secs, "mb_per_s": size / secs / 1e6})
                print(f"{profile} {setting}: {secs:.2f} s", file=sys.stderr)
            results[profile] = rows
    print(json.dumps({"kind": "link", "bytes": size, "profiles": results}))


if __name__ == "__main__":
    main()
