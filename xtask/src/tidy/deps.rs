//! Unused dependencies: every dependency a crate declares is named by the
//! sources of its kind. A normal dependency must be named by the non-test
//! code of the crate's library or binaries (one named only by tests belongs
//! in `[dev-dependencies]`); a dev-dependency by any of its targets; a build
//! dependency by its build script. A crate is *named* by a path through it
//! (`tokio::spawn`, `use serde::Serialize`) or `extern crate`.
//!
//! Doc tests count for dev-dependencies: the code blocks of doc comments
//! are read too. The root manifest's `[workspace.dependencies]` must each
//! be used by some member.
//!
//! A dependency declared only to choose a feature of another crate would
//! look unused; [`FEATURE_ONLY`] lists those, each with its reason.

use super::source::{code_lines, rust_files};
use super::Violation;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Dependencies declared for a feature of another crate, never named in
/// code: (crate, dependency, why).
pub(crate) const FEATURE_ONLY: &[(&str, &str, &str)] = &[];

/// Checks the root manifest's `[workspace.dependencies]` at `root`: each
/// is declared by a member.
pub(crate) fn check_workspace(root: &Path, metadata: &Value) -> Vec<Violation> {
    let Ok(manifest) = std::fs::read_to_string(root.join("Cargo.toml")) else {
        return Vec::new();
    };
    let used: Vec<&str> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["dependencies"].as_array().into_iter().flatten())
        // A renamed dependency is declared under its new name.
        .filter_map(|d| d["rename"].as_str().or_else(|| d["name"].as_str()))
        .collect();
    workspace_dependencies(&manifest)
        .into_iter()
        .filter(|d| !used.contains(&d.as_str()))
        .map(|dep| Violation::Unused {
            krate: "the workspace".to_owned(),
            dep,
            kind: "[workspace.dependencies]".to_owned(),
        })
        .collect()
}

/// The names under `[workspace.dependencies]` in a manifest's text.
fn workspace_dependencies(manifest: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[workspace.dependencies]";
            continue;
        }
        if inside && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                out.push(name.trim().to_owned());
            }
        }
    }
    out
}

/// Checks every workspace member of `metadata`.
pub(crate) fn check(metadata: &Value) -> Vec<Violation> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    for p in metadata["packages"].as_array().into_iter().flatten() {
        if !p["id"].as_str().is_some_and(|id| members.contains(&id)) {
            continue;
        }
        let krate = p["name"].as_str().unwrap_or("?");
        let code = |kinds: &[&str], tests: bool| sources_of(p, kinds, tests);
        let normal = code(&["lib", "bin", "proc-macro", "rlib", "cdylib"], false);
        let every = code(&["lib", "bin", "test", "bench", "example"], true);
        let build = code(&["custom-build"], true);
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let name = d["rename"]
                .as_str()
                .or(d["name"].as_str())
                .unwrap_or("?")
                .replace('-', "_");
            let kind = d["kind"].as_str().unwrap_or("normal");
            if FEATURE_ONLY
                .iter()
                .any(|(c, dep, _)| *c == krate && dep.replace('-', "_") == name)
            {
                continue;
            }
            let text = match kind {
                "dev" => &every,
                "build" => &build,
                _ => &normal,
            };
            if !names(text, &name) {
                out.push(Violation::Unused {
                    krate: krate.to_owned(),
                    dep: name,
                    kind: kind.to_owned(),
                });
            }
        }
    }
    out
}

/// The code of a package's targets of the given kinds, as one text.
fn sources_of(package: &Value, kinds: &[&str], tests: bool) -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    for t in package["targets"].as_array().into_iter().flatten() {
        let of_kind = t["kind"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|k| kinds.contains(&k));
        let Some(src) = t["src_path"].as_str().filter(|_| of_kind) else {
            continue;
        };
        let src = Path::new(src);
        if src.file_name().is_some_and(|n| n == "build.rs") {
            files.push(src.to_path_buf());
        } else if let Some(dir) = src.parent() {
            files.extend(rust_files(dir, tests));
        }
    }
    files.sort();
    files.dedup();
    let mut text = String::new();
    for f in files {
        if let Ok(t) = std::fs::read_to_string(&f) {
            for (_, line) in code_lines(&t, !tests) {
                text.push_str(&line);
                text.push('\n');
            }
            if tests {
                text.push_str(&doc_code(&t));
            }
        }
    }
    text
}

