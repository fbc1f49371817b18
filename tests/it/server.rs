//! The real server over loopback with raw HTTP: every route's success path,
//! and every bad input in docs/server.md with its status and Box error body,
//! the server still serving and the stored state unchanged afterwards.

use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) upload: String,
    pub(crate) commit: String,
    pub(crate) list: String,
    pub(crate) size: usize,
}

pub(crate) async fn create(
    http: &Http,
    ts: &TestServer,
    token: &str,
    size: usize,
    name: &str,
) -> Session {
    let r = http
        .call(
            "POST",
            &format!("{}/files/upload_sessions", ts.upload_root()),
            token,
            &[],
            json!({"folder_id": "0", "file_size": size, "file_name": name}).to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let s = r.json();
    Session {
        id: s["id"].as_str().unwrap().to_owned(),
        upload: s["session_endpoints"]["upload_part"]
            .as_str()
            .unwrap()
            .to_owned(),
        commit: s["session_endpoints"]["commit"]
            .as_str()
            .unwrap()
            .to_owned(),
        list: s["session_endpoints"]["list_parts"]
            .as_str()
            .unwrap()
            .to_owned(),
        size,
    }
}

pub(crate) async fn put(
    http: &Http,
    s: &Session,
    token: &str,
    data: &[u8],
    offset: usize,
) -> Reply {
    let chunk = &data[offset..(offset + 1024).min(data.len())];
    http.call(
        "PUT",
        &s.upload,
        token,
        &[
            (
                "content-range",
                format!("bytes {}-{}/{}", offset, offset + chunk.len() - 1, s.size),
            ),
            ("digest", digest(chunk)),
        ],
        Bytes::copy_from_slice(chunk),
    )
    .await
}

pub(crate) async fn parts(http: &Http, s: &Session) -> Vec<Value> {
    let r = http.call("GET", &s.list, ALICE, &[], Bytes::new()).await;
    assert_eq!(r.status, 200);
    r.json()["entries"].as_array().cloned().unwrap_or_default()
}

pub(crate) async fn commit(http: &Http, s: &Session, data: &[u8], parts: &[Value]) -> Reply {
    http.call(
        "POST",
        &s.commit,
        ALICE,
        &[("digest", digest(data))],
        json!({ "parts": parts }).to_string(),
    )
    .await
}

pub(crate) fn assert_box_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(
        r.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    assert_eq!(j["type"], "error");
    assert_eq!(j["status"], status);
    assert_eq!(j["code"], code);
    assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(j["request_id"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(r.header("box-request-id"), j["request_id"].as_str());
}

#[tokio::test]
async fn upload_commit_download_and_range() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(2500, 1);
    let s = create(&http, &ts, ALICE, data.len(), "Report.PDF").await;
    assert_eq!(s.id.len(), 32);
    // Parts in any order, concurrently.
    let (a, b, c) = tokio::join!(
        put(&http, &s, ALICE, &data, 2048),
        put(&http, &s, ALICE, &data, 0),
        put(&http, &s, ALICE, &data, 1024)
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.status, 200, "{:?}", r.json());
    }
    let p = b.json()["part"].clone();
    assert_eq!(p["offset"], 0);
    assert_eq!(p["size"], 1024);
    assert_eq!(p["sha1"], sha1(&data[..1024]).to_hex());
    assert_eq!(p["part_id"].as_str().unwrap().len(), 8);

    let session = http
        .call(
            "GET",
            &format!("{}/files/upload_sessions/{}", ts.upload_root(), s.id),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(session.status, 200);
    assert_eq!(session.json()["num_parts_processed"], 3);
    assert_eq!(session.json()["total_parts"], 3);

    let listed = parts(&http, &s).await;
    assert_eq!(
        listed
            .iter()
            .map(|p| p["offset"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 1024, 2048]
    );
    let r = commit(&http, &s, &data, &listed).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let file = r.json()["entries"][0].clone();
    assert_eq!(r.json()["total_count"], 1);
    assert_eq!(file["type"], "file");
    assert_eq!(file["name"], "Report.PDF");
    assert_eq!(file["size"], 2500);
    assert_eq!(file["sha1"], sha1(&data).to_hex());
    assert_eq!(file["parent"]["id"], "0");
    let id = file["id"].as_str().unwrap().to_owned();

    // The file object and its content.
    let f = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}", ts.url),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(f.status, 200);
    assert_eq!(f.json()["sha1"], sha1(&data).to_hex());
    assert_eq!(f.json()["file_version"]["sha1"], sha1(&data).to_hex());
    let content = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}/content", ts.url),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(content.status, 200);
    assert_eq!(&content.body[..], &data[..]);
    let ranged = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}/content", ts.url),
            ALICE,
            &[("range", "bytes=1000-2099".into())],
            Bytes::new(),
        )
        .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.header("content-range"), Some("bytes 1000-2099/2500"));
    assert_eq!(&ranged.body[..], &data[1000..2100]);
    let tail = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}/content", ts.url),
            ALICE,
            &[("range", "bytes=-10".into())],
            Bytes::new(),
        )
        .await;
    assert_eq!(&tail.body[..], &data[2490..]);
    let bad = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}/content", ts.url),
            ALICE,
            &[("range", "bytes=9000-".into())],
            Bytes::new(),
        )
        .await;
    assert_eq!(bad.status, 416);
    assert_eq!(bad.header("content-range"), Some("bytes */2500"));

    // A repeated commit after success returns the same file.
    let again = commit(&http, &s, &data, &listed).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json()["entries"][0]["id"], id.as_str());
    // Deleting a committed session is a no-op; the file stays.
    let del = http
        .call("DELETE", &s.upload, ALICE, &[], Bytes::new())
        .await;
    assert_eq!(del.status, 204);
    let f = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}", ts.url),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(f.status, 200);

    let c = ts.counters(&http).await;
    assert_eq!(c["parts_stored"], 3);
    assert_eq!(c["files_committed"], 1);
    assert_eq!(c["bytes_received"], 2500);
}

