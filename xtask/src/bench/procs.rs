//! The measured processes: a `box-chunked serve` per timed run (its CPU
//! seconds and counters), the measuring clients' JSON records, medians, and
//! the generated source file.

use super::GIB;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub(super) struct ServerProc {
    child: Child,
    url: String,
    data: PathBuf,
}

impl ServerProc {
    /// The server process's CPU seconds so far (user + system).
    fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            f.get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        // utime and stime are fields 14 and 15 of stat(5), 12 and 13 here; USER_HZ is 100.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// The server's counters (`GET /__box-chunked/counters`), over a plain
    /// HTTP/1.1 exchange on loopback (none from an HTTPS server).
    fn counters(&self) -> Value {
        use std::io::Read as _;
        let Some(addr) = self.url.strip_prefix("http://") else {
            return Value::Null;
        };
        let addr = addr.trim_end_matches('/');
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return Value::Null;
        };
        let req = format!(
            "GET /__box-chunked/counters HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer BENCH-ADMIN\r\nConnection: close\r\n\r\n"
        );
        let mut out = Vec::new();
        if s.write_all(req.as_bytes()).is_err() || s.read_to_end(&mut out).is_err() {
            return Value::Null;
        }
        let text = String::from_utf8_lossy(&out);
        text.split_once("\r\n\r\n")
            .and_then(|(_, body)| serde_json::from_str(body).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// A certificate and key for an HTTPS server (PEM files).
pub(super) struct TlsFiles {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
    /// The CA the client trusts.
    pub(super) ca: PathBuf,
}

pub(super) fn start_server_with(
    root: &Path,
    work: &Path,
    part_size: Option<u64>,
    verify_only: bool,
    tls: Option<&TlsFiles>,
) -> Result<ServerProc, String> {
    let data = work.join(format!("server-{}-{verify_only}", part_size.unwrap_or(0)));
    let _ = std::fs::remove_dir_all(&data);
    let mut cmd = Command::new(root.join("target/release/box-chunked"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--token",
        "BENCH=bench",
        "--admin-token",
        "BENCH-ADMIN",
        "--min-file-size",
        "1",
    ])
    .arg("--data")
    .arg(&data)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(p) = part_size {
        cmd.args(["--part-size", &p.to_string()]);
    }
    if verify_only {
        cmd.arg("--verify-only");
    }
    if let Some(t) = tls {
        cmd.arg("--tls-cert")
            .arg(&t.cert)
            .arg("--tls-key")
            .arg(&t.key);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting the server: {e}"))?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .ok_or_else(|| format!("no URL in {line:?}"))?
        .to_owned();
    Ok(ServerProc { child, url, data })
}

/// One timed run on a fresh server (new data directory) after `sync`, so
/// that no run pays for an earlier run's disk writeback: the client's JSON
/// line plus the server's CPU seconds and counters.
pub(super) fn timed(
    root: &Path,
    work: &Path,
    (part_size, verify_only): (Option<u64>, bool),
    tls: Option<&TlsFiles>,
    client: impl FnOnce(&str) -> Command,
) -> Result<Value, String> {
    let _ = Command::new("sync").status();
    let server = start_server_with(root, work, part_size, verify_only, tls)?;
    let cpu0 = server.cpu_secs();
    let mut r = run_json(&mut client(&server.url))?;
    r["server_cpu_secs"] = json!(server.cpu_secs() - cpu0);
    let c = server.counters();
    r["server_parts"] = c["parts_stored"].clone();
    r["server_parts_one_pass"] = c["parts_hashed_in_one_pass"].clone();
    Ok(r)
}

/// Medians of runs of one setting, with the derived rates.
pub(super) fn summarize(runs: &[Value], bytes: u64, sha1_rate: f64) -> Value {
    let med = |k: &str| {
        median(
            runs.iter()
                .map(|r| r[k].as_f64().unwrap_or(f64::NAN))
                .collect(),
        )
    };
    let gib = bytes as f64 / GIB as f64;
    let secs = med("secs");
    let (cpu, server_cpu) = (med("cpu_secs"), med("server_cpu_secs"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    json!({
        "bytes": bytes, "runs": runs.len(), "secs": secs, "gb_per_s": bytes as f64 / secs / 1e9,
        "ratio_to_sha1": bytes as f64 / secs / sha1_rate,
        "cpu_secs_per_gib": cpu / gib, "server_cpu_secs_per_gib": server_cpu / gib,
        // How much of the machine the two processes kept busy, and the ratio
        // to SHA-1 they would reach with the same CPU work at 100% busy.
        "machine_busy": (cpu + server_cpu) / (secs * cores),
        "cpu_bound_ratio": bytes as f64 / ((cpu + server_cpu) / cores) / sha1_rate,
        "peak_rss": med("peak_rss"),
        "server_parts": runs.last().map_or(Value::Null, |r| r["server_parts"].clone()),
        "server_parts_one_pass": runs.last().map_or(Value::Null, |r| r["server_parts_one_pass"].clone()),
        "each": runs,
    })
}

/// Runs a measuring client and returns its record: the last JSON line of
/// stdout (the bench example's record), or for `box-chunked --stats` the
/// `stats:` line of stderr with the uploaded size from the file on stdout.
pub(super) fn run_json(cmd: &mut Command) -> Result<Value, String> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}: {err}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    let last: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line:?}"))?;
    match err.lines().find_map(|l| l.strip_prefix("stats: ")) {
        Some(stats) => {
            let s: Value = serde_json::from_str(stats).map_err(|e| format!("{e}: {stats:?}"))?;
            Ok(json!({
                "kind": "upload", "client": "box-chunked", "bytes": last["size"],
                "secs": s["wall_secs"], "cpu_secs": s["cpu_secs"], "peak_rss": s["peak_rss_bytes"],
            }))
        }
        None => {
            eprint!("{err}");
            Ok(last)
        }
    }
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(super) fn write_source(path: &Path, size: u64) -> Result<(), String> {
    let f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for c in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            c.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        w.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    w.flush().map_err(|e| e.to_string())
}
