//! What every test of the built binary shares: `box-chunked serve` as a
//! child process ([`Serve`]), the command pointed at it ([`cli`]), and the
//! readers of its output and of the server's counters.

use box_chunked_tests::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_box-chunked");
/// One mebibyte.
pub(crate) const MIB: usize = 1 << 20;

/// A `box-chunked serve` process, killed (SIGKILL) when dropped.
pub(crate) struct Serve {
    /// The process.
    pub(crate) child: Child,
    /// Its base URL (from the first line it prints).
    pub(crate) url: String,
    _dir: Option<TempDir>,
}

impl Serve {
    /// `serve` on a fresh data directory with alice's token ([`ALICE`]),
    /// the admin token ([`ADMIN`]) and `extra` arguments.
    pub(crate) fn start(extra: &[&str]) -> Self {
        let dir = TempDir::new("serve");
        let mut c = Command::new(BIN);
        c.args(["serve", "--addr", "127.0.0.1:0"])
            .args(["--token", &format!("{ALICE}=alice")])
            .args(["--admin-token", ADMIN])
            .arg("--data")
            .arg(dir.path())
            .args(extra)
            .stderr(Stdio::null());
        let mut s = Self::spawn(c);
        s._dir = Some(dir);
        s
    }

    /// `serve` on `dir` at `addr` with alice's and bob's tokens, the admin
    /// token, a minimum file size of 1 byte and `extra` arguments.
    pub(crate) fn on(dir: &Path, addr: &str, extra: &[&str]) -> Self {
        let mut c = Self::command(dir, addr, extra);
        // Nobody reads its log: a full pipe must not stall the server.
        c.stderr(Stdio::null());
        Self::spawn(c)
    }

    /// The command [`Serve::on`] runs (its stderr piped), for a test that
    /// wants its exit and its message.
    pub(crate) fn command(dir: &Path, addr: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(["serve", "--addr", addr, "--min-file-size", "1"])
            .arg("--data")
            .arg(dir)
            .args(["--token", &format!("{ALICE}=alice")])
            .args(["--token", &format!("{BOB}=bob")])
            .args(["--admin-token", ADMIN])
            .args(extra)
            .stderr(Stdio::piped());
        c
    }

    /// Runs a command that starts a server and reads its URL.
    pub(crate) fn spawn(mut c: Command) -> Self {
        let mut child = c
            .stdout(Stdio::piped())
            .spawn()
            .expect("box-chunked serve starts");
        let url = url_of(&mut child);
        Self {
            child,
            url,
            _dir: None,
        }
    }

    /// Kills it with SIGKILL and reaps it.
    pub(crate) fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// The server's counters (`GET /__box-chunked/counters`).
    pub(crate) async fn counters(&self) -> Value {
        Http::new()
            .get(&format!("{}/__box-chunked/counters", self.url))
            .bearer(ADMIN)
            .send()
            .await
            .json()
    }

    /// The counters once no request but the one reading them is running:
    /// the work of a killed client (which runs to its end) is finished.
    pub(crate) async fn settled(&self) -> Value {
        for _ in 0..1000 {
            let c = self.counters().await;
            if c["requests_running"] == 1 {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("requests still running at {} after 10 s", self.url);
    }

    /// Moves the server's clock `secs` ahead (its admin route): its access
    /// tokens and sessions expire without waiting.
    pub(crate) async fn advance_clock(&self, secs: i64) {
        let r = Http::new()
            .post(&format!("{}/__box-chunked/clock", self.url))
            .bearer(ADMIN)
            .body(serde_json::json!({ "advance_secs": secs }).to_string())
            .send()
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
    }

    /// The SHA-1 of alice's file `id`, downloaded.
    pub(crate) async fn download_sha1(&self, id: &str) -> box_chunked_proto::Sha1Digest {
        let http = Http::new();
        let mut r = http
            .get(&format!("{}/2.0/files/{id}/content", self.url))
            .bearer(ALICE)
            .send()
            .await;
        // Box's redirect to a URL that needs no token.
        if r.status == 302 {
            let to = r.header("location").expect("a Location").to_owned();
            r = http.get(&to).send().await;
        }
        assert_eq!(r.status, 200, "download of {id}");
        sha1(&r.body)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL a `serve` process prints on its first line of stdout.
pub(crate) fn url_of(child: &mut Child) -> String {
    use std::io::BufRead as _;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    line.split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned()
}

/// `box-chunked` signed in as alice to `s` (its API and upload roots
/// given apart), with a private data directory under `home` and no
/// credential or threshold from the environment.
pub(crate) fn cli(s: &Serve, home: &Path) -> Command {
    cli_at(&s.url, home)
}

/// [`cli`] pointed at `url` (a proxy in front of a [`Serve`], say).
pub(crate) fn cli_at(url: &str, home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("XDG_DATA_HOME", home)
        .env_remove("BOX_ACCESS_TOKEN")
        .env_remove("BOX_CHUNKED_ONE_SHOT_BELOW")
        .args([
            "--token",
            ALICE,
            "--api-url",
            &format!("{url}/2.0"),
            "--upload-url",
            &format!("{url}/api/2.0"),
        ]);
    c
}

/// Writes `size` pseudo-random bytes (from `seed`) to `dir/name`.
pub(crate) fn write_file(dir: &Path, name: &str, size: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let data = pseudo_random(size, seed);
    let p = dir.join(name);
    std::fs::write(&p, &data).unwrap();
    (p, data)
}

/// A finished command's stderr.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The last line of a finished command's stdout, as JSON (`Null` if none).
pub(crate) fn last_json(o: &Output) -> Value {
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or(Value::Null)
}

/// Every line of `out` that is JSON.
pub(crate) fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Sends `sig` (`-INT`, `-TERM`, ...) to `child` with kill(1).
pub(crate) fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The `box-chunked ...` commands printed in `text`, each as far as a
/// shell would take it: up to an unquoted `(`, `)` or `;`, or the end of
/// its line.
pub(crate) fn printed_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("box-chunked ") {
            let tail = &rest[at..];
            let mut quoted = false;
            let end = tail
                .char_indices()
                .find(|&(_, c)| {
                    if c == '\'' {
                        quoted = !quoted;
                    }
                    !quoted && matches!(c, '(' | ')' | ';' | '`')
                })
                .map_or(tail.len(), |(i, _)| i);
            out.push(tail[..end].trim().to_owned());
            rest = &tail[end..];
        }
    }
    out
}

/// `c` with no credential from the environment, and no `--local` either.
pub(crate) fn without_credentials(c: &mut Command) -> &mut Command {
    for k in [
        "BOX_ACCESS_TOKEN",
        "BOX_CONFIG",
        "BOX_CONFIG_JSON",
        "BOX_TOKEN_FILE",
        "BOX_CLIENT_ID",
        "BOX_CLIENT_SECRET",
        "BOX_CHUNKED_LOCAL",
    ] {
        c.env_remove(k);
    }
    c
}

/// Runs `cmd` with `bash -c`, as a person pastes a printed command:
/// `box-chunked` is the binary under test (first on `PATH`), the data
/// directory is under `home`, and the only credential is `token` in
/// `BOX_ACCESS_TOKEN`, if any.
pub(crate) fn paste(cmd: &str, home: &Path, token: Option<&str>) -> Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(cmd)
        .env("PATH", path)
        .env("XDG_DATA_HOME", home);
    without_credentials(&mut c);
    if let Some(t) = token {
        c.env("BOX_ACCESS_TOKEN", t);
    }
    c.output().unwrap()
}
