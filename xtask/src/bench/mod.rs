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
//! - browser: the WebAssembly uploader beside plain `fetch` in headless
//!   Chromium, and its package's size (`--browser` runs this row alone);
//! - link: through each of the server's link profiles, our default and
//!   fixed `--parallel` 1 to 32 beside Box's Python and Node SDKs (`--link` runs
//!   this row alone);
//! - delta: a new version of a 4 GiB file (256 MiB with --quick) with
//!   1 MiB changed, beside `box_sdk_gen`'s `upload_big_file_version` and one
//!   hashing pass of the file (`--delta` runs this row alone);
//! - cpu: client and server CPU per GiB for each transport against floors
//!   measured in the same run (`--cpu` runs the limits and transports alone);
//! - scale: 1, 4, 8 and 16 GiB (1 and 4 with --quick) from a generated source
//!   to the verify-only server: seconds per GiB and peak RSS.
//!
//! Every timed run gets a fresh server after `sync`; runs go round-robin over
//! the settings. Medians of several runs (1 with --quick). Writes `target/bench.json` and the results section of
//! `docs/performance.md`, ending with the targets, met or not.

mod browser;
mod cpu;
mod delta;
mod link;
mod page;
mod procs;
mod rows;

use page::{write_markdown, Records};
use procs::{run_json, summarize, timed, write_source, TlsFiles};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const GIB: u64 = 1 << 30;

/// Part size of the scale runs: the server's default at 1 GiB, kept at every
/// size so that peak RSS compares like with like.
const SCALE_PART: u64 = 32 << 20;

/// The server's default part size for the 256 MiB and 1 GiB files
/// (`box_chunked_proto::rules::default_part_size`).
const DEFAULT_PART: u64 = 32 << 20;

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
        &Records {
            meta: &all["meta"],
            quick: all["quick"].as_bool().unwrap_or(false),
            limits: &limits,
            ours: &of("ours"),
            peers: &of("peer:"),
            scale: &of("scale"),
            transport: &of("transport"),
            extra: &(rows::markdown(of("many-files").first(), of("bwlimit").first())
                + &browser::markdown(of("browser").first())
                + &link::markdown(of("link").first())
                + &delta::markdown(of("delta").first())),
        },
    )
}

/// `cargo xtask bench --browser`: the browser row alone, written to its
/// own block of docs/performance.md (the full run's section keeps its own
/// row).
pub(crate) fn browser_only(root: &Path) -> Result<(), String> {
    build_release(root)?;
    let rec = browser::row(root, false);
    let heading = "## The browser uploader beside plain fetch (`cargo xtask bench --browser`)";
    let md = browser::markdown(Some(&rec));
    page::splice_block(root, "browser", heading, md.trim_start())
}

/// `cargo xtask bench --link`: the link-model row alone, kept in
/// target/bench-link.json and written to its own block of
/// docs/performance.md (`--link --report`: the block again from that file).
pub(crate) fn link_only(root: &Path, report: bool) -> Result<(), String> {
    row_only(
        root,
        report,
        "link",
        "## Parallelism through the link model (`cargo xtask bench --link`)",
        link::row,
        link::markdown,
    )
}

/// `cargo xtask bench --cpu`: the limits and the transports alone, CPU
/// against its floors, kept in target/bench-cpu.json and written to its own
/// block of docs/performance.md (`--cpu --report`: the block again from
/// that file).
pub(crate) fn cpu_only(root: &Path, report: bool) -> Result<(), String> {
    row_only(
        root,
        report,
        "cpu",
        "## CPU against its floor (`cargo xtask bench --cpu`)",
        cpu::row,
        cpu::markdown,
    )
}

/// `cargo xtask bench --delta`: the delta row alone, kept in
/// target/bench-delta.json and written to its own block of
/// docs/performance.md (`--delta --report`: the block again from that file).
pub(crate) fn delta_only(root: &Path, report: bool) -> Result<(), String> {
    row_only(
        root,
        report,
        "delta",
        "## A new version with a small change (`cargo xtask bench --delta`)",
        delta::row,
        delta::markdown,
    )
}

