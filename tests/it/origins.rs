//! Credentials go only where they belong: a session endpoint or a
//! checkpoint URL at another origin is refused before anything is sent, and
//! a listener there never sees a token; plain http goes to loopback only.

use box_chunked_hyper::{BoxClient, ErrorKind, UploadSource};
use box_chunked_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A listener on another port that counts the connections it gets and
/// whether any carried a token.
struct Recorder {
    url: String,
    connections: Arc<AtomicUsize>,
    tokens: Arc<AtomicUsize>,
}

impl Recorder {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (connections, tokens) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (c, t) = (connections.clone(), tokens.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let t = t.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await
                    {
                        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                        if head.contains("authorization") || head.contains(ALICE) {
                            t.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        Self {
            url,
            connections,
            tokens,
        }
    }

    fn assert_untouched(&self) {
        assert_eq!(
            self.tokens.load(Ordering::SeqCst),
            0,
            "a token reached {}",
            self.url
        );
        assert_eq!(
            self.connections.load(Ordering::SeqCst),
            0,
            "nothing was sent to {}",
            self.url
        );
    }
}

/// A server whose `session_endpoints` name another origin (here through
/// its public URL): the upload fails with a clear error before any part is
/// sent there, and the other origin sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_session_endpoint_gets_no_token() {
    let rec = Recorder::start().await;
    let public = rec.url.clone();
    let ts = TestServer::start(move |c| c.public_url = Some(public)).await;
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.local)
        .build()
        .unwrap();
    let data = pseudo_random(5000, 80);
    let e = c
        .uploader()
        .upload(
            box_chunked_core::Target::NewFile {
                folder_id: "0".into(),
                name: "astray.bin".into(),
            },
            UploadSource::Bytes(data.into()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string().contains("refused to send the credentials"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(rec.url.trim_start_matches("http://")),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    rec.assert_untouched();
}

/// A checkpoint whose URLs were edited to point elsewhere: resume refuses
/// them before sending anything there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_checkpoint_gets_no_token() {
    let rec = Recorder::start().await;
    let spec = box_chunked_server::faults::FaultSpec::parse("part:delay=300@1").unwrap();
    let ts = TestServer::start(move |c| c.faults = spec).await;
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.local)
        .build()
        .unwrap();
    let dir = TempDir::new("edited-checkpoint");
    let path = dir.path().join("src.bin");
    std::fs::write(&path, pseudo_random(10 * 1024, 81)).unwrap();
    let ckpt = dir.path().join("src.checkpoint");
    // A fixed window: the upload is still running when it is interrupted.
    let up = c
        .uploader()
        .parallelism(4)
        .checkpoint(&ckpt)
        .keep_session(true);
    let _ = tokio::time::timeout(
        Duration::from_millis(500),
        up.upload_file("0", "src.bin", &path),
    )
    .await;
    let text = std::fs::read_to_string(&ckpt).expect("a checkpoint was written");
    assert!(text.contains(&ts.local));
    std::fs::write(&ckpt, text.replace(&ts.local, &rec.url)).unwrap();
    let e = c.uploader().resume(&ckpt).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string().contains("refused to send the credentials"),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    rec.assert_untouched();
}

/// A local API URL is never paired with Box's upload host: the builder
/// refuses the mix instead of sending the file and the token to Box.
#[test]
fn a_local_api_url_with_boxs_upload_host_is_refused() {
    let e = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .api_url("http://127.0.0.1:8080/2.0")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("mix Box's hosts"), "{e}");
    assert!(
        BoxClient::builder()
            .one_shot_below(1)
            .token(ALICE)
            .build()
            .is_ok(),
        "Box's own URLs"
    );
    assert!(BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url("http://127.0.0.1:8080")
        .build()
        .is_ok());
}

/// Credentials never travel in the clear off loopback: plain http to
/// another host is a configuration error unless allowed; loopback (v4 or
/// v6) is fine; no credentials at all is an error too.
#[tokio::test]
async fn plain_http_is_refused_off_loopback() {
    let e = BoxClient::builder()
        .one_shot_below(1)
        .token("t")
        .base_url("http://example.test")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(BoxClient::builder()
        .one_shot_below(1)
        .token("t")
        .base_url("http://example.test")
        .allow_http(true)
        .build()
        .is_ok());
    assert!(BoxClient::builder()
        .one_shot_below(1)
        .token("t")
        .base_url("http://[::1]:9")
        .build()
        .is_ok());
    assert!(
        BoxClient::builder()
            .one_shot_below(1)
            .base_url("http://127.0.0.1:9")
            .build()
            .is_err(),
        "no credentials"
    );
}

/// A download redirected to another origin (Box's download host) is
/// followed without the token: the other origin is reached and sees none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirected_download_gets_no_token() {
    let http = Http::new();
    let first = TestServer::start(|_| {}).await;
    let up = raw_upload(&http, &first.upload_root(), ALICE, "d.bin", b"some content").await;
    assert_eq!(up.status, 201, "{:?}", up.json());
    let id = up.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    let dir = first.stop().await;
    // Download URLs on another origin, as Box's are on its download host.
    let rec = Recorder::start().await;
    let public = rec.url.clone();
    let ts = TestServer::start_in(dir, move |c| {
        c.public_url = Some(public);
        c.download_redirect = true;
    })
    .await;
    let mut once = box_chunked_core::retry::RetryPolicy::default();
    once.max_attempts = 1;
    let c = BoxClient::builder()
        .token(ALICE)
        .base_url(&ts.local)
        .retry_policy(once)
        .build()
        .unwrap();
    let r = c.download_sha1(&id).await;
    assert!(r.is_err(), "the recorder serves nothing");
    assert_eq!(
        rec.tokens.load(Ordering::SeqCst),
        0,
        "a token reached {}",
        rec.url
    );
    assert!(
        rec.connections.load(Ordering::SeqCst) >= 1,
        "the redirect was not followed"
    );
}
