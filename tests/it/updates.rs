//! `PUT /files/{id}` and `PUT /folders/{id}`: every field the server takes
//! is applied and shown afterwards; a field Box knows that the server does
//! not model is a `400` naming it, with nothing changed; a field Box does
//! not know is ignored, as Box ignores it.

use box_chunked_tests::api::{id_of, text, User};
use box_chunked_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_file_update_applies_every_field_it_takes() {
    let ts = TestServer::start(|_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    let dest = alice.folder("0", "dest").await;
    let id = id_of(&alice.one_shot("0", "a.bin", b"content").await.json());
    let fields = "?fields=name,description,parent,content_modified_at,shared_link,etag";
    let r = alice
        .api(
            "PUT",
            &format!("/files/{id}{fields}"),
            Some(json!({
                "name": "b.bin",
                "description": "the report",
                "parent": {"id": dest},
                "content_modified_at": "2020-01-02T03:04:05-08:00",
                "shared_link": {"access": "open", "permissions": {"can_download": true}},
                "not_a_box_field": 1,
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let check = |f: &serde_json::Value| {
        assert_eq!(f["name"], "b.bin", "{f}");
        assert_eq!(f["description"], "the report");
        assert_eq!(f["parent"]["id"], dest.as_str());
        assert_eq!(f["content_modified_at"], "2020-01-02T03:04:05-08:00");
        let link = &f["shared_link"];
        let url = link["url"].as_str().unwrap_or_default();
        assert!(url.starts_with(&format!("{}/s/", ts.url)), "{link}");
        assert_eq!(link["access"], "open");
        assert_eq!(link["effective_access"], "open");
        assert_eq!(link["is_password_enabled"], false);
        assert_eq!(link["permissions"]["can_download"], true);
    };
    check(&r.json());
    let got = alice
        .api("GET", &format!("/files/{id}{fields}"), None)
        .await;
    check(&got.json());
    // Removing the link.
    let r = alice
        .api(
            "PUT",
            &format!("/files/{id}?fields=shared_link"),
            Some(json!({"shared_link": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(r.json()["shared_link"].is_null(), "{}", text(&r));
    // Fields Box knows and this server does not model: refused, nothing changed.
    for (field, value) in [
        ("lock", json!({"access": "lock"})),
        ("tags", json!(["x"])),
        ("collections", json!([{"id": "1"}])),
        ("disposition_at", json!("2030-01-01T00:00:00Z")),
        ("permissions", json!({"can_download": "open"})),
    ] {
        let r = alice
            .api(
                "PUT",
                &format!("/files/{id}"),
                Some(json!({"name": "c.bin", field: value})),
            )
            .await;
        assert_eq!(r.status, 400, "{field}: {}", text(&r));
        assert!(
            r.json()["message"].as_str().unwrap_or("").contains(field),
            "{}",
            text(&r)
        );
    }
    // Values Box refuses.
    for body in [
        json!({"shared_link": {"access": "everyone"}}),
        json!({"content_modified_at": "yesterday"}),
        json!({"shared_link": {"access": "company", "password": "Secret-123"}}),
    ] {
        let r = alice
            .api("PUT", &format!("/files/{id}"), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", text(&r));
    }
    let f = alice.api("GET", &format!("/files/{id}"), None).await.json();
    assert_eq!(
        f["name"], "b.bin",
        "nothing of a refused update was applied"
    );
}

#[tokio::test]
async fn a_folder_update_applies_every_field_it_takes() {
    let ts = TestServer::start(|_| {}).await;
    let alice = User::new(&ts.url, ALICE);
    let a = alice.folder("0", "a").await;
    let b = alice.folder("0", "b").await;
    let inner = alice.folder(&a, "inner").await;
    let r = alice
        .api(
            "PUT",
            &format!("/folders/{a}?fields=name,description,parent,shared_link,etag"),
            Some(json!({
                "name": "renamed",
                "description": "moved",
                "parent": {"id": b},
                "shared_link": {"access": "collaborators"},
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let f = r.json();
    assert_eq!(
        (f["name"].as_str(), f["description"].as_str()),
        (Some("renamed"), Some("moved"))
    );
    assert_eq!(f["parent"]["id"], b.as_str());
    assert_eq!(f["shared_link"]["access"], "collaborators");
    let etag = f["etag"].as_str().unwrap().to_owned();
    assert_ne!(etag, "0", "a change gives a new etag");
    let listed = alice.list(&b).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "renamed");
    // Into its own subtree, a stale etag, a taken name, a field not modelled.
    let r = alice
        .api(
            "PUT",
            &format!("/folders/{a}"),
            Some(json!({"parent": {"id": inner}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    let r = alice
        .send(
            "PUT",
            &format!("{}/2.0/folders/{a}", ts.url),
            &[("if-match", "\"999\"".into())],
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, 412, "{}", text(&r));
    alice.folder(&b, "taken").await;
    let r = alice
        .api(
            "PUT",
            &format!("/folders/{a}"),
            Some(json!({"name": "TAKEN"})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", text(&r));
    let r = alice
        .api(
            "PUT",
            &format!("/folders/{a}"),
            Some(json!({"sync_state": "synced"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("sync_state"));
    let r = alice
        .api("PUT", "/folders/0", Some(json!({"name": "root"})))
        .await;
    assert_eq!(r.status, 403, "{}", text(&r));
}

/// `GET /oauth2/authorize` redirects only to a client's registered
/// redirect URIs (by default loopback `http` ones); any other answers `400`
/// with no `Location` and no code.
#[tokio::test]
async fn authorize_is_not_an_open_redirect() {
    let ts = TestServer::start(|c| {
        c.clients = vec![("cid".into(), "csecret".into(), "alice".into())];
    })
    .await;
    let http = Http::new();
    let ask = |redirect: &str| {
        format!(
            "{}/oauth2/authorize?response_type=code&client_id=cid&state=s&redirect_uri={}",
            ts.url,
            form_urlencode(redirect)
        )
    };
    for good in ["http://127.0.0.1:9/callback", "http://localhost:53682/"] {
        let r = http
            .get(&ask(good))
            .body(bytes::Bytes::new())
            .try_send()
            .await
            .unwrap();
        assert_eq!(r.status, 302, "{good}");
        assert!(r.header("location").unwrap().starts_with(good));
    }
    for bad in [
        "https://evil.example/steal",
        "http://127.0.0.1.evil.example/x",
        "http://evil.example/?u=http://127.0.0.1:9/",
        "https://127.0.0.1:9/callback",
    ] {
        let r = http
            .get(&ask(bad))
            .body(bytes::Bytes::new())
            .try_send()
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{bad}: {}", text(&r));
        assert!(r.header("location").is_none(), "{bad}");
    }
    // A registered redirect URI is followed exactly; loopback ones are then
    // no longer allowed for that client.
    let ts = TestServer::start(|c| {
        c.clients = vec![("cid".into(), "csecret".into(), "alice".into())];
        c.redirect_uris = vec![("cid".into(), "https://app.example/cb".into())];
    })
    .await;
    let ask = |redirect: &str| {
        format!(
            "{}/oauth2/authorize?response_type=code&client_id=cid&redirect_uri={}",
            ts.url,
            form_urlencode(redirect)
        )
    };
    let r = http
        .get(&ask("https://app.example/cb"))
        .body(bytes::Bytes::new())
        .try_send()
        .await
        .unwrap();
    assert_eq!(r.status, 302);
    for bad in [
        "https://app.example/cb/x",
        "https://app.example/cb?x=1",
        "http://127.0.0.1:9/callback",
    ] {
        let r = http
            .get(&ask(bad))
            .body(bytes::Bytes::new())
            .try_send()
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{bad}");
    }
}

fn form_urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
