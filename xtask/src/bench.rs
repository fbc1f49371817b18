//! `cargo xtask bench [--quick]`: performance measured side by side, in one run.
//!
//! - limits: one core's SHA-1 rate with the hasher we ship, the two-digest rate
//!   of our hashing path, loopback HTTP PUT throughput to a discarding server,
//!   and the disk's rate for 32 MiB files written and fsynced four at a time;
//! - us: a 1 GiB file (256 MiB with --quick) uploaded by `box-chunked upload`
//!   (timed with its `--stats`) to `box-chunked serve` (another process) on loopback at the server's default
//!   part size and at 64 MiB, parallelism 1, 4 and 8, and to the verify-only
//!   server (the client alone): wall time, GB/s, client and server CPU
//!   seconds per GiB, how busy the machine was, client peak RSS;
//! - peers: Box's Python SDKs (`box_sdk_gen` `upload_big_file`, older `boxsdk`
//!   `ChunkedUploader`), same server, same file, same run;
//! - scale: 1, 4, 8 and 16 GiB (1 and 4 with --quick) from a generated source
//!   to the verify-only server: seconds per GiB and peak RSS.
//!
//! Every timed run gets a fresh server after `sync`; runs go round-robin over
//! the settings. Medians of several runs (1 with --quick). Writes `target/bench.json` and the results section of
//! `docs/performance.md`, ending with the targets, met or not.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const GIB: u64 = 1 << 30;

