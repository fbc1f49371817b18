//! Resuming with box-chunked-hyper against the real server: in a second
//! process after the first was killed mid-upload, and when every part is
//! stored but the commit never happened.

use crate::client::{check_download, client, fast_retries};
use box_chunked_hyper::{BoxClient, ErrorKind};
use box_chunked_tests::*;
use std::time::Duration;

/// The first half of `resume_in_a_second_process`, which runs it as its
/// child process (`--ignored --exact`). On its own it is not a test: it is
/// ignored on a normal run, and fails when run without its parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of resume_in_a_second_process, which runs it"]
async fn child_process_upload() {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is unset: run resume_in_a_second_process instead"))
    };
    let (url, path, ckpt) = (
        var("BOX_CHUNKED_CHILD_URL"),
        var("BOX_CHUNKED_CHILD_FILE"),
        var("BOX_CHUNKED_CHILD_CHECKPOINT"),
    );
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&url)
        .build()
        .unwrap();
    let _ = c
        .uploader()
        .parallelism(2)
        .checkpoint(ckpt)
        .keep_session(true)
        .upload_file("0", "two-process.bin", path)
        .await;
    // The parent kills this process long before the upload ends.
    std::process::exit(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_in_a_second_process() {
    let spec = box_chunked_server::faults::FaultSpec::parse("part:delay=80@1").unwrap();
    let ts = TestServer::start(move |c| c.faults = spec).await;
    let dir = TempDir::new("two-process");
    let data = pseudo_random(60 * 1024 + 11, 8);
    let path = dir.path().join("source.bin");
    std::fs::write(&path, &data).unwrap();
    let ckpt = dir.path().join("upload.checkpoint");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "resume::child_process_upload",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("BOX_CHUNKED_CHILD_URL", &ts.local)
        .env("BOX_CHUNKED_CHILD_FILE", &path)
        .env("BOX_CHUNKED_CHILD_CHECKPOINT", &ckpt)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a checkpoint with a few parts, then kill -9.
    let mut parts_at_kill = 0;
    for _ in 0..400 {
        if let Ok(cp) = box_chunked_hyper::CheckpointFile::read(&ckpt) {
            parts_at_kill = cp.upload.parts.len();
            if parts_at_kill >= 6 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        parts_at_kill >= 6,
        "the child made progress before it was killed"
    );
    let stored_before = ts.counters(&Http::new()).await["parts_stored"]
        .as_u64()
        .unwrap();
    assert!(stored_before < 61, "the child was killed before the end");

    // The second process (here) resumes from the checkpoint file alone.
    let c = client(&ts);
    let f = c.uploader().resume(&ckpt).await.unwrap();
    check_download(&c, &f.id, &data).await;
    let counters = ts.counters(&Http::new()).await;
    assert_eq!(counters["parts_stored"], 61, "each part stored once");
    // Parts acknowledged to the killed process were not sent again (at most
    // those in flight at the kill, whose answers were lost, come back as 416).
    assert!(
        counters["parts_rejected_overlap"].as_u64().unwrap() <= 2,
        "{counters}"
    );

    // A source modified between runs: "source changed", and no commit.
    let dir2 = TempDir::new("two-process-changed");
    let path2 = dir2.path().join("source.bin");
    std::fs::write(&path2, &data).unwrap();
    let ckpt2 = dir2.path().join("upload.checkpoint");
    // A fixed window: the upload is still running when it is interrupted.
    let up = c
        .uploader()
        .parallelism(4)
        .keep_session(true)
        .checkpoint(&ckpt2);
    let fut = up.upload_file("0", "changed.bin", &path2);
    let _ = tokio::time::timeout(Duration::from_millis(600), fut).await;
    let mut changed = data.clone();
    changed[10] ^= 0xff;
    std::fs::write(&path2, &changed).unwrap();
    let e = c.uploader().resume(&ckpt2).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SourceChanged, "{e}");
    assert_eq!(ts.counters(&Http::new()).await["files_committed"], 1);
}

/// Every part is stored but the commit never happened: the resume sends no
/// part at all (0 bytes left), re-hashes the stored prefix, and commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_nothing_left_to_send() {
    let spec = box_chunked_server::faults::FaultSpec::parse("commit:500@first1000").unwrap();
    let ts = TestServer::start(move |c| c.faults = spec).await;
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.local)
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let dir = TempDir::new("nothing-left");
    let data = pseudo_random(5 * 1024, 10);
    let path = dir.path().join("done.bin");
    std::fs::write(&path, &data).unwrap();
    let ckpt = dir.path().join("done.checkpoint");
    let e = c
        .uploader()
        .keep_session(true)
        .checkpoint(&ckpt)
        .upload_file("0", "done.bin", &path)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NetworkExhausted, "{e}");
    assert_eq!(
        box_chunked_hyper::CheckpointFile::read(&ckpt)
            .unwrap()
            .upload
            .parts
            .len(),
        5
    );
    let http = Http::new();
    let cleared = http
        .put(&format!("{}/__box-chunked/faults", ts.local))
        .bearer(ADMIN)
        .send()
        .await;
    assert_eq!(cleared.status, 204);
    let f = c.uploader().resume(&ckpt).await.unwrap();
    check_download(&c, &f.id, &data).await;
    let counters = ts.counters(&http).await;
    assert_eq!(counters["parts_stored"], 5, "{counters}");
    assert_eq!(
        counters["parts_rejected_overlap"], 0,
        "nothing was sent again: {counters}"
    );
}
