//! The server's own routes as other people's CI uses them between tests:
//! a reset of one user's data or everyone's, safe while a request is under
//! way (it fails cleanly, nothing is half deleted), and ids that are still
//! never handed out again.

use box_chunked_tests::api::{id_of, session_of, Paused, User};
use box_chunked_tests::*;
use bytes::Bytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_one_user_or_everyone_with_a_part_under_way() {
    let ts = TestServer::start(|c| c.part_size = Some(1 << 20)).await;
    let http = Http::new();
    let (alice, bob) = (User::new(&ts.url, ALICE), User::new(&ts.url, BOB));
    let kept = bob.one_shot("0", "bobs.bin", b"bob's").await;
    assert_eq!(kept.status, 201);
    let old = alice.one_shot("0", "a.bin", b"alice's").await;
    let old_id = id_of(&old.json()["entries"][0]);
    alice.folder("0", "dir").await;
    // A part of alice's is half sent when her data is reset.
    let data = pseudo_random(2 << 20, 4);
    let s = session_of(&alice.create_session("0", data.len(), "big.bin").await);
    let part = Bytes::copy_from_slice(&data[..1 << 20]);
    let headers = [
        (
            "content-range",
            format!("bytes 0-{}/{}", (1 << 20) - 1, data.len()),
        ),
        ("digest", digest(&part)),
    ];
    let paused = Paused::start("PUT", &s.upload, ALICE, &headers, part, 1000).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = http
        .post(&format!("{}/__box-chunked/reset", ts.url))
        .bearer(ADMIN)
        .body(r#"{"user": "alice"}"#)
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["sessions_removed"], 2, "{:?}", r.json());
    let (status, answer) = paused.finish().await;
    assert_eq!(status, 404, "the part of a session reset away: {answer}");
    // Alice has nothing, bob everything; a new file gets a new id.
    assert!(alice.list("0").await.is_empty());
    assert_eq!(alice.space_used().await, 0);
    assert_eq!(bob.list("0").await.len(), 1);
    let again = alice.one_shot("0", "a.bin", b"alice's").await;
    assert_eq!(again.status, 201);
    assert_ne!(
        id_of(&again.json()["entries"][0]),
        old_id,
        "an id handed out again"
    );
    // Everyone's: no body.
    let r = http
        .post(&format!("{}/__box-chunked/reset", ts.url))
        .bearer(ADMIN)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(bob.list("0").await.is_empty() && alice.list("0").await.is_empty());
    // Only the admin token resets.
    let r = http
        .post(&format!("{}/__box-chunked/reset", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 403);
}
