//! The layering rules.
//!
//! **Architecture invariant:** `box-chunked-proto` and `box-chunked-core` know
//! no IO and no runtime. This module checks it two ways:
//!
//! 1. Dependencies: the normal (non-dev, non-build) dependency closure of each
//!    of the two crates, as `cargo metadata` resolves it, contains no crate from
//!    [`BANNED_CRATES`].
//! 2. Calls: their `src/` trees contain none of [`BANNED_CALLS`]. Test code is
//!    exempt (files under `src/tests/`, `tests.rs`, and the item after each
//!    `#[cfg(test)]`), since a test needs one real `Instant` as its epoch.
//!
//! Three more rules keep the layers where ARCHITECTURE.md draws them:
//!
//! 3. The server's normal dependency closure has no `box-chunked-core`
//!    ([`SERVER_FREE_OF`]): it shares proto and the hasher, not the client's
//!    state machine.
//! 4. The hyper crate's SDK calls, driver and transport hold no Box rule of
//!    their own ([`BOX_RULE_PATTERNS`] in [`HYPER_RULE_FREE`]): what a status
//!    means, when to wait and what to retry come from the core.
//! 5. The server never pairs a status with an error code by hand
//!    ([`SERVER_PAIR_PATTERNS`]): it answers with `BoxError::of(code, ..)`,
//!    whose status is the one the code carries, so the two cannot disagree.
//!
//! A path these rules list that does not exist is a violation too, so that
//! a renamed module cannot slip out of its rule.

use super::source::{code_lines, rust_files};
use super::Violation;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The crates that must stay free of IO and runtimes.
pub(crate) const PURE_CRATES: &[&str] = &["box-chunked-proto", "box-chunked-core"];

/// Crates that do IO, run async runtimes or read OS randomness.
pub(crate) const BANNED_CRATES: &[&str] = &[
    "tokio",
    "tokio-util",
    "tokio-rustls",
    "hyper",
    "hyper-util",
    "hyper-rustls",
    "h2",
    "tower",
    "tower-service",
    "tower-layer",
    "tower-http",
    "mio",
    "socket2",
    "async-std",
    "async-io",
    "async-net",
    "smol",
    "reqwest",
    "ureq",
    "rustls",
    "native-tls",
    "openssl",
    "getrandom",
    "rusqlite",
    "tempfile",
    "nix",
];

/// Source patterns that mean IO, a clock, a thread or OS randomness.
pub(crate) const BANNED_CALLS: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::thread",
    "std::env",
    "std::io::stdin",
    "Instant::now",
    "SystemTime::now",
    "getrandom",
    "thread_rng",
    "OsRng",
    "rand::random",
    "from_entropy",
    "tokio",
];

/// Crates the server must not depend on (normal dependencies).
pub(crate) const SERVER_FREE_OF: &[&str] = &["box-chunked-core"];

/// Files and folders of the hyper crate (under its `src/`) that must hold
/// no Box rule (what the token endpoint's answers mean is the core's
/// `auth` module too).
pub(crate) const HYPER_RULE_FREE: &[&str] = &[
    "auth",
    "client.rs",
    "builder.rs",
    "transport",
    "body.rs",
    "job",
    "uploader",
];

/// Code by which the server would pair a status with an error code itself.
pub(crate) const SERVER_PAIR_PATTERNS: &[&str] = &["BoxError::new("];

/// Code that decides what an answer means: status comparisons, Box's
/// special statuses, `Retry-After`, reconciliation. Only the core may.
pub(crate) const BOX_RULE_PATTERNS: &[&str] = &[
    "status ==",
    "status !=",
    "status() ==",
    "status() !=",
    "StatusCode::",
    "== 202",
    "== 416",
    "== 429",
    "classify_status",
    "conflicting_part",
    "RETRY_AFTER",
    "RetryAfter",
    "parse_http_date",
];

/// Runs the five rules on the workspace at `root`.
pub(crate) fn check(root: &Path, metadata: &Value) -> Vec<Violation> {
    let mut violations = check_dependencies(metadata, PURE_CRATES, BANNED_CRATES);
    violations.extend(check_dependencies(
        metadata,
        &["box-chunked-server"],
        SERVER_FREE_OF,
    ));
    for krate in PURE_CRATES {
        violations.extend(check_path(
            &root.join("crates").join(krate).join("src"),
            BANNED_CALLS,
        ));
    }
    let hyper = root.join("crates/box-chunked-hyper/src");
    for part in HYPER_RULE_FREE {
        violations.extend(check_path(&hyper.join(part), BOX_RULE_PATTERNS));
    }
    violations.extend(check_path(
        &root.join("crates/box-chunked-server/src"),
        SERVER_PAIR_PATTERNS,
    ));
    violations
}

