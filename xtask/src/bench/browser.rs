//! The browser uploader's row (issue 26): its package's size, and its time
//! for the same upload beside plain `fetch` in one headless Chromium page
//! (`tests/interop/bench_browser.py`), alternating, medians of the runs.
//! `cargo xtask bench --browser` takes this row alone and merges it into
//! target/bench.json.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// The row, or a record saying why it was skipped (no Chromium, no
/// wasm-bindgen, no Python environment).
pub(super) fn row(root: &Path, quick: bool) -> Value {
    match measure(root, quick) {
        Ok(v) => v,
        Err(why) => {
            eprintln!("    the browser row is skipped: {why}");
            json!({"kind": "browser", "skipped": why})
        }
    }
}

fn measure(root: &Path, quick: bool) -> Result<Value, String> {
    let pkg = crate::wasm::package(root)?;
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        return Err("no Python environment (scripts/python-env.sh)".into());
    }
    let (size, runs) = if quick {
        (30_000_000, 1)
    } else {
        (100_000_000, 3)
    };
    eprintln!(
        "==> browser: {size} bytes, the WebAssembly uploader and plain fetch, {runs} runs each"
    );
    let out = Command::new(python)
        .arg(root.join("tests/interop/bench_browser.py"))
        .arg(root.join("target/release/box-chunked"))
        .arg(&pkg)
        .args([size.to_string(), runs.to_string(), "4".to_owned()])
        .current_dir(root)
        .output()
        .map_err(|e| format!("bench_browser.py: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rec: Value = serde_json::from_str(text.trim().lines().last().unwrap_or_default())
        .map_err(|e| format!("bench_browser.py printed no record: {e}"))?;
    eprintln!("    {rec}");
    Ok(rec)
}

/// The markdown of the row.
pub(super) fn markdown(rec: Option<&Value>) -> String {
    let Some(r) = rec else {
        return String::new();
    };
    let mut md = String::from(
        "\n### Browser uploader (crates/box-chunked-wasm) beside plain fetch, headless Chromium\n\n",
    );
    if let Some(why) = r["skipped"].as_str() {
        md.push_str(&format!("Skipped in this run: {why}.\n"));
        return md;
    }
    let f = |v: &Value, d: usize| format!("{:.*}", d, v.as_f64().unwrap_or(f64::NAN));
    let mb_s = |ms: &Value| {
        r["bytes"].as_f64().unwrap_or(f64::NAN) / ms.as_f64().unwrap_or(f64::NAN) / 1e3
    };
    md.push_str(&format!(
        "The package: {} bytes of WebAssembly ({} gzipped) and {} bytes of JavaScript. \
         {} bytes, parallelism {}, medians of {} runs each, alternating in one page:\n\n\
         | uploader | median s | MB/s | runs (s) |\n| --- | --- | --- | --- |\n",
        r["wasm_bytes"], r["wasm_gzip_bytes"], r["js_bytes"], r["bytes"], r["parallel"], r["runs"]
    ));
    for (name, key) in [
        ("box-chunked-wasm (the core, SHA-1 in WebAssembly)", "wasm"),
        ("plain fetch + crypto.subtle, same parts", "plain"),
    ] {
        let each: Vec<String> = r[format!("{key}_ms")]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| f(&json!(v.as_f64().unwrap_or(f64::NAN) / 1e3), 2))
                    .collect()
            })
            .unwrap_or_default();
        let median = &r[format!("{key}_median_ms")];
        md.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            f(&json!(median.as_f64().unwrap_or(f64::NAN) / 1e3), 2),
            f(&json!(mb_s(median)), 1),
            each.join(", ")
        ));
    }
    md.push_str(&format!(
        "\nRatio of the medians (ours / plain fetch): {}.\n",
        f(&r["ratio"], 3)
    ));
    md
}
