//! CORS as Box answers it: a browser's preflight is answered before any
//! token is asked for (and told apart from Box's own `OPTIONS` check before
//! an upload); a listed origin's answers are readable by its page; any
//! other origin, and every origin of a server that lists none, gets
//! `403 cors_origin_not_whitelisted` naming it; requests without `Origin`
//! are not touched.

use box_chunked_tests::*;

const PAGE: &str = "http://127.0.0.1:5173";

#[tokio::test]
async fn preflights_listed_origins_and_refusals() {
    let ts = TestServer::start(|c| c.cors_origins = vec![PAGE.to_owned()]).await;
    let http = Http::new();
    let root = ts.upload_root();
    let session_url = format!("{root}/files/upload_sessions/SOME_ID");
    // The preflight of a part upload: no token, answered before authentication.
    let r = http
        .options(&session_url)
        .header("origin", PAGE)
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization, content-range, digest",
        )
        .send()
        .await;
    assert_eq!(r.status, 204, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization, content-range, digest")
    );
    // From an origin that is not listed: refused, naming it.
    let r = http
        .options(&session_url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "PUT")
        .send()
        .await;
    raw::assert_box_error(&r, 403, "cors_origin_not_whitelisted");
    assert_eq!(r.json()["context_info"]["origin"], "https://evil.example");
    // Box's own check before an upload carries a token: it is that check.
    let r = http
        .options(&format!("{}/2.0/files/content", ts.url))
        .bearer(ALICE)
        .header("origin", PAGE)
        .header("content-type", "application/json")
        .body(r#"{"name":"a.bin","parent":{"id":"0"},"size":10}"#)
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert!(r.json()["upload_url"].is_string(), "{:?}", r.json());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // A listed origin's answer is readable: Allow-Origin and the headers a client reads.
    let r = http
        .get(&format!("{}/2.0/users/me", ts.url))
        .bearer(ALICE)
        .header("origin", PAGE)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "etag",
        "location",
        "retry-after",
        "box-request-id",
        "digest",
    ] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
    // Another origin with a good token: Box's 403, readable by the page.
    let r = http
        .get(&format!("{}/2.0/users/me", ts.url))
        .bearer(ALICE)
        .header("origin", "https://evil.example")
        .send()
        .await;
    raw::assert_box_error(&r, 403, "cors_origin_not_whitelisted");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // No Origin: not a browser's request, not touched.
    let r = http
        .get(&format!("{}/2.0/users/me", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

/// A server that lists no origin (like a new Box app) refuses every
/// browser request, its preflights included; `*` lets any origin in.
#[tokio::test]
async fn no_origin_listed_refuses_browsers_and_star_takes_any() {
    let ts = TestServer::start(|_| {}).await;
    let http = Http::new();
    let r = http
        .get(&format!("{}/2.0/users/me", ts.url))
        .bearer(ALICE)
        .header("origin", PAGE)
        .send()
        .await;
    raw::assert_box_error(&r, 403, "cors_origin_not_whitelisted");
    let any = TestServer::start(|c| c.cors_origins = vec!["*".to_owned()]).await;
    let r = http
        .options(&format!("{}/2.0/folders/0", any.url))
        .header("origin", "https://anywhere.example")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

/// An app's CORS domains (`boxAppSettings.corsDomains` in its config file)
/// open the browser to the tokens issued to that app, and to no other
/// token: a developer token from the same origin is refused, as Box does.
#[tokio::test]
async fn an_apps_cors_domains_apply_to_its_own_tokens() {
    const APP_PAGE: &str = "http://app.example:8000";
    let mut cfg: serde_json::Value = serde_json::from_str(&box_app_config(CONSOLE_KEY)).unwrap();
    cfg["boxAppSettings"]["corsDomains"] =
        serde_json::json!(format!("{APP_PAGE}, http://b.example"));
    let app = box_chunked_server::ServerApp::from_config_json(&cfg.to_string()).unwrap();
    assert_eq!(app.cors_origins, [APP_PAGE, "http://b.example"]);
    let ts = TestServer::start(|c| c.apps = vec![app]).await;
    let http = Http::new();
    let r = http
        .post(&format!("{}/oauth2/token", ts.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=app-client&client_secret=app-secret&box_subject_type=enterprise&box_subject_id=ent-1")
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let me = format!("{}/2.0/users/me", ts.url);
    let preflight = |origin: &'static str| {
        http.options(&me)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    assert_eq!(preflight(APP_PAGE).await.status, 204);
    raw::assert_box_error(
        &preflight("http://elsewhere.example").await,
        403,
        "cors_origin_not_whitelisted",
    );
    let r = http
        .get(&me)
        .bearer(&token)
        .header("origin", APP_PAGE)
        .send()
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = http
        .get(&me)
        .bearer(ALICE)
        .header("origin", APP_PAGE)
        .send()
        .await;
    raw::assert_box_error(&r, 403, "cors_origin_not_whitelisted");
    assert_eq!(r.json()["context_info"]["origin"], APP_PAGE);
    // Without `Origin` (not a browser), the developer token works as ever.
    assert_eq!(http.get(&me).bearer(ALICE).send().await.status, 200);
}
