//! Wire types and rules of Box's Chunked Upload API, shared by clients and servers.
//!
//! This crate **is** pure data and pure functions: the JSON bodies of every
//! chunked upload endpoint ([`UploadSession`], [`UploadPart`], [`UploadParts`],
//! [`CommitRequest`], [`Files`], [`BoxError`]), part math ([`PartPlan`]),
//! header codecs ([`ContentRange`], [`DigestHeader`], [`RetryAfter`]), the
//! SHA-1 value type ([`Sha1Digest`]), Box's validation rules ([`rules`]) and
//! the endpoint table ([`endpoints`]), and sign-in: OAuth grants and token
//! files ([`oauth`]), Box app config files and RS256 assertions ([`jwt`]).
//!
//! It **is not** a client or a server: it does no IO, has no async code and
//! never reads a clock. Time-dependent helpers take the time as an argument
//! (for example the response's `Date` header in [`RetryAfter::delay`]).
//!
//! Decoding is tolerant where Box is known to be loose (64-bit integers as
//! floats in exponent form or as numeric strings, unknown fields, missing
//! optional fields, `SHA=` in upper case); encoding is exactly what the spec
//! describes. Decode with [`decode_json`] to get a [`DecodeError`] that names
//! the failing field.
//!
//! ```
//! use box_chunked_proto::{decode_json, ContentRange, DigestHeader, PartPlan, UploadSession};
//!
//! let session: UploadSession = decode_json(br#"{
//!     "id": "72E275A0070A1CAA0F37DF65B33A2ED1", "type": "upload_session",
//!     "part_size": 8388608, "total_parts": 3, "num_parts_processed": 0,
//!     "session_expires_at": "2021-01-26T00:53:00Z",
//!     "session_endpoints": {"upload_part": "https://upload.box.com/api/2.0/files/upload_sessions/72E275A0070A1CAA0F37DF65B33A2ED1"}
//! }"#).unwrap();
//!
//! let file_size = 20_000_000;
//! let plan = PartPlan::new(file_size, session.part_size).unwrap();
//! assert_eq!(plan.total_parts(), session.total_parts);
//! let last = plan.part(2).unwrap();
//! let range = last.content_range(file_size).unwrap();
//! assert_eq!(range.to_string(), "bytes 16777216-19999999/20000000");
//! # let _ = DigestHeader::parse("sha=X94cy2A+ZWbSDagRyci8zLBE1K4=").unwrap();
//! # let _ = ContentRange::parse("bytes 0-0/1").unwrap();
//! ```

mod commit;
pub mod endpoints;
mod error;
mod file;
mod folder;
mod headers;
mod items;
mod json;
pub mod jwt;
pub mod listing;
pub mod oauth;
mod part;
pub mod paths;
pub mod plan;
pub mod rules;
mod session;
mod sha1;
mod timestamp;
pub mod urls;

pub use commit::{CommitAttributes, CommitFields, CommitPartFields, CommitRequest};
pub use error::{BoxError, ConflictItem, ErrorCode, HELP_URL};
pub use file::{File, FileVersion, Files, FolderMini, PathCollection, UserMini};
pub use folder::{CreateFolderFields, ParentFields};
pub use headers::{
    format_http_date, names as header_names, parse_http_date, ContentRange, ContentRangeError,
    DigestEntry, DigestError, DigestHeader, RetryAfter, RetryAfterError,
};
pub use items::{
    PreflightFields, SharedLinkFields, SharedLinkPermissionFields, UpdateFileFields,
    UpdateFolderFields, UploadAttributes, UploadUrl, BOX_FILE_UPDATE_FIELDS,
    BOX_FOLDER_UPDATE_FIELDS,
};
pub use json::{decode_json, encode_json, DecodeError};
pub use part::{PageOrder, PartError, PartPlan, PartRange, UploadPart, UploadParts, UploadedPart};
pub use plan::{PlanHit, PlanRequest, PlanResponse, PlannedPart, Sha512Digest};
pub use session::{
    CreateSessionFields, CreateUploadSession, CreateVersionUploadSession, SessionEndpoints,
    UploadSession,
};
pub use sha1::{Sha1Digest, Sha1ParseError};
pub use timestamp::{Timestamp, TimestampError};
