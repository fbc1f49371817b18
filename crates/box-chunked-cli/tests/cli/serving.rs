//! `box-chunked serve` as a process: one server per data directory (also
//! beside the command's embedded server), the open-files limit, and many
//! clients of two users at once with the server killed (`kill -9`) and
//! restarted in the middle, after which every user holds exactly what was
//! acknowledged to them, and nothing of another's.

use crate::support::*;
use box_chunked_tests::api::{multipart, parse_answer, session_of, User};
use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `serve` on `dir` at `addr` with 1 KiB parts and `extra` arguments.
fn serve(dir: &Path, addr: &str, extra: &[&str]) -> Serve {
    Serve::on(dir, addr, &[&["--part-size", "1024"], extra].concat())
}

/// A second `serve` on a running server's data directory exits at once with
/// a sentence naming the directory, the holder's process id and `--data`;
/// the first server goes on serving.
#[test]
fn a_second_serve_on_one_data_directory_refuses_and_says_why() {
    let dir = TempDir::new("two-serves");
    let first = serve(dir.path(), "127.0.0.1:0", &[]);
    let mut second = Serve::command(dir.path(), "127.0.0.1:0", &["--part-size", "1024"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server started on a directory another one serves");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(
        err.contains(&format!("process {}", first.child.id())),
        "{err}"
    );
    assert!(err.contains("--data"), "{err}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = User::new(&first.url, ALICE)
            .one_shot("0", "still.bin", b"serving")
            .await;
        assert_eq!(r.status, 201);
    });
}

/// `serve` without `--data` and an upload through the embedded server
/// (`--local`) at the same time: each has its own directory, so a part
/// arriving at `serve` meanwhile is stored, and both succeed.
#[test]
fn serve_and_the_embedded_server_keep_apart() {
    let home = TempDir::new("apart-home");
    let mut c = Command::new(BIN);
    c.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--min-file-size",
        "1",
        "--part-size",
        "262144",
    ])
    .args(["--token", &format!("{ALICE}=alice")])
    .env("HOME", home.path())
    .env_remove("XDG_DATA_HOME")
    .stderr(Stdio::null());
    let first = Serve::spawn(c);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let alice = User::new(&first.url, ALICE);
    let data = pseudo_random(512 * 1024, 3);
    let (s, paused) = rt.block_on(async {
        let s = session_of(&alice.create_session("0", data.len(), "held.bin").await);
        let part = Bytes::copy_from_slice(&data[..256 * 1024]);
        let headers = [
            ("content-range", format!("bytes 0-262143/{}", data.len())),
            ("digest", digest(&part)),
        ];
        let paused =
            box_chunked_tests::api::Paused::start("PUT", &s.upload, ALICE, &headers, part, 100_000)
                .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        (s, paused)
    });
    let file = home.path().join("small.bin");
    std::fs::write(&file, b"to the embedded server").unwrap();
    let up = Command::new(BIN)
        .args(["upload", "--local"])
        .arg(&file)
        .args(["--folder", "0"])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("BOX_ACCESS_TOKEN")
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    rt.block_on(async {
        let (status, answer) = paused.finish().await;
        assert_eq!(status, 200, "the part at `serve` is stored: {answer}");
        let rest = alice.put_part(&s, &data, 256 * 1024, 256 * 1024).await;
        assert_eq!(rest.status, 200);
        let parts = vec![answer["part"].clone(), rest.json()["part"].clone()];
        assert_eq!(alice.commit(&s, &data, &parts).await.status, 201);
    });
    assert!(home
        .path()
        .join(".local/share/box-chunked/server/lock")
        .exists());
    assert!(home
        .path()
        .join(".local/share/box-chunked/embedded/lock")
        .exists());
}

