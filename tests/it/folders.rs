//! Folders over raw HTTP, as rclone and Box's SDKs call them: the listing
//! (offset and marker paging, `fields`, `limit`), creation, and name
//! conflicts.

use crate::items::one_shot;
use box_chunked_tests::raw::assert_box_error;
use box_chunked_tests::*;
use serde_json::json;

#[tokio::test]
async fn listing_pages_by_offset_and_by_marker_with_fields() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let api = format!("{}/2.0", ts.url);
    for name in ["b-folder", "a-folder"] {
        let r = http
            .post(&format!("{api}/folders"))
            .bearer(ALICE)
            .body(json!({"name": name, "parent": {"id": "0"}}).to_string())
            .send()
            .await;
        assert_eq!(r.status, 201);
    }
    for i in 0..5 {
        let r = one_shot(
            &http,
            &format!("{}/files/content", ts.upload_root()),
            json!({"name": format!("file-{i}"), "parent": {"id": "0"}}),
            &pseudo_random(100 + i, i as u64),
            None,
        )
        .await;
        assert_eq!(r.status, 201);
    }
    // Offset paging: folders first, then files, each by name.
    let r = http
        .get(&format!("{api}/folders/0/items?limit=3&offset=1"))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(
        (
            j["total_count"].as_u64(),
            j["offset"].as_u64(),
            j["limit"].as_u64()
        ),
        (Some(7), Some(1), Some(3))
    );
    let names: Vec<&str> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b-folder", "file-0", "file-1"]);
    // Without fields, entries are mini: no size.
    assert!(j["entries"][1].get("size").is_none() && j["entries"][1]["sha1"].is_string());
    // Marker paging walks everything with rclone's query.
    let mut marker = String::new();
    let mut seen = Vec::new();
    loop {
        let q = format!(
            "fields=type,id,name,size,sha1,modified_at&limit=2&usemarker=True&marker={marker}"
        );
        let r = http
            .get(&format!("{api}/folders/0/items?{q}"))
            .bearer(ALICE)
            .send()
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        let j = r.json();
        assert!(
            j.get("total_count").is_none(),
            "marker pages carry no total_count"
        );
        for e in j["entries"].as_array().unwrap() {
            assert!(e.get("modified_at").is_some() && e.get("etag").is_some());
            assert!(
                e.get("owned_by").is_none(),
                "only the fields asked for, with type, id and etag"
            );
            seen.push(e["name"].as_str().unwrap().to_owned());
        }
        match j["next_marker"].as_str() {
            Some(m) => marker = m.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    for bad in [
        "limit=1001",
        "limit=0",
        "offset=10001",
        "usemarker=true&marker=garbage",
    ] {
        let r = http
            .get(&format!("{api}/folders/0/items?{bad}"))
            .bearer(ALICE)
            .send()
            .await;
        assert_box_error(&r, 400, "bad_request");
    }
    let r = http
        .get(&format!("{api}/folders/99/items"))
        .bearer(ALICE)
        .send()
        .await;
    assert_box_error(&r, 404, "not_found");
    // Another user sees none of it.
    let r = http
        .get(&format!("{api}/folders/0/items"))
        .bearer(BOB)
        .send()
        .await;
    assert_eq!(r.json()["total_count"], 0);
    // The folder embeds its first items.
    let r = http
        .get(&format!("{api}/folders/0"))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.json()["item_collection"]["total_count"], 7);
}

#[tokio::test]
async fn folders_and_name_conflicts() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let folders = format!("{}/2.0/folders", ts.url);
    let r = http
        .post(&folders)
        .bearer(ALICE)
        .body(json!({"name": "Reports", "parent": {"id": "0"}}).to_string())
        .send()
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let fid = r.json()["id"].as_str().unwrap().to_owned();
    let nested = http
        .post(&folders)
        .bearer(ALICE)
        .body(json!({"name": "2026", "parent": {"id": fid}}).to_string())
        .send()
        .await;
    assert_eq!(nested.status, 201);
    assert_eq!(nested.json()["path_collection"]["total_count"], 2);
    // Same name, other case: 409 with the conflicting folder in a list.
    let dup = http
        .post(&folders)
        .bearer(ALICE)
        .body(json!({"name": "reports", "parent": {"id": "0"}}).to_string())
        .send()
        .await;
    assert_box_error(&dup, 409, "item_name_in_use");
    assert_eq!(
        dup.json()["context_info"]["conflicts"][0]["id"],
        fid.as_str()
    );
    assert_box_error(
        &http
            .post(&folders)
            .bearer(ALICE)
            .body(json!({"name": "x", "parent": {"id": "777"}}).to_string())
            .send()
            .await,
        404,
        "not_found",
    );
    assert_box_error(
        &http
            .post(&folders)
            .bearer(ALICE)
            .body(json!({"name": "a/b", "parent": {"id": "0"}}).to_string())
            .send()
            .await,
        400,
        "item_name_invalid",
    );
    // Bob cannot see Alice's folder.
    assert_box_error(
        &http
            .post(&folders)
            .bearer(BOB)
            .body(json!({"name": "x", "parent": {"id": fid}}).to_string())
            .send()
            .await,
        404,
        "not_found",
    );
    let get = http
        .get(&format!("{folders}/{fid}"))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(get.json()["name"], "Reports");

    // A session in the nested folder; then a file name conflict (single object).
    let data = pseudo_random(100, 6);
    let r = raw_upload(&http, &ts.upload_root(), ALICE, "a.txt", &data).await;
    let file_id = r.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    let conflict = http
        .post(&format!("{}/files/upload_sessions", ts.upload_root()))
        .bearer(ALICE)
        .body(json!({"folder_id": "0", "file_size": 5, "file_name": "A.TXT"}).to_string())
        .send()
        .await;
    assert_box_error(&conflict, 409, "item_name_in_use");
    assert_eq!(
        conflict.json()["context_info"]["conflicts"]["id"],
        file_id.as_str()
    );
    // Bob has his own root: the same name is free there.
    let bobs = raw_upload(&http, &ts.upload_root(), BOB, "a.txt", &data).await;
    assert_eq!(bobs.status, 201);
}
