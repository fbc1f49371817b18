//! Paths instead of ids, as a user of rclone or aws expects: an upload to
//! /a/b/c with --mkdir into an empty account, `ls -R --json` of the result,
//! `mkdir -p`, `rm` (to the trash), a path whose component is missing named,
//! names matched as Box compares them, and a folder of 2,500 items listed
//! and resolved across pages.

use crate::support::*;
use box_chunked_tests::{sha1, TempDir};
use serde_json::Value;
use std::process::Output;

fn run(s: &Serve, home: &std::path::Path, args: &[&str]) -> Output {
    cli(s, home).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_to_a_path_with_mkdir_then_ls_mkdir_and_rm() {
    let s = Serve::start(&[]);
    let home = TempDir::new("paths");
    let (file, data) = write_file(home.path(), "report.bin", 5000, 3);
    let f = file.to_str().unwrap();
    // Without --mkdir, the first missing folder is named; nothing is made.
    let o = run(
        &s,
        home.path(),
        &["upload", f, "--folder", "/a/b/c", "--no-progress"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("there is no /a") && stderr(&o).contains("--mkdir"),
        "{}",
        stderr(&o)
    );
    assert!(ok(&run(&s, home.path(), &["ls", "--json"])).is_empty());
    ok(&run(
        &s,
        home.path(),
        &[
            "upload",
            f,
            "--folder",
            "box:a/b/c",
            "--mkdir",
            "--no-progress",
        ],
    ));
    let tree: Vec<Value> =
        lines(ok(&run(&s, home.path(), &["ls", "-R", "--json", "/"])).as_bytes());
    let paths: Vec<&str> = tree.iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["/a", "/a/b", "/a/b/c", "/a/b/c/report.bin"],
        "{tree:?}"
    );
    assert_eq!(tree[3]["sha1"], sha1(&data).to_hex().as_str());
    assert_eq!(tree[3]["size"], 5000);
    // Names are matched as Box compares them: without case.
    let one = ok(&run(&s, home.path(), &["ls", "-l", "/A/B/C/REPORT.BIN"]));
    assert!(
        one.contains(&sha1(&data).to_hex()) && one.trim_end().ends_with("/A/B/C/REPORT.BIN"),
        "{one}"
    );
    // A new version by path.
    let (v2, data2) = write_file(home.path(), "v2.bin", 6000, 4);
    ok(&run(
        &s,
        home.path(),
        &[
            "upload",
            v2.to_str().unwrap(),
            "--file",
            "/a/b/c/report.bin",
            "--no-progress",
        ],
    ));
    let one: Vec<Value> = lines(
        ok(&run(
            &s,
            home.path(),
            &["ls", "--json", "/a/b/c/report.bin"],
        ))
        .as_bytes(),
    );
    assert_eq!(one[0]["sha1"], sha1(&data2).to_hex().as_str());
    // mkdir: -p makes the way and accepts what is there; without -p, the
    // missing parent is named, and an existing folder is refused.
    let made = ok(&run(&s, home.path(), &["mkdir", "-p", "/x/y/z"]));
    assert!(made.starts_with("/x/y/z\t"), "{made}");
    assert_eq!(ok(&run(&s, home.path(), &["mkdir", "-p", "/x/y/z"])), made);
    let o = run(&s, home.path(), &["mkdir", "/x/y/z"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("exists already"), "{}", stderr(&o));
    let o = run(&s, home.path(), &["mkdir", "/q/r"]);
    assert!(stderr(&o).contains("there is no /q"), "{}", stderr(&o));
    // rm: a folder needs -r; both go to the trash.
    let o = run(&s, home.path(), &["rm", "/x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("rm -r /x"), "{}", stderr(&o));
    // The missing-folder hint runs as printed: it makes the folders.
    let o = run(&s, home.path(), &["ls", "/m/n"]);
    let hint = printed_commands(&stderr(&o));
    assert!(hint[0].starts_with("box-chunked mkdir -p /m/n"), "{hint:?}");
    ok(&paste(
        &hint[0],
        home.path(),
        Some(box_chunked_tests::ALICE),
    ));
    ok(&run(
        &s,
        home.path(),
        &["rm", "-r", "/x", "/a/b/c/report.bin", "/m"],
    ));
    let left: Vec<Value> = lines(ok(&run(&s, home.path(), &["ls", "-R", "--json"])).as_bytes());
    let left: Vec<&str> = left.iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert_eq!(left, ["/a", "/a/b", "/a/b/c"]);
    let user = box_chunked_tests::api::User::new(&s.url, box_chunked_tests::ALICE);
    assert_eq!(user.empty_trash().await, 3);
    // Neither an id nor a path: a usage error before anything is sent.
    let o = run(&s, home.path(), &["ls", "a/b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("starts with / or box:"),
        "{}",
        stderr(&o)
    );
}

/// 2,500 items (three pages of 1,000): all listed, and the last one found.
#[test]
fn a_folder_of_2500_items_is_listed_and_resolved() {
    let dir = TempDir::new("paths-big");
    let fixtures = TempDir::new("paths-big-fixture");
    let files: Vec<Value> = (0..2500)
        .map(|i| serde_json::json!({"path": format!("/big/f{i:04}.txt"), "versions": [{"content": ""}]}))
        .collect();
    let fixture = serde_json::json!({"users": {"alice": {"files": files}}});
    let path = fixtures.path().join("big.json");
    std::fs::write(&path, fixture.to_string()).unwrap();
    let s = Serve::on(
        dir.path(),
        "127.0.0.1:0",
        &["--seed", path.to_str().unwrap()],
    );
    let home = TempDir::new("paths-big-home");
    let all = ok(&run(&s, home.path(), &["ls", "/big"]));
    assert_eq!(all.lines().count(), 2500);
    let last = ok(&run(&s, home.path(), &["ls", "--json", "/big/F2499.TXT"]));
    assert!(last.contains("\"/big/F2499.TXT\""), "{last}");
    let o = run(&s, home.path(), &["ls", "/big/f2500.txt"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("/big/f2500.txt does not exist"),
        "{}",
        stderr(&o)
    );
    // The command it prints runs as printed (with the same server).
    let hint = printed_commands(&stderr(&o));
    assert_eq!(hint.len(), 1, "{}", stderr(&o));
    let pasted = paste(&hint[0], home.path(), Some(box_chunked_tests::ALICE));
    let listed = String::from_utf8_lossy(&pasted.stdout).lines().count();
    assert_eq!(listed, 2500, "{}: {}", hint[0], stderr(&pasted));
}