/// One row run alone (or, with `report`, read back from
/// target/bench-NAME.json) and written to the block NAME of
/// docs/performance.md under `heading`.
fn row_only(
    root: &Path,
    report: bool,
    name: &str,
    heading: &str,
    row: fn(&Path, bool) -> Value,
    markdown: fn(Option<&Value>) -> String,
) -> Result<(), String> {
    let saved = root.join(format!("target/bench-{name}.json"));
    let rec = if report {
        let text = std::fs::read(&saved).map_err(|e| format!("{}: {e}", saved.display()))?;
        serde_json::from_slice(&text).map_err(|e| e.to_string())?
    } else {
        build_release(root)?;
        python_env(root);
        let rec = row(root, false);
        std::fs::write(&saved, rec.to_string()).map_err(|e| format!("{}: {e}", saved.display()))?;
        rec
    };
    let md = markdown(Some(&rec));
    page::splice_block(root, name, heading, md.trim_start())
}

/// One of our settings: part size (`None` for the server's default),
/// verify-only server, parallelism.
type Setting = (Option<u64>, bool, usize);

/// What every step of a run shares.
struct Plan<'a> {
    root: &'a Path,
    quick: bool,
    /// Timed runs of each setting (1 with --quick).
    runs: usize,
    /// The source file's size.
    size: u64,
    work: PathBuf,
    bench_bin: PathBuf,
    cli_bin: PathBuf,
    source: PathBuf,
    /// One core's SHA-1 rate, from the limits.
    sha1_rate: f64,
}

/// The benchmark's plan, in the order the numbers are taken: limits, rounds
/// over our settings and the peers, transports, many files, bandwidth
/// limit, scale.
pub(crate) fn run(root: &Path, quick: bool) -> Result<(), String> {
    build_release(root)?;
    let mut plan = Plan::new(root, quick, root.join("target/bench-work"))?;
    let mut records = Vec::new();
    let limits = plan.limits()?;
    records.push(limits.clone());
    plan.sha1_rate = limits["sha1_bytes_per_sec"].as_f64().unwrap_or(f64::NAN);
    write_source(&plan.source, plan.size)?;
    let (ours, peers) = plan.rounds()?;
    let transport = transport_rows(&plan)?;
    records.extend(transport.iter().cloned());
    let many = rows::many_files(root, &plan.work, &plan.cli_bin, quick)?;
    records.push(many.clone());
    let bw = rows::bwlimit(root, &plan.work, &plan.cli_bin)?;
    records.push(bw.clone());
    let in_browser = browser::row(root, quick);
    records.push(in_browser.clone());
    let through_link = link::row(root, quick);
    records.push(through_link.clone());
    let version = delta::row(root, quick);
    records.push(version.clone());
    records.extend(ours.iter().cloned());
    records.extend(peers.iter().cloned());
    let scale = plan.scale()?;
    records.extend(scale.iter().cloned());
    let _ = std::fs::remove_dir_all(&plan.work);

    let meta = machine(root);
    let all = json!({"meta": meta, "quick": quick, "records": records});
    let out = root.join("target/bench.json");
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&all).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    eprintln!("==> wrote {}", out.display());
    let extra = rows::markdown(Some(&many), Some(&bw))
        + &browser::markdown(Some(&in_browser))
        + &link::markdown(Some(&through_link))
        + &delta::markdown(Some(&version));
    write_markdown(
        root,
        &Records {
            meta: &meta,
            quick,
            limits: &limits,
            ours: &ours,
            peers: &peers,
            scale: &scale,
            transport: &transport,
            extra: &extra,
        },
    )
}

/// The release binaries the runs time: the command and the bench client.
fn build_release(root: &Path) -> Result<(), String> {
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
    if ok.success() {
        Ok(())
    } else {
        Err("release build failed".into())
    }
}

