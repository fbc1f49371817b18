//! A job's `--include`, `--exclude` and `--exclude-from FILE` rules, with
//! gitignore's syntax (the `ignore` crate): `*.tmp` matches a name at any
//! depth, `cache/` a directory and all below it, `/photos/raw` a path from
//! the job's top, `!keep.tmp` takes an earlier exclusion back. Paths are
//! the ones files get under the target folder (`photos/2026/a.jpg`). With
//! any `--include`, only files an include matches are uploaded; an exclude
//! wins over an include.

use crate::args::UploadArgs;
use crate::failure::{exit, Failure};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

/// The rules of a job.
pub(crate) struct Filters {
    include: Option<Gitignore>,
    exclude: Option<Gitignore>,
}

fn build(flag: &str, patterns: &[(String, String)]) -> Result<Option<Gitignore>, Failure> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GitignoreBuilder::new("");
    for (from, p) in patterns {
        b.add_line(None, p).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("{flag} {p:?} ({from}) is not a pattern: {e}"),
            )
        })?;
    }
    b.build()
        .map(Some)
        .map_err(|e| Failure::new(exit::USAGE, format!("{flag}: {e}")))
}

impl Filters {
    /// The rules `args` give; `--exclude-from` is read now.
    pub(crate) fn of(args: &UploadArgs) -> Result<Self, Failure> {
        let given = |v: &[String], flag: &str| {
            v.iter()
                .map(|p| (flag.to_owned(), p.clone()))
                .collect::<Vec<_>>()
        };
        let mut exclude = given(&args.filter.exclude, "--exclude");
        for file in &args.filter.exclude_from {
            let text = std::fs::read_to_string(file).map_err(|e| {
                Failure::new(
                    exit::USAGE,
                    format!("cannot read --exclude-from {}: {e}", file.display()),
                )
            })?;
            let from = file.display().to_string();
            exclude.extend(
                text.lines()
                    .map(str::trim_end)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| (from.clone(), l.to_owned())),
            );
        }
        Ok(Self {
            include: build("--include", &given(&args.filter.include, "--include"))?,
            exclude: build("--exclude", &exclude)?,
        })
    }

    /// Whether the file at `rel` is uploaded.
    pub(crate) fn keeps(&self, rel: &str) -> bool {
        let excluded = self
            .exclude
            .as_ref()
            .is_some_and(|g| matches!(g.matched_path_or_any_parents(rel, false), Match::Ignore(_)));
        let included = self
            .include
            .as_ref()
            .is_none_or(|g| matches!(g.matched_path_or_any_parents(rel, false), Match::Ignore(_)));
        included && !excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(include: &[&str], exclude: &[&str]) -> Filters {
        let own = |v: &[&str], f: &str| {
            v.iter()
                .map(|p| (f.to_owned(), (*p).to_owned()))
                .collect::<Vec<_>>()
        };
        Filters {
            include: build("--include", &own(include, "--include")).unwrap(),
            exclude: build("--exclude", &own(exclude, "--exclude")).unwrap(),
        }
    }

    #[test]
    fn gitignore_rules_as_users_know_them() {
        let f = rules(&[], &["*.tmp", "cache/", "/top/raw", "!keep.tmp"]);
        assert!(!f.keeps("top/a.tmp"));
        assert!(f.keeps("top/keep.tmp"));
        assert!(!f.keeps("top/x/cache/big.bin"));
        assert!(!f.keeps("top/raw/1.nef"));
        assert!(f.keeps("top/x/raw/1.nef"));
        assert!(f.keeps("top/a.jpg"));
        let f = rules(&["*.jpg"], &["private/"]);
        assert!(f.keeps("top/a/b.jpg"));
        assert!(!f.keeps("top/a/b.png"));
        assert!(!f.keeps("top/private/c.jpg"));
        assert!(rules(&[], &[]).keeps("anything"));
    }
}