/// Checks a file, or every non-test file under a folder.
fn check_path(path: &Path, banned: &[&str]) -> Vec<Violation> {
    let files = if path.is_dir() {
        rust_files(path, false)
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return vec![Violation::Missing {
            path: path.to_path_buf(),
        }];
    };
    let mut out = Vec::new();
    for file in files {
        if let Ok(text) = std::fs::read_to_string(&file) {
            out.extend(check_text(&file, &text, banned));
        }
    }
    out
}

/// Finds banned crates in the normal dependency closure of each pure crate.
pub(crate) fn check_dependencies(
    metadata: &Value,
    pure: &[&str],
    banned: &[&str],
) -> Vec<Violation> {
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let name_of: HashMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // id -> ids of normal (non-dev, non-build) dependencies
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for node in &nodes {
        let Some(id) = node["id"].as_str() else {
            continue;
        };
        let deps = node["deps"].as_array().cloned().unwrap_or_default();
        let normal = deps
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            })
            .filter_map(|d| d["pkg"].as_str().map(str::to_owned))
            .collect();
        edges.insert(id.to_owned(), normal);
    }
    let mut out = Vec::new();
    for krate in pure {
        let Some(root_id) = name_of
            .iter()
            .find(|(_, n)| *n == krate)
            .map(|(id, _)| (*id).to_owned())
        else {
            continue;
        };
        // Breadth-first, remembering the parent to print the chain.
        let mut parent: HashMap<String, String> = HashMap::new();
        let mut seen = BTreeSet::from([root_id.clone()]);
        let mut queue = std::collections::VecDeque::from([root_id.clone()]);
        while let Some(id) = queue.pop_front() {
            let name = name_of.get(id.as_str()).copied().unwrap_or("?");
            if banned.contains(&name) {
                let mut chain = vec![name.to_owned()];
                let mut cur = id.clone();
                while let Some(p) = parent.get(&cur) {
                    chain.push(name_of.get(p.as_str()).copied().unwrap_or("?").to_owned());
                    cur = p.clone();
                }
                chain.reverse();
                out.push(Violation::Dependency {
                    krate: (*krate).to_owned(),
                    banned: name.to_owned(),
                    chain: chain.join(" -> "),
                });
                continue;
            }
            for next in edges.get(&id).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    parent.insert(next.clone(), id.clone());
                    queue.push_back(next.clone());
                }
            }
        }
    }
    out
}

