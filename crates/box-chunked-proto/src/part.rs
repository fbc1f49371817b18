//! Parts: the wire objects, the parts page, and the part math.

use crate::json::lenient_u64;
use crate::{ContentRange, Sha1Digest};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A part as Box stores it: `UploadPart` in the spec.
///
/// `sha1` is optional: the spec's `UploadPart--Mini` has none and some clients
/// commit without it (`"sha1": null` is accepted on decode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UploadPart {
    /// Box's id for the part (8 upper-case hex digits in practice).
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub part_id: String,
    /// Byte offset of the part in the file.
    #[serde(deserialize_with = "lenient_u64")]
    pub offset: u64,
    /// Number of bytes.
    #[serde(deserialize_with = "lenient_u64")]
    pub size: u64,
    /// SHA-1 of the part's bytes, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<Sha1Digest>,
}

impl UploadPart {
    /// Whether this stored part is the one described by `offset`, `size` and
    /// `sha1` (a stored part without a SHA-1 cannot be proven equal).
    pub fn matches(&self, offset: u64, size: u64, sha1: &Sha1Digest) -> bool {
        self.offset == offset && self.size == size && self.sha1.as_ref() == Some(sha1)
    }
}

/// `200` body of a part upload: `{"part": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPart {
    /// The stored part.
    pub part: UploadPart,
}

/// Sort order entry of a parts page (boilerplate in Box's responses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageOrder {
    /// Field sorted by.
    #[serde(default)]
    pub by: String,
    /// `ASC` or `DESC`.
    #[serde(default)]
    pub direction: String,
}

/// One page of `GET .../parts`: `UploadParts` in the spec.
///
/// `offset` is an *entry index*, not a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadParts {
    /// Parts on this page, by ascending offset.
    #[serde(default)]
    pub entries: Vec<UploadPart>,
    /// Total number of parts.
    #[serde(deserialize_with = "lenient_u64")]
    pub total_count: u64,
    /// Page size asked for (at most [`crate::rules::MAX_LIST_PARTS_LIMIT`]).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub limit: u64,
    /// Index of the first entry of this page.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub offset: u64,
    /// Sort order (as Box sends it; not used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<PageOrder>,
}

impl UploadParts {
    /// The entry index of the next page, or `None` when this is the last page.
    ///
    /// A page that returns no entries ends the listing even if `total_count`
    /// claims more, so a lying server cannot make a client loop forever.
    pub fn next_offset(&self) -> Option<u64> {
        let got = u64::try_from(self.entries.len()).unwrap_or(u64::MAX);
        if got == 0 {
            return None;
        }
        let next = self.offset.checked_add(got)?;
        (next < self.total_count).then_some(next)
    }
}

/// The exact range of one part of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartRange {
    /// Zero-based part index.
    pub index: u64,
    /// Byte offset.
    pub offset: u64,
    /// Number of bytes (at least 1).
    pub len: u64,
}

impl PartRange {
    /// One past the last byte.
    pub const fn end(&self) -> u64 {
        // PartPlan guarantees offset + len <= file_size.
        self.offset + self.len
    }

    /// The byte range.
    pub const fn range(&self) -> Range<u64> {
        self.offset..self.end()
    }

    /// The `Content-Range` header for this part of a file of `total` bytes.
    pub fn content_range(&self, total: u64) -> Result<ContentRange, crate::ContentRangeError> {
        ContentRange::new(self.offset, self.len, total)
    }
}

/// How a file of `file_size` bytes splits into parts of `part_size` bytes.
///
/// An exact multiple has no empty trailing part; only the last part may be
/// shorter; a file of 0 bytes has no parts.
///
/// ```
/// use box_chunked_proto::PartPlan;
/// let plan = PartPlan::new(32_127_641, 8_388_608).unwrap();
/// assert_eq!(plan.total_parts(), 4);
/// let last = plan.part(3).unwrap();
/// assert_eq!((last.offset, last.len), (25_165_824, 6_961_817));
/// assert!(plan.part(4).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartPlan {
    file_size: u64,
    part_size: u64,
}