/// Under a soft open-files limit of 1,024 (hard 4,096) the server raises
/// its own and holds 1,100 connections, each served, and still answers a
/// new request at once.
#[test]
fn the_server_raises_its_open_files_limit() {
    let soft = box_chunked_server::raise_open_files_limit().unwrap();
    assert!(
        soft >= 2400,
        "this test needs 2,400 open files; the hard limit allows {soft}"
    );
    let dir = TempDir::new("nofile");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "ulimit -Sn 1024 && ulimit -Hn 4096 && exec \"$0\" serve --addr 127.0.0.1:{port} --token {ALICE}=alice --data \"$1\""
    );
    let mut c = Command::new("sh");
    c.args(["-c", &script, BIN])
        .arg(dir.path())
        .stderr(Stdio::null());
    let server = Serve::spawn(c);
    let url = server.url.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = format!("127.0.0.1:{port}");
        let request = format!(
            "GET /2.0/users/me HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ALICE}\r\n\r\n"
        );
        let mut held = Vec::new();
        for i in 0..1100 {
            let mut c = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::TcpStream::connect(&addr),
            )
            .await
            .unwrap_or_else(|_| panic!("connect {i} timed out"))
            .unwrap();
            c.write_all(request.as_bytes()).await.unwrap();
            assert_eq!(read_status(&mut c).await, 200, "connection {i}");
            held.push(c);
        }
        let started = Instant::now();
        let r = User::new(&url, ALICE).api("GET", "/users/me", None).await;
        assert_eq!(r.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        for (i, c) in held.iter_mut().enumerate() {
            c.write_all(request.as_bytes()).await.unwrap();
            assert_eq!(read_status(c).await, 200, "held connection {i} was closed");
        }
    });
}

/// Reads one small answer from a kept-alive connection: its status.
async fn read_status(c: &mut tokio::net::TcpStream) -> u16 {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .map_or(0, |r| r.unwrap_or(0));
        if n == 0 {
            return 0;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= len {
                return parse_answer(&got).0;
            }
        }
    }
}

// ---------------------------------------------------------------- chaos

/// What became of a write as its sender saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Acked,
    /// No answer (the connection failed): it may or may not have happened.
    Lost,
    Refused,
}

/// A worker's files as its acknowledged and lost writes allow them to be.
#[derive(Debug, Default, Clone)]
struct Model {
    /// File id -> the contents (SHA-1) it may hold now, and whether a delete
    /// of it was acknowledged (then it must be gone) or lost (either).
    files: BTreeMap<String, (Vec<String>, Option<Seen>)>,
    folders: Vec<String>,
    /// Contents of new files whose answer was lost (their ids are unknown).
    lost_new: Vec<String>,
    /// Contents the server refused: they must be nowhere.
    refused: Vec<String>,
    /// Every content this worker sent.
    sent: Vec<String>,
    acked_file_ids: Vec<String>,
    acked_folder_ids: Vec<String>,
}

fn seen(r: &Result<box_chunked_tests::Reply, String>, ok: u16) -> Seen {
    match r {
        Ok(r) if r.status == ok => Seen::Acked,
        // A 5xx answer may follow an effect; treat it as lost.
        Ok(r) if r.status >= 500 => Seen::Lost,
        Ok(_) => Seen::Refused,
        Err(_) => Seen::Lost,
    }
}

struct Worker {
    http: Http,
    url: String,
    token: &'static str,
    tag: u64,
    n: u64,
    m: Model,
}