/// Box's Python SDKs' environment (`scripts/python-env.sh`); whether it is
/// there.
fn python_env(root: &Path) -> bool {
    script_env(root, "python-env.sh", "Box's Python SDKs")
}

/// Runs `scripts/SCRIPT`, which makes `what`'s environment; whether it did.
fn script_env(root: &Path, script: &str, what: &str) -> bool {
    eprintln!("==> the environment of {what}");
    let ok = Command::new("bash")
        .arg(root.join("scripts").join(script))
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("    skipped: no environment for {what} (scripts/{script} failed)");
    }
    ok
}

impl<'a> Plan<'a> {
    /// A plan that works in `work` (emptied first): 1 GiB, 3 runs of each
    /// setting (256 MiB and one run with `quick`).
    fn new(root: &'a Path, quick: bool, work: PathBuf) -> Result<Self, String> {
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        Ok(Plan {
            root,
            quick,
            runs: if quick { 1 } else { 3 },
            size: if quick { 256 << 20 } else { GIB },
            bench_bin: root.join("target/release/examples/bench"),
            cli_bin: root.join("target/release/box-chunked"),
            source: work.join("source.bin"),
            work,
            sha1_rate: f64::NAN,
        })
    }

    /// The machine's limits: SHA-1, loopback HTTP, the disk.
    fn limits(&self) -> Result<Value, String> {
        eprintln!("==> limits");
        let limits = run_json(
            Command::new(&self.bench_bin)
                .args([
                    "limits",
                    "--bytes",
                    &(if self.quick { 256u64 << 20 } else { GIB }).to_string(),
                    "--dir",
                ])
                .arg(self.work.join("disk")),
        )?;
        eprintln!("    {limits}");
        Ok(limits)
    }

    /// Our settings and the peers, round-robin (one round = one run of
    /// each), so that a drift in the machine's speed touches every setting
    /// alike: their records.
    fn rounds(&self) -> Result<(Vec<Value>, Vec<Value>), String> {
        let settings: Vec<Setting> = [(None, false), (Some(64u64 << 20), false), (None, true)]
            .into_iter()
            .flat_map(|(ps, vo)| [1usize, 4, 8].map(|p| (ps, vo, p)))
            .collect();
        let peer_modes: &[&str] = if python_env(self.root) {
            &["gen", "legacy"]
        } else {
            &[]
        };
        let mut ours_runs = vec![Vec::new(); settings.len()];
        let mut peer_runs = vec![Vec::new(); peer_modes.len()];
        for round in 0..self.runs {
            eprintln!(
                "==> round {} of {}: box-chunked and the peers",
                round + 1,
                self.runs
            );
            for (i, &(part_size, verify_only, parallel)) in settings.iter().enumerate() {
                let r = timed(
                    self.root,
                    &self.work,
                    (part_size, verify_only),
                    None,
                    |url| self.ours(url, parallel),
                )?;
                eprintln!(
                    "    ours {part_size:?} verify-only={verify_only} parallel={parallel}: {r}"
                );
                ours_runs[i].push(r);
            }
            for (i, mode) in peer_modes.iter().enumerate() {
                let r = timed(self.root, &self.work, (None, false), None, |url| {
                    let mut c = Command::new(self.root.join(".venv/bin/python"));
                    c.arg(self.root.join("tests/interop/bench_peers.py"))
                        .args([*mode, url, "BENCH"])
                        .arg(&self.source);
                    c
                })?;
                eprintln!("    peer {mode}: {r}");
                peer_runs[i].push(r);
            }
        }
        let ours = settings
            .iter()
            .zip(&ours_runs)
            .map(|(&setting, runs_of)| self.ours_record(setting, runs_of))
            .collect();
        let peers = peer_modes
            .iter()
            .zip(&peer_runs)
            .map(|(mode, runs_of)| {
                let mut rec = summarize(runs_of, self.size, self.sha1_rate);
                rec["kind"] = json!(format!("peer:{mode}"));
                rec
            })
            .collect();
        Ok((ours, peers))
    }

