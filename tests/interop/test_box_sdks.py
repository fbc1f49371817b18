"""Box's own Python SDKs against box-chunked-server.

`box_sdk_gen` (the generated SDK) and the older `boxsdk`, both from
`pip install "boxsdk>=4,<5"`, pointed at the local server as
docs/server.md describes.
"""
import io
import os

import pytest

from conftest import TOKEN


def gen_client(url):
    from box_sdk_gen import BaseUrls, BoxClient, BoxDeveloperTokenAuth
    auth = BoxDeveloperTokenAuth(token=TOKEN)
    return BoxClient(auth=auth).with_custom_base_urls(
        BaseUrls(base_url=url, upload_url=url + "/api", oauth_2_url=url + "/oauth2"))


def legacy_client(url, retries=5):
    from boxsdk import Client, OAuth2
    from boxsdk.config import API
    API.BASE_API_URL = url + "/2.0"
    API.UPLOAD_URL = url + "/api/2.0"
    API.OAUTH2_API_URL = url + "/oauth2"
    API.MAX_RETRY_ATTEMPTS = retries
    return Client(OAuth2(client_id=None, client_secret=None, access_token=TOKEN))


def test_box_sdk_gen_upload_big_file(server, big_file):
    path, size, sha = big_file
    client = gen_client(server.url)
    with open(path, "rb") as f:
        uploaded = client.chunked_uploads.upload_big_file(f, "gen.bin", size, "0")
    assert uploaded.name == "gen.bin"
    assert uploaded.size == size
    assert uploaded.sha_1 == sha
    assert server.download_sha1(uploaded.id) == sha


def test_box_sdk_gen_raw_calls_and_delete_after_commit(server, big_file):
    """The raw endpoints by id, and DELETE of a committed session (as Box's own tests do)."""
    from box_sdk_gen import UploadPart
    import base64, hashlib
    path, size, sha = big_file
    client = gen_client(server.url)
    cu = client.chunked_uploads
    session = cu.create_file_upload_session("0", size, "raw.bin")
    assert session.num_parts_processed == 0
    parts = []
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            chunk = f.read(session.part_size)
            digest = "sha=" + base64.b64encode(hashlib.sha1(chunk).digest()).decode()
            rng = f"bytes {offset}-{offset + len(chunk) - 1}/{size}"
            part = cu.upload_file_part(session.id, io.BytesIO(chunk), digest, rng).part
            assert part.offset == offset and part.size == len(chunk)
            parts.append(UploadPart(part_id=part.part_id, offset=part.offset, size=part.size, sha_1=part.sha_1))
            offset += len(chunk)
    listed = cu.get_file_upload_session_parts(session.id)
    assert listed.total_count == session.total_parts
    whole = "sha=" + base64.b64encode(bytes.fromhex(sha)).decode()
    files = cu.create_file_upload_session_commit(session.id, parts, whole)
    assert files.entries[0].sha_1 == sha
    cu.delete_file_upload_session_by_id(session.id)
    assert server.download_sha1(files.entries[0].id) == sha


def test_legacy_chunked_uploader_start(server, big_file):
    path, size, sha = big_file
    client = legacy_client(server.url)
    uploader = client.folder("0").get_chunked_uploader(file_path=path, file_name="legacy.bin")
    uploaded = uploader.start()
    assert uploaded is not None
    assert uploaded.id
    assert server.download_sha1(uploaded.id) == sha
    # A new version of the same file, through the file's own uploader.
    uploader = client.file(uploaded.id).get_chunked_uploader(path)
    version = uploader.start()
    assert version.id == uploaded.id


def test_legacy_resume_after_injected_failure(server, big_file):
    path, size, sha = big_file
    client = legacy_client(server.url, retries=0)
    server.set_faults("part:500@#3")
    uploader = client.folder("0").get_chunked_uploader(file_path=path, file_name="resumed.bin")
    with pytest.raises(Exception):
        uploader.start()
    stored_before = server.counters()["parts_stored"]
    assert 0 < stored_before < 4
    server.set_faults("")
    uploaded = uploader.resume()
    assert uploaded is not None
    assert server.download_sha1(uploaded.id) == sha
    # Only the missing parts were sent again: no overlap was rejected.
    assert server.counters()["parts_rejected_overlap"] == 0


def test_legacy_abort(server, big_file):
    path, size, sha = big_file
    client = legacy_client(server.url, retries=0)
    server.set_faults("part:503@#2")
    uploader = client.folder("0").get_chunked_uploader(file_path=path, file_name="aborted.bin")
    with pytest.raises(Exception):
        uploader.start()
    session_id = uploader._upload_session.object_id
    assert server.session_status(session_id) == 200
    assert uploader.abort() is True
    assert server.session_status(session_id) == 404
    assert server.counters()["sessions_aborted"] == 1