impl Worker {
    /// A request with this worker's token that gives up after 10 s.
    fn request(&self, method: &str, url: &str) -> RequestBuilder<'_> {
        self.http
            .request(method, url)
            .bearer(self.token)
            .within(Duration::from_secs(10))
    }

    fn post(&self, url: &str) -> RequestBuilder<'_> {
        self.request("POST", url)
    }

    fn put(&self, url: &str) -> RequestBuilder<'_> {
        self.request("PUT", url)
    }

    fn delete(&self, url: &str) -> RequestBuilder<'_> {
        self.request("DELETE", url)
    }

    fn content(&mut self, size: usize) -> Vec<u8> {
        self.n += 1;
        let data = pseudo_random(size, (self.tag << 32) | self.n);
        self.m.sent.push(sha1(&data).to_hex());
        data
    }

    fn folder(&self) -> String {
        let k = (self.n as usize) % (self.m.folders.len() + 1);
        self.m.folders.get(k).cloned().unwrap_or_else(|| "0".into())
    }

    fn file(&self) -> Option<String> {
        let live: Vec<&String> = self
            .m
            .files
            .iter()
            .filter(|(_, v)| v.1.is_none())
            .map(|(k, _)| k)
            .collect();
        (!live.is_empty()).then(|| live[(self.n as usize * 7) % live.len()].clone())
    }

    /// A new file's answer: the id it was given, or the lost or refused content.
    fn new_file(&mut self, r: &Result<box_chunked_tests::Reply, String>, sha: String) {
        match seen(r, 201) {
            Seen::Acked => {
                let id = r.as_ref().unwrap().json()["entries"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                self.m.acked_file_ids.push(id.clone());
                self.m.files.insert(id, (vec![sha], None));
            }
            Seen::Lost => self.m.lost_new.push(sha),
            Seen::Refused => self.m.refused.push(sha),
        }
    }

    /// A new version's answer.
    fn version(&mut self, id: &str, r: &Result<box_chunked_tests::Reply, String>, sha: String) {
        let Some(f) = self.m.files.get_mut(id) else {
            return;
        };
        match seen(r, 201) {
            Seen::Acked => f.0 = vec![sha],
            Seen::Lost => f.0.push(sha),
            Seen::Refused => self.m.refused.push(sha),
        }
    }

    async fn one_shot(&mut self, target: Option<String>) {
        let data = self.content(100 + (self.n as usize * 37) % 2900);
        let sha = sha1(&data).to_hex();
        let (url, attrs) = match &target {
            Some(id) => (
                format!("{}/api/2.0/files/{id}/content", self.url),
                json!({}),
            ),
            None => (
                format!("{}/api/2.0/files/content", self.url),
                json!({"name": format!("f{}-{}.bin", self.tag, self.n), "parent": {"id": self.folder()}}),
            ),
        };
        let (ct, body) = multipart(&attrs, &data);
        let r = self
            .post(&url)
            .header("content-type", ct)
            .body(body)
            .try_send()
            .await;
        match target {
            Some(id) => self.version(&id, &r, sha),
            None => self.new_file(&r, sha),
        }
    }

    async fn chunked(&mut self, target: Option<String>) {
        let size = 1024 * (2 + self.n as usize % 3) + 100;
        let data = self.content(size);
        let sha = sha1(&data).to_hex();
        let (url, body) = match &target {
            Some(id) => (
                format!("{}/api/2.0/files/{id}/upload_sessions", self.url),
                json!({"file_size": size}),
            ),
            None => (
                format!("{}/api/2.0/files/upload_sessions", self.url),
                json!({"folder_id": self.folder(), "file_size": size, "file_name": format!("c{}-{}.bin", self.tag, self.n)}),
            ),
        };
        let created = self
            .post(&url)
            .body(Bytes::from(body.to_string()))
            .try_send()
            .await;
        let Ok(created) = created.filter_status(201) else {
            // No session, or one whose answer was lost: nothing to commit.
            self.m.refused.push(sha);
            return;
        };
        let s = session_of(&created);
        let mut parts = Vec::new();
        for (i, chunk) in data.chunks(1024).enumerate() {
            let off = i * 1024;
            let headers = [
                (
                    "content-range",
                    format!("bytes {off}-{}/{size}", off + chunk.len() - 1),
                ),
                ("digest", digest(chunk)),
            ];
            match self
                .put(&s.upload)
                .headers(&headers)
                .body(Bytes::copy_from_slice(chunk))
                .try_send()
                .await
            {
                Ok(r) if r.status == 200 => parts.push(r.json()["part"].clone()),
                // The session stays open, its size reserved, until it expires.
                _ => {
                    self.m.refused.push(sha);
                    return;
                }
            }
        }
        let commit = json!({ "parts": parts }).to_string();
        let r = self
            .post(&s.commit)
            .headers(&[("digest", digest(&data))])
            .body(Bytes::from(commit))
            .try_send()
            .await;
        match target {
            Some(id) => self.version(&id, &r, sha),
            None => self.new_file(&r, sha),
        }
    }

    async fn step(&mut self) {
        self.n += 1;
        match self.n % 20 {
            0 | 1 => {
                let body = json!({"name": format!("d{}-{}", self.tag, self.n), "parent": {"id": self.folder()}});
                let r = self
                    .post(&format!("{}/2.0/folders", self.url))
                    .body(Bytes::from(body.to_string()))
                    .try_send()
                    .await;
                if let Ok(r) = r.filter_status(201) {
                    let id = r.json()["id"].as_str().unwrap().to_owned();
                    self.m.acked_folder_ids.push(id.clone());
                    self.m.folders.push(id);
                }
            }
            2..=6 => self.one_shot(None).await,
            7..=9 => self.chunked(None).await,
            10..=13 => match self.file() {
                Some(id) => self.one_shot(Some(id)).await,
                None => self.one_shot(None).await,
            },
            14 | 15 => match self.file() {
                Some(id) => self.chunked(Some(id)).await,
                None => self.chunked(None).await,
            },
            16 | 17 => {
                if let Some(id) = self.file() {
                    let body = json!({"parent": {"id": self.folder()}});
                    let _ = self
                        .put(&format!("{}/2.0/files/{id}", self.url))
                        .body(Bytes::from(body.to_string()))
                        .try_send()
                        .await;
                }
            }
            18 => {
                if let Some(id) = self.file() {
                    let r = self
                        .delete(&format!("{}/2.0/files/{id}", self.url))
                        .try_send()
                        .await;
                    let s = seen(&r, 204);
                    if s != Seen::Refused {
                        if let Some(f) = self.m.files.get_mut(&id) {
                            f.1 = Some(s);
                        }
                    }
                }
            }
            _ => {
                // An empty folder of this worker, deleted without `recursive`
                // (a folder with files answers 400 and stays).
                if let Some(id) = self.m.folders.pop() {
                    let r = self
                        .delete(&format!("{}/2.0/folders/{id}", self.url))
                        .try_send()
                        .await;
                    if seen(&r, 204) == Seen::Refused {
                        self.m.folders.insert(0, id);
                    }
                }
            }
        }
    }
}

