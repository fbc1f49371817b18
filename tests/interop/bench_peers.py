"""One upload by one of Box's Python SDKs, for `cargo xtask bench`.

usage: bench_peers.py (gen|legacy) URL TOKEN PATH
Prints one JSON line: wall seconds, this process's CPU seconds and peak RSS.
"""
import json
import os
import resource
import sys
import time


def main():
    mode, url, token, path = sys.argv[1:5]
    size = os.path.getsize(path)
    name = f"peer-{mode}-{os.getpid()}.bin"
    started = time.monotonic()
    if mode == "gen":
        from box_sdk_gen import BaseUrls, BoxClient, BoxDeveloperTokenAuth
        client = BoxClient(auth=BoxDeveloperTokenAuth(token=token)).with_custom_base_urls(
            BaseUrls(base_url=url, upload_url=url + "/api", oauth_2_url=url + "/oauth2"))
        with open(path, "rb") as f:
            uploaded = client.chunked_uploads.upload_big_file(f, name, size, "0")
        assert uploaded.size == size
    else:
        import warnings
        warnings.simplefilter("ignore")
        from boxsdk import Client, OAuth2
        from boxsdk.config import API
        API.BASE_API_URL = url + "/2.0"
        API.UPLOAD_URL = url + "/api/2.0"
        API.OAUTH2_API_URL = url + "/oauth2"
        client = Client(OAuth2(client_id=None, client_secret=None, access_token=token))
        uploaded = client.folder("0").get_chunked_uploader(file_path=path, file_name=name).start()
        assert uploaded is not None
    secs = time.monotonic() - started
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"kind": mode, "bytes": size, "secs": secs,
                      "cpu_secs": ru.ru_utime + ru.ru_stime, "peak_rss": ru.ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
