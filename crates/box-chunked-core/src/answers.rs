//! What an answer that names a file must agree with: the size and SHA-1
//! that were sent (a commit, a one-shot upload), and the existing file a
//! `409` names. Used by [`crate::ops`] and [`crate::one_shot`].

use crate::error::{ApiFailure, UploadError};
use crate::io::RequestKind;
use box_chunked_proto::{File, Sha1Digest};

/// A file answered for `size` bytes with `sha1` (when known) that says
/// otherwise: the server's own size and SHA-1 must equal what was sent.
/// An answer that leaves one out is taken at its word for that one.
pub fn stored_mismatch(
    kind: RequestKind,
    file: &File,
    sha1: Option<&Sha1Digest>,
    size: u64,
) -> Option<UploadError> {
    let sha_differs = matches!((sha1, &file.sha1), (Some(a), Some(b)) if a != b);
    (sha_differs || file.size.is_some_and(|s| s != size)).then(|| UploadError::StoredMismatch {
        kind,
        file_id: file.id.clone(),
        stored_size: file.size,
        stored_sha1: file.sha1,
        sent_size: size,
        sent_sha1: sha1.copied(),
    })
}

pub(crate) fn name_conflict(api: ApiFailure) -> UploadError {
    let existing_id = api
        .error
        .as_deref()
        .and_then(|e| e.conflicts().into_iter().next())
        .map(|c| c.id);
    UploadError::NameConflict {
        existing_id,
        failure: api,
    }
}
