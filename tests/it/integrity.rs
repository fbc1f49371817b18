//! One truth across users: ids are never handed out again, and a write
//! whose file or folder went away while the request was under way changes
//! nothing, even when another user's new item took the place. Raw HTTP
//! against the real server over loopback; the races are made exact by
//! pausing a request in the middle of its body. Also: no token, no entry,
//! and another user's session and files are closed.

use box_chunked_tests::api::{id_of, multipart, session_of, text, Paused, User};
use box_chunked_tests::raw::{assert_box_error, create, parts, put};
use box_chunked_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

fn users(ts: &TestServer) -> (User, User) {
    (User::new(&ts.url, ALICE), User::new(&ts.url, BOB))
}

/// Waits until the server has taken in at least `n` bytes of bodies, so a
/// paused request is known to be past its checks and inside its body.
async fn received_at_least(ts: &TestServer, n: u64) {
    let http = Http::new();
    for _ in 0..500 {
        if ts.counters(&http).await["bytes_received"].as_u64() >= Some(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never received {n} bytes");
}

/// alice sends a one-shot new version of her file and pauses in the middle
/// of the body; she deletes the file; bob uploads a file of his own; her
/// body ends. Her version is refused with `404`, bob's file keeps his
/// bytes and name, and his file did not get her file's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_version_never_lands_on_another_users_file() {
    let ts = TestServer::start(|_| {}).await;
    let (alice, bob) = users(&ts);
    let x = id_of(&alice.one_shot("0", "x.bin", b"alice v1").await.json());
    let v2 = pseudo_random(300_000, 1);
    let (ct, body) = multipart(&serde_json::json!({}), &v2);
    let split = body.len() / 2;
    let paused = Paused::start(
        "POST",
        &format!("{}/api/2.0/files/{x}/content", ts.url),
        ALICE,
        &[("content-type", ct)],
        body,
        split,
    )
    .await;
    received_at_least(&ts, 8 + split as u64 / 2).await;
    assert_eq!(
        alice
            .api("DELETE", &format!("/files/{x}"), None)
            .await
            .status,
        204
    );
    let mine = pseudo_random(5000, 2);
    let r = bob.one_shot("0", "bob.bin", &mine).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let y = id_of(&r.json());
    assert_ne!(y, x, "a deleted file's id was handed out again");
    let (status, answer) = paused.finish().await;
    assert_eq!(status, 404, "alice's version of a deleted file: {answer}");
    assert_eq!(&bob.download(&y).await.body[..], &mine[..]);
    let f = bob.api("GET", &format!("/files/{y}"), None).await.json();
    assert_eq!(
        (f["name"].as_str(), f["size"].as_u64()),
        (Some("bob.bin"), Some(5000))
    );
    assert_eq!(alice.list("0").await.len(), 0, "alice holds nothing");
    assert_eq!(alice.empty_trash().await, 1, "alice's deleted file");
    assert_eq!(alice.space_used().await, 0);
    assert_eq!(bob.space_used().await, 5000);
}

/// The same race through a chunked new version: the commit has passed its
/// first checks and waits for the whole-file SHA-1 when alice deletes the
/// file and bob uploads one. The commit is refused; bob's file is his.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_version_commit_never_lands_on_another_users_file() {
    let ts = TestServer::start(|c| c.part_size = Some(1 << 20)).await;
    let (alice, bob) = users(&ts);
    let x = id_of(&alice.one_shot("0", "x.bin", b"alice v1").await.json());
    let v2 = pseudo_random(24 << 20, 3);
    let s = session_of(&alice.create_version_session(&x, v2.len()).await);
    // The parts in reverse order, so that the whole-file SHA-1 is still
    // being read back from disk when the commit arrives.
    let mut parts = Vec::new();
    for i in (0..24).rev() {
        let r = alice.put_part(&s, &v2, i << 20, 1 << 20).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        parts.push(r.json()["part"].clone());
    }
    parts.reverse();
    let committing = {
        let (alice, s, v2, parts) = (alice.clone(), s.clone(), v2.clone(), parts.clone());
        tokio::spawn(async move { alice.commit(&s, &v2, &parts).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let deleted = alice.api("DELETE", &format!("/files/{x}"), None).await;
    let mine = pseudo_random(5000, 4);
    let r = bob.one_shot("0", "bob.bin", &mine).await;
    let y = id_of(&r.json());
    let c = committing.await.unwrap();
    if c.status == 201 {
        // The commit won: it was applied before the delete, which then took it.
        assert_eq!(deleted.status, 204);
    } else {
        assert_eq!(c.status, 404, "{}", text(&c));
    }
    assert_ne!(y, x, "a deleted file's id was handed out again");
    let got = bob.download(&y).await.body;
    assert!(
        got[..] == mine[..],
        "bob's file holds {} bytes of someone else's",
        got.len()
    );
    let f = bob.api("GET", &format!("/files/{y}"), None).await.json();
    assert_eq!(f["name"], "bob.bin");
    assert_eq!(f["file_version"]["sha1"], sha1(&mine).to_hex());
    assert_eq!(bob.space_used().await, 5000);
}

/// A chunked commit after its folder was deleted is refused (`404`), and
/// so is one whose folder id another user's new folder would have taken:
/// the file shows up nowhere and counts against no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_into_a_deleted_folder_is_refused() {
    let ts = TestServer::start(|_| {}).await;
    let (alice, bob) = users(&ts);
    let f = alice.folder("0", "dest").await;
    let data = pseudo_random(3000, 5);
    let s = session_of(&alice.create_session(&f, data.len(), "a.bin").await);
    let parts = alice.send_parts(&s, &data).await;
    let r = alice.api("DELETE", &format!("/folders/{f}"), None).await;
    assert_eq!(r.status, 204, "{}", text(&r));
    let g = bob.folder("0", "bobs").await;
    assert_ne!(g, f, "a deleted folder's id was handed out again");
    let c = alice.commit(&s, &data, &parts).await;
    assert_eq!(c.status, 404, "commit into a deleted folder: {}", text(&c));
    assert_eq!(c.json()["code"], "not_found");
    assert!(bob.list(&g).await.is_empty(), "bob's folder is his alone");
    assert!(alice.list("0").await.is_empty());
    let a = alice.send("DELETE", &s.upload, &[], None).await;
    assert_eq!(a.status, 204);
    assert_eq!(alice.space_used().await, 0);
    assert_eq!(ts.counters(&Http::new()).await["files_committed"], 0);
}

/// A one-shot upload whose folder is deleted while its body arrives is
/// refused with `404` when the body ends, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_into_a_folder_deleted_mid_body_is_refused() {
    let ts = TestServer::start(|_| {}).await;
    let (alice, bob) = users(&ts);
    let f = alice.folder("0", "dest").await;
    let data = pseudo_random(300_000, 6);
    let attrs = serde_json::json!({"name": "late.bin", "parent": {"id": f}});
    let (ct, body) = multipart(&attrs, &data);
    let split = body.len() / 2;
    let paused = Paused::start(
        "POST",
        &format!("{}/api/2.0/files/content", ts.url),
        ALICE,
        &[("content-type", ct)],
        body,
        split,
    )
    .await;
    received_at_least(&ts, split as u64 / 2).await;
    let r = alice.api("DELETE", &format!("/folders/{f}"), None).await;
    assert_eq!(r.status, 204, "{}", text(&r));
    let g = bob.folder("0", "bobs").await;
    assert_ne!(g, f, "a deleted folder's id was handed out again");
    let (status, answer) = paused.finish().await;
    assert_eq!(status, 404, "{answer}");
    assert!(bob.list(&g).await.is_empty());
    assert!(alice.list("0").await.is_empty());
    assert_eq!(alice.space_used().await, 0);
    let left: Vec<_> = std::fs::read_dir(ts.dir.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "nothing of the body stays in tmp/");
}

/// Ids of files, folders and versions are never handed out again, also
/// across a restart: each new item gets an id above every earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_never_reused_even_after_a_restart() {
    let ts = TestServer::start(|_| {}).await;
    let (alice, _) = users(&ts);
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut note = |kind: &str, v: &Value| {
        let id = id_of(v);
        assert!(!id.is_empty(), "{v}");
        let key = (kind.to_owned(), id);
        assert!(!seen.contains(&key), "{kind} id {} handed out twice", key.1);
        seen.push(key);
    };
    for round in 0..3 {
        let folder = alice.create_folder("0", &format!("f{round}")).await.json();
        note("folder", &folder);
        let file = alice
            .one_shot("0", &format!("x{round}"), b"one")
            .await
            .json();
        note("file", &file);
        let fid = id_of(&file);
        note("version", &file["entries"][0]["file_version"]);
        let v2 = alice.one_shot_version(&fid, b"two").await.json();
        note("version", &v2["entries"][0]["file_version"]);
        let chunked = alice
            .chunked_upload("0", &format!("c{round}"), &pseudo_random(2048, round))
            .await
            .json();
        note("file", &chunked);
        note("version", &chunked["entries"][0]["file_version"]);
        // Delete the newest of each kind, so a reused id would come next.
        assert_eq!(
            alice
                .api("DELETE", &format!("/files/{}", id_of(&chunked)), None)
                .await
                .status,
            204
        );
        assert_eq!(
            alice
                .api("DELETE", &format!("/files/{fid}"), None)
                .await
                .status,
            204
        );
        assert_eq!(
            alice
                .api("DELETE", &format!("/folders/{}", id_of(&folder)), None)
                .await
                .status,
            204
        );
    }
    let dir = ts.stop().await;
    let ts = TestServer::start_in(dir, |_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    note("folder", &alice.create_folder("0", "after").await.json());
    let file = alice.one_shot("0", "after.bin", b"after").await.json();
    note("file", &file);
    note("version", &file["entries"][0]["file_version"]);
}

/// Without a valid bearer token every route is a `401` with Box's
/// `WWW-Authenticate`; bob cannot send parts to, read or delete alice's
/// session (`403`, nothing stored) nor see her file (`404`).
#[tokio::test]
async fn no_token_no_entry_and_another_users_session_and_files_are_closed() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let url = format!("{}/files/upload_sessions", ts.upload_root());
    let body = json!({"folder_id": "0", "file_size": 10, "file_name": "x"}).to_string();
    for headers in [
        vec![],
        vec![("authorization", "Bearer nope".to_owned())],
        vec![("authorization", "Basic abc".to_owned())],
    ] {
        let r = http
            .post(&url)
            .headers(&headers)
            .body(body.clone())
            .try_send()
            .await
            .unwrap();
        assert_box_error(&r, 401, "unauthorized");
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"Service\""));
    }
    let data = pseudo_random(2000, 7);
    let s = create(&http, &ts, ALICE, data.len(), "mine.bin").await;
    assert_box_error(&put(&http, &s, BOB, &data, 0).await, 403, "forbidden");
    assert_box_error(
        &http.get(&s.upload).bearer(BOB).send().await,
        403,
        "forbidden",
    );
    assert_box_error(
        &http.delete(&s.upload).bearer(BOB).send().await,
        403,
        "forbidden",
    );
    assert!(
        parts(&http, &s).await.is_empty(),
        "nothing stored by bob's attempts"
    );
    let r = raw_upload(&http, &ts.upload_root(), ALICE, "f.bin", &data).await;
    let id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    assert_box_error(
        &http
            .get(&format!("{}/2.0/files/{id}", ts.url))
            .bearer(BOB)
            .send()
            .await,
        404,
        "not_found",
    );
    assert_box_error(
        &http
            .get(&format!("{}/2.0/files/{id}/content", ts.url))
            .bearer(BOB)
            .send()
            .await,
        404,
        "not_found",
    );
}
