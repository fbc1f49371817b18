//! The local server as other people's CI runs it: configured only by
//! `BOX_CHUNKED_*` variables (a flag wins over its variable), seeded from a
//! directory tree, a health route that needs no credential, the fault rules
//! in force, a journal of requests to assert on (which never holds a
//! token), and a reset between tests.

use crate::support::*;
use box_chunked_tests::*;
use serde_json::Value;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_configured_only_by_variables_and_its_journal() {
    let dir = TempDir::new("env-only");
    let tree = TempDir::new("env-only-seed");
    std::fs::create_dir_all(tree.path().join("sub")).unwrap();
    std::fs::write(tree.path().join("a.txt"), b"seeded a").unwrap();
    let seeded_b = pseudo_random(300_000, 17);
    std::fs::write(tree.path().join("sub/b.bin"), &seeded_b).unwrap();
    let mut c = Command::new(BIN);
    c.arg("serve")
        .env("BOX_CHUNKED_ADDR", "127.0.0.1:0")
        .env("BOX_CHUNKED_DATA", dir.path())
        .env("BOX_CHUNKED_TOKEN", format!("{ALICE}=alice,{BOB}=bob"))
        .env("BOX_CHUNKED_ADMIN_TOKEN", ADMIN)
        .env("BOX_CHUNKED_MIN_FILE_SIZE", "1")
        .env("BOX_CHUNKED_PART_SIZE", "1048576")
        .env("BOX_CHUNKED_CORS_ORIGIN", "http://127.0.0.1:5173")
        .env("BOX_CHUNKED_FAULTS", "part:503@#2")
        .env("BOX_CHUNKED_JOURNAL_SIZE", "1000")
        .env(
            "BOX_CHUNKED_SEED",
            format!("alice={}", tree.path().display()),
        )
        .stderr(Stdio::null());
    let s = Serve::spawn(c);
    // The seed is there when the first line is printed.
    let alice = box_chunked_tests::api::User::new(&s.url, ALICE);
    let mut root: Vec<String> = alice
        .list("0")
        .await
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    root.sort();
    assert_eq!(root, ["a.txt", "sub"], "{root:?}");
    let sub = alice
        .list("0")
        .await
        .into_iter()
        .find(|e| e["name"] == "sub")
        .unwrap();
    let b = alice.list(sub["id"].as_str().unwrap()).await;
    assert_eq!(b[0]["name"], "b.bin");
    assert_eq!(
        s.download_sha1(b[0]["id"].as_str().unwrap()).await,
        sha1(&seeded_b)
    );
    let http = Http::new();
    let health = http
        .get(&format!("{}/__box-chunked/health", s.url))
        .send()
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert!(health.json()["version"].is_string());
    let home = TempDir::new("env-only-home");
    let (path, data) = write_file(home.path(), "e.bin", 3 * MIB, 16);
    let o = cli(&s, home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args(["upload", "--json", "--no-progress", "--parallel", "1"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json(&o)["sha1"], sha1(&data).to_hex());
    // The rules in force, with what they fired on.
    let faults = http
        .get(&format!("{}/__box-chunked/faults", s.url))
        .bearer(ADMIN)
        .send()
        .await
        .json();
    assert_eq!(faults["rules"][0]["rule"], "part:503@#2", "{faults}");
    assert_eq!(faults["rules"][0]["fired"], 1, "{faults}");
    // The journal: alice's part uploads, oldest first; the second was
    // refused with the injected 503 and sent again; no other part twice.
    let j = http
        .get(&format!(
            "{}/__box-chunked/requests?user=alice&path_prefix=/api/2.0/files/upload_sessions/",
            s.url
        ))
        .bearer(ADMIN)
        .send()
        .await;
    assert_eq!(j.status, 200);
    assert!(
        !String::from_utf8_lossy(&j.body).contains(ALICE),
        "a token in the journal"
    );
    let entries: Vec<Value> = j.json()["entries"].as_array().unwrap().clone();
    let puts: Vec<&Value> = entries.iter().filter(|e| e["method"] == "PUT").collect();
    assert_eq!(puts.len(), 4, "{entries:?}");
    assert_eq!(puts[1]["status"], 503);
    assert_eq!(puts[1]["code"], "unavailable");
    assert!(puts
        .iter()
        .all(|e| e["user"] == "alice" && e["bytes"] == 1048576));
    assert!(entries
        .iter()
        .any(|e| e["path"].as_str().unwrap().ends_with("/commit")));
    // Bob did nothing; a CORS preflight is journaled too, without a user.
    let bob = http
        .get(&format!("{}/__box-chunked/requests?user=bob", s.url))
        .bearer(ADMIN)
        .send()
        .await
        .json();
    assert_eq!(bob["entries"].as_array().unwrap().len(), 0, "{bob}");
    let r = http
        .request("OPTIONS", &format!("{}/2.0/folders/0", s.url))
        .header("origin", "http://127.0.0.1:5173")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!(r.status, 204);
    let last = http
        .get(&format!("{}/__box-chunked/requests?limit=1", s.url))
        .bearer(ADMIN)
        .send()
        .await
        .json();
    assert_eq!(last["entries"][0]["method"], "OPTIONS", "{last}");
    assert_eq!(last["entries"][0]["user"], Value::Null, "{last}");
    // A reset between tests: alice's data is gone.
    let r = http
        .post(&format!("{}/__box-chunked/reset", s.url))
        .bearer(ADMIN)
        .body(r#"{"user": "alice"}"#)
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert!(alice.list("0").await.is_empty());
}

/// A flag wins over its variable.
#[test]
fn a_flag_wins_over_its_variable() {
    let dir = TempDir::new("flag-wins");
    let mut c = Serve::command(dir.path(), "127.0.0.1:0", &[]);
    // The variable names a port nothing can bind; the flag's is free.
    c.env("BOX_CHUNKED_ADDR", "203.0.113.1:1")
        .stderr(Stdio::null());
    let s = Serve::spawn(c);
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
}

/// A restart with the same `--seed` on the same data makes no second copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_is_planted_once() {
    let dir = TempDir::new("seed-once");
    let tree = TempDir::new("seed-once-tree");
    std::fs::write(tree.path().join("only.txt"), b"once").unwrap();
    let seed = format!("alice={}", tree.path().display());
    for _ in 0..2 {
        let mut s = Serve::on(dir.path(), "127.0.0.1:0", &["--seed", &seed]);
        let names: Vec<Value> = box_chunked_tests::api::User::new(&s.url, ALICE)
            .list("0")
            .await
            .into_iter()
            .map(|e| e["name"].clone())
            .collect();
        assert_eq!(names, ["only.txt"], "{names:?}");
        s.kill9();
    }
}

/// `health` (the image's healthcheck) exits 0 against a serving server,
/// found by its URL or by `BOX_CHUNKED_ADDR` (an unspecified address is
/// asked on loopback); 1 where nothing serves; 2 for a URL it cannot ask.
#[test]
fn health_says_whether_a_server_serves() {
    let s = Serve::start(&[]);
    let run = |args: &[&str], addr: Option<&str>| {
        let mut c = Command::new(BIN);
        c.arg("health").args(args).env_remove("BOX_CHUNKED_ADDR");
        if let Some(a) = addr {
            c.env("BOX_CHUNKED_ADDR", a);
        }
        c.output().unwrap()
    };
    let o = run(&[&s.url], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("version"));
    let port = s.url.rsplit(':').next().unwrap().trim_end_matches('/');
    let o = run(&[], Some(&format!("0.0.0.0:{port}")));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = closed.local_addr().unwrap().to_string();
    drop(closed);
    let o = run(&[], Some(&gone));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not healthy"), "{}", stderr(&o));
    let o = run(&["https://127.0.0.1:1"], None);
    assert_eq!(o.status.code(), Some(2));
}
