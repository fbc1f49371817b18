//! The blocking example driver against the real server over loopback: a
//! 50 MB upload through a part answered 503, one answered 429 and a commit
//! whose answer is lost, downloaded back and compared; Ctrl-C mid-upload,
//! then a resume from the checkpoint that sends only the missing parts; and
//! an abort that deletes the session.

use box_chunked_server::faults::FaultSpec;
use box_chunked_tests::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const DRIVER: &str = env!("CARGO_BIN_EXE_box-chunked-blocking");
/// Box's part size for files of these sizes.
const PART: u64 = 8 << 20;

fn driver(ts: &TestServer, file: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(DRIVER);
    c.args(["--api", &format!("{}/2.0", ts.url)])
        .args(["--upload", &format!("{}/api/2.0", ts.url)])
        .args(["--token", ALICE, "--parallel", "3"])
        .args(extra)
        .arg(file);
    c
}

fn id_of(o: &Output) -> String {
    let text = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap();
    v["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_through_a_503_a_429_and_a_lost_commit_answer() {
    let ts = TestServer::start(|c| {
        c.part_size = Some(PART);
        c.faults = FaultSpec::parse("part:503@#2,part:429=1@#3,commit:lose@first1").unwrap();
    })
    .await;
    let dir = TempDir::new("blocking");
    let data = pseudo_random(50_000_000, 5);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let o = driver(&ts, &file, &[]).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("upload part") && err.contains("commit: attempt 1 failed"),
        "{err}"
    );
    let http = Http::new();
    let got = http
        .download(
            &format!("{}/2.0/files/{}/content", ts.url, id_of(&o)),
            ALICE,
        )
        .await;
    assert_eq!(sha1(&got.body), sha1(&data));
    let c = ts.settled(&http).await;
    assert_eq!(c["faults_injected"], 3, "{c}");
    assert_eq!(c["files_committed"], 1, "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_the_checkpoint_and_a_resume_sends_only_what_is_missing() {
    // Slow parts, so that Ctrl-C comes mid-upload.
    let ts = TestServer::start(|c| {
        c.part_size = Some(PART);
        c.faults = FaultSpec::parse("part:delay=400@1").unwrap();
    })
    .await;
    let http = Http::new();
    let dir = TempDir::new("blocking-resume");
    let data = pseudo_random(60_000_000, 6);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let cp = dir.path().join("big.checkpoint");
    let cps = cp.to_str().unwrap().to_owned();
    let mut child = driver(&ts, &file, &["--checkpoint", &cps])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once two parts are in the checkpoint, Ctrl-C.
    for _ in 0..200 {
        let parts = std::fs::read_to_string(&cp)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map_or(0, |v| v["parts"].as_array().map_or(0, Vec::len));
        if parts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(6));
    assert!(cp.is_file(), "the checkpoint is kept");
    let before = ts.settled(&http).await["parts_stored"].as_u64().unwrap();
    assert!((2..8).contains(&before), "{before} parts before the stop");
    let r = http
        .put(&format!("{}/__box-chunked/faults", ts.local))
        .bearer(ADMIN)
        .body("")
        .send()
        .await;
    assert_eq!(r.status, 204, "clearing the faults");
    let o = driver(&ts, &file, &["--checkpoint", &cps])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming session"));
    let after = ts.settled(&http).await["parts_stored"].as_u64().unwrap();
    assert_eq!(
        after, 8,
        "only the missing parts were sent ({before} before)"
    );
    let got = http
        .download(
            &format!("{}/2.0/files/{}/content", ts.url, id_of(&o)),
            ALICE,
        )
        .await;
    assert_eq!(sha1(&got.body), sha1(&data));
    assert!(!cp.exists(), "a committed upload's checkpoint is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_deletes_the_session() {
    let ts = TestServer::start(|c| c.part_size = Some(PART)).await;
    let dir = TempDir::new("blocking-abort");
    let file = dir.path().join("big.bin");
    std::fs::write(&file, pseudo_random(30_000_000, 7)).unwrap();
    let cp = dir.path().join("cp.json");
    let o = driver(
        &ts,
        &file,
        &["--checkpoint", cp.to_str().unwrap(), "--abort-after", "1"],
    )
    .output()
    .unwrap();
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c = ts.settled(&Http::new()).await;
    assert_eq!(
        (
            c["sessions_aborted"].as_u64(),
            c["files_committed"].as_u64()
        ),
        (Some(1), Some(0)),
        "{c}"
    );
    assert!(!cp.exists());
}
