//! `cargo xtask bench [--quick]`: performance measured side by side, in one run.
//!
//! - limits: one core's SHA-1 rate with the hasher we ship, the two-digest rate
//!   of our hashing path, loopback HTTP PUT throughput to a discarding server;
//! - us: a 1 GiB file (256 MiB with --quick) uploaded by our client to
//!   `box-chunked serve` (another process) on loopback at the server's default
//!   part size and at 64 MiB, parallelism 1, 4 and 8: wall time, GB/s, client
//!   CPU seconds per GiB, client peak RSS;
//! - peers: Box's Python SDKs (`box_sdk_gen` `upload_big_file`, older `boxsdk`
//!   `ChunkedUploader`), same server, same file, same run;
//! - scale: 1, 4, 8 and 16 GiB (1 and 4 with --quick) from a generated source:
//!   seconds per GiB and peak RSS.
//!
//! Medians of several runs (1 with --quick). Writes `target/bench.json` and
//! the results section of `docs/performance.md`.

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

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn start_server(root: &Path, work: &Path, part_size: Option<u64>) -> Result<ServerProc, String> {
    start_server_with(root, work, part_size, false)
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

fn run_json(cmd: &mut Command) -> Result<Value, String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).map_err(|e| format!("{e}: {line:?}"))
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
    let work = root.join("target/bench-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut records = Vec::new();

    eprintln!("==> limits");
    let limits = run_json(Command::new(&bench_bin).args([
        "limits",
        "--bytes",
        &(if quick { 256u64 << 20 } else { GIB }).to_string(),
    ]))?;
    eprintln!("    {limits}");
    records.push(limits.clone());
    let sha1_rate = limits["sha1_bytes_per_sec"].as_f64().unwrap_or(f64::NAN);

    let source = work.join("source.bin");
    write_source(&source, size)?;
    let mut ours = Vec::new();
    for (part_size, verify_only) in [(None, false), (Some(64u64 << 20), false), (None, true)] {
        let server = start_server_with(root, &work, part_size, verify_only)?;
        for parallel in [1usize, 4, 8] {
            let mut secs = Vec::new();
            let mut cpu = Vec::new();
            let mut rss = Vec::new();
            for _ in 0..runs {
                let r = run_json(
                    Command::new(&bench_bin)
                        .args([
                            "upload",
                            &server.url,
                            "BENCH",
                            "--parallel",
                            &parallel.to_string(),
                            "--file",
                        ])
                        .arg(&source),
                )?;
                secs.push(r["secs"].as_f64().unwrap_or(f64::NAN));
                cpu.push(r["cpu_secs"].as_f64().unwrap_or(f64::NAN));
                rss.push(r["peak_rss"].as_f64().unwrap_or(f64::NAN));
            }
            let s = median(secs);
            let rec = json!({
                "kind": "ours", "server": if verify_only { "verify-only (client alone)" } else { "durable" },
                "part_size": part_size.map_or("default (32 MiB at 1 GiB)".to_owned(), |p| format!("{} MiB", p >> 20)),
                "parallel": parallel, "bytes": size, "secs": s, "gb_per_s": size as f64 / s / 1e9,
                "cpu_secs_per_gib": median(cpu) / (size as f64 / GIB as f64), "peak_rss": median(rss),
                "ratio_to_sha1": size as f64 / s / sha1_rate,
            });
            eprintln!("    {rec}");
            records.push(rec.clone());
            ours.push(rec);
        }
    }

    eprintln!("==> peers (Box's Python SDKs)");
    let python = root.join(".venv/bin/python");
    let mut peers = Vec::new();
    let env_ok = Command::new("bash")
        .arg(root.join("scripts/python-env.sh"))
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success());
    if env_ok {
        let server = start_server(root, &work, None)?;
        for mode in ["gen", "legacy"] {
            let mut secs = Vec::new();
            let mut cpu = Vec::new();
            let mut rss = Vec::new();
            for _ in 0..runs {
                let r = run_json(
                    Command::new(&python)
                        .arg(root.join("tests/interop/bench_peers.py"))
                        .args([mode, &server.url, "BENCH"])
                        .arg(&source),
                )?;
                secs.push(r["secs"].as_f64().unwrap_or(f64::NAN));
                cpu.push(r["cpu_secs"].as_f64().unwrap_or(f64::NAN));
                rss.push(r["peak_rss"].as_f64().unwrap_or(f64::NAN));
            }
            let s = median(secs);
            let rec = json!({
                "kind": format!("peer:{mode}"), "bytes": size, "secs": s, "gb_per_s": size as f64 / s / 1e9,
                "cpu_secs_per_gib": median(cpu) / (size as f64 / GIB as f64), "peak_rss": median(rss),
            });
            eprintln!("    {rec}");
            records.push(rec.clone());
            peers.push(rec);
        }
    } else {
        eprintln!("    skipped: no Python environment");
    }

    eprintln!("==> scale (generated source, parallelism 4, 64 MiB parts at every size)");
    let mut scale = Vec::new();
    let sizes: &[u64] = if quick { &[1, 4] } else { &[1, 4, 8, 16] };
    for &gib in sizes {
        let server = start_server(root, &work, Some(64 << 20))?;
        let r = run_json(Command::new(&bench_bin).args([
            "upload",
            &server.url,
            "BENCH",
            "--parallel",
            "4",
            "--generate",
            &(gib * GIB).to_string(),
        ]))?;
        drop(server);
        let secs = r["secs"].as_f64().unwrap_or(f64::NAN);
        let rec = json!({"kind": "scale", "gib": gib, "secs": secs, "secs_per_gib": secs / gib as f64, "peak_rss": r["peak_rss"], "cpu_secs": r["cpu_secs"]});
        eprintln!("    {rec}");
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

fn f(v: &Value, digits: usize) -> String {
    format!("{:.*}", digits, v.as_f64().unwrap_or(f64::NAN))
}

#[allow(clippy::too_many_arguments)]
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
    ] {
        let v = limits[key].as_f64().unwrap_or(f64::NAN);
        md.push_str(&format!("| {name} | {:.2} | {:.2} |\n", v / 1e9, v / sha));
    }
    md.push_str("\n### box-chunked, client and server on this machine\n\n| server | part size | parallel | seconds | GB/s | ratio to SHA-1 | client CPU s/GiB | client peak RSS |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in ours {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["server"].as_str().unwrap_or(""),
            r["part_size"].as_str().unwrap_or(""),
            r["parallel"],
            f(&r["secs"], 2),
            f(&r["gb_per_s"], 3),
            f(&r["ratio_to_sha1"], 2),
            f(&r["cpu_secs_per_gib"], 2),
            mib(&r["peak_rss"])
        ));
    }
    if !peers.is_empty() {
        // Peers ran against the durable server: compare with our runs against it.
        let best_ours = ours
            .iter()
            .filter(|r| r["server"].as_str() == Some("durable"))
            .filter_map(|r| r["secs"].as_f64())
            .fold(f64::INFINITY, f64::min);
        md.push_str("\n### Box's Python SDKs, same server, same file, same run\n\n| client | seconds | GB/s | CPU s/GiB | peak RSS | box-chunked (durable server, best setting) is faster by |\n| --- | --- | --- | --- | --- | --- |\n");
        for r in peers {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1}x |\n",
                r["kind"].as_str().unwrap_or(""),
                f(&r["secs"], 2),
                f(&r["gb_per_s"], 3),
                f(&r["cpu_secs_per_gib"], 2),
                mib(&r["peak_rss"]),
                r["secs"].as_f64().unwrap_or(f64::NAN) / best_ours
            ));
        }
    }
    md.push_str("\n### Scale (generated source, parallelism 4, 64 MiB parts at every size)\n\n| size | seconds | seconds per GiB | client peak RSS |\n| --- | --- | --- | --- |\n");
    for r in scale {
        md.push_str(&format!(
            "| {} GiB | {} | {} | {} |\n",
            r["gib"],
            f(&r["secs"], 2),
            f(&r["secs_per_gib"], 2),
            mib(&r["peak_rss"])
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
