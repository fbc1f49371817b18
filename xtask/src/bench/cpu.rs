//! `cargo xtask bench --cpu`: the client's and the verify-only server's CPU
//! per GiB over plain HTTP/1.1, HTTPS with HTTP/1.1 and HTTPS with HTTP/2,
//! against their floors measured in the same run (the two-chain hash, one
//! copy of every byte, the TLS provider's AES-GCM): the limits and the
//! transport rows of the full run, alone, in a block of their own.

use super::page::{f, floors_table, transport_table};
use super::procs::write_source;
use super::{machine, transport_rows, Plan};
use serde_json::{json, Value};
use std::path::Path;

/// The limits and the transports, or why they were skipped.
pub(super) fn row(root: &Path, quick: bool) -> Value {
    measure(root, quick).unwrap_or_else(|e| json!({"kind": "cpu", "skipped": e}))
}

fn measure(root: &Path, quick: bool) -> Result<Value, String> {
    let mut plan = Plan::new(root, quick, root.join("target/bench-cpu-work"))?;
    let limits = plan.limits()?;
    plan.sha1_rate = limits["sha1_bytes_per_sec"].as_f64().unwrap_or(f64::NAN);
    write_source(&plan.source, plan.size)?;
    let transport = transport_rows(&plan)?;
    let _ = std::fs::remove_dir_all(&plan.work);
    Ok(
        json!({"kind": "cpu", "meta": machine(root), "runs": plan.runs, "limits": limits, "transport": transport}),
    )
}

/// The block: the floors' parts, the transports, and the ratios.
pub(super) fn markdown(rec: Option<&Value>) -> String {
    let Some(rec) = rec else {
        return String::new();
    };
    if let Some(why) = rec["skipped"].as_str() {
        return format!("\nSkipped: {why}\n");
    }
    let (meta, limits) = (&rec["meta"], &rec["limits"]);
    let mut md = format!(
        "\nMeasured {} on {} ({} cores), commit {}, medians of {} runs.\n\n\
| floor part | GB/s |\n| --- | --- |\n",
        meta["date"].as_str().unwrap_or(""),
        meta["cpu"].as_str().unwrap_or(""),
        meta["cores"],
        meta["commit"].as_str().unwrap_or(""),
        rec["runs"],
    );
    for (name, key) in [
        ("SHA-1, one core", "sha1_bytes_per_sec"),
        (
            "part + whole-file SHA-1, two chains",
            "two_digest_bytes_per_sec",
        ),
        ("one copy of every byte", "copy_bytes_per_sec"),
        ("AES-256-GCM sealing 16 KiB records", "seal_bytes_per_sec"),
        ("AES-256-GCM opening 16 KiB records", "open_bytes_per_sec"),
    ] {
        let gbs = limits[key].as_f64().unwrap_or(f64::NAN) / 1e9;
        md.push_str(&format!("| {name} | {} |\n", f(&json!(gbs), 2)));
    }
    let transport = rec["transport"].as_array().cloned().unwrap_or_default();
    transport_table(&mut md, &transport);
    floors_table(&mut md, limits, &transport);
    md
}
