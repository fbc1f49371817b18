//! Routing and the server's own routes: unknown paths and methods, the
//! admin routes and their token, `/users/me` and `box-version`.

use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use serde_json::json;

/// A path the server knows, asked with a method it does not take, is a
/// `405`; a path it does not know is a `404` (with no empty
/// `context_info`), on both roots and outside them.
#[tokio::test]
async fn known_paths_with_another_method_answer_405_and_unknown_paths_404() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    for (method, path) in [
        ("GET", "/api/2.0/files/upload_sessions"),
        ("PATCH", "/2.0/files/1"),
        ("PATCH", "/2.0/folders/1"),
        ("PUT", "/2.0/folders/0/items"),
        ("POST", "/2.0/users/me"),
        ("DELETE", "/2.0/users/me"),
        ("GET", "/api/2.0/files/content"),
        ("GET", "/api/2.0/files/upload_sessions/ABC/plan"),
    ] {
        let r = http
            .request(method, &format!("{}{path}", ts.url))
            .bearer(ALICE)
            .send()
            .await;
        assert_box_error(&r, 405, "method_not_allowed");
    }
    for path in [
        "/2.0/nothing",
        "/2.0/files/1/versions/x/y",
        "/api/2.0/nothing/here",
        "/api/2.0/files/1/2/3/4",
        "/elsewhere",
    ] {
        let r = http
            .get(&format!("{}{path}", ts.url))
            .bearer(ALICE)
            .send()
            .await;
        assert_box_error(&r, 404, "not_found");
        assert!(
            r.json().get("context_info").is_none(),
            "no empty context_info"
        );
    }
}

/// The server's own routes take its admin token alone: a user's token gets
/// `403` (so no user can change another's faults or read the counters), the
/// admin token is no user's token, and without one configured the routes
/// are closed; `faults` given at the start still apply.
#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let faults = format!("{}/__box-chunked/faults", ts.url);
    let counters = format!("{}/__box-chunked/counters", ts.url);
    let clock = format!("{}/__box-chunked/clock", ts.url);
    for token in [ALICE, BOB] {
        assert_box_error(
            &http
                .post(&clock)
                .bearer(token)
                .body(r#"{"advance_secs": 999999}"#)
                .send()
                .await,
            403,
            "forbidden",
        );
        assert_box_error(
            &http
                .put(&faults)
                .bearer(token)
                .body("part:expire@1")
                .send()
                .await,
            403,
            "forbidden",
        );
        assert_box_error(
            &http.get(&counters).bearer(token).send().await,
            403,
            "forbidden",
        );
    }
    assert_box_error(
        &http.get(&counters).bearer("nobody").send().await,
        401,
        "unauthorized",
    );
    assert_eq!(http.get(&counters).bearer(ADMIN).send().await.status, 200);
    // The clock moves ahead only, and only for the admin token.
    assert_box_error(
        &http
            .post(&clock)
            .bearer(ADMIN)
            .body(r#"{"advance_secs": -60}"#)
            .send()
            .await,
        400,
        "bad_request",
    );
    let shown = http.get(&clock).bearer(ADMIN).send().await.json();
    assert_eq!(shown["offset_secs"], 0, "{shown}");
    assert_box_error(
        &http
            .get(&format!("{}/2.0/folders/0", ts.url))
            .bearer(ADMIN)
            .send()
            .await,
        401,
        "unauthorized",
    );
    // The refused fault rule was not installed: alice's upload is not expired.
    let data = pseudo_random(1500, 70);
    let s = create(&http, &ts, ALICE, data.len(), "mine.bin").await;
    assert_eq!(put(&http, &s, ALICE, &data, 0).await.status, 200);

    // No admin token: closed to everyone; --faults from the start still work.
    let spec = box_chunked_server::faults::FaultSpec::parse("create:503@1").unwrap();
    let closed = TestServer::start(move |c| {
        c.admin_token = None;
        c.faults = spec;
    })
    .await;
    let counters = format!("{}/__box-chunked/counters", closed.url);
    // A user's token is refused (403); the unconfigured admin token is no
    // token at all (401).
    for (token, status) in [(ALICE, 403), (ADMIN, 401)] {
        let r = http.get(&counters).bearer(token).send().await;
        assert_eq!(r.status, status, "{token}");
    }
    let r = http
        .post(&format!("{}/files/upload_sessions", closed.upload_root()))
        .bearer(ALICE)
        .body(json!({"folder_id": "0", "file_size": 10, "file_name": "x"}).to_string())
        .send()
        .await;
    assert_box_error(&r, 503, "unavailable");
}

/// `GET /2.0/users/me` with the space Box reports; the `box-version` header
/// (`2024.0` accepted, another refused as Box does); error bodies omit
/// `context_info` when there is none.
#[tokio::test]
async fn users_me_box_version_and_lean_error_bodies() {
    let ts = TestServer::start(|c| c.quota = Some(1_000_000)).await;
    let http = Http::new();
    let me = http
        .get(&format!("{}/2.0/users/me", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(me.status, 200);
    let j = me.json();
    assert_eq!(
        (j["type"].clone(), j["id"].clone()),
        (json!("user"), json!("alice"))
    );
    assert_eq!(j["space_amount"], 1_000_000);
    assert_eq!(j["space_used"], 0);
    assert!(j["max_upload_size"].as_u64().unwrap() > 1 << 40);
    let ok = http
        .get(&format!("{}/2.0/folders/0", ts.url))
        .bearer(ALICE)
        .headers(&[("box-version", "2024.0".to_owned())])
        .send()
        .await;
    assert_eq!(ok.status, 200);
    let old = http
        .get(&format!("{}/2.0/folders/0", ts.url))
        .bearer(ALICE)
        .headers(&[("box-version", "2023.0".to_owned())])
        .send()
        .await;
    assert_box_error(&old, 400, "invalid_api_version");
    let missing = http
        .get(&format!("{}/2.0/files/424242", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_box_error(&missing, 404, "not_found");
    assert!(
        missing.json().get("context_info").is_none(),
        "{:?}",
        missing.json()
    );
    assert_box_error(
        &http
            .delete(&format!("{}/2.0/users/me", ts.url))
            .bearer(ALICE)
            .send()
            .await,
        405,
        "method_not_allowed",
    );
}

/// `box_versions` takes the versions listed (or any), so that a pipeline
/// stays green the day an SDK sends a newer `box-version`; Box's is the default.
#[tokio::test]
async fn box_versions_listed_or_any() {
    let http = Http::new();
    let get = |url: String, v: &'static str| {
        let http = &http;
        async move {
            http.get(&url)
                .bearer(ALICE)
                .header("box-version", v)
                .send()
                .await
        }
    };
    let listed =
        TestServer::start(|c| c.box_versions = vec!["2024.0".into(), "2025.0".into()]).await;
    assert_eq!(
        get(format!("{}/2.0/folders/0", listed.url), "2025.0")
            .await
            .status,
        200
    );
    let r = get(format!("{}/2.0/folders/0", listed.url), "2026.0").await;
    assert_box_error(&r, 400, "invalid_api_version");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("2024.0 or 2025.0"));
    let any = TestServer::start(|c| c.box_versions = vec!["any".into()]).await;
    assert_eq!(
        get(format!("{}/2.0/folders/0", any.url), "2099.1")
            .await
            .status,
        200
    );
}
