//! Through a proxy started by the test: every connection is a `CONNECT`
//! tunnel to the server (TLS end to end through it), the proxy URL's
//! credentials arrive as `Proxy-Authorization`, and the upload is whole.

use box_chunked_hyper::BoxClient;
use box_chunked_server::ServerTls;
use box_chunked_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_through_the_proxy_with_its_credentials() {
    let (ca, cert, key) = test_certificates();
    let ts = TestServer::start(move |c| {
        c.tls = Some(ServerTls {
            cert_chain_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
        });
    })
    .await;
    let (purl, seen) = connect_proxy().await;
    let with_auth = purl.replace("http://", "http://user:s3cret@");
    let c = BoxClient::builder()
        .token(ALICE)
        .base_url(&ts.url)
        .root_certificates_pem(ca.into_bytes())
        .proxy(with_auth)
        .one_shot_below(1)
        .build()
        .unwrap();
    let dir = TempDir::new("proxy");
    let data = pseudo_random(5000, 9);
    let path = dir.path().join("via-proxy.bin");
    std::fs::write(&path, &data).unwrap();
    let f = c
        .uploader()
        .upload_file("0", "via-proxy.bin", &path)
        .await
        .unwrap();
    assert_eq!(f.sha1, Some(sha1(&data)));
    assert_eq!(c.download_sha1(&f.id).await.unwrap().1, sha1(&data));
    let heads = seen.lock().unwrap().clone();
    let addr = ts.url.trim_start_matches("https://").to_owned();
    assert!(!heads.is_empty(), "the proxy saw the connections");
    for h in &heads {
        assert!(h.starts_with(&format!("CONNECT {addr} ")), "{h}");
        // Basic dXNlcjpzM2NyZXQ= is user:s3cret.
        assert!(
            h.to_ascii_lowercase()
                .contains("proxy-authorization: basic dxnlcjpzm2nyzxq="),
            "{h}"
        );
    }
    // A bad proxy URL is refused when the client is built.
    let e = BoxClient::builder()
        .token(ALICE)
        .base_url(&ts.url)
        .proxy("not a url")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("proxy must be an http URL"), "{e}");
    // And the credentials never show in an error.
    let dead = BoxClient::builder()
        .token(ALICE)
        .base_url(&ts.url)
        .proxy("http://user:s3cret@127.0.0.1:9")
        .build()
        .unwrap();
    let e = dead
        .uploader()
        .upload_file("0", "x.bin", &path)
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
}
