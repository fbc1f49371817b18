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
