//! The two-chain SHA-1: each part's digest and the whole file's, over the
//! same bytes in one pass. It knows nothing of parts beyond their lengths.
//!
//! A part of a Box upload starts at a multiple of the part size, and Box's
//! part sizes are multiples of 64 bytes (a SHA-1 block), so the part's chain
//! and the file's chain consume the very same 64-byte blocks. The message
//! schedule of each block is computed once and both compression chains run
//! on it, interleaved, which costs much less than two separate hashers.
//!
//! Two compressors: the CPU's SHA instructions (x86 SHA-NI, chosen at run
//! time) and a portable one. All `unsafe` code of the crate is in
//! the private `shani` module, and only there: it calls the SHA-NI intrinsics, which is sound
//! because it is only reached after `is_x86_feature_detected!` said the CPU
//! has them, and it reads blocks with unaligned loads from `&[u8; 64]`.

use crate::ChainState;
use box_chunked_proto::Sha1Digest;

const INIT: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// Which compressor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// x86 SHA-NI.
    ShaNi,
    /// Plain Rust.
    Portable,
}

impl Backend {
    /// The fastest available on this CPU.
    pub fn detect() -> Self {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            if std::arch::is_x86_feature_detected!("sha")
                && std::arch::is_x86_feature_detected!("sse2")
                && std::arch::is_x86_feature_detected!("ssse3")
                && std::arch::is_x86_feature_detected!("sse4.1")
            {
                return Self::ShaNi;
            }
        }
        Self::Portable
    }
}

/// A part chain and a file chain fed the same bytes.
///
/// Feed a part with [`DualSha1::update`], end it with
/// [`DualSha1::finish_part`]; every part but the last must be a multiple of
/// 64 bytes long (the caller falls back to two hashers otherwise). End the
/// file with [`DualSha1::finish_file`].
#[derive(Clone)]
pub struct DualSha1 {
    backend: Backend,
    part: [u32; 5],
    file: [u32; 5],
    /// Bytes of an incomplete block (at most 63), shared by both chains.
    pending: [u8; 64],
    pending_len: usize,
    part_len: u64,
    file_len: u64,
}

impl std::fmt::Debug for DualSha1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DualSha1")
            .field("backend", &self.backend)
            .field("part_len", &self.part_len)
            .field("file_len", &self.file_len)
            .finish_non_exhaustive()
    }
}

