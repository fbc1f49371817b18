//! A user of the server as tests see one: Box's calls by what they do
//! (folders, chunked and one-shot uploads, versions, changes, downloads),
//! each returning the raw [`Reply`] so a test can assert on any status, and
//! a request whose body is sent in two steps ([`Paused`]) for races that
//! happen in the middle of a body.

use crate::{digest, Http, Reply};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One user of one server: its base URL and token.
#[derive(Debug, Clone)]
pub struct User {
    /// The HTTP client.
    pub http: Http,
    /// The server's base URL.
    pub url: String,
    /// The user's bearer token.
    pub token: String,
}

/// A created upload session: its id, endpoints and part size.
#[derive(Debug, Clone)]
pub struct Chunked {
    /// The session id.
    pub id: String,
    /// Its part endpoint (also status and abort).
    pub upload: String,
    /// Its commit endpoint.
    pub commit: String,
    /// The part size the server chose.
    pub part_size: usize,
}

impl User {
    /// The user with `token` on the server at `url`.
    pub fn new(url: &str, token: &str) -> Self {
        Self {
            http: Http::new(),
            url: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// A call to the API root (`/2.0` + `path`) with a JSON body (or none).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}/2.0{path}", self.url);
        self.send(method, &url, &[], body).await
    }

    /// A call to the upload root (`/api/2.0` + `path`).
    pub async fn upload_api(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}/api/2.0{path}", self.url);
        self.send(method, &url, &[], body).await
    }

    /// Any URL, with extra headers and a JSON body (or none).
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Value>,
    ) -> Reply {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        self.http
            .request(method, url)
            .bearer(&self.token)
            .headers(headers)
            .body(body)
            .send()
            .await
    }

    /// Creates a folder; the reply (201 with the folder).
    pub async fn create_folder(&self, parent: &str, name: &str) -> Reply {
        self.api(
            "POST",
            "/folders",
            Some(json!({"name": name, "parent": {"id": parent}})),
        )
        .await
    }

    /// Creates a folder and returns its id, panicking unless it was created.
    pub async fn folder(&self, parent: &str, name: &str) -> String {
        let r = self.create_folder(parent, name).await;
        assert_eq!(r.status, 201, "folder {name}: {}", text(&r));
        id_of(&r.json())
    }

    /// Opens a chunked session for a new file in `folder`.
    pub async fn create_session(&self, folder: &str, size: usize, name: &str) -> Reply {
        self.upload_api(
            "POST",
            "/files/upload_sessions",
            Some(json!({"folder_id": folder, "file_size": size, "file_name": name})),
        )
        .await
    }

    /// Opens a chunked session for a new version of `file`.
    pub async fn create_version_session(&self, file: &str, size: usize) -> Reply {
        self.upload_api(
            "POST",
            &format!("/files/{file}/upload_sessions"),
            Some(json!({ "file_size": size })),
        )
        .await
    }

    /// Sends every part of `data` to a session (one after another) and
    /// returns the parts to commit, panicking unless each is stored.
    pub async fn send_parts(&self, s: &Chunked, data: &[u8]) -> Vec<Value> {
        let mut parts = Vec::new();
        for (i, chunk) in data.chunks(s.part_size.max(1)).enumerate() {
            let r = self.put_part(s, data, i * s.part_size, chunk.len()).await;
            assert_eq!(r.status, 200, "part {i}: {}", text(&r));
            parts.push(r.json()["part"].clone());
        }
        parts
    }

    /// Sends the part of `data` at `offset` of `len` bytes.
    pub async fn put_part(&self, s: &Chunked, data: &[u8], offset: usize, len: usize) -> Reply {
        let chunk = &data[offset..offset + len];
        let headers = [
            (
                "content-range",
                format!("bytes {offset}-{}/{}", offset + len.max(1) - 1, data.len()),
            ),
            ("digest", digest(chunk)),
        ];
        self.http
            .put(&s.upload)
            .bearer(&self.token)
            .headers(&headers)
            .body(Bytes::copy_from_slice(chunk))
            .send()
            .await
    }

    /// Commits a session with `data`'s digest and the parts given.
    pub async fn commit(&self, s: &Chunked, data: &[u8], parts: &[Value]) -> Reply {
        self.http
            .post(&s.commit)
            .bearer(&self.token)
            .headers(&[("digest", digest(data))])
            .body(Bytes::from(json!({ "parts": parts }).to_string()))
            .send()
            .await
    }

    /// A new file through a chunked session: create, parts, commit; the
    /// commit's reply.
    pub async fn chunked_upload(&self, folder: &str, name: &str, data: &[u8]) -> Reply {
        let r = self.create_session(folder, data.len(), name).await;
        if r.status != 201 {
            return r;
        }
        let s = session_of(&r);
        let parts = self.send_parts(&s, data).await;
        self.commit(&s, data, &parts).await
    }

    /// A new file in one request (`POST /files/content`).
    pub async fn one_shot(&self, folder: &str, name: &str, data: &[u8]) -> Reply {
        let attrs = json!({"name": name, "parent": {"id": folder}});
        let (ct, body) = multipart(&attrs, data);
        self.http
            .post(&format!("{}/api/2.0/files/content", self.url))
            .bearer(&self.token)
            .headers(&[("content-type", ct)])
            .body(body)
            .send()
            .await
    }

    /// A new version in one request (`POST /files/{id}/content`).
    pub async fn one_shot_version(&self, file: &str, data: &[u8]) -> Reply {
        let (ct, body) = multipart(&json!({}), data);
        self.http
            .post(&format!("{}/api/2.0/files/{file}/content", self.url))
            .bearer(&self.token)
            .headers(&[("content-type", ct)])
            .body(body)
            .send()
            .await
    }

    /// The file's content (`GET /files/{id}/content`, and the `302` Box
    /// answers with followed without the token).
    pub async fn download(&self, file: &str) -> Reply {
        let url = format!("{}/2.0/files/{file}/content", self.url);
        self.http.download(&url, &self.token).await
    }

    /// Every entry of a folder (offset paging), panicking unless listed.
    pub async fn list(&self, folder: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let r = self
                .api(
                    "GET",
                    &format!("/folders/{folder}/items?limit=1000&offset={}", out.len()),
                    None,
                )
                .await;
            assert_eq!(r.status, 200, "listing {folder}: {}", text(&r));
            let page = r.json()["entries"].as_array().cloned().unwrap_or_default();
            let total = r.json()["total_count"].as_u64().unwrap_or(0) as usize;
            let empty = page.is_empty();
            out.extend(page);
            if empty || out.len() >= total {
                return out;
            }
        }
    }

    /// Empties the trash: every item in it removed for good (`DELETE
    /// /files/{id}/trash` or the folder's); how many there were.
    pub async fn empty_trash(&self) -> usize {
        let r = self
            .api("GET", "/folders/trash/items?limit=1000", None)
            .await;
        assert_eq!(r.status, 200, "listing the trash: {}", text(&r));
        let entries = r.json()["entries"].as_array().cloned().unwrap_or_default();
        for e in &entries {
            let (kind, id) = (e["type"].as_str().unwrap_or(""), id_of(e));
            let r = self
                .api("DELETE", &format!("/{kind}s/{id}/trash"), None)
                .await;
            assert_eq!(r.status, 204, "purging {kind} {id}: {}", text(&r));
        }
        entries.len()
    }

    /// `space_used` of `GET /users/me`.
    pub async fn space_used(&self) -> u64 {
        let r = self.api("GET", "/users/me", None).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        r.json()["space_used"].as_u64().unwrap_or(u64::MAX)
    }
}

