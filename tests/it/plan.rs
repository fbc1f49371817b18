//! The upload session plan over raw HTTP: a new version whose parts equal
//! the current version's is planned as all hits and commits without a part
//! byte sent; a changed part is a miss; new files, other grids and wrong
//! digests are misses; hits are listed and committed like uploaded parts.

use box_chunked_tests::raw::assert_box_error;
use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha512};

fn sha512_hex(b: &[u8]) -> String {
    Sha512::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The plan entries of `data` on a 1 KiB grid.
fn planned(data: &[u8]) -> Vec<Value> {
    data.chunks(1024)
        .enumerate()
        .map(|(i, c)| json!({"offset": i * 1024, "size": c.len(), "sha512": sha512_hex(c)}))
        .collect()
}

/// A version session of file `id` for `size` bytes: its endpoints.
async fn version_session(http: &Http, ts: &TestServer, id: &str, size: usize) -> Value {
    let r = http
        .post(&format!("{}/files/{id}/upload_sessions", ts.upload_root()))
        .bearer(ALICE)
        .body(json!({"file_size": size}).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let s = r.json();
    assert!(s["session_endpoints"]["plan"]
        .as_str()
        .is_some_and(|u| u.ends_with("/plan")));
    s
}

async fn plan(http: &Http, session: &Value, parts: &[Value]) -> Reply {
    let url = session["session_endpoints"]["plan"].as_str().unwrap();
    http.post(url)
        .bearer(ALICE)
        .body(json!({ "parts": parts }).to_string())
        .send()
        .await
}

async fn first_file(http: &Http, ts: &TestServer, name: &str, data: &[u8]) -> String {
    let r = raw_upload(http, &ts.upload_root(), ALICE, name, data).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    r.json()["entries"][0]["id"].as_str().unwrap().to_owned()
}

async fn content(http: &Http, ts: &TestServer, id: &str) -> Bytes {
    http.get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .send()
        .await
        .body
}

#[tokio::test]
async fn an_unchanged_new_version_is_all_hits_and_sends_no_part_byte() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(5000, 11);
    let id = first_file(&http, &ts, "same.bin", &data).await;
    let before = ts.counters(&http).await;
    let s = version_session(&http, &ts, &id, data.len()).await;
    let r = plan(&http, &s, &planned(&data)).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let j = r.json();
    assert_eq!(j["upload_session_id"], s["id"]);
    assert_eq!(j["hits"].as_array().unwrap().len(), 5);
    assert!(j["misses"].as_array().unwrap().is_empty());
    // A second plan of the same parts gives the same hits (idempotent).
    let again = plan(&http, &s, &planned(&data)).await.json();
    assert_eq!(again["hits"], j["hits"]);
    // The hits are the session's parts; the commit lists them as the SDKs do.
    let listed = http
        .get(s["session_endpoints"]["list_parts"].as_str().unwrap())
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(listed.json()["total_count"], 5);
    let parts: Vec<Value> = j["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| json!({"part_id": h["part_id"], "offset": h["offset"], "size": h["size"]}))
        .collect();
    let r = http
        .post(s["session_endpoints"]["commit"].as_str().unwrap())
        .bearer(ALICE)
        .headers(&[("digest", digest(&data))])
        .body(json!({ "parts": parts }).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["entries"][0]["id"], id.as_str());
    assert_eq!(r.json()["entries"][0]["file_version"]["id"], "2");
    let after = ts.counters(&http).await;
    assert_eq!(
        after["bytes_received"], before["bytes_received"],
        "no part byte was sent"
    );
    assert_eq!(after["plan_hits"], 10);
    assert_eq!(content(&http, &ts, &id).await, data);
}

#[tokio::test]
async fn a_changed_part_is_a_miss_and_the_new_version_is_exact() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let old = pseudo_random(4500, 12);
    let id = first_file(&http, &ts, "changed.bin", &old).await;
    let mut new = old.clone();
    new[2100] ^= 0xff; // part 2
    let s = version_session(&http, &ts, &id, new.len()).await;
    let j = plan(&http, &s, &planned(&new)).await.json();
    let misses: Vec<u64> = j["misses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(misses, [2048]);
    put_part(&http, &s, &new, 2048).await;
    // Commit with sha512 on every part (hits and the uploaded one).
    let listed = http
        .get(s["session_endpoints"]["list_parts"].as_str().unwrap())
        .bearer(ALICE)
        .send()
        .await
        .json();
    let mut parts: Vec<Value> = listed["entries"].as_array().unwrap().clone();
    for p in &mut parts {
        let off = p["offset"].as_u64().unwrap() as usize;
        let end = (off + 1024).min(new.len());
        p["sha512"] = json!(sha512_hex(&new[off..end]));
    }
    // sha512 on some parts only is refused.
    let mut mixed = parts.clone();
    mixed[0].as_object_mut().unwrap().remove("sha512");
    let commit = s["session_endpoints"]["commit"].as_str().unwrap();
    let r = http
        .post(commit)
        .bearer(ALICE)
        .headers(&[("digest", digest(&new))])
        .body(json!({ "parts": mixed }).to_string())
        .send()
        .await;
    assert_box_error(&r, 400, "bad_request");
    let r = http
        .post(commit)
        .bearer(ALICE)
        .headers(&[("digest", digest(&new))])
        .body(json!({ "parts": parts }).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(content(&http, &ts, &id).await, new);
    // The first version's bytes were shared, not moved: it still reads back whole.
    assert_eq!(ts.counters(&http).await["plan_misses"], 1);
}

#[tokio::test]
async fn new_files_other_grids_and_wrong_digests_are_misses() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let data = pseudo_random(3000, 13);
    let id = first_file(&http, &ts, "grid.bin", &data).await;
    // A new-file session: every part is a miss.
    let r = http
        .post(&format!("{}/files/upload_sessions", ts.upload_root()))
        .bearer(ALICE)
        .body(json!({"folder_id": "0", "file_size": 3000, "file_name": "other.bin"}).to_string())
        .send()
        .await;
    let j = plan(&http, &r.json(), &planned(&data)).await.json();
    assert_eq!(
        (
            j["hits"].as_array().unwrap().len(),
            j["misses"].as_array().unwrap().len()
        ),
        (0, 3)
    );
    let s = version_session(&http, &ts, &id, data.len()).await;
    let entries = vec![
        // Off this session's grid.
        json!({"offset": 512, "size": 1024, "sha512": sha512_hex(&data[512..1536])}),
        // The right place, another digest.
        json!({"offset": 0, "size": 1024, "sha512": sha512_hex(b"nope")}),
        // The right part.
        json!({"offset": 1024, "size": 1024, "sha512": sha512_hex(&data[1024..2048])}),
    ];
    let j = plan(&http, &s, &entries).await.json();
    assert_eq!(j["hits"].as_array().unwrap().len(), 1);
    assert_eq!(j["hits"][0]["offset"], 1024);
    assert_eq!(j["misses"].as_array().unwrap().len(), 2);
    for bad in [
        json!({"parts": []}),
        json!({"parts": [{"offset": 0, "size": 1, "sha512": "abc"}]}),
        json!({}),
    ] {
        let url = s["session_endpoints"]["plan"].as_str().unwrap();
        let r = http
            .post(url)
            .bearer(ALICE)
            .body(bad.to_string())
            .send()
            .await;
        assert_box_error(&r, 400, "bad_request");
    }
    // Another user's session: 403, as for every session call.
    let url = s["session_endpoints"]["plan"].as_str().unwrap();
    let r = http
        .post(url)
        .bearer(BOB)
        .body(json!({"parts": planned(&data)}).to_string())
        .send()
        .await;
    assert_box_error(&r, 403, "forbidden");
}

/// Uploads the 1 KiB part of `data` at `off` to `session`.
async fn put_part(http: &Http, session: &Value, data: &[u8], off: usize) {
    let chunk = &data[off..(off + 1024).min(data.len())];
    let r = http
        .put(
            session["session_endpoints"]["upload_part"]
                .as_str()
                .unwrap(),
        )
        .bearer(ALICE)
        .headers(&[
            (
                "content-range",
                format!("bytes {off}-{}/{}", off + chunk.len() - 1, data.len()),
            ),
            ("digest", digest(chunk)),
        ])
        .body(Bytes::copy_from_slice(chunk))
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
}

/// Plans `new` as a version of file `id` (`per_request` parts a request),
/// uploads the misses, commits with a wrong digest (refused, naming the
/// real one) and then the right one.
async fn planned_version(http: &Http, ts: &TestServer, id: &str, new: &[u8], per_request: usize) {
    let s = version_session(http, ts, id, new.len()).await;
    let mut misses = Vec::new();
    for batch in planned(new).chunks(per_request) {
        let j = plan(http, &s, batch).await.json();
        misses.extend(j["misses"].as_array().unwrap().clone());
    }
    for m in misses {
        put_part(http, &s, new, m["offset"].as_u64().unwrap() as usize).await;
    }
    let listed = http
        .get(s["session_endpoints"]["list_parts"].as_str().unwrap())
        .bearer(ALICE)
        .send()
        .await
        .json();
    let parts = listed["entries"].clone();
    let commit = s["session_endpoints"]["commit"].as_str().unwrap();
    let mut wrong = new.to_vec();
    wrong[0] ^= 1;
    let r = http
        .post(commit)
        .bearer(ALICE)
        .headers(&[("digest", digest(&wrong))])
        .body(json!({ "parts": parts }).to_string())
        .send()
        .await;
    assert_box_error(&r, 400, "digest_mismatch");
    let real = digest(new);
    let real = real.strip_prefix("sha=").unwrap();
    assert!(
        r.json()["message"].as_str().unwrap().contains(real),
        "{:?}",
        r.json()
    );
    let r = http
        .post(commit)
        .bearer(ALICE)
        .headers(&[("digest", digest(new))])
        .body(json!({ "parts": parts }).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(content(http, ts, id).await, new);
}

/// A new version whose first parts are the current version's starts its
/// whole-file SHA-1 from the chain the current version kept after them:
/// for its commit the server reads back only the parts after the uploaded
/// one (which is hashed as it arrives), and the version keeps its own
/// chain, so the next version resumes from it too. A wrong digest is still
/// refused with the real one.
#[tokio::test]
async fn a_new_version_is_hashed_from_its_first_change_only() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    // 11 parts of 1 KiB, the last one 100 bytes.
    let v1 = pseudo_random(10 * 1024 + 100, 14);
    let id = first_file(&http, &ts, "resumed.bin", &v1).await;
    let before = ts.counters(&http).await;
    let mut v2 = v1.clone();
    v2[6 * 1024 + 5] ^= 0xff; // part 6
    planned_version(&http, &ts, &id, &v2, 100).await;
    let after = ts.counters(&http).await;
    let delta = |k: &str, a: &Value, b: &Value| a[k].as_u64().unwrap() - b[k].as_u64().unwrap();
    assert_eq!(delta("prefix_parts_resumed", &after, &before), 6);
    assert_eq!(
        delta("prefix_bytes_read", &after, &before),
        3 * 1024 + 100,
        "parts 7 to 10 read back, nothing before the change"
    );
    let mut v3 = v2.clone();
    v3[8 * 1024] ^= 0xff; // part 8
    planned_version(&http, &ts, &id, &v3, 100).await;
    let last = ts.counters(&http).await;
    assert_eq!(delta("prefix_parts_resumed", &last, &after), 8);
    assert_eq!(delta("prefix_bytes_read", &last, &after), 1024 + 100);
    // An unchanged version resumes all but the short last part.
    planned_version(&http, &ts, &id, &v3, 100).await;
    let same = ts.counters(&http).await;
    assert_eq!(delta("prefix_parts_resumed", &same, &last), 10);
    assert_eq!(delta("prefix_bytes_read", &same, &last), 100);
    // A plan in pieces of two parts (as the uploader plans while it reads)
    // resumes as far as one request would: parts 0 to 4 of 5 changed.
    let mut v4 = v3.clone();
    v4[5 * 1024 + 1] ^= 0xff;
    planned_version(&http, &ts, &id, &v4, 2).await;
    let pieces = ts.counters(&http).await;
    assert_eq!(delta("prefix_parts_resumed", &pieces, &same), 5);
    assert_eq!(delta("prefix_bytes_read", &pieces, &same), 4 * 1024 + 100);
}
