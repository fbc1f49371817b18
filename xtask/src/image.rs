//! `cargo xtask image`: the local server as a container image. A static
//! `box-chunked` (the musl target, C parts built with Debian's
//! `musl-tools`, symbols stripped by the `image` profile) packaged `FROM
//! scratch`: no base image is pulled, so it builds without a registry. The
//! image runs `box-chunked serve`, configured by `BOX_CHUNKED_*` variables,
//! with its data in the volume `/data` and a healthcheck on the health route
//! (`box-chunked health`, since a scratch image has no curl).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The image's name; tagged with the workspace version and `latest`.
pub(crate) const NAME: &str = "box-chunked";

/// The largest image the issue allows (bytes).
const MAX_BYTES: u64 = 30 * 1000 * 1000;

const DOCKERFILE: &str = r#"# Built by `cargo xtask image`: box-chunked serve, configured by environment variables.
FROM scratch
COPY box-chunked /box-chunked
# Loopback only by default, as the binary does (right with --network host);
# on a bridge network (a CI service container) set BOX_CHUNKED_ADDR=0.0.0.0:8080.
ENV BOX_CHUNKED_ADDR=127.0.0.1:8080 \
    BOX_CHUNKED_DATA=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=2s --timeout=2s --start-period=1s --retries=15 CMD ["/box-chunked", "health"]
ENTRYPOINT ["/box-chunked"]
CMD ["serve"]
"#;

/// The musl target for this machine's architecture.
fn target() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// Builds the static binary and the image; prints its tag and size.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let binary = build_binary(root)?;
    let context = root.join("target/image");
    std::fs::create_dir_all(&context)
        .map_err(|e| format!("creating {}: {e}", context.display()))?;
    std::fs::copy(&binary, context.join("box-chunked"))
        .map_err(|e| format!("copying {}: {e}", binary.display()))?;
    std::fs::write(context.join("Dockerfile"), DOCKERFILE)
        .map_err(|e| format!("writing the Dockerfile: {e}"))?;
    let version = version_of(&binary)?;
    let mut build = Command::new("docker");
    build.args([
        "build",
        "-q",
        "-t",
        &format!("{NAME}:{}", version),
        "-t",
        &format!("{NAME}:latest"),
    ]);
    build.arg(&context);
    crate::step("docker build", build)?;
    let out = Command::new("docker")
        .args([
            "image",
            "inspect",
            "-f",
            "{{.Size}}",
            &format!("{NAME}:latest"),
        ])
        .output()
        .map_err(|e| format!("docker image inspect: {e}"))?;
    let size: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "docker image inspect gave no size".to_owned())?;
    eprintln!(
        "    image {NAME}:{version} (and :latest): {:.1} MB",
        size as f64 / 1e6
    );
    if size > MAX_BYTES {
        return Err(format!(
            "the image is {size} bytes, above the {MAX_BYTES} allowed"
        ));
    }
    Ok(())
}

/// The version the binary reports (`box-chunked 0.1.0` gives `0.1.0`).
fn version_of(binary: &Path) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("running {}: {e}", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| format!("{} --version said {text:?}", binary.display()))
}

/// `cargo build --profile image --target <musl>`; the binary's path.
fn build_binary(root: &Path) -> Result<PathBuf, String> {
    let target = target();
    let mut build = crate::cargo();
    build.args([
        "build",
        "--locked",
        "--profile",
        "image",
        "--target",
        &target,
        "-p",
        "box-chunked-cli",
    ]);
    // SQLite's and ring's C parts need a C compiler for musl: Debian's
    // musl-tools gives `musl-gcc`.
    let cc_var = format!("CC_{}", target.replace('-', "_"));
    if std::env::var_os(&cc_var).is_none() {
        build.env(&cc_var, "musl-gcc");
    }
    crate::step("cargo build (static, musl)", build).map_err(|e| {
        format!("{e}; it needs `rustup target add {target}` and Debian's musl-tools")
    })?;
    Ok(root.join("target").join(target).join("image/box-chunked"))
}
