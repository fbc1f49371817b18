//! The whole-file SHA-1: hashed in one pass for parts in order, read back
//! for the rest, never from bytes that were not stored; the verify-only
//! benchmark mode; a stalled body does not hold the hashed prefix.

use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use bytes::Bytes;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The benchmark aid: part digests are verified, no byte is kept.
#[tokio::test]
async fn verify_only_mode_checks_digests_and_keeps_no_bytes() {
    let ts = TestServer::start(|c| c.verify_only = true).await;
    let http = Http::new();
    let data = pseudo_random(2500, 40);
    let s = create(&http, &ts, ALICE, data.len(), "vo.bin").await;
    let bad = http
        .put(&s.upload)
        .bearer(ALICE)
        .headers(&[
            ("content-range", format!("bytes 0-1023/{}", data.len())),
            ("digest", digest(b"other")),
        ])
        .body(Bytes::copy_from_slice(&data[..1024]))
        .send()
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
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .send()
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
        .put(&s.upload)
        .bearer(ALICE)
        .headers(&[
            ("content-range", format!("bytes 0-1023/{}", data.len())),
            ("digest", digest(b"other")),
        ])
        .body(Bytes::copy_from_slice(&data[..1024]))
        .send()
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
