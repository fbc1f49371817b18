//! Folders: one created by name, or reused when a folder of that name is
//! there already, so that a tree is made once whatever is repeated.

use crate::conflicts::conflict_in;
use crate::error::UploadError;
use crate::io::RequestKind;
use crate::ops::{built, json_post, name_conflict, Reply, Verdict};
use crate::retry::FailureClass;
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::ErrorCode;
use bytes::Bytes;
use serde_json::json;

/// `POST /folders` under the API root: a folder named `name` in `parent`.
pub fn create_folder(
    api_root: &str,
    parent: &str,
    name: &str,
) -> Result<http::Request<Bytes>, String> {
    let url = Endpoint::CreateFolder.url(api_root);
    let body = json!({"name": name, "parent": {"id": parent}});
    built(json_post(url), Bytes::from(body.to_string()))
}

/// The answer to a folder's creation: its id, or (a folder of that name
/// being there already) the existing folder's id, so a tree is created or
/// reused by name. A *file* holding the name is a conflict.
pub fn create_folder_reply(reply: &Reply) -> Verdict<String> {
    let kind = RequestKind::CreateFolder;
    match reply.class(kind) {
        None => match reply.decode::<serde_json::Value>(kind) {
            Ok(v) => match v["id"].as_str() {
                Some(id) => Verdict::Success(id.to_owned()),
                None => Verdict::Fail(UploadError::Protocol {
                    kind,
                    detail: "the folder has no id".into(),
                }),
            },
            Err(e) => Verdict::Fail(e),
        },
        Some(FailureClass::Fatal) if reply.code() == ErrorCode::ItemNameInUse => {
            let failure = reply.failure(kind);
            match conflict_in(&failure) {
                Some(c) if c.kind == "folder" => Verdict::Success(c.id),
                _ => Verdict::Fail(name_conflict(failure)),
            }
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}
