//! `cargo xtask tidy`: the rules of the house that a compiler does not
//! check, each in a module of its own and each run as a `#[test]` with a
//! self-check that shows it fails on a violation.
//!
//! - [`layers`]: proto and core know no IO, the server is free of the core,
//!   the hyper crate holds no Box rule, and the server never pairs a status
//!   with an error code by hand.
//! - [`deps`]: every declared dependency is used by the sources of its kind.
//! - [`modules`]: no import circle between the modules of a crate.
//! - [`size`]: no source file above [`size::MAX_FILE_LINES`] lines and no
//!   function above [`size::MAX_FN_LINES`] without a comment that says why.
//!
//! [`source`] holds what they share: walking a crate's sources and reading
//! code without its comments and test items.

pub(crate) mod deps;
pub(crate) mod layers;
pub(crate) mod modules;
pub(crate) mod size;
pub(crate) mod source;

use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Violation {
    /// A crate depends, directly or not, on a crate it must not.
    Dependency {
        /// The crate.
        krate: String,
        /// The banned crate.
        banned: String,
        /// How it got there: `a -> b -> banned`.
        chain: String,
    },
    /// A source makes a call or writes a pattern not allowed where it is.
    Call {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// The pattern found.
        pattern: String,
    },
    /// A declared dependency that no source of its kind names.
    Unused {
        /// The crate declaring it.
        krate: String,
        /// The dependency, as the sources would name it.
        dep: String,
        /// `normal`, `dev` or `build`.
        kind: String,
    },
    /// Modules that name each other in a circle.
    Circle {
        /// The crate.
        krate: String,
        /// The modules of the circle, sorted.
        modules: Vec<String>,
    },
    /// A source file above the limit.
    LongFile {
        /// The file.
        file: PathBuf,
        /// Its lines.
        lines: usize,
    },
    /// A function above the limit with no comment saying why.
    LongFn {
        /// The file.
        file: PathBuf,
        /// 1-based line of `fn`.
        line: usize,
        /// The function.
        name: String,
        /// Its lines.
        lines: usize,
    },
    /// A path a rule lists that does not exist (the rule would check nothing).
    Missing {
        /// The path.
        path: PathBuf,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dependency {
                krate,
                banned,
                chain,
            } => write!(f, "{krate} must not depend on {banned} (via {chain})"),
            Self::Call {
                file,
                line,
                pattern,
            } => write!(
                f,
                "{}:{line}: `{pattern}` is not allowed here (IO in a sans-IO crate, a Box rule outside the core, or a status paired with a code by hand)",
                file.display()
            ),
            Self::Unused { krate, dep, kind } => write!(
                f,
                "{krate} declares the {kind} dependency `{dep}` that its sources never use: remove it"
            ),
            Self::Circle { krate, modules } => write!(
                f,
                "{krate}: the modules {} name each other in a circle",
                modules.join(", ")
            ),
            Self::LongFile { file, lines } => write!(
                f,
                "{}: {lines} lines, above {}: split it by subject",
                file.display(),
                size::MAX_FILE_LINES
            ),
            Self::LongFn {
                file,
                line,
                name,
                lines,
            } => write!(
                f,
                "{}:{line}: fn {name} has {lines} lines, above {}: split it, or say why not in a `// Long on purpose:` comment above it",
                file.display(),
                size::MAX_FN_LINES
            ),
            Self::Missing { path } => {
                write!(f, "{}: listed in a tidy rule but missing", path.display())
            }
        }
    }
}

/// The tidy failure: every violation, one per line.
#[derive(Debug)]
pub(crate) struct TidyError(pub(crate) Vec<Violation>);

impl fmt::Display for TidyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tidy rules broken:")?;
        for v in &self.0 {
            writeln!(f, "  {v}")?;
        }
        Ok(())
    }
}

/// Runs every check on the workspace at `root`.
pub(crate) fn run(root: &Path) -> Result<(), TidyError> {
    let metadata = cargo_metadata(root).map_err(|e| {
        TidyError(vec![Violation::Call {
            file: root.join("Cargo.toml"),
            line: 0,
            pattern: format!("cargo metadata failed: {e}"),
        }])
    })?;
    let mut violations = layers::check(root, &metadata);
    violations.extend(deps::check(&metadata));
    violations.extend(deps::check_workspace(root, &metadata));
    for src in source::crate_sources(&metadata) {
        violations.extend(modules::check(&src.krate, &src.dir));
        violations.extend(size::check(&src.dir));
    }
    violations.sort();
    violations.dedup();
    if violations.is_empty() {
        eprintln!("tidy: layers, dependencies, module circles and sizes: no violations");
        Ok(())
    } else {
        Err(TidyError(violations))
    }
}

fn cargo_metadata(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    /// The real workspace obeys every rule.
    #[test]
    fn the_workspace_is_tidy() {
        if let Err(e) = super::run(&crate::workspace_root()) {
            panic!("{e}");
        }
    }
}
