//! Rooms of a readable size: no non-test source file above
//! [`MAX_FILE_LINES`] lines, and no non-test function above
//! [`MAX_FN_LINES`] lines (about 70) unless a comment just above it, among
//! its doc comments and attributes, starts `// Long on purpose:` and says
//! why it cannot be split. Test code (files under `tests/`, `tests.rs`,
//! `#[cfg(test)]` items) reads as one story per test and is exempt.

use super::source::{code_lines, code_only, rust_files};
use super::Violation;
use std::collections::BTreeSet;
use std::path::Path;

/// The most lines a source file may have.
pub(crate) const MAX_FILE_LINES: usize = 600;
/// The most lines a function may have without a comment saying why.
pub(crate) const MAX_FN_LINES: usize = 75;
/// What the comment that excuses a long function starts with.
pub(crate) const LONG_ON_PURPOSE: &str = "// Long on purpose:";

/// Checks every non-test file under `src`.
pub(crate) fn check(src: &Path) -> Vec<Violation> {
    let mut out = Vec::new();
    for file in rust_files(src, false) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            out.push(Violation::LongFile {
                file: file.clone(),
                lines,
            });
        }
        for (line, name, len) in long_functions(&text) {
            out.push(Violation::LongFn {
                file: file.clone(),
                line,
                name,
                lines: len,
            });
        }
    }
    out
}

/// The functions of `text` outside test items that are longer than
/// [`MAX_FN_LINES`] with no excuse: (1-based line, name, lines).
pub(crate) fn long_functions(text: &str) -> Vec<(usize, String, usize)> {
    let raw: Vec<&str> = text.lines().collect();
    let code = code_only(text);
    let code: Vec<&str> = code.lines().collect();
    let outside_tests: BTreeSet<usize> = code_lines(text, true)
        .into_iter()
        .map(|(n, _)| n - 1)
        .collect();
    let mut out = Vec::new();
    for (i, line) in code.iter().enumerate() {
        let Some(name) = fn_name(line) else {
            continue;
        };
        if !outside_tests.contains(&i) {
            continue;
        }
        let Some(end) = body_end(&code, i) else {
            continue;
        };
        let len = end - i + 1;
        if len > MAX_FN_LINES && !excused(&raw, i) {
            out.push((i + 1, name, len));
        }
    }
    out
}

/// The name of the function a line declares (`pub(crate) async fn name`).
fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "const" | "async" | "unsafe" | "extern" | "default" => continue,
            w if w.starts_with("pub(") || w.starts_with('"') => continue,
            "fn" => {
                let name: String = words
                    .next()?
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                return (!name.is_empty()).then_some(name);
            }
            _ => return None,
        }
    }
    None
}

/// The line where the body of the function declared at `start` closes, or
/// `None` for a declaration without a body.
fn body_end(code: &[&str], start: usize) -> Option<usize> {
    let mut depth = 0i64;
    let mut opened = false;
    // Brackets of the signature (`[u8; 64]` holds a `;` that ends nothing).
    let mut nest = 0i64;
    for (i, line) in code.iter().enumerate().skip(start) {
        for c in line.chars() {
            match c {
                '{' => {
                    opened = true;
                    depth += 1;
                }
                '}' => depth -= 1,
                '(' | '[' if !opened => nest += 1,
                ')' | ']' if !opened => nest -= 1,
                ';' if !opened && nest == 0 => return None,
                _ => {}
            }
            if opened && depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Whether the comments and attributes just above line `i` excuse it.
fn excused(raw: &[&str], i: usize) -> bool {
    raw[..i]
        .iter()
        .rev()
        .map(|l| l.trim_start())
        .take_while(|l| l.starts_with("//") || l.starts_with("#["))
        .any(|l| l.starts_with(LONG_ON_PURPOSE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(lines: usize) -> String {
        (0..lines)
            .map(|i| format!("    let x{i} = \"}}\";\n"))
            .collect()
    }

    /// Self-check: a long function is caught (braces in strings do not
    /// end it early); one with the comment, a short one, a trait method
    /// without a body and a test are not.
    #[test]
    fn a_long_function_is_caught() {
        let text = format!(
            "pub(crate) async fn long() {{\n{long}}}\n\
             // Long on purpose: one table of states, read top to bottom.\n\
             /// Documented.\n#[inline]\nfn excused() {{\n{long}}}\n\
             fn short() {{\n{short}}}\n\
             unsafe fn arrays(a: &mut [u32; 5]) {{\n{long}}}\n\
             trait T {{ fn declared(&self); }}\n\
             #[cfg(test)]\nmod tests {{\n    fn long_test() {{\n{long}    }}\n}}\n",
            long = body(80),
            short = body(10)
        );
        let found: Vec<(usize, String)> = long_functions(&text)
            .into_iter()
            .map(|(line, name, _)| (line, name))
            .collect();
        assert_eq!(
            found,
            vec![(1, "long".to_owned()), (180, "arrays".to_owned())]
        );
    }
}
