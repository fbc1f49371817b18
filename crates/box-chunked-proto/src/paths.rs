//! Naming an item by its place in "All Files" instead of by its id.
//!
//! Folder ids and file ids are separate numbering spaces, and an id says
//! nothing to a person, so wherever a folder or a file is asked for, a path
//! is taken too: `/Backups/2026` or `box:Backups/2026` (a path always starts
//! with `/` or `box:`, so it is never mistaken for an id, which is digits).
//! An id may say its kind, `folder:123` or `file:456`; a bare `123` is
//! whatever the command asks for. Names in a path follow Box's rules for
//! names ([`crate::rules::validate_file_name`]) and are compared as Box
//! compares them, without case ([`crate::rules::names_conflict`]).

use crate::rules::{validate_file_name, NameError};
use std::fmt;

/// A folder or a file, by id or by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRef {
    /// An id, of the kind the command asks for unless it says one.
    Id {
        /// The id (digits).
        id: String,
        /// `Some("folder")` or `Some("file")` when written `folder:ID` or `file:ID`.
        kind: Option<&'static str>,
    },
    /// A path from the root.
    Path(BoxPath),
}

/// A path from the root ("All Files"): its names, outermost first. The
/// root itself has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BoxPath {
    names: Vec<String>,
}

/// Why a folder or file argument is neither an id nor a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not digits, and not starting with `/` or `box:`.
    #[error("{0:?} is neither an id (digits, or folder:ID / file:ID) nor a Box path (it starts with / or box:, as in /Backups/2026)")]
    Neither(String),
    /// A name of the path breaks Box's rules.
    #[error("{name:?} in {path:?} is not a name Box takes: {why}")]
    Name {
        /// The whole path as given.
        path: String,
        /// The name.
        name: String,
        /// Box's rule it breaks.
        why: NameError,
    },
}

impl ItemRef {
    /// Parses a command's folder or file argument.
    ///
    /// ```
    /// use box_chunked_proto::paths::{ItemRef, BoxPath};
    /// assert_eq!(ItemRef::parse("42").unwrap(), ItemRef::Id { id: "42".into(), kind: None });
    /// assert_eq!(ItemRef::parse("file:7").unwrap(), ItemRef::Id { id: "7".into(), kind: Some("file") });
    /// let p = ItemRef::parse("box:Backups/2026").unwrap();
    /// assert_eq!(p, ItemRef::Path(BoxPath::parse("/Backups/2026").unwrap()));
    /// assert!(ItemRef::parse("Backups").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, PathError> {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        for (prefix, kind) in [("folder:", "folder"), ("file:", "file")] {
            if let Some(id) = s.strip_prefix(prefix).filter(|t| digits(t)) {
                return Ok(Self::Id {
                    id: id.to_owned(),
                    kind: Some(kind),
                });
            }
        }
        if digits(s) {
            return Ok(Self::Id {
                id: s.to_owned(),
                kind: None,
            });
        }
        if s.starts_with('/') || s.starts_with("box:") {
            return BoxPath::parse(s).map(Self::Path);
        }
        Err(PathError::Neither(s.to_owned()))
    }
}

impl BoxPath {
    /// Parses `/a/b`, `box:a/b` or `box:/a/b` (`/` and `box:` are the
    /// root; a trailing `/` is ignored; an empty, `.` or `..` name, or one
    /// Box refuses, is an error).
    pub fn parse(s: &str) -> Result<Self, PathError> {
        let rest = s.strip_prefix("box:").unwrap_or(s);
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Self::default());
        }
        let names = rest
            .split('/')
            .map(|name| {
                validate_file_name(name)
                    .map(|()| name.to_owned())
                    .map_err(|why| PathError::Name {
                        path: s.to_owned(),
                        name: name.to_owned(),
                        why,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { names })
    }

    /// The root's path.
    pub fn root() -> Self {
        Self::default()
    }

    /// Its names, outermost first.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether it is the root.
    pub fn is_root(&self) -> bool {
        self.names.is_empty()
    }

    /// The path of its first `n` names.
    pub fn prefix(&self, n: usize) -> Self {
        Self {
            names: self.names[..n.min(self.names.len())].to_vec(),
        }
    }

    /// Its parent and last name (`None` for the root).
    pub fn split_last(&self) -> Option<(Self, &str)> {
        let (last, rest) = self.names.split_last()?;
        Some((
            Self {
                names: rest.to_vec(),
            },
            last,
        ))
    }

    /// This path with `name` below it.
    pub fn join(&self, name: &str) -> Self {
        let mut names = self.names.clone();
        names.push(name.to_owned());
        Self { names }
    }
}

impl fmt::Display for BoxPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.names.is_empty() {
            return f.write_str("/");
        }
        for n in &self.names {
            write!(f, "/{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roots_ids_and_refusals() {
        for root in ["/", "box:", "box:/"] {
            assert!(BoxPath::parse(root).unwrap().is_root(), "{root}");
        }
        assert_eq!(BoxPath::parse("/a/b/").unwrap().to_string(), "/a/b");
        for bad in ["/a//b", "/a/../b", "/./x", "/ a"] {
            assert!(
                matches!(BoxPath::parse(bad), Err(PathError::Name { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            ItemRef::parse("folder:x"),
            Err(PathError::Neither(_))
        ));
        assert!(matches!(ItemRef::parse(""), Err(PathError::Neither(_))));
        let p = BoxPath::parse("/a/b/c").unwrap();
        assert_eq!(p.prefix(2).to_string(), "/a/b");
        let (parent, last) = p.split_last().unwrap();
        assert_eq!((parent.to_string().as_str(), last), ("/a/b", "c"));
        assert_eq!(parent.join("d").to_string(), "/a/b/d");
    }

    proptest! {
        #[test]
        fn a_path_prints_as_it_parses(names in prop::collection::vec("[A-Za-z0-9._ -]{1,12}", 0..5)) {
            let names: Vec<String> = names
                .into_iter()
                .filter(|n| validate_file_name(n).is_ok())
                .collect();
            let text = format!("/{}", names.join("/"));
            let p = BoxPath::parse(&text).unwrap();
            prop_assert_eq!(p.names(), &names[..]);
            prop_assert_eq!(BoxPath::parse(&p.to_string()).unwrap(), p.clone());
            prop_assert_eq!(ItemRef::parse(&format!("box:{}", names.join("/"))).unwrap(), ItemRef::Path(p));
        }

        #[test]
        fn parsing_never_panics(s in ".{0,40}") {
            let _ = ItemRef::parse(&s);
            let _ = BoxPath::parse(&s);
        }
    }
}