    /// The `box-chunked` command itself, checkpoint file included.
    fn ours(&self, url: &str, parallel: usize) -> Command {
        let mut c = Command::new(&self.cli_bin);
        c.env("XDG_DATA_HOME", self.work.join("cli-home"))
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
            .arg(&self.source);
        c
    }

    fn ours_record(&self, setting: Setting, runs_of: &[Value]) -> Value {
        let (part_size, verify_only, parallel) = setting;
        let mut rec = summarize(runs_of, self.size, self.sha1_rate);
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
        rec
    }

    /// Generated sources of 1 to 16 GiB to the verify-only server: seconds
    /// per GiB and peak RSS.
    fn scale(&self) -> Result<Vec<Value>, String> {
        eprintln!("==> scale (generated source, verify-only server, parallelism 4, {} MiB parts at every size)", SCALE_PART >> 20);
        let sizes: &[u64] = if self.quick { &[1, 4] } else { &[1, 4, 8, 16] };
        let mut scale_runs = vec![Vec::new(); sizes.len()];
        for round in 0..self.runs {
            for (i, &gib) in sizes.iter().enumerate() {
                // 8 and 16 GiB once: they take long, and are already averages.
                if gib > 4 && round > 0 {
                    continue;
                }
                let r = timed(
                    self.root,
                    &self.work,
                    (Some(SCALE_PART), true),
                    None,
                    |url| {
                        let mut c = Command::new(&self.bench_bin);
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
                    },
                )?;
                eprintln!("    {gib} GiB: {r}");
                scale_runs[i].push(r);
            }
        }
        Ok(sizes
            .iter()
            .zip(&scale_runs)
            .map(|(&gib, runs_of)| {
                let mut rec = summarize(runs_of, gib * GIB, self.sha1_rate);
                rec["kind"] = json!("scale");
                rec["gib"] = json!(gib);
                rec["secs_per_gib"] = json!(rec["secs"].as_f64().unwrap_or(f64::NAN) / gib as f64);
                rec
            })
            .collect())
    }
}

/// The transports side by side (issue 11): the same file by the bench
/// client at parallelism 4 to the verify-only server (so the disk stays out
/// of it) over plain HTTP/1.1, HTTPS with HTTP/1.1 and HTTPS with HTTP/2,
/// round-robin, with client and server CPU per GiB.
fn transport_rows(plan: &Plan<'_>) -> Result<Vec<Value>, String> {
    let Plan {
        root,
        work,
        bench_bin,
        source,
        runs,
        size,
        sha1_rate,
        ..
    } = plan;
    eprintln!("==> transports: plain HTTP/1.1, HTTPS HTTP/1.1, HTTPS HTTP/2 (verify-only server, parallelism 4)");
    let dir = work.join("certs");
    run_json(Command::new(bench_bin).arg("certs").arg(&dir))?;
    let tls = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        ca: dir.join("ca.pem"),
    };
    let settings = [
        ("HTTP/1.1", false),
        ("HTTPS, HTTP/1.1", true),
        ("HTTPS, HTTP/2", true),
    ];
    let mut per = vec![Vec::new(); settings.len()];
    for _ in 0..*runs {
        for (i, &(name, https)) in settings.iter().enumerate() {
            let r = timed(root, work, (None, true), https.then_some(&tls), |url| {
                let mut c = Command::new(bench_bin);
                c.args(["upload", url, "BENCH", "--parallel", "4", "--file"])
                    .arg(source);
                if https {
                    c.arg("--ca-cert").arg(&tls.ca);
                }
                if name.ends_with("HTTP/1.1") {
                    c.arg("--http1-only");
                }
                c
            })?;
            eprintln!("    {name}: {r}");
            per[i].push(r);
        }
    }
    Ok(settings
        .iter()
        .zip(&per)
        .map(|(&(name, _), runs_of)| {
            let mut rec = summarize(runs_of, *size, *sha1_rate);
            rec["kind"] = json!("transport");
            rec["transport"] = json!(name);
            rec
        })
        .collect())
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