#[tokio::test]
async fn new_version_with_if_match_and_rename() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let v1 = pseudo_random(1500, 2);
    let r = raw_upload(&http, &ts.upload_root(), ALICE, "doc.bin", &v1).await;
    let id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    let etag = r.json()["entries"][0]["etag"].as_str().unwrap().to_owned();

    let v2 = pseudo_random(1800, 3);
    let create = http
        .call(
            "POST",
            &format!("{}/files/{id}/upload_sessions", ts.upload_root()),
            ALICE,
            &[],
            json!({"file_size": v2.len(), "file_name": "doc-v2.bin"}).to_string(),
        )
        .await;
    assert_eq!(create.status, 201, "{:?}", create.json());
    let sj = create.json();
    let s = Session {
        id: sj["id"].as_str().unwrap().into(),
        upload: sj["session_endpoints"]["upload_part"]
            .as_str()
            .unwrap()
            .into(),
        commit: sj["session_endpoints"]["commit"].as_str().unwrap().into(),
        list: sj["session_endpoints"]["list_parts"]
            .as_str()
            .unwrap()
            .into(),
        size: v2.len(),
    };
    assert_eq!(put(&http, &s, ALICE, &v2, 0).await.status, 200);
    assert_eq!(put(&http, &s, ALICE, &v2, 1024).await.status, 200);
    let listed = parts(&http, &s).await;
    // A stale etag fails with 412, changing nothing.
    let stale = http
        .call(
            "POST",
            &s.commit,
            ALICE,
            &[("digest", digest(&v2)), ("if-match", "99".into())],
            json!({"parts": listed}).to_string(),
        )
        .await;
    assert_box_error(&stale, 412, "precondition_failed");
    let ok = http
        .call("POST", &s.commit, ALICE, &[("digest", digest(&v2)), ("if-match", etag.clone())], json!({"parts": listed, "attributes": {"description": "second", "content_modified_at": "2024-01-02T03:04:05Z"}}).to_string())
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.json());
    let f = ok.json()["entries"][0].clone();
    assert_eq!(f["id"], id.as_str());
    assert_eq!(f["name"], "doc-v2.bin");
    assert_eq!(f["size"], 1800);
    assert_eq!(f["description"], "second");
    assert_eq!(f["content_modified_at"], "2024-01-02T03:04:05Z");
    assert_ne!(f["etag"], etag.as_str());
    let content = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}/content", ts.url),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(&content.body[..], &v2[..]);
    // A version of a file that does not exist, or is someone else's.
    let missing = http
        .call(
            "POST",
            &format!("{}/files/424242/upload_sessions", ts.upload_root()),
            ALICE,
            &[],
            json!({"file_size": 10}).to_string(),
        )
        .await;
    assert_box_error(&missing, 404, "not_found");
    let theirs = http
        .call(
            "POST",
            &format!("{}/files/{id}/upload_sessions", ts.upload_root()),
            BOB,
            &[],
            json!({"file_size": 10}).to_string(),
        )
        .await;
    assert_box_error(&theirs, 404, "not_found");
}

#[tokio::test]
async fn list_parts_pages_and_limits() {
    let ts = TestServer::start(|c| c.part_size = Some(10)).await;
    let http = Http::new();
    let data = pseudo_random(255, 4);
    let s = create(&http, &ts, ALICE, data.len(), "many.bin").await;
    for off in (0..data.len()).step_by(10) {
        let chunk = &data[off..(off + 10).min(data.len())];
        let r = http
            .call(
                "PUT",
                &s.upload,
                ALICE,
                &[
                    (
                        "content-range",
                        format!("bytes {}-{}/{}", off, off + chunk.len() - 1, data.len()),
                    ),
                    ("digest", digest(chunk)),
                ],
                Bytes::copy_from_slice(chunk),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = http
            .call(
                "GET",
                &format!("{}?offset={offset}&limit=10", s.list),
                ALICE,
                &[],
                Bytes::new(),
            )
            .await
            .json();
        assert_eq!(page["total_count"], 26);
        assert_eq!(page["limit"], 10);
        assert_eq!(page["offset"], offset);
        let entries = page["entries"].as_array().unwrap().clone();
        if entries.is_empty() {
            break;
        }
        seen.extend(entries.iter().map(|e| e["offset"].as_u64().unwrap()));
        offset += 10;
    }
    assert_eq!(seen, (0..26).map(|i| i * 10).collect::<Vec<u64>>());
    for (q, why) in [
        ("limit=0", "zero"),
        ("limit=1001", "over"),
        ("offset=10001", "offset"),
        ("limit=x", "nan"),
    ] {
        let r = http
            .call("GET", &format!("{}?{q}", s.list), ALICE, &[], Bytes::new())
            .await;
        assert_box_error(&r, 400, "bad_request");
        let _ = why;
    }
}

#[tokio::test]
async fn abort_discards_and_later_calls_fail() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 5);
    let s = create(&http, &ts, ALICE, data.len(), "gone.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    let r = http
        .call("DELETE", &s.upload, ALICE, &[], Bytes::new())
        .await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_box_error(
        &http.call("GET", &s.upload, ALICE, &[], Bytes::new()).await,
        404,
        "not_found",
    );
    assert_box_error(&put(&http, &s, ALICE, &data, 1024).await, 404, "not_found");
    assert_box_error(
        &http
            .call("DELETE", &s.upload, ALICE, &[], Bytes::new())
            .await,
        404,
        "not_found",
    );
    // The blobs are gone from disk.
    let dir = ts.dir.path().join("blobs").join(&s.id);
    assert!(!dir.exists());
}