/// Why a part plan or a proposed part is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    /// `part_size` is zero.
    #[error("part size must be positive")]
    ZeroPartSize,
    /// The part does not start on a multiple of the part size.
    #[error("part offset {offset} is not a multiple of the part size {part_size}")]
    Misaligned {
        /// Offset proposed.
        offset: u64,
        /// The session's part size.
        part_size: u64,
    },
    /// The part starts at or after the end of the file.
    #[error("part offset {offset} is past the end of the file ({file_size} bytes)")]
    OutOfFile {
        /// Offset proposed.
        offset: u64,
        /// The file's size.
        file_size: u64,
    },
    /// The part's length is not the length a part at that offset must have.
    #[error("part at offset {offset} must be {expected} bytes, not {actual}")]
    WrongSize {
        /// Offset proposed.
        offset: u64,
        /// The length required there.
        expected: u64,
        /// The length proposed.
        actual: u64,
    },
    /// The `Content-Range` total is not the session's file size.
    #[error("Content-Range total {actual} is not the session's file size {expected}")]
    WrongTotal {
        /// The session's file size.
        expected: u64,
        /// The total in the header.
        actual: u64,
    },
}

impl PartPlan {
    /// A plan for `file_size` bytes in parts of `part_size` bytes.
    pub const fn new(file_size: u64, part_size: u64) -> Result<Self, PartError> {
        if part_size == 0 {
            return Err(PartError::ZeroPartSize);
        }
        Ok(Self {
            file_size,
            part_size,
        })
    }

    /// The whole file's size.
    pub const fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Every part but the last is this long.
    pub const fn part_size(&self) -> u64 {
        self.part_size
    }

    /// `ceil(file_size / part_size)`; 0 for an empty file.
    pub const fn total_parts(&self) -> u64 {
        self.file_size.div_ceil(self.part_size)
    }

    /// Part `index`, or `None` past the last part.
    pub fn part(&self, index: u64) -> Option<PartRange> {
        if index >= self.total_parts() {
            return None;
        }
        // index < total_parts, so index * part_size < file_size: no overflow.
        let offset = index.checked_mul(self.part_size)?;
        let len = (self.file_size - offset).min(self.part_size);
        Some(PartRange { index, offset, len })
    }

    /// The part that starts at `offset`, if `offset` is a part boundary inside the file.
    pub fn part_at(&self, offset: u64) -> Option<PartRange> {
        if !offset.is_multiple_of(self.part_size) {
            return None;
        }
        self.part(offset / self.part_size)
    }

