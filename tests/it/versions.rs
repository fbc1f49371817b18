//! A file's versions as Box manages them: an earlier version made current
//! again (`POST /files/{id}/versions/current`, a new version with its
//! content) and an earlier one deleted (`DELETE
//! /files/{id}/versions/{version}`); the current one cannot be deleted, and
//! content two versions share stays while either names it.

use box_chunked_tests::api::{id_of, User};
use box_chunked_tests::*;
use serde_json::json;

#[tokio::test]
async fn promote_and_delete_versions() {
    let ts = TestServer::start(|_| {}).await;
    let (alice, bob) = (User::new(&ts.url, ALICE), User::new(&ts.url, BOB));
    let (v1, v2) = (pseudo_random(1500, 1), pseudo_random(1700, 2));
    let up = alice.one_shot("0", "v.bin", &v1).await;
    let id = id_of(&up.json()["entries"][0]);
    let first_version = up.json()["entries"][0]["file_version"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = alice.one_shot_version(&id, &v2).await;
    assert_eq!(second.status, 201, "{:?}", second.json());
    let earlier = |alice: &User| {
        let (alice, id) = (alice.clone(), id.clone());
        async move {
            let r = alice
                .api("GET", &format!("/files/{id}/versions"), None)
                .await;
            r.json()["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(earlier(&alice).await, std::slice::from_ref(&first_version));
    // The first version made current again: a new version with its content.
    let promoted = alice
        .api(
            "POST",
            &format!("/files/{id}/versions/current"),
            Some(json!({"id": first_version, "type": "file_version"})),
        )
        .await;
    assert_eq!(promoted.status, 201, "{:?}", promoted.json());
    let current = promoted.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(current, first_version);
    assert_eq!(promoted.json()["sha1"], sha1(&v1).to_hex());
    assert_eq!(sha1(&alice.download(&id).await.body), sha1(&v1));
    assert_eq!(earlier(&alice).await.len(), 2);
    // The current version cannot be deleted; another user's file is not there.
    let r = alice
        .api("DELETE", &format!("/files/{id}/versions/{current}"), None)
        .await;
    raw::assert_box_error(&r, 400, "bad_request");
    let r = bob
        .api(
            "DELETE",
            &format!("/files/{id}/versions/{first_version}"),
            None,
        )
        .await;
    raw::assert_box_error(&r, 404, "not_found");
    // The first version deleted: its content stays, the current one shares it.
    let r = alice
        .api(
            "DELETE",
            &format!("/files/{id}/versions/{first_version}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(sha1(&alice.download(&id).await.body), sha1(&v1));
    assert_eq!(earlier(&alice).await.len(), 1);
    let again = alice
        .api(
            "DELETE",
            &format!("/files/{id}/versions/{first_version}"),
            None,
        )
        .await;
    raw::assert_box_error(&again, 404, "not_found");
}
