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

/// A seed reaches a TLS server too (planted over plain loopback HTTP before
/// the TLS server takes the data), whatever its certificate names, and the
/// faults given are for the clients under test, not for the seed.
#[tokio::test]
async fn a_seed_reaches_a_tls_server_and_no_fault_touches_it() {
    let dir = TempDir::new("seed-tls");
    let tree = TempDir::new("seed-tls-tree");
    std::fs::write(tree.path().join("only.txt"), b"seeded").unwrap();
    let seed = format!("alice={}", tree.path().display());
    let s = Serve::on(
        dir.path(),
        "127.0.0.1:0",
        &[
            "--seed",
            &seed,
            "--tls-self-signed",
            "--faults",
            "upload:500@#1",
        ],
    );
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let ca = std::fs::read_to_string(dir.path().join("tls/ca.pem")).unwrap();
    let http = Http::trusting(&ca, false);
    let r = http
        .get(&format!("{}/2.0/folders/0/items", s.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["entries"][0]["name"], "only.txt");
    // The first upload of a client under test is the one the fault meets.
    let (ct, body) = box_chunked_tests::api::multipart(
        &serde_json::json!({"name": "x.txt", "parent": {"id": "0"}}),
        b"x",
    );
    let r = http
        .post(&format!("{}/api/2.0/files/content", s.url))
        .bearer(ALICE)
        .header("content-type", ct)
        .body(body)
        .send()
        .await;
    assert_eq!(r.status, 500, "{:?}", r.json());
}

/// A JSON fixture plants folders and files with the ids, versions and
/// timestamps it gives; a restart plants nothing twice; new ids come after
/// the fixture's; an id the store holds already is refused, by name.
#[tokio::test]
async fn a_json_fixture_plants_ids_versions_and_times() {
    let dir = TempDir::new("fixture");
    let fixtures = TempDir::new("fixture-files");
    let fixture = serde_json::json!({"users": {"alice": {
        "folders": [{"path": "/Reports", "id": "5000", "created_at": "2026-01-02T03:04:05Z"}],
        "files": [{"path": "/Reports/2026/q1.csv", "id": "7000", "description": "Q1",
                   "content_modified_at": "2026-03-31T18:00:00Z",
                   "versions": [{"content": "a,b\n", "created_at": "2026-04-01T00:00:00Z", "id": "8000"},
                                {"size": 3000000, "seed": 7, "id": "9000",
                                 "created_at": "2026-04-02T00:00:00Z"}]}]}}});
    let path = fixtures.path().join("fixture.json");
    std::fs::write(&path, fixture.to_string()).unwrap();
    let seed = path.display().to_string();
    for round in 0..2 {
        let mut s = Serve::on(dir.path(), "127.0.0.1:0", &["--seed", &seed]);
        let alice = box_chunked_tests::api::User::new(&s.url, ALICE);
        let folder = alice.api("GET", "/folders/5000", None).await.json();
        assert_eq!(folder["name"], "Reports", "{folder}");
        assert_eq!(folder["created_at"], "2026-01-02T03:04:05Z");
        let f = alice.api("GET", "/files/7000", None).await.json();
        assert_eq!(
            (
                &f["name"],
                &f["size"],
                &f["file_version"]["id"],
                &f["description"]
            ),
            (
                &"q1.csv".into(),
                &3_000_000.into(),
                &"9000".into(),
                &"Q1".into()
            ),
            "{f}"
        );
        assert_eq!(f["content_modified_at"], "2026-03-31T18:00:00Z");
        assert_eq!(f["path_collection"]["entries"][1]["id"], "5000");
        let body = alice.download("7000").await.body;
        assert_eq!(body.len(), 3_000_000);
        assert_eq!(f["sha1"], sha1(&body).to_hex().as_str());
        let v = alice.api("GET", "/files/7000/versions", None).await.json();
        assert_eq!(v["entries"][0]["id"], "8000", "{v}");
        assert_eq!(v["entries"][0]["sha1"], sha1(b"a,b\n").to_hex().as_str());
        assert_eq!(v["entries"][0]["created_at"], "2026-04-01T00:00:00Z");
        assert_eq!(
            alice.list("0").await.len(),
            1,
            "round {round}: nothing planted twice"
        );
        if round == 1 {
            // Ids handed out later come after the fixture's.
            let r = alice.one_shot("0", "later.txt", b"later").await;
            let id: i64 = r.json()["entries"][0]["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(id > 7000, "{id}");
        }
        s.kill9();
    }
    // Another fixture naming a folder id the store holds: refused, by name.
    let clash = fixtures.path().join("clash.json");
    std::fs::write(
        &clash,
        serde_json::json!({"users": {"alice": {"folders": [{"path": "/Other", "id": "5000"}]}}})
            .to_string(),
    )
    .unwrap();
    let o = Serve::command(
        dir.path(),
        "127.0.0.1:0",
        &["--seed", &clash.display().to_string()],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("/Other") && err.contains("folders id 5000 is taken"),
        "{err}"
    );
}