#[tokio::test]
async fn folders_and_name_conflicts() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let folders = format!("{}/2.0/folders", ts.url);
    let r = http
        .call(
            "POST",
            &folders,
            ALICE,
            &[],
            json!({"name": "Reports", "parent": {"id": "0"}}).to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let fid = r.json()["id"].as_str().unwrap().to_owned();
    let nested = http
        .call(
            "POST",
            &folders,
            ALICE,
            &[],
            json!({"name": "2026", "parent": {"id": fid}}).to_string(),
        )
        .await;
    assert_eq!(nested.status, 201);
    assert_eq!(nested.json()["path_collection"]["total_count"], 2);
    // Same name, other case: 409 with the conflicting folder in a list.
    let dup = http
        .call(
            "POST",
            &folders,
            ALICE,
            &[],
            json!({"name": "reports", "parent": {"id": "0"}}).to_string(),
        )
        .await;
    assert_box_error(&dup, 409, "item_name_in_use");
    assert_eq!(
        dup.json()["context_info"]["conflicts"][0]["id"],
        fid.as_str()
    );
    assert_box_error(
        &http
            .call(
                "POST",
                &folders,
                ALICE,
                &[],
                json!({"name": "x", "parent": {"id": "777"}}).to_string(),
            )
            .await,
        404,
        "not_found",
    );
    assert_box_error(
        &http
            .call(
                "POST",
                &folders,
                ALICE,
                &[],
                json!({"name": "a/b", "parent": {"id": "0"}}).to_string(),
            )
            .await,
        400,
        "item_name_invalid",
    );
    // Bob cannot see Alice's folder.
    assert_box_error(
        &http
            .call(
                "POST",
                &folders,
                BOB,
                &[],
                json!({"name": "x", "parent": {"id": fid}}).to_string(),
            )
            .await,
        404,
        "not_found",
    );
    let get = http
        .call("GET", &format!("{folders}/{fid}"), ALICE, &[], Bytes::new())
        .await;
    assert_eq!(get.json()["name"], "Reports");

    // A session in the nested folder; then a file name conflict (single object).
    let data = pseudo_random(100, 6);
    let r = raw_upload(&http, &ts.upload_root(), ALICE, "a.txt", &data).await;
    let file_id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    let conflict = http
        .call(
            "POST",
            &format!("{}/files/upload_sessions", ts.upload_root()),
            ALICE,
            &[],
            json!({"folder_id": "0", "file_size": 5, "file_name": "A.TXT"}).to_string(),
        )
        .await;
    assert_box_error(&conflict, 409, "item_name_in_use");
    assert_eq!(
        conflict.json()["context_info"]["conflicts"]["id"],
        file_id.as_str()
    );
    // Bob has his own root: the same name is free there.
    let bobs = raw_upload(&http, &ts.upload_root(), BOB, "a.txt", &data).await;
    assert_eq!(bobs.status, 201);
}

