"""The browser uploader beside plain fetch, for `cargo xtask bench`.

usage: bench_browser.py BINARY PKG_DIR SIZE RUNS PARALLEL
Starts `BINARY serve` (durable, on loopback) and a static origin for
tests/interop/browser/wasm-upload.html with the package in PKG_DIR, then in
one headless Chromium page uploads SIZE bytes RUNS times with each of
window.runUpload (crates/box-chunked-wasm) and window.runPlain (the same
session, parts and parallelism with fetch and crypto.subtle), alternating.
Prints one JSON line: the package's sizes and each run's milliseconds.
"""
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import TOKEN, start_server, static_origin  # noqa: E402


def main():
    binary, pkg, size, runs, parallel = sys.argv[1:6]
    os.environ["BOX_CHUNKED_BIN"] = binary
    size, runs, parallel = int(size), int(runs), int(parallel)
    wasm = os.path.join(pkg, "box_chunked_wasm_bg.wasm")
    js = os.path.join(pkg, "box_chunked_wasm.js")
    with open(wasm, "rb") as f:
        wasm_gzip = len(gzip.compress(f.read(), 9))
    with tempfile.TemporaryDirectory(prefix="box-chunked-bench-browser-") as work:
        site = os.path.join(work, "site")
        os.mkdir(site)
        shutil.copy(os.path.join(HERE, "browser", "wasm-upload.html"), site)
        shutil.copy(wasm, site)
        shutil.copy(js, site)

        with static_origin(site) as origin:
            s = start_server(os.path.join(work, "data"), ["--cors-origin", origin])
            try:
                # One warm-up of each (the .wasm compiled, the connections open), then the timed runs.
                calls = [[fn, {"parallel": parallel, "name": f"{fn}-{i}.bin"}]
                         for i in range(runs + 1) for fn in ("runUpload", "runPlain")]
                chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or ""
                out = subprocess.run(
                    ["node", os.path.join(HERE, "node", "browser.js"), f"{origin}/wasm-upload.html",
                     s.url, TOKEN, str(size), json.dumps(calls)],
                    capture_output=True, text=True, timeout=1800, cwd=os.path.join(HERE, "node"),
                    env=dict(os.environ, CHROMIUM=chromium))
            finally:
                s.proc.terminate()
                s.proc.wait(timeout=20)
    if out.returncode != 0:
        sys.exit(f"the browser run failed: {out.stderr.strip()[-2000:]}")
    results = [json.loads(line) for line in out.stdout.strip().splitlines()]
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        sys.exit(f"an upload failed: {errors[0]}")
    timed = results[2:]
    ours = [r["elapsed_ms"] for r in timed[0::2]]
    plain = [r["elapsed_ms"] for r in timed[1::2]]
    assert len({r["sha1"] for r in results}) == 1, "the two ways uploaded different bytes"
    print(json.dumps({
        "kind": "browser", "bytes": size, "runs": runs, "parallel": parallel,
        "wasm_bytes": os.path.getsize(wasm), "wasm_gzip_bytes": wasm_gzip,
        "js_bytes": os.path.getsize(js),
        "wasm_ms": ours, "plain_ms": plain,
        "wasm_median_ms": statistics.median(ours), "plain_median_ms": statistics.median(plain),
        "ratio": statistics.median(ours) / statistics.median(plain),
    }))


if __name__ == "__main__":
    main()
