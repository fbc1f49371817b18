//! `POST /files/{id}/copy` as Box answers it (rclone's server-side copy,
//! the SDKs' `copyFile`): a new file with a new id in the folder named,
//! sharing the source's content; `409` on a taken name; the content
//! outlives the source; another user's file is not there; the quota counts
//! the copy.

use box_chunked_tests::api::{id_of, User};
use box_chunked_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_copy_is_a_new_file_with_the_same_content() {
    let ts = TestServer::start(|c| c.quota = Some(10_000)).await;
    let (alice, bob) = (User::new(&ts.url, ALICE), User::new(&ts.url, BOB));
    let data = pseudo_random(3000, 21);
    let src = alice.chunked_upload("0", "orig.bin", &data).await;
    assert_eq!(src.status, 201, "{:?}", src.json());
    let src_id = id_of(&src.json()["entries"][0]);
    let dest = alice.folder("0", "dest").await;
    let copy = alice
        .api(
            "POST",
            &format!("/files/{src_id}/copy"),
            Some(json!({"parent": {"id": dest}, "name": "copy.bin"})),
        )
        .await;
    assert_eq!(copy.status, 201, "{:?}", copy.json());
    let c = copy.json();
    let copy_id = id_of(&c);
    assert_ne!(copy_id, src_id);
    assert_eq!(c["name"], "copy.bin");
    assert_eq!(c["parent"]["id"], dest.as_str());
    assert_eq!(c["sha1"], sha1(&data).to_hex());
    assert_eq!(c["size"], 3000);
    assert_eq!(alice.space_used().await, 6000, "the copy counts");
    // Into the same folder without a new name: the name is taken.
    let taken = alice
        .api(
            "POST",
            &format!("/files/{src_id}/copy"),
            Some(json!({"parent": {"id": "0"}})),
        )
        .await;
    raw::assert_box_error(&taken, 409, "item_name_in_use");
    let conflict = &taken.json()["context_info"]["conflicts"];
    assert_eq!(conflict["name"], "orig.bin", "{conflict}");
    // Over the quota: refused; another user's file is not there; a parent is needed.
    let big = alice
        .api(
            "POST",
            &format!("/files/{src_id}/copy"),
            Some(json!({"parent": {"id": "0"}, "name": "third.bin"})),
        )
        .await;
    assert_eq!(big.status, 201, "{:?}", big.json());
    let over = alice
        .api(
            "POST",
            &format!("/files/{src_id}/copy"),
            Some(json!({"parent": {"id": "0"}, "name": "fourth.bin"})),
        )
        .await;
    raw::assert_box_error(&over, 403, "storage_limit_exceeded");
    let bobs = bob
        .api(
            "POST",
            &format!("/files/{src_id}/copy"),
            Some(json!({"parent": {"id": "0"}, "name": "x.bin"})),
        )
        .await;
    raw::assert_box_error(&bobs, 404, "not_found");
    let no_parent = alice
        .api(
            "POST",
            &format!("/files/{src_id}/copy"),
            Some(json!({"name": "y.bin"})),
        )
        .await;
    raw::assert_box_error(&no_parent, 400, "bad_request");
    // The source deleted: the copy still has its content.
    let gone = alice.api("DELETE", &format!("/files/{src_id}"), None).await;
    assert_eq!(gone.status, 204);
    let got = alice.download(&copy_id).await;
    assert_eq!(got.status, 200);
    assert_eq!(sha1(&got.body), sha1(&data));
}
