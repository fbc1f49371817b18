//! Downloads as Box answers them: `GET /files/{id}/content` is a `302` to a
//! short-lived URL that needs no token (ranges honoured there), the client
//! follows it, and the switch `download_redirect = false` answers the
//! content at once.

use box_chunked_hyper::BoxClient;
use box_chunked_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_a_redirect_to_a_url_that_needs_no_token() {
    let ts = TestServer::start(|c| c.download_redirect = true).await;
    let http = Http::new();
    let data = pseudo_random(5000, 3);
    let up = raw_upload(&http, &ts.upload_root(), ALICE, "r.bin", &data).await;
    let id = up.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    let r = http
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 302);
    let to = r.header("location").unwrap().to_owned();
    assert!(to.starts_with(&format!("{}/dl/", ts.url)), "{to}");
    // No token needed, and ranges are honoured there.
    let whole = http.get(&to).send().await;
    assert_eq!(whole.status, 200);
    assert_eq!(sha1(&whole.body), sha1(&data));
    let part = http.get(&to).header("range", "bytes=10-19").send().await;
    assert_eq!(part.status, 206);
    assert_eq!(&part.body[..], &data[10..20]);
    // The URL is its own credential: the journal (and the log) leave its token out.
    let token = to.rsplit('/').next().unwrap().to_owned();
    let journal = http
        .get(&format!("{}/__box-chunked/requests", ts.url))
        .bearer(ADMIN)
        .send()
        .await;
    let text = String::from_utf8_lossy(&journal.body).into_owned();
    assert!(
        text.contains("/dl/(token)") && !text.contains(&token),
        "{text}"
    );
    // Another user's file: refused before any URL is handed out.
    let r = http
        .get(&format!("{}/2.0/files/{id}/content", ts.url))
        .bearer(BOB)
        .send()
        .await;
    raw::assert_box_error(&r, 404, "not_found");
    // The URL expires (15 minutes on the server's clock); a made-up one never worked.
    ts.advance_clock(&http, 16 * 60).await;
    assert_eq!(http.get(&to).send().await.status, 404);
    assert_eq!(
        http.get(&format!("{}/dl/00ff", ts.url)).send().await.status,
        404
    );
    // The client follows the redirect.
    let c = BoxClient::builder()
        .token(ALICE)
        .base_url(&ts.url)
        .build()
        .unwrap();
    let (n, digest) = c.download_sha1(&id).await.unwrap();
    assert_eq!((n, digest), (data.len() as u64, sha1(&data)));
    // The switch: the content at once.
    let direct = TestServer::start(|c| c.download_redirect = false).await;
    let up = raw_upload(&http, &direct.upload_root(), ALICE, "r.bin", &data).await;
    let id = up.json()["entries"][0]["id"].as_str().unwrap().to_owned();
    let r = http
        .get(&format!("{}/2.0/files/{id}/content", direct.url))
        .bearer(ALICE)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(sha1(&r.body), sha1(&data));
}
