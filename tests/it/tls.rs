//! HTTPS: the server with a certificate from a test CA, HTTP/2 and
//! HTTP/1.1 by ALPN, `https://` session endpoints; our client trusting the
//! CA uploads over each protocol, and a client that does not trust it is
//! refused before any byte of the file leaves.

use box_chunked_hyper::BoxClient;
use box_chunked_server::ServerTls;
use box_chunked_tests::*;
use serde_json::json;

async fn tls_server() -> (TestServer, String) {
    let (ca, cert, key) = test_certificates();
    let ts = TestServer::start(move |c| {
        c.part_size = Some(1 << 20);
        c.tls = Some(ServerTls {
            cert_chain_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
        });
    })
    .await;
    assert!(ts.url.starts_with("https://"), "{}", ts.url);
    (ts, ca)
}

async fn upload_over(ts: &TestServer, ca: &str, http2: bool) -> (String, Vec<u8>) {
    let dir = TempDir::new("tls-src");
    let data = pseudo_random(5 << 20, u64::from(http2));
    let path = dir.path().join("over-tls.bin");
    std::fs::write(&path, &data).unwrap();
    let client = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.url)
        .root_certificates_pem(ca.as_bytes().to_vec())
        .http2_only(http2)
        .http1_only(!http2)
        .build()
        .unwrap();
    let name = format!("over-tls-{http2}.bin");
    let file = client
        .uploader()
        .upload_file("0", &name, &path)
        .await
        .unwrap();
    assert_eq!(file.sha1.map(|s| s.to_hex()), Some(sha1(&data).to_hex()));
    (file.id, data)
}

#[tokio::test]
async fn our_client_uploads_over_https_with_http2_and_with_http1() {
    let (ts, ca) = tls_server().await;
    for http2 in [true, false] {
        let raw = Http::trusting(&ca, http2);
        let before = raw
            .get(&format!("{}/__box-chunked/counters", ts.url))
            .bearer(ADMIN)
            .send()
            .await
            .json()["requests_http2"]
            .as_u64()
            .unwrap();
        let (id, data) = upload_over(&ts, &ca, http2).await;
        let counters = raw
            .get(&format!("{}/__box-chunked/counters", ts.url))
            .bearer(ADMIN)
            .send()
            .await
            .json();
        let h2 = counters["requests_http2"].as_u64().unwrap() - before;
        if http2 {
            assert!(
                h2 >= 7,
                "create, 5 parts and commit came over HTTP/2 ({h2})"
            );
        } else {
            assert_eq!(h2, 0, "nothing came over HTTP/2");
        }
        let r = raw
            .get(&format!("{}/2.0/files/{id}/content", ts.url))
            .bearer(ALICE)
            .send()
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(sha1(&r.body), sha1(&data), "downloaded back over HTTPS");
    }
    // Session endpoints point at the HTTPS origin.
    let raw = Http::trusting(&ca, true);
    let r = raw
        .post(&format!("{}/files/upload_sessions", ts.upload_root()))
        .bearer(ALICE)
        .body(json!({"folder_id": "0", "file_size": 3 << 20, "file_name": "e.bin"}).to_string())
        .send()
        .await;
    assert!(r.json()["session_endpoints"]["upload_part"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
}

#[tokio::test]
async fn a_client_without_the_ca_is_refused_before_sending() {
    let (ts, _ca) = tls_server().await;
    let dir = TempDir::new("tls-untrusted");
    let path = dir.path().join("f.bin");
    std::fs::write(&path, pseudo_random(3 << 20, 5)).unwrap();
    let client = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.url)
        .build()
        .unwrap();
    let err = client
        .uploader()
        .upload_file("0", "f.bin", &path)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.url)
        .root_certificates_pem(b"not a certificate".to_vec())
        .build()
        .is_err());
}

/// A request that arrives with the last message of the TLS handshake (a
/// TLS 1.3 client may send both at once) is answered in full, however long
/// the client takes to read the answer: the header timeout is about the
/// request, and the server had it. (The server read both in one read of its
/// buffer below rustls, so no later read of the socket told its header
/// clock that a request had come, and a write blocked past the header
/// timeout closed the connection mid-answer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_with_the_handshake_gets_a_slow_answer_in_full() {
    use std::io::{Read as _, Write as _};
    let (ca, cert, key) = test_certificates();
    let ts = TestServer::start(move |c| {
        c.part_size = Some(1 << 20);
        c.header_timeout = std::time::Duration::from_millis(500);
        c.tls = Some(ServerTls {
            cert_chain_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
        });
    })
    .await;
    let data = pseudo_random(24 << 20, 3);
    let client = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.url)
        .root_certificates_pem(ca.as_bytes().to_vec())
        .build()
        .unwrap();
    let file = client
        .uploader()
        .upload(
            box_chunked_core::Target::NewFile {
                folder_id: "0".into(),
                name: "slow-read.bin".into(),
            },
            box_chunked_hyper::UploadSource::Bytes(data.clone().into()),
        )
        .await
        .unwrap();
    let config = client_config(&ca);
    let addr = ts.url.trim_start_matches("https://").to_owned();
    let request = format!(
        "GET /2.0/files/{}/content HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ALICE}\r\nconnection: close\r\n\r\n",
        file.id
    );
    let received = tokio::task::spawn_blocking(move || {
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let mut sock = std::net::TcpStream::connect(&addr).unwrap();
        // The handshake, until the client's last message is ready to go.
        while tls.is_handshaking() {
            while tls.wants_write() && tls.is_handshaking() {
                tls.write_tls(&mut sock).unwrap();
            }
            if tls.is_handshaking() {
                tls.read_tls(&mut sock).unwrap();
                tls.process_new_packets().unwrap();
            }
        }
        // That message and the request in one write.
        tls.writer().write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out).unwrap();
        }
        sock.write_all(&out).unwrap();
        // A client slow to read: the server's writes block for a while.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let mut answer = Vec::new();
        let mut stream = rustls::Stream::new(&mut tls, &mut sock);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        answer
    })
    .await
    .unwrap();
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer");
    let head = String::from_utf8_lossy(&received[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = &received[head_end + 4..];
    assert_eq!(body.len(), data.len(), "the whole file, not a part of it");
    assert_eq!(sha1(body), sha1(&data));
}

/// A rustls client that trusts only the test CA `ca` (PEM), for tests that
/// drive TLS by hand.
pub(crate) fn client_config(ca: &str) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}
