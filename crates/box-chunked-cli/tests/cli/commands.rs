//! End-to-end tests of the built `box-chunked` binary: the demo, uploads to a
//! `serve` process, SIGKILL then resume, SIGINT, and every failure in the
//! list with its message and exit code.

use crate::support::*;
use box_chunked_tests::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// [`cli`] with every file chunked, however small (the test server takes
/// chunked uploads of any size).
fn chunked(s: &Serve, home: &Path) -> Command {
    let mut c = cli(s, home);
    c.env("BOX_CHUNKED_ONE_SHOT_BELOW", "1");
    c
}

fn wait_for_parts(checkpoint: &Path, n: usize) -> usize {
    for _ in 0..1000 {
        if let Ok(cp) = box_chunked_hyper::CheckpointFile::read(checkpoint) {
            if cp.upload.parts.len() >= n {
                return cp.upload.parts.len();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no checkpoint with {n} parts at {}", checkpoint.display());
}

#[test]
fn demo_uploads_downloads_and_compares() {
    let home = TempDir::new("cli-demo");
    let o = Command::new(BIN)
        .env("XDG_DATA_HOME", home.path())
        .args(["demo", "--size", "24M"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("matches the source"), "{out}");
    assert!(out.contains("MiB/s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_to_a_serve_process_prints_the_file_as_json() {
    let s = Serve::start(&[]);
    let home = TempDir::new("cli-home");
    let (path, data) = write_file(home.path(), "report.bin", 21 * MIB, 1);
    let o = chunked(&s, home.path())
        .args(["upload"])
        .arg(&path)
        .args(["--json", "--parallel", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let file = last_json(&o);
    assert_eq!(file["type"], "file");
    assert_eq!(file["name"], "report.bin");
    assert_eq!(file["size"], data.len());
    assert_eq!(file["sha1"], sha1(&data).to_hex());
    assert_eq!(
        s.download_sha1(file["id"].as_str().unwrap()).await,
        sha1(&data)
    );
    // The checkpoint is removed after success.
    let cps = std::fs::read_dir(home.path().join("box-chunked/checkpoints"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(cps, 0);
    // A new version of it, renamed; then status, parts and abort of another session.
    let (v2, data2) = write_file(home.path(), "v2.bin", 22 * MIB, 2);
    let id = file["id"].as_str().unwrap();
    let o = chunked(&s, home.path())
        .args(["upload"])
        .arg(&v2)
        .args([
            "--file",
            id,
            "--name",
            "report-v2.bin",
            "--json",
            "--no-progress",
            "--stats",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json(&o)["id"], id);
    // --stats: one line on stderr with this process's time, CPU and memory.
    let err = stderr(&o);
    let stats: Value = err
        .lines()
        .find_map(|l| l.strip_prefix("stats: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no stats line in {err}"));
    assert!(stats["wall_secs"].as_f64().unwrap() > 0.0, "{stats}");
    assert!(stats["cpu_secs"].as_f64().unwrap() >= 0.0, "{stats}");
    // The part buffers alone are several MiB.
    assert!(
        stats["peak_rss_bytes"].as_u64().unwrap() > 8 * MIB as u64,
        "{stats}"
    );
    assert_eq!(s.download_sha1(id).await, sha1(&data2));
    let created = Http::new()
        .post(&format!("{}/api/2.0/files/upload_sessions", s.url))
        .bearer(ALICE)
        .body(
            serde_json::json!({"folder_id": "0", "file_size": 30_000_000, "file_name": "x.bin"})
                .to_string(),
        )
        .send()
        .await
        .json();
    let sid = created["id"].as_str().unwrap();
    let o = chunked(&s, home.path())
        .args(["status", sid])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["id"], sid);
    assert_eq!(st["total_parts"], 4);
    let o = chunked(&s, home.path())
        .args(["parts", sid])
        .output()
        .unwrap();
    let parts: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(parts["total_count"], 0);
    let o = chunked(&s, home.path())
        .args(["abort", sid])
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = chunked(&s, home.path())
        .args(["status", sid])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("upload session {sid} was not found")),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_sends_only_what_is_missing() {
    let s = Serve::start(&[
        "--part-size",
        "1048576",
        "--min-file-size",
        "1",
        "--faults",
        "part:delay=60@1",
    ]);
    let home = TempDir::new("cli-kill");
    let (path, data) = write_file(home.path(), "big.bin", 40 * MIB, 3);
    let cp = home.path().join("big.checkpoint");
    let mut child = chunked(&s, home.path())
        .args(["upload"])
        .arg(&path)
        .args(["--parallel", "2", "--no-progress", "--checkpoint"])
        .arg(&cp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let at_kill = wait_for_parts(&cp, 6);
    signal(&child, "-KILL");
    let _ = child.wait();
    assert!(at_kill < 40);
    let o = chunked(&s, home.path())
        .args(["resume"])
        .arg(&cp)
        .args(["--json", "--no-progress"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let file = last_json(&o);
    assert_eq!(file["sha1"], sha1(&data).to_hex());
    assert_eq!(
        s.download_sha1(file["id"].as_str().unwrap()).await,
        sha1(&data)
    );
    let c = s.counters().await;
    assert_eq!(c["parts_stored"], 40, "{c}");
    // Only parts in flight at the kill (their answers lost) can come back as overlaps.
    assert!(c["parts_rejected_overlap"].as_u64().unwrap() <= 2, "{c}");
    assert!(!cp.exists(), "the checkpoint is removed after success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_keeps_a_checkpoint_and_a_second_one_aborts() {
    let s = Serve::start(&[
        "--part-size",
        "1048576",
        "--min-file-size",
        "1",
        "--faults",
        "part:delay=60@1",
    ]);
    let home = TempDir::new("cli-int");
    let (path, data) = write_file(home.path(), "int.bin", 30 * MIB, 4);
    let cp = home.path().join("int.checkpoint");
    let child = chunked(&s, home.path())
        .args(["upload"])
        .arg(&path)
        .args(["--parallel", "2", "--no-progress", "--checkpoint"])
        .arg(&cp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_parts(&cp, 3);
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("box-chunked resume"), "{}", stderr(&o));
    assert!(cp.exists());
    let o = chunked(&s, home.path())
        .args(["resume"])
        .arg(&cp)
        .args(["--json", "--no-progress"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());

    // Two Ctrl-C: the session is deleted.
    let cp2 = home.path().join("int2.checkpoint");
    let child = chunked(&s, home.path())
        .args(["upload"])
        .arg(&path)
        .args([
            "--name",
            "int2.bin",
            "--parallel",
            "2",
            "--no-progress",
            "--checkpoint",
        ])
        .arg(&cp2)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_parts(&cp2, 2);
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(s.counters().await["sessions_aborted"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_has_its_message_and_exit_code() {
    let s = Serve::start(&[]);
    let home = TempDir::new("cli-fail");
    let run = |args: &[&str]| chunked(&s, home.path()).args(args).output().unwrap();
    let check = |o: &Output, code: i32, needle: &str| {
        assert_eq!(o.status.code(), Some(code), "{}", stderr(o));
        let err = stderr(o);
        assert!(err.contains(needle), "{needle:?} not in {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    };
    check(&run(&["upload", "/no/such/file"]), 2, "does not exist");
    // A directory is a job into a folder; not a new version of one file.
    check(
        &run(&["upload", home.path().to_str().unwrap(), "--file", "1"]),
        2,
        "uploads one file as a new version",
    );
    check(
        &run(&["upload", "/no/such/file", home.path().to_str().unwrap()]),
        2,
        "does not exist",
    );
    let (small, _) = write_file(home.path(), "small.bin", 1000, 5);
    check(
        &run(&["upload", small.to_str().unwrap()]),
        3,
        "too small for a chunked upload",
    );
    let (big, data) = write_file(home.path(), "big.bin", 21 * MIB, 6);
    let o = Command::new(BIN)
        .env("XDG_DATA_HOME", home.path())
        .args([
            "--token",
            "wrong",
            "--api-url",
            &format!("{}/2.0", s.url),
            "--upload-url",
            &format!("{}/api/2.0", s.url),
            "upload",
        ])
        .arg(&big)
        .output()
        .unwrap();
    check(&o, 3, "the token came from --token");
    let o = Command::new(BIN)
        .env("XDG_DATA_HOME", home.path())
        .args([
            "--token",
            "t",
            "--api-url",
            "http://127.0.0.1:9/2.0",
            "--upload-url",
            "http://127.0.0.1:9/api/2.0",
            "upload",
        ])
        .arg(&big)
        .output()
        .unwrap();
    check(&o, 4, "could not reach");
    let o = Command::new(BIN)
        .env("XDG_DATA_HOME", home.path())
        .env_remove("BOX_ACCESS_TOKEN")
        .args(["--api-url", "http://127.0.0.1:9/2.0", "upload"])
        .arg(&big)
        .output()
        .unwrap();
    check(&o, 2, "no credentials");
    let bad = home.path().join("bad.checkpoint");
    std::fs::write(&bad, b"{not a checkpoint").unwrap();
    check(
        &run(&["resume", bad.to_str().unwrap()]),
        2,
        "not a box-chunked checkpoint",
    );
    check(
        &run(&["upload", big.to_str().unwrap(), "--parallel", "0"]),
        2,
        "--parallel",
    );
    // None of these left a session behind.
    let c = s.counters().await;
    assert_eq!(c["sessions_created"], 0, "{c}");

    // A checkpoint whose source changed: exit 5, and the session is deleted.
    let slow = Serve::start(&["--faults", "part:delay=100@1"]);
    let cp = home.path().join("changed.checkpoint");
    let child = chunked(&slow, home.path())
        .args(["upload"])
        .arg(&big)
        .args(["--parallel", "1", "--no-progress", "--checkpoint"])
        .arg(&cp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_parts(&cp, 1);
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(6));
    let mut changed = data.clone();
    changed[7] ^= 1;
    std::fs::write(&big, &changed).unwrap();
    let o = chunked(&slow, home.path())
        .args(["resume"])
        .arg(&cp)
        .output()
        .unwrap();
    check(&o, 5, "changed");
    let c = slow.counters().await;
    assert_eq!(c["sessions_aborted"], 1, "{c}");
    assert_eq!(c["files_committed"], 0, "{c}");
    // An unreadable file. Root reads any file whatever its mode, so under
    // root use a write-only sysfs attribute, which nobody can read.
    let (locked, _) = write_file(home.path(), "locked.bin", 100, 7);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let unreadable = if std::fs::read(&locked).is_err() {
        Some(locked.clone())
    } else {
        let sysfs = PathBuf::from("/sys/bus/pci/rescan");
        (sysfs.is_file() && std::fs::read(&sysfs).is_err()).then_some(sysfs)
    };
    match unreadable {
        Some(p) => check(&run(&["upload", p.to_str().unwrap()]), 2, "cannot read"),
        None => eprintln!("no unreadable file can be made here; that case is not exercised"),
    }
}

/// CPU seconds (user + system) a process has used, from `/proc`.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Out of file descriptors (a soft limit of 48, a connection cap set above
/// it), the server's accept loop backs off instead of spinning, and serves
/// again once the idle connections are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_backs_off_and_recovers() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = TempDir::new("cli-emfile");
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg("ulimit -n 48 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--token",
            &format!("{ALICE}=alice"),
        ])
        .args([
            "--admin-token",
            ADMIN,
            "--max-connections",
            "1000",
            "--header-timeout",
            "1.5",
        ])
        .arg("--data")
        .arg(dir.path())
        .stderr(Stdio::null());
    let server = Serve::spawn(c);
    let url = server.url.clone();
    let addr = url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..80 {
        if let Ok(s) = tokio::net::TcpStream::connect(&addr).await {
            held.push(s);
        }
    }
    let before = cpu_secs(server.child.id());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_secs(server.child.id()) - before;
    assert!(
        spent < 0.5,
        "the accept loop spun: {spent} CPU seconds in 1 s"
    );
    drop(held);
    // The idle connections time out (1.5 s); then the server serves again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let http = Http::new();
    let r = http
        .get(&format!("{url}/2.0/folders/0"))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 200);
    let c = http
        .get(&format!("{url}/__box-chunked/counters"))
        .bearer(ADMIN)
        .send()
        .await
        .json();
    assert!(c["accept_errors"].as_u64().unwrap() > 0, "{c}");
}

/// The source rewritten in place, appended to, truncated or replaced while
/// it uploads: each ends with exit code 5 and a sentence saying what
/// changed, nothing is committed, and the session is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_changed_during_the_upload_is_never_committed() {
    let s = Serve::start(&[
        "--part-size",
        "1048576",
        "--min-file-size",
        "1",
        "--faults",
        "part:delay=50@1",
    ]);
    let home = TempDir::new("cli-changed");
    let modes = ["rewrite", "append", "truncate", "replace"];
    for (n, mode) in modes.iter().enumerate() {
        let (path, _) = write_file(home.path(), &format!("{mode}.bin"), 8 * MIB, 10 + n as u64);
        let cp = home.path().join(format!("{mode}.checkpoint"));
        let child = chunked(&s, home.path())
            .args(["upload"])
            .arg(&path)
            .args(["--parallel", "1", "--no-progress", "--checkpoint"])
            .arg(&cp)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_parts(&cp, 2);
        match *mode {
            "rewrite" => {
                use std::io::Write as _;
                let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.write_all(&pseudo_random(8 * MIB, 99)).unwrap();
            }
            "append" => {
                use std::io::Write as _;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(&[7u8; 1000]).unwrap();
            }
            "truncate" => {
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(4 * MIB as u64).unwrap();
            }
            _ => {
                let tmp = home.path().join("new.bin");
                std::fs::write(&tmp, pseudo_random(8 * MIB, 98)).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
            }
        }
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(5), "{mode}: {err}");
        assert!(
            err.contains("changed") || err.contains("modified") || err.contains("replaced"),
            "{mode}: {err}"
        );
        assert!(err.contains("nothing was committed"), "{mode}: {err}");
        assert!(
            !err.contains("Modified {") && !err.contains("detail:"),
            "no Debug output: {err}"
        );
        eprintln!("{mode}: {}", err.lines().last().unwrap_or(""));
    }
    let c = s.counters().await;
    assert_eq!(c["files_committed"], 0, "{c}");
    assert_eq!(c["commits"], 0, "{c}");
    assert_eq!(c["sessions_aborted"], 4, "{c}");
}

/// `--api-url` alone derives the upload and OAuth URLs on the same origin
/// (box-chunked's layout), and `--base-url` sets all three: the file goes to
/// the local server, never to Box's upload host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_url_is_enough_for_a_local_server() {
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("cli-one-url");
    let (path, data) = write_file(home.path(), "one.bin", 300 * 1024, 21);
    for flags in [
        vec!["--api-url".to_owned(), format!("{}/2.0", s.url)],
        vec!["--base-url".to_owned(), s.url.clone()],
    ] {
        let o = Command::new(BIN)
            .env("XDG_DATA_HOME", home.path())
            .env_remove("BOX_ACCESS_TOKEN")
            .args(["--token", ALICE])
            .args(&flags)
            .args(["upload", "--json", "--no-progress", "--name"])
            .arg(format!("one-{}.bin", flags[0].trim_start_matches("--")))
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    }
}

/// With explicit URLs and a token on the command line, Ctrl-C prints a
/// resume command; pasted as printed (with the same token), it finishes the
/// upload: the checkpoint recorded the URLs. `jobs` lists a pending upload
/// with its resume command, and `abort CHECKPOINT` deletes its session and
/// its checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_resume_command_works_as_printed() {
    let s = Serve::start(&[
        "--part-size",
        "1048576",
        "--min-file-size",
        "1",
        "--faults",
        "part:delay=40@1",
    ]);
    let home = TempDir::new("cli-hint");
    let (path, data) = write_file(home.path(), "hint.bin", 12 * MIB, 31);
    let mut child = chunked(&s, home.path())
        .args(["upload"])
        .arg(&path)
        .args(["--parallel", "2", "--no-progress"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let cp = PathBuf::from(
        first
            .strip_prefix("checkpoint: ")
            .and_then(|r| r.split(" (if interrupted").next())
            .unwrap_or_else(|| panic!("{first}")),
    );
    wait_for_parts(&cp, 3);
    signal(&child, "-INT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(6), "{rest}");
    let printed = rest
        .lines()
        .rev()
        .find_map(|l| l.split("resume with: ").nth(1))
        .unwrap_or_else(|| panic!("no resume command in {rest}"))
        .to_owned();
    assert!(
        printed.contains("--token"),
        "the hint names the credential's flag: {printed}"
    );

    // jobs lists it.
    let j = Command::new(BIN)
        .env("XDG_DATA_HOME", home.path())
        .args(["jobs", "--json"])
        .output()
        .unwrap();
    let line: Value =
        serde_json::from_str(String::from_utf8_lossy(&j.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["size"], 12 * MIB);
    assert!(line["resume"]
        .as_str()
        .unwrap()
        .contains("box-chunked resume"));

    // The printed command, as printed.
    let cmd = printed_commands(&printed).remove(0);
    let o = paste(
        &format!("{cmd} --json --no-progress"),
        home.path(),
        Some(ALICE),
    );
    assert!(o.status.success(), "{printed}: {}", stderr(&o));
    assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    assert!(!cp.exists(), "the checkpoint is removed after success");
    assert!(
        !std::fs::read_dir(cp.parent().unwrap())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("resume")),
        "no side files"
    );

    // Another, interrupted, then aborted by its checkpoint.
    let mut child = chunked(&s, home.path())
        .args(["upload"])
        .arg(&path)
        .args([
            "--name",
            "second.bin",
            "--parallel",
            "1",
            "--no-progress",
            "--checkpoint",
        ])
        .arg(home.path().join("second.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_parts(&home.path().join("second.json"), 1);
    signal(&child, "-INT");
    let _ = child.wait();
    let before = s.counters().await["sessions_aborted"].as_u64().unwrap();
    let o = chunked(&s, home.path())
        .args(["abort"])
        .arg(home.path().join("second.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!home.path().join("second.json").exists());
    assert_eq!(
        s.counters().await["sessions_aborted"].as_u64().unwrap(),
        before + 1
    );
}

/// Tokens ending in `=` (base64 padding) work as given, also from a tokens
/// file (kept off the command line); a non-loopback address is warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padded_tokens_from_a_file_work_as_given() {
    let home = TempDir::new("cli-tokens");
    let file = home.path().join("tokens");
    std::fs::write(&file, "# users\nYWxpY2U=\nYm9i===bob\n\n").unwrap();
    let data_dir = home.path().join("data");
    let mut c = Command::new(BIN);
    c.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--min-file-size",
        "1",
        "--tokens-file",
    ])
    .arg(&file)
    .arg("--data")
    .arg(&data_dir)
    .stderr(Stdio::null());
    let server = Serve::spawn(c);
    let url = server.url.clone();
    let http = Http::new();
    for (token, ok) in [
        ("YWxpY2U=", true),
        ("Ym9i==", true),
        ("YWxpY2U", false),
        ("Ym9i", false),
    ] {
        let r = http
            .get(&format!("{url}/2.0/folders/0"))
            .bearer(token)
            .send()
            .await;
        assert_eq!(r.status == 200, ok, "{token}: {}", r.status);
    }
    let (path, data) = write_file(home.path(), "padded.bin", 100 * 1024, 41);
    let o = Command::new(BIN)
        .env("XDG_DATA_HOME", home.path())
        .env("BOX_ACCESS_TOKEN", "YWxpY2U=")
        .args(["--base-url", &url, "upload", "--json", "--no-progress"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    drop(server);

    // Not loopback: a warning, before anything else.
    let mut wide = Command::new(BIN)
        .args(["serve", "--addr", "0.0.0.0:0", "--token", "x=y", "--data"])
        .arg(home.path().join("wide"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut warn = String::new();
    BufReader::new(wide.stderr.take().unwrap())
        .read_line(&mut warn)
        .unwrap();
    let _ = wide.kill();
    let _ = wide.wait();
    assert!(
        warn.starts_with("warning:") && warn.contains("not a loopback address"),
        "{warn}"
    );
}

/// A link model that is not one: a usage error naming the setting, and no server.
#[test]
fn a_link_that_is_not_one_is_a_usage_error() {
    let home = TempDir::new("link");
    let o = Command::new(BIN)
        .args(["serve", "--link", "transatlantic,rtt=90", "--data"])
        .arg(home.path().join("link"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--link: rtt=90: a time needs a unit: ms or s"),
        "{}",
        stderr(&o)
    );
}

/// What a person sees: the session when it is made (and its id in
/// `--json`), a commit that Box is still processing, plain lines without
/// colour codes when stderr is not a terminal, nothing but errors with
/// `-q`, sizes in human units, and `--parallel` bounded everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_person_sees() {
    let s = Serve::start(&[
        "--min-file-size",
        "1M",
        "--part-size",
        "1M",
        "--faults",
        "commit:202=1@first1",
    ]);
    let home = TempDir::new("cli-sees");
    let (path, data) = write_file(home.path(), "seen.bin", 3 * MIB, 51);
    let o = chunked(&s, home.path())
        .env_remove("NO_COLOR")
        .args(["-v", "upload", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let file = last_json(&o);
    assert_eq!(file["sha1"], sha1(&data).to_hex());
    let sid = file["upload_session_id"]
        .as_str()
        .expect("the session id is in --json");
    assert!(
        err.contains(&format!("session {sid}: 3 parts of 1.00 MiB for 3.00 MiB")),
        "{err}"
    );
    assert!(
        err.contains("committing: Box is still processing the file"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes off a terminal: {err}"
    );
    assert!(err.contains("confirmed") && err.contains("sent"), "{err}");

    // -q: only errors.
    let o = chunked(&s, home.path())
        .args(["-q", "upload", "--name", "quiet.bin"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = chunked(&s, home.path())
        .args(["-q", "upload", "--name", "quiet.bin"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).starts_with("error: a file with this name already exists"),
        "{}",
        stderr(&o)
    );

    // --parallel outside 1..=64 is refused by every command that takes it.
    for args in [
        vec!["upload", "--parallel", "0", path.to_str().unwrap()],
        vec!["resume", "--parallel", "65", "x.json"],
        vec!["demo", "--parallel", "0"],
    ] {
        let o = chunked(&s, home.path()).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("1 to 64"), "{args:?}: {}", stderr(&o));
    }
}

/// SIGTERM is the first Ctrl-C: the session and the checkpoint are kept
/// (exit 6), and the resume says what it found on the server and counts
/// only the bytes it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_the_session_and_the_resume_tells_what_it_found() {
    let s = Serve::start(&[
        "--part-size",
        "1M",
        "--min-file-size",
        "1",
        "--faults",
        "part:delay=40@1",
    ]);
    let home = TempDir::new("cli-term");
    let (path, data) = write_file(home.path(), "term.bin", 16 * MIB, 52);
    let cp = home.path().join("term.checkpoint");
    let child = chunked(&s, home.path())
        .args(["upload"])
        .arg(&path)
        .args(["--parallel", "2", "--checkpoint"])
        .arg(&cp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_parts(&cp, 4);
    signal(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(6), "{err}");
    assert!(
        err.contains("terminated (SIGTERM): the session is kept"),
        "{err}"
    );
    let after = err.split("terminated").nth(1).unwrap_or("");
    assert!(!after.contains("progress:"), "the display stops: {after}");
    let o = chunked(&s, home.path())
        .args(["resume"])
        .arg(&cp)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&sha1(&data).to_hex()), "{out}");
    assert!(
        err.contains("parts were already on Box and their bytes verified"),
        "{err}"
    );
    assert!(
        err.contains("(the rest was already on the server)"),
        "{err}"
    );
}
