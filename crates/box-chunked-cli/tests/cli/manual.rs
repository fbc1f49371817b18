//! The manual a shell user gets: completions for every shell clap_complete
//! knows (bash's completing a subcommand in a real bash), the man pages in
//! docs/man generated from the same definitions as the parser and kept in
//! sync with them, and `--log-file` keeping the log apart from the output.

use crate::support::*;
use box_chunked_tests::TempDir;
use std::path::Path;
use std::process::Command;

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = String::from_utf8(o.stdout).unwrap();
        assert!(
            script.contains("upload") && script.contains("folder"),
            "{shell}"
        );
    }
    // Bash completes a subcommand from the script it sources.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({BIN} completions bash) && COMP_WORDS=(box-chunked res) && COMP_CWORD=1 \
             && _box__chunked box-chunked res box-chunked && echo \"${{COMPREPLY[@]}}\""
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "resume",
        "{}",
        stderr(&o)
    );
    let o = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// docs/man is what `cargo xtask man` writes from the parser's definitions;
/// a change to a flag's help without regenerating them fails here.
#[test]
fn the_man_pages_are_in_sync_with_the_commands() {
    let out = TempDir::new("man");
    let o = Command::new(BIN)
        .arg("man-pages")
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man");
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(out.path()), names(&docs), "run `cargo xtask man`");
    for name in names(out.path()) {
        let made = std::fs::read_to_string(out.path().join(&name)).unwrap();
        let kept = std::fs::read_to_string(docs.join(&name)).unwrap();
        assert!(
            made == kept,
            "docs/man/{name} is out of date: run `cargo xtask man`"
        );
    }
    assert!(names(&docs).contains(&"box-chunked-upload.1".to_owned()));
}

/// `-v` with `--log-file` writes the log to the file, not to stderr.
#[test]
fn the_log_goes_to_the_log_file() {
    let s = Serve::start(&[]);
    let home = TempDir::new("log-file");
    let log = home.path().join("run.log");
    let (path, _) = write_file(home.path(), "a.bin", 2000, 1);
    let o = cli(&s, home.path())
        .args(["-vv", "--log-file"])
        .arg(&log)
        .arg("upload")
        .arg(&path)
        .arg("--no-progress")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEBUG"), "{text}");
    assert!(!stderr(&o).contains("DEBUG"), "{}", stderr(&o));
    let o = cli(&s, home.path())
        .args(["--log-file", "/nonexistent/dir/x.log", "jobs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot open the log file /nonexistent/dir/x.log"));
}