    /// All parts in offset order.
    pub fn parts(&self) -> impl Iterator<Item = PartRange> + '_ {
        (0..self.total_parts()).filter_map(|i| self.part(i))
    }

    /// Checks a proposed `(offset, len)` against the plan: aligned start,
    /// inside the file, exactly the length a part there must have.
    pub fn validate(&self, offset: u64, len: u64) -> Result<PartRange, PartError> {
        if offset >= self.file_size {
            return Err(PartError::OutOfFile {
                offset,
                file_size: self.file_size,
            });
        }
        let part = self.part_at(offset).ok_or(PartError::Misaligned {
            offset,
            part_size: self.part_size,
        })?;
        if part.len != len {
            return Err(PartError::WrongSize {
                offset,
                expected: part.len,
                actual: len,
            });
        }
        Ok(part)
    }

    /// Checks a `Content-Range` header against the plan, total included.
    pub fn validate_content_range(&self, range: &ContentRange) -> Result<PartRange, PartError> {
        if range.total() != self.file_size {
            return Err(PartError::WrongTotal {
                expected: self.file_size,
                actual: range.total(),
            });
        }
        self.validate(range.offset(), range.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        let empty = PartPlan::new(0, 8).unwrap();
        assert_eq!(empty.total_parts(), 0);
        assert_eq!(empty.parts().count(), 0);
        let exact = PartPlan::new(16, 8).unwrap();
        assert_eq!(exact.parts().map(|p| p.len).collect::<Vec<_>>(), vec![8, 8]);
        let one_byte_last = PartPlan::new(17, 8).unwrap();
        assert_eq!(one_byte_last.part(2).unwrap().len, 1);
        assert_eq!(PartPlan::new(1, 0), Err(PartError::ZeroPartSize));
        let huge = PartPlan::new(u64::MAX, 1 << 20).unwrap();
        let last = huge.part(huge.total_parts() - 1).unwrap();
        assert_eq!(last.end(), u64::MAX);
        let max = PartPlan::new(u64::MAX, u64::MAX).unwrap();
        assert_eq!(max.total_parts(), 1);
        assert_eq!(max.part(0).unwrap().len, u64::MAX);
        assert!(max.part(1).is_none());
    }

    #[test]
    fn validation_errors() {
        let p = PartPlan::new(20, 8).unwrap();
        assert_eq!(p.validate(0, 8).unwrap().index, 0);
        assert_eq!(p.validate(16, 4).unwrap().index, 2);
        assert_eq!(
            p.validate(4, 8),
            Err(PartError::Misaligned {
                offset: 4,
                part_size: 8
            })
        );
        assert_eq!(
            p.validate(16, 8),
            Err(PartError::WrongSize {
                offset: 16,
                expected: 4,
                actual: 8
            })
        );
        assert_eq!(
            p.validate(24, 1),
            Err(PartError::OutOfFile {
                offset: 24,
                file_size: 20
            })
        );
        let cr = ContentRange::parse("bytes 0-7/21").unwrap();
        assert_eq!(
            p.validate_content_range(&cr),
            Err(PartError::WrongTotal {
                expected: 20,
                actual: 21
            })
        );
    }

    #[test]
    fn next_offset_pages() {
        let page = |offset, n, total| UploadParts {
            entries: (0..n)
                .map(|i| UploadPart {
                    part_id: format!("{i}"),
                    offset: i,
                    size: 1,
                    sha1: None,
                })
                .collect(),
            total_count: total,
            limit: 1000,
            offset,
            order: vec![],
        };
        assert_eq!(page(0, 1000, 2500).next_offset(), Some(1000));
        assert_eq!(page(2000, 500, 2500).next_offset(), None);
        assert_eq!(page(0, 0, 2500).next_offset(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every byte is covered by exactly one part, in order, with only the last short.
        #[test]
        fn parts_tile_the_file(file_size in 0u64..5_000_000, part_size in 1u64..300_000) {
            let plan = PartPlan::new(file_size, part_size).unwrap();
            let mut next = 0u64;
            let n = plan.total_parts();
            for (i, p) in plan.parts().enumerate() {
                prop_assert_eq!(p.index, i as u64);
                prop_assert_eq!(p.offset, next);
                prop_assert!(p.len >= 1);
                if p.index + 1 < n { prop_assert_eq!(p.len, part_size); }
                else { prop_assert!(p.len <= part_size); }
                prop_assert_eq!(plan.validate(p.offset, p.len), Ok(p));
                prop_assert_eq!(plan.part_at(p.offset), Some(p));
                next = p.end();
            }
            prop_assert_eq!(next, file_size);
            prop_assert_eq!(plan.parts().count() as u64, n);
        }

        /// Arithmetic is checked at any u64 size: no panic, and the plan is consistent.
        #[test]
        fn no_overflow_at_any_size(file_size in any::<u64>(), part_size in 1u64.., i in any::<u64>(), off in any::<u64>(), len in any::<u64>()) {
            let plan = PartPlan::new(file_size, part_size).unwrap();
            let n = plan.total_parts();
            if let Some(p) = plan.part(i) {
                prop_assert!(i < n);
                prop_assert!(p.offset.checked_add(p.len).is_some_and(|e| e <= file_size));
            } else {
                prop_assert!(i >= n);
            }
            if n > 0 {
                let last = plan.part(n - 1).unwrap();
                prop_assert_eq!(last.end(), file_size);
            }
            let _ = plan.validate(off, len);
        }
    }
}
