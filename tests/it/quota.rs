//! Quotas that bound the disk: an open session reserves its file's size,
//! so sessions created before any commit cannot together pass the quota;
//! uploads in one request are checked in the transaction that adds their
//! bytes; `space_used` reports files plus reservations.

use box_chunked_tests::api::{multipart, session_of, text, Paused, User};
use box_chunked_tests::*;
use std::time::Duration;

const QUOTA: u64 = 10_000;

async fn server() -> (TestServer, User) {
    let ts = TestServer::start(|c| c.quota = Some(QUOTA)).await;
    let alice = User::new(&ts.url, ALICE);
    (ts, alice)
}

/// Sessions that are never committed hold their size: the second 8 KB
/// session does not fit, `space_used` shows the reservation, and an abort
/// gives it back.
#[tokio::test]
async fn open_sessions_reserve_their_size() {
    let (_ts, alice) = server().await;
    let first = alice.create_session("0", 8000, "a.bin").await;
    assert_eq!(first.status, 201, "{}", text(&first));
    assert_eq!(
        alice.space_used().await,
        8000,
        "reserved by the open session"
    );
    for i in 0..5 {
        let r = alice.create_session("0", 8000, &format!("b{i}.bin")).await;
        assert_eq!(r.status, 403, "session {i} over the quota: {}", text(&r));
        assert_eq!(r.json()["code"], "storage_limit_exceeded");
    }
    let s = session_of(&first);
    assert_eq!(alice.send("DELETE", &s.upload, &[], None).await.status, 204);
    assert_eq!(alice.space_used().await, 0);
    let again = alice.create_session("0", 8000, "c.bin").await;
    assert_eq!(again.status, 201, "{}", text(&again));
}

/// Three sessions of 6 KB created before any commit: only one fits, and
/// after its commit `space_used` is exactly its size.
#[tokio::test]
async fn sessions_created_before_any_commit_cannot_all_commit() {
    let (_ts, alice) = server().await;
    let data = pseudo_random(6000, 1);
    let mut open = Vec::new();
    for i in 0..3 {
        let r = alice
            .create_session("0", data.len(), &format!("s{i}.bin"))
            .await;
        if r.status == 201 {
            open.push(session_of(&r));
        } else {
            assert_eq!(r.status, 403, "{}", text(&r));
        }
    }
    assert_eq!(open.len(), 1, "one 6 KB session fits a 10 KB quota");
    let mut committed = 0;
    for s in &open {
        let parts = alice.send_parts(s, &data).await;
        if alice.commit(s, &data, &parts).await.status == 201 {
            committed += 1;
        }
    }
    assert_eq!(committed, 1);
    assert_eq!(alice.space_used().await, 6000);
}

/// Two one-shot uploads of 6 KB at once: one is stored, the other refused
/// with `403 storage_limit_exceeded`, whichever order they end in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_one_shot_uploads_at_once_cannot_pass_the_quota() {
    let (ts, alice) = server().await;
    let mut paused = Vec::new();
    for i in 0..2 {
        let attrs = serde_json::json!({"name": format!("o{i}.bin"), "parent": {"id": "0"}});
        let (ct, body) = multipart(&attrs, &pseudo_random(6000, i));
        let split = body.len() - 10;
        paused.push(
            Paused::start(
                "POST",
                &format!("{}/api/2.0/files/content", ts.url),
                ALICE,
                &[("content-type", ct)],
                body,
                split,
            )
            .await,
        );
    }
    // Both are inside their bodies, past every early check.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = paused.pop().unwrap();
    let a = paused.pop().unwrap();
    let ((sa, ja), (sb, jb)) = tokio::join!(a.finish(), b.finish());
    let mut statuses = vec![sa, sb];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 403], "{ja} {jb}");
    assert_eq!(alice.space_used().await, 6000);
    assert_eq!(alice.list("0").await.len(), 1);
}

