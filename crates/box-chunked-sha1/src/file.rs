//! [`FileHasher`]: whole parts hashed in offset order, each part's digest
//! returned and the whole file's digest kept. It owns the choice between the
//! two-chain hasher and two separate ones; it knows nothing of Box's rules.

use crate::dual::{Backend, DualSha1};
use box_chunked_proto::Sha1Digest;
use sha1::{Digest as _, Sha1};

/// Bytes hashed between two switches of chain (keeps the second chain's
/// reads in cache on the two-hasher path).
const HASH_PIECE: usize = 1 << 20;

/// The part digests and the whole-file digest of one file, parts fed in
/// offset order.
///
/// ```
/// use box_chunked_sha1::FileHasher;
/// let data = vec![1u8; 300];
/// let mut h = FileHasher::for_part_size(128);
/// let parts: Vec<_> = data.chunks(128).map(|p| h.part(p)).collect();
/// assert_eq!(parts.len(), 3);
/// let mut again = FileHasher::for_part_size(100); // not a multiple of 64
/// for p in data.chunks(100) {
///     again.part(p);
/// }
/// assert_eq!(h.finish(), again.finish());
/// ```
#[derive(Clone)]
pub enum FileHasher {
    /// Part and file chains share each block's message schedule (part sizes
    /// that are multiples of 64, which Box's are).
    Dual(DualSha1),
    /// Two independent hashers (any other part size).
    Separate(Sha1),
}

impl std::fmt::Debug for FileHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dual(d) => f.debug_tuple("Dual").field(d).finish(),
            Self::Separate(_) => f.write_str("Separate"),
        }
    }
}

impl Default for FileHasher {
    /// Two separate hashers: right for any part size.
    fn default() -> Self {
        Self::Separate(Sha1::new())
    }
}

impl FileHasher {
    /// The fastest hasher that is right for parts of `part_size` bytes.
    pub fn for_part_size(part_size: u64) -> Self {
        if part_size.is_multiple_of(64) {
            Self::Dual(DualSha1::new(Backend::detect()))
        } else {
            Self::default()
        }
    }

    /// Hashes the next part (in offset order) and returns its digest.
    pub fn part(&mut self, data: &[u8]) -> Sha1Digest {
        match self {
            Self::Dual(d) if d.at_block_boundary() => {
                for piece in data.chunks(HASH_PIECE) {
                    d.update(piece);
                }
                d.finish_part()
            }
            // A part after a short one cannot share blocks: only the last part
            // is short, so this is unreachable for a consistent plan; hash it
            // correctly anyway.
            Self::Dual(d) => {
                d.update(data);
                d.discard_part();
                Sha1Digest(Sha1::digest(data).into())
            }
            Self::Separate(file) => {
                let mut part = Sha1::new();
                for piece in data.chunks(HASH_PIECE) {
                    part.update(piece);
                    file.update(piece);
                }
                Sha1Digest(part.finalize().into())
            }
        }
    }

    /// The whole file's digest; the hasher starts over afterwards.
    pub fn finish(&mut self) -> Sha1Digest {
        match std::mem::take(self) {
            Self::Dual(d) => d.finish_file(),
            Self::Separate(s) => Sha1Digest(s.finalize().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any part size, including ones that are not multiples of 64, and a
        /// part after a short one: every part digest and the file digest
        /// agree with the `sha1` crate.
        #[test]
        fn agrees_with_the_sha1_crate(data in proptest::collection::vec(any::<u8>(), 0..3000),
                                      part_size in 1usize..400) {
            let mut h = FileHasher::for_part_size(part_size as u64);
            for p in data.chunks(part_size) {
                prop_assert_eq!(h.part(p), Sha1Digest(Sha1::digest(p).into()));
            }
            prop_assert_eq!(h.finish(), Sha1Digest(Sha1::digest(&data).into()));
        }
    }
}
