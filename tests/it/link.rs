//! The link model (`--link`): Box's per-user request limits answered with
//! Box's `429` and `Retry-After`; bandwidth paced per connection and for
//! the whole server; a round trip added to every answer and a processing
//! time to every part. Times are checked as lower bounds only (a busy
//! machine can only make them longer); speed itself is the benchmark's.

use box_chunked_server::link::LinkModel;
use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Sends the `len`-byte part of `data` at `offset`.
async fn put_part(http: &Http, s: &Session, data: &[u8], offset: usize, len: usize) -> Reply {
    let chunk = &data[offset..offset + len];
    http.put(&s.upload)
        .bearer(ALICE)
        .headers(&[
            (
                "content-range",
                format!("bytes {}-{}/{}", offset, offset + len - 1, s.size),
            ),
            ("digest", digest(chunk)),
        ])
        .body(Bytes::copy_from_slice(chunk))
        .send()
        .await
}

#[tokio::test]
async fn per_user_limits_answer_429_with_retry_after() {
    let ts = TestServer::start(|c| {
        c.link = LinkModel::parse("api=3,uploads=2,parts=upload").unwrap();
    })
    .await;
    let http = Http::new();
    let data = pseudo_random(4096, 5);
    // An upload request and a part: alice's upload budget (2 a minute) is spent.
    let s = create(&http, &ts, ALICE, data.len(), "f.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    let refused = put(&http, &s, ALICE, &data, 1024).await;
    assert_box_error(&refused, 429, "rate_limit_exceeded");
    // One upload frees up every 30 s.
    assert_eq!(refused.header("retry-after"), Some("30"));
    // Bob has budgets of his own.
    create(&http, &ts, BOB, data.len(), "g.bin").await;
    // Alice's general budget (3 a minute) has one request left: the refused
    // part took nothing from it.
    let me = format!("{}/2.0/users/me", ts.local);
    assert_eq!(http.get(&me).bearer(ALICE).send().await.status, 200);
    let over = http.get(&me).bearer(ALICE).send().await;
    assert_box_error(&over, 429, "rate_limit_exceeded");
    assert_eq!(over.header("retry-after"), Some("20"));
    // Nothing refused was applied: one part stored (the admin routes count
    // toward no one's budget).
    let c = ts.counters(&http).await;
    assert_eq!(c["requests_rate_limited"], 2, "{c}");
    assert_eq!(c["parts_stored"], 1, "{c}");
}

#[tokio::test]
async fn bandwidth_is_paced_per_connection_and_for_the_server() {
    const PART: usize = 1 << 20;
    let ts = TestServer::start(|c| {
        c.part_size = Some(PART as u64);
        c.link = LinkModel::parse("conn=2MB,total=3MB").unwrap();
    })
    .await;
    let http = Http::new();
    let data = pseudo_random(4 * PART, 9);
    let s = create(&http, &ts, ALICE, data.len(), "f.bin").await;
    // One connection: 1 MiB at 2 MB/s takes at least half a second.
    let started = Instant::now();
    assert_eq!(put_part(&http, &s, &data, 0, PART).await.status, 200);
    let one = started.elapsed();
    assert!(one >= Duration::from_millis(450), "{one:?}");
    // Three at once: each could go at 2 MB/s, the server carries 3 MB/s,
    // so 3 MiB take at least a second.
    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        put_part(&http, &s, &data, PART, PART),
        put_part(&http, &s, &data, 2 * PART, PART),
        put_part(&http, &s, &data, 3 * PART, PART),
    );
    let three = started.elapsed();
    assert_eq!((a.status, b.status, c.status), (200, 200, 200));
    assert!(three >= Duration::from_millis(950), "{three:?}");
    // The bytes are the bytes: the file commits with its SHA-1.
    let all = parts(&http, &s).await;
    assert_eq!(commit(&http, &s, &data, &all).await.status, 201);
}

#[tokio::test]
async fn round_trips_and_part_processing_are_added() {
    let ts = TestServer::start(|c| {
        c.link = LinkModel::parse("rtt=200ms,part=300ms").unwrap();
    })
    .await;
    let http = Http::new();
    let me = format!("{}/2.0/users/me", ts.local);
    let started = Instant::now();
    assert_eq!(http.get(&me).bearer(ALICE).send().await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let data = pseudo_random(2048, 3);
    let s = create(&http, &ts, ALICE, data.len(), "f.bin").await;
    let started = Instant::now();
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(500));
    // A refusal is a round trip too, and the admin routes are not slowed
    // (they are the test's, not the emulated client's).
    let started = Instant::now();
    assert_eq!(http.get(&me).bearer("nobody").send().await.status, 401);
    assert!(started.elapsed() >= Duration::from_millis(200));
}
