//! The server's own life: one server per data directory, requests that
//! run to their end (and to their counters) when the client goes away,
//! and connections that must speak within the header timeout.

use box_chunked_server::{Server, ServerConfig};
use box_chunked_tests::api::{session_of, text, Paused, User};
use box_chunked_tests::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A second server on a running server's data directory refuses to start,
/// names the directory and the holder's process, and changes nothing: a
/// part that was arriving at the first server meanwhile is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_data_directory_refuses_to_start() {
    let ts = TestServer::start(|c| c.part_size = Some(256 * 1024)).await;
    let alice = User::new(&ts.url, ALICE);
    let data = pseudo_random(512 * 1024, 1);
    let s = session_of(&alice.create_session("0", data.len(), "held.bin").await);
    let part = bytes::Bytes::copy_from_slice(&data[..256 * 1024]);
    let paused = Paused::start(
        "PUT",
        &s.upload,
        ALICE,
        &[
            (
                "content-range",
                format!("bytes 0-{}/{}", 256 * 1024 - 1, data.len()),
            ),
            ("digest", digest(&part)),
        ],
        part,
        100_000,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut cfg = ServerConfig::new(ts.dir.path());
    cfg.addr = ([127, 0, 0, 1], 0).into();
    let second = Server::bind(cfg).await;
    let e = second
        .expect_err("a second server on the same directory")
        .to_string();
    assert!(e.contains(&ts.dir.path().display().to_string()), "{e}");
    assert!(e.contains(&std::process::id().to_string()), "{e}");
    let (status, answer) = paused.finish().await;
    assert_eq!(status, 200, "the first server's part is stored: {answer}");
    let rest = alice.put_part(&s, &data, 256 * 1024, 256 * 1024).await;
    assert_eq!(rest.status, 200, "{}", text(&rest));
    let parts = vec![answer["part"].clone(), rest.json()["part"].clone()];
    let c = alice.commit(&s, &data, &parts).await;
    assert_eq!(c.status, 201, "{}", text(&c));
    // Once the first has stopped, the directory can be served again.
    let dir = ts.stop().await;
    let ts = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(User::new(&ts.url, ALICE).list("0").await.len(), 1);
}

/// Sends a request over its own connection, `cut` bytes of it, waits
/// `linger`, then resets the connection (`SO_LINGER` 0) as a killed client
/// does.
async fn send_and_reset(url: &str, head: &str, body: &[u8], cut: usize, linger: Duration) {
    let uri: http::Uri = url.parse().unwrap();
    let mut c = tokio::net::TcpStream::connect(uri.authority().unwrap().as_str())
        .await
        .unwrap();
    let mut all = head.as_bytes().to_vec();
    all.extend_from_slice(body);
    let _ = c.write_all(&all[..cut.min(all.len())]).await;
    let _ = c.flush().await;
    tokio::time::sleep(linger).await;
    let _ = c.set_zero_linger();
    drop(c);
}

fn head(method: &str, url: &str, headers: &[(&str, String)], len: usize) -> String {
    let uri: http::Uri = url.parse().unwrap();
    let mut h = format!(
        "{method} {} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {ALICE}\r\ncontent-length: {len}\r\n",
        uri.path(),
        uri.authority().unwrap()
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h + "\r\n"
}

/// Clients killed at every point of their parts and commits, many times:
/// afterwards the counters are exactly what the store holds (parts listed,
/// files committed), with no part stored but uncounted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_killed_mid_request_leave_exact_counters() {
    let ts = TestServer::start(|c| c.part_size = Some(64 * 1024)).await;
    let alice = User::new(&ts.url, ALICE);
    let http = Http::new();
    let (sessions, parts_each) = (24, 8);
    let size = 64 * 1024 * parts_each;
    let mut all = Vec::new();
    for i in 0..sessions {
        let data = pseudo_random(size, 100 + i as u64);
        let s = session_of(&alice.create_session("0", size, &format!("k{i}.bin")).await);
        for p in 0..parts_each {
            let off = p * 64 * 1024;
            let chunk = &data[off..off + 64 * 1024];
            let h = head(
                "PUT",
                &s.upload,
                &[
                    (
                        "content-range",
                        format!("bytes {off}-{}/{size}", off + 64 * 1024 - 1),
                    ),
                    ("digest", digest(chunk)),
                ],
                chunk.len(),
            );
            // Cut in the head, in the body, at its end, or after all of it.
            let cut = match (i + p) % 4 {
                0 => h.len() / 2,
                1 => h.len() + chunk.len() / 2,
                _ => h.len() + chunk.len(),
            };
            let linger = Duration::from_micros(700 * ((i * 3 + p) % 7) as u64);
            send_and_reset(&s.upload, &h, chunk, cut, linger).await;
        }
        all.push((s, data));
    }
    // Every session gets its missing parts, then a commit that is killed
    // right after its body was sent.
    for (n, (s, data)) in all.iter().enumerate() {
        for p in 0..parts_each {
            let r = alice.put_part(s, data, p * 64 * 1024, 64 * 1024).await;
            assert!(matches!(r.status, 200 | 416), "{}", text(&r));
        }
        let listed = alice
            .send("GET", &format!("{}/parts", s.upload), &[], None)
            .await;
        let body = serde_json::json!({ "parts": listed.json()["entries"] }).to_string();
        let h = head("POST", &s.commit, &[("digest", digest(data))], body.len());
        let linger = Duration::from_micros(900 * (n % 6) as u64);
        send_and_reset(&s.commit, &h, body.as_bytes(), usize::MAX, linger).await;
    }
    // Let every handler finish, then compare.
    let c = ts.settled(&http).await;
    let files = alice.list("0").await;
    assert_eq!(c["files_committed"], files.len() as u64, "{c}");
    // Each part was stored once, in the first round or the second, and
    // counted when it was; the first round's are the second round's overlaps.
    let total = (sessions * parts_each) as u64;
    assert_eq!(
        c["parts_stored"], total,
        "every stored part is counted once: {c}"
    );
    // No blob without its row, none missing.
    for (s, _) in &all {
        let blobs = std::fs::read_dir(ts.dir.path().join("blobs").join(&s.id))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(blobs, parts_each, "blobs of session {}", s.id);
    }
    for f in &files {
        let name = f["name"].as_str().unwrap();
        let i: usize = name[1..name.len() - 4].parse().unwrap();
        let body = alice.download(f["id"].as_str().unwrap()).await.body;
        assert_eq!(&body[..], &all[i].1[..], "{name}");
    }
}

/// A connection that sends nothing at all is closed after the header
/// timeout, like one that sends half a header.
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let ts = TestServer::start(|c| c.header_timeout = Duration::from_millis(500)).await;
    let addr = ts.local.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /2.0/users/me HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    for (what, c) in [("silent", &mut silent), ("half a header", &mut half)] {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(_)) | Ok(Err(_))),
            "the {what} connection is still open after 5 s"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// Over HTTPS too: a client that finishes the TLS handshake and then says
/// nothing is closed after the header timeout.
#[tokio::test]
async fn a_silent_tls_connection_is_closed_after_the_header_timeout() {
    let (ca, cert, key) = test_certificates();
    let ts = TestServer::start(move |c| {
        c.header_timeout = Duration::from_millis(500);
        c.tls = Some(box_chunked_server::ServerTls {
            cert_chain_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
        });
    })
    .await;
    let config = crate::tls::client_config(&ca);
    let addr = ts.url.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the handshake completes");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the silent TLS connection is still open after 5 s"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}
