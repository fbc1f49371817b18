//! What the command says is true at its edges: a forged commit answer is
//! not a result, a missing credential is not a success, a wrong id is not a
//! lost session, and every printed hint runs as printed.

use crate::support::*;
use box_chunked_tests::proxy::LyingProxy;
use box_chunked_tests::*;
use serde_json::Value;
use std::sync::Arc;

/// A commit (or one-shot) answer rewritten to name another SHA-1: the
/// command exits 8, prints no result, and says the session is used up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_commit_answer_is_not_a_result() {
    let forged = "0123456789abcdef0123456789abcdef01234567";
    let proxy = LyingProxy::start(Arc::new(move |method, path, status, body| {
        let answers_upload = path.ends_with("/commit") || path.ends_with("/content");
        if method != "POST" || status != 201 || !answers_upload {
            return None;
        }
        let mut v: Value = serde_json::from_slice(body).ok()?;
        v["entries"][0]["sha1"] = Value::from(forged);
        serde_json::to_vec(&v).ok()
    }))
    .await;
    let s = Serve::start(&["--min-file-size", "1", "--public-url", &proxy.url]);
    proxy.upstream.set(s.url.clone()).unwrap();
    let home = TempDir::new("cli-forged");
    for (name, size, one_shot_below) in [
        ("chunked.bin", 3 * MIB, "1"),
        ("small.bin", 1000, "20000000"),
    ] {
        let (path, _) = write_file(home.path(), name, size, 7);
        let o = cli_at(&proxy.url, home.path())
            .env("BOX_CHUNKED_ONE_SHOT_BELOW", one_shot_below)
            .args(["upload", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(8), "{name}: {err}");
        assert!(
            o.stdout.is_empty(),
            "{name}: a result was printed: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(
            err.contains(forged) && err.contains("not taken as the result"),
            "{err}"
        );
        if name == "chunked.bin" {
            assert!(err.contains("used up"), "{err}");
        }
    }
}

/// A command with no credential (a CI secret missing or misspelled) fails
/// with the usage code and the ways to sign in; nothing is sent anywhere:
/// not through the proxy every connection would take, and no embedded
/// server is started. `--local` and `BOX_CHUNKED_LOCAL=1` are how to ask
/// for the embedded server, and it says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_is_a_failure_and_nothing_is_sent() {
    let (proxy, seen) = connect_proxy().await;
    let home = TempDir::new("cli-nocred");
    let (path, data) = write_file(home.path(), "big.bin", 300 * 1024, 3);
    let bare = || {
        let mut c = std::process::Command::new(BIN);
        c.env("XDG_DATA_HOME", home.path())
            .env("HTTPS_PROXY", &proxy)
            .env("HTTP_PROXY", &proxy)
            .env_remove("NO_PROXY");
        without_credentials(&mut c);
        c
    };
    let p = path.to_str().unwrap();
    for args in [
        vec!["upload", p, "--folder", "0"],
        vec!["status", "SESSION1"],
        vec!["parts", "SESSION1"],
        vec!["abort", "SESSION1"],
    ] {
        let o = bare().args(&args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("no Box credentials were given") && err.contains("--local"),
            "{err}"
        );
        assert!(!err.contains("Using the local"), "{err}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(!home.path().join("box-chunked/embedded").exists());
    // Asked for, the embedded server takes it and says so.
    for how in ["flag", "env"] {
        let mut c = bare();
        c.args(["upload", "--json", "--name", &format!("{how}.bin"), p]);
        if how == "flag" {
            c.arg("--local");
        } else {
            c.env("BOX_CHUNKED_LOCAL", "1");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{how}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("nothing is sent to Box"),
            "{}",
            stderr(&o)
        );
        assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    }
    // --local with a server of its own is a contradiction, not a guess.
    let o = bare()
        .args(["upload", p, "--local", "--base-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--base-url"), "{}", stderr(&o));
}

/// A folder or file id that does not exist, or a URL that is not Box's
/// API, is named as such (never as a lost session), for one-shot and
/// chunked uploads and for a job, whose hint never points at its job file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ids_and_urls_are_named() {
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("cli-wrong-ids");
    let (big, _) = write_file(home.path(), "big.bin", 2 * MIB, 5);
    let (small, _) = write_file(home.path(), "small.bin", 2000, 6);
    let cases: [(&[&str], &str); 3] = [
        (
            &["--folder", "999"],
            "folder 999 was not found (or this user cannot see it)",
        ),
        (
            &["--file", "999999"],
            "file 999999 was not found (or this user cannot see it)",
        ),
        (&[], "has no root folder (folder 0)"),
    ];
    for (flags, said) in cases {
        for path in [&big, &small] {
            let mut c = cli(&s, home.path());
            if flags.is_empty() {
                // A base URL that leads to no Box API (a path prefix too many).
                c = cli_at(&format!("{}/x", s.url), home.path());
            }
            let o = c
                .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1000000")
                .args(["upload", "--no-progress"])
                .arg(path)
                .args(flags)
                .output()
                .unwrap();
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(3), "{flags:?}: {err}");
            assert!(err.contains(said), "{flags:?}: {err}");
            assert!(
                !err.contains("no longer exists") && !err.contains("again"),
                "{err}"
            );
        }
    }
    // Neither an id nor a path: said before anything is sent.
    let o = cli(&s, home.path())
        .args(["upload", "--no-progress"])
        .arg(&small)
        .args(["--folder", "dest"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("neither an id"), "{}", stderr(&o));
    // A job into a folder that does not exist.
    let tree = home.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::copy(&small, tree.join("a.bin")).unwrap();
    let o = cli(&s, home.path())
        .args(["upload", "--no-progress", "--folder", "999"])
        .arg(&tree)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("folder 999 was not found") && last.contains("check --folder"),
        "{err}"
    );
    assert!(
        !last.contains(".json"),
        "the hint names the job file: {err}"
    );
}

