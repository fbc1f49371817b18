//! The trash, as Box keeps it: a delete moves the item (a folder with what
//! it holds) to the trash, where it is listed, read, restored (to its old
//! folder, or to another when that one is gone, under a new name when its
//! own is taken) or removed for good; the collector purges it after the
//! retention; the quota counts it until then.

use box_chunked_tests::api::{id_of, text, User};
use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

fn trash_ids(page: &Value) -> Vec<(String, String)> {
    page["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| (e["type"].as_str().unwrap_or("").to_owned(), id_of(e)))
        .collect()
}

/// A file deleted is in the trash, out of its folder, and comes back with
/// its id and bytes; a taken name needs a new one.
#[tokio::test]
async fn a_deleted_file_is_in_the_trash_and_comes_back() {
    let ts = TestServer::start(|_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    let data = pseudo_random(3000, 1);
    let id = id_of(&alice.one_shot("0", "a.txt", &data).await.json());
    let r = alice.api("DELETE", &format!("/files/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", text(&r));
    assert!(alice.list("0").await.is_empty());
    assert_box_error(
        &alice.api("GET", &format!("/files/{id}"), None).await,
        404,
        "not_found",
    );
    let page = alice.api("GET", "/folders/trash/items", None).await;
    assert_eq!(page.status, 200, "{}", text(&page));
    assert_eq!(page.json()["total_count"], 1);
    assert_eq!(trash_ids(&page.json()), [("file".into(), id.clone())]);
    let t = alice.api("GET", &format!("/files/{id}/trash"), None).await;
    assert_eq!(t.status, 200, "{}", text(&t));
    let t = t.json();
    assert_eq!(t["item_status"], "trashed");
    assert!(
        t["trashed_at"].is_string() && t["purged_at"].is_string(),
        "{t}"
    );
    assert_eq!(t["path_collection"]["entries"][0]["name"], "Trash");
    // The trash counts toward the quota, as on Box.
    assert_eq!(alice.space_used().await, 3000);
    // Its name taken meanwhile: 409, then restored under another.
    alice.one_shot("0", "A.TXT", &pseudo_random(10, 2)).await;
    let r = alice.api("POST", &format!("/files/{id}"), None).await;
    assert_box_error(&r, 409, "item_name_in_use");
    let r = alice
        .api(
            "POST",
            &format!("/files/{id}"),
            Some(json!({"name": "a (1).txt"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(
        (r.json()["id"].as_str(), r.json()["name"].as_str()),
        (Some(id.as_str()), Some("a (1).txt"))
    );
    assert_eq!(r.json()["item_status"], "active");
    assert_eq!(&alice.download(&id).await.body[..], &data[..]);
    assert_eq!(alice.empty_trash().await, 0);
    // Not in the trash any more: a second restore is a 404.
    let r = alice.api("POST", &format!("/files/{id}"), None).await;
    assert_box_error(&r, 404, "not_found");
}

/// A folder deleted takes what it holds: only the folder is listed and
/// readable in the trash, and its restore brings everything back but what
/// was trashed on its own before.
#[tokio::test]
async fn a_folder_goes_to_the_trash_with_what_it_holds() {
    let ts = TestServer::start(|_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    let top = alice.folder("0", "top").await;
    let sub = alice.folder(&top, "sub").await;
    let kept = id_of(
        &alice
            .one_shot(&sub, "kept.bin", &pseudo_random(100, 3))
            .await
            .json(),
    );
    let alone = id_of(
        &alice
            .one_shot(&top, "alone.bin", &pseudo_random(50, 4))
            .await
            .json(),
    );
    assert_eq!(
        alice
            .api("DELETE", &format!("/files/{alone}"), None)
            .await
            .status,
        204
    );
    let r = alice
        .api("DELETE", &format!("/folders/{top}?recursive=true"), None)
        .await;
    assert_eq!(r.status, 204, "{}", text(&r));
    let page = alice.api("GET", "/folders/trash/items", None).await.json();
    assert_eq!(
        trash_ids(&page),
        [
            ("folder".into(), top.clone()),
            ("file".into(), alone.clone())
        ]
    );
    for path in [
        format!("/files/{kept}/trash"),
        format!("/folders/{sub}/trash"),
    ] {
        assert_box_error(&alice.api("GET", &path, None).await, 404, "not_found");
    }
    assert_box_error(
        &alice
            .api("GET", &format!("/folders/{sub}/items"), None)
            .await,
        404,
        "not_found",
    );
    // Nothing can be made inside a trashed folder.
    let r = alice
        .one_shot(&sub, "late.bin", &pseudo_random(10, 5))
        .await;
    assert_box_error(&r, 404, "not_found");
    let r = alice.api("POST", &format!("/folders/{top}"), None).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(r.json()["id"], top.as_str());
    let names = |v: Vec<Value>| -> Vec<String> {
        v.iter()
            .map(|e| e["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(alice.list(&top).await), ["sub"]);
    assert_eq!(names(alice.list(&sub).await), ["kept.bin"]);
    assert_eq!(
        alice
            .api("GET", &format!("/files/{kept}"), None)
            .await
            .status,
        200
    );
    // The file trashed on its own stays there; its folder is back, so it
    // goes back there.
    let page = alice.api("GET", "/folders/trash/items", None).await.json();
    assert_eq!(trash_ids(&page), [("file".into(), alone.clone())]);
    let r = alice.api("POST", &format!("/files/{alone}"), None).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(r.json()["parent"]["id"], top.as_str());
}

/// An item whose folder is gone comes back only into a folder the caller
/// names; `parent` is not used while the old folder is there.
#[tokio::test]
async fn a_restore_whose_folder_is_gone_needs_a_parent() {
    let ts = TestServer::start(|_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    let f = alice.folder("0", "f").await;
    let other = alice.folder("0", "other").await;
    let id = id_of(
        &alice
            .one_shot(&f, "x.bin", &pseudo_random(10, 6))
            .await
            .json(),
    );
    alice.api("DELETE", &format!("/files/{id}"), None).await;
    alice.api("DELETE", &format!("/folders/{f}"), None).await;
    let r = alice.api("POST", &format!("/files/{id}"), None).await;
    assert_box_error(&r, 404, "not_found");
    let r = alice
        .api(
            "POST",
            &format!("/files/{id}"),
            Some(json!({"parent": {"id": "999999"}})),
        )
        .await;
    assert_box_error(&r, 404, "not_found");
    let r = alice
        .api(
            "POST",
            &format!("/files/{id}"),
            Some(json!({"parent": {"id": other}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(r.json()["parent"]["id"], other.as_str());
    // Another user's trash is not ours to read, restore or purge.
    let bob = User::new(&ts.url, BOB);
    for (m, p) in [
        ("GET", format!("/folders/{f}/trash")),
        ("POST", format!("/folders/{f}")),
        ("DELETE", format!("/folders/{f}/trash")),
    ] {
        assert_box_error(&bob.api(m, &p, None).await, 404, "not_found");
    }
    assert_eq!(bob.empty_trash().await, 0);
}

/// Removed for good: its bytes leave the disk and the quota, and it cannot
/// come back.
#[tokio::test]
async fn a_purged_item_is_gone_with_its_bytes() {
    let ts = TestServer::start(|_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    let r = alice
        .chunked_upload("0", "big.bin", &pseudo_random(3 * 1024 * 1024, 7))
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = id_of(&r.json());
    let blobs = || {
        std::fs::read_dir(ts.dir.path().join("blobs"))
            .unwrap()
            .count()
    };
    assert_eq!(blobs(), 1);
    alice.api("DELETE", &format!("/files/{id}"), None).await;
    assert_eq!(blobs(), 1, "the trash keeps the bytes");
    let r = alice
        .api("DELETE", &format!("/files/{id}/trash"), None)
        .await;
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(blobs(), 0);
    assert_eq!(alice.space_used().await, 0);
    for (m, p) in [
        ("POST", format!("/files/{id}")),
        ("GET", format!("/files/{id}/trash")),
        ("DELETE", format!("/files/{id}/trash")),
    ] {
        assert_box_error(&alice.api(m, &p, None).await, 404, "not_found");
    }
}

/// Items past the retention are purged by the collector; with no
/// retention, deletes are for good at once.
#[tokio::test]
async fn the_trash_expires_after_the_retention() {
    let ts = TestServer::start(|c| {
        c.trash_retention = Some(Duration::from_secs(600));
        c.collect_every = Duration::from_millis(100);
    })
    .await;
    let http = Http::new();
    let alice = User::new(&ts.url, ALICE);
    let old = id_of(
        &alice
            .one_shot("0", "old.bin", &pseudo_random(10, 8))
            .await
            .json(),
    );
    alice.api("DELETE", &format!("/files/{old}"), None).await;
    ts.advance_clock(&http, 300).await;
    let young = id_of(
        &alice
            .one_shot("0", "young.bin", &pseudo_random(10, 9))
            .await
            .json(),
    );
    alice.api("DELETE", &format!("/files/{young}"), None).await;
    ts.advance_clock(&http, 301).await;
    ts.counter_reaches(&http, "trash_purged", 1).await;
    let page = alice.api("GET", "/folders/trash/items", None).await.json();
    assert_eq!(trash_ids(&page), [("file".into(), young)]);

    let ts = TestServer::start(|c| c.trash_retention = None).await;
    let alice = User::new(&ts.url, ALICE);
    let id = id_of(
        &alice
            .one_shot("0", "x.bin", &pseudo_random(10, 10))
            .await
            .json(),
    );
    alice.api("DELETE", &format!("/files/{id}"), None).await;
    assert_eq!(alice.empty_trash().await, 0);
    assert_eq!(alice.space_used().await, 0);
}

/// The trash pages as folders do (offset, and markers).
#[tokio::test]
async fn the_trash_pages() {
    let ts = TestServer::start(|_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    for n in 0..5 {
        let id = id_of(&alice.one_shot("0", &format!("{n}.bin"), b"x").await.json());
        alice.api("DELETE", &format!("/files/{id}"), None).await;
    }
    let first = alice
        .api(
            "GET",
            "/folders/trash/items?limit=2&offset=2&fields=name",
            None,
        )
        .await
        .json();
    assert_eq!(first["total_count"], 5);
    assert_eq!(first["entries"][0]["name"], "2.bin");
    assert!(first["entries"][0].get("size").is_none(), "{first}");
    let mut marker = String::new();
    let mut seen = 0;
    loop {
        let page = alice
            .api(
                "GET",
                &format!("/folders/trash/items?usemarker=true&limit=2&marker={marker}"),
                None,
            )
            .await
            .json();
        seen += page["entries"].as_array().map_or(0, Vec::len);
        match page["next_marker"].as_str() {
            Some(m) => marker = m.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 5);
}
