//! What the checks share: the workspace's crates and their source trees,
//! and a crate's code read without comments (and without test items when a
//! check asks), line by line.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One workspace crate's sources.
#[derive(Debug, Clone)]
pub(crate) struct CrateSource {
    /// The crate's package name.
    pub(crate) krate: String,
    /// Its `src/` directory.
    pub(crate) dir: PathBuf,
}

/// Every workspace member that has a `src/` directory.
pub(crate) fn crate_sources(metadata: &Value) -> Vec<CrateSource> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    for p in metadata["packages"].as_array().into_iter().flatten() {
        let (Some(id), Some(name), Some(manifest)) = (
            p["id"].as_str(),
            p["name"].as_str(),
            p["manifest_path"].as_str(),
        ) else {
            continue;
        };
        if !members.contains(&id) {
            continue;
        }
        let package = Path::new(manifest)
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = package.join("src");
        if dir.is_dir() {
            out.push(CrateSource {
                krate: name.to_owned(),
                dir,
            });
        }
    }
    out.sort_by(|a, b| a.krate.cmp(&b.krate));
    out
}

/// The `.rs` files under `dir`, sorted; with `tests` false, leaving out
/// test code kept in files of its own (`tests/` folders and `tests.rs`).
pub(crate) fn rust_files(dir: &Path, tests: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, tests, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, tests: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if tests || name != "tests" {
                collect(&p, tests, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") && (tests || name != "tests.rs") {
            out.push(p);
        }
    }
}

/// `text` with every comment blanked out (string and character literals
/// kept, line breaks kept, so line numbers stay true).
pub(crate) fn strip_comments(text: &str) -> String {
    scrub(text, false)
}

/// `text` with comments blanked and the insides of string and character
/// literals too (their quotes kept): braces and paths left are code's.
pub(crate) fn code_only(text: &str) -> String {
    scrub(text, true)
}

/// Pushes a literal, blanked (`"` and line breaks kept) or as it is.
fn push_literal(out: &mut String, lit: &[char], blank: bool) {
    for &c in lit {
        out.push(if !blank || c == '"' || c == '\'' || c == '\n' {
            c
        } else {
            ' '
        });
    }
}

fn scrub(text: &str, blank: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let next = chars.get(i + 1).copied();
        match chars[i] {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let end = block_comment_end(&chars, i);
                out.extend(chars[i..end].iter().filter(|&&c| c == '\n'));
                i = end;
            }
            c => {
                let end = literal_end(&chars, i).unwrap_or(i + 1).min(chars.len());
                if end > i + 1 {
                    push_literal(&mut out, &chars[i..end], blank);
                } else {
                    out.push(c);
                }
                i = end;
            }
        }
    }
    out
}

/// Where the (nested) block comment starting at `i` ends.
fn block_comment_end(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Where the string, raw string or character literal starting at `i`
/// ends, or `None` if none starts there (a lifetime is not one).
fn literal_end(chars: &[char], i: usize) -> Option<usize> {
    match chars[i] {
        'r' if is_raw_string(chars, i) => {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    return Some(j + 1 + hashes);
                }
                j += 1;
            }
            Some(j)
        }
        '"' => {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            Some(j + 1)
        }
        // A character literal ('a', '\n', '"') or a lifetime ('a).
        '\'' if chars.get(i + 1) == Some(&'\\') => chars
            .get(i + 3..)
            .and_then(|rest| rest.iter().position(|&c| c == '\''))
            .map(|p| i + p + 4),
        '\'' if chars.get(i + 2) == Some(&'\'') => Some(i + 3),
        _ => None,
    }
}

/// `r"`, `r#"`, `br"`: a raw string starts at `i` (not the end of a name).
fn is_raw_string(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|j| chars[j]);
    let name_before = before.is_some_and(|b| (b.is_alphanumeric() || b == '_') && b != 'b') || {
        // `br"`: the `b` must itself start the literal.
        before == Some('b')
            && i.checked_sub(2)
                .is_some_and(|j| chars[j].is_alphanumeric() || chars[j] == '_')
    };
    if name_before {
        return false;
    }
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// The lines of `text` as code: comments blanked, and with `skip_tests`
/// the item after each `#[cfg(test)]` (found by its braces) left out.
/// Each line comes with its 1-based number.
pub(crate) fn code_lines(text: &str, skip_tests: bool) -> Vec<(usize, String)> {
    let stripped = strip_comments(text);
    let mut out = Vec::new();
    // Some((opened, depth)) while inside a test item.
    let mut skipping: Option<(bool, i64)> = None;
    for (i, line) in stripped.lines().enumerate() {
        if skip_tests && line.trim_start().starts_with("#[cfg(test)]") {
            skipping = Some((false, 0));
            continue;
        }
        if let Some((opened, depth)) = skipping.as_mut() {
            for c in line.chars() {
                match c {
                    '{' => {
                        *opened = true;
                        *depth += 1;
                    }
                    '}' => *depth -= 1,
                    _ => {}
                }
            }
            // The item ends when its braces close, or at `;` for a braceless item.
            if (*opened && *depth <= 0) || (!*opened && line.trim_end().ends_with(';')) {
                skipping = None;
            }
            continue;
        }
        out.push((i + 1, line.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Self-check: comments go, strings and characters that look like
    /// comments stay, and test items are skipped when asked.
    #[test]
    fn comments_and_tests_are_left_out() {
        let src = "let u = \"http://x\"; // gone\n\
                   let c = '\"'; let l: &'static str = r#\"a // b\"#; /* gone\n\
                   still gone */ let after = 1;\n\
                   #[cfg(test)]\n\
                   mod tests {\n\
                       fn t() {}\n\
                   }\n\
                   fn kept() {}\n";
        let lines = code_lines(src, true);
        let text: Vec<&str> = lines.iter().map(|(_, l)| l.trim_end()).collect();
        assert_eq!(
            text,
            vec![
                "let u = \"http://x\";",
                "let c = '\"'; let l: &'static str = r#\"a // b\"#;",
                " let after = 1;",
                "fn kept() {}",
            ]
        );
        assert_eq!(lines[3].0, 8);
        assert_eq!(code_lines(src, false).len(), 8);
    }
}