#[tokio::test]
async fn auth_and_ownership() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let url = format!("{}/files/upload_sessions", ts.upload_root());
    let body = json!({"folder_id": "0", "file_size": 10, "file_name": "x"}).to_string();
    for headers in [
        vec![],
        vec![("authorization", "Bearer nope".to_owned())],
        vec![("authorization", "Basic abc".to_owned())],
    ] {
        let r = http
            .send("POST", &url, &headers, body.clone())
            .await
            .unwrap();
        assert_box_error(&r, 401, "unauthorized");
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"Service\""));
    }
    let data = pseudo_random(2000, 7);
    let s = create(&http, &ts, ALICE, data.len(), "mine.bin").await;
    assert_box_error(&put(&http, &s, BOB, &data, 0).await, 403, "forbidden");
    assert_box_error(
        &http.call("GET", &s.upload, BOB, &[], Bytes::new()).await,
        403,
        "forbidden",
    );
    assert_box_error(
        &http.call("DELETE", &s.upload, BOB, &[], Bytes::new()).await,
        403,
        "forbidden",
    );
    assert!(
        parts(&http, &s).await.is_empty(),
        "nothing stored by bob's attempts"
    );
    let r = raw_upload(&http, &ts.upload_root(), ALICE, "f.bin", &data).await;
    let id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    assert_box_error(
        &http
            .call(
                "GET",
                &format!("{}/2.0/files/{id}", ts.url),
                BOB,
                &[],
                Bytes::new(),
            )
            .await,
        404,
        "not_found",
    );
    assert_box_error(
        &http
            .call(
                "GET",
                &format!("{}/2.0/files/{id}/content", ts.url),
                BOB,
                &[],
                Bytes::new(),
            )
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn oauth_client_credentials() {
    let ts = TestServer::start(|c| {
        c.clients = vec![("cid".into(), "secret".into(), "alice".into())];
        c.token_ttl = Duration::from_secs(1);
    })
    .await;
    let http = Http::new();
    let form = |s: &str| {
        format!("grant_type=client_credentials&client_id=cid&client_secret={s}&box_subject_type=enterprise&box_subject_id=1")
    };
    let hdr = [(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let ok = http
        .send(
            "POST",
            &format!("{}/oauth2/token", ts.url),
            &hdr,
            form("secret"),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    assert_eq!(ok.json()["token_type"], "bearer");
    assert_eq!(ok.json()["expires_in"], 1);
    let token = ok.json()["access_token"].as_str().unwrap().to_owned();
    let data = pseudo_random(100, 8);
    assert_eq!(
        raw_upload(&http, &ts.upload_root(), &token, "via-oauth.bin", &data)
            .await
            .status,
        201
    );
    let bad = http
        .send(
            "POST",
            &format!("{}/oauth2/token", ts.url),
            &hdr,
            form("wrong"),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "invalid_client");
    let grant = http
        .send(
            "POST",
            &format!("{}/oauth2/token", ts.url),
            &hdr,
            "grant_type=password",
        )
        .await
        .unwrap();
    assert_eq!(grant.json()["error"], "unsupported_grant_type");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = http
        .call(
            "GET",
            &format!("{}/2.0/folders/0", ts.url),
            &token,
            &[],
            Bytes::new(),
        )
        .await;
    assert_box_error(&expired, 401, "unauthorized");
}

#[tokio::test]
async fn bad_create_requests() {
    let ts = TestServer::start(|c| c.min_file_size = 1000).await;
    let http = Http::new();
    let url = format!("{}/files/upload_sessions", ts.upload_root());
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"file_size": 2000, "file_name": "x"}),
            400,
            "missing_destination",
        ),
        (
            json!({"folder_id": "0", "file_name": "x"}),
            400,
            "missing_file_size",
        ),
        (
            json!({"folder_id": "0", "file_size": -5, "file_name": "x"}),
            400,
            "invalid_file_size",
        ),
        (
            json!({"folder_id": "0", "file_size": "many", "file_name": "x"}),
            400,
            "invalid_file_size",
        ),
        (
            json!({"folder_id": "0", "file_size": 2000}),
            400,
            "missing_file_name",
        ),
        (
            json!({"folder_id": "0", "file_size": 999, "file_name": "x"}),
            400,
            "file_size_too_small",
        ),
        (
            json!({"folder_id": "0", "file_size": 2000, "file_name": " x"}),
            400,
            "item_name_invalid",
        ),
        (
            json!({"folder_id": "0", "file_size": 2000, "file_name": ".."}),
            400,
            "item_name_invalid",
        ),
        (
            json!({"folder_id": "0", "file_size": 2000, "file_name": "a\\b"}),
            400,
            "item_name_invalid",
        ),
        (
            json!({"folder_id": "0", "file_size": 2000, "file_name": 5}),
            400,
            "item_name_invalid",
        ),
        (
            json!({"folder_id": "31337", "file_size": 2000, "file_name": "x"}),
            404,
            "not_found",
        ),
        (
            json!({"folder_id": "0", "file_size": 1025 * 10_000, "file_name": "x"}),
            400,
            "invalid_file_size",
        ),
    ];
    for (body, status, code) in cases {
        let r = http.call("POST", &url, ALICE, &[], body.to_string()).await;
        assert_box_error(&r, status, code);
    }
    assert_box_error(
        &http.call("POST", &url, ALICE, &[], "{not json").await,
        400,
        "bad_request",
    );
    // Nothing was created, and the server still serves (a float size in
    // exponent form and no Content-Type, as the older Python SDK sends, work).
    assert_eq!(ts.counters(&http).await["sessions_created"], 0);
    let ok = http
        .send(
            "POST",
            &url,
            &[("authorization", format!("Bearer {ALICE}"))],
            r#"{"folder_id":0,"file_size":2.0e3,"file_name":"x"}"#,
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 201, "{:?}", ok.json());
    assert_eq!(ok.json()["part_size"], 1024);
    assert_eq!(ok.json()["total_parts"], 2);
    // The server decodes with proto's decoders, so it reads numbers exactly
    // as a client reads Box's answers: a numeric string in exponent form too.
    let ok = http
        .call(
            "POST",
            &url,
            ALICE,
            &[],
            r#"{"folder_id":0,"file_size":"2.5e3","file_name":"y"}"#.to_owned(),
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.json());
    assert_eq!(ok.json()["total_parts"], 3);
    let decoded: box_chunked_proto::CreateSessionFields =
        box_chunked_proto::decode_json(br#"{"folder_id":0,"file_size":"2.5e3","file_name":"y"}"#)
            .unwrap();
    assert_eq!(decoded.file_size, Some(2500));
}

#[tokio::test]
async fn bad_part_uploads_change_nothing() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(2500, 9);
    let s = create(&http, &ts, ALICE, data.len(), "p.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    let part1 = &data[1024..2048];
    let good_range = format!("bytes 1024-2047/{}", data.len());
    type Case<'a> = (Vec<(&'a str, String)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("digest", digest(part1))],
            part1.to_vec(),
            400,
            "bad_request",
        ),
        (
            vec![
                ("content-range", "bytes 1024-2047".into()),
                ("digest", digest(part1)),
            ],
            part1.to_vec(),
            400,
            "bad_request",
        ),
        (
            vec![
                ("content-range", "bytes 1000-2023/2500".into()),
                ("digest", digest(&data[1000..2024])),
            ],
            data[1000..2024].to_vec(),
            416,
            "requested_range_not_satisfiable",
        ),
        (
            vec![
                ("content-range", "bytes 1024-2046/2500".into()),
                ("digest", digest(&data[1024..2047])),
            ],
            data[1024..2047].to_vec(),
            416,
            "requested_range_not_satisfiable",
        ),
        (
            vec![
                ("content-range", "bytes 1024-2047/2600".into()),
                ("digest", digest(part1)),
            ],
            part1.to_vec(),
            416,
            "requested_range_not_satisfiable",
        ),
        (
            vec![
                ("content-range", "bytes 3072-3072/2500".into()),
                ("digest", digest(&data[..1])),
            ],
            data[..1].to_vec(),
            400,
            "bad_request",
        ),
        (
            vec![
                ("content-range", good_range.clone()),
                ("digest", digest(part1)),
            ],
            [part1, b"extra"].concat(),
            413,
            "request_entity_too_large",
        ),
        (
            vec![
                ("content-range", good_range.clone()),
                ("digest", digest(part1)),
            ],
            part1[..1000].to_vec(),
            400,
            "bad_request",
        ),
        (
            vec![("content-range", good_range.clone())],
            part1.to_vec(),
            400,
            "bad_digest",
        ),
        (
            vec![
                ("content-range", good_range.clone()),
                ("digest", "sha=notbase64!".into()),
            ],
            part1.to_vec(),
            400,
            "bad_digest",
        ),
        (
            vec![
                ("content-range", good_range.clone()),
                ("digest", "md5=abc".into()),
            ],
            part1.to_vec(),
            400,
            "bad_digest",
        ),
        (
            vec![
                ("content-range", good_range.clone()),
                ("digest", digest(b"other bytes")),
            ],
            part1.to_vec(),
            412,
            "precondition_failed",
        ),
        (
            vec![
                ("content-range", format!("bytes 0-1023/{}", data.len())),
                ("digest", digest(&data[..1024])),
            ],
            data[..1024].to_vec(),
            416,
            "range_overlaps_existing_part",
        ),
    ];
    for (headers, body, status, code) in cases {
        let r = http.call("PUT", &s.upload, ALICE, &headers, body).await;
        assert_box_error(&r, status, code);
        if code == "range_overlaps_existing_part" {
            let cp = &r.json()["context_info"]["conflicting_part"];
            assert_eq!(cp["offset"], 0);
            assert_eq!(cp["size"], 1024);
            assert_eq!(cp["sha1"], sha1(&data[..1024]).to_hex());
        }
        assert_eq!(
            parts(&http, &s).await.len(),
            1,
            "state unchanged after {code}"
        );
    }
    // Raw HTTP with neither Content-Length nor a chunked body: 411. (A
    // chunked body is accepted: tests/it/streamed.rs.)
    let addr = ts.url.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let path = s.upload.trim_start_matches(&ts.url).to_owned();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ALICE}\r\nContent-Range: {good_range}\r\nDigest: {}\r\nConnection: close\r\n\r\n",
        digest(part1)
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 411"), "{out}");
    assert!(out.contains("length_required"));
    // Malformed session ids, unknown sessions, expired sessions.
    let bad_id = http
        .call(
            "PUT",
            &format!("{}/files/upload_sessions/not-valid!", ts.upload_root()),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_box_error(&bad_id, 400, "invalid_upload_session_id");
    let unknown = http
        .call(
            "GET",
            &format!(
                "{}/files/upload_sessions/{}",
                ts.upload_root(),
                "A".repeat(32)
            ),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_box_error(&unknown, 404, "not_found");
    // Still serving, and the right part still goes in.
    assert_eq!(put(&http, &s, ALICE, &data, 1024).await.status, 200);
    assert_eq!(parts(&http, &s).await.len(), 2);
}

#[tokio::test]
async fn bad_commits_change_nothing() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(2500, 10);
    let s = create(&http, &ts, ALICE, data.len(), "c.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    assert_eq!(put(&http, &s, ALICE, &data, 1024).await.status, 200);
    // Not every part is stored yet.
    let two = parts(&http, &s).await;
    assert_box_error(&commit(&http, &s, &data, &two).await, 400, "parts_mismatch");
    assert_eq!(put(&http, &s, ALICE, &data, 2048).await.status, 200);
    let all = parts(&http, &s).await;
    let mut reversed = all.clone();
    reversed.reverse();
    let mut wrong_size = all.clone();
    wrong_size[1]["size"] = json!(1000);
    let mut wrong_sha = all.clone();
    wrong_sha[2]["sha1"] = json!("0".repeat(40));
    for list in [&all[..2], &reversed[..], &wrong_size[..], &wrong_sha[..]] {
        let r = commit(&http, &s, &data, list).await;
        assert_box_error(&r, 400, "parts_mismatch");
        assert!(r.json()["message"].as_str().unwrap().contains("part"));
    }
    let wrong_digest = http
        .call(
            "POST",
            &s.commit,
            ALICE,
            &[("digest", digest(b"not the file"))],
            json!({"parts": all}).to_string(),
        )
        .await;
    assert_box_error(&wrong_digest, 400, "digest_mismatch");
    assert!(wrong_digest.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("File digest was incorrect. Actual: "));
    assert_box_error(
        &http
            .call(
                "POST",
                &s.commit,
                ALICE,
                &[],
                json!({"parts": all}).to_string(),
            )
            .await,
        400,
        "bad_digest",
    );
    assert_box_error(
        &http
            .call("POST", &s.commit, ALICE, &[("digest", digest(&data))], "{}")
            .await,
        400,
        "bad_request",
    );
    // A same-named file appears before the commit: 409.
    assert_eq!(
        raw_upload(&http, &ts.upload_root(), ALICE, "C.BIN", &data[..10])
            .await
            .status,
        201
    );
    assert_box_error(
        &commit(&http, &s, &data, &all).await,
        409,
        "item_name_in_use",
    );
    // Nothing changed: the session still has its 3 parts and no file was made.
    assert_eq!(parts(&http, &s).await.len(), 3);
    assert_eq!(ts.counters(&http).await["files_committed"], 1);
}

#[tokio::test]
async fn faults_on_request() {
    let ts = TestServer::start(|c| {
        c.faults = box_chunked_server::faults::FaultSpec::parse("part:503@#1, part:429=7@#2, part:reset@#3, part:lose@#4, commit:202=2@first2, commit:parts_mismatch@#3").unwrap();
    })
    .await;
    let http = Http::new();
    let data = pseudo_random(4096, 11);
    let s = create(&http, &ts, ALICE, data.len(), "f.bin").await;
    assert_box_error(&put(&http, &s, ALICE, &data, 0).await, 503, "unavailable");
    let throttled = put(&http, &s, ALICE, &data, 0).await;
    assert_box_error(&throttled, 429, "rate_limit_exceeded");
    assert_eq!(throttled.header("retry-after"), Some("7"));
    // A reset in the middle of the body: the client sees a transport failure, nothing is stored.
    let chunk = &data[..1024];
    let reset = http
        .send(
            "PUT",
            &s.upload,
            &[
                ("authorization", format!("Bearer {ALICE}")),
                ("content-range", "bytes 0-1023/4096".into()),
                ("digest", digest(chunk)),
            ],
            Bytes::copy_from_slice(chunk),
        )
        .await;
    assert!(reset.is_err(), "{reset:?}");
    assert!(parts(&http, &s).await.is_empty());
    // A lost response: the part is stored, the client hears nothing.
    let lost = http
        .send(
            "PUT",
            &s.upload,
            &[
                ("authorization", format!("Bearer {ALICE}")),
                ("content-range", "bytes 0-1023/4096".into()),
                ("digest", digest(chunk)),
            ],
            Bytes::copy_from_slice(chunk),
        )
        .await;
    assert!(lost.is_err());
    assert_eq!(parts(&http, &s).await.len(), 1);
    for off in [1024, 2048, 3072] {
        assert_eq!(put(&http, &s, ALICE, &data, off).await.status, 200);
    }
    let all = parts(&http, &s).await;
    for _ in 0..2 {
        let r = commit(&http, &s, &data, &all).await;
        assert_eq!(r.status, 202);
        assert_eq!(r.header("retry-after"), Some("2"));
        assert!(r.body.is_empty());
    }
    assert_box_error(&commit(&http, &s, &data, &all).await, 400, "parts_mismatch");
    assert_eq!(commit(&http, &s, &data, &all).await.status, 201);
    let c = ts.counters(&http).await;
    assert_eq!(c["faults_injected"], 7);
    assert_eq!(c["commits_pending"], 2);

    // Faults can be changed while running; a bad spec is refused.
    let set = http
        .call(
            "PUT",
            &format!("{}/__box-chunked/faults", ts.url),
            ADMIN,
            &[],
            "list:500@1",
        )
        .await;
    assert_eq!(set.status, 204);
    assert_box_error(
        &http.call("GET", &s.list, ALICE, &[], Bytes::new()).await,
        500,
        "internal_server_error",
    );
    let bad = http
        .call(
            "PUT",
            &format!("{}/__box-chunked/faults", ts.url),
            ADMIN,
            &[],
            "list:explode@1",
        )
        .await;
    assert_box_error(&bad, 400, "bad_request");
    assert_eq!(
        http.call(
            "PUT",
            &format!("{}/__box-chunked/faults", ts.url),
            ADMIN,
            &[],
            ""
        )
        .await
        .status,
        204
    );
    assert_eq!(
        http.call("GET", &s.list, ALICE, &[], Bytes::new())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn expired_sessions_answer_410_and_are_collected() {
    let ts = TestServer::start(|c| {
        c.session_lifetime = Duration::from_secs(1);
        c.collect_every = Duration::from_millis(300);
    })
    .await;
    let http = Http::new();
    let data = pseudo_random(2048, 12);
    let s = create(&http, &ts, ALICE, data.len(), "e.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // Collected: the session is gone (Box gives 404 once it is purged).
    let r = put(&http, &s, ALICE, &data, 1024).await;
    assert!(r.status == 410 || r.status == 404, "{}", r.status);
    assert_eq!(ts.counters(&http).await["sessions_expired"], 1);
    assert!(!ts.dir.path().join("blobs").join(&s.id).exists());

    let ts2 = TestServer::start(|c| c.session_lifetime = Duration::from_secs(1)).await;
    let s = create(&http, &ts2, ALICE, data.len(), "e.bin").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_box_error(
        &put(&http, &s, ALICE, &data, 0).await,
        410,
        "session_expired",
    );
    assert_box_error(
        &http.call("GET", &s.upload, ALICE, &[], Bytes::new()).await,
        410,
        "session_expired",
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    assert_box_error(
        &http
            .call(
                "GET",
                &format!("{}/files/upload_sessions", ts.upload_root()),
                ALICE,
                &[],
                Bytes::new(),
            )
            .await,
        405,
        "method_not_allowed",
    );
    assert_box_error(
        &http
            .call(
                "GET",
                &format!("{}/nothing/here", ts.upload_root()),
                ALICE,
                &[],
                Bytes::new(),
            )
            .await,
        404,
        "not_found",
    );
    assert_box_error(
        &http
            .call(
                "GET",
                &format!("{}/elsewhere", ts.url),
                ALICE,
                &[],
                Bytes::new(),
            )
            .await,
        404,
        "not_found",
    );
    assert_box_error(
        &http
            .call(
                "PATCH",
                &format!("{}/2.0/files/1", ts.url),
                ALICE,
                &[],
                Bytes::new(),
            )
            .await,
        405,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn public_url_is_used_in_session_endpoints() {
    let ts =
        TestServer::start(|c| c.public_url = Some("https://uploads.example.test/".into())).await;
    let http = Http::new();
    let r = http
        .call(
            "POST",
            &format!("{}/api/2.0/files/upload_sessions", ts_local(&ts)),
            ALICE,
            &[],
            json!({"folder_id": "0", "file_size": 10, "file_name": "x"}).to_string(),
        )
        .await;
    let ep = r.json()["session_endpoints"]["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        ep.starts_with("https://uploads.example.test/api/2.0/files/upload_sessions/"),
        "{ep}"
    );
}

fn ts_local(ts: &TestServer) -> String {
    // With a public URL set, ts.url is that URL; talk to the socket directly.
    ts.local.clone()
}

/// The benchmark aid: part digests are verified, no byte is kept.
#[tokio::test]
async fn verify_only_mode_checks_digests_and_keeps_no_bytes() {
    let ts = TestServer::start(|c| c.verify_only = true).await;
    let http = Http::new();
    let data = pseudo_random(2500, 40);
    let s = create(&http, &ts, ALICE, data.len(), "vo.bin").await;
    let bad = http
        .call(
            "PUT",
            &s.upload,
            ALICE,
            &[
                ("content-range", format!("bytes 0-1023/{}", data.len())),
                ("digest", digest(b"other")),
            ],
            Bytes::copy_from_slice(&data[..1024]),
        )
        .await;
    assert_box_error(&bad, 412, "precondition_failed");
    for off in [0, 1024, 2048] {
        assert_eq!(put(&http, &s, ALICE, &data, off).await.status, 200);
    }
    assert_box_error(
        &put(&http, &s, ALICE, &data, 0).await,
        416,
        "range_overlaps_existing_part",
    );
    let listed = parts(&http, &s).await;
    let r = commit(&http, &s, &data, &listed).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    let content = http
        .call(
            "GET",
            &format!("{}/2.0/files/{id}/content", ts.url),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_box_error(&content, 404, "not_found");
    let blobs = ts.dir.path().join("blobs").join(&s.id);
    assert!(
        !blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none(),
        "no bytes kept"
    );
}

/// Parts that arrive in order are hashed into the whole-file SHA-1 as they
/// arrive; parts ahead of the prefix are read back later. A part whose
/// digest is wrong leaves the prefix alone. Either way the commit checks
/// the real file digest.
#[tokio::test]
async fn whole_file_digest_in_one_pass_for_parts_in_order() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(5000, 41);
    let s = create(&http, &ts, ALICE, data.len(), "one-pass.bin").await;
    let bad = http
        .call(
            "PUT",
            &s.upload,
            ALICE,
            &[
                ("content-range", format!("bytes 0-1023/{}", data.len())),
                ("digest", digest(b"other")),
            ],
            Bytes::copy_from_slice(&data[..1024]),
        )
        .await;
    assert_box_error(&bad, 412, "precondition_failed");
    for off in [0, 1024, 4096, 3072, 2048] {
        assert_eq!(put(&http, &s, ALICE, &data, off).await.status, 200);
    }
    let c = ts.counters(&http).await;
    assert_eq!(c["parts_stored"], 5);
    // Parts 0, 1 and 2 continued the prefix; 4 and 3 arrived ahead of it.
    assert_eq!(c["parts_hashed_in_one_pass"], 3);
    let listed = parts(&http, &s).await;
    let mut wrong = data.clone();
    wrong[4999] ^= 1;
    assert_box_error(
        &commit(&http, &s, &wrong, &listed).await,
        400,
        "digest_mismatch",
    );
    let r = commit(&http, &s, &data, &listed).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["entries"][0]["sha1"], sha1(&data).to_hex());
}

/// A part taken into the hashed prefix while it arrived, then refused at
/// storing time (the same range was stored by a faster request meanwhile),
/// is taken out of the prefix again: the commit checks the bytes that were
/// stored, not the ones that lost.
#[tokio::test]
async fn a_part_that_loses_the_race_leaves_no_trace_in_the_file_digest() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 42);
    let s = create(&http, &ts, ALICE, data.len(), "race.bin").await;
    // A: other bytes for part 0, sent slowly; it reaches the prefix first.
    let other = pseudo_random(1024, 43);
    let addr = ts.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let path = s.upload.trim_start_matches(&ts.url).to_owned();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ALICE}\r\nContent-Range: bytes 0-1023/3000\r\nDigest: {}\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n",
        digest(&other)
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&other[..512]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // B: the real part 0 goes in while A is still arriving.
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    slow.write_all(&other[512..]).await.unwrap();
    let mut out = String::new();
    slow.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 416"), "{out}");
    assert!(out.contains("range_overlaps_existing_part"), "{out}");
    for off in [1024, 2048] {
        assert_eq!(put(&http, &s, ALICE, &data, off).await.status, 200);
    }
    let listed = parts(&http, &s).await;
    let r = commit(&http, &s, &data, &listed).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["entries"][0]["sha1"], sha1(&data).to_hex());
}

/// A part body that stops arriving has its connection dropped after the
/// idle time, and does not hold the session's hashed prefix: the same part
/// sent again afterwards is hashed in one pass, and the file commits.
#[tokio::test]
async fn a_stalled_body_is_dropped_and_does_not_hold_the_prefix() {
    let ts = TestServer::start(|c| c.body_idle = Duration::from_millis(300)).await;
    let http = Http::new();
    let data = pseudo_random(3000, 44);
    let s = create(&http, &ts, ALICE, data.len(), "stall.bin").await;
    let addr = ts.url.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let path = s.upload.trim_start_matches(&ts.url).to_owned();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ALICE}\r\nContent-Range: bytes 0-1023/3000\r\nDigest: {}\r\nContent-Length: 1024\r\n\r\n",
        digest(&data[..1024])
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&data[..512]).await.unwrap();
    // The server gives up on it (the read ends) instead of waiting forever.
    let mut out = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut out)).await;
    assert!(ended.is_ok(), "the stalled body was never dropped");
    assert_eq!(ts.counters(&http).await["parts_stored"], 0);
    for off in [0, 1024, 2048] {
        assert_eq!(put(&http, &s, ALICE, &data, off).await.status, 200);
    }
    assert_eq!(ts.counters(&http).await["parts_hashed_in_one_pass"], 3);
    let listed = parts(&http, &s).await;
    let r = commit(&http, &s, &data, &listed).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
}

