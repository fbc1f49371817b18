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
            .env_remove("NO_PROXY")
            .env_remove("BOX_CHUNKED_LOCAL");
        for k in [
            "BOX_ACCESS_TOKEN",
            "BOX_CONFIG",
            "BOX_CONFIG_JSON",
            "BOX_TOKEN_FILE",
            "BOX_CLIENT_ID",
            "BOX_CLIENT_SECRET",
        ] {
            c.env_remove(k);
        }
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
