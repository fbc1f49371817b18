//! Downloads: what a download's answer gives (the content, or Box's `302`
//! to a short-lived URL on its download host), and the marker of a request
//! that must carry no credential (that URL is its own).

use crate::error::UploadError;
use crate::io::RequestKind;
use crate::ops::{Reply, Verdict};
use bytes::Bytes;

/// A request that must carry no credential (a request extension): the
/// short-lived URL of Box's download host, which is its own credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anonymous;

/// What a download's answer gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The content, as it came.
    Content(Bytes),
    /// Where to fetch it: Box answers `302` with a short-lived URL on its
    /// download host, which needs no token (and must not get one).
    Elsewhere(String),
}

/// The answer to a download of `from`: the body, or a redirect's absolute URL.
pub fn download_reply(reply: &Reply, from: &str) -> Verdict<Fetched> {
    let kind = RequestKind::GetFile;
    if matches!(reply.status, 301 | 302 | 303 | 307 | 308) {
        return match reply.location.as_deref().and_then(|l| resolve(from, l)) {
            Some(url) => Verdict::Success(Fetched::Elsewhere(url)),
            None => Verdict::Fail(UploadError::Protocol {
                kind,
                detail: format!("a {} answer without a usable Location", reply.status),
            }),
        };
    }
    match reply.class(kind) {
        None => Verdict::Success(Fetched::Content(reply.body.clone())),
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// The `Range` header of bytes `start..=end`.
///
/// ```
/// assert_eq!(box_chunked_core::fetch::range_header(0, 99), "bytes=0-99");
/// ```
pub fn range_header(start: u64, end: u64) -> String {
    format!("bytes={start}-{end}")
}

/// The answer to a ranged download of `from`: `206` with the bytes asked
/// for, or a redirect's URL. A `200` is the whole file: taken only when the
/// range asked for was the whole file (`whole`), else the server ignored
/// the range and its bytes would land at the wrong offset.
pub fn range_reply(reply: &Reply, from: &str, whole: bool) -> Verdict<Fetched> {
    if reply.status == 200 && !whole {
        return Verdict::Fail(UploadError::Protocol {
            kind: RequestKind::GetFile,
            detail: "the server answered a ranged download with the whole file (200, not 206)"
                .into(),
        });
    }
    download_reply(reply, from)
}

/// `location` as an absolute `http(s)` URL: as it is, or a path on the
/// origin of `from`.
fn resolve(from: &str, location: &str) -> Option<String> {
    if location.starts_with("https://") || location.starts_with("http://") {
        return Some(location.to_owned());
    }
    let path = location.strip_prefix('/')?;
    let after = from.find("://")? + 3;
    let origin_end = from[after..].find('/').map_or(from.len(), |i| after + i);
    Some(format!("{}/{path}", &from[..origin_end]))
}