/// The server's own routes take its admin token alone: a user's token gets
/// `403` (so no user can change another's faults or read the counters), the
/// admin token is no user's token, and without one configured the routes
/// are closed; `faults` given at the start still apply.
#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let faults = format!("{}/__box-chunked/faults", ts.url);
    let counters = format!("{}/__box-chunked/counters", ts.url);
    for token in [ALICE, BOB] {
        assert_box_error(
            &http.call("PUT", &faults, token, &[], "part:expire@1").await,
            403,
            "forbidden",
        );
        assert_box_error(
            &http.call("GET", &counters, token, &[], Bytes::new()).await,
            403,
            "forbidden",
        );
    }
    assert_box_error(
        &http
            .call("GET", &counters, "nobody", &[], Bytes::new())
            .await,
        401,
        "unauthorized",
    );
    assert_eq!(
        http.call("GET", &counters, ADMIN, &[], Bytes::new())
            .await
            .status,
        200
    );
    assert_box_error(
        &http
            .call(
                "GET",
                &format!("{}/2.0/folders/0", ts.url),
                ADMIN,
                &[],
                Bytes::new(),
            )
            .await,
        401,
        "unauthorized",
    );
    // The refused fault rule was not installed: alice's upload is not expired.
    let data = pseudo_random(1500, 70);
    let s = create(&http, &ts, ALICE, data.len(), "mine.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);

    // No admin token: closed to everyone; --faults from the start still work.
    let spec = box_chunked_server::faults::FaultSpec::parse("create:503@1").unwrap();
    let closed = TestServer::start(move |c| {
        c.admin_token = None;
        c.faults = spec;
    })
    .await;
    let counters = format!("{}/__box-chunked/counters", closed.url);
    for token in [ALICE, ADMIN] {
        let r = http.call("GET", &counters, token, &[], Bytes::new()).await;
        assert!(matches!(r.status, 401 | 403), "{}", r.status);
    }
    let r = http
        .call(
            "POST",
            &format!("{}/files/upload_sessions", closed.upload_root()),
            ALICE,
            &[],
            json!({"folder_id": "0", "file_size": 10, "file_name": "x"}).to_string(),
        )
        .await;
    assert_box_error(&r, 503, "unavailable");
}