trait FilterStatus {
    fn filter_status(self, ok: u16) -> Result<box_chunked_tests::Reply, ()>;
}

impl FilterStatus for Result<box_chunked_tests::Reply, String> {
    fn filter_status(self, ok: u16) -> Result<box_chunked_tests::Reply, ()> {
        self.ok().filter(|r| r.status == ok).ok_or(())
    }
}

/// Every file a user can reach from the root: (id, SHA-1 of its download).
async fn walk(u: &User) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut todo = vec!["0".to_owned()];
    while let Some(f) = todo.pop() {
        for e in u.list(&f).await {
            let id = e["id"].as_str().unwrap().to_owned();
            if e["type"] == "folder" {
                todo.push(id);
            } else {
                let body = u.download(&id).await;
                assert_eq!(body.status, 200, "file {id}");
                files.push((id, sha1(&body.body).to_hex()));
            }
        }
    }
    files
}

/// Two users, four clients each, creating, versioning, moving and deleting
/// files and folders under a quota while the server is killed (`kill -9`)
/// and restarted. Afterwards each file a user reaches holds content sent
/// for it (the last acknowledged, or one sent after it whose answer was
/// lost), every acknowledged file not deleted is there, no user reaches or
/// holds another's data or refused data, no id was handed out twice, and
/// `space_used` is the sum of every version held plus open sessions (the
/// trash is off, so that a delete frees its bytes at once: the trash's
/// own accounting is tests/it/trash.rs's).
#[test]
fn two_users_racing_through_a_kill_and_restart_keep_one_truth() {
    let dir = TempDir::new("chaos");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let extra = ["--quota", "600K", "--trash-retention", "0"];
    let first = serve(dir.path(), &addr, &extra);
    let url = first.url.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let models: Arc<Mutex<Vec<(usize, Model)>>> = Arc::default();
    let mut handles = Vec::new();
    for (user, token) in [(0usize, ALICE), (1, BOB)] {
        for w in 0..4u64 {
            let (stop, models, url) = (stop.clone(), models.clone(), url.clone());
            handles.push(rt.spawn(async move {
                let mut worker = Worker {
                    http: Http::new(),
                    url,
                    token,
                    tag: (user as u64) * 16 + w + 1,
                    n: 0,
                    m: Model::default(),
                };
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    worker.step().await;
                }
                models.lock().unwrap().push((user, worker.m));
            }));
        }
    }
    std::thread::sleep(Duration::from_millis(2500));
    drop(first); // SIGKILL, then wait
    let second = serve(dir.path(), &addr, &extra);
    std::thread::sleep(Duration::from_millis(3000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    let models = models.lock().unwrap().clone();
    rt.block_on(verify(&second.url, &models));
}

async fn verify(url: &str, models: &[(usize, Model)]) {
    let users = [User::new(url, ALICE), User::new(url, BOB)];
    let names = ["alice", "bob"];
    let mut sent: [BTreeSet<String>; 2] = Default::default();
    let mut refused = BTreeSet::new();
    for (u, m) in models {
        sent[*u].extend(m.sent.iter().cloned());
        refused.extend(m.refused.iter().cloned());
    }
    let (mut writes, mut ids) = (0, BTreeSet::new());
    for (u, m) in models {
        writes += m.sent.len();
        for id in &m.acked_file_ids {
            assert!(
                ids.insert(("file", id.clone())),
                "file id {id} acknowledged twice"
            );
        }
        for id in &m.acked_folder_ids {
            assert!(
                ids.insert(("folder", id.clone())),
                "folder id {id} acknowledged twice"
            );
        }
        let _ = u;
    }
    eprintln!("{writes} writes sent, {} ids acknowledged", ids.len());
    for (u, user) in users.iter().enumerate() {
        let found = walk(user).await;
        let found_ids: BTreeMap<&String, &String> = found.iter().map(|(i, s)| (i, s)).collect();
        for (id, sha) in &found {
            assert!(
                sent[u].contains(sha),
                "{} holds content nobody of theirs sent (file {id})",
                names[u]
            );
            assert!(
                !refused.contains(sha),
                "{} holds refused content (file {id})",
                names[u]
            );
            let model = models
                .iter()
                .filter(|(o, _)| *o == u)
                .find_map(|(_, m)| m.files.get(id));
            match model {
                Some((allowed, _)) => assert!(
                    allowed.contains(sha),
                    "file {id} of {} holds content it was not sent last",
                    names[u]
                ),
                None => assert!(
                    models
                        .iter()
                        .any(|(o, m)| *o == u && m.lost_new.contains(sha)),
                    "file {id} of {} is no file whose creation was lost",
                    names[u]
                ),
            }
        }
        for (o, m) in models.iter().filter(|(o, _)| *o == u) {
            let _ = o;
            for (id, (_, deleted)) in &m.files {
                match deleted {
                    Some(Seen::Acked) => {
                        assert!(!found_ids.contains_key(id), "deleted file {id} is back")
                    }
                    None => assert!(
                        found_ids.contains_key(id),
                        "acknowledged file {id} of {} is gone",
                        names[u]
                    ),
                    _ => {}
                }
            }
        }
        // The other user's acknowledged files are not this user's to see.
        for (_, m) in models.iter().filter(|(o, _)| *o != u) {
            for id in m.acked_file_ids.iter().take(20) {
                let r = user.api("GET", &format!("/files/{id}"), None).await;
                assert_eq!(r.status, 404, "{} sees file {id} of another", names[u]);
            }
        }
        // space_used: every version held, and the open sessions.
        let mut held = 0u64;
        for (id, _) in &found {
            let f = user.api("GET", &format!("/files/{id}"), None).await.json();
            held += f["size"].as_u64().unwrap();
            let v = user
                .api("GET", &format!("/files/{id}/versions"), None)
                .await
                .json();
            held += v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["size"].as_u64().unwrap())
                .sum::<u64>();
        }
        let open = Http::new()
            .get(&format!("{url}/__box-chunked/sessions?owner={}", names[u]))
            .bearer(ADMIN)
            .send()
            .await
            .json();
        let reserved: u64 = open["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["file_size"].as_u64().unwrap())
            .sum();
        let used = user.space_used().await;
        assert_eq!(
            used,
            held + reserved,
            "{}: space_used {used}, files {held}, sessions {reserved}",
            names[u]
        );
        assert!(
            used <= 600 * 1024,
            "{} holds {used} bytes over a 600K quota",
            names[u]
        );
        eprintln!(
            "{}: {} files, {held} bytes in files, {reserved} reserved",
            names[u],
            found.len()
        );
    }
}
