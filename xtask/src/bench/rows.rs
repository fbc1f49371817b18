//! The rows of issue 14: many files as one job (1,000 files of 100 KB and
//! 10 of 50 MB: files per second, GB/s, client CPU per GiB, peak RSS), and
//! `--bwlimit 20M` over a 100 MB upload (how close to size / rate it lands).

use super::procs::{timed, write_source};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// The job row: one run per round on a fresh durable server.
pub(super) fn many_files(
    root: &Path,
    work: &Path,
    cli: &Path,
    quick: bool,
) -> Result<Value, String> {
    let tree = work.join("many");
    let (small, big) = if quick { (200, 2) } else { (1000, 10) };
    let mut bytes = 0u64;
    for i in 0..small {
        let p = tree.join(format!("s/{:02}/f{i:04}.bin", i % 20));
        std::fs::create_dir_all(p.parent().unwrap_or(&tree)).map_err(|e| e.to_string())?;
        write_source(&p, 100_000)?;
        bytes += 100_000;
    }
    for i in 0..big {
        let p = tree.join(format!("b/f{i:02}.bin"));
        std::fs::create_dir_all(p.parent().unwrap_or(&tree)).map_err(|e| e.to_string())?;
        write_source(&p, 50_000_000)?;
        bytes += 50_000_000;
    }
    eprintln!("==> many files: {small} of 100 KB and {big} of 50 MB as one job (parallel 8, 8 files at once)");
    let r = timed(root, work, (None, false), None, |url| {
        let mut c = Command::new(cli);
        c.env("XDG_DATA_HOME", work.join("cli-home"))
            .env_remove("BOX_ACCESS_TOKEN")
            .args([
                "--token",
                "BENCH",
                "--base-url",
                url,
                "--stats",
                "upload",
                "--json",
                "--no-progress",
                "--parallel",
                "8",
                "--files",
                "8",
                "--job",
            ])
            .arg(work.join("many.job"))
            .arg(&tree);
        c
    })?;
    let _ = std::fs::remove_dir_all(&tree);
    let secs = r["secs"].as_f64().unwrap_or(f64::NAN);
    let files = (small + big) as f64;
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let rec = json!({
        "kind": "many-files", "files": small + big, "bytes": bytes, "secs": secs,
        "files_per_s": files / secs, "gb_per_s": bytes as f64 / secs / 1e9,
        "cpu_secs_per_gib": r["cpu_secs"].as_f64().unwrap_or(f64::NAN) / gib,
        "server_cpu_secs_per_gib": r["server_cpu_secs"].as_f64().unwrap_or(f64::NAN) / gib,
        "peak_rss": r["peak_rss"], "each": [r],
    });
    eprintln!("    {rec}");
    Ok(rec)
}

/// The bandwidth-limit row: 100 MB at `--bwlimit 20M` (20 MiB/s) to the
/// verify-only server; the expected time is size / rate.
pub(super) fn bwlimit(root: &Path, work: &Path, cli: &Path) -> Result<Value, String> {
    let src = work.join("bw.bin");
    write_source(&src, 100_000_000)?;
    eprintln!("==> --bwlimit 20M: 100 MB to the verify-only server");
    let r = timed(root, work, (None, true), None, |url| {
        let mut c = Command::new(cli);
        c.env("XDG_DATA_HOME", work.join("cli-home"))
            .env_remove("BOX_ACCESS_TOKEN")
            .args([
                "--token",
                "BENCH",
                "--base-url",
                url,
                "--stats",
                "upload",
                "--json",
                "--no-progress",
                "--bwlimit",
                "20M",
            ])
            .arg(&src);
        c
    })?;
    let _ = std::fs::remove_file(&src);
    let secs = r["secs"].as_f64().unwrap_or(f64::NAN);
    let expected = 100_000_000.0 / (20.0 * 1048576.0);
    let rec = json!({"kind": "bwlimit", "bytes": 100_000_000, "rate": "20M (20 MiB/s)", "secs": secs,
                     "expected_secs": expected, "ratio": secs / expected, "each": [r]});
    eprintln!("    {rec}");
    Ok(rec)
}

/// The markdown of both rows.
pub(super) fn markdown(many: Option<&Value>, bw: Option<&Value>) -> String {
    let f = |v: &Value, d: usize| format!("{:.*}", d, v.as_f64().unwrap_or(f64::NAN));
    let mut md = String::new();
    if let Some(m) = many {
        md.push_str("\n### Many files as one job (`box-chunked upload DIR`, durable server, parallel 8, 8 files at once)\n\n| files | bytes | seconds | files/s | GB/s | client CPU s/GiB | server CPU s/GiB | client peak RSS |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} MiB |\n",
            m["files"],
            m["bytes"],
            f(&m["secs"], 2),
            f(&m["files_per_s"], 0),
            f(&m["gb_per_s"], 2),
            f(&m["cpu_secs_per_gib"], 2),
            f(&m["server_cpu_secs_per_gib"], 2),
            m["peak_rss"].as_f64().unwrap_or(f64::NAN) / 1048576.0
        ));
    }
    if let Some(b) = bw {
        md.push_str("\n### Bandwidth limit (`--bwlimit 20M`, 100 MB, verify-only server)\n\n| seconds | size / rate | ratio |\n| --- | --- | --- |\n");
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            f(&b["secs"], 2),
            f(&b["expected_secs"], 2),
            f(&b["ratio"], 3)
        ));
    }
    md
}
