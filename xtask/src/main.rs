//! The project's automation, in Rust so that it runs wherever cargo does.
//!
//! - `cargo xtask ci`: everything CI checks, in order (format, clippy, tests, the
//!   sans-IO crates built for wasm32, docs, and the interop tests with Box's
//!   Python and Node SDKs, rclone, headless Chromium and the container image).
//! - `cargo xtask tidy`: the layering check alone (it also runs as a `#[test]`).
//! - `cargo xtask bench [--quick|--report|--browser|--link|--delta|--cpu]`: the benchmarks
//!   (`docs/performance.md`).
//! - `cargo xtask image`: the local server's container image (`FROM scratch`,
//!   a static musl binary), for Docker.
//! - `cargo xtask wasm`: target/wasm-pkg, the browser uploader's package
//!   (crates/box-chunked-wasm through wasm-bindgen).
//! - `cargo xtask man`: docs/man, the man pages, from the command's own
//!   definitions (a CLI test fails when they are out of date).

mod bench;
mod image;
mod tidy;
mod wasm;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tidy") => tidy::run(&workspace_root()).map_err(|e| e.to_string()),
        Some("bench") if args.iter().any(|a| a == "--link") => {
            bench::link_only(&workspace_root(), args.iter().any(|a| a == "--report"))
        }
        Some("bench") if args.iter().any(|a| a == "--cpu") => {
            bench::cpu_only(&workspace_root(), args.iter().any(|a| a == "--report"))
        }
        Some("bench") if args.iter().any(|a| a == "--delta") => {
            bench::delta_only(&workspace_root(), args.iter().any(|a| a == "--report"))
        }
        Some("bench") if args.iter().any(|a| a == "--report") => bench::report(&workspace_root()),
        Some("bench") if args.iter().any(|a| a == "--browser") => {
            bench::browser_only(&workspace_root())
        }
        Some("bench") => bench::run(&workspace_root(), args.iter().any(|a| a == "--quick")),
        Some("image") => image::run(&workspace_root()),
        Some("man") => man(),
        Some("wasm") => wasm::run(&workspace_root()),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|tidy|bench [--quick|--report|--browser|--link|--delta|--cpu]|image|man|wasm>"
            );
            eprintln!("  ci    format check, clippy -D warnings, tests, docs -D warnings, Python and Node SDK interop");
            eprintln!(
                "  tidy  layering rules: what box-chunked-proto and box-chunked-core may use"
            );
            eprintln!("  image the local server's container image (needs Docker, the musl target and musl-tools)");
            eprintln!("  man   docs/man: the man pages, generated from the command's definitions");
            eprintln!("  wasm  target/wasm-pkg: the browser uploader (needs scripts/wasm-env.sh)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Regenerates docs/man with the command's hidden `man-pages` (clap_mangen,
/// from the same definitions as its parser).
fn man() -> Result<(), String> {
    let dir = workspace_root().join("docs/man");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    let mut run = cargo();
    run.args([
        "run",
        "--quiet",
        "--locked",
        "-p",
        "box-chunked-cli",
        "--",
        "man-pages",
    ])
    .arg(&dir);
    step("man pages into docs/man", run)
}

fn workspace_root() -> std::path::PathBuf {
    // xtask lives one level below the workspace root.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    c.current_dir(workspace_root());
    c
}

fn step(name: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("==> {name}");
    let started = std::time::Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    eprintln!("    {name}: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn ci() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    step("cargo fmt --check", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    step("cargo clippy", clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace", "--locked"]);
    step("cargo test", test)?;

    wasm::check_sans_io()?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step("cargo doc", doc)?;

    interop()?;
    eprintln!("==> ci: all steps passed");
    Ok(())
}

/// The container image for tests/interop/test_image.py, where Docker runs:
/// its tag, or why there is none (the test then skips with that reason).
/// Under CI, an image that fails to build where Docker runs is a failure.
fn container_image(in_ci: bool) -> Result<String, String> {
    let docker = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match docker {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            let why = format!("the Docker engine is not running here ({why})");
            eprintln!("    the image test will be skipped: {why}");
            return Err(why);
        }
        Err(e) => {
            let why = format!("there is no docker command here ({e})");
            eprintln!("    the image test will be skipped: {why}");
            return Err(why);
        }
    }
    match image::run(&workspace_root()) {
        Ok(()) => Ok(format!("{}:latest", image::NAME)),
        Err(e) if !in_ci => {
            eprintln!("    the image test will be skipped: {e}");
            Err(e)
        }
        Err(e) => {
            eprintln!("    the image could not be built: {e}");
            Err(format!("FAIL: the image could not be built: {e}"))
        }
    }
}

/// Box's official Python SDKs against the real server binary. The virtual
/// environment comes from `scripts/python-env.sh`; where it cannot be made
/// (no Python, no package index) the step is skipped with a warning, except
/// under CI (`CI` set), where that is a failure.
fn interop() -> Result<(), String> {
    let root = workspace_root();
    let in_ci = std::env::var_os("CI").is_some();
    let mut env = Command::new("bash");
    env.arg(root.join("scripts/python-env.sh"))
        .current_dir(&root);
    if let Err(e) = step("python environment", env) {
        if in_ci {
            return Err(e);
        }
        eprintln!("    skipping the Python SDK interop tests: {e}");
        return Ok(());
    }
    // Box's Node SDK, for tests/interop/test_node_sdk.py (which skips
    // without it, except under CI).
    let mut node = Command::new("bash");
    node.arg(root.join("scripts/node-env.sh"))
        .current_dir(&root);
    if let Err(e) = step("node environment", node) {
        if in_ci {
            return Err(e);
        }
        eprintln!("    the Node SDK interop test will be skipped: {e}");
    }
    let mut build = cargo();
    build.args(["build", "--locked", "-p", "box-chunked-cli"]);
    step("cargo build box-chunked", build)?;
    let image = container_image(in_ci);
    let wasm_pkg = wasm::package(&root);
    if let (Err(why), true) = (&wasm_pkg, in_ci) {
        return Err(format!("the browser uploader could not be built: {why}"));
    }
    let venv = std::env::var("BOX_CHUNKED_VENV").unwrap_or_else(|_| ".venv".to_owned());
    let mut pytest = Command::new(root.join(venv).join("bin/python"));
    pytest
        .args([
            "-m",
            "pytest",
            "-q",
            // Every skip prints its reason.
            "-rs",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
            "tests/interop",
        ])
        .current_dir(&root)
        .env("BOX_CHUNKED_BIN", root.join("target/debug/box-chunked"));
    match image {
        Ok(tag) => {
            pytest.env("BOX_CHUNKED_IMAGE", tag);
        }
        Err(why) => {
            pytest.env("BOX_CHUNKED_IMAGE_SKIP", why);
        }
    }
    match wasm_pkg {
        Ok(dir) => {
            pytest.env("BOX_CHUNKED_WASM_PKG", dir);
        }
        Err(why) => {
            eprintln!("    the browser uploader's test will be skipped: {why}");
            pytest.env("BOX_CHUNKED_WASM_SKIP", why);
        }
    }
    step(
        "interop tests with Box's Python and Node SDKs and headless Chromium",
        pytest,
    )
}
