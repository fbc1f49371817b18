//! JSON fixtures written from Box's documented examples: each decodes, and
//! re-encodes to the same JSON for every field we model.

use box_chunked_proto::{
    decode_json, encode_json, BoxError, CommitAttributes, CommitRequest, ErrorCode, File, Files,
    Sha1Digest, Timestamp, UploadParts, UploadSession, UploadedPart,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decodes, re-encodes, and checks that the JSON is unchanged and decodes
/// to the same value again.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(name: &str) -> T {
    let raw = fixture(name);
    let value: T = decode_json(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    let encoded = encode_json(&value);
    let original: Value = serde_json::from_slice(&raw).unwrap();
    let reencoded: Value = serde_json::from_slice(&encoded).unwrap();
    assert_eq!(reencoded, original, "{name}: re-encoding changed the JSON");
    let again: T = decode_json(&encoded).unwrap();
    assert_eq!(again, value, "{name}: second decode differs");
    value
}

#[test]
fn upload_session() {
    let s: UploadSession = round_trip("upload_session.json");
    assert_eq!(s.id, "72E275A0070A1CAA0F37DF65B33A2ED1");
    assert_eq!(
        (s.part_size, s.total_parts, s.num_parts_processed),
        (8_388_608, 3, Some(0))
    );
    assert!(s
        .session_endpoints
        .upload_part
        .as_deref()
        .unwrap()
        .ends_with(&s.id));
    assert_eq!(
        s.session_expires_at.unwrap().to_system_time().unwrap(),
        Timestamp::from_text("2021-01-25T16:53:00-08:00")
            .to_system_time()
            .unwrap()
    );
}

#[test]
fn uploaded_part_and_parts_page() {
    let p: UploadedPart = round_trip("uploaded_part.json");
    assert_eq!(
        p.part.sha1.unwrap().to_hex(),
        "5fde1ccb603e6566d20da811c9c8bcccb044d4ae"
    );
    let page: UploadParts = round_trip("parts_page.json");
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.next_offset(), None);
}

#[test]
fn commit_request_is_sorted_and_encodes_as_documented() {
    let c: CommitRequest = round_trip("commit_request.json");
    let mut reversed = c.parts.clone();
    reversed.reverse();
    let rebuilt = CommitRequest::new(reversed, c.attributes.clone());
    assert_eq!(rebuilt, c);
    // Empty attributes are not sent at all.
    let bare = CommitRequest::new(c.parts.clone(), Some(CommitAttributes::default()));
    let json: Value = serde_json::from_slice(&encode_json(&bare)).unwrap();
    assert!(json.get("attributes").is_none());
}

#[test]
fn commit_201_file_keeps_every_field() {
    let files: Files = round_trip("commit_201.json");
    let file: File = files.into_first().unwrap();
    assert_eq!(file.id, "1111111");
    assert_eq!(file.size, Some(10));
    assert_eq!(file.parent.as_ref().unwrap().id, "0");
    assert_eq!(file.file_version.unwrap().id, "111111");
    // `shared_link` is not modelled, but it survives in `extra`.
    assert_eq!(file.extra.get("shared_link"), Some(&Value::Null));
}

#[test]
fn errors_expose_the_codes_that_matter() {
    let overlap: BoxError = round_trip("error_416_overlap.json");
    assert_eq!(overlap.code(), ErrorCode::RangeOverlapsExistingPart);
    let stored = overlap.conflicting_part().unwrap();
    assert_eq!((stored.offset, stored.size), (6_106_906_624, 8_388_608));
    let sha: Sha1Digest = "134b65991ed521fcfe4724b7d814ab8ded5185dc".parse().unwrap();
    assert!(stored.matches(6_106_906_624, 8_388_608, &sha));

    let conflict: BoxError = round_trip("error_409_conflict.json");
    assert_eq!(conflict.code(), ErrorCode::ItemNameInUse);
    let items = conflict.conflicts();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id, "12345");

    let folders: BoxError = round_trip("error_409_folder_conflicts.json");
    assert_eq!(folders.conflicts()[0].id, "555");

    let rate: BoxError = round_trip("error_429.json");
    assert_eq!(rate.code(), ErrorCode::RateLimitExceeded);
    assert_eq!(rate.status, Some(429));
    assert!(rate.to_string().contains("rate_limit_exceeded"));

    let digest: BoxError = round_trip("error_digest_mismatch.json");
    assert_eq!(digest.code(), ErrorCode::DigestMismatch);

    let unknown: BoxError =
        decode_json(br#"{"type":"error","status":400,"code":"brand_new"}"#).unwrap();
    assert_eq!(unknown.code(), ErrorCode::Other("brand_new".into()));
    assert_eq!(unknown.code().as_str(), "brand_new");
}

#[test]
fn tolerant_decoding_strict_encoding() {
    let s: UploadSession = decode_json(&fixture("loose_numbers.json")).unwrap();
    assert_eq!(
        (s.part_size, s.total_parts, s.num_parts_processed),
        (8_388_608, 2, Some(0))
    );
    let json: Value = serde_json::from_slice(&encode_json(&s)).unwrap();
    assert_eq!(json["part_size"], Value::from(8_388_608u64));
    assert_eq!(json["total_parts"], Value::from(2u64));
    assert!(json.get("extra_field").is_none());

    let f: File = decode_json(br#"{"type":"file","id":123,"size":1.0034576983313e+14}"#).unwrap();
    assert_eq!(f.id, "123");
    assert_eq!(f.size, Some(100_345_769_833_130));
}

#[test]
fn malformed_json_names_the_field() {
    let cases: &[(&[u8], &str)] = &[
        (br#"{"id":"X","part_size":"big","total_parts":1}"#, "part_size"),
        (br#"{"part_size":1,"total_parts":1}"#, "."),
        (
            br#"{"total_count":2,"entries":[{"part_id":"A","offset":0,"size":1},{"part_id":"B","offset":-5,"size":1}]}"#,
            "entries[1].offset",
        ),
        (br#"{"part":{"part_id":"A","offset":0,"size":1,"sha1":"xyz"}}"#, "part.sha1"),
        (b"{not json", "."),
    ];
    let decode_err = |body: &[u8]| -> String {
        if body.starts_with(b"{\"part\"") {
            decode_json::<UploadedPart>(body).unwrap_err().path
        } else if body.starts_with(b"{\"total_count\"") {
            decode_json::<UploadParts>(body).unwrap_err().path
        } else {
            decode_json::<UploadSession>(body).unwrap_err().path
        }
    };
    for (body, path) in cases {
        assert_eq!(decode_err(body), *path, "{}", String::from_utf8_lossy(body));
    }
    let missing = decode_json::<UploadSession>(br#"{"part_size":1,"total_parts":1}"#).unwrap_err();
    assert!(missing.message.contains("id"), "{missing}");
}

#[test]
fn digest_of_the_documented_example() {
    use sha1::{Digest, Sha1};
    // `openssl sha1 -binary part | base64` is what the guide shows; our value type agrees.
    let sha = Sha1Digest(Sha1::digest(b"abcdefgh").into());
    assert_eq!(Sha1Digest::from_base64(&sha.to_base64()).unwrap(), sha);
    assert_eq!(sha.to_hex(), "425af12a0743502b322e93a015bcf868e324d56a");
}
