//! Jobs through the real binary: a tree of 200 files (0 B to 45 MB, nested
//! three deep, with a symlink) uploads as one job and every file's SHA-1 is
//! checked by download; the job killed with SIGKILL in the middle resumes
//! with no confirmed part sent again and no file uploaded twice; a re-run
//! with `--on-conflict skip` sends no byte. Also stdin with the right and
//! the wrong `--size`, and `--progress json`.

use crate::support::*;
use box_chunked_tests::*;
use serde_json::Value;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// 200 files: sizes from 0 B to 45 MB, three directories deep, plus a symlink.
fn make_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for i in 0..200usize {
        let dir = match i % 4 {
            0 => String::new(),
            1 => "one/".to_owned(),
            2 => "one/two/".to_owned(),
            _ => "one/two/three/".to_owned(),
        };
        let size = match i {
            0 => 0,
            1 => 45_000_000,
            2 => 21_000_000,
            3..=6 => 1_000_000 * i,
            _ => (i * 7919) % 100_000,
        };
        let rel = format!("tree/{dir}file-{i:03}.bin");
        let data = pseudo_random(size, i as u64);
        let p = root.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        files.push((rel, data));
    }
    std::os::unix::fs::symlink(
        root.join("tree/file-000.bin"),
        root.join("tree/one/link.bin"),
    )
    .unwrap();
    files
}

