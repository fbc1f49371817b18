//! Reaching an item through its shared link, as Box does: `GET
//! /2.0/shared_items` with `BoxApi: shared_link=URL` (any signed-in user for
//! an `open` link; the password when it has one; only the owner for a
//! `collaborators` link), and the file's `download_url`, which needs no
//! token; a removed link reaches nothing.

use box_chunked_tests::api::{id_of, User};
use box_chunked_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_shared_link_reaches_its_item_as_its_settings_say() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let (alice, bob) = (User::new(&ts.url, ALICE), User::new(&ts.url, BOB));
    let data = pseudo_random(2000, 31);
    let up = alice.one_shot("0", "shared.bin", &data).await;
    let id = id_of(&up.json()["entries"][0]);
    let share = |settings: serde_json::Value| {
        let (alice, id) = (&alice, id.clone());
        async move {
            let r = alice
                .api(
                    "PUT",
                    &format!("/files/{id}?fields=shared_link"),
                    Some(json!({ "shared_link": settings })),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.json());
            r.json()["shared_link"].clone()
        }
    };
    let item = |who: &'static str, link: String, password: Option<&'static str>| {
        let http = &http;
        let url = format!("{}/2.0/shared_items", ts.url);
        async move {
            let mut boxapi = format!("shared_link={link}");
            if let Some(p) = password {
                boxapi.push_str(&format!("&shared_link_password={p}"));
            }
            http.get(&url)
                .bearer(who)
                .header("boxapi", boxapi)
                .send()
                .await
        }
    };
    let link = share(json!({"access": "open"})).await;
    let (url, download) = (
        link["url"].as_str().unwrap().to_owned(),
        link["download_url"].as_str().unwrap().to_owned(),
    );
    // Bob reaches alice's file through the link; the download needs no token.
    let r = item(BOB, url.clone(), None).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(id_of(&r.json()), id);
    let got = http.get(&download).send().await;
    assert_eq!(got.status, 200);
    assert_eq!(sha1(&got.body), sha1(&data));
    // The link's own URL (what `rclone link` prints) leads to the content.
    let page = http.get(&url).send().await;
    assert_eq!(page.status, 302);
    assert_eq!(page.header("location"), Some(download.as_str()));
    assert_eq!(sha1(&http.download(&url, "").await.body), sha1(&data));
    // A password: asked for, and a static download cannot give it.
    share(json!({"access": "open", "password": "Secret-1234"})).await;
    raw::assert_box_error(
        &item(BOB, url.clone(), None).await,
        403,
        "access_denied_insufficient_permissions",
    );
    assert_eq!(
        item(BOB, url.clone(), Some("Secret-1234")).await.status,
        200
    );
    assert_eq!(http.get(&download).send().await.status, 403);
    // Collaborators only: not bob, but alice; no downloads: the static URL refuses.
    share(json!({"access": "collaborators", "password": null})).await;
    assert_eq!(item(BOB, url.clone(), None).await.status, 403);
    assert_eq!(item(ALICE, url.clone(), None).await.status, 200);
    share(json!({"access": "open", "permissions": {"can_download": false}})).await;
    assert_eq!(http.get(&download).send().await.status, 403);
    // The link removed: nothing is reached.
    let r = alice
        .api(
            "PUT",
            &format!("/files/{id}?fields=shared_link"),
            Some(json!({"shared_link": null})),
        )
        .await;
    assert_eq!(r.status, 200);
    raw::assert_box_error(&item(BOB, url, None).await, 404, "not_found");
    assert_eq!(http.get(&download).send().await.status, 404);
    let _ = bob;
}
