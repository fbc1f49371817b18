//! The link-model row (issue 25): uploads through each of the server's link
//! profiles (`--link`, docs/server.md), `box-chunked` at its default and at
//! each fixed `--parallel` from 1 to 32, beside Box's Python SDKs, its
//! Node SDK (where scripts/node-env.sh installed it) and rclone (where
//! scripts/rclone-env.sh did; over HTTPS through a CONNECT proxy, its Box
//! hosts being fixed) at their defaults (`tests/interop/bench_link.py`). It shows what parallelism buys
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

/// The longer upload's size: 1 GB, 30 parts of 32 MiB (Box's part size from
/// 256 MiB), where the memory budget, not the tuner, caps the parts in flight.
const LONG: u64 = 1_000_000_000;
/// What the longer upload runs: the default, the default with half its
/// memory budget, the fixed settings near the best, and the faster peer.
const LONG_SETTINGS: &str = "default,default@512M,16,32,peer:legacy";

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
    // Box's Node SDK joins the peers where node and npm are there.
    super::script_env(root, "node-env.sh", "Box's Node SDK");
    eprintln!("==> link profiles {profiles}: {size} bytes, default and --parallel 1 to 32, and Box's SDKs");
    let mut rec = run(root, &python, size, profiles, None);
    if !quick && rec["skipped"].is_null() {
        eprintln!("==> a longer upload, {LONG} bytes: {LONG_SETTINGS}");
        rec["long"] = run(
            root,
            &python,
            LONG,
            "datacenter,transatlantic",
            Some(LONG_SETTINGS),
        );
    }
    eprintln!("    {rec}");
    rec
}

/// One run of bench_link.py: its record, or one saying why there is none.
fn run(root: &Path, python: &Path, size: u64, profiles: &str, settings: Option<&str>) -> Value {
    let out = Command::new(python)
        .arg(root.join("tests/interop/bench_link.py"))
        .arg(root.join("target/release/box-chunked"))
        .args([size.to_string(), profiles.to_owned()])
        .args(settings)
        .current_dir(root)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            serde_json::from_str(text.trim().lines().last().unwrap_or_default())
                .unwrap_or_else(|e| json!({"kind": "link", "skipped": format!("no record: {e}")}))
        }
        Ok(o) => json!({"kind": "link", "skipped": String::from_utf8_lossy(&o.stderr).trim()}),
        Err(e) => json!({"kind": "link", "skipped": e.to_string()}),
    }
}

/// The markdown of the row: one table for the scan, one for the longer
/// upload, each followed by its summary.
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
         \"of capacity\" is MB/s over the profile's whole-server rate.\n",
        r["bytes"]
    ));
    table(&mut md, r);
    let long = &r["long"];
    if long["profiles"].is_object() {
        md.push_str(&format!(
            "\n#### A longer upload\n\n{} bytes (30 parts of 32 MiB), same server. `default@512M` is the \
             default with `--max-memory 512M`, which holds 14 parts of 32 MiB in flight (the default 1 GiB: 30).\n",
            long["bytes"]
        ));
        table(&mut md, long);
    } else if let Some(why) = long["skipped"].as_str() {
        md.push_str(&format!("\nThe longer upload was skipped: {why}.\n"));
    }
    md
}

/// One record's table, then a line per profile: the default against the
/// best fixed setting run, the link's capacity and the faster peer.
fn table(md: &mut String, r: &Value) {
    md.push_str(
        "\n| profile | setting | seconds | MB/s | of capacity | of the best fixed `--parallel` |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut summary = String::new();
    for (profile, capacity) in CAPACITY {
        let Some(rows) = r["profiles"][profile].as_array() else {
            continue;
        };
        let rate = |row: &Value| row["mb_per_s"].as_f64().unwrap_or(f64::NAN);
        let named = |row: &Value, f: &dyn Fn(&str) -> bool| row["setting"].as_str().is_some_and(f);
        let fixed = |row: &&Value| named(row, &|s| s.parse::<u32>().is_ok());
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
            .filter(|row| named(row, &|s| s.starts_with("peer:")))
            .map(rate)
            .fold(f64::NAN, f64::max);
        summary.push_str(&format!(
            "- {profile}: the default (`--parallel auto`) reaches {:.2} of the best fixed setting run \
             (`--parallel {}`) and {:.2} of the link's capacity, {:.1} times the fastest peer \
             (Box's SDKs, rclone) at its defaults (the best fixed setting {:.1} times).\n",
            default / best,
            best_at.and_then(|b| b["setting"].as_str()).unwrap_or("?"),
            default * 1e6 / capacity,
            default / peer,
            best / peer
        ));
    }
    md.push('\n');
    md.push_str(&summary);
}
