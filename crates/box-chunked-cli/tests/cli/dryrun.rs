//! `upload --dry-run` against a partly uploaded tree lists exactly the new,
//! version, skip and fail outcomes the real run then has, and changes
//! nothing; `--include`, `--exclude` and `--exclude-from` leave files out
//! of both.

use crate::support::*;
use box_chunked_tests::TempDir;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

fn run(s: &Serve, home: &Path, args: &[&str]) -> Output {
    cli(s, home).args(args).output().unwrap()
}

/// rel -> outcome of the file lines of a dry or real run's JSON output.
fn outcomes(o: &Output) -> BTreeMap<String, String> {
    lines(&o.stdout)
        .iter()
        .filter(|v: &&Value| v["outcome"] != "folder_created" && v.get("rel").is_some())
        .map(|v| {
            (
                v["rel"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn tree(s: &Serve, home: &Path) -> String {
    let o = run(s, home, &["ls", "-R", "--json", "-l"]);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_dry_run_lists_what_the_run_then_does() {
    let s = Serve::start(&["--min-file-size", "1"]);
    let home = TempDir::new("dry");
    let src = home.path().join("src");
    for d in ["sub", "cache"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    for (rel, text) in [
        ("a.txt", "a"),
        ("b.txt", "b"),
        ("sub/c.txt", "c"),
        ("sub/d.tmp", "d"),
        ("cache/e.bin", "e"),
    ] {
        std::fs::write(src.join(rel), text).unwrap();
    }
    let ignore = home.path().join("ignore");
    std::fs::write(&ignore, "# build leftovers\n*.tmp\n").unwrap();
    let srcs = src.to_str().unwrap();
    let filters = [
        "--exclude-from",
        ignore.to_str().unwrap(),
        "--exclude",
        "cache/",
    ];
    // Partly uploaded: a.txt and b.txt only; then b.txt changes.
    let o = run(
        &s,
        home.path(),
        &[
            "upload",
            srcs,
            "--folder",
            "/dest",
            "--mkdir",
            "--include",
            "*.txt",
            "--exclude",
            "sub/",
            "--json",
            "--no-progress",
        ],
    );
    assert_eq!(outcomes(&o).len(), 2, "{}", stderr(&o));
    std::fs::write(src.join("b.txt"), "b, changed").unwrap();
    let before = tree(&s, home.path());
    let mut dry = vec![
        "upload",
        srcs,
        "--folder",
        "/dest",
        "--on-conflict",
        "skip",
        "--dry-run",
        "--json",
    ];
    dry.extend(filters);
    let d = run(&s, home.path(), &dry);
    assert_eq!(d.status.code(), Some(0), "{}", stderr(&d));
    let planned = outcomes(&d);
    let want: BTreeMap<String, String> = [
        ("src/a.txt", "skipped"),
        ("src/b.txt", "failed"),
        ("src/sub/c.txt", "uploaded"),
    ]
    .iter()
    .map(|(r, o)| ((*r).to_owned(), (*o).to_owned()))
    .collect();
    assert_eq!(planned, want);
    assert!(lines(&d.stdout)
        .iter()
        .any(|v| v["outcome"] == "folder_created" && v["rel"] == "src/sub"));
    assert_eq!(
        tree(&s, home.path()),
        before,
        "a dry run changed the server"
    );
    let mut real = vec![
        "upload",
        srcs,
        "--folder",
        "/dest",
        "--on-conflict",
        "skip",
        "--json",
        "--no-progress",
    ];
    real.extend(filters);
    let r = run(&s, home.path(), &real);
    assert_eq!(outcomes(&r), planned, "{}", stderr(&r));
    // Under `version`: every file there gets a new version, as planned.
    for v in [&mut dry, &mut real] {
        let at = v.iter().position(|a| *a == "skip").unwrap();
        v[at] = "version";
    }
    let planned = outcomes(&run(&s, home.path(), &dry));
    assert_eq!(
        planned.values().filter(|o| *o == "version").count(),
        3,
        "{planned:?}"
    );
    let r = run(&s, home.path(), &real);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(outcomes(&r), planned);
    // Into a path that is not there, with --mkdir: its folders are planned, not made.
    let d = run(
        &s,
        home.path(),
        &[
            "upload",
            srcs,
            "--folder",
            "/new/deep",
            "--mkdir",
            "--dry-run",
        ],
    );
    let text = String::from_utf8_lossy(&d.stdout);
    assert!(
        text.contains("would make folder /new\n") && text.contains("would make folder /new/deep\n"),
        "{text}"
    );
    assert!(text.contains("would upload src/cache/e.bin"), "{text}");
    assert!(!tree(&s, home.path()).contains("\"/new\""));
    // A dry run of a new version, or of standard input, is a usage error that says why.
    let a = src.join("a.txt");
    let o = run(
        &s,
        home.path(),
        &[
            "upload",
            a.to_str().unwrap(),
            "--file",
            "/dest/src/a.txt",
            "--dry-run",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--dry-run works on uploads"),
        "{}",
        stderr(&o)
    );
}
