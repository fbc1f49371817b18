//! SHA-1 for Box chunked uploads: every part's digest and the whole file's
//! digest in one pass over the bytes.
//!
//! Box checks each part of a chunked upload with its SHA-1 (`Digest:
//! sha=...`) and the whole file with another at commit. Parts start at
//! multiples of the part size, which Box keeps a multiple of 64 bytes (one
//! SHA-1 block), so both chains consume the very same blocks:
//! [`DualSha1`] computes each block's message schedule once and runs the two
//! compression chains on it, interleaved, with the CPU's SHA instructions
//! when it has them (x86 SHA-NI, detected at run time) and portable code
//! otherwise. [`FileHasher`] wraps it for callers that hash whole parts in
//! offset order and falls back to two ordinary hashers for part sizes that
//! are not multiples of 64.
//!
//! The client's state machine (`box-chunked-core`), the hyper driver's reader
//! thread and the local server all hash with this crate. It holds the
//! workspace's SIMD `unsafe` in one private module, which says why each use
//! is sound; property tests compare both backends with the `sha1` crate.
//!
//! ```
//! use box_chunked_sha1::{Backend, DualSha1};
//! let mut h = DualSha1::new(Backend::detect());
//! h.update(&[7u8; 128]); // part 0: two blocks
//! let part0 = h.finish_part();
//! h.update(b"tail"); // part 1, the last, may be short
//! let part1 = h.finish_part();
//! let file = h.finish_file();
//! assert_ne!(part0, part1);
//! assert_eq!(file.to_hex().len(), 40);
//! ```

mod dual;
mod file;
mod state;

pub use box_chunked_proto::Sha1Digest;
pub use dual::{Backend, DualSha1};
pub use file::FileHasher;
pub use state::ChainState;
