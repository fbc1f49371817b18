//! Signing in against the server: JWT server auth with a console-style key
//! (the service account and a user), assertions Box refuses, the
//! client-credentials grant of an app, a refresh-token file under a short
//! token lifetime with 4 parts in flight, As-User, and a server clock that
//! differs from ours.

use box_chunked_hyper::{
    BoxClient, ClientCredentials, JwtAuth, RefreshTokenAuth, Subject, Target, Throttle,
    UploadSource,
};
use box_chunked_proto::jwt::{AppConfig, Assertion, Claims};
use box_chunked_proto::oauth::{authorize_url, parse_form, Grant, SubjectType, TokenFile};
use box_chunked_server::ServerApp;
use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use bytes::Bytes;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVICE_ACCOUNT: &str = "AutomationUser_app-client";

fn app() -> ServerApp {
    ServerApp::from_config_json(&box_app_config(CONSOLE_KEY)).unwrap()
}

fn jwt() -> JwtAuth {
    JwtAuth::from_config_json(&box_app_config(CONSOLE_KEY)).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn token_request(http: &Http, ts: &TestServer, grant: &Grant) -> Reply {
    http.post(&format!("{}/oauth2/token", ts.url))
        .headers(&[(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )])
        .body(grant.to_form())
        .try_send()
        .await
        .unwrap()
}

/// Uploads 5,000 bytes as a chunked session; returns the owner's id.
async fn upload_owner(c: &BoxClient, name: &str) -> (String, String) {
    let data = pseudo_random(5000, 3);
    let f = c
        .uploader()
        .upload(
            Target::NewFile {
                folder_id: "0".into(),
                name: name.into(),
            },
            UploadSource::Bytes(Bytes::from(data.clone())),
        )
        .await
        .unwrap();
    assert_eq!(f.sha1, Some(sha1(&data)));
    (f.id.clone(), f.owned_by.expect("owned_by").id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_signs_in_as_the_service_account_and_as_a_user() {
    let ts = TestServer::start(|c| c.apps = vec![app()]).await;
    let http = Http::new();
    let auth = jwt();
    let shown = format!("{auth:?}");
    for secret in ["app-secret", "test-passphrase", "ENCRYPTED"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let sa = BoxClient::builder()
        .auth(auth)
        .base_url(&ts.url)
        .one_shot_below(1)
        .build()
        .unwrap();
    let (_, owner) = upload_owner(&sa, "by-service-account.bin").await;
    assert_eq!(owner, SERVICE_ACCOUNT);
    let user = BoxClient::builder()
        .auth(jwt().with_user_subject("alice"))
        .base_url(&ts.url)
        .one_shot_below(1)
        .build()
        .unwrap();
    let (id, owner) = upload_owner(&user, "by-alice.bin").await;
    assert_eq!(owner, "alice");
    let seen = http
        .get(&format!("{}/2.0/files/{id}", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(seen.status, 200, "alice's own token sees the file");
    let n = ts.counters(&http).await;
    assert_eq!(n["tokens_issued"], 2, "one token per client: {n}");
    assert_eq!(n["grants_refused"], 0);
    // A user the enterprise does not have is refused when the token is asked for.
    let nobody = BoxClient::builder()
        .auth(jwt().with_user_subject("mallory"))
        .base_url(&ts.url)
        .build()
        .unwrap();
    let e = nobody.sign_in().await.unwrap_err();
    assert!(e.to_string().contains("400 invalid_grant"), "{e}");
    assert!(e.to_string().contains("'sub'"), "{e}");
    assert!(!e.to_string().contains("app-secret"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertions_box_refuses_get_invalid_grant() {
    let ts = TestServer::start(|c| c.apps = vec![app()]).await;
    let http = Http::new();
    let config = AppConfig::from_json(&box_app_config(CONSOLE_KEY)).unwrap();
    let key = config.private_key().unwrap();
    let other = AppConfig::from_json(&box_app_config(OTHER_KEY))
        .unwrap()
        .private_key()
        .unwrap();
    let mut n = 0;
    let mut claims = |exp: u64| {
        n += 1;
        Claims::for_subject(
            &config,
            "ent-1",
            "enterprise",
            &format!("jti-of-this-test-{n:04}"),
            exp,
        )
    };
    let grant = |assertion: String| Grant::JwtBearer {
        assertion,
        client_id: "app-client".into(),
        client_secret: "app-secret".into(),
    };
    let good = Assertion::sign(&key, "kid-1", &claims(now() + 30));
    assert_eq!(
        token_request(&http, &ts, &grant(good.clone())).await.status,
        200
    );
    let mut own_aud = claims(now() + 30);
    own_aud.aud = format!("{}/oauth2/token", ts.url);
    let r = token_request(&http, &ts, &grant(Assertion::sign(&key, "kid-1", &own_aud))).await;
    assert_eq!(r.status, 200, "the server's own token URL is a good aud");
    // Without a kid (as Box's Node SDK signs), the app's key is tried.
    let no_kid = Assertion::sign(&key, "", &claims(now() + 30));
    assert_eq!(token_request(&http, &ts, &grant(no_kid)).await.status, 200);
    let mut wrong_aud = claims(now() + 30);
    wrong_aud.aud = "https://example.com/oauth2/token".into();
    let mut wrong_sub = claims(now() + 30);
    wrong_sub.sub = "ent-2".into();
    let cases = [
        ("a replay", good, "'jti'"),
        (
            "expired",
            Assertion::sign(&key, "kid-1", &claims(now() - 60)),
            "'exp'",
        ),
        (
            "too far ahead",
            Assertion::sign(&key, "kid-1", &claims(now() + 300)),
            "'exp'",
        ),
        (
            "a wrong kid",
            Assertion::sign(&key, "kid-2", &claims(now() + 30)),
            "'kid'",
        ),
        (
            "a wrong signature",
            Assertion::sign(&other, "kid-1", &claims(now() + 30)),
            "signature",
        ),
        (
            "a wrong signature without a kid",
            Assertion::sign(&other, "", &claims(now() + 30)),
            "signature",
        ),
        (
            "a wrong aud",
            Assertion::sign(&key, "kid-1", &wrong_aud),
            "'aud'",
        ),
        (
            "a wrong sub",
            Assertion::sign(&key, "kid-1", &wrong_sub),
            "'sub'",
        ),
        ("not a JWT", "not.a.jwt".to_owned(), "Invalid assertion"),
    ];
    for (what, assertion, names) in cases {
        let r = token_request(&http, &ts, &grant(assertion)).await;
        assert_eq!(r.status, 400, "{what}");
        let j = r.json();
        assert_eq!(j["error"], "invalid_grant", "{what}: {j}");
        let why = j["error_description"].as_str().unwrap_or("");
        assert!(why.contains(names), "{what}: {why}");
    }
    let bad_secret = Grant::JwtBearer {
        assertion: Assertion::sign(&key, "kid-1", &claims(now() + 30)),
        client_id: "app-client".into(),
        client_secret: "wrong".into(),
    };
    let r = token_request(&http, &ts, &bad_secret).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, "invalid_client".into())
    );
    let n = ts.counters(&http).await;
    assert_eq!(n["grants_refused"], 10, "{n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_credentials_grant_works_for_an_app() {
    let ts = TestServer::start(|c| c.apps = vec![app()]).await;
    let http = Http::new();
    let c = BoxClient::builder()
        .auth(ClientCredentials::new(
            "app-client",
            "app-secret",
            Subject::Enterprise("ent-1".into()),
        ))
        .base_url(&ts.url)
        .one_shot_below(1)
        .build()
        .unwrap();
    assert_eq!(upload_owner(&c, "ccg.bin").await.1, SERVICE_ACCOUNT);
    let r = token_request(
        &http,
        &ts,
        &Grant::ClientCredentials {
            client_id: "app-client".into(),
            client_secret: "app-secret".into(),
            subject_type: SubjectType::Enterprise,
            subject_id: "another-enterprise".into(),
        },
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, "invalid_grant".into())
    );
}

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A first sign-in of client `cid` (alice): authorize, approved at once,
/// then the code traded by the library, which writes `file`. Returns the
/// file's pair and the (used) code.
async fn first_sign_in(
    http: &Http,
    ts: &TestServer,
    file: &std::path::Path,
) -> (TokenFile, String) {
    let url = authorize_url(
        &format!("{}/oauth2/authorize", ts.url),
        "cid",
        REDIRECT,
        "s7",
    );
    let r = http.get(&url).try_send().await.unwrap();
    assert_eq!(r.status, 302);
    let location = r.header("location").unwrap().to_owned();
    let (to, query) = location.split_once('?').unwrap();
    assert_eq!(to, REDIRECT);
    let query = parse_form(query.as_bytes());
    assert!(query.contains(&("state".into(), "s7".into())), "{location}");
    let code = query.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let first = BoxClient::builder()
        .auth(RefreshTokenAuth::from_authorization_code(
            file, "cid", "csecret", &code, REDIRECT,
        ))
        .base_url(&ts.url)
        .build()
        .unwrap();
    first.sign_in().await.unwrap();
    (
        TokenFile::from_json(&std::fs::read(file).unwrap()).unwrap(),
        code,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_that_cannot_be_written_keeps_the_new_pair_until_it_can() {
    let ts = TestServer::start(|c| {
        c.clients = vec![("cid".into(), "csecret".into(), "alice".into())];
        c.token_ttl = Duration::from_secs(4);
    })
    .await;
    let http = Http::new();
    let dir = TempDir::new("unwritable");
    let sub = dir.path().join("tokens");
    let file = sub.join("box-token.json");
    std::fs::create_dir(&sub).unwrap();
    first_sign_in(&http, &ts, &file).await;
    let c = BoxClient::builder()
        .auth(RefreshTokenAuth::from_token_file(&file, "cid", "csecret").unwrap())
        .base_url(&ts.url)
        .build()
        .unwrap();
    c.sign_in().await.unwrap();
    // The token file's directory becomes a file: nothing can be written
    // there (whoever runs the test, root included).
    std::fs::remove_dir_all(&sub).unwrap();
    std::fs::write(&sub, b"not a directory").unwrap();
    // The token expires on the server's clock: the next call gets `401`,
    // and the refresh's new pair cannot be written.
    ts.advance_clock(&http, 3600).await;
    let e = c.get_file("1").await.unwrap_err();
    assert!(e.to_string().contains("cannot write the new tokens"), "{e}");
    assert_eq!(ts.counters(&http).await["tokens_refreshed"], 1);
    // Once it can be written, the pair kept in memory is written and used:
    // no second refresh (the first one used the file's refresh token up).
    std::fs::remove_file(&sub).unwrap();
    std::fs::create_dir(&sub).unwrap();
    // The next call's token is refused (401) again; the kept pair is written
    // and used, with no second refresh: the call gets to its answer (404).
    let e = c.get_file("1").await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    assert_eq!(ts.counters(&http).await["tokens_refreshed"], 1);
    let kept = TokenFile::from_json(&std::fs::read(&file).unwrap()).unwrap();
    let r = token_request(
        &http,
        &ts,
        &Grant::RefreshToken {
            refresh_token: kept.refresh_token,
            client_id: "cid".into(),
            client_secret: "csecret".into(),
        },
    )
    .await;
    assert_eq!(r.status, 200, "the written refresh token is the live one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_file_rotates_under_a_short_ttl_with_four_parts_in_flight() {
    let ts = TestServer::start(|c| {
        c.clients = vec![("cid".into(), "csecret".into(), "alice".into())];
        c.token_ttl = Duration::from_secs(2);
        c.part_size = Some(64 * 1024);
        // Slow token answers, so that every part waits while a refresh runs;
        // and one 503, which the client asks again with the same refresh token.
        c.faults =
            box_chunked_server::faults::FaultSpec::parse("token:503@#3,token:delay=300@1").unwrap();
    })
    .await;
    let http = Http::new();
    let dir = TempDir::new("refresh");
    let file = dir.path().join("box-token.json");
    let (initial, code) = first_sign_in(&http, &ts, &file).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }
    // A code is single use.
    let again = Grant::AuthorizationCode {
        code,
        client_id: "cid".into(),
        client_secret: "csecret".into(),
        redirect_uri: Some(REDIRECT.into()),
    };
    assert_eq!(token_request(&http, &ts, &again).await.status, 400);

    // Several token lifetimes of uploading, 4 parts at a time.
    let c = BoxClient::builder()
        .auth(RefreshTokenAuth::from_token_file(&file, "cid", "csecret").unwrap())
        .base_url(&ts.url)
        .one_shot_below(1)
        .build()
        .unwrap();
    let data = pseudo_random(3 << 20, 11);
    let started = Instant::now();
    let f = c
        .uploader()
        .parallelism(4)
        .throttle(Throttle::new(500_000))
        .upload(
            Target::NewFile {
                folder_id: "0".into(),
                name: "long.bin".into(),
            },
            UploadSource::Bytes(Bytes::from(data.clone())),
        )
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(c.download_sha1(&f.id).await.unwrap().1, sha1(&data));
    let n = ts.counters(&http).await;
    let refreshed = n["tokens_refreshed"].as_u64().unwrap();
    assert!(
        elapsed > 4.0,
        "the upload spans token lifetimes: {elapsed} s"
    );
    // A token of 2 s is renewed at 1 s: one refresh per renewal, never two at once
    // (a second refresh with the same token would have been refused).
    assert!(refreshed >= 3, "{n}");
    assert!(
        refreshed as f64 <= elapsed + 2.0,
        "{refreshed} refreshes in {elapsed} s"
    );
    assert_eq!(n["grants_refused"], 1, "only the replayed code: {n}");
    assert!(n["faults_injected"].as_u64().unwrap() > refreshed, "{n}");
    // The file holds the newest pair; the first refresh token is used up.
    let last = TokenFile::from_json(&std::fs::read(&file).unwrap()).unwrap();
    assert_ne!(last.refresh_token, initial.refresh_token);
    let refresh = |t: &str| Grant::RefreshToken {
        refresh_token: t.into(),
        client_id: "cid".into(),
        client_secret: "csecret".into(),
    };
    let old = token_request(&http, &ts, &refresh(&initial.refresh_token)).await;
    assert_eq!(
        (old.status, old.json()["error"].clone()),
        (400, "invalid_grant".into())
    );
    let newest = token_request(&http, &ts, &refresh(&last.refresh_token)).await;
    assert_eq!(
        newest.status, 200,
        "the file's refresh token is the live one"
    );
    let reused = token_request(&http, &ts, &refresh(&last.refresh_token)).await;
    assert_eq!(reused.status, 400, "and it is single use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_user_is_honoured_for_a_service_account_only() {
    let ts = TestServer::start(|c| c.apps = vec![app()]).await;
    let http = Http::new();
    let c = BoxClient::builder()
        .auth(jwt())
        .as_user("alice")
        .base_url(&ts.url)
        .one_shot_below(1)
        .build()
        .unwrap();
    let (id, owner) = upload_owner(&c, "as-alice.bin").await;
    assert_eq!(owner, "alice", "the file belongs to the user acted as");
    let seen = http
        .get(&format!("{}/2.0/files/{id}", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(seen.status, 200);
    // A user's token may not act as another user.
    let r = http
        .get(&format!("{}/2.0/folders/0", ts.url))
        .bearer(ALICE)
        .headers(&[("as-user", "bob".into())])
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "access_denied_insufficient_permissions".into())
    );
    // Nor may the service account act as a user the enterprise does not have.
    let sa = BoxClient::builder()
        .auth(jwt())
        .as_user("mallory")
        .base_url(&ts.url)
        .one_shot_below(1)
        .build()
        .unwrap();
    let e = sa
        .folder("0")
        .create_upload_session(5000, "x.bin")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_the_server_says_is_off_is_corrected_from_its_date() {
    for offset in [600, -600] {
        let ts = TestServer::start(|c| {
            c.apps = vec![app()];
            c.clock_offset_secs = offset;
        })
        .await;
        let http = Http::new();
        let c = BoxClient::builder()
            .auth(jwt())
            .base_url(&ts.url)
            .one_shot_below(1)
            .build()
            .unwrap();
        assert_eq!(upload_owner(&c, "skewed.bin").await.1, SERVICE_ACCOUNT);
        let n = ts.counters(&http).await;
        assert_eq!(n["grants_refused"], 1, "one refusal, then Box's time: {n}");
        assert_eq!(n["tokens_issued"], 1, "{offset}: {n}");
    }
}

#[tokio::test]
async fn oauth_client_credentials() {
    let ts = TestServer::start(|c| {
        c.clients = vec![("cid".into(), "secret".into(), "alice".into())];
        c.token_ttl = Duration::from_secs(1);
    })
    .await;
    let http = Http::new();
    let form = |s: &str| {
        format!("grant_type=client_credentials&client_id=cid&client_secret={s}&box_subject_type=enterprise&box_subject_id=1")
    };
    let hdr = [(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let ok = http
        .post(&format!("{}/oauth2/token", ts.url))
        .headers(&hdr)
        .body(form("secret"))
        .try_send()
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    assert_eq!(ok.json()["token_type"], "bearer");
    assert_eq!(ok.json()["expires_in"], 1);
    let token = ok.json()["access_token"].as_str().unwrap().to_owned();
    let data = pseudo_random(100, 8);
    assert_eq!(
        raw_upload(&http, &ts.upload_root(), &token, "via-oauth.bin", &data)
            .await
            .status,
        201
    );
    let bad = http
        .post(&format!("{}/oauth2/token", ts.url))
        .headers(&hdr)
        .body(form("wrong"))
        .try_send()
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "invalid_client");
    let grant = http
        .post(&format!("{}/oauth2/token", ts.url))
        .headers(&hdr)
        .body("grant_type=password")
        .try_send()
        .await
        .unwrap();
    assert_eq!(grant.json()["error"], "unsupported_grant_type");
    ts.advance_clock(&http, 2).await;
    let expired = http
        .get(&format!("{}/2.0/folders/0", ts.url))
        .bearer(&token)
        .send()
        .await;
    assert_box_error(&expired, 401, "unauthorized");
}