impl DualSha1 {
    /// Both chains at the start of a file, on `backend` ([`Backend::detect`] for the fastest).
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            part: INIT,
            file: INIT,
            pending: [0; 64],
            pending_len: 0,
            part_len: 0,
            file_len: 0,
        }
    }

    /// Whether the part chain can start here: the file chain must be at a
    /// block boundary, so that both chains see the same blocks.
    pub fn at_block_boundary(&self) -> bool {
        self.pending_len == 0
    }

    /// A hasher whose file chain goes on from `state` (a fresh part chain).
    pub fn resume_file(backend: Backend, state: ChainState) -> Self {
        Self {
            file: state.words,
            file_len: state.len,
            ..Self::new(backend)
        }
    }

    /// The file chain's state, if it is at a block boundary (`None` when
    /// bytes of an incomplete block are pending).
    pub fn file_state(&self) -> Option<ChainState> {
        (self.pending_len == 0).then_some(ChainState {
            words: self.file,
            len: self.file_len,
        })
    }

    /// Bytes fed to the file chain so far.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Whether both hashers' file chains are in the same state: the same
    /// bytes hashed so far (up to SHA-1 collisions of the chaining state).
    /// The part chains and backends are not compared.
    pub fn same_file_chain(&self, other: &Self) -> bool {
        self.file == other.file
            && self.file_len == other.file_len
            && self.pending_len == other.pending_len
            && self.pending[..self.pending_len] == other.pending[..other.pending_len]
    }

    fn compress(&mut self, blocks: &[[u8; 64]]) {
        match self.backend {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Backend::ShaNi => shani::compress2(&mut self.part, &mut self.file, blocks),
            #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
            Backend::ShaNi => portable::compress2(&mut self.part, &mut self.file, blocks),
            Backend::Portable => portable::compress2(&mut self.part, &mut self.file, blocks),
        }
    }

    /// Feeds bytes to both chains.
    pub fn update(&mut self, data: &[u8]) {
        self.part_len += data.len() as u64;
        self.absorb(data, true);
    }

    /// Feeds bytes to the file chain only, for bytes whose part digest is
    /// not wanted (stored parts read back to hash a file): one chain costs
    /// less than two. The part chain is left behind; end it with
    /// [`DualSha1::discard_part`] before feeding a part with
    /// [`DualSha1::update`].
    pub fn update_file(&mut self, data: &[u8]) {
        self.absorb(data, false);
    }

    /// Feeds bytes to the file chain, and to the part chain when `both`.
    fn absorb(&mut self, mut data: &[u8], both: bool) {
        self.file_len += data.len() as u64;
        if self.pending_len > 0 {
            let take = (64 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < 64 {
                return;
            }
            let block = [self.pending];
            self.compress_blocks(&block, both);
            self.pending_len = 0;
        }
        let (blocks, rest) = data.as_chunks::<64>();
        if !blocks.is_empty() {
            self.compress_blocks(blocks, both);
        }
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn compress_blocks(&mut self, blocks: &[[u8; 64]], both: bool) {
        if both {
            self.compress(blocks);
        } else {
            sha1_compress::block_api::compress(&mut self.file, blocks);
        }
    }

    /// Ends the current part: its digest. The file chain goes on; the next
    /// part starts a fresh part chain.
    ///
    /// The part must have started on a 64-byte boundary of the file: every
    /// part before it was a multiple of 64 bytes long (checked in debug
    /// builds). A caller that cannot promise it ends such a part with
    /// [`DualSha1::discard_part`] and hashes it separately.
    pub fn finish_part(&mut self) -> Sha1Digest {
        debug_assert!(
            (self.file_len - self.part_len).is_multiple_of(64),
            "a part starting at byte {} is not on a 64-byte boundary: every part but the last must be a multiple of 64 bytes",
            self.file_len - self.part_len
        );
        let d = finish(
            self.backend,
            self.part,
            &self.pending[..self.pending_len],
            self.part_len,
        );
        self.part = INIT;
        self.part_len = 0;
        d
    }

    /// Ends the current part without its digest (it would be wrong for a
    /// part that did not start on a block boundary); the file chain goes on.
    pub fn discard_part(&mut self) {
        self.part = INIT;
        self.part_len = 0;
    }

    /// The whole file's digest.
    pub fn finish_file(&self) -> Sha1Digest {
        finish(
            self.backend,
            self.file,
            &self.pending[..self.pending_len],
            self.file_len,
        )
    }
}

/// Pads and finishes one chain whose unprocessed tail is `tail`.
fn finish(backend: Backend, mut state: [u32; 5], tail: &[u8], len: u64) -> Sha1Digest {
    let mut block = [0u8; 128];
    block[..tail.len()].copy_from_slice(tail);
    block[tail.len()] = 0x80;
    let total = if tail.len() < 56 { 64 } else { 128 };
    block[total - 8..total].copy_from_slice(&(len.wrapping_mul(8)).to_be_bytes());
    let (blocks, _) = block[..total].as_chunks::<64>();
    let mut dummy = INIT;
    match backend {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Backend::ShaNi => shani::compress2(&mut state, &mut dummy, blocks),
        _ => portable::compress2(&mut state, &mut dummy, blocks),
    }
    let mut out = [0u8; 20];
    for (i, w) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    Sha1Digest(out)
}

mod portable {
    //! FIPS 180-4 SHA-1 compression, two chains per block, one schedule.

    pub(super) fn compress2(a: &mut [u32; 5], b: &mut [u32; 5], blocks: &[[u8; 64]]) {
        let mut w = [0u32; 80];
        for block in blocks {
            for (i, word) in block.chunks_exact(4).enumerate() {
                w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            round(a, &w);
            round(b, &w);
        }
    }

    fn round(s: &mut [u32; 5], w: &[u32; 80]) {
        let [mut a, mut b, mut c, mut d, mut e] = *s;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        s[0] = s[0].wrapping_add(a);
        s[1] = s[1].wrapping_add(b);
        s[2] = s[2].wrapping_add(c);
        s[3] = s[3].wrapping_add(d);
        s[4] = s[4].wrapping_add(e);
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod shani {
    //! SHA-NI: the rounds of the `sha1` crate's x86 backend (RustCrypto),
    //! with a second chain interleaved on the same message schedule.

    #[cfg(target_arch = "x86")]
    use std::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    /// Safe entry point: only called when [`super::Backend::detect`] found the
    /// instructions; checked again here so that a wrong caller falls back
    /// instead of executing an illegal instruction.
    pub(super) fn compress2(a: &mut [u32; 5], b: &mut [u32; 5], blocks: &[[u8; 64]]) {
        if std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse2")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
        {
            // SAFETY: the CPU supports every target feature the function enables.
            unsafe { compress2_shani(a, b, blocks) }
        } else {
            super::portable::compress2(a, b, blocks);
        }
    }

    macro_rules! rounds4 {
        ($h0:ident, $h1:ident, $wk:expr, $i:expr) => {
            _mm_sha1rnds4_epu32($h0, _mm_sha1nexte_epu32($h1, $wk), $i)
        };
    }

    macro_rules! schedule {
        ($v0:expr, $v1:expr, $v2:expr, $v3:expr) => {
            _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32($v0, $v1), $v2), $v3)
        };
    }

    /// Four rounds on both chains with the same (already scheduled) words.
    macro_rules! both {
        ($a0:ident, $a1:ident, $b0:ident, $b1:ident, $w:expr, $i:expr) => {
            $a1 = rounds4!($a0, $a1, $w, $i);
            $b1 = rounds4!($b0, $b1, $w, $i);
        };
    }

    // Long on purpose: the 80 rounds of both chains, unrolled in four
    // groups of twenty as Intel's reference code has them; a call out of
    // this `target_feature` function would cost the inlining the rounds
    // need, and the groups differ only in their round constant.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress2_shani(sa: &mut [u32; 5], sb: &mut [u32; 5], blocks: &[[u8; 64]]) {
        #[allow(non_snake_case)]
        let MASK: __m128i = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F);
        let load = |s: &[u32; 5]| {
            (
                _mm_set_epi32(s[0] as i32, s[1] as i32, s[2] as i32, s[3] as i32),
                _mm_set_epi32(s[4] as i32, 0, 0, 0),
            )
        };
        let (mut abcd_a, mut e_a) = load(sa);
        let (mut abcd_b, mut e_b) = load(sb);
        for block in blocks {
            let p = block.as_ptr().cast::<__m128i>();
            // SAFETY: four unaligned 16-byte loads inside a 64-byte array.
            let (l0, l1, l2, l3) = unsafe {
                (
                    _mm_loadu_si128(p),
                    _mm_loadu_si128(p.add(1)),
                    _mm_loadu_si128(p.add(2)),
                    _mm_loadu_si128(p.add(3)),
                )
            };
            let mut w0 = _mm_shuffle_epi8(l0, MASK);
            let mut w1 = _mm_shuffle_epi8(l1, MASK);
            let mut w2 = _mm_shuffle_epi8(l2, MASK);
            let mut w3 = _mm_shuffle_epi8(l3, MASK);
            let mut w4;

            let mut a0 = abcd_a;
            let mut a1 = _mm_add_epi32(e_a, w0);
            let mut b0 = abcd_b;
            let mut b1 = _mm_add_epi32(e_b, w0);

            // Rounds 0..20
            a1 = _mm_sha1rnds4_epu32(a0, a1, 0);
            b1 = _mm_sha1rnds4_epu32(b0, b1, 0);
            both!(a1, a0, b1, b0, w1, 0);
            both!(a0, a1, b0, b1, w2, 0);
            both!(a1, a0, b1, b0, w3, 0);
            w4 = schedule!(w0, w1, w2, w3);
            both!(a0, a1, b0, b1, w4, 0);

            // Rounds 20..40
            w0 = schedule!(w1, w2, w3, w4);
            both!(a1, a0, b1, b0, w0, 1);
            w1 = schedule!(w2, w3, w4, w0);
            both!(a0, a1, b0, b1, w1, 1);
            w2 = schedule!(w3, w4, w0, w1);
            both!(a1, a0, b1, b0, w2, 1);
            w3 = schedule!(w4, w0, w1, w2);
            both!(a0, a1, b0, b1, w3, 1);
            w4 = schedule!(w0, w1, w2, w3);
            both!(a1, a0, b1, b0, w4, 1);

            // Rounds 40..60
            w0 = schedule!(w1, w2, w3, w4);
            both!(a0, a1, b0, b1, w0, 2);
            w1 = schedule!(w2, w3, w4, w0);
            both!(a1, a0, b1, b0, w1, 2);
            w2 = schedule!(w3, w4, w0, w1);
            both!(a0, a1, b0, b1, w2, 2);
            w3 = schedule!(w4, w0, w1, w2);
            both!(a1, a0, b1, b0, w3, 2);
            w4 = schedule!(w0, w1, w2, w3);
            both!(a0, a1, b0, b1, w4, 2);

            // Rounds 60..80
            w0 = schedule!(w1, w2, w3, w4);
            both!(a1, a0, b1, b0, w0, 3);
            w1 = schedule!(w2, w3, w4, w0);
            both!(a0, a1, b0, b1, w1, 3);
            w2 = schedule!(w3, w4, w0, w1);
            both!(a1, a0, b1, b0, w2, 3);
            w3 = schedule!(w4, w0, w1, w2);
            both!(a0, a1, b0, b1, w3, 3);
            w4 = schedule!(w0, w1, w2, w3);
            both!(a1, a0, b1, b0, w4, 3);

            abcd_a = _mm_add_epi32(abcd_a, a0);
            e_a = _mm_sha1nexte_epu32(a1, e_a);
            abcd_b = _mm_add_epi32(abcd_b, b0);
            e_b = _mm_sha1nexte_epu32(b1, e_b);
        }
        let store = |s: &mut [u32; 5], abcd: __m128i, e: __m128i| {
            s[0] = _mm_extract_epi32(abcd, 3) as u32;
            s[1] = _mm_extract_epi32(abcd, 2) as u32;
            s[2] = _mm_extract_epi32(abcd, 1) as u32;
            s[3] = _mm_extract_epi32(abcd, 0) as u32;
            s[4] = _mm_extract_epi32(e, 3) as u32;
        };
        store(sa, abcd_a, e_a);
        store(sb, abcd_b, e_b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha1::{Digest as _, Sha1};

    fn reference(data: &[u8]) -> Sha1Digest {
        Sha1Digest(Sha1::digest(data).into())
    }

    fn backends() -> Vec<Backend> {
        let mut v = vec![Backend::Portable];
        if Backend::detect() == Backend::ShaNi {
            v.push(Backend::ShaNi);
        }
        v
    }

    /// Splits `data` into parts of `part_size` (a multiple of 64), feeds each
    /// part in pieces of `piece` bytes, and checks every part digest and the
    /// file digest against the `sha1` crate.
    fn check(
        data: &[u8],
        part_size: usize,
        piece: usize,
        backend: Backend,
    ) -> Result<(), TestCaseError> {
        let mut h = DualSha1::new(backend);
        for part in data.chunks(part_size.max(1)) {
            prop_assert!(h.at_block_boundary());
            for p in part.chunks(piece.max(1)) {
                h.update(p);
            }
            prop_assert_eq!(
                h.finish_part(),
                reference(part),
                "part of {} bytes",
                part.len()
            );
        }
        prop_assert_eq!(h.finish_file(), reference(data));
        Ok(())
    }

    #[test]
    fn known_answers_and_edges() {
        for b in backends() {
            let mut h = DualSha1::new(b);
            h.update(b"abc");
            assert_eq!(
                h.finish_part().to_hex(),
                "a9993e364706816aba3e25717850c26c9cd0d89d"
            );
            assert_eq!(
                h.finish_file().to_hex(),
                "a9993e364706816aba3e25717850c26c9cd0d89d"
            );
            let empty = DualSha1::new(b);
            assert_eq!(
                empty.finish_file().to_hex(),
                "da39a3ee5e6b4b0d3255bfef95601890afd80709"
            );
            for len in [55usize, 56, 63, 64, 65, 119, 120, 127, 128, 129] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                check(&data, 64, 1, b).unwrap();
                check(&data, 128, 5, b).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random data, every part-size alignment (multiples of 64), random
        /// piece sizes, on both compressors.
        #[test]
        fn matches_the_sha1_crate(data in proptest::collection::vec(any::<u8>(), 0..5000),
                                  blocks_per_part in 1usize..12, piece in 1usize..700) {
            for b in backends() {
                check(&data, blocks_per_part * 64, piece, b)?;
            }
        }

        /// A file chain saved at any block boundary, written out and read
        /// back, resumes to the digest of the whole data, on both
        /// compressors; a length that is not whole blocks is refused.
        #[test]
        fn a_saved_chain_resumes_to_the_same_digest(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            at in 0usize..3000, odd in 1u64..64) {
            let at = (at.min(data.len()) / 64) * 64;
            for b in backends() {
                let mut h = DualSha1::new(b);
                h.update(&data[..at]);
                let saved = h.file_state().expect("a whole number of blocks");
                prop_assert_eq!(saved.len(), at as u64);
                let restored = ChainState::from_bytes(&saved.to_bytes()).expect("28 bytes");
                prop_assert_eq!(restored, saved);
                let mut r = DualSha1::resume_file(b, restored);
                r.update(&data[at..]);
                prop_assert_eq!(r.finish_file(), reference(&data));
                let mut bad = saved.to_bytes();
                bad[27] = bad[27].wrapping_add(odd as u8);
                prop_assert!(ChainState::from_bytes(&bad).is_none());
            }
            // The file chain alone, from a state and in random pieces.
            for b in backends() {
                let mut h = DualSha1::new(b);
                h.update(&data[..at]);
                h.discard_part();
                for piece in data[at..].chunks(odd as usize * 7) {
                    h.update_file(piece);
                }
                prop_assert_eq!(h.finish_file(), reference(&data));
            }
            let mut h = DualSha1::new(Backend::Portable);
            h.update(&data[..data.len().min(1)]);
            prop_assert_eq!(h.file_state().is_some(), data.is_empty());
        }
    }
}
