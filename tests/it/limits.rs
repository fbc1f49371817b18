//! Slow and idle clients cannot hold the server hostage: half-sent headers,
//! idle kept-alive connections (HTTP/1.1 and HTTP/2), stalled JSON bodies,
//! and more connections than the cap. Raw TCP against the real server.

use box_chunked_tests::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(ts: &TestServer) -> String {
    ts.local.trim_start_matches("http://").to_owned()
}

/// A normal request, which must be answered within a second.
async fn served_within_a_second(http: &Http, ts: &TestServer) -> Duration {
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        http.get(&format!("{}/2.0/folders/0", ts.url))
            .bearer(ALICE)
            .send(),
    )
    .await
    .expect("a normal request is served within a second");
    assert_eq!(r.status, 200);
    started.elapsed()
}

/// Reads until the server closes the connection; `None` if it did not
/// within `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    tokio::time::timeout(limit, s.read_to_end(&mut out))
        .await
        .ok()
        .map(|_| out)
}

/// 1,000 connections that send half a header: a normal request is served
/// within a second meanwhile, and each of them is closed once the header
/// timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_half_open_connections_do_not_stop_the_server() {
    let ts = TestServer::start(|c| c.header_timeout = Duration::from_millis(800)).await;
    let http = Http::new();
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(addr(&ts)).await.unwrap();
        s.write_all(b"GET /2.0/folders/0 HTTP/1.1\r\nHost: x\r\nAuthoriz")
            .await
            .unwrap();
        slow.push(s);
    }
    let took = served_within_a_second(&http, &ts).await;
    eprintln!("served in {took:?} beside 1,000 half-open connections");
    let reads = slow
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(5)));
    let closed = futures_join_all(reads).await;
    assert!(
        closed.iter().all(Option::is_some),
        "every half-open connection was closed"
    );
    // A new client: the first one's kept-alive connection was closed by the
    // header timeout too, as it should be.
    served_within_a_second(&Http::new(), &ts).await;
}

/// Waits for every future (a small `join_all`, in order).
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.collect();
    let mut out = Vec::with_capacity(handles.len());
    for f in handles {
        out.push(f.await);
    }
    out
}

/// At the connection cap, the connection idle longest is closed to make
/// room: 60 idle connections against a cap of 50 do not lock a client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_longest_idle_connection_makes_room() {
    let ts = TestServer::start(|c| c.max_connections = Some(50)).await;
    let http = Http::new();
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(TcpStream::connect(addr(&ts)).await.unwrap());
    }
    // Every connection is accepted (and the oldest evicted) in time.
    let mut evicted = 0;
    for _ in 0..100 {
        evicted = ts.counters(&http).await["connections_evicted"]
            .as_u64()
            .unwrap();
        if evicted >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(evicted >= 10, "{evicted} evicted");
    served_within_a_second(&http, &ts).await;
    // The oldest ones were closed.
    assert!(closed_within(&mut idle[0], Duration::from_secs(2))
        .await
        .is_some());
}

/// A kept-alive HTTP/1.1 connection that sends no next request is closed
/// after the header timeout.
#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let ts = TestServer::start(|c| c.header_timeout = Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(addr(&ts)).await.unwrap();
    let req =
        format!("GET /2.0/folders/0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let started = Instant::now();
    let out = closed_within(&mut s, Duration::from_secs(5))
        .await
        .expect("closed after the header timeout");
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
}

/// An HTTP/2 connection (prior knowledge) that opens no stream is closed
/// after the idle timeout.
#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let ts = TestServer::start(|c| c.idle_timeout = Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(addr(&ts)).await.unwrap();
    // The client preface and an empty SETTINGS frame.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(5))
            .await
            .is_some(),
        "closed after the idle timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
}

/// A JSON body that stops arriving gets `408` after the JSON body timeout,
/// and nothing is created.
#[tokio::test]
async fn a_stalled_json_body_times_out() {
    let ts = TestServer::start(|c| c.json_body_timeout = Duration::from_millis(300)).await;
    let http = Http::new();
    let mut s = TcpStream::connect(addr(&ts)).await.unwrap();
    let req = format!(
        "POST /api/2.0/files/upload_sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"folder_id\":"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let out = closed_within(&mut s, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    let counters = ts.counters(&http).await;
    assert_eq!(counters["sessions_created"], 0);
    assert_eq!(counters["bodies_timed_out"], 1);
}
