//! Streamed part bodies (`Transfer-Encoding: chunked`, no `Content-Length`),
//! as Box's Node SDK sends every part: checked against `Content-Range`
//! while they arrive; and answers given before a body is read close the
//! connection, so the client reads them instead of a broken pipe.

use box_chunked_tests::raw::{create, parts};
use box_chunked_tests::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a chunked `PUT` of part 0 (bytes 0..1024 of a 3,000-byte file)
/// and sends `chunks` (each as one HTTP chunk), ending the body when `end`.
async fn chunked_put(
    ts: &TestServer,
    upload: &str,
    digest_of: &[u8],
    chunks: &[&[u8]],
    end: bool,
) -> TcpStream {
    let addr = ts.local.trim_start_matches("http://").to_owned();
    let path = upload.trim_start_matches(&ts.url).to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ALICE}\r\nContent-Range: bytes 0-1023/3000\r\nDigest: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        digest(digest_of)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for c in chunks {
        s.write_all(format!("{:x}\r\n", c.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(c).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    if end {
        s.write_all(b"0\r\n\r\n").await.unwrap();
    }
    s
}

async fn answer(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "the server answered and closed within 5 s");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_chunked_part_of_the_exact_length_is_stored() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 100);
    let s = create(&http, &ts, ALICE, data.len(), "streamed.bin").await;
    let part = &data[..1024];
    let mut c = chunked_put(&ts, &s.upload, part, &[&part[..300], &part[300..]], true).await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let listed = parts(&http, &s).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["sha1"], sha1(part).to_hex());
}

/// Longer than the range: refused as soon as it passes it, without the
/// rest of the body being sent (the answer comes while we still hold it).
#[tokio::test]
async fn a_chunked_part_too_long_is_refused_as_it_passes_the_range() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 101);
    let s = create(&http, &ts, ALICE, data.len(), "long.bin").await;
    let too_long = pseudo_random(1124, 102);
    let mut c = chunked_put(&ts, &s.upload, &too_long[..1024], &[&too_long], false).await;
    let text = answer(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(parts(&http, &s).await.is_empty());
}

/// Shorter than the range: refused at its end, nothing stored.
#[tokio::test]
async fn a_chunked_part_too_short_is_refused_at_its_end() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 103);
    let s = create(&http, &ts, ALICE, data.len(), "short.bin").await;
    let mut c = chunked_put(&ts, &s.upload, &data[..1024], &[&data[..900]], true).await;
    let text = answer(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains("ended after 900 of the part's 1024 bytes"),
        "{text}"
    );
    assert!(parts(&http, &s).await.is_empty());
}

/// A chunked body that stops arriving is dropped after the body idle time.
#[tokio::test]
async fn an_idle_chunked_part_is_dropped() {
    let ts = TestServer::start(|c| c.body_idle = Duration::from_millis(300)).await;
    let http = Http::new();
    let data = pseudo_random(3000, 104);
    let s = create(&http, &ts, ALICE, data.len(), "idle.bin").await;
    let mut c = chunked_put(&ts, &s.upload, &data[..1024], &[&data[..500]], false).await;
    let started = std::time::Instant::now();
    let _ = answer(&mut c).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(parts(&http, &s).await.is_empty());
}

/// An error answered before the body was read (here a `Content-Length`
/// longer than the part) closes the connection: the client reads the 413
/// instead of a broken pipe.
#[tokio::test]
async fn an_answer_before_the_body_closes_the_connection() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 105);
    let s = create(&http, &ts, ALICE, data.len(), "early.bin").await;
    let addr = ts.local.trim_start_matches("http://").to_owned();
    let path = s.upload.trim_start_matches(&ts.url).to_owned();
    let mut c = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ALICE}\r\nContent-Range: bytes 0-1023/3000\r\nDigest: {}\r\nContent-Length: 5000000\r\n\r\n",
        digest(&data[..1024])
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let text = answer(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
}
