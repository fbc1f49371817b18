//! The fault rules: what each injects, when, and that a fault changes
//! nothing but what it says.

use box_chunked_tests::raw::*;
use box_chunked_tests::*;
use bytes::Bytes;

#[tokio::test]
async fn faults_on_request() {
    let ts = TestServer::start(|c| {
        c.faults = box_chunked_server::faults::FaultSpec::parse("part:503@#1, part:429=7@#2, part:reset@#3, part:lose@#4, commit:202=2@first2, commit:parts_mismatch@#3").unwrap();
    })
    .await;
    let http = Http::new();
    let data = pseudo_random(4096, 11);
    let s = create(&http, &ts, ALICE, data.len(), "f.bin").await;
    assert_box_error(&put(&http, &s, ALICE, &data, 0).await, 503, "unavailable");
    let throttled = put(&http, &s, ALICE, &data, 0).await;
    assert_box_error(&throttled, 429, "rate_limit_exceeded");
    assert_eq!(throttled.header("retry-after"), Some("7"));
    // A reset in the middle of the body: the client sees a transport failure, nothing is stored.
    let chunk = &data[..1024];
    let reset = http
        .put(&s.upload)
        .headers(&[
            ("authorization", format!("Bearer {ALICE}")),
            ("content-range", "bytes 0-1023/4096".into()),
            ("digest", digest(chunk)),
        ])
        .body(Bytes::copy_from_slice(chunk))
        .try_send()
        .await;
    assert!(reset.is_err(), "{reset:?}");
    assert!(parts(&http, &s).await.is_empty());
    // A lost response: the part is stored, the client hears nothing.
    let lost = http
        .put(&s.upload)
        .headers(&[
            ("authorization", format!("Bearer {ALICE}")),
            ("content-range", "bytes 0-1023/4096".into()),
            ("digest", digest(chunk)),
        ])
        .body(Bytes::copy_from_slice(chunk))
        .try_send()
        .await;
    assert!(lost.is_err());
    assert_eq!(parts(&http, &s).await.len(), 1);
    for off in [1024, 2048, 3072] {
        assert_eq!(put(&http, &s, ALICE, &data, off).await.status, 200);
    }
    let all = parts(&http, &s).await;
    for _ in 0..2 {
        let r = commit(&http, &s, &data, &all).await;
        assert_eq!(r.status, 202);
        assert_eq!(r.header("retry-after"), Some("2"));
        assert!(r.body.is_empty());
    }
    assert_box_error(&commit(&http, &s, &data, &all).await, 400, "parts_mismatch");
    assert_eq!(commit(&http, &s, &data, &all).await.status, 201);
    let c = ts.counters(&http).await;
    assert_eq!(c["faults_injected"], 7);
    assert_eq!(c["commits_pending"], 2);

    // Faults can be changed while running; a bad spec is refused.
    let set = http
        .put(&format!("{}/__box-chunked/faults", ts.url))
        .bearer(ADMIN)
        .body("list:500@1")
        .send()
        .await;
    assert_eq!(set.status, 204);
    assert_box_error(
        &http.get(&s.list).bearer(ALICE).send().await,
        500,
        "internal_server_error",
    );
    let bad = http
        .put(&format!("{}/__box-chunked/faults", ts.url))
        .bearer(ADMIN)
        .body("list:explode@1")
        .send()
        .await;
    assert_box_error(&bad, 400, "bad_request");
    assert_eq!(
        http.put(&format!("{}/__box-chunked/faults", ts.url))
            .bearer(ADMIN)
            .send()
            .await
            .status,
        204
    );
    assert_eq!(http.get(&s.list).bearer(ALICE).send().await.status, 200);
}