def changed_copy(path, size, at):
    """A copy of the file at `path` with one byte changed at offset `at`."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[at] ^= 0xFF
    import hashlib
    return bytes(data), hashlib.sha1(data).hexdigest()


def test_box_sdk_gen_upload_big_file_version_plans_and_sends_only_misses(server, big_file):
    """`upload_big_file_version` plans each part (session_endpoints.plan) and sends only misses."""
    path, size, sha = big_file
    client = gen_client(server.url)
    cu = client.chunked_uploads
    with open(path, "rb") as f:
        first = cu.upload_big_file(f, "versioned.bin", size, "0")
    before = server.counters()
    with open(path, "rb") as f:
        same = cu.upload_big_file_version(first.id, f, size)
    after = server.counters()
    assert after["bytes_received"] == before["bytes_received"], "an unchanged version sends no part byte"
    assert after["plan_hits"] - before["plan_hits"] == 4
    assert same is None or same.sha_1 == sha
    assert server.download_sha1(first.id) == sha
    # One byte changed in the third part (8 MiB parts): only that part travels.
    data, new_sha = changed_copy(path, size, 17 * 1024 * 1024)
    before = server.counters()
    changed = cu.upload_big_file_version(first.id, io.BytesIO(data), size, file_name="renamed.bin")
    after = server.counters()
    assert after["bytes_received"] - before["bytes_received"] == 8 * 1024 * 1024
    assert after["plan_misses"] - before["plan_misses"] == 1
    assert changed.id == first.id and changed.name == "renamed.bin" and changed.sha_1 == new_sha
    assert server.download_sha1(first.id) == new_sha


def test_box_sdk_gen_small_files_preflight_and_listing(server):
    """The calls around an upload: the check before upload, one-shot upload, folder listing."""
    import hashlib
    from box_sdk_gen import (BoxAPIError, PreflightFileUploadCheckParent, UploadFileAttributes,
                             UploadFileAttributesParentField, UploadFileVersionAttributes)
    client = gen_client(server.url)
    data = os.urandom(5_000_000)
    sha = hashlib.sha1(data).hexdigest()
    check = client.uploads.preflight_file_upload_check(
        name="small.bin", size=len(data), parent=PreflightFileUploadCheckParent(id="0"))
    assert check.upload_url.endswith("/api/2.0/files/content")
    files = client.uploads.upload_file(
        UploadFileAttributes(name="small.bin", parent=UploadFileAttributesParentField(id="0")),
        io.BytesIO(data), content_md_5=sha)
    small = files.entries[0]
    assert small.size == len(data) and small.sha_1 == sha
    assert server.download_sha1(small.id) == sha
    with pytest.raises(BoxAPIError) as conflict:
        client.uploads.preflight_file_upload_check(
            name="SMALL.bin", size=1, parent=PreflightFileUploadCheckParent(id="0"))
    assert conflict.value.response_info.status_code == 409
    assert conflict.value.response_info.code == "item_name_in_use"
    empty = client.uploads.upload_file(
        UploadFileAttributes(name="empty.bin", parent=UploadFileAttributesParentField(id="0")),
        io.BytesIO(b"")).entries[0]
    assert empty.size == 0
    v2 = client.uploads.upload_file_version(
        small.id, UploadFileVersionAttributes(name="small.bin"), io.BytesIO(b"v2")).entries[0]
    assert v2.id == small.id and v2.size == 2
    items = client.folders.get_folder_items("0", usemarker=True, limit=1)
    names = [e.name for e in items.entries]
    while items.next_marker:
        items = client.folders.get_folder_items("0", usemarker=True, marker=items.next_marker, limit=1)
        names += [e.name for e in items.entries]
    assert names == ["empty.bin", "small.bin"]
    me = client.users.get_user_me()
    # Every version held counts, as on Box: the first version's 5 MB and the second's 2 bytes.
    assert me.space_used == len(data) + 2
    client.files.delete_file_by_id(empty.id)
    assert client.folders.get_folder_items("0").total_count == 1


def test_box_sdk_gen_over_https(tls_server, big_file):
    """box_sdk_gen over TLS (the server's certificate from a test CA that requests trusts)."""
    path, size, sha = big_file
    assert tls_server.url.startswith("https://")
    client = gen_client(tls_server.url)
    with open(path, "rb") as f:
        uploaded = client.chunked_uploads.upload_big_file(f, "tls.bin", size, "0")
    assert uploaded.sha_1 == sha
    assert tls_server.download_sha1(uploaded.id) == sha