/// `GET /2.0/users/me` with the space Box reports; the `box-version` header
/// (`2024.0` accepted, another refused as Box does); error bodies omit
/// `context_info` when there is none.
#[tokio::test]
async fn users_me_box_version_and_lean_error_bodies() {
    let ts = TestServer::start(|c| c.quota = Some(1_000_000)).await;
    let http = Http::new();
    let me = http
        .call(
            "GET",
            &format!("{}/2.0/users/me", ts.url),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(me.status, 200);
    let j = me.json();
    assert_eq!(
        (j["type"].clone(), j["id"].clone()),
        (json!("user"), json!("alice"))
    );
    assert_eq!(j["space_amount"], 1_000_000);
    assert_eq!(j["space_used"], 0);
    assert!(j["max_upload_size"].as_u64().unwrap() > 1 << 40);
    let ok = http
        .call(
            "GET",
            &format!("{}/2.0/folders/0", ts.url),
            ALICE,
            &[("box-version", "2024.0".to_owned())],
            Bytes::new(),
        )
        .await;
    assert_eq!(ok.status, 200);
    let old = http
        .call(
            "GET",
            &format!("{}/2.0/folders/0", ts.url),
            ALICE,
            &[("box-version", "2023.0".to_owned())],
            Bytes::new(),
        )
        .await;
    assert_box_error(&old, 400, "invalid_api_version");
    let missing = http
        .call(
            "GET",
            &format!("{}/2.0/files/424242", ts.url),
            ALICE,
            &[],
            Bytes::new(),
        )
        .await;
    assert_box_error(&missing, 404, "not_found");
    assert!(
        missing.json().get("context_info").is_none(),
        "{:?}",
        missing.json()
    );
    assert_box_error(
        &http
            .call(
                "DELETE",
                &format!("{}/2.0/users/me", ts.url),
                ALICE,
                &[],
                Bytes::new(),
            )
            .await,
        405,
        "method_not_allowed",
    );
}
