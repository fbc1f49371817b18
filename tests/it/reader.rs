//! How the uploader reads a file source: the reader thread reads and
//! hashes every part in the machine's order, so the state machine hashes
//! none again.

use crate::client::{check_download, client};
use box_chunked_core::Target;
use box_chunked_hyper::{fingerprint, UploadEvent, UploadSource};
use box_chunked_tests::*;
use std::sync::{Arc, Mutex};

fn new_file(name: &str) -> Target {
    Target::NewFile {
        folder_id: "0".into(),
        name: name.into(),
    }
}

/// A file's parts are read and hashed by the reader thread in the
/// machine's order, every one of them, however many reads are awaited at
/// once (one task per read used to reach the thread out of order, and the
/// state machine then hashed most parts again after the fact).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_hashes_every_part_of_a_file_as_it_reads() {
    let ts = TestServer::start(|c| c.part_size = Some(4096)).await;
    let c = client(&ts);
    let dir = TempDir::new("hashed");
    let path = dir.path().join("f.bin");
    let data = pseudo_random(4096 * 300, 12);
    std::fs::write(&path, &data).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let f = c
        .uploader()
        .parallelism(8)
        .on_event(move |e| ev.lock().unwrap().push(e.clone()))
        .upload(new_file("hashed.bin"), UploadSource::Path(path))
        .await
        .unwrap();
    check_download(&c, &f.id, &data).await;
    assert_eq!(hashing(&events), Some((300, 300, data.len() as u64)));
}

/// A first version of `data` (written to `f.bin` in `dir`), uploaded as
/// `name` through the chunked machine: the file's path and id.
async fn first_version(
    ts: &TestServer,
    dir: &TempDir,
    name: &str,
    data: &[u8],
) -> (std::path::PathBuf, String) {
    let path = dir.path().join("f.bin");
    std::fs::write(&path, data).unwrap();
    let first = client(ts)
        .uploader()
        .one_shot_below(0)
        .upload(new_file(name), UploadSource::Path(path.clone()))
        .await
        .unwrap();
    (path, first.id)
}

fn new_version(file_id: &str) -> Target {
    Target::NewVersion {
        file_id: file_id.into(),
        name: None,
        if_match: None,
    }
}

/// What an upload's `Hashing` event says: parts hashed while read, parts,
/// bytes of the source read.
fn hashing(events: &Mutex<Vec<UploadEvent>>) -> Option<(u64, u64, u64)> {
    events.lock().unwrap().iter().find_map(|e| match e {
        UploadEvent::Hashing {
            parts_hashed_while_read,
            parts,
            bytes_read,
        } => Some((*parts_hashed_while_read, *parts, *bytes_read)),
        _ => None,
    })
}

/// A new version with one part changed reads the file once: the pass that
/// computes the plan's SHA-512s also hashes every part for the upload, the
/// parts the server has are verified from those digests, and only the
/// changed part is read again (to be sent). It used to read the whole file
/// twice. The changed part is sent as soon as the plan misses it, from the
/// pass's digests, so the machine finds all 41 parts stored and verified
/// by the pass (before, it read and hashed the changed one itself: 40).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_with_one_part_changed_reads_the_file_once() {
    const PART: usize = 64 << 10;
    let ts = TestServer::start(|c| c.part_size = Some(PART as u64)).await;
    let c = client(&ts);
    let dir = TempDir::new("one-pass");
    let mut data = pseudo_random(PART * 40 + 1000, 13);
    let (path, id) = first_version(&ts, &dir, "one-pass.bin", &data).await;
    for b in &mut data[PART * 17 + 5..PART * 17 + 9] {
        *b ^= 0xff;
    }
    std::fs::write(&path, &data).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let put = c
        .uploader()
        .one_shot_below(0)
        .parallelism(8)
        .on_event(move |e| ev.lock().unwrap().push(e.clone()))
        .put(new_version(&id), UploadSource::Path(path))
        .await
        .unwrap();
    assert_eq!(put.parts_planned, 40, "40 of 41 parts unchanged");
    check_download(&c, &id, &data).await;
    // The file once, and the changed part again to send it.
    let size = data.len() as u64;
    // Every part hashed by the pass, the changed one included.
    assert_eq!(hashing(&events), Some((41, 41, size + PART as u64)));
}

/// A changed part sent during the read pass and refused (the server's
/// disk is full for that request) is sent again by the upload itself: the
/// new version is exact, the machine hashes that part (40 of 41 from the
/// pass), and the bytes read count both reads of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_refused_during_the_read_pass_is_sent_by_the_upload() {
    const PART: usize = 64 << 10;
    let ts = TestServer::start(|c| c.part_size = Some(PART as u64)).await;
    let c = client(&ts);
    let dir = TempDir::new("early-refused");
    let mut data = pseudo_random(PART * 40 + 1000, 15);
    let (path, id) = first_version(&ts, &dir, "early.bin", &data).await;
    data[PART * 17 + 5] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let set = Http::new()
        .put(&format!("{}/__box-chunked/faults", ts.url))
        .bearer(ADMIN)
        .body("part:enospc@first1")
        .send()
        .await;
    assert_eq!(set.status, 204);
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let put = c
        .uploader()
        .one_shot_below(0)
        .on_event(move |e| ev.lock().unwrap().push(e.clone()))
        .put(new_version(&id), UploadSource::Path(path))
        .await
        .unwrap();
    assert_eq!(put.parts_planned, 40);
    check_download(&c, &id, &data).await;
    let size = data.len() as u64;
    assert_eq!(hashing(&events), Some((40, 41, size + 2 * PART as u64)));
}

