//! The delta row (issue 25): a new version of a 4 GiB file (256 MiB with
//! --quick) with 1 MiB changed, through the durable server's upload session
//! plan: `box-chunked upload --file` beside `box_sdk_gen`'s
//! `upload_big_file_version`, and one SHA-512 and one SHA-1 read pass of the
//! same file (`tests/interop/bench_delta.py`). It shows what the one read
//! pass costs against reading and hashing the file once.
//! `cargo xtask bench --delta` takes this row alone.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// The file's size in the full run: 64 parts of 64 MiB (Box's part size from 4 GiB).
const FULL: u64 = 4 << 30;
/// With --quick: 8 parts of 32 MiB.
const QUICK: u64 = 256 << 20;

/// The row, or a record saying why it was skipped.
pub(super) fn row(root: &Path, quick: bool) -> Value {
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        return json!({"kind": "delta", "skipped": "no Python environment (scripts/python-env.sh)"});
    }
    let size = if quick { QUICK } else { FULL };
    let work = root.join("target/bench-delta");
    let _ = std::fs::remove_dir_all(&work);
    eprintln!(
        "==> a new version of {size} bytes with 1 MiB changed: ours, box_sdk_gen, hash passes"
    );
    let out = Command::new(&python)
        .arg(root.join("tests/interop/bench_delta.py"))
        .arg(root.join("target/release/box-chunked"))
        .arg(size.to_string())
        .arg(&work)
        .current_dir(root)
        .output();
    let _ = std::fs::remove_dir_all(&work);
    let rec = match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            serde_json::from_str(text.trim().lines().last().unwrap_or_default())
                .unwrap_or_else(|e| json!({"kind": "delta", "skipped": format!("no record: {e}")}))
        }
        Ok(o) => json!({"kind": "delta", "skipped": String::from_utf8_lossy(&o.stderr).trim()}),
        Err(e) => json!({"kind": "delta", "skipped": e.to_string()}),
    };
    eprintln!("    {rec}");
    rec
}

/// The markdown of the row: a table and the target's line.
pub(super) fn markdown(rec: Option<&Value>) -> String {
    let Some(r) = rec else {
        return String::new();
    };
    let mut md = String::from(
        "\n### A new version with a small change (durable server, upload session plan)\n\n",
    );
    if let Some(why) = r["skipped"].as_str() {
        md.push_str(&format!("Skipped in this run: {why}.\n"));
        return md;
    }
    let size = r["bytes"].as_f64().unwrap_or(f64::NAN);
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let sha512 = f(&r["hash_pass_secs"]["sha512"]);
    let sha1 = f(&r["hash_pass_secs"]["sha1"]);
    let (ours, peer) = (&r["ours"], &r["peer:gen"]);
    md.push_str(&format!(
        "{} bytes, 1 MiB changed at byte {} (two parts differ), the file in the page cache, one run \
         of each. Bytes read: the source bytes the upload read (`--stats` `bytes_read`); \
         `rchar` is every byte the process read through read calls (files and sockets).\n\n\
         | run | seconds | of one SHA-512 pass | source bytes read (of the file) | rchar (of the file) | CPU seconds | peak RSS MiB |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
        r["bytes"], r["changed_at"]
    ));
    let row = |md: &mut String, name: &str, v: &Value, read: f64| {
        md.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.0} |\n",
            f(&v["secs"]),
            f(&v["secs"]) / sha512,
            if read.is_nan() {
                "-".to_owned()
            } else {
                format!("{:.3}", read / size)
            },
            f(&v["rchar"]) / size,
            f(&v["cpu_secs"]),
            f(v.get("peak_rss").unwrap_or(&Value::Null)) / (1u64 << 20) as f64
        ));
    };
    row(
        &mut md,
        "`box-chunked upload --file`",
        ours,
        f(&ours["bytes_read"]),
    );
    row(
        &mut md,
        "`box_sdk_gen` `upload_big_file_version`",
        peer,
        f64::NAN,
    );
    md.push_str(&format!(
        "| one read pass with SHA-512 (hashlib) | {sha512:.2} | 1.00 | 1.000 | | | |\n\
         | one read pass with SHA-1 (hashlib) | {sha1:.2} | {:.2} | 1.000 | | | |\n",
        sha1 / sha512
    ));
    md.push_str(&summary(r, size, sha512, sha1));
    md
}

/// The lines under the table: ours against the target, the peer, and
/// how much of ours was the server's.
fn summary(r: &Value, size: f64, sha512: f64, sha1: f64) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let gib = size / (1u64 << 30) as f64;
    let (ours, peer) = (&r["ours"], &r["peer:gen"]);
    let commit = f(&ours["server_secs"]["commit"]);
    let client = f(&ours["secs"]) - commit;
    format!(
        "\n- ours: {:.2} s for {gib:.2} GiB, {:.2} times one SHA-512 pass of the file and {:.2} times one \
         SHA-1 pass (target: at most 1.2 times one hashing pass), reading {:.3} of the file; \
         `upload_big_file_version` {:.2} s ({:.2} times ours).\n\
         - of ours, {commit:.2} s were the commit, which waits for the new version's SHA-1: the server \
         took {} parts from the chain the current version kept, read back {:.3} of the file to hash the \
         rest, and did most of it while the client's pass still read (the plan's requests, {:.2} s in \
         all, and the changed parts went during the pass). The rest, {client:.2} s, is {:.2} times one \
         SHA-512 pass and {:.2} times one SHA-1 pass. Before the runs, the server took {:.2} s to \
         compute the SHA-512s of a stored version's parts, which it keeps (Box holds them; our server \
         computes them when a plan first asks, on every core).\n",
        f(&ours["secs"]),
        f(&ours["secs"]) / sha512,
        f(&ours["secs"]) / sha1,
        f(&ours["bytes_read"]) / size,
        f(&peer["secs"]),
        f(&peer["secs"]) / f(&ours["secs"]),
        ours["server_parts_resumed"].as_u64().unwrap_or(0),
        f(&ours["server_prefix_bytes_read"]) / size,
        f(&ours["server_secs"]["plan"]),
        client / sha512,
        client / sha1,
        f(&r["server_digests_secs"][0]),
    )
}