/// `status`, `parts` and `abort` of an id that names no session say so
/// (exit 3) instead of reporting an abort; `abort SESSION` of a real
/// session removes the checkpoint that names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_session_ids_are_not_found_and_abort_removes_the_checkpoint() {
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("cli-made-up");
    for cmd in ["status", "parts", "abort"] {
        for id in ["tree", "1234567"] {
            let o = cli(&s, home.path()).args([cmd, id]).output().unwrap();
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(3), "{cmd} {id}: {err}");
            assert!(
                err.contains(&format!("upload session {id} was not found")),
                "{err}"
            );
            assert!(
                o.stdout.is_empty(),
                "{cmd} {id}: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    // A real session, interrupted: its checkpoint names it.
    let (path, _) = write_file(home.path(), "slow.bin", 24 * MIB, 8);
    let mut up = cli(&s, home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args([
            "upload",
            "--no-progress",
            "--bwlimit",
            "2M",
            "--parallel",
            "1",
        ])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (cp, id) = loop {
        let found = checkpoints(home.path()).into_iter().find_map(|p| {
            let cp = box_chunked_hyper::CheckpointFile::read(&p).ok()?;
            Some((p, cp.upload.session.id))
        });
        if let Some(f) = found {
            break f;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    up.kill().unwrap();
    let _ = up.wait();
    let o = cli(&s, home.path()).args(["abort", &id]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("removed its checkpoint"), "{said}");
    assert!(
        !cp.exists(),
        "the checkpoint of the aborted session is still there"
    );
    let o = cli(&s, home.path()).args(["abort", &id]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

/// `kill -9` of an upload, then a `touch` of the unchanged source: resume
/// keeps the session and sends only the missing parts. A real change of
/// content in a stored part is refused (exit 5) in a sentence that names
/// the bytes, not raw metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_touch_goes_on_and_after_a_change_is_refused() {
    let s = Serve::start(&["--min-file-size", "1", "--part-size", "1048576"]);
    let home = TempDir::new("cli-touch");
    for change_content in [false, true] {
        let name = if change_content {
            "changed.bin"
        } else {
            "touched.bin"
        };
        let (path, data) = write_file(home.path(), name, 16 * MIB, 11);
        let (cp, stored) = interrupted_upload(&s, home.path(), &path);
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        if change_content {
            use std::os::unix::fs::FileExt as _;
            f.write_at(b"X", 10).unwrap(); // inside part 0, which is stored
        }
        f.set_modified(later).unwrap();
        drop(f);
        let before = s.counters().await["parts_stored"].as_u64().unwrap();
        let o = cli(&s, home.path())
            .args(["resume", "--json", "--no-progress"])
            .arg(&cp)
            .output()
            .unwrap();
        let err = stderr(&o);
        let sent = s.counters().await["parts_stored"].as_u64().unwrap() - before;
        if change_content {
            assert_eq!(o.status.code(), Some(5), "{err}");
            assert!(err.contains("bytes 0 to 1048575 (part 0)"), "{err}");
            assert!(
                !err.contains("mtime_ns") && !err.contains("inode="),
                "{err}"
            );
            assert_eq!(sent, 0, "{err}");
        } else {
            assert!(o.status.success(), "{err}");
            assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
            // A part in flight at the kill may have been stored unrecorded.
            assert!(
                sent <= 16 - stored && sent + 1 >= 16 - stored,
                "only the missing parts were sent ({sent} after {stored}): {err}"
            );
        }
    }
}

/// Starts a slow chunked upload of `path`, waits until its checkpoint
/// lists at least 3 parts, and kills it (SIGKILL): the checkpoint and the
/// number of parts it lists.
fn interrupted_upload(
    s: &Serve,
    home: &std::path::Path,
    path: &std::path::Path,
) -> (std::path::PathBuf, u64) {
    let before: std::collections::BTreeSet<_> = checkpoints(home).into_iter().collect();
    let mut up = cli(s, home)
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args([
            "upload",
            "--no-progress",
            "--bwlimit",
            "3M",
            "--parallel",
            "1",
        ])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let found = loop {
        let ready = checkpoints(home)
            .into_iter()
            .filter(|c| !before.contains(c))
            .find(|cp| {
                box_chunked_hyper::CheckpointFile::read(cp).is_ok_and(|c| c.upload.parts.len() >= 3)
            });
        if ready.is_some() || std::time::Instant::now() > deadline {
            break ready;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let _ = up.kill();
    let _ = up.wait();
    let cp = found.expect("a checkpoint with 3 parts within a minute");
    // Read again: the upload may have recorded more parts before the kill.
    // The file itself is always there (each write renames a whole one in).
    let parts = box_chunked_hyper::CheckpointFile::read(&cp)
        .unwrap()
        .upload
        .parts
        .len();
    (cp, parts as u64)
}

/// The checkpoint files under `home`: not the temporary files their atomic
/// writes rename into place (`.NAME.tmp`), which vanish at any moment.
fn checkpoints(home: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(home.join("box-chunked/checkpoints"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.') && n.ends_with(".json"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `jobs` after `kill -9` of a directory job lists the job (not "no
/// pending uploads") with a resume command that runs as printed from
/// another directory; an unreadable checkpoint is listed with why and
/// `--prune` removes it; a job that failed on taken names prints a command
/// with `--on-conflict` that, pasted into bash, finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_and_every_printed_hint_runs() {
    let s = Serve::start(&["--min-file-size", "1", "--part-size", "1048576"]);
    let home = TempDir::new("cli-hints");
    let tree = home.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for (i, size) in [6 * MIB, 5 * MIB, 3000].into_iter().enumerate() {
        std::fs::write(
            tree.join(format!("f{i}.bin")),
            pseudo_random(size, i as u64),
        )
        .unwrap();
    }
    // A relative job file and tree, from the home directory.
    let mut job = cli(&s, home.path())
        .current_dir(home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args([
            "upload",
            "--no-progress",
            "--bwlimit",
            "2M",
            "--files",
            "1",
            "--job",
            "my.job",
            "tree",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let file_cp = home.path().join("my.file-0.json");
    for _ in 0..3000 {
        if box_chunked_hyper::CheckpointFile::read(&file_cp)
            .is_ok_and(|c| !c.upload.parts.is_empty())
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = job.kill();
    let _ = job.wait();
    // The job file is where the user asked; jobs lists what is under the
    // data directory, so put an unreadable checkpoint there too.
    let cps = home.path().join("box-chunked/checkpoints");
    std::fs::create_dir_all(&cps).unwrap();
    std::fs::write(cps.join("broken.json"), b"{not json").unwrap();
    let jobs_dir = home.path().join("box-chunked/jobs");
    std::fs::create_dir_all(&jobs_dir).unwrap();
    std::fs::rename(home.path().join("my.job"), jobs_dir.join("my.json")).unwrap();
    let o = cli(&s, home.path()).arg("jobs").output().unwrap();
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(listed.contains("job into folder 0 (3 files)"), "{listed}");
    assert!(listed.contains("broken.json cannot be read"), "{listed}");
    let cmd = printed_commands(&listed)
        .into_iter()
        .find(|c| c.starts_with("box-chunked resume") && c.contains("my.json"))
        .unwrap_or_else(|| panic!("no resume command in {listed}"));
    let elsewhere = TempDir::new("cli-hints-elsewhere");
    let o = paste(
        &format!("cd {} && {cmd}", elsewhere.path().display()),
        home.path(),
        Some(ALICE),
    );
    assert!(o.status.success(), "{cmd}: {}", stderr(&o));
    let o = cli(&s, home.path())
        .args(["jobs", "--prune"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("removed"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!cps.join("broken.json").exists());
    // The same tree again: every name is taken, and the printed command
    // with another policy finishes it.
    let o = cli(&s, home.path())
        .args(["upload", "--no-progress"])
        .arg(&tree)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let cmd = printed_commands(err.lines().last().unwrap())
        .into_iter()
        .find(|c| c.contains("--on-conflict version"))
        .unwrap_or_else(|| panic!("no --on-conflict hint in {err}"));
    let o = paste(&cmd, home.path(), Some(ALICE));
    assert!(o.status.success(), "{cmd}: {}", stderr(&o));
}

/// Two sources bound for one name (Box's names ignore case), and `--name`
/// with several paths, are refused when the job is planned: exit 2,
/// naming both sources, and nothing reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_one_destination_for_two_sources_is_refused_before_any_byte() {
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("cli-dupes");
    for d in ["a", "b"] {
        std::fs::create_dir_all(home.path().join(d)).unwrap();
    }
    std::fs::write(home.path().join("a/x.bin"), b"one").unwrap();
    std::fs::write(home.path().join("b/X.bin"), b"two").unwrap();
    let before = s.counters().await;
    let o = cli(&s, home.path())
        .args(["upload", "--no-progress"])
        .arg(home.path().join("a/x.bin"))
        .arg(home.path().join("b/X.bin"))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a/x.bin") && err.contains("b/X.bin") && err.contains("both"),
        "{err}"
    );
    let o = cli(&s, home.path())
        .args(["upload", "--no-progress", "--name", "n.bin"])
        .arg(home.path().join("a"))
        .arg(home.path().join("b"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--name n.bin"), "{}", stderr(&o));
    let after = s.counters().await;
    // The counters request itself is the only one between the two reads.
    let sent = after["requests"].as_u64().unwrap() - before["requests"].as_u64().unwrap();
    assert!(sent <= 1, "{sent} requests were sent");
}

/// `--progress json` is complete machine output: every stderr line is
/// JSON; the first is `starting` with the checkpoint, the target and the
/// resume command; the session id appears once there is one; a failure
/// ends in `failed` with the sentence, its kind and the exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_json_is_complete() {
    let s = Serve::start(&["--min-file-size", "1", "--part-size", "1048576"]);
    let home = TempDir::new("cli-json");
    let (path, _) = write_file(home.path(), "j.bin", 3 * MIB, 4);
    for (flags, ok) in [
        (&["--folder", "0"][..], true),
        (&["--file", "999999"][..], false),
    ] {
        let o = cli(&s, home.path())
            .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
            .args(["upload", "--progress", "json"])
            .args(flags)
            .arg(&path)
            .output()
            .unwrap();
        let events: Vec<Value> = String::from_utf8_lossy(&o.stderr)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        let (first, last) = (&events[0], events.last().unwrap());
        assert_eq!(first["phase"], "starting", "{events:?}");
        assert!(
            first["checkpoint"]
                .as_str()
                .is_some_and(|c| c.ends_with(".json")),
            "{first}"
        );
        assert!(
            first["resume"]
                .as_str()
                .is_some_and(|c| c.starts_with("box-chunked resume")),
            "{first}"
        );
        if ok {
            assert!(o.status.success());
            assert_eq!(first["target"]["folder_id"], "0");
            assert!(
                events.iter().any(|e| e["session_id"].is_string()),
                "{events:?}"
            );
            assert_eq!(last["phase"], "done", "{events:?}");
        } else {
            assert_eq!(o.status.code(), Some(3));
            assert_eq!(first["target"]["file_id"], "999999");
            assert_eq!(last["phase"], "failed", "{events:?}");
            assert_eq!(last["kind"], "refused");
            assert_eq!(last["exit_code"], 3);
            assert!(
                last["error"]
                    .as_str()
                    .unwrap()
                    .contains("file 999999 was not found"),
                "{last}"
            );
        }
    }
}

/// `--checkpoint DIR` makes the checkpoint inside DIR; a place that cannot
/// be written is a usage error before any byte (and `--no-checkpoint` goes
/// without one); a checkpoint that fails later is said in one plain line,
/// and an interruption then says the upload cannot be resumed instead of
/// printing a resume command for a file that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_written_or_refused() {
    let s = Serve::start(&["--min-file-size", "1", "--part-size", "1048576"]);
    let home = TempDir::new("cli-cp");
    let (path, data) = write_file(home.path(), "c.bin", 2 * MIB, 9);
    let dir = home.path().join("cps");
    std::fs::create_dir_all(&dir).unwrap();
    let o = cli(&s, home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args(["upload", "--json", "--no-progress", "--checkpoint"])
        .arg(&dir)
        .arg(&path)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("checkpoint: {}/c.bin-", dir.display())),
        "{err}"
    );
    // A place under a file cannot be written: refused before any byte.
    let before = s.counters().await["requests"].as_u64().unwrap();
    let o = cli(&s, home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args(["upload", "--no-progress", "--name", "n.bin", "--checkpoint"])
        .arg(path.join("cp.json"))
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--no-checkpoint"), "{}", stderr(&o));
    assert!(
        s.counters().await["requests"].as_u64().unwrap() - before <= 1,
        "nothing was sent"
    );
    let o = cli(&s, home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args([
            "upload",
            "--json",
            "--no-progress",
            "--name",
            "n.bin",
            "--no-checkpoint",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    // A checkpoint that can no longer be written mid-upload.
    let (slow, _) = write_file(home.path(), "slow.bin", 8 * MIB, 10);
    let later = home.path().join("later");
    std::fs::create_dir_all(&later).unwrap();
    let child = cli(&s, home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args([
            "upload",
            "--no-progress",
            "--bwlimit",
            "2M",
            "--parallel",
            "1",
            "--checkpoint",
        ])
        .arg(later.join("cp.json"))
        .arg(&slow)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !later.join("cp.json").exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::remove_dir_all(&later).unwrap();
    std::fs::write(&later, b"now a file").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(6), "{err}");
    assert_eq!(err.matches("cannot be written").count(), 1, "{err}");
    assert!(err.contains("cannot be resumed"), "{err}");
    assert!(
        !err.lines()
            .last()
            .unwrap_or_default()
            .contains("box-chunked resume"),
        "{err}"
    );
}

/// Standard input of unknown length (50 MB, no `--size`) is counted into a
/// spool file in `--spool-dir` and uploaded whole (the spool removed
/// after); with a `--size` that the stream does not keep, the message
/// gives the exact numbers, and a one-shot upload that made no session
/// does not say one was deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_input_of_any_length() {
    use std::io::Write as _;
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("cli-stdin");
    let spool = home.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let data = pseudo_random(50_000_000, 77);
    let feed = |args: &[&str], bytes: &[u8], one_shot_below: &str| {
        let mut c = cli(&s, home.path())
            .env("BOX_CHUNKED_ONE_SHOT_BELOW", one_shot_below)
            .args(["upload", "-", "--no-progress", "--json"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = c.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
        let o = c.wait_with_output().unwrap();
        writer.join().unwrap();
        o
    };
    let spool_arg = spool.display().to_string();
    let o = feed(
        &["--name", "stream.bin", "--spool-dir", &spool_arg],
        &data,
        "20000000",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    assert_eq!(last_json(&o)["size"], 50_000_000);
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "the spool is removed"
    );
    // Shorter than --size: chunked (a session was made) and one-shot (none).
    for (bytes, size, below, fate) in [
        (
            3_000_000usize,
            "5000000",
            "1",
            "the upload session was deleted",
        ),
        (3000, "5000", "20000000", "no session was made"),
    ] {
        let o = feed(
            &["--name", "short.bin", "--size", size],
            &data[..bytes],
            below,
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(5), "{err}");
        let said =
            format!("standard input ended after {bytes} bytes, but --size said {size} bytes");
        assert!(err.contains(&said), "{err}");
        assert!(err.contains(fate), "{err}");
        assert!(
            !err.contains("the source changed during the upload: the source"),
            "{err}"
        );
    }
}

/// A `503` or `429` answered before the whole part was written (the server
/// does not read a body it refuses) reaches the client as the server's
/// answer, never as a broken connection, at 8 and at 32 MiB parts: the
/// server lingers on the closing connection, reading what the client still
/// sends, so that the answer is read before any reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_is_read_while_a_part_is_being_sent() {
    let home = TempDir::new("cli-early");
    let (path, _) = write_file(home.path(), "early.bin", 40 * MIB, 12);
    for part in ["8388608", "33554432"] {
        let s = Serve::start(&[
            "--part-size",
            part,
            "--faults",
            "part:503@#1/3/4,part:429=1@#2/6",
        ]);
        for run in 0..2 {
            let o = cli(&s, home.path())
                .args(["upload", "--progress", "json", "--parallel", "2", "--name"])
                .arg(format!("early-{part}-{run}.bin"))
                .arg(&path)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            let last: Value = serde_json::from_str(stderr(&o).lines().last().unwrap()).unwrap();
            let causes = last["retries"]["causes"].as_array().unwrap();
            assert!(
                causes
                    .iter()
                    .all(|c| c == "server error (5xx)" || c == "throttled (429)"),
                "part size {part}, run {run}: {last}"
            );
        }
        let c = s.counters().await;
        assert!(c["faults_injected"].as_u64().unwrap() > 0, "{c}");
    }
}

/// `serve --tls-self-signed` makes a CA and a server certificate and prints
/// the CA to give clients, and an upload that trusts it works; a CA
/// certificate used as the server's (what `openssl req -x509` makes) is
/// warned about by `serve`, and the client says what is wrong with it in
/// words (no library function, no "pass the --ca-cert you passed"); a
/// --ca-cert that did not sign the server's certificate is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_for_people() {
    use std::io::BufRead as _;
    let home = TempDir::new("cli-tls");
    let (path, data) = write_file(home.path(), "t.bin", 300_000, 13);
    let dir = home.path().join("data");
    let mut c = Serve::command(&dir, "127.0.0.1:0", &["--tls-self-signed"]);
    let mut s = Serve::spawn(std::mem::replace(
        &mut c,
        std::process::Command::new("true"),
    ));
    let mut err = std::io::BufReader::new(s.child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let ca = line
        .split("--ca-cert ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no CA in {line:?}"))
        .to_owned();
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let o = cli(&s, home.path())
        .args(["upload", "--json", "--no-progress", "--ca-cert", &ca])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    // A CA's certificate as the server's, as `openssl req -x509` makes it.
    let (ca_pem, key_pem) = {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let mut p =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
    };
    let (cert, key) = (
        home.path().join("x509.pem"),
        home.path().join("x509-key.pem"),
    );
    std::fs::write(&cert, &ca_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let mut c = Serve::command(
        &home.path().join("data2"),
        "127.0.0.1:0",
        &["--tls-cert", &cert_s, "--tls-key", &key_s],
    );
    let mut s2 = Serve::spawn(std::mem::replace(
        &mut c,
        std::process::Command::new("true"),
    ));
    let mut warned = String::new();
    std::io::BufReader::new(s2.child.stderr.take().unwrap())
        .read_line(&mut warned)
        .unwrap();
    assert!(
        warned.contains("clients will refuse the certificate")
            && warned.contains("--tls-self-signed"),
        "{warned}"
    );
    let o = cli(&s2, home.path())
        .args(["upload", "--no-progress", "--ca-cert", &cert_s])
        .arg(&path)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("certificate authority's certificate") && e.contains("--tls-self-signed"),
        "{e}"
    );
    assert!(
        !e.contains("ClientBuilder") && !e.contains("give its CA"),
        "{e}"
    );
    // The right kind of certificate, but another CA given.
    let o = cli(&s, home.path())
        .args(["upload", "--no-progress", "--ca-cert", &cert_s])
        .arg(&path)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("did not sign it"), "{e}");
    s.kill9();
    s2.kill9();
}

/// Help fits the command: `login --help` lists only what login uses, and
/// every command's own flags stand apart from the sign-in, connection and
/// global ones; a usage line after a mistake does not repeat the user's
/// flags; a URL flag that is not a URL is quoted as typed; `status` and
/// `parts` take a checkpoint file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_usage_and_urls_say_what_was_typed() {
    let login = std::process::Command::new(BIN)
        .args(["login", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&login.stdout);
    for absent in [
        "--token <TOKEN>",
        "--box-config",
        "--as-user",
        "--local",
        "Signing in:",
    ] {
        assert!(
            !text.contains(absent),
            "login --help lists {absent}: {text}"
        );
    }
    for present in [
        "--token-file",
        "--base-url",
        "--ca-cert",
        "Connection:",
        "Global options:",
    ] {
        assert!(
            text.contains(present),
            "login --help lacks {present}: {text}"
        );
    }
    let up = std::process::Command::new(BIN)
        .args(["upload", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&up.stdout);
    let at = |h: &str| text.find(h).unwrap_or_else(|| panic!("no {h} in {text}"));
    assert!(
        at("Options:") < at("--folder") && at("--folder") < at("Signing in:"),
        "{text}"
    );
    assert!(
        at("Signing in:") < at("Connection:") && at("Connection:") < at("Global options:"),
        "{text}"
    );
    let o = std::process::Command::new(BIN)
        .args([
            "upload",
            "--checkpoint",
            "x.json",
            "--no-checkpoint",
            "f.bin",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let usage = stderr(&o)
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(usage, "Usage: box-chunked upload [OPTIONS] <PATH>...");
    let o = std::process::Command::new(BIN)
        .args([
            "--token",
            "t",
            "--base-url",
            "127.0.0.1:8080",
            "upload",
            BIN,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--base-url 127.0.0.1:8080 is not an http or https URL"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("http://127.0.0.1:8080"),
        "{}",
        stderr(&o)
    );
    // status and parts by checkpoint file.
    let s = Serve::start(&["--min-file-size", "1", "--part-size", "1048576"]);
    let home = TempDir::new("cli-status-cp");
    let (path, _) = write_file(home.path(), "st.bin", 12 * MIB, 14);
    let (cp, _) = interrupted_upload(&s, home.path(), &path);
    let id = box_chunked_hyper::CheckpointFile::read(&cp)
        .unwrap()
        .upload
        .session
        .id;
    let o = cli(&s, home.path())
        .arg("status")
        .arg(&cp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["id"], id.as_str());
    let o = cli(&s, home.path()).arg("parts").arg(&cp).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["total_count"].as_u64().unwrap() >= 3, "{v}");
}

/// A `touch` during an upload (the modification time moves, the bytes do
/// not) is settled by re-reading the file at the end: the upload commits.
/// A byte changed in place (same size, same inode) fails it (exit 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_touch_during_an_upload_is_settled_by_content() {
    let s = Serve::start(&["--min-file-size", "1", "--part-size", "1048576"]);
    let home = TempDir::new("cli-touch-during");
    for change in [false, true] {
        let (path, data) = write_file(home.path(), &format!("d{change}.bin"), 6 * MIB, 15);
        let cp = home.path().join(format!("d{change}.json"));
        let child = cli(&s, home.path())
            .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
            .args([
                "upload",
                "--json",
                "--no-progress",
                "--bwlimit",
                "3M",
                "--parallel",
                "1",
                "--checkpoint",
            ])
            .arg(&cp)
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        while !box_chunked_hyper::CheckpointFile::read(&cp)
            .is_ok_and(|c| !c.upload.parts.is_empty())
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        if change {
            use std::os::unix::fs::FileExt as _;
            f.write_at(&[data[5] ^ 0xff], 5).unwrap();
        }
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(30))
            .unwrap();
        drop(f);
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        if change {
            assert_eq!(o.status.code(), Some(5), "{err}");
            assert!(
                err.contains("its bytes now differ from those sent"),
                "{err}"
            );
        } else {
            assert!(o.status.success(), "{err}");
            assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
        }
    }
}
