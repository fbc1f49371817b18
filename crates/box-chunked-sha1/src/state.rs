//! A file chain's state at a block boundary, kept outside the hasher: the
//! SHA-1 state words and the bytes hashed so far, as 28 bytes, so that a
//! hash of a file can resume where an earlier hash of the same leading
//! bytes stopped (the local server keeps one per part boundary of each
//! committed version, so a new version that shares its first parts is not
//! hashed from the start again).

/// The file chain of a [`crate::DualSha1`] after a whole number of 64-byte
/// blocks: enough to go on hashing from there.
///
/// ```
/// use box_chunked_sha1::{Backend, ChainState, DualSha1};
/// let mut a = DualSha1::new(Backend::detect());
/// a.update(&[1u8; 128]);
/// let kept = a.file_state().expect("128 bytes is two whole blocks").to_bytes();
/// a.update(b"tail");
/// let mut b = DualSha1::resume_file(Backend::detect(), ChainState::from_bytes(&kept).unwrap());
/// b.update(b"tail");
/// assert_eq!(a.finish_file(), b.finish_file());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChainState {
    pub(crate) words: [u32; 5],
    pub(crate) len: u64,
}

impl std::fmt::Debug for ChainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainState")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl ChainState {
    /// How many bytes [`ChainState::to_bytes`] writes.
    pub const LEN: usize = 28;

    /// The bytes hashed to reach this state.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no byte was hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The state as 28 bytes: five big-endian words, then the length.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        for (i, w) in self.words.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        out[20..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// A state written by [`ChainState::to_bytes`]; `None` unless `b` is 28
    /// bytes long with a length that is a whole number of blocks.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; Self::LEN] = b.try_into().ok()?;
        let mut words = [0u32; 5];
        for (i, w) in words.iter_mut().enumerate() {
            *w = u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().ok()?);
        }
        let len = u64::from_be_bytes(b[20..].try_into().ok()?);
        len.is_multiple_of(64).then_some(Self { words, len })
    }
}
