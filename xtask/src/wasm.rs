//! The WebAssembly builds: the sans-IO crates (proto, core, and the SHA-1
//! crate on its portable path) checked for `wasm32-unknown-unknown`, and the
//! browser uploader's package (`crates/box-chunked-wasm` through
//! `wasm-bindgen --target web`) in `target/wasm-pkg`, for the browser test,
//! the benchmark and anyone's page. `scripts/wasm-env.sh` installs the
//! target and the matching `wasm-bindgen`.

use crate::{cargo, step};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the package goes, under the workspace root.
pub(crate) const PKG_DIR: &str = "target/wasm-pkg";

/// Why the WebAssembly steps cannot run here, if they cannot.
fn target_missing() -> Option<String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "wasm32-unknown-unknown")
        })
        .unwrap_or(false);
    (!installed).then(|| {
        "the wasm32-unknown-unknown target is not installed (scripts/wasm-env.sh installs it)"
            .to_owned()
    })
}

/// The sans-IO crates build for `wasm32-unknown-unknown`, with no change to
/// their API, and the browser uploader passes clippy there. Without the target: a failure under CI, a printed skip
/// elsewhere.
pub(crate) fn check_sans_io() -> Result<(), String> {
    if let Some(why) = target_missing() {
        if std::env::var_os("CI").is_some() {
            return Err(why);
        }
        eprintln!("==> skipping the WebAssembly build: {why}");
        return Ok(());
    }
    let mut build = cargo();
    build.args(["build", "--locked", "--target", "wasm32-unknown-unknown"]);
    for p in ["box-chunked-proto", "box-chunked-core", "box-chunked-sha1"] {
        build.args(["-p", p]);
    }
    step(
        "cargo build --target wasm32-unknown-unknown (proto, core, sha1)",
        build,
    )?;
    // The browser uploader's code that exists only on the web (its clock).
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--locked",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "box-chunked-wasm",
        "--",
        "-D",
        "warnings",
    ]);
    step(
        "cargo clippy --target wasm32-unknown-unknown (box-chunked-wasm)",
        clippy,
    )
}

/// The version of the `wasm-bindgen` crate in Cargo.lock.
fn locked_bindgen(root: &Path) -> Result<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                return Ok(v.trim_matches('"').to_owned());
            }
        }
    }
    Err("Cargo.lock names no wasm-bindgen".to_owned())
}

/// Builds the browser uploader's package into `target/wasm-pkg` (the
/// `.wasm`, its JavaScript module and TypeScript types); its directory, or
/// why it cannot be built here.
pub(crate) fn package(root: &Path) -> Result<PathBuf, String> {
    if let Some(why) = target_missing() {
        return Err(why);
    }
    let want = locked_bindgen(root)?;
    let have = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match have {
        Some(v) if v.split_whitespace().nth(1) == Some(want.as_str()) => {}
        Some(v) => {
            return Err(format!(
                "{v} is installed but Cargo.lock has wasm-bindgen {want} (scripts/wasm-env.sh installs that one)"
            ))
        }
        None => {
            return Err(format!(
                "the wasm-bindgen command is not installed (scripts/wasm-env.sh installs wasm-bindgen-cli {want})"
            ))
        }
    }
    let mut build = cargo();
    build.args([
        "build",
        "--locked",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm",
        "-p",
        "box-chunked-wasm",
    ]);
    step("cargo build box-chunked-wasm (wasm32, profile wasm)", build)?;
    let out = root.join(PKG_DIR);
    let mut bindgen = Command::new("wasm-bindgen");
    bindgen
        .args(["--target", "web", "--out-dir"])
        .arg(&out)
        .arg(root.join("target/wasm32-unknown-unknown/wasm/box_chunked_wasm.wasm"));
    step("wasm-bindgen --target web", bindgen)?;
    Ok(out)
}

/// `cargo xtask wasm`: the package, and how to use it.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let out = package(root)?;
    let wasm = out.join("box_chunked_wasm_bg.wasm");
    let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "==> {} ({size} bytes of WebAssembly): import {{ default as init, upload }} from \"./box_chunked_wasm.js\"; \
         tests/interop/browser/wasm-upload.html is a page that uses it",
        out.display()
    );
    Ok(())
}
