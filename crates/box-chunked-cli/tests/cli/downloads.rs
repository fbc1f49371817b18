//! `download`: a tree uploaded by path comes back into an empty directory
//! with every SHA-1 matching its source; local files there already are an
//! error, skipped when they hold the same bytes, or renamed; a partial
//! download goes on from the ranges it had, and bytes that are not Box's
//! are never kept under the file's name.

use crate::support::*;
use box_chunked_tests::{sha1, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn run(s: &Serve, home: &Path, args: &[&str]) -> Output {
    cli(s, home).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_tree_comes_back_with_every_sha1() {
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("dl");
    let src = home.path().join("src");
    std::fs::create_dir_all(src.join("deep/er")).unwrap();
    let (_, big) = write_file(&src, "big.bin", 30_000_000, 1);
    let (_, a) = write_file(&src.join("deep"), "a.txt", 1000, 2);
    let (_, b) = write_file(&src.join("deep/er"), "b.bin", 70_000, 3);
    std::fs::write(src.join("empty.txt"), b"").unwrap();
    ok(&run(
        &s,
        home.path(),
        &[
            "upload",
            src.to_str().unwrap(),
            "--folder",
            "/backup",
            "--mkdir",
            "--no-progress",
        ],
    ));
    let out = home.path().join("out");
    let o = ok(&run(
        &s,
        home.path(),
        &[
            "download",
            "-r",
            "/backup/src",
            out.to_str().unwrap(),
            "--json",
            "--parallel",
            "3",
        ],
    ));
    let got: Vec<Value> = lines(o.as_bytes());
    assert_eq!(got.len(), 4, "{o}");
    for (rel, data) in [
        ("big.bin", &big),
        ("deep/a.txt", &a),
        ("deep/er/b.bin", &b),
        ("empty.txt", &Vec::new()),
    ] {
        let local = std::fs::read(out.join(rel)).unwrap();
        assert_eq!(sha1(&local), sha1(data), "{rel}");
    }
    assert!(got.iter().all(|v| v["action"] == "downloaded"), "{got:?}");
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("box-chunked-part")));
    // Again: each local file is there. An error by default; skipped when it
    // holds the same bytes; one changed locally is refused under skip.
    let o = run(
        &s,
        home.path(),
        &["download", "-r", "/backup/src", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("4 of 4 files failed") && stderr(&o).contains("--on-conflict"),
        "{}",
        stderr(&o)
    );
    std::fs::write(out.join("deep/a.txt"), b"changed").unwrap();
    let o = run(
        &s,
        home.path(),
        &[
            "download",
            "-r",
            "/backup/src",
            out.to_str().unwrap(),
            "--on-conflict",
            "skip",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("skipped")
            .count(),
        3
    );
    assert!(stderr(&o).contains("holds other bytes"), "{}", stderr(&o));
    // One file by path into a directory, and under rename beside itself.
    let one = ok(&run(
        &s,
        home.path(),
        &[
            "download",
            "/backup/src/deep/a.txt",
            out.join("deep").to_str().unwrap(),
            "--on-conflict",
            "rename",
        ],
    ));
    assert!(one.contains("a (1).txt"), "{one}");
    assert_eq!(
        sha1(&std::fs::read(out.join("deep/a (1).txt")).unwrap()),
        sha1(&a)
    );
    // A folder needs -r.
    let o = run(
        &s,
        home.path(),
        &["download", "/backup/src", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_partial_download_goes_on_and_bytes_not_boxs_are_not_kept() {
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("dl-partial");
    let (path, data) = write_file(home.path(), "f.bin", 40_000_000, 9);
    let up: Vec<Value> = lines(
        ok(&run(
            &s,
            home.path(),
            &["upload", path.to_str().unwrap(), "--json", "--no-progress"],
        ))
        .as_bytes(),
    );
    let id = up.last().unwrap()["id"].as_str().unwrap().to_owned();
    let dest = home.path().join("back.bin");
    let part = home.path().join("back.bin.box-chunked-part");
    let record = home.path().join("back.bin.box-chunked-part.json");
    // A download stopped after its first two ranges of 8 MiB.
    let mut partial = data.clone();
    partial[16 << 20..].fill(0);
    std::fs::write(&part, &partial).unwrap();
    let rec = serde_json::json!({"file_id": id, "sha1": sha1(&data).to_hex(), "size": data.len(),
                                 "range_size": 8 << 20, "done": [0, 1]});
    std::fs::write(&record, rec.to_string()).unwrap();
    let o = ok(&run(
        &s,
        home.path(),
        &["download", &format!("file:{id}"), dest.to_str().unwrap()],
    ));
    assert!(
        o.contains(&format!("{} bytes were there from before", 16 << 20)),
        "{o}"
    );
    assert_eq!(sha1(&std::fs::read(&dest).unwrap()), sha1(&data));
    assert!(!part.exists() && !record.exists());
    // A partial file whose "done" ranges hold other bytes: the whole file's
    // SHA-1 is not Box's, so nothing is kept under its name (exit 8).
    std::fs::remove_file(&dest).unwrap();
    let mut wrong = data.clone();
    wrong[..16 << 20].fill(7);
    std::fs::write(&part, &wrong).unwrap();
    std::fs::write(&record, rec.to_string()).unwrap();
    let o = run(&s, home.path(), &["download", &id, dest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("not Box's"), "{}", stderr(&o));
    assert!(!dest.exists() && !part.exists());
    // Fetched again from nothing, it is right.
    ok(&run(
        &s,
        home.path(),
        &["download", &id, dest.to_str().unwrap()],
    ));
    assert_eq!(sha1(&std::fs::read(&dest).unwrap()), sha1(&data));
}
