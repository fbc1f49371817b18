//! `Uploader::put` against the real server: small and empty files in one
//! request after the check before upload, each conflict policy (no byte
//! sent when the name is taken), and a new version of a 256 MiB file with
//! 1 MiB changed, planned so that only the changed parts travel.

use box_chunked_core::Target;
use box_chunked_hyper::{BoxClient, OnConflict, PutOutcome, UploadSource};
use box_chunked_tests::*;
use bytes::Bytes;

fn client(ts: &TestServer) -> BoxClient {
    BoxClient::builder()
        .token(ALICE)
        .base_url(&ts.local)
        .build()
        .expect("client")
}

fn new_file(name: &str) -> Target {
    Target::NewFile {
        folder_id: "0".into(),
        name: name.into(),
    }
}

async fn received(ts: &TestServer, http: &Http) -> u64 {
    ts.counters(http).await["bytes_received"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_empty_files_go_up_in_one_request() {
    let ts = TestServer::start(|_| {}).await;
    let (c, http) = (client(&ts), Http::new());
    let dir = TempDir::new("put-small");
    let data = pseudo_random(5_000_000, 21);
    let path = dir.path().join("five.bin");
    std::fs::write(&path, &data).unwrap();
    let put = c
        .uploader()
        .put(new_file("five.bin"), UploadSource::Path(path))
        .await
        .unwrap();
    assert_eq!(put.outcome, PutOutcome::Uploaded);
    assert_eq!(
        (put.file.size, put.file.sha1),
        (Some(5_000_000), Some(sha1(&data)))
    );
    let (n, sha) = c.download_sha1(&put.file.id).await.unwrap();
    assert_eq!((n, sha), (5_000_000, sha1(&data)));
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let put = c
        .uploader()
        .put(new_file("empty"), UploadSource::Path(empty))
        .await
        .unwrap();
    assert_eq!(put.file.size, Some(0));
    assert_eq!(c.download_sha1(&put.file.id).await.unwrap().0, 0);
    // From memory and from a pipe too (spooled, so a retry can resend).
    let put = c
        .uploader()
        .put(
            new_file("mem.bin"),
            UploadSource::Bytes(Bytes::from_static(b"hello")),
        )
        .await
        .unwrap();
    assert_eq!(put.file.size, Some(5));
    let (mut w, r) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = w.write_all(&[7u8; 3000]).await;
    });
    let put = c
        .uploader()
        .put(
            new_file("pipe.bin"),
            UploadSource::Reader(Box::new(r), 3000),
        )
        .await
        .unwrap();
    assert_eq!(put.file.size, Some(3000));
    let k = ts.counters(&http).await;
    assert_eq!(k["files_uploaded_one_shot"], 4);
    assert_eq!(
        k["sessions_created"], 0,
        "no chunked session for a small file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_conflict_policy_and_no_byte_sent_for_a_taken_name() {
    let ts = TestServer::start(|_| {}).await;
    let (c, http) = (client(&ts), Http::new());
    let first = Bytes::from(pseudo_random(4000, 1));
    let other = Bytes::from(pseudo_random(4500, 2));
    let up = |policy, data: &Bytes| {
        let (c, data) = (c.clone(), data.clone());
        async move {
            c.uploader()
                .on_conflict(policy)
                .put(new_file("Report.pdf"), UploadSource::Bytes(data))
                .await
        }
    };
    let original = up(OnConflict::Error, &first).await.unwrap();
    // error (the default): refused at the check before upload.
    let before = received(&ts, &http).await;
    let e = up(OnConflict::Error, &other).await.unwrap_err();
    assert_eq!(e.code(), Some("item_name_in_use"), "{e}");
    assert_eq!(received(&ts, &http).await, before, "no byte sent");
    // skip: the same content is skipped without a byte; other content is an error.
    let same = up(OnConflict::Skip, &first).await.unwrap();
    assert_eq!(
        (same.outcome, same.file.id.clone()),
        (PutOutcome::Skipped, original.file.id.clone())
    );
    let e = up(OnConflict::Skip, &other).await.unwrap_err();
    assert!(e.to_string().contains("other content"), "{e}");
    assert_eq!(received(&ts, &http).await, before, "skip sends nothing");
    // rename: report (1).pdf, then report (2).pdf.
    let r1 = up(OnConflict::Rename, &other).await.unwrap();
    let r2 = up(OnConflict::Rename, &other).await.unwrap();
    assert_eq!(r1.outcome, PutOutcome::Renamed);
    assert_eq!(r1.file.name.as_deref(), Some("Report (1).pdf"));
    assert_eq!(r2.file.name.as_deref(), Some("Report (2).pdf"));
    // version: a new version of the file that has the name.
    let v = up(OnConflict::Version, &other).await.unwrap();
    assert_eq!(
        (v.outcome, v.file.id.clone()),
        (PutOutcome::Version, original.file.id.clone())
    );
    assert_eq!(c.download_sha1(&v.file.id).await.unwrap().1, sha1(&other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_with_one_mib_changed_sends_at_most_two_parts() {
    // Box's part-size policy: 256 MiB goes in 32 MiB parts.
    let ts = TestServer::start(|c| c.part_size = None).await;
    let (c, http) = (client(&ts), Http::new());
    let dir = TempDir::new("put-delta");
    let size = 256 << 20;
    let mut data = pseudo_random(size, 31);
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let first = c
        .uploader()
        .upload_file("0", "big.bin", &path)
        .await
        .unwrap();
    // 1 MiB changed across the boundary of parts 3 and 4.
    let at = (4 << 25) - (512 << 10);
    for b in &mut data[at..at + (1 << 20)] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &data).unwrap();
    let before = received(&ts, &http).await;
    let target = Target::NewVersion {
        file_id: first.id.clone(),
        name: None,
        if_match: None,
    };
    let put = c
        .uploader()
        .put(target, UploadSource::Path(path.clone()))
        .await
        .unwrap();
    let sent = received(&ts, &http).await - before;
    assert_eq!(put.outcome, PutOutcome::Version);
    assert_eq!(put.parts_planned, 6, "6 of 8 parts were unchanged");
    assert!(sent <= 2 * (32 << 20), "sent {sent} bytes");
    assert_eq!(put.file.id, first.id);
    assert_eq!(
        c.download_sha1(&first.id).await.unwrap(),
        (size as u64, sha1(&data))
    );
    // Without the plan, every part is sent.
    let before = received(&ts, &http).await;
    let target = Target::NewVersion {
        file_id: first.id.clone(),
        name: None,
        if_match: None,
    };
    c.uploader()
        .delta(false)
        .put(target, UploadSource::Path(path))
        .await
        .unwrap();
    assert_eq!(received(&ts, &http).await - before, size as u64);
}