/// A one-shot upload larger than the room left is cut off while it
/// arrives: no more than the room is written before the `403`.
#[tokio::test]
async fn a_one_shot_upload_over_the_quota_is_refused() {
    let (ts, alice) = server().await;
    let r = alice
        .one_shot("0", "big.bin", &pseudo_random(12_000, 9))
        .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    assert_eq!(r.json()["code"], "storage_limit_exceeded");
    assert_eq!(alice.space_used().await, 0);
    assert!(alice.list("0").await.is_empty());
    let tmp: Vec<_> = std::fs::read_dir(ts.dir.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty());
}

/// A user may have `max_open_sessions` sessions open at once: one more is
/// `429 rate_limit_exceeded` with `Retry-After`, another user is not
/// affected, and an abort makes room. The server's own route lists them.
#[tokio::test]
async fn open_sessions_per_user_are_limited() {
    let ts = TestServer::start(|c| c.max_open_sessions = Some(2)).await;
    let (alice, bob) = (User::new(&ts.url, ALICE), User::new(&ts.url, BOB));
    let mut open = Vec::new();
    for i in 0..2 {
        let r = alice.create_session("0", 3000, &format!("s{i}.bin")).await;
        assert_eq!(r.status, 201, "{}", text(&r));
        open.push(session_of(&r));
    }
    let third = alice.create_session("0", 3000, "s2.bin").await;
    assert_eq!(third.status, 429, "{}", text(&third));
    assert_eq!(third.json()["code"], "rate_limit_exceeded");
    assert!(third.header("retry-after").is_some());
    assert_eq!(bob.create_session("0", 3000, "b.bin").await.status, 201);
    let listed = alice
        .send(
            "GET",
            &format!("{}/__box-chunked/sessions?owner=alice", ts.url),
            &[],
            None,
        )
        .await;
    assert_eq!(
        listed.status, 403,
        "a user's token does not open the server's routes"
    );
    let http = Http::new();
    let listed = http
        .get(&format!("{}/__box-chunked/sessions?owner=alice", ts.url))
        .bearer(ADMIN)
        .body(bytes::Bytes::new())
        .send()
        .await
        .json();
    let ids: Vec<&str> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(open.iter().all(|s| ids.contains(&s.id.as_str())));
    assert_eq!(
        alice
            .send("DELETE", &open[0].upload, &[], None)
            .await
            .status,
        204
    );
    assert_eq!(alice.create_session("0", 3000, "s3.bin").await.status, 201);
}

/// Earlier versions count against the quota until their file is deleted:
/// `space_used` is every version, and `GET /files/{id}/versions` lists them.
#[tokio::test]
async fn every_version_counts_and_is_listed() {
    let (_ts, alice) = server().await;
    let r = alice.one_shot("0", "v.bin", &pseudo_random(3000, 1)).await;
    let id = box_chunked_tests::api::id_of(&r.json());
    let first = r.json()["entries"][0]["file_version"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        alice
            .one_shot_version(&id, &pseudo_random(4000, 2))
            .await
            .status,
        201
    );
    assert_eq!(alice.space_used().await, 7000);
    let v = alice
        .api("GET", &format!("/files/{id}/versions"), None)
        .await;
    assert_eq!(v.status, 200, "{}", text(&v));
    assert_eq!(v.json()["total_count"], 1);
    assert_eq!(v.json()["entries"][0]["id"], first.as_str());
    assert_eq!(v.json()["entries"][0]["size"], 3000);
    // 7,000 held: a third version of 4,000 does not fit a 10,000 quota.
    let r = alice.one_shot_version(&id, &pseudo_random(4000, 3)).await;
    assert_eq!(r.status, 403, "{}", text(&r));
    assert_eq!(
        alice
            .api("DELETE", &format!("/files/{id}"), None)
            .await
            .status,
        204
    );
    // The trash holds its bytes until it is emptied, as on Box.
    assert_eq!(alice.space_used().await, 7000);
    assert_eq!(alice.empty_trash().await, 1);
    assert_eq!(alice.space_used().await, 0);
}
