"""Box's Node SDK (npm `box-node-sdk` 10, installed by scripts/node-env.sh)
against box-chunked-server: `uploadBigFile` streams every part
(`Transfer-Encoding: chunked`), then a new version goes up by the manual
calls; both are downloaded back and compared by SHA-1. And `BoxJwtAuth` from
a Box app config file, whose assertions carry no `kid`. And the calls around
an upload that Node SDK 10 and the legacy Node SDK 3 (npm alias
`box-node-sdk-v3`) make.
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import TOKEN

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")


def node_ready():
    return shutil.which("node") and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "box-node-sdk"))


@pytest.mark.skipif(not node_ready() and not os.environ.get("CI"),
                    reason="box-node-sdk not installed (run scripts/node-env.sh)")
def test_node_sdk_upload_big_file_and_a_manual_new_version(server, big_file):
    path, size, sha = big_file
    before = server.counters()
    out = subprocess.run(
        ["node", os.path.join(NODE_DIR, "upload.js"), server.url, TOKEN, path, "node.bin"],
        capture_output=True, text=True, timeout=300, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["sha1"] == sha and r["size"] == size
    assert r["version_id"] == r["id"]
    assert r["version_sha1"] == r["version_expected_sha1"]
    # The new version is what a download returns now.
    assert server.download_sha1(r["id"]) == r["version_expected_sha1"]
    after = server.counters()
    # 4 parts of the first upload and 4 of the version, all stored.
    assert after["parts_stored"] - before["parts_stored"] == 8


@pytest.mark.skipif(not node_ready() and not os.environ.get("CI"),
                    reason="box-node-sdk not installed (run scripts/node-env.sh)")
def test_node_sdk_box_jwt_auth_from_the_config_file(tmp_path, big_file):
    """`BoxJwtAuth` with the console-style encrypted key, for the service account and a user."""
    import tempfile
    from conftest import start_server
    from test_sign_in import app_config
    path, size, sha = big_file
    config = tmp_path / "config.json"
    config.write_text(app_config())
    with tempfile.TemporaryDirectory(prefix="box-chunked-interop-node-jwt-") as data:
        s = start_server(data, ["--app", str(config)])
        try:
            out = subprocess.run(
                ["node", os.path.join(NODE_DIR, "jwt.js"), s.url, str(config), path, "alice"],
                capture_output=True, text=True, timeout=300, cwd=NODE_DIR)
            assert out.returncode == 0, out.stderr
            r = json.loads(out.stdout.strip().splitlines()[-1])
            assert r["service"]["owner"] == "AutomationUser_app-client", r
            assert r["user"]["owner"] == "alice", r
            for f in r.values():
                assert f["sha1"] == sha and f["size"] == size, r
            # alice's file, downloaded with her own token, is the source.
            assert s.download_sha1(r["user"]["id"]) == sha
            assert s.counters()["grants_refused"] == 0
        finally:
            s.proc.terminate()
            s.proc.wait(timeout=20)


@pytest.mark.skipif(not node_ready() and not os.environ.get("CI"),
                    reason="box-node-sdk not installed (run scripts/node-env.sh)")
def test_node_sdks_calls_around_an_upload(tls_server):
    """Node SDK 10's `copyFile`, `updateFolderById`, `getFileVersions` and
    `getDownloadFileUrl`, and the legacy Node SDK 3's `getReadStream`,
    `getDownloadURL` (both accept only Box's `302`) and `uploadNewFileVersion`
    without an attributes part. Over HTTPS: Node SDK 3 speaks nothing else."""
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=tls_server.ca)
    out = subprocess.run(["node", os.path.join(NODE_DIR, "items.js"), tls_server.url, TOKEN],
                         capture_output=True, text=True, timeout=300, cwd=NODE_DIR, env=env)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    want = r["expected"]
    # The earlier version is listed; the current one is not.
    assert [v["sha1"] for v in r["versions"]] == [want["first"]]
    assert r["moved"]["name"] == "inbox-2026" and r["moved"]["parent"] != "0"
    assert r["copy"]["name"] == "notes-copy.txt" and r["copy"]["parent"] == "0"
    assert r["copy"]["sha1"] == want["second"]
    assert "item_name_in_use" in r["copy_conflict"]
    assert "/dl/" in r["download_url"] and r["download_sha1"] == want["second"]
    assert r["read_stream_sha1"] == want["second"]
    assert "/dl/" in r["download_url_3"]
    assert r["legacy_version"] == {"name": "notes.txt", "sha1": want["third"]}
    assert tls_server.download_sha1(r["copy"]["id"]) == want["second"]
