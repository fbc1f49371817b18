//! Import circles: within a crate, no two sibling modules may name each
//! other, directly or through others. A module *names* another by a path
//! (`crate::a::b`, `super::b`, `self::c`, or a child's name), in `use` or
//! in code; comments and test items do not count. A path between two
//! modules counts between their ancestors that are siblings (so
//! `handlers::parts` naming `store::ids` is `handlers` naming `store`), and a
//! module naming its own parent or child is one room, not a circle.
//!
//! [`ALLOWED`] lists the circles the house accepts, each with its reason.

use super::source::{code_lines, code_only, rust_files};
use super::Violation;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Accepted circles: (crate, modules, why).
pub(crate) const ALLOWED: &[(&str, &[&str], &str)] = &[(
    "box-chunked-hyper",
    &["builder", "client"],
    "a builder and the client it builds name each other",
)];

/// A module's path from the crate root (`[]` is the root).
type ModPath = Vec<String>;

/// Checks the crate `krate` whose sources are under `src`.
pub(crate) fn check(krate: &str, src: &Path) -> Vec<Violation> {
    let mut texts: BTreeMap<ModPath, String> = BTreeMap::new();
    for file in rust_files(src, false) {
        let Ok(rel) = file.strip_prefix(src) else {
            continue;
        };
        let mut path: ModPath = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if path
            .last()
            .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
        {
            path.pop();
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        // Code only: no comments, no test items, no literal's insides.
        let code: Vec<String> = code_lines(&code_only(&text), true)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        texts.entry(path).or_default().push_str(&code.join("\n"));
    }
    let modules: BTreeSet<ModPath> = texts.keys().cloned().collect();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (me, text) in &texts {
        for target in named_modules(text, me, &modules) {
            if let Some((from, to)) = lift(me, &target) {
                edges.entry(from).or_default().insert(to);
            }
        }
    }
    circles(&edges)
        .into_iter()
        .filter_map(|c| {
            let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
            let allowed = ALLOWED.iter().any(|(k, mods, _)| {
                *k == krate
                    && mods.len() == names.len()
                    && mods.iter().all(|m| names.contains(&(*m).to_owned()))
            });
            (!allowed).then(|| Violation::Circle {
                krate: krate.to_owned(),
                modules: names,
            })
        })
        .collect()
}

/// The two sibling ancestors a path from `from` to `to` counts between, or
/// `None` when one contains the other.
fn lift(from: &[String], to: &[String]) -> Option<(ModPath, ModPath)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// A token of code: a name, `::`, or one other character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Name(String),
    Path,
    Punct(char),
}

fn tokens(code: &str) -> Vec<Tok> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(chars[start..i].iter().collect()));
            continue;
        }
        if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Tok::Path);
            i += 2;
            continue;
        }
        if !c.is_whitespace() {
            out.push(Tok::Punct(c));
        }
        i += 1;
    }
    out
}

/// The crate's modules that the code of module `me` names.
fn named_modules(code: &str, me: &[String], modules: &BTreeSet<ModPath>) -> BTreeSet<ModPath> {
    let toks = tokens(code);
    let mut found = BTreeSet::new();
    for i in 0..toks.len() {
        // A path starts at a name not itself after `::`.
        if i > 0 && toks[i - 1] == Tok::Path {
            continue;
        }
        let Tok::Name(first) = &toks[i] else {
            continue;
        };
        let mut base: ModPath = match first.as_str() {
            "crate" => Vec::new(),
            "self" => me.to_vec(),
            "super" => me[..me.len().saturating_sub(1)].to_vec(),
            name => {
                let mut child = me.to_vec();
                child.push(name.to_owned());
                if !modules.contains(&child) || toks.get(i + 1) != Some(&Tok::Path) {
                    continue;
                }
                child
            }
        };
        let mut j = i + 1;
        // `super::super::...`
        while toks.get(j) == Some(&Tok::Path)
            && toks.get(j + 1) == Some(&Tok::Name("super".into()))
            && first == "super"
        {
            base.pop();
            j += 2;
        }
        let mut paths = Vec::new();
        follow(&toks, j, base, &mut paths);
        for p in paths {
            if let Some(m) = longest_module(&p, modules) {
                found.insert(m);
            }
        }
    }
    found.remove(me);
    found
}

/// Follows `::name` segments and `::{a, b::c}` groups from `j`, pushing
/// every full path found.
fn follow(toks: &[Tok], mut j: usize, mut path: ModPath, out: &mut Vec<ModPath>) -> usize {
    while toks.get(j) == Some(&Tok::Path) {
        match toks.get(j + 1) {
            Some(Tok::Name(n)) => {
                path.push(n.clone());
                j += 2;
            }
            Some(Tok::Punct('{')) => {
                j += 2;
                // Each entry of the group continues the path.
                loop {
                    match toks.get(j) {
                        Some(Tok::Name(n)) => {
                            let mut entry = path.clone();
                            if n != "self" {
                                entry.push(n.clone());
                            }
                            j = follow(toks, j + 1, entry, out);
                        }
                        Some(Tok::Punct('}')) => return j + 1,
                        Some(_) => j += 1,
                        None => return j,
                    }
                }
            }
            _ => break,
        }
    }
    out.push(path);
    j
}

/// The longest leading part of `path` that is a module.
fn longest_module(path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    (0..=path.len())
        .rev()
        .map(|k| path[..k].to_vec())
        .find(|p| modules.contains(p))
}

/// The strongly connected groups of more than one module (Tarjan).
fn circles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<ModPath, usize>,
        low: BTreeMap<ModPath, usize>,
        stack: Vec<ModPath>,
        on_stack: BTreeSet<ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, v: &ModPath) {
            let n = self.index.len();
            self.index.insert(v.clone(), n);
            self.low.insert(v.clone(), n);
            self.stack.push(v.clone());
            self.on_stack.insert(v.clone());
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(&w);
                    let done = &w == v;
                    group.push(w);
                    if done {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.out.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.out.sort();
    walk.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tidy-modules-{}-{}",
            std::process::id(),
            files.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    /// Self-check: a circle through three handlers (by `super::`, a
    /// `crate::{..}` group and a child's name) is caught; a module naming
    /// its parent, names in comments and tests, and the allowed pair are not.
    #[test]
    fn an_import_circle_is_caught() {
        let dir = crate_of(&[
            ("lib.rs", "mod handlers;\nmod store;\nuse handlers::parts;\n"),
            ("store.rs", "// crate::handlers::parts is only a comment\npub fn s() {}\n"),
            ("handlers/mod.rs", "mod parts;\nmod checks;\nmod repr;\npub use parts::put;\npub struct Fail;\n"),
            ("handlers/parts.rs", "use super::{checks::quota, Fail};\nuse crate::store;\n"),
            ("handlers/checks.rs", "use crate::handlers::{repr::{self, json}};\n#[cfg(test)]\nmod tests { use super::super::parts; }\n"),
            ("handlers/repr.rs", "fn f() { let _ = super::parts::put(); let _ = crate::store::s(); }\n"),
        ]);
        let found = check("demo", &dir);
        let allowed = check(
            "box-chunked-hyper",
            &crate_of(&[
                ("lib.rs", "mod builder;\nmod client;\n"),
                ("builder.rs", "use crate::client::Client;\n"),
                ("client.rs", "use crate::builder::Builder;\n"),
            ]),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec!["demo: the modules handlers::checks, handlers::parts, handlers::repr name each other in a circle"]
        );
        assert!(allowed.is_empty(), "{allowed:?}");
    }
}
