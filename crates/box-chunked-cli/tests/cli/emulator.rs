//! The local server as other people's CI runs it: configured only by
//! `BOX_CHUNKED_*` variables (a flag wins over its variable), a health
//! route that needs no credential, the fault rules in force, and a journal
//! of requests to assert on (which never holds a token).

use crate::support::*;
use box_chunked_tests::*;
use serde_json::Value;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_configured_only_by_variables_and_its_journal() {
    let dir = TempDir::new("env-only");
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
        .env("BOX_CHUNKED_JOURNAL_SIZE", "3")
        // The flag wins over its variable.
        .args(["--journal-size", "1000"])
        .stderr(Stdio::null());
    let s = Serve::spawn(c);
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
}
