//! Box's validation rules, as functions a server enforces and a client can
//! check before it spends a request.

/// Box documents a "20 MB" minimum for chunked uploads; 20,000,000 bytes is
/// the default here (Box's Android app switches at that size), and every
/// function takes the minimum as a parameter.
pub const MIN_CHUNKED_FILE_SIZE: u64 = 20_000_000;

/// The most parts a session may have. Box does not document it; list-parts
/// offsets above 10,000 are rejected, so sessions stay at or under 10,000 parts.
pub const MAX_PARTS: u64 = 10_000;

/// The largest `limit` of one list-parts page.
pub const MAX_LIST_PARTS_LIMIT: u64 = 1_000;

/// The largest list-parts `offset` (an entry index) Box accepts.
pub const MAX_LIST_PARTS_OFFSET: u64 = 10_000;

/// Longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// How long a session lives: 7 days.
pub const SESSION_LIFETIME_SECS: u64 = 7 * 24 * 60 * 60;

/// Box's general limit: API requests per minute per user (beyond it,
/// `429 rate_limit_exceeded` with `Retry-After`).
pub const API_REQUESTS_PER_MINUTE: u32 = 1_000;

/// Box's limit on file upload requests per minute per user. Whether each
/// part upload counts as one is not documented.
pub const UPLOAD_REQUESTS_PER_MINUTE: u32 = 240;

/// Why a file name is refused (`400 item_name_invalid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty name.
    #[error("the file name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`] characters.
    #[error("the file name has {0} characters; the limit is 255")]
    TooLong(usize),
    /// Contains `/` or `\`.
    #[error("the file name contains a slash or backslash")]
    Separator,
    /// Starts or ends with a space.
    #[error("the file name starts or ends with a space")]
    EdgeSpace,
    /// `.` or `..`.
    #[error("the file name may not be `.` or `..`")]
    DotName,
    /// Contains a control character.
    #[error("the file name contains a control character")]
    Control,
}

/// Checks a file name against Box's rules: not empty, at most 255
/// characters, no `/` or `\`, no leading or trailing space, not `.` or `..`,
/// no control characters.
///
/// ```
/// use box_chunked_proto::rules::{validate_file_name, NameError};
/// assert!(validate_file_name("Project.mov").is_ok());
/// assert_eq!(validate_file_name("a/b"), Err(NameError::Separator));
/// ```
pub fn validate_file_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong(chars));
    }
    if name.contains(['/', '\\']) {
        return Err(NameError::Separator);
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err(NameError::EdgeSpace);
    }
    if name == "." || name == ".." {
        return Err(NameError::DotName);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(())
}

