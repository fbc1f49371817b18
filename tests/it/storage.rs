//! Out of space and over quota: `507 insufficient_storage` at once, earlier
//! parts and files intact, the server still serving, the client keeping
//! the session when asked and resuming once space is freed; the per-user
//! quota and the largest size at create.

use box_chunked_hyper::{BoxClient, ErrorKind};
use box_chunked_tests::*;
use serde_json::json;
use std::process::Command;

fn client(ts: &TestServer) -> BoxClient {
    BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.local)
        .build()
        .unwrap()
}

async fn set_faults(http: &Http, ts: &TestServer, spec: &str) {
    let r = http
        .put(&format!("{}/__box-chunked/faults", ts.local))
        .bearer(ADMIN)
        .body(spec.to_owned())
        .send()
        .await;
    assert_eq!(r.status, 204);
}

async fn check_download(c: &BoxClient, id: &str, data: &[u8]) {
    let (size, sha) = c.download_sha1(id).await.unwrap();
    assert_eq!((size, sha), (data.len() as u64, sha1(data)));
}

/// A disk full at the third part (injected `ENOSPC`): `507` in Box's error
/// shape, not retried as a network failure; the session is kept when asked,
/// and resume finishes once space is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_and_the_upload_resumes_later() {
    let spec = box_chunked_server::faults::FaultSpec::parse("part:enospc@#3").unwrap();
    let ts = TestServer::start(move |c| c.faults = spec).await;
    let http = Http::new();
    let c = client(&ts);
    let dir = TempDir::new("enospc");
    let data = pseudo_random(6 * 1024, 90);
    let path = dir.path().join("full.bin");
    std::fs::write(&path, &data).unwrap();
    let ckpt = dir.path().join("full.checkpoint");
    let e = c
        .uploader()
        .parallelism(1)
        .keep_session(true)
        .checkpoint(&ckpt)
        .upload_file("0", "full.bin", &path)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(507), "{e}");
    assert_eq!(e.code(), Some("insufficient_storage"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Refused, "not a network failure: {e}");
    let counters = ts.counters(&http).await;
    assert_eq!(counters["faults_injected"], 1, "tried once: {counters}");
    assert_eq!(
        counters["parts_stored"], 2,
        "the parts before it are kept: {counters}"
    );
    // Space is back (no more faults): resume sends the rest.
    set_faults(&http, &ts, "").await;
    let f = c.uploader().resume(&ckpt).await.unwrap();
    check_download(&c, &f.id, &data).await;
    assert_eq!(ts.counters(&http).await["parts_stored"], 6);
}

/// The per-user quota refuses a session whose file does not fit, at
/// create; `file_size` of 2^63 or more is refused too.
#[tokio::test]
async fn the_quota_and_the_largest_size_are_checked_at_create() {
    let ts = TestServer::start(|c| c.quota = Some(10_000)).await;
    let http = Http::new();
    let c = client(&ts);
    let data = pseudo_random(6000, 91);
    let f = c
        .uploader()
        .upload(
            box_chunked_core::Target::NewFile {
                folder_id: "0".into(),
                name: "fits.bin".into(),
            },
            box_chunked_hyper::UploadSource::Bytes(data.clone().into()),
        )
        .await
        .unwrap();
    check_download(&c, &f.id, &data).await;
    let url = format!("{}/files/upload_sessions", ts.upload_root());
    let create = |size: u64, name: &str| {
        let body = json!({"folder_id": "0", "file_size": size, "file_name": name}).to_string();
        http.post(&url).bearer(ALICE).body(body).send()
    };
    let r = create(6000, "too-much.bin").await;
    assert_eq!(r.status, 403, "{:?}", r.json());
    assert_eq!(r.json()["code"], "storage_limit_exceeded");
    assert_eq!(create(4000, "still-fits.bin").await.status, 201);
    // Another user has a quota of their own.
    let r = http
        .post(&format!("{}/files/upload_sessions", ts.upload_root()))
        .bearer(BOB)
        .body(json!({"folder_id": "0", "file_size": 9000, "file_name": "bobs.bin"}).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201);
    let r = create(1 << 63, "huge.bin").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "invalid_file_size");
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Unmounts on drop, also when the test fails.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A real small filesystem (a 3 MiB tmpfs; needs root, which CI has): the
/// upload that fills it gets `507`, the server keeps serving, and once the
/// filesystem grows the kept session resumes and the file is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_full_filesystem_answers_507_and_recovers() {
    if !running_as_root() {
        eprintln!("not root: the tmpfs case runs in CI (as root) only");
        return;
    }
    let root = TempDir::new("tmpfs");
    let point = root.path().join("data");
    std::fs::create_dir_all(&point).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&point)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mounting a tmpfs as root");
    let _unmount = Mounted(point.clone());
    let ts = TestServer::start_in(TempDir::at(&point), |c| {
        c.part_size = Some(256 * 1024);
    })
    .await;
    let http = Http::new();
    let c = client(&ts);
    let data = pseudo_random(4 << 20, 92);
    let path = root.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let ckpt = root.path().join("big.checkpoint");
    let e = c
        .uploader()
        .parallelism(2)
        .keep_session(true)
        .checkpoint(&ckpt)
        .upload_file("0", "big.bin", &path)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(507), "{e}");
    // Still serving.
    let r = http
        .get(&format!("{}/2.0/folders/0", ts.local))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 200);
    // Space is freed: the filesystem grows.
    let remount = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&point)
        .status()
        .unwrap();
    assert!(remount.success());
    let f = c.uploader().resume(&ckpt).await.unwrap();
    check_download(&c, &f.id, &data).await;
    drop(ts.stop().await);
}
