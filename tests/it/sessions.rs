//! Chunked sessions end to end over raw HTTP: upload, commit, download
//! with ranges, versions with `If-Match`, the parts list, abort, expiry (on
//! the server's clock, no waiting) and `session_endpoints`.

use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::json;
use std::time::Duration;

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
        .get(&format!(
            "{}/files/upload_sessions/{}",
            ts.upload_root(),
            s.id
        ))
        .bearer(ALICE)
        .send()
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
        .get(&format!("{}/2.0/files/{id}", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(f.status, 200);
    assert_eq!(f.json()["sha1"], sha1(&data).to_hex());
    assert_eq!(f.json()["file_version"]["sha1"], sha1(&data).to_hex());
    let content = http
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(content.status, 200);
    assert_eq!(&content.body[..], &data[..]);
    let ranged = http
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .headers(&[("range", "bytes=1000-2099".into())])
        .send()
        .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.header("content-range"), Some("bytes 1000-2099/2500"));
    assert_eq!(&ranged.body[..], &data[1000..2100]);
    let tail = http
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .headers(&[("range", "bytes=-10".into())])
        .send()
        .await;
    assert_eq!(&tail.body[..], &data[2490..]);
    let bad = http
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .headers(&[("range", "bytes=9000-".into())])
        .send()
        .await;
    assert_eq!(bad.status, 416);
    assert_eq!(bad.header("content-range"), Some("bytes */2500"));

    // A repeated commit after success returns the same file.
    let again = commit(&http, &s, &data, &listed).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json()["entries"][0]["id"], id.as_str());
    // Deleting a committed session is a no-op; the file stays.
    let del = http.delete(&s.upload).bearer(ALICE).send().await;
    assert_eq!(del.status, 204);
    let f = http
        .get(&format!("{}/2.0/files/{id}", ts.url))
        .bearer(ALICE)
        .send()
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
        .post(&format!("{}/files/{id}/upload_sessions", ts.upload_root()))
        .bearer(ALICE)
        .body(json!({"file_size": v2.len(), "file_name": "doc-v2.bin"}).to_string())
        .send()
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
        .post(&s.commit)
        .bearer(ALICE)
        .headers(&[("digest", digest(&v2)), ("if-match", "99".into())])
        .body(json!({"parts": listed}).to_string())
        .send()
        .await;
    assert_box_error(&stale, 412, "precondition_failed");
    let ok = http
        .post(&s.commit).bearer(ALICE).headers(&[("digest", digest(&v2)), ("if-match", etag.clone())]).body(json!({"parts": listed, "attributes": {"description": "second", "content_modified_at": "2024-01-02T03:04:05Z"}}).to_string()).send()
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
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(&content.body[..], &v2[..]);
    // A version of a file that does not exist, or is someone else's.
    let missing = http
        .post(&format!(
            "{}/files/424242/upload_sessions",
            ts.upload_root()
        ))
        .bearer(ALICE)
        .body(json!({"file_size": 10}).to_string())
        .send()
        .await;
    assert_box_error(&missing, 404, "not_found");
    let theirs = http
        .post(&format!("{}/files/{id}/upload_sessions", ts.upload_root()))
        .bearer(BOB)
        .body(json!({"file_size": 10}).to_string())
        .send()
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
            .put(&s.upload)
            .bearer(ALICE)
            .headers(&[
                (
                    "content-range",
                    format!("bytes {}-{}/{}", off, off + chunk.len() - 1, data.len()),
                ),
                ("digest", digest(chunk)),
            ])
            .body(Bytes::copy_from_slice(chunk))
            .send()
            .await;
        assert_eq!(r.status, 200);
    }
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = http
            .get(&format!("{}?offset={offset}&limit=10", s.list))
            .bearer(ALICE)
            .send()
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
            .get(&format!("{}?{q}", s.list))
            .bearer(ALICE)
            .send()
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
    let r = http.delete(&s.upload).bearer(ALICE).send().await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_box_error(
        &http.get(&s.upload).bearer(ALICE).send().await,
        404,
        "not_found",
    );
    assert_box_error(&put(&http, &s, ALICE, &data, 1024).await, 404, "not_found");
    assert_box_error(
        &http.delete(&s.upload).bearer(ALICE).send().await,
        404,
        "not_found",
    );
    // The blobs are gone from disk.
    let dir = ts.dir.path().join("blobs").join(&s.id);
    assert!(!dir.exists());
}

/// A session past its expiry answers `410 session_expired`; the collector
/// then deletes it with its blobs (`404`). The server's clock is moved
/// ahead rather than waited for.
#[tokio::test]
async fn expired_sessions_answer_410_and_are_collected() {
    let http = Http::new();
    let data = pseudo_random(2048, 12);
    let lifetime = i64::try_from(box_chunked_proto::rules::SESSION_LIFETIME_SECS).unwrap();
    // Past its seven days, before the collector runs (once an hour here): 410.
    let ts = TestServer::start(|c| c.collect_every = Duration::from_secs(3600)).await;
    let s = create(&http, &ts, ALICE, data.len(), "e.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    ts.advance_clock(&http, lifetime + 1).await;
    assert_box_error(
        &put(&http, &s, ALICE, &data, 1024).await,
        410,
        "session_expired",
    );
    assert_box_error(
        &http.get(&s.upload).bearer(ALICE).send().await,
        410,
        "session_expired",
    );
    // With the collector running often: gone once collected (Box gives 404
    // once it is purged), blobs and all.
    let ts = TestServer::start(|c| c.collect_every = Duration::from_millis(100)).await;
    let s = create(&http, &ts, ALICE, data.len(), "e.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    ts.advance_clock(&http, lifetime + 1).await;
    ts.counter_reaches(&http, "sessions_expired", 1).await;
    assert_box_error(&put(&http, &s, ALICE, &data, 1024).await, 404, "not_found");
    assert!(!ts.dir.path().join("blobs").join(&s.id).exists());
}

#[tokio::test]
async fn public_url_is_used_in_session_endpoints() {
    let ts =
        TestServer::start(|c| c.public_url = Some("https://uploads.example.test/".into())).await;
    let http = Http::new();
    let r = http
        .post(&format!("{}/api/2.0/files/upload_sessions", ts.local))
        .bearer(ALICE)
        .body(json!({"folder_id": "0", "file_size": 10, "file_name": "x"}).to_string())
        .send()
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