struct ServerProc {
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
    /// HTTP/1.1 exchange on loopback.
    fn counters(&self) -> Value {
        use std::io::Read as _;
        let addr = self.url.trim_start_matches("http://").trim_end_matches('/');
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

fn start_server_with(
    root: &Path,
    work: &Path,
    part_size: Option<u64>,
    verify_only: bool,
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
        .find(|w| w.starts_with("http://"))
        .ok_or_else(|| format!("no URL in {line:?}"))?
        .to_owned();
    Ok(ServerProc { child, url, data })
}

/// Part size of the scale runs: the server's default at 1 GiB, kept at every
/// size so that peak RSS compares like with like.
const SCALE_PART: u64 = 32 << 20;

/// The server's default part size for the 256 MiB and 1 GiB files
/// (`box_chunked_proto::rules::default_part_size`).
const DEFAULT_PART: u64 = 32 << 20;

/// One timed run on a fresh server (new data directory) after `sync`, so
/// that no run pays for an earlier run's disk writeback: the client's JSON
/// line plus the server's CPU seconds and counters.
fn timed(
    root: &Path,
    work: &Path,
    part_size: Option<u64>,
    verify_only: bool,
    client: impl FnOnce(&str) -> Command,
) -> Result<Value, String> {
    let _ = Command::new("sync").status();
    let server = start_server_with(root, work, part_size, verify_only)?;
    let cpu0 = server.cpu_secs();
    let mut r = run_json(&mut client(&server.url))?;
    r["server_cpu_secs"] = json!(server.cpu_secs() - cpu0);
    let c = server.counters();
    r["server_parts"] = c["parts_stored"].clone();
    r["server_parts_one_pass"] = c["parts_hashed_in_one_pass"].clone();
    Ok(r)
}

/// Medians of runs of one setting, with the derived rates.
fn summarize(runs: &[Value], bytes: u64, sha1_rate: f64) -> Value {
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
fn run_json(cmd: &mut Command) -> Result<Value, String> {
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn write_source(path: &Path, size: u64) -> Result<(), String> {
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

/// Rewrites the results section of docs/performance.md from target/bench.json.
pub(crate) fn report(root: &Path) -> Result<(), String> {
    let text = std::fs::read(root.join("target/bench.json"))
        .map_err(|e| format!("target/bench.json: {e}"))?;
    let all: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let records = all["records"].as_array().cloned().unwrap_or_default();
    let of = |k: &str| {
        records
            .iter()
            .filter(|r| r["kind"].as_str().is_some_and(|x| x.starts_with(k)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let limits = of("limits").into_iter().next().unwrap_or_default();
    write_markdown(
        root,
        &all["meta"],
        all["quick"].as_bool().unwrap_or(false),
        &limits,
        &of("ours"),
        &of("peer:"),
        &of("scale"),
    )
}

// One script, top to bottom, longer than 80 lines on purpose: it is the
// benchmark's plan in the order the numbers are taken (limits, rounds over
// the settings, peers, scale), and its steps share the work directory and the
// tallies of the rounds.
pub(crate) fn run(root: &Path, quick: bool) -> Result<(), String> {
    let runs = if quick { 1 } else { 3 };
    let size = if quick { 256 << 20 } else { GIB };
    eprintln!("==> building release binaries");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let ok = Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "box-chunked-cli",
            "-p",
            "box-chunked-hyper",
            "--bin",
            "box-chunked",
            "--example",
            "bench",
        ])
        .status()
        .map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err("release build failed".into());
    }
    let bench_bin = root.join("target/release/examples/bench");
    let cli_bin = root.join("target/release/box-chunked");
    let work = root.join("target/bench-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut records = Vec::new();

    eprintln!("==> limits");
    let limits = run_json(
        Command::new(&bench_bin)
            .args([
                "limits",
                "--bytes",
                &(if quick { 256u64 << 20 } else { GIB }).to_string(),
                "--dir",
            ])
            .arg(work.join("disk")),
    )?;
    eprintln!("    {limits}");
    records.push(limits.clone());
    let sha1_rate = limits["sha1_bytes_per_sec"].as_f64().unwrap_or(f64::NAN);

    let source = work.join("source.bin");
    write_source(&source, size)?;
    // Runs go round-robin over the settings (one round = one run of each),
    // so that a drift in the machine's speed touches every setting alike.
    let ours_settings: Vec<(Option<u64>, bool, usize)> =
        [(None, false), (Some(64u64 << 20), false), (None, true)]
            .into_iter()
            .flat_map(|(ps, vo)| [1usize, 4, 8].map(|p| (ps, vo, p)))
            .collect();
    let python = root.join(".venv/bin/python");
    eprintln!("==> Box's Python SDKs' environment");
    let env_ok = Command::new("bash")
        .arg(root.join("scripts/python-env.sh"))
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success());
    if !env_ok {
        eprintln!("    skipped: no Python environment");
    }
    let peer_modes: &[&str] = if env_ok { &["gen", "legacy"] } else { &[] };
    let mut ours_runs = vec![Vec::new(); ours_settings.len()];
    let mut peer_runs = vec![Vec::new(); peer_modes.len()];
    for round in 0..runs {
        eprintln!(
            "==> round {} of {runs}: box-chunked and the peers",
            round + 1
        );
        for (i, &(part_size, verify_only, parallel)) in ours_settings.iter().enumerate() {
            let r = timed(root, &work, part_size, verify_only, |url| {
                // The `box-chunked` command itself, checkpoint file included.
                let mut c = Command::new(&cli_bin);
                c.env("XDG_DATA_HOME", work.join("cli-home"))
                    .env_remove("BOX_ACCESS_TOKEN")
                    .args([
                        "--token",
                        "BENCH",
                        "--api-url",
                        &format!("{url}/2.0"),
                        "--upload-url",
                        &format!("{url}/api/2.0"),
                        "--stats",
                        "upload",
                        "--json",
                        "--no-progress",
                        "--parallel",
                        &parallel.to_string(),
                    ])
                    .arg(&source);
                c
            })?;
            eprintln!("    ours {part_size:?} verify-only={verify_only} parallel={parallel}: {r}");
            ours_runs[i].push(r);
        }
        for (i, mode) in peer_modes.iter().enumerate() {
            let r = timed(root, &work, None, false, |url| {
                let mut c = Command::new(&python);
                c.arg(root.join("tests/interop/bench_peers.py"))
                    .args([*mode, url, "BENCH"])
                    .arg(&source);
                c
            })?;
            eprintln!("    peer {mode}: {r}");
            peer_runs[i].push(r);
        }
    }
    let mut ours = Vec::new();
    for (&(part_size, verify_only, parallel), runs_of) in ours_settings.iter().zip(&ours_runs) {
        let mut rec = summarize(runs_of, size, sha1_rate);
        rec["kind"] = json!("ours");
        rec["server"] = json!(if verify_only {
            "verify-only (client alone)"
        } else {
            "durable"
        });
        rec["part_size"] = json!(part_size.map_or(
            "default (32 MiB at 1 GiB)".to_owned(),
            |p| format!("{} MiB", p >> 20)
        ));
        rec["parallel"] = json!(parallel);
        records.push(rec.clone());
        ours.push(rec);
    }
    let mut peers = Vec::new();
    for (mode, runs_of) in peer_modes.iter().zip(&peer_runs) {
        let mut rec = summarize(runs_of, size, sha1_rate);
        rec["kind"] = json!(format!("peer:{mode}"));
        records.push(rec.clone());
        peers.push(rec);
    }

    eprintln!("==> scale (generated source, verify-only server, parallelism 4, {} MiB parts at every size)", SCALE_PART >> 20);
    let sizes: &[u64] = if quick { &[1, 4] } else { &[1, 4, 8, 16] };
    let mut scale_runs = vec![Vec::new(); sizes.len()];
    for round in 0..runs {
        for (i, &gib) in sizes.iter().enumerate() {
            // 8 and 16 GiB once: they take long, and are already averages.
            if gib > 4 && round > 0 {
                continue;
            }
            let r = timed(root, &work, Some(SCALE_PART), true, |url| {
                let mut c = Command::new(&bench_bin);
                c.args([
                    "upload",
                    url,
                    "BENCH",
                    "--parallel",
                    "4",
                    "--generate",
                    &(gib * GIB).to_string(),
                ]);
                c
            })?;
            eprintln!("    {gib} GiB: {r}");
            scale_runs[i].push(r);
        }
    }
    let mut scale = Vec::new();
    for (&gib, runs_of) in sizes.iter().zip(&scale_runs) {
        let mut rec = summarize(runs_of, gib * GIB, sha1_rate);
        rec["kind"] = json!("scale");
        rec["gib"] = json!(gib);
        rec["secs_per_gib"] = json!(rec["secs"].as_f64().unwrap_or(f64::NAN) / gib as f64);
        records.push(rec.clone());
        scale.push(rec);
    }
    let _ = std::fs::remove_dir_all(&work);

    let meta = machine(root);
    let all = json!({"meta": meta, "quick": quick, "records": records});
    let out = root.join("target/bench.json");
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&all).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    eprintln!("==> wrote {}", out.display());
    write_markdown(root, &meta, quick, &limits, &ours, &peers, &scale)?;
    Ok(())
}

fn machine(root: &Path) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let commit = Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({"cpu": cpu, "cores": cores, "commit": commit, "date": date})
}

fn mib(v: &Value) -> String {
    format!(
        "{:.0} MiB",
        v.as_f64().unwrap_or(f64::NAN) / (1 << 20) as f64
    )
}

fn pct(v: &Value) -> String {
    format!("{:.0}%", v.as_f64().unwrap_or(f64::NAN) * 100.0)
}

fn one_pass(r: &Value) -> String {
    match (
        r["server_parts_one_pass"].as_u64(),
        r["server_parts"].as_u64(),
    ) {
        (Some(a), Some(b)) if b > 0 => format!("{a}/{b}"),
        _ => "-".to_owned(),
    }
}

fn f(v: &Value, digits: usize) -> String {
    format!("{:.*}", digits, v.as_f64().unwrap_or(f64::NAN))
}

#[allow(clippy::too_many_arguments)]
// One page written top to bottom, longer than 80 lines on purpose: each
// table is a few lines of formatting, and the page reads as it is written.
fn write_markdown(
    root: &Path,
    meta: &Value,
    quick: bool,
    limits: &Value,
    ours: &[Value],
    peers: &[Value],
    scale: &[Value],
) -> Result<(), String> {
    let mut md = String::new();
    md.push_str(&format!(
        "Measured {} on {} ({} cores), commit {}{}.\n\n",
        meta["date"].as_str().unwrap_or(""),
        meta["cpu"].as_str().unwrap_or(""),
        meta["cores"],
        meta["commit"].as_str().unwrap_or(""),
        if quick {
            ", `--quick` (256 MiB, one run)"
        } else {
            ", medians of 3 runs"
        }
    ));
    let sha = limits["sha1_bytes_per_sec"].as_f64().unwrap_or(f64::NAN);
    md.push_str("### Limits\n\n| what | GB/s | ratio to one core's SHA-1 |\n| --- | --- | --- |\n");
    for (name, key) in [
        ("SHA-1, one core (`sha1` crate)", "sha1_bytes_per_sec"),
        (
            "part + whole-file digests, the core's two-chain path",
            "two_digest_bytes_per_sec",
        ),
        (
            "part + whole-file digests, two separate hashers",
            "two_hashers_bytes_per_sec",
        ),
        (
            "loopback HTTP PUT to a discarding server (4 parallel)",
            "put_bytes_per_sec",
        ),
        (
            "disk: 32 MiB files written and fsynced, 4 at a time",
            "disk_bytes_per_sec",
        ),
    ] {
        let v = limits[key].as_f64().unwrap_or(f64::NAN);
        md.push_str(&format!("| {name} | {:.2} | {:.2} |\n", v / 1e9, v / sha));
    }
    md.push_str("\nEvery timed run below starts a fresh server (new data directory) after `sync`. \
\"machine busy\" is (client CPU + server CPU) / (cores x wall time); \"ratio at 100% busy\" is the ratio to SHA-1 the same CPU work would reach if it kept every core busy: a ceiling for this machine. \
\"one pass\" counts the parts the durable server hashed into the whole-file SHA-1 as they arrived.\n");
    md.push_str("\n### box-chunked, client and server on this machine\n\n| server | part size | parallel | seconds | GB/s | ratio to SHA-1 | client CPU s/GiB | server CPU s/GiB | machine busy | ratio at 100% busy | client peak RSS | one pass |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in ours {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["server"].as_str().unwrap_or(""),
            r["part_size"].as_str().unwrap_or(""),
            r["parallel"],
            f(&r["secs"], 2),
            f(&r["gb_per_s"], 3),
            f(&r["ratio_to_sha1"], 2),
            f(&r["cpu_secs_per_gib"], 2),
            f(&r["server_cpu_secs_per_gib"], 2),
            pct(&r["machine_busy"]),
            f(&r["cpu_bound_ratio"], 2),
            mib(&r["peak_rss"]),
            one_pass(r),
        ));
    }
    let durable = |r: &&Value| r["server"].as_str() == Some("durable");
    let default_p4 = ours.iter().filter(durable).find(|r| {
        r["part_size"]
            .as_str()
            .is_some_and(|p| p.starts_with("default"))
            && r["parallel"] == 4
    });
    let best_ours = ours
        .iter()
        .filter(durable)
        .filter_map(|r| r["secs"].as_f64())
        .fold(f64::INFINITY, f64::min);
    let fastest_peer = peers
        .iter()
        .filter_map(|r| r["secs"].as_f64())
        .fold(f64::INFINITY, f64::min);
    if !peers.is_empty() {
        md.push_str("\n### Box's Python SDKs, same server, same file, same run\n\n| client | seconds | GB/s | client CPU s/GiB | server CPU s/GiB | machine busy | peak RSS | one pass | box-chunked (durable server, best setting) is faster by |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for r in peers {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1}x |\n",
                r["kind"].as_str().unwrap_or(""),
                f(&r["secs"], 2),
                f(&r["gb_per_s"], 3),
                f(&r["cpu_secs_per_gib"], 2),
                f(&r["server_cpu_secs_per_gib"], 2),
                pct(&r["machine_busy"]),
                mib(&r["peak_rss"]),
                one_pass(r),
                r["secs"].as_f64().unwrap_or(f64::NAN) / best_ours
            ));
        }
    }
    md.push_str(&format!("\n### Scale (generated source, verify-only server, parallelism 4, {} MiB parts at every size)\n\n| size | runs | seconds | seconds per GiB | client CPU s/GiB | client peak RSS |\n| --- | --- | --- | --- | --- | --- |\n", SCALE_PART >> 20));
    for r in scale {
        md.push_str(&format!(
            "| {} GiB | {} | {} | {} | {} | {} |\n",
            r["gib"],
            r["runs"],
            f(&r["secs"], 2),
            f(&r["secs_per_gib"], 2),
            f(&r["cpu_secs_per_gib"], 2),
            mib(&r["peak_rss"])
        ));
    }

    // Issue 7's targets, from the numbers above.
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let client_alone = ours
        .iter()
        .filter(|r| {
            r["server"]
                .as_str()
                .is_some_and(|s| s.starts_with("verify-only"))
        })
        .map(|r| num(&r["ratio_to_sha1"]))
        .fold(f64::NAN, f64::max);
    let e2e = default_p4.map_or(f64::NAN, |r| num(&r["ratio_to_sha1"]));
    let digests = num(&limits["two_digest_bytes_per_sec"]) / sha;
    let speedup = fastest_peer / best_ours;
    let (first, last) = (scale.first(), scale.last());
    let spread = |k: &str| {
        let v: Vec<f64> = scale.iter().map(|r| num(&r[k])).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, 0f64), |(a, b), x| (a.min(*x), b.max(*x)));
        hi / lo - 1.0
    };
    // Peak RSS against (parallelism + 2) x part size + 64 MiB, every run of ours.
    let part_of = |r: &Value| -> f64 {
        match r["part_size"].as_str() {
            // The server's default for 256 MiB and 1 GiB files.
            Some(p) if p.starts_with("default") => DEFAULT_PART as f64,
            Some(p) => {
                p.trim_end_matches(" MiB")
                    .parse::<f64>()
                    .unwrap_or(f64::NAN)
                    * (1u64 << 20) as f64
            }
            None => SCALE_PART as f64,
        }
    };
    let (rss_worst, rss_worst_of) = ours
        .iter()
        .chain(scale)
        .map(|r| {
            let parallel = r["parallel"].as_f64().unwrap_or(4.0);
            let bound = (parallel + 2.0) * part_of(r) + (64u64 << 20) as f64;
            (num(&r["peak_rss"]) / bound, r)
        })
        .fold(
            (0f64, None),
            |(w, wr), (x, r)| if x > w { (x, Some(r)) } else { (w, wr) },
        );
    let worst = rss_worst_of.map_or(String::new(), |r| {
        format!(
            " ({} at {}, parallelism {})",
            mib(&r["peak_rss"]),
            r["part_size"]
                .as_str()
                .map_or(format!("{} MiB", SCALE_PART >> 20), str::to_owned),
            r["parallel"].as_u64().unwrap_or(4)
        )
    });
    let (rss_spread, time_spread) = (spread("peak_rss"), spread("secs_per_gib"));
    let sizes = format!(
        "{} to {} GiB",
        first.map_or(json!(0), |r| r["gib"].clone()),
        last.map_or(json!(0), |r| r["gib"].clone())
    );
    let rows = [
        (
            "end to end, 1 GiB, default settings (durable server, 32 MiB parts, parallelism 4) >= 0.48 of SHA-1".to_owned(),
            format!("{e2e:.2}"),
            e2e >= 0.48,
        ),
        (
            "client alone (verify-only server, best parallelism) >= 0.7 of SHA-1".to_owned(),
            format!("{client_alone:.2}"),
            client_alone >= 0.7,
        ),
        (
            "part + whole-file digests >= 0.75 of one hasher".to_owned(),
            format!("{digests:.2}"),
            digests >= 0.75,
        ),
        (
            ">= 3x the faster official Python SDK".to_owned(),
            format!("{speedup:.1}x"),
            speedup >= 3.0,
        ),
        (
            "client peak RSS <= (parallelism + 2) x part size + 64 MiB, every setting".to_owned(),
            format!("at most {rss_worst:.2} of the bound{worst}"),
            rss_worst <= 1.0,
        ),
        (
            format!("peak RSS within 10% from {sizes}"),
            format!("{:+.0}%", rss_spread * 100.0),
            rss_spread <= 0.10,
        ),
        (
            format!("seconds per GiB within 10% from {sizes}"),
            format!("{:+.0}%", time_spread * 100.0),
            time_spread <= 0.10,
        ),
    ];
    md.push_str("\n### Against issue 7's targets (this run)\n\n| target | measured | met |\n| --- | --- | --- |\n");
    for (target, measured, ok) in rows {
        md.push_str(&format!(
            "| {target} | {measured} | {} |\n",
            if ok { "yes" } else { "no" }
        ));
    }
    let path = root.join("docs/performance.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let start = "<!-- bench:start -->";
    let end = "<!-- bench:end -->";
    let new = match (old.find(start), old.find(end)) {
        (Some(a), Some(b)) if a < b => format!("{}{start}\n{md}{}", &old[..a], &old[b..]),
        _ => format!("{old}\n## `cargo xtask bench`\n\n{start}\n{md}{end}\n"),
    };
    std::fs::write(&path, new).map_err(|e| e.to_string())?;
    eprintln!("==> updated {}", path.display());
    Ok(())
}
