//! Every bad input of docs/server.md, as raw HTTP: its status and Box
//! error body, the server still serving, and the stored state unchanged.

use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        let r = http
            .post(&url)
            .bearer(ALICE)
            .body(body.to_string())
            .send()
            .await;
        assert_box_error(&r, status, code);
    }
    assert_box_error(
        &http.post(&url).bearer(ALICE).body("{not json").send().await,
        400,
        "bad_request",
    );
    // Nothing was created, and the server still serves (a float size in
    // exponent form and no Content-Type, as the older Python SDK sends, work).
    assert_eq!(ts.counters(&http).await["sessions_created"], 0);
    let ok = http
        .post(&url)
        .headers(&[("authorization", format!("Bearer {ALICE}"))])
        .body(r#"{"folder_id":0,"file_size":2.0e3,"file_name":"x"}"#)
        .try_send()
        .await
        .unwrap();
    assert_eq!(ok.status, 201, "{:?}", ok.json());
    assert_eq!(ok.json()["part_size"], 1024);
    assert_eq!(ok.json()["total_parts"], 2);
    // The server decodes with proto's decoders, so it reads numbers exactly
    // as a client reads Box's answers: a numeric string in exponent form too.
    let ok = http
        .post(&url)
        .bearer(ALICE)
        .body(r#"{"folder_id":0,"file_size":"2.5e3","file_name":"y"}"#.to_owned())
        .send()
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
        let r = http
            .put(&s.upload)
            .bearer(ALICE)
            .headers(&headers)
            .body(body)
            .send()
            .await;
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
        .put(&format!(
            "{}/files/upload_sessions/not-valid!",
            ts.upload_root()
        ))
        .bearer(ALICE)
        .send()
        .await;
    assert_box_error(&bad_id, 400, "invalid_upload_session_id");
    let unknown = http
        .get(&format!(
            "{}/files/upload_sessions/{}",
            ts.upload_root(),
            "A".repeat(32)
        ))
        .bearer(ALICE)
        .send()
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
        .post(&s.commit)
        .bearer(ALICE)
        .headers(&[("digest", digest(b"not the file"))])
        .body(json!({"parts": all}).to_string())
        .send()
        .await;
    assert_box_error(&wrong_digest, 400, "digest_mismatch");
    assert!(wrong_digest.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("File digest was incorrect. Actual: "));
    assert_box_error(
        &http
            .post(&s.commit)
            .bearer(ALICE)
            .body(json!({"parts": all}).to_string())
            .send()
            .await,
        400,
        "bad_digest",
    );
    assert_box_error(
        &http
            .post(&s.commit)
            .bearer(ALICE)
            .headers(&[("digest", digest(&data))])
            .body("{}")
            .send()
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
