//! The library as a program uses it: its own token provider failing with
//! its own error, causes chained, `SessionRef` shared by `&self`, part
//! errors that name the part, and answers read with a bound.

use box_chunked_hyper::{
    BoxClient, BoxFuture, Error, ErrorKind, Secret, TokenProvider, UploadSource,
};
use box_chunked_tests::*;
use bytes::Bytes;
use std::error::Error as _;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A provider whose vault is locked.
#[derive(Debug)]
struct Locked;

impl TokenProvider for Locked {
    fn token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        Box::pin(async { Err(Error::new(ErrorKind::Auth, "the vault is locked")) })
    }

    fn refresh<'a>(&'a self, _stale: &'a Secret) -> BoxFuture<'a, Result<Secret, Error>> {
        self.token()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_provider_can_fail_with_its_own_error() {
    let ts = TestServer::start(|_| {}).await;
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token_provider(Arc::new(Locked))
        .base_url(&ts.local)
        .build()
        .unwrap();
    let e = c
        .uploader()
        .upload(
            box_chunked_core::Target::NewFile {
                folder_id: "0".into(),
                name: "locked.bin".into(),
            },
            UploadSource::Bytes(Bytes::from_static(b"0123456789")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.to_string().contains("the vault is locked"), "{e}");
}

/// A `SessionRef` is used by `&self` (and shared by clones); a refused part
/// names its index; errors chain their causes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_refs_are_shared_and_name_their_parts() {
    let ts = TestServer::start(|_| {}).await;
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.local)
        .build()
        .unwrap();
    let session = c
        .folder("0")
        .create_upload_session(3000, "named.bin")
        .await
        .unwrap();
    let by_id = c.upload_session(session.id.clone());
    let shared = by_id.clone();
    let got = by_id.get().await.unwrap();
    assert_eq!(got.part_size, 1024);
    // A wrong SHA-1 for part 2 (bytes 2048..3000): the error says part 2.
    let wrong = box_chunked_proto::Sha1Digest([7; 20]);
    let e = shared
        .upload_part(Bytes::from(vec![1u8; 952]), 2048, 3000, Some(wrong))
        .await
        .unwrap_err();
    assert_eq!(
        e.operation(),
        Some(box_chunked_core::RequestKind::UploadPart { index: 2 }),
        "{e}"
    );
    assert!(e.to_string().contains("upload part 2"), "{e}");
    assert!(e.source().is_some(), "the core's error is the cause");
}

/// An answer larger than 16 MiB is refused, not held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let size = 17 << 20;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
                );
                let _ = s.write_all(head.as_bytes()).await;
                let chunk = vec![b' '; 1 << 20];
                for _ in 0..17 {
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&url)
        .build()
        .unwrap();
    let e = c.get_file("1").await.unwrap_err();
    assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
}