/// The session of a create reply.
pub fn session_of(r: &Reply) -> Chunked {
    let j = r.json();
    let ep = |k: &str| {
        j["session_endpoints"][k]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    Chunked {
        id: j["id"].as_str().unwrap_or_default().to_owned(),
        upload: ep("upload_part"),
        commit: ep("commit"),
        part_size: j["part_size"].as_u64().unwrap_or(1) as usize,
    }
}

/// The `id` of an item, or of the first entry of an upload's answer.
pub fn id_of(v: &Value) -> String {
    let item = if v["entries"].is_array() {
        &v["entries"][0]
    } else {
        v
    };
    item["id"].as_str().unwrap_or_default().to_owned()
}

/// A reply's body as text, for assertion messages.
pub fn text(r: &Reply) -> String {
    format!("{} {}", r.status, String::from_utf8_lossy(&r.body))
}

/// A one-shot upload's form: `attributes` first, then the file; the
/// content type (with its boundary) and the body.
pub fn multipart(attributes: &Value, data: &[u8]) -> (String, Bytes) {
    let boundary = "box-chunked-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::with_capacity(data.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attributes\"\r\n\r\n{attributes}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        Bytes::from(body),
    )
}

/// A request over its own connection whose body goes out in two steps:
/// the head and the first `split` bytes at [`Paused::start`], the rest at
/// [`Paused::finish`], so that a test can act while the server waits in
/// the middle of the body.
#[derive(Debug)]
pub struct Paused {
    stream: tokio::net::TcpStream,
    rest: Bytes,
}

impl Paused {
    /// Connects to `url`'s host and sends the head and `body[..split]`.
    pub async fn start(
        method: &str,
        url: &str,
        token: &str,
        headers: &[(&str, String)],
        body: Bytes,
        split: usize,
    ) -> Self {
        let uri: http::Uri = url.parse().expect("a URL");
        let authority = uri.authority().expect("a host").to_string();
        let mut stream = tokio::net::TcpStream::connect(&authority)
            .await
            .expect("connects");
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer {token}\r\ncontent-length: {}\r\nconnection: close\r\n",
            uri.path_and_query().map_or("/", |p| p.as_str()),
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("head sent");
        stream
            .write_all(&body[..split])
            .await
            .expect("first bytes sent");
        stream.flush().await.expect("flushed");
        Self {
            stream,
            rest: body.slice(split..),
        }
    }

    /// Sends the rest of the body and reads the answer: its status and body.
    pub async fn finish(mut self) -> (u16, Value) {
        self.stream.write_all(&self.rest).await.expect("rest sent");
        let mut raw = Vec::new();
        let _ = self.stream.read_to_end(&mut raw).await;
        parse_answer(&raw)
    }
}

/// The status and JSON body of a raw HTTP/1.1 answer (`Content-Length` or
/// chunked); status 0 when there is none.
pub fn parse_answer(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return (0, Value::Null);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}
