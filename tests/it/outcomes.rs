//! One outcome per session, under races: commit against abort, commit
//! against commit, two sessions committing one name, parts arriving after an
//! abort. Raw HTTP against the real server over loopback.

use box_chunked_tests::raw::{commit, create, parts, put, Session};
use box_chunked_tests::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A session of 3,000 bytes with its three parts stored, and the parts list.
async fn ready(
    http: &Http,
    ts: &TestServer,
    name: &str,
    data: &[u8],
) -> (Session, Vec<serde_json::Value>) {
    let s = create(http, ts, ALICE, data.len(), name).await;
    for off in [0, 1024, 2048] {
        assert_eq!(put(http, &s, ALICE, data, off).await.status, 200);
    }
    let listed = parts(http, &s).await;
    (s, listed)
}

async fn download(http: &Http, ts: &TestServer, id: &str) -> Reply {
    http.get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .send()
        .await
}

/// A commit and an abort of one session sent at the same moment, 200 times:
/// whichever wins, a `201` always means the file is there whole (also after
/// a restart), and a lost commit is a `404`, never a file without content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_racing_abort_never_leaves_a_file_without_content() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 61);
    let (mut committed, mut aborted) = (Vec::new(), 0);
    for i in 0..200 {
        let (s, listed) = ready(&http, &ts, &format!("race-{i}.bin"), &data).await;
        // The abort goes 0 to 3.5 ms after the commit, so that each wins often.
        let late = Duration::from_micros(500 * (i % 8));
        let (c, a) = tokio::join!(commit(&http, &s, &data, &listed), async {
            tokio::time::sleep(late).await;
            http.delete(&s.upload).bearer(ALICE).send().await
        });
        assert_eq!(a.status, 204, "abort {i}");
        match c.status {
            201 => committed.push(c.json()["entries"][0]["id"].as_str().unwrap().to_owned()),
            404 => aborted += 1,
            other => panic!("commit {i} answered {other}: {:?}", c.json()),
        }
    }
    for id in &committed {
        let d = download(&http, &ts, id).await;
        assert_eq!(d.status, 200);
        assert_eq!(&d.body[..], &data[..], "file {id} has its content");
    }
    eprintln!("{} committed, {aborted} aborted", committed.len());
    assert!(
        !committed.is_empty() && aborted > 0,
        "both outcomes were tried"
    );
    // And after a restart.
    let dir = ts.stop().await;
    let ts = TestServer::start_in(dir, |_| {}).await;
    for id in &committed {
        assert_eq!(&download(&http, &ts, id).await.body[..], &data[..]);
    }
}

/// Two commits of one session at once: both get the same file, and only one
/// version is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_make_one_version() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 62);
    for i in 0..50 {
        let (s, listed) = ready(&http, &ts, &format!("twice-{i}.bin"), &data).await;
        let (a, b) = tokio::join!(
            commit(&http, &s, &data, &listed),
            commit(&http, &s, &data, &listed)
        );
        assert_eq!(
            (a.status, b.status),
            (201, 201),
            "{:?} {:?}",
            a.json(),
            b.json()
        );
        assert_eq!(a.json()["entries"][0]["id"], b.json()["entries"][0]["id"]);
        assert_eq!(
            a.json()["entries"][0]["file_version"]["id"],
            b.json()["entries"][0]["file_version"]["id"]
        );
    }
    assert_eq!(ts.counters(&http).await["files_committed"], 50);
}

/// Two sessions for the same name, committed at once: one `201`, one
/// `409 item_name_in_use` naming the winner (not a `500`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_for_one_name_get_one_file_and_one_conflict() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 63);
    for i in 0..50 {
        let name = format!("same-{i}.bin");
        let (s1, l1) = ready(&http, &ts, &name, &data).await;
        let (s2, l2) = ready(&http, &ts, &name, &data).await;
        let (a, b) = tokio::join!(
            commit(&http, &s1, &data, &l1),
            commit(&http, &s2, &data, &l2)
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{:?} {:?}", a.json(), b.json());
        let (won, lost) = if a.status == 201 { (a, b) } else { (b, a) };
        assert_eq!(lost.json()["code"], "item_name_in_use");
        assert_eq!(
            lost.json()["context_info"]["conflicts"]["id"],
            won.json()["entries"][0]["id"]
        );
    }
}

/// A part whose body is still arriving when the session is aborted is
/// refused at its end and leaves no row and no file.
#[tokio::test]
async fn a_part_after_an_abort_leaves_nothing() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 64);
    let s = create(&http, &ts, ALICE, data.len(), "late.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);
    let addr = ts.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let path = s.upload.trim_start_matches(&ts.url).to_owned();
    let part = &data[1024..2048];
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ALICE}\r\nContent-Range: bytes 1024-2047/3000\r\nDigest: {}\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n",
        digest(part)
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&part[..512]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let a = http.delete(&s.upload).bearer(ALICE).send().await;
    assert_eq!(a.status, 204);
    slow.write_all(&part[512..]).await.unwrap();
    let mut out = String::new();
    slow.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    let blobs = ts.dir.path().join("blobs").join(&s.id);
    assert!(
        !blobs.exists(),
        "no file or directory left at {}",
        blobs.display()
    );
    let listed = http.get(&s.list).bearer(ALICE).send().await;
    assert_eq!(listed.status, 404);
    let counters = ts.counters(&http).await;
    assert_eq!(counters["parts_stored"], 1, "{counters}");
}