/// Every file is done in the job file (the truth: a file finished just
/// before the kill may have no printed line), with the id a printed line
/// gave when there is one, and downloads back identical.
async fn check_all(s: &Serve, files: &[(String, Vec<u8>)], reports: &[Value], job: &Value) {
    let http = Http::new();
    let entries = job["entries"].as_array().unwrap();
    for (rel, data) in files {
        let e = entries
            .iter()
            .find(|e| e["rel"] == rel.as_str())
            .unwrap_or_else(|| panic!("{rel} is not in the job"));
        assert_eq!(e["state"], "done", "{rel}: {e}");
        let id = e["id"].as_str().unwrap_or_else(|| panic!("{rel}: {e}"));
        if let Some(r) = reports.iter().find(|r| r["rel"] == rel.as_str()) {
            assert_eq!(
                r["id"].as_str(),
                Some(id),
                "{rel}: the printed id is the job's"
            );
        }
        let got = http
            .download(&format!("{}/2.0/files/{id}/content", s.url), ALICE)
            .await;
        assert_eq!(got.status, 200, "{rel}");
        assert_eq!(
            sha1(&got.body),
            sha1(data),
            "{rel} downloads back identical"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_uploads_as_one_job_resumes_after_sigkill_and_reruns_send_nothing() {
    // Parts are slowed so that the kill lands in the middle of the job.
    let s = Serve::start(&["--faults", "part:delay=150@1"]);
    let home = TempDir::new("job-home");
    let files = make_tree(home.path());
    let job = home.path().join("the.job");
    let mut first = cli(&s, home.path())
        .args([
            "upload",
            "--json",
            "--parallel",
            "2",
            "--files",
            "3",
            "--job",
        ])
        .arg(&job)
        .arg(home.path().join("tree"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some files are done and a chunked one has parts stored.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(&job).unwrap_or_default();
        let done = text.matches("\"state\": \"done\"").count();
        let chunked_under_way = std::fs::read_dir(home.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("the.file-"))
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("part_id")));
        if done >= 20 && chunked_under_way {
            break;
        }
        assert!(Instant::now() < deadline, "the job did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap(); // SIGKILL
    let out = first.wait_with_output().unwrap();
    let mut reports = lines(&out.stdout);
    let before = s.settled().await;
    // Resume: no confirmed part is sent again and no file is uploaded twice.
    let second = cli(&s, home.path())
        .args(["resume", "--json"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    reports.extend(lines(&second.stdout));
    let after = s.counters().await;
    assert_eq!(
        after["parts_rejected_overlap"], 0,
        "no stored part was sent again"
    );
    let uploads = |c: &Value| {
        c["files_committed"].as_u64().unwrap() + c["files_uploaded_one_shot"].as_u64().unwrap()
    };
    let mut ids = std::collections::HashMap::new();
    for r in &reports {
        if let (Some(rel), Some(id)) = (r["rel"].as_str(), r["id"].as_str()) {
            if let Some(old) = ids.insert(rel.to_owned(), id.to_owned()) {
                assert_eq!(old, id, "{rel} was uploaded twice: {r}");
            }
        }
    }
    // The server's counters can only miss an upload (a handler cancelled
    // by the kill after its commit), never count one twice; that each file
    // has exactly one version is checked below.
    assert!(
        uploads(&after) <= 200,
        "no file twice (the symlink is skipped): {before} {after}"
    );
    assert!(uploads(&before) < 200, "the kill came before the end");
    assert!(
        before["parts_stored"].as_u64().unwrap() > 0,
        "the kill came while a chunked file had parts stored"
    );
    let sessions = after["sessions_created"].as_u64().unwrap();
    assert!(
        sessions <= 3,
        "at most one session per chunked file ({sessions})"
    );
    let job_text = std::fs::read_to_string(&job).unwrap();
    let job_json: Value = serde_json::from_str(&job_text).unwrap();
    check_all(&s, &files, &reports, &job_json).await;
    assert!(
        job_text.contains("\"reason\": \"symlink\""),
        "the symlink is recorded as skipped"
    );
    // A re-run with --on-conflict skip sends no byte.
    let sent = after["bytes_received"].as_u64().unwrap();
    let third = cli(&s, home.path())
        .args(["upload", "--json", "--on-conflict", "skip", "--job"])
        .arg(home.path().join("again.job"))
        .arg(home.path().join("tree"))
        .output()
        .unwrap();
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    let skipped = lines(&third.stdout)
        .iter()
        .filter(|r| r["outcome"] == "skipped")
        .count();
    assert_eq!(
        skipped, 201,
        "200 files with the same content, and the symlink"
    );
    assert_eq!(s.counters().await["bytes_received"].as_u64().unwrap(), sent);
    // A re-run without a policy fails for every file, and says so in its exit code.
    let fourth = cli(&s, home.path())
        .args(["-q", "upload", "--job"])
        .arg(home.path().join("fail.job"))
        .arg(home.path().join("tree"))
        .output()
        .unwrap();
    assert_eq!(fourth.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&fourth.stderr).contains("200 of the job's files failed"));
}

#[test]
fn standard_input_with_the_right_and_the_wrong_size() {
    let s = Serve::start(&[]);
    let home = TempDir::new("stdin-home");
    for (size, data, code) in [
        (5000u64, pseudo_random(5000, 1), 0),
        (25_000_000, pseudo_random(25_000_000, 2), 0),
        (5001, pseudo_random(5000, 3), 5),
        (4000, pseudo_random(5000, 4), 5),
    ] {
        let mut child = cli(&s, home.path())
            .args(["upload", "-", "--json", "--progress", "json", "--name"])
            .arg(format!("stdin-{size}-{}.bin", data.len()))
            .args(["--size", &size.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feed = data.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&feed);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{size}: {err}");
        if code == 0 {
            let file = lines(&out.stdout).pop().unwrap();
            assert_eq!(file["sha1"], sha1(&data).to_hex());
            // --progress json: JSON lines with every field, ending in done.
            let progress: Vec<Value> = lines(&out.stderr);
            let last = progress
                .last()
                .unwrap_or_else(|| panic!("no progress lines: {err}"));
            assert_eq!(last["phase"], "done");
            for k in [
                "bytes_sent",
                "bytes_confirmed",
                "bytes_total",
                "parts_done",
                "parts_total",
                "retries",
            ] {
                assert!(last.get(k).is_some(), "{k} in {last}");
            }
        } else {
            assert!(err.contains("standard input"), "{err}");
        }
    }
    // Without --size, standard input is counted first (truth.rs).
}

/// With `--local` a job goes to the local server embedded in the
/// command, which listens on a new port each run: after SIGKILL, `resume`
/// (without `--local`: the job file records it) starts it again and points
/// the kept sessions at it, so a half-sent big
/// file continues (it is not uploaded again) and every file has one version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_to_the_embedded_server_resumes_after_sigkill() {
    let home = TempDir::new("job-embedded");
    let tree = home.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut files = Vec::new();
    for (name, size) in [
        ("a.bin", 45_000_000usize),
        ("b.bin", 30_000_000),
        ("c.txt", 1000),
    ] {
        let data = pseudo_random(size, size as u64);
        std::fs::write(tree.join(name), &data).unwrap();
        files.push((name, data));
    }
    let job = home.path().join("embedded.job");
    let run = || {
        let mut c = Command::new(BIN);
        c.env("XDG_DATA_HOME", home.path())
            .env_remove("BOX_ACCESS_TOKEN")
            .env_remove("BOX_CLIENT_ID")
            .env("BOX_CHUNKED_LOG", "box_chunked_hyper=info");
        c
    };
    let mut first = run()
        .args([
            "upload",
            "--local",
            "--parallel",
            "1",
            "--files",
            "1",
            "--bwlimit",
            "40M",
            "--job",
        ])
        .arg(&job)
        .arg(&tree)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let under_way = std::fs::read_dir(home.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("embedded.file-")
            })
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("part_id")));
        if under_way {
            break;
        }
        assert!(Instant::now() < deadline, "the job did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    let _ = first.wait();
    let second = run().args(["resume"]).arg(&job).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{err}");
    assert!(
        !err.contains("uploading it again"),
        "the kept session was resumed: {err}"
    );
    let text: Value = serde_json::from_str(&std::fs::read_to_string(&job).unwrap()).unwrap();
    // The server's data stays: serve it and check each file once, whole.
    let data_dir = home.path().join("box-chunked/embedded");
    let mut c = Command::new(BIN);
    c.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--token",
        &format!("{ALICE}=local"),
    ])
    .arg("--data")
    .arg(&data_dir)
    .stderr(Stdio::null());
    let server = Serve::spawn(c);
    let url = server.url.clone();
    let http = Http::new();
    for (name, data) in &files {
        let e = text["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["rel"] == format!("tree/{name}"))
            .unwrap();
        assert_eq!(e["state"], "done", "{e}");
        let id = e["id"].as_str().unwrap();
        let meta = http
            .get(&format!("{url}/2.0/files/{id}"))
            .bearer(ALICE)
            .send()
            .await
            .json();
        assert_eq!(meta["etag"], "0", "{name}: one version");
        let got = http
            .download(&format!("{url}/2.0/files/{id}/content"), ALICE)
            .await;
        assert_eq!(sha1(&got.body), sha1(data), "{name}");
    }
}