/// The code blocks of a file's doc comments (`///`, `//!`), hidden lines
/// (`# ...`) included: the doc tests.
pub(crate) fn doc_code(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines().map(str::trim_start) {
        let Some(doc) = line
            .strip_prefix("///")
            .or_else(|| line.strip_prefix("//!"))
        else {
            fenced = false;
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if doc.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push_str(doc.strip_prefix("# ").unwrap_or(doc));
            out.push('\n');
        }
    }
    out
}

/// Whether `code` names the crate `name`: `name::`, `use name` or
/// `extern crate name`, with `name` a whole word.
pub(crate) fn names(code: &str, name: &str) -> bool {
    let word = |at: usize| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    };
    code.match_indices(name).any(|(at, _)| {
        if !word(at) {
            return false;
        }
        let rest = code[at + name.len()..].trim_start();
        if rest.starts_with("::") {
            return true;
        }
        let head = code[..at].trim_end();
        let ends_word = !code[at + name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        ends_word && (head.ends_with("use") || head.ends_with("extern crate"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Self-check: a dependency no source names is caught (a deliberate
    /// one, `unused_dep`, in a package of its own); a renamed one is looked
    /// for under its new name; a normal dependency that only a test names
    /// is caught too.
    #[test]
    fn an_unused_dependency_is_caught() {
        let dir = std::env::temp_dir().join(format!("tidy-deps-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("src/lib.rs"),
            "//! Uses serde, says unused_dep in a comment.\n\
             use serde::Serialize;\n\
             pub fn f() -> Renamed::Thing { hyper_util::x() }\n\
             #[cfg(test)]\nmod tests { fn t() { only_tests::go(); } }\n",
        )
        .unwrap();
        let src = dir.join("src/lib.rs").display().to_string();
        let dep = |name: &str, rename: Option<&str>| json!({"name": name, "rename": rename, "kind": null});
        let meta = json!({
            "workspace_members": ["p"],
            "packages": [{
                "id": "p",
                "name": "p",
                "targets": [{"kind": ["lib"], "src_path": src}],
                "dependencies": [
                    dep("serde", None),
                    dep("hyper-util", None),
                    dep("some-crate", Some("Renamed")),
                    dep("unused-dep", None),
                    dep("only-tests", None),
                ],
            }],
        });
        let found: Vec<String> = check(&meta).iter().map(ToString::to_string).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found,
            vec![
                "p declares the normal dependency `unused_dep` that its sources never use: remove it",
                "p declares the normal dependency `only_tests` that its sources never use: remove it",
            ]
        );
    }

    /// Self-check: a doc test names a dev-dependency; prose does not; a
    /// workspace dependency no member declares is caught.
    #[test]
    fn doc_tests_count_and_workspace_entries_are_checked() {
        let text = "//! Talks about tokio.\n//! ```\n//! # let s = box_chunked_server::x();\n//! ```\nfn f() {}\n";
        assert!(names(&doc_code(text), "box_chunked_server"));
        assert!(!names(&doc_code(text), "tokio"));
        let manifest = "[workspace]\nmembers = []\n[workspace.dependencies]\n# why\nserde = \"1\"\nfutures-util = \"0.3\"\n[profile.release]\nlto = true\n";
        let meta = json!({"packages": [{"dependencies": [{"name": "serde"}]}]});
        let dir = std::env::temp_dir().join(format!("tidy-ws-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        let found = check_workspace(&dir, &meta);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].to_string().contains("futures-util"));
    }

    #[test]
    fn names_needs_a_whole_word() {
        assert!(names("let x = tokio::spawn(f);", "tokio"));
        assert!(names("use bytes;", "bytes"));
        assert!(!names("let x = my_tokio::spawn(f);", "tokio"));
        assert!(!names("let tokio_thing = 1;", "tokio"));
        assert!(!names("crate::bytes::Bytes", "bytes"));
    }
}
