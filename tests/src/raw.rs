//! Raw HTTP calls of a chunked session as the tests make them: a session
//! in folder `0` with 1 KiB parts (the test server's), its parts, its
//! commit, and the check of a Box error answer.

use crate::{digest, Http, Reply, TestServer, ALICE};
use bytes::Bytes;
use serde_json::{json, Value};

/// A session's id and endpoints, and its file's size.
pub struct Session {
    /// The session id.
    pub id: String,
    /// Its part (also status and abort) endpoint.
    pub upload: String,
    /// Its commit endpoint.
    pub commit: String,
    /// Its parts list endpoint.
    pub list: String,
    /// The file's size.
    pub size: usize,
}

/// Opens a session for a new file of `size` bytes in folder `0`.
pub async fn create(http: &Http, ts: &TestServer, token: &str, size: usize, name: &str) -> Session {
    let r = http
        .post(&format!("{}/files/upload_sessions", ts.upload_root()))
        .bearer(token)
        .body(json!({"folder_id": "0", "file_size": size, "file_name": name}).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let s = r.json();
    Session {
        id: s["id"].as_str().unwrap().to_owned(),
        upload: s["session_endpoints"]["upload_part"]
            .as_str()
            .unwrap()
            .to_owned(),
        commit: s["session_endpoints"]["commit"]
            .as_str()
            .unwrap()
            .to_owned(),
        list: s["session_endpoints"]["list_parts"]
            .as_str()
            .unwrap()
            .to_owned(),
        size,
    }
}

/// Sends the 1 KiB part of `data` at `offset`.
pub async fn put(http: &Http, s: &Session, token: &str, data: &[u8], offset: usize) -> Reply {
    let chunk = &data[offset..(offset + 1024).min(data.len())];
    http.put(&s.upload)
        .bearer(token)
        .headers(&[
            (
                "content-range",
                format!("bytes {}-{}/{}", offset, offset + chunk.len() - 1, s.size),
            ),
            ("digest", digest(chunk)),
        ])
        .body(Bytes::copy_from_slice(chunk))
        .send()
        .await
}

/// The session's stored parts (alice's).
pub async fn parts(http: &Http, s: &Session) -> Vec<Value> {
    let r = http.get(&s.list).bearer(ALICE).send().await;
    assert_eq!(r.status, 200);
    r.json()["entries"].as_array().cloned().unwrap_or_default()
}

/// Commits with `data`'s digest and the parts given (alice's).
pub async fn commit(http: &Http, s: &Session, data: &[u8], parts: &[Value]) -> Reply {
    http.post(&s.commit)
        .bearer(ALICE)
        .headers(&[("digest", digest(data))])
        .body(json!({ "parts": parts }).to_string())
        .send()
        .await
}

/// The answer is Box's error object with this status and code, a message
/// and the request id of its header.
pub fn assert_box_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(
        r.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    assert_eq!(j["type"], "error");
    assert_eq!(j["status"], status);
    assert_eq!(j["code"], code);
    assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(j["request_id"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(r.header("box-request-id"), j["request_id"].as_str());
}
