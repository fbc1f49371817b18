//! The link-model row (issue 25): uploads through each of the server's link
//! profiles (`--link`, docs/server.md), `box-chunked` at its default and at
//! each fixed `--parallel` from 1 to 32, beside Box's Python SDKs at their
//! defaults (`tests/interop/bench_link.py`). It shows what parallelism buys
//! on a Box-like link and how far the default is from the best setting.
//! `cargo xtask bench --link` takes this row alone.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Each profile's capacity: its whole-server rate, bytes per second.
const CAPACITY: [(&str, f64); 3] = [
    ("datacenter", 125e6),
    ("office", 12.5e6),
    ("transatlantic", 50e6),
];

/// The row, or a record saying why it was skipped.
pub(super) fn row(root: &Path, quick: bool) -> Value {
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        return json!({"kind": "link", "skipped": "no Python environment (scripts/python-env.sh)"});
    }
    // Just under 256 MiB: 30 parts of 8 MiB, enough for 32 in flight to matter.
    let (size, profiles) = if quick {
        (50_000_000u64, "datacenter")
    } else {
        (250_000_000, "datacenter,office,transatlantic")
    };
    eprintln!("==> link profiles {profiles}: {size} bytes, default and --parallel 1 to 32, and Box's Python SDKs");
    let out = Command::new(python)
        .arg(root.join("tests/interop/bench_link.py"))
        .arg(root.join("target/release/box-chunked"))
        .args([size.to_string(), profiles.to_owned()])
        .current_dir(root)
        .output();
    let rec = match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            serde_json::from_str(text.trim().lines().last().unwrap_or_default())
                .unwrap_or_else(|e| json!({"kind": "link", "skipped": format!("no record: {e}")}))
        }
        Ok(o) => json!({"kind": "link", "skipped": String::from_utf8_lossy(&o.stderr).trim()}),
        Err(e) => json!({"kind": "link", "skipped": e.to_string()}),
    };
    eprintln!("    {rec}");
    rec
}

/// The markdown of the row: one table per profile, then the summary.
pub(super) fn markdown(rec: Option<&Value>) -> String {
    let Some(r) = rec else {
        return String::new();
    };
    let mut md = String::from("\n### Through the link model (`--link`, verify-only server)\n\n");
    if let Some(why) = r["skipped"].as_str() {
        md.push_str(&format!("Skipped in this run: {why}.\n"));
        return md;
    }
    md.push_str(&format!(
        "{} bytes (30 parts of 8 MiB), one run of each setting, a fresh server each run. \
         \"of capacity\" is MB/s over the profile's whole-server rate.\n\n\
         | profile | setting | seconds | MB/s | of capacity | of the best fixed `--parallel` |\n\
         | --- | --- | --- | --- | --- | --- |\n",
        r["bytes"]
    ));
    let mut summary = String::new();
    for (profile, capacity) in CAPACITY {
        let Some(rows) = r["profiles"][profile].as_array() else {
            continue;
        };
        let rate = |row: &Value| row["mb_per_s"].as_f64().unwrap_or(f64::NAN);
        let fixed = |row: &&Value| {
            row["setting"]
                .as_str()
                .is_some_and(|s| s.parse::<u32>().is_ok())
        };
        let best = rows.iter().filter(fixed).map(rate).fold(f64::NAN, f64::max);
        let best_at = rows.iter().filter(fixed).find(|row| rate(row) == best);
        for row in rows {
            md.push_str(&format!(
                "| {profile} | {} | {:.2} | {:.1} | {:.2} | {:.2} |\n",
                row["setting"].as_str().unwrap_or("?"),
                row["secs"].as_f64().unwrap_or(f64::NAN),
                rate(row),
                rate(row) * 1e6 / capacity,
                rate(row) / best
            ));
        }
        let default = rows
            .iter()
            .find(|row| row["setting"] == "default")
            .map_or(f64::NAN, rate);
        let peer = rows
            .iter()
            .filter(|row| {
                row["setting"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("peer:"))
            })
            .map(rate)
            .fold(f64::NAN, f64::max);
        summary.push_str(&format!(
            "- {profile}: the default reaches {:.2} of the best fixed setting (`--parallel {}`) and {:.2} of the link's capacity; the best fixed setting is {:.1} times the fastest Python SDK.\n",
            default / best,
            best_at.and_then(|b| b["setting"].as_str()).unwrap_or("?"),
            default * 1e6 / capacity,
            best / peer
        ));
    }
    md.push('\n');
    md.push_str(&summary);
    md
}