/// Names as Box compares them for conflicts: case-insensitively.
pub fn names_conflict(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// The `n`th alternative to a taken name, as desktop tools number copies:
/// the number goes before the extension (`report.pdf` becomes
/// `report (1).pdf`; a known double extension such as `.tar.gz` stays
/// whole), or at the end of a name without one (or that starts with its
/// only dot).
///
/// ```
/// use box_chunked_proto::rules::numbered_name;
/// assert_eq!(numbered_name("report.pdf", 1), "report (1).pdf");
/// assert_eq!(numbered_name("notes", 2), "notes (2)");
/// assert_eq!(numbered_name(".env", 3), ".env (3)");
/// assert_eq!(numbered_name("backup.tar.gz", 1), "backup (1).tar.gz");
/// assert_eq!(numbered_name("İİİ.TAR.GZ", 2), "İİİ (2).TAR.GZ");
/// ```
pub fn numbered_name(name: &str, n: u32) -> String {
    const DOUBLE: [&str; 4] = [".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"];
    // Compared on the name's own bytes (ASCII-case-insensitively), so the
    // index is a character boundary of `name` whatever else it holds.
    let split = DOUBLE
        .iter()
        .filter_map(|d| {
            name.len()
                .checked_sub(d.len())
                .filter(|&i| i > 0)
                .map(|i| (i, d))
        })
        .find(|(i, d)| {
            name.get(*i..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(d))
        })
        .map(|(i, _)| i)
        .or_else(|| name.rfind('.').filter(|&i| i > 0));
    match split {
        Some(i) => format!("{} ({n}){}", &name[..i], &name[i..]),
        None => format!("{name} ({n})"),
    }
}

/// A file below the chunked minimum (`400 file_size_too_small`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunked uploads need at least {min} bytes; the file has {size}")]
pub struct FileTooSmall {
    /// The file's size.
    pub size: u64,
    /// The minimum in force.
    pub min: u64,
}

/// Checks the chunked upload minimum (sizes below `min` are refused).
pub fn check_min_size(size: u64, min: u64) -> Result<(), FileTooSmall> {
    if size < min {
        Err(FileTooSmall { size, min })
    } else {
        Ok(())
    }
}

/// A session would have more parts than allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parts} parts exceed the limit of {max}")]
pub struct TooManyParts {
    /// Parts the session would have.
    pub parts: u64,
    /// The limit.
    pub max: u64,
}

/// Checks a part count against [`MAX_PARTS`].
pub fn check_part_count(parts: u64) -> Result<(), TooManyParts> {
    if parts > MAX_PARTS {
        Err(TooManyParts {
            parts,
            max: MAX_PARTS,
        })
    } else {
        Ok(())
    }
}

/// A server's part-size policy modelled on what Box has been seen to pick:
/// 8 MiB below 256 MiB, 32 MiB below 4 GiB, 64 MiB above, doubled until the
/// file fits in [`MAX_PARTS`] parts. Always a multiple of 64 bytes (a SHA-1 block).
///
/// ```
/// use box_chunked_proto::rules::default_part_size;
/// assert_eq!(default_part_size(160_000_000), 8 << 20);
/// assert_eq!(default_part_size(1 << 30), 32 << 20);
/// assert_eq!(default_part_size(5_138_022_400), 64 << 20);
/// ```
pub fn default_part_size(file_size: u64) -> u64 {
    let mut size: u64 = if file_size < 256 << 20 {
        8 << 20
    } else if file_size < 4 << 30 {
        32 << 20
    } else {
        64 << 20
    };
    while file_size.div_ceil(size) > MAX_PARTS {
        match size.checked_mul(2) {
            Some(s) => size = s,
            None => break,
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert_eq!(validate_file_name(""), Err(NameError::Empty));
        assert_eq!(
            validate_file_name(&"x".repeat(256)),
            Err(NameError::TooLong(256))
        );
        assert!(validate_file_name(&"é".repeat(255)).is_ok());
        assert_eq!(validate_file_name("a\\b"), Err(NameError::Separator));
        assert_eq!(validate_file_name(" a"), Err(NameError::EdgeSpace));
        assert_eq!(validate_file_name("a "), Err(NameError::EdgeSpace));
        assert_eq!(validate_file_name(".."), Err(NameError::DotName));
        assert!(validate_file_name("...").is_ok());
        assert_eq!(validate_file_name("a\u{7}"), Err(NameError::Control));
        assert!(names_conflict("New File", "new file"));
        assert!(!names_conflict("a", "b"));
    }

    #[test]
    fn sizes() {
        assert!(check_min_size(MIN_CHUNKED_FILE_SIZE, MIN_CHUNKED_FILE_SIZE).is_ok());
        assert_eq!(
            check_min_size(19_999_999, MIN_CHUNKED_FILE_SIZE),
            Err(FileTooSmall {
                size: 19_999_999,
                min: MIN_CHUNKED_FILE_SIZE
            })
        );
        assert!(check_part_count(10_000).is_ok());
        assert!(check_part_count(10_001).is_err());
    }

    proptest! {
        #[test]
        fn policy_keeps_parts_within_the_limit(size in any::<u64>()) {
            let p = default_part_size(size);
            prop_assert_eq!(p % 64, 0);
            prop_assert!(size.div_ceil(p) <= MAX_PARTS);
        }

        #[test]
        fn name_check_never_panics(s in "\\PC{0,300}") {
            let _ = validate_file_name(&s);
        }

        #[test]
        fn numbered_names_keep_the_name_and_never_panic(s in "\\PC{1,40}(\\.[tT][aA][rR]\\.[gG][zZ])?", n in 1u32..2000) {
            let out = numbered_name(&s, n);
            let mark = format!(" ({n})");
            prop_assert!(out.contains(&mark));
            prop_assert_eq!(out.replacen(&mark, "", 1), s);
        }
    }
}
