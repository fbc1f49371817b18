//! The API root's file routes, over raw HTTP, as rclone and Box's SDKs call
//! them: the check before upload, one-shot uploads of new files and
//! versions (with `Content-MD5`), rename and move, deletion (folders are
//! `folders.rs`).

use box_chunked_tests::api::multipart;
use box_chunked_tests::raw::assert_box_error;
use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::{json, Value};

/// A one-shot upload; `content_md5` is the SHA-1 in hex, when sent.
pub(crate) async fn one_shot(
    http: &Http,
    url: &str,
    attributes: Value,
    data: &[u8],
    content_md5: Option<String>,
) -> Reply {
    let (ct, body) = multipart(&attributes, data);
    let mut headers = vec![("content-type", ct)];
    if let Some(m) = content_md5 {
        headers.push(("content-md5", m));
    }
    http.post(url)
        .bearer(ALICE)
        .headers(&headers)
        .body(body)
        .send()
        .await
}

async fn download(http: &Http, ts: &TestServer, id: &str) -> Bytes {
    let r = http
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 200);
    r.body
}

fn id_of(r: &Reply) -> String {
    r.json()["entries"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn small_files_and_empty_files_upload_in_one_shot_and_download_back() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let url = format!("{}/files/content", ts.upload_root());
    let data = pseudo_random(5_000_000, 7);
    let r = one_shot(
        &http,
        &url,
        json!({"name": "five.bin", "parent": {"id": "0"}, "content_modified_at": "2026-01-02T03:04:05Z"}),
        &data,
        Some(sha1(&data).to_hex()),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let file = &r.json()["entries"][0];
    assert_eq!(file["size"], 5_000_000);
    assert_eq!(file["sha1"], sha1(&data).to_hex());
    assert_eq!(file["content_modified_at"], "2026-01-02T03:04:05Z");
    assert_eq!(download(&http, &ts, &id_of(&r)).await, data);

    let r = one_shot(
        &http,
        &url,
        json!({"name": "empty", "parent": {"id": 0}}),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["entries"][0]["size"], 0);
    assert!(download(&http, &ts, &id_of(&r)).await.is_empty());
    assert_eq!(ts.counters(&http).await["files_uploaded_one_shot"], 2);
}

#[tokio::test]
async fn one_shot_refusals_store_nothing() {
    let ts = TestServer::start(|c| c.quota = Some(10_000)).await;
    let http = Http::new();
    let url = format!("{}/files/content", ts.upload_root());
    let data = pseudo_random(3000, 8);
    // A wrong Content-MD5 (SHA-1 in hex).
    let r = one_shot(
        &http,
        &url,
        json!({"name": "a", "parent": {"id": "0"}}),
        &data,
        Some(sha1(b"x").to_hex()),
    )
    .await;
    assert_box_error(&r, 400, "bad_digest");
    // The file part before the attributes.
    let boundary = "b0";
    let body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nabc\r\n--{boundary}--\r\n");
    let r = http
        .post(&url)
        .bearer(ALICE)
        .headers(&[(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )])
        .body(body)
        .send()
        .await;
    assert_box_error(&r, 400, "metadata_after_file_contents");
    // Not multipart at all; a missing folder; over the quota.
    let r = http
        .post(&url)
        .bearer(ALICE)
        .headers(&[("content-type", "application/json".into())])
        .body("{}")
        .send()
        .await;
    assert_box_error(&r, 400, "bad_request");
    let r = one_shot(
        &http,
        &url,
        json!({"name": "a", "parent": {"id": "999"}}),
        &data,
        None,
    )
    .await;
    assert_box_error(&r, 404, "not_found");
    let big = pseudo_random(20_000, 9);
    let r = one_shot(
        &http,
        &url,
        json!({"name": "big", "parent": {"id": "0"}}),
        &big,
        None,
    )
    .await;
    assert_box_error(&r, 403, "storage_limit_exceeded");
    // A name in use: 409 with the conflicting file.
    let r = one_shot(
        &http,
        &url,
        json!({"name": "a", "parent": {"id": "0"}}),
        &data,
        None,
    )
    .await;
    assert_eq!(r.status, 201);
    let r = one_shot(
        &http,
        &url,
        json!({"name": "A", "parent": {"id": "0"}}),
        &data,
        None,
    )
    .await;
    assert_box_error(&r, 409, "item_name_in_use");
    assert_eq!(
        r.json()["context_info"]["conflicts"]["id"],
        id_of_first(&http, &ts).await
    );
    let listing = http
        .get(&format!("{}/2.0/folders/0/items", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(
        listing.json()["total_count"],
        1,
        "only the one good upload is stored"
    );
    let tmp = std::fs::read_dir(ts.dir.path().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "no temporary file is left behind");
}

async fn id_of_first(http: &Http, ts: &TestServer) -> Value {
    let r = http
        .get(&format!("{}/2.0/folders/0/items", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    r.json()["entries"][0]["id"].clone()
}

#[tokio::test]
async fn a_new_version_in_one_shot_keeps_the_id_and_can_rename() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let first = pseudo_random(2000, 1);
    let r = one_shot(
        &http,
        &format!("{}/files/content", ts.upload_root()),
        json!({"name": "v.txt", "parent": {"id": "0"}}),
        &first,
        None,
    )
    .await;
    let id = id_of(&r);
    let etag = r.json()["entries"][0]["etag"].as_str().unwrap().to_owned();
    let second = pseudo_random(2500, 2);
    let version_url = format!("{}/files/{id}/content", ts.upload_root());
    // A stale If-Match is refused.
    let (ct, body) = multipart(&json!({}), &second);
    let r = http
        .post(&version_url)
        .bearer(ALICE)
        .headers(&[("content-type", ct), ("if-match", "99".into())])
        .body(body)
        .send()
        .await;
    assert_box_error(&r, 412, "precondition_failed");
    let (ct, body) = multipart(&json!({"name": "w.txt"}), &second);
    let r = http
        .post(&version_url)
        .bearer(ALICE)
        .headers(&[("content-type", ct), ("if-match", etag)])
        .body(body)
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(id_of(&r), id);
    assert_eq!(r.json()["entries"][0]["name"], "w.txt");
    assert_eq!(download(&http, &ts, &id).await, second);
}

#[tokio::test]
async fn the_check_before_upload_answers_as_the_upload_would() {
    let ts = TestServer::start(|c| c.quota = Some(1_000_000)).await;
    let http = Http::new();
    let pre = |body: Value, path: &str| {
        let (http, url) = (http.clone(), format!("{}/2.0/{path}", ts.url));
        async move {
            http.options(&url)
                .bearer(ALICE)
                .body(body.to_string())
                .send()
                .await
        }
    };
    let r = pre(
        json!({"name": "n.bin", "parent": {"id": "0"}, "size": 500}),
        "files/content",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        r.json()["upload_url"],
        format!("{}/files/content", ts.upload_root())
    );
    assert!(r.json()["upload_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let r = pre(
        json!({"name": "n.bin", "parent": {"id": "0"}, "size": 2_000_000}),
        "files/content",
    )
    .await;
    assert_box_error(&r, 403, "storage_limit_exceeded");
    let r = pre(
        json!({"name": "n.bin", "parent": {"id": "42"}}),
        "files/content",
    )
    .await;
    assert_box_error(&r, 404, "not_found");
    let r = pre(json!({"parent": {"id": "0"}}), "files/content").await;
    assert_box_error(&r, 400, "bad_request");
    let up = one_shot(
        &http,
        &format!("{}/files/content", ts.upload_root()),
        json!({"name": "n.bin", "parent": {"id": "0"}}),
        b"abc",
        None,
    )
    .await;
    let id = id_of(&up);
    let r = pre(
        json!({"name": "N.BIN", "parent": {"id": "0"}, "size": 3}),
        "files/content",
    )
    .await;
    assert_box_error(&r, 409, "item_name_in_use");
    assert_eq!(r.json()["context_info"]["conflicts"]["id"], id.as_str());
    // For a new version: the file's own upload URL; 404 for another id.
    let r = pre(json!({"size": 3}), &format!("files/{id}/content")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["upload_url"],
        format!("{}/files/{id}/content", ts.upload_root())
    );
    let r = pre(json!({"size": 3}), "files/777/content").await;
    assert_box_error(&r, 404, "not_found");
    assert_eq!(
        ts.counters(&http).await["bytes_received"],
        3,
        "a check stores no byte"
    );
}

#[tokio::test]
async fn files_are_renamed_moved_and_deleted_and_folders_deleted_recursively() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let api = format!("{}/2.0", ts.url);
    let folder = http
        .post(&format!("{api}/folders"))
        .bearer(ALICE)
        .body(json!({"name": "docs", "parent": {"id": "0"}}).to_string())
        .send()
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let up = |name: &'static str, parent: String| {
        let (http, url) = (http.clone(), format!("{}/files/content", ts.upload_root()));
        async move {
            id_of(
                &one_shot(
                    &http,
                    &url,
                    json!({"name": name, "parent": {"id": parent}}),
                    b"hello",
                    None,
                )
                .await,
            )
        }
    };
    let a = up("a.txt", "0".into()).await;
    let b = up("b.txt", "0".into()).await;
    // Rename onto a taken name: 409; a rename and a move: 200.
    let r = http
        .put(&format!("{api}/files/{a}"))
        .bearer(ALICE)
        .body(json!({"name": "B.TXT"}).to_string())
        .send()
        .await;
    assert_box_error(&r, 409, "item_name_in_use");
    let r = http
        .put(&format!("{api}/files/{a}?fields=name,parent"))
        .bearer(ALICE)
        .body(json!({"name": "c.txt", "parent": {"id": folder}}).to_string())
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["name"], "c.txt");
    assert_eq!(r.json()["parent"]["id"], folder.as_str());
    let r = http
        .put(&format!("{api}/files/{a}"))
        .bearer(ALICE)
        .body(json!({"parent": {"id": "404"}}).to_string())
        .send()
        .await;
    assert_box_error(&r, 404, "not_found");
    // Delete a file, with a stale If-Match first.
    let r = http
        .delete(&format!("{api}/files/{b}"))
        .bearer(ALICE)
        .headers(&[("if-match", "77".into())])
        .send()
        .await;
    assert_box_error(&r, 412, "precondition_failed");
    let r = http
        .delete(&format!("{api}/files/{b}"))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 204);
    let r = http
        .get(&format!("{api}/files/{b}"))
        .bearer(ALICE)
        .send()
        .await;
    assert_box_error(&r, 404, "not_found");
    // A folder with a file: refused without recursive, deleted with it.
    let r = http
        .delete(&format!("{api}/folders/{folder}"))
        .bearer(ALICE)
        .send()
        .await;
    assert_box_error(&r, 400, "folder_not_empty");
    let r = http
        .delete(&format!("{api}/folders/{folder}?recursive=true"))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 204);
    let r = http
        .get(&format!("{api}/files/{a}"))
        .bearer(ALICE)
        .send()
        .await;
    assert_box_error(&r, 404, "not_found");
    let r = http
        .delete(&format!("{api}/folders/0"))
        .bearer(ALICE)
        .send()
        .await;
    assert_box_error(&r, 403, "forbidden");
    // Both deletes went to the trash (the file, and the folder with what
    // it held); emptied, their bytes go.
    let alice = box_chunked_tests::api::User::new(&ts.url, ALICE);
    assert_eq!(alice.empty_trash().await, 2);
    let blobs = std::fs::read_dir(ts.dir.path().join("blobs"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "the deleted files' bytes are gone");
}

/// A new version may come with the file part alone, no attributes (Box's
/// Node SDK 3 `uploadNewFileVersion`): it keeps the file's name.
#[tokio::test]
async fn a_new_version_may_come_without_attributes() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let url = format!("{}/files/content", ts.upload_root());
    let boundary = "b0";
    let first = one_shot(
        &http,
        &url,
        json!({"name": "kept.bin", "parent": {"id": "0"}}),
        b"v1",
        None,
    )
    .await;
    assert_eq!(first.status, 201, "{:?}", first.json());
    let id = first.json()["entries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(&format!("{}/files/{id}/content", ts.upload_root()))
        .bearer(ALICE)
        .headers(&[(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )])
        .body(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nversion two\r\n--{boundary}--\r\n"))
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["entries"][0]["name"], "kept.bin");
    assert_eq!(r.json()["entries"][0]["size"], 11);
}