/// A new version whose source changes between its read pass and the
/// upload, keeping its size and times, fails as a changed source: the
/// stored parts after the changed bytes are not verified from the pass's
/// digests, which no longer continue the file's chain (taken, they would
/// commit a whole-file SHA-1 of bytes no longer there). Ten parts differ,
/// more than are sent during the pass, so the machine reads some of them
/// after the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_changed_after_its_read_pass_is_not_committed() {
    const PART: usize = 64 << 10;
    let ts = TestServer::start(|c| c.part_size = Some(PART as u64)).await;
    let c = client(&ts);
    let dir = TempDir::new("one-pass-changed");
    let mut data = pseudo_random(PART * 40, 14);
    let (path, id) = first_version(&ts, &dir, "changed.bin", &data).await;
    for i in 3..13 {
        data[PART * i] ^= 1;
    }
    std::fs::write(&path, &data).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    let recorded = fingerprint(&meta);
    // Once the session's parts are known (after the pass and its early
    // sends, before the machine's reads), parts 3 to 12 change again, in
    // place, times kept.
    let p = path.clone();
    let flipped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = flipped.clone();
    let result = c
        .uploader()
        .one_shot_below(0)
        .parallelism(1)
        .on_event(move |e| {
            if matches!(
                e,
                UploadEvent::Core(box_chunked_core::Event::SessionReady { .. })
            ) && !f2.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let mut d = std::fs::read(&p).unwrap();
                for i in 3..13 {
                    d[PART * i + 7] ^= 1;
                }
                std::fs::write(&p, &d).unwrap();
                let f = std::fs::File::options().write(true).open(&p).unwrap();
                f.set_times(
                    std::fs::FileTimes::new()
                        .set_modified(meta.modified().unwrap())
                        .set_accessed(meta.accessed().unwrap()),
                )
                .unwrap();
            }
        })
        .put(new_version(&id), UploadSource::Path(path.clone()))
        .await;
    assert!(flipped.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(
        source_fingerprint(&path),
        recorded,
        "the change is invisible to the fingerprint"
    );
    let e = result.expect_err("a changed source must not be committed");
    assert_eq!(e.kind(), box_chunked_hyper::ErrorKind::SourceChanged, "{e}");
    assert!(e.to_string().contains("digests"), "{e}");
}

fn source_fingerprint(path: &std::path::Path) -> String {
    fingerprint(&std::fs::metadata(path).unwrap())
}

/// A file truncated while its parts are mapped (the reader maps a file's
/// parts instead of copying them) fails the upload as a changed source and
/// commits nothing, over plain HTTP (the kernel's copy of a vanished page
/// fails the write) and over HTTPS (rustls reads the page itself, which
/// raises `SIGBUS`: without the uploader's handler the test process dies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_truncated_under_its_mapped_parts_is_a_changed_source() {
    for tls in [false, true] {
        let (ca, cert, key) = test_certificates();
        let ts = TestServer::start(move |c| {
            c.part_size = Some(1 << 20);
            c.link = box_chunked_server::link::LinkModel::parse("conn=8MB").unwrap();
            if tls {
                c.tls = Some(box_chunked_server::ServerTls {
                    cert_chain_pem: cert.into_bytes(),
                    key_pem: key.into_bytes(),
                });
            }
        })
        .await;
        let http = Http::trusting(&ca, false);
        let c = box_chunked_hyper::BoxClient::builder()
            .token(ALICE)
            .base_url(&ts.url)
            .root_certificates_pem(ca.into_bytes())
            .build()
            .unwrap();
        let dir = TempDir::new("mapped-truncated");
        let path = dir.path().join("f.bin");
        std::fs::write(&path, pseudo_random(16 << 20, 15)).unwrap();
        let p = path.clone();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cut2 = cut.clone();
        let result = c
            .uploader()
            .one_shot_below(0)
            .parallelism(6)
            .on_event(move |e| {
                if matches!(
                    e,
                    UploadEvent::Core(box_chunked_core::Event::PartConfirmed { .. })
                ) && !cut2.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let f = std::fs::File::options().write(true).open(&p).unwrap();
                    f.set_len(5 << 19).unwrap();
                }
            })
            .upload(new_file("truncated.bin"), UploadSource::Path(path))
            .await;
        assert!(cut.load(std::sync::atomic::Ordering::SeqCst), "tls={tls}");
        let e = result.expect_err("a truncated source must not be committed");
        assert_eq!(
            e.kind(),
            box_chunked_hyper::ErrorKind::SourceChanged,
            "tls={tls}: {e}"
        );
        let counters = ts.counters(&http).await;
        assert_eq!(counters["files_committed"], 0, "tls={tls}: {counters}");
    }
}
