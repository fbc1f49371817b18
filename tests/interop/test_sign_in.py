"""Box's Python SDK (`box_sdk_gen`) signs in to box-chunked-server the ways
Box apps do: JWT server auth from the app's config file (`BoxJWTAuth`),
client credentials (`BoxCCGAuth`) and OAuth 2.0 with a refresh token
(`BoxOAuth`), and uploads a big file with each.
"""
import hashlib
import json
import pathlib
import tempfile
import urllib.parse

import pytest
import requests

from conftest import start_server

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "jwt"


def app_config():
    return json.dumps({
        "boxAppSettings": {
            "clientID": "app-client",
            "clientSecret": "app-secret",
            "appAuth": {
                "publicKeyID": "kid-1",
                "privateKey": (FIXTURES / "console-key.pem").read_text(),
                "passphrase": "test-passphrase",
            },
        },
        "enterpriseID": "ent-1",
    })


@pytest.fixture()
def auth_server():
    with tempfile.TemporaryDirectory(prefix="box-chunked-interop-auth-") as data:
        config = pathlib.Path(data) / "config.json"
        config.write_text(app_config())
        s = start_server(data + "/store", ["--app", str(config), "--client", "cid:csecret=alice"])
        s.config = config
        try:
            yield s
        finally:
            s.proc.terminate()
            s.proc.wait(timeout=20)


def sdk_client(url, auth):
    from box_sdk_gen import BaseUrls, BoxClient
    return BoxClient(auth=auth).with_custom_base_urls(
        BaseUrls(base_url=url, upload_url=url + "/api", oauth_2_url=url + "/oauth2"))


def upload_and_check(client, big_file, name):
    path, size, sha = big_file
    with open(path, "rb") as f:
        uploaded = client.chunked_uploads.upload_big_file(f, name, size, "0")
    assert uploaded.size == size
    assert uploaded.sha_1 == sha
    h = hashlib.sha1()
    stream = client.downloads.download_file(uploaded.id)
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        h.update(chunk)
    assert h.hexdigest() == sha
    return uploaded


def test_box_jwt_auth_from_the_config_file(auth_server, big_file):
    from box_sdk_gen import BoxJWTAuth, JWTConfig
    config = JWTConfig.from_config_file(str(auth_server.config))
    service = sdk_client(auth_server.url, BoxJWTAuth(config=config))
    uploaded = upload_and_check(service, big_file, "jwt-service.bin")
    assert uploaded.owned_by.id == "AutomationUser_app-client"
    user = sdk_client(auth_server.url, BoxJWTAuth(config=config).with_user_subject("alice"))
    uploaded = upload_and_check(user, big_file, "jwt-alice.bin")
    assert uploaded.owned_by.id == "alice"
    counters = auth_server.counters()
    assert counters["grants_refused"] == 0, counters
    assert counters["tokens_issued"] >= 2, counters


def test_box_ccg_auth(auth_server, big_file):
    from box_sdk_gen import BoxCCGAuth, CCGConfig
    config = CCGConfig(client_id="app-client", client_secret="app-secret", enterprise_id="ent-1")
    client = sdk_client(auth_server.url, BoxCCGAuth(config=config))
    uploaded = upload_and_check(client, big_file, "ccg.bin")
    assert uploaded.owned_by.id == "AutomationUser_app-client"


def test_box_oauth_with_single_use_refresh_tokens(auth_server, big_file):
    from box_sdk_gen import BoxOAuth, GetAuthorizeUrlOptions, OAuthConfig
    from box_sdk_gen.box.errors import BoxSDKError
    auth = BoxOAuth(OAuthConfig(client_id="cid", client_secret="csecret"))
    url = auth.get_authorize_url(options=GetAuthorizeUrlOptions(
        redirect_uri="http://127.0.0.1:9/callback", state="xyz"))
    # The SDK names Box's authorize page; the same path on the local server approves at once.
    url = url.replace("https://account.box.com", auth_server.url)
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    query = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["location"]).query)
    assert query["state"] == ["xyz"]
    client = sdk_client(auth_server.url, auth)
    auth.get_tokens_authorization_code_grant(query["code"][0], network_session=client.network_session)
    first = auth.token_storage.get().refresh_token
    upload_and_check(client, big_file, "oauth.bin")
    auth.refresh_token(network_session=client.network_session)
    assert auth.token_storage.get().refresh_token != first
    upload_and_check(client, big_file, "oauth-after-refresh.bin")
    # The first refresh token was used up by the refresh.
    r = requests.post(f"{auth_server.url}/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": first,
        "client_id": "cid", "client_secret": "csecret"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_legacy_boxsdk_jwt_auth_and_as_user(auth_server, big_file):
    """The older `boxsdk`: `JWTAuth` from the config file, then `client.as_user`."""
    from boxsdk import Client, JWTAuth
    from boxsdk.config import API
    url = auth_server.url
    API.BASE_API_URL = url + "/2.0"
    API.UPLOAD_URL = url + "/api/2.0"
    API.OAUTH2_API_URL = url + "/oauth2"
    path, size, sha = big_file
    client = Client(JWTAuth.from_settings_dictionary(json.loads(app_config())))
    uploaded = client.folder("0").get_chunked_uploader(str(path), file_name="legacy-jwt.bin").start()
    assert uploaded.sha1 == sha
    alice = client.as_user(client.user(user_id="alice"))
    mine = alice.folder("0").get_chunked_uploader(str(path), file_name="legacy-as-alice.bin").start()
    assert alice.file(mine.id).get(fields=["owned_by"]).owned_by.id == "alice"
    assert auth_server.download_sha1(mine.id) == sha