/// Checks one file's text. Comments are ignored (doc comments included:
/// they may *name* a banned call to say it is banned), and so is the item
/// that follows each `#[cfg(test)]`.
pub(crate) fn check_text(file: &Path, text: &str, banned: &[&str]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (line, code) in code_lines(text, true) {
        for pat in banned {
            if code.contains(pat) {
                out.push(Violation::Call {
                    file: file.to_path_buf(),
                    line,
                    pattern: (*pat).to_owned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    /// Self-check: adding tokio to proto (directly or through another crate) is caught.
    #[test]
    fn a_tokio_dependency_is_caught() {
        let meta = json!({
            "packages": [
                {"id": "proto 0.1", "name": "box-chunked-proto"},
                {"id": "core 0.1", "name": "box-chunked-core"},
                {"id": "serde 1", "name": "serde"},
                {"id": "helper 1", "name": "helper"},
                {"id": "tokio 1", "name": "tokio"},
                {"id": "proptest 1", "name": "proptest"},
            ],
            "resolve": {"nodes": [
                {"id": "proto 0.1", "deps": [
                    {"pkg": "serde 1", "dep_kinds": [{"kind": null}]},
                    {"pkg": "tokio 1", "dep_kinds": [{"kind": null}]},
                    {"pkg": "proptest 1", "dep_kinds": [{"kind": "dev"}]},
                ]},
                {"id": "core 0.1", "deps": [
                    {"pkg": "helper 1", "dep_kinds": [{"kind": null}]},
                    {"pkg": "proto 0.1", "dep_kinds": [{"kind": null}]},
                ]},
                {"id": "helper 1", "deps": [{"pkg": "tokio 1", "dep_kinds": [{"kind": null}]}]},
                {"id": "proptest 1", "deps": [{"pkg": "tokio 1", "dep_kinds": [{"kind": null}]}]},
                {"id": "serde 1", "deps": []},
                {"id": "tokio 1", "deps": []},
            ]}
        });
        let v = check_dependencies(&meta, PURE_CRATES, BANNED_CRATES);
        let chains: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            chains,
            vec![
                "box-chunked-proto must not depend on tokio (via box-chunked-proto -> tokio)",
                "box-chunked-core must not depend on tokio (via box-chunked-core -> helper -> tokio)",
            ]
        );
    }

    /// Self-check: dev-dependencies may use anything.
    #[test]
    fn dev_dependencies_are_allowed() {
        let meta = json!({
            "packages": [{"id": "p", "name": "box-chunked-proto"}, {"id": "t", "name": "tokio"}],
            "resolve": {"nodes": [
                {"id": "p", "deps": [{"pkg": "t", "dep_kinds": [{"kind": "dev"}]}]},
                {"id": "t", "deps": []},
            ]}
        });
        assert!(check_dependencies(&meta, PURE_CRATES, BANNED_CRATES).is_empty());
    }

    /// Self-check: clock, file and randomness calls are caught; comments and tests are not.
    #[test]
    fn banned_calls_are_caught() {
        let src = "use std::time::Instant;\n\
                   /// Never calls `Instant::now` itself.\n\
                   fn f() { let t = Instant::now(); }\n\
                   fn g() { let _ = std::fs::read(\"x\"); } // reads a file\n\
                   fn h() { let r = rand::thread_rng(); }\n\
                   #[cfg(test)]\n\
                   mod tests {\n\
                       fn t() { let _ = Instant::now(); }\n\
                   }\n\
                   #[cfg(test)]\n\
                   use std::fs::File;\n\
                   fn after_tests() { let _ = std::time::SystemTime::now(); }\n";
        let v = check_text(Path::new("lib.rs"), src, BANNED_CALLS);
        let lines: Vec<(usize, &str)> = v
            .iter()
            .map(|v| match v {
                Violation::Call { line, pattern, .. } => (*line, pattern.as_str()),
                _ => (0, ""),
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                (3, "Instant::now"),
                (4, "std::fs"),
                (5, "thread_rng"),
                (12, "SystemTime::now")
            ]
        );
    }

    /// Self-check: a status rule written in the hyper crate is caught, and
    /// the server depending on the core is too.
    #[test]
    fn box_rules_outside_the_core_are_caught() {
        let src = "fn f(a: Answer) {\n\
                   if a.status == 202 { wait(); }\n\
                   // a.status == 416 in a comment is fine\n\
                   let r = a.headers.get(header_names::RETRY_AFTER);\n\
                   let url = session.urls().status();\n\
                   }\n";
        let v = check_text(Path::new("client.rs"), src, BOX_RULE_PATTERNS);
        let lines: Vec<usize> = v
            .iter()
            .map(|v| match v {
                Violation::Call { line, .. } => *line,
                _ => 0,
            })
            .collect();
        assert_eq!(lines, vec![2, 2, 4]);
        let meta = json!({
            "packages": [{"id": "s", "name": "box-chunked-server"}, {"id": "c", "name": "box-chunked-core"}],
            "resolve": {"nodes": [
                {"id": "s", "deps": [{"pkg": "c", "dep_kinds": [{"kind": null}]}]},
                {"id": "c", "deps": []},
            ]}
        });
        assert_eq!(
            check_dependencies(&meta, &["box-chunked-server"], SERVER_FREE_OF).len(),
            1
        );
    }

    /// Self-check: the server pairing a status with a code by hand is
    /// caught, and a rule's listed path that is gone is reported.
    #[test]
    fn a_hand_made_status_and_code_pair_is_caught() {
        let src = "fn f() -> BoxError {\n\
                   // BoxError::new(404, ..) in a comment is fine\n\
                   BoxError::new(409, ErrorCode::NotFound, \"x\")\n\
                   }\n";
        let v = check_text(Path::new("handlers/x.rs"), src, SERVER_PAIR_PATTERNS);
        assert_eq!(v.len(), 1, "{v:?}");
        let gone = check_path(
            &PathBuf::from("/nonexistent/transport.rs"),
            BOX_RULE_PATTERNS,
        );
        assert!(matches!(gone.as_slice(), [Violation::Missing { .. }]));
    }
}
