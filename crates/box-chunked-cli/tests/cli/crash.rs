//! `kill -9` of the real server during parallel part uploads and during
//! commit, then a restart on the same data directory: every acknowledged part
//! and committed file is intact, no half-committed file is visible, and the
//! upload can finish.

use crate::support::*;
use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const PART: usize = 64 * 1024;

/// `serve` on `dir` with 64 KiB parts and `extra` arguments.
fn serve(dir: &Path, extra: &[&str]) -> Serve {
    let part = PART.to_string();
    let mut args = vec!["--part-size", part.as_str()];
    args.extend_from_slice(extra);
    Serve::on(dir, "127.0.0.1:0", &args)
}

async fn all_parts(http: &Http, url: &str, sid: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let r = http
            .get(&format!(
                "{url}/api/2.0/files/upload_sessions/{sid}/parts?offset={offset}&limit=1000"
            ))
            .bearer(ALICE)
            .send()
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        let entries = r.json()["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            return out;
        }
        offset += entries.len();
        out.extend(entries);
    }
}

async fn put_part(
    http: &Http,
    url: &str,
    sid: &str,
    data: &[u8],
    index: usize,
) -> Result<Reply, String> {
    let off = index * PART;
    let chunk = &data[off..(off + PART).min(data.len())];
    http.put(&format!("{url}/api/2.0/files/upload_sessions/{sid}"))
        .headers(&[
            ("authorization", format!("Bearer {ALICE}")),
            (
                "content-range",
                format!("bytes {}-{}/{}", off, off + chunk.len() - 1, data.len()),
            ),
            ("digest", digest(chunk)),
        ])
        .body(Bytes::copy_from_slice(chunk))
        .try_send()
        .await
}

async fn create(http: &Http, url: &str, size: usize, name: &str) -> String {
    let r = http
        .post(&format!("{url}/api/2.0/files/upload_sessions"))
        .bearer(ALICE)
        .body(json!({"folder_id": "0", "file_size": size, "file_name": name}).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn commit(
    http: &Http,
    url: &str,
    sid: &str,
    data: &[u8],
    parts: &[Value],
) -> Result<Reply, String> {
    http.post(&format!("{url}/api/2.0/files/upload_sessions/{sid}/commit"))
        .headers(&[
            ("authorization", format!("Bearer {ALICE}")),
            ("digest", digest(data)),
        ])
        .body(json!({ "parts": parts }).to_string())
        .try_send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_parallel_parts_loses_nothing_acknowledged() {
    let dir = TempDir::new("crash-parts");
    let http = Http::new();
    let data = Arc::new(pseudo_random(96 * PART + 123, 21));
    let mut server = serve(dir.path(), &[]);
    let sid = create(&http, &server.url, data.len(), "crash.bin").await;
    let total = data.len().div_ceil(PART);

    // Eight uploaders share a queue of parts; the server dies after 30 acks.
    let acked: Arc<Mutex<BTreeMap<usize, Value>>> = Arc::default();
    let next = Arc::new(Mutex::new(0usize));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, sid, data, acked, next) = (
            http.clone(),
            server.url.clone(),
            sid.clone(),
            data.clone(),
            acked.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    if *n >= total {
                        return;
                    }
                    *n += 1;
                    *n - 1
                };
                match put_part(&http, &url, &sid, &data, i).await {
                    Ok(r) if r.status == 200 => {
                        acked.lock().unwrap().insert(i, r.json()["part"].clone());
                    }
                    _ => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 30 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    server.kill9();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 30 && acked.len() < total,
        "{} of {total} acknowledged",
        acked.len()
    );

    // Restart on the same data: every acknowledged part is listed, unchanged.
    let server = serve(dir.path(), &[]);
    let listed = all_parts(&http, &server.url, &sid).await;
    let by_offset: BTreeMap<u64, Value> = listed
        .iter()
        .map(|p| (p["offset"].as_u64().unwrap(), p.clone()))
        .collect();
    for (i, part) in &acked {
        let stored = by_offset
            .get(&((i * PART) as u64))
            .unwrap_or_else(|| panic!("acknowledged part {i} lost"));
        assert_eq!(stored, part, "part {i} changed");
    }
    // Finish: upload what is missing, commit, download.
    for i in 0..total {
        if !by_offset.contains_key(&((i * PART) as u64)) {
            let r = put_part(&http, &server.url, &sid, &data, i).await.unwrap();
            assert_eq!(r.status, 200, "{:?}", r.json());
        }
    }
    let listed = all_parts(&http, &server.url, &sid).await;
    assert_eq!(listed.len(), total);
    let r = commit(&http, &server.url, &sid, &data, &listed)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(server.download_sha1(&id).await, sha1(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_commit_leaves_no_half_file() {
    let dir = TempDir::new("crash-commit");
    let http = Http::new();
    let data = pseudo_random(256 * PART, 22);
    // The first commit is held for 3 seconds before it is handled; the server dies inside it.
    let mut server = serve(dir.path(), &["--faults", "commit:delay=3000@first1"]);
    let sid = create(&http, &server.url, data.len(), "commit.bin").await;
    for i in 0..data.len().div_ceil(PART) {
        assert_eq!(
            put_part(&http, &server.url, &sid, &data, i)
                .await
                .unwrap()
                .status,
            200
        );
    }
    let listed = all_parts(&http, &server.url, &sid).await;
    let pending = {
        let (http, url, sid, data, listed) = (
            http.clone(),
            server.url.clone(),
            sid.clone(),
            data.clone(),
            listed.clone(),
        );
        tokio::spawn(async move { commit(&http, &url, &sid, &data, &listed).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    server.kill9();
    assert!(pending.await.unwrap().is_err(), "the commit got no answer");

    let server = serve(dir.path(), &[]);
    // No file is visible: the commit had not happened.
    let none = http
        .get(&format!("{}/2.0/files/1", server.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(none.status, 404);
    // The session and its parts are intact, and the repeated commit succeeds.
    assert_eq!(all_parts(&http, &server.url, &sid).await, listed);
    let r = commit(&http, &server.url, &sid, &data, &listed)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    drop(server);

    // A committed file survives a kill too.
    let mut server = serve(dir.path(), &[]);
    server.kill9();
    let server = serve(dir.path(), &[]);
    let content = http
        .download(&format!("{}/2.0/files/{id}/content", server.url), ALICE)
        .await;
    assert_eq!(content.status, 200);
    assert_eq!(sha1(&content.body), sha1(&data));
}
