//! Where a new version's whole-file SHA-1 need not be computed: its first
//! parts hold the current version's bytes (stored in the session with the
//! SHA-512 of the current version's part at the same offset and size, as a
//! plan's hits are) and that version's commit kept the chain after each of
//! them, so the session's hashed prefix takes the kept state instead of
//! hashing those parts ([`super::prefix`] asks, for every run of parts it
//! is about to hash, while all it took in so far came from here).

use crate::store::{PartRow, Store, StoreError};
use box_chunked_proto::Sha512Digest;
use box_chunked_sha1::ChainState;
use std::collections::HashMap;

/// The current version of a file a session writes a new version of, as far
/// as its kept chain goes.
pub(crate) struct Base {
    kept: Vec<ChainState>,
    /// Its parts with a kept SHA-512, by offset and size: index and digest.
    parts: HashMap<(u64, u64), (usize, Sha512Digest)>,
}

impl Base {
    /// The version stored as session `sid` with `parts`, if its commit kept
    /// a chain.
    pub(crate) fn load(
        store: &Store,
        sid: &str,
        parts: &HashMap<(u64, u64), PartRow>,
    ) -> Result<Option<Self>, StoreError> {
        let kept = store.chain_states(sid)?;
        if kept.is_empty() {
            return Ok(None);
        }
        let digests = store.kept_sha512s(sid)?;
        let parts = parts
            .iter()
            .filter_map(|(at, p)| {
                let index = usize::try_from(p.index).ok()?;
                Some((*at, (index, *digests.get(&p.part_id)?)))
            })
            .collect();
        Ok(Some(Self { kept, parts }))
    }

    /// The kept chain after each part of `run` (session `sid`'s stored
    /// parts from the prefix on, in order) that holds this version's bytes,
    /// up to the first that does not.
    pub(crate) fn seeds(
        &self,
        store: &Store,
        sid: &str,
        run: &[PartRow],
    ) -> Result<Vec<ChainState>, StoreError> {
        let mut out = Vec::new();
        for r in run {
            let Some((j, digest)) = self.parts.get(&(r.offset, r.size)) else {
                break;
            };
            if store.kept_sha512(sid, &r.part_id)?.as_ref() != Some(digest) {
                break;
            }
            let Some(state) = self.kept.get(*j) else {
                break;
            };
            out.push(*state);
        }
        Ok(out)
    }
}
