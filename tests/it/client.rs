//! box-chunked-hyper against the real box-chunked-server over loopback: each
//! SDK call, the uploader, injected faults, random fault schedules, abort
//! and cancellation, and conformance of every request to Box's OpenAPI
//! (resuming is `resume.rs`).

use box_chunked_core::{OnExpiry, Target};
use box_chunked_hyper::{
    BoxClient, BoxFuture, CommitOptions, Error, ErrorKind, Secret, Subject, TokenProvider,
    UploadEvent, UploadSource,
};
use box_chunked_proto::{CommitAttributes, Timestamp};
use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client for the test server, which takes chunked uploads of any size:
/// small files exercise the chunked path here (one-shot uploads are in `put`).
pub(crate) fn client(ts: &TestServer) -> BoxClient {
    BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.local)
        .build()
        .expect("client")
}

fn new_file(name: &str) -> Target {
    Target::NewFile {
        folder_id: "0".into(),
        name: name.into(),
    }
}

pub(crate) async fn check_download(c: &BoxClient, id: &str, data: &[u8]) {
    let (size, sha) = c.download_sha1(id).await.expect("download");
    assert_eq!(size, data.len() as u64);
    assert_eq!(sha, sha1(data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_calls_one_by_one() {
    let ts = TestServer::start(|_| {}).await;
    let c = client(&ts);
    let data = Bytes::from(pseudo_random(3000, 31));

    let session = c
        .folder("0")
        .create_upload_session(3000, "sdk.bin")
        .await
        .unwrap();
    assert_eq!((session.part_size, session.total_parts), (1024, 3));
    let s = c.session(&session);
    let mut parts = Vec::new();
    for off in [2048usize, 0, 1024] {
        let chunk = data.slice(off..(off + 1024).min(3000));
        // The SHA-1 is computed when not given.
        let p = s
            .upload_part(chunk.clone(), off as u64, 3000, None)
            .await
            .unwrap();
        assert_eq!(p.sha1, Some(sha1(&chunk)));
        parts.push(p);
    }
    // Repeating a part returns the stored part (reconciled from the 416).
    let again = s
        .upload_part(data.slice(0..1024), 0, 3000, Some(sha1(&data[..1024])))
        .await
        .unwrap();
    assert_eq!(again.offset, 0);
    // A session known only by id: URLs built, then the session's own endpoints.
    let by_id = c.upload_session(session.id.clone());
    let fetched = by_id.get().await.unwrap();
    assert_eq!(fetched.num_parts_processed, Some(3));
    let listed = by_id.get_parts().await.unwrap();
    assert_eq!(listed.len(), 3);
    let page = by_id.get_parts_page(1, 1).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].offset, 1024);
    let file = s
        .commit_with(
            listed,
            sha1(&data),
            CommitOptions {
                attributes: Some(CommitAttributes {
                    content_modified_at: Some(Timestamp::from_text("2025-05-05T05:05:05Z")),
                    ..Default::default()
                }),
                if_match: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(file.sha1, Some(sha1(&data)));
    assert_eq!(
        file.content_modified_at.as_ref().unwrap().as_str(),
        "2025-05-05T05:05:05Z"
    );
    check_download(&c, &file.id, &data).await;

    // A new version through the file's session, with If-Match.
    let v2 = Bytes::from(pseudo_random(1500, 32));
    let vs = c
        .file(file.id.clone())
        .create_upload_session(1500, Some("sdk-v2.bin"))
        .await
        .unwrap();
    let s2 = c.session(&vs);
    let p1 = s2
        .upload_part(v2.slice(0..1024), 0, 1500, None)
        .await
        .unwrap();
    let p2 = s2
        .upload_part(v2.slice(1024..1500), 1024, 1500, None)
        .await
        .unwrap();
    let stale = s2
        .commit_with(
            vec![p1.clone(), p2.clone()],
            sha1(&v2),
            CommitOptions {
                attributes: None,
                if_match: Some("41".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Refused);
    assert_eq!(stale.status(), Some(412));
    let etag = c.file(file.id.clone()).get().await.unwrap().etag;
    let f2 = s2
        .commit_with(
            vec![p1, p2],
            sha1(&v2),
            CommitOptions {
                attributes: None,
                if_match: etag,
            },
        )
        .await
        .unwrap();
    assert_eq!(f2.id, file.id);
    assert_eq!(f2.name.as_deref(), Some("sdk-v2.bin"));
    check_download(&c, &file.id, &v2).await;

    // Abort.
    let gone = c
        .folder("0")
        .create_upload_session(5000, "gone.bin")
        .await
        .unwrap();
    c.session(&gone).abort().await.unwrap();
    let e = c.upload_session(gone.id.clone()).get().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.status(), e.code()),
        (ErrorKind::Refused, Some(404), Some("not_found"))
    );
    assert!(e.request_id().is_some());

    // Box says no: a name conflict is a typed refusal with Box's fields.
    let e = c
        .folder("0")
        .create_upload_session(10, "SDK-V2.BIN")
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("item_name_in_use"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploader_shapes_and_sources() {
    let ts = TestServer::start(|_| {}).await;
    let c = client(&ts);
    let dir = TempDir::new("uploader");
    // Exact multiple of the part size, a 1-byte last part, from a path.
    for (name, size) in [("exact.bin", 4096usize), ("onebyte.bin", 4097)] {
        let data = pseudo_random(size, size as u64);
        let path = dir.path().join(name);
        std::fs::write(&path, &data).unwrap();
        let f = c.uploader().upload_file("0", name, &path).await.unwrap();
        assert_eq!(f.size, Some(size as u64));
        assert_eq!(f.sha1, Some(sha1(&data)));
        check_download(&c, &f.id, &data).await;
    }
    // From memory, as a new version.
    let first = c
        .uploader()
        .upload(
            new_file("v.bin"),
            UploadSource::Bytes(Bytes::from(pseudo_random(2000, 1))),
        )
        .await
        .unwrap();
    let v2 = Bytes::from(pseudo_random(2600, 2));
    let target = Target::NewVersion {
        file_id: first.id.clone(),
        name: None,
        if_match: first.etag.clone(),
    };
    let f = c
        .uploader()
        .upload(target, UploadSource::Bytes(v2.clone()))
        .await
        .unwrap();
    assert_eq!(f.id, first.id);
    check_download(&c, &f.id, &v2).await;
    // From a reader that cannot seek (a pipe), read once in order.
    let data = pseudo_random(10_000, 3);
    let (mut w, r) = tokio::io::duplex(4096);
    let feed = data.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = w.write_all(&feed).await;
    });
    let f = c
        .uploader()
        .parallelism(3)
        .upload(
            new_file("stream.bin"),
            UploadSource::Reader(Box::new(r), 10_000),
        )
        .await
        .unwrap();
    check_download(&c, &f.id, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploader_thousands_of_parts_with_events() {
    let ts = TestServer::start(|c| c.part_size = Some(256)).await;
    let c = client(&ts);
    let data = Bytes::from(pseudo_random(256 * 1500 + 7, 4)); // 1,501 parts
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let f = c
        .uploader()
        .parallelism(8)
        .on_event(move |e| ev.lock().unwrap().push(e.clone()))
        .upload(new_file("many.bin"), UploadSource::Bytes(data.clone()))
        .await
        .unwrap();
    check_download(&c, &f.id, &data).await;
    let events = events.lock().unwrap().clone();
    let confirmed = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                UploadEvent::Core(box_chunked_core::Event::PartConfirmed { .. })
            )
        })
        .count();
    assert_eq!(confirmed, 1501);
    let last_progress = events.iter().rev().find_map(|e| match e {
        UploadEvent::Progress {
            bytes_confirmed,
            bytes_total,
            ..
        } => Some((*bytes_confirmed, *bytes_total)),
        _ => None,
    });
    assert_eq!(last_progress, Some((data.len() as u64, data.len() as u64)));
    let counters = ts.counters(&Http::new()).await;
    assert_eq!(counters["parts_stored"], 1501);
    assert_eq!(counters["parts_rejected_overlap"], 0);
}

async fn with_faults(
    spec: &str,
    tweak: impl FnOnce(box_chunked_hyper::Uploader) -> box_chunked_hyper::Uploader,
) -> (
    Result<box_chunked_proto::File, Error>,
    Value,
    BoxClient,
    Bytes,
    TestServer,
) {
    let spec = box_chunked_server::faults::FaultSpec::parse(spec).unwrap();
    let ts = TestServer::start(move |c| c.faults = spec).await;
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&ts.local)
        .retry_policy(fast_retries())
        .timeouts(Duration::from_millis(700), Duration::from_secs(5))
        .build()
        .unwrap();
    let data = Bytes::from(pseudo_random(20 * 1024 + 5, 5));
    let up = tweak(c.uploader().parallelism(4));
    let r = up
        .upload(new_file("faulty.bin"), UploadSource::Bytes(data.clone()))
        .await;
    let counters = ts.counters(&Http::new()).await;
    (r, counters, c, data, ts)
}

pub(crate) fn fast_retries() -> box_chunked_core::retry::RetryPolicy {
    let mut p = box_chunked_core::retry::RetryPolicy::default();
    p.initial_backoff = Duration::from_millis(10);
    p.max_backoff = Duration::from_millis(100);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_each_end_with_the_right_file_or_error() {
    let ok_cases = [
        "part:reset@#2/5/9",
        "part:500@#1/3, part:503@#6",
        "part:429=1@#2, create:503@#1",
        "commit:202=1@first3",
        "commit:202=none@first1",
        "commit:parts_mismatch@first2",
        "part:delay=1500@#4",
        "part:lose@#3/7",
        "create:reset@#1, part:503@#2",
    ];
    for spec in ok_cases {
        let (r, counters, c, data, _ts) = with_faults(spec, |u| u).await;
        let f = r.unwrap_or_else(|e| panic!("{spec}: {e}"));
        check_download(&c, &f.id, &data).await;
        let lost = if spec.contains("lose") { 2 } else { 0 };
        let timed_out = if spec.contains("delay") { 1 } else { 0 };
        assert!(
            counters["parts_rejected_overlap"].as_u64().unwrap() <= lost + timed_out,
            "{spec}: {counters}"
        );
        assert!(counters["faults_injected"].as_u64().unwrap() >= 1, "{spec}");
    }
    // The session expires: a typed error, or a fresh session when asked.
    let (r, _, _, _, _ts) = with_faults("part:expire@#3", |u| u).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(e.to_string().contains("expired"), "{e}");
    let (r, counters, c, data, _ts) = with_faults("part:expire@#3", |u| {
        u.core_config(|k| k.on_expiry = OnExpiry::StartOver)
    })
    .await;
    let f = r.unwrap();
    check_download(&c, &f.id, &data).await;
    assert_eq!(counters["sessions_created"], 2);
    // Retries run out: network exhausted, with the attempts made, and the session deleted.
    let (r, counters, _, _, _ts) = with_faults("part:503@1", |u| u).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NetworkExhausted);
    assert_eq!(e.attempts(), Some(8));
    assert_eq!(e.status(), Some(503));
    assert_eq!(counters["sessions_aborted"], 1);
}

/// A token provider whose first token is refused; the refresh cures it.
#[derive(Debug, Default)]
struct StaleFirst {
    refreshed: std::sync::atomic::AtomicU32,
}

impl TokenProvider for StaleFirst {
    fn token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        Box::pin(async move {
            if self.refreshed.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                Ok(Secret::new(ALICE))
            } else {
                Ok(Secret::new("expired-token"))
            }
        })
    }
    fn refresh<'a>(&'a self, _stale: &'a Secret) -> BoxFuture<'a, Result<Secret, Error>> {
        Box::pin(async move {
            self.refreshed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Secret::new(ALICE))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_cured_by_a_refreshed_token() {
    let ts = TestServer::start(|_| {}).await;
    let provider = Arc::new(StaleFirst::default());
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token_provider(provider.clone())
        .base_url(&ts.local)
        .build()
        .unwrap();
    let data = Bytes::from(pseudo_random(5000, 6));
    let f = c
        .uploader()
        .upload(new_file("auth.bin"), UploadSource::Bytes(data.clone()))
        .await
        .unwrap();
    check_download(&c, &f.id, &data).await;
    assert!(provider.refreshed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(
        ts.counters(&Http::new()).await["unauthorized"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // A fixed token that is refused: an auth error, never a loop.
    let bad = BoxClient::builder()
        .one_shot_below(1)
        .token("nope")
        .base_url(&ts.local)
        .build()
        .unwrap();
    let e = bad
        .uploader()
        .upload(new_file("x.bin"), UploadSource::Bytes(data.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Auth | ErrorKind::NetworkExhausted),
        "{e:?}"
    );
    assert!(!format!("{e:?}").contains("nope") || !format!("{bad:?}").contains("nope"));

    // Box's client-credentials grant against the server's OAuth endpoint.
    let ts = TestServer::start(|c| {
        c.clients = vec![("cid".into(), "csecret".into(), "alice".into())];
        c.token_ttl = Duration::from_secs(2);
    })
    .await;
    let c = BoxClient::builder()
        .one_shot_below(1)
        .client_credentials("cid", "csecret", Subject::Enterprise("1".into()))
        .base_url(&ts.local)
        .build()
        .unwrap();
    assert!(!format!("{c:?}").contains("csecret"));
    let f = c
        .uploader()
        .upload(new_file("ccg.bin"), UploadSource::Bytes(data.clone()))
        .await
        .unwrap();
    ts.advance_clock(&Http::new(), 3).await;
    // The first token has expired on the server's clock (`401`); the client
    // gets a new one and repeats the call.
    check_download(&c, &f.id, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_fault_schedules_over_many_seeds() {
    for seed in 0..12u64 {
        let spec = format!("seed={seed}, part:503@0.08, part:429=1@0.04, part:reset@0.05, create:500@0.2, commit:202=1@0.3, commit:parts_mismatch@#1, list:503@0.1");
        let (r, counters, c, data, _ts) =
            with_faults(&spec, |u| u.parallelism(1 + (seed as usize % 6))).await;
        let f = r.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        check_download(&c, &f.id, &data).await;
        // No acknowledged part was sent again (no answer was lost in these schedules).
        assert_eq!(
            counters["parts_rejected_overlap"], 0,
            "seed {seed}: {counters}"
        );
        assert_eq!(counters["parts_stored"], 21, "seed {seed}");
    }
    // With lost answers, only those parts are sent again.
    for seed in 0..6u64 {
        let spec = format!("seed={seed}, part:lose@0.15, part:503@0.05");
        let (r, counters, c, data, _ts) = with_faults(&spec, |u| u).await;
        let f = r.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        check_download(&c, &f.id, &data).await;
        assert!(
            counters["parts_rejected_overlap"].as_u64() <= counters["faults_injected"].as_u64(),
            "{counters}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_and_cancellation_delete_the_session() {
    let spec = box_chunked_server::faults::FaultSpec::parse("part:delay=200@1").unwrap();
    let ts = TestServer::start(move |c| c.faults = spec).await;
    let c = client(&ts);
    let data = Bytes::from(pseudo_random(30 * 1024, 7));
    // A fixed window keeps the upload going past the abort (self-tuning
    // would send every part of this small file in one wave).
    let task = c
        .uploader()
        .parallelism(4)
        .spawn(new_file("abort.bin"), UploadSource::Bytes(data.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    task.control().abort();
    let e = task.join().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let counters = ts.counters(&Http::new()).await;
    assert_eq!(counters["sessions_aborted"], 1);
    assert_eq!(counters["files_committed"], 0);

    // Dropping the upload future deletes the session in the background.
    let up = c.uploader().parallelism(4);
    let fut = up.upload(new_file("dropped.bin"), UploadSource::Bytes(data.clone()));
    let _ = tokio::time::timeout(Duration::from_millis(500), fut).await;
    let mut aborted = 0;
    for _ in 0..50 {
        aborted = ts.counters(&Http::new()).await["sessions_aborted"]
            .as_u64()
            .unwrap();
        if aborted == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(aborted, 2);
    // With keep_session, a dropped upload leaves the session for a resume.
    let cp = TempDir::new("keep");
    let path = cp.path().join("keep.bin");
    std::fs::write(&path, &data).unwrap();
    let ckpt = cp.path().join("keep.checkpoint");
    let up = c
        .uploader()
        .parallelism(4)
        .keep_session(true)
        .checkpoint(&ckpt);
    let fut = up.upload_file("0", "keep.bin", &path);
    let _ = tokio::time::timeout(Duration::from_millis(700), fut).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ts.counters(&Http::new()).await["sessions_aborted"], 2);
    let f = c.uploader().resume(&ckpt).await.unwrap();
    check_download(&c, &f.id, &data).await;
}

/// Every request the client sends, recorded by a proxy, conforms to Box's
/// OpenAPI description of these endpoints (method, path, required headers,
/// request body schema).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_conforms_to_the_openapi_spec() {
    let proxy = crate::openapi::RecordingProxy::start().await;
    let purl = proxy.url.clone();
    let ts = TestServer::start(move |c| c.public_url = Some(purl)).await;
    proxy.set_target(&ts.local);
    let c = BoxClient::builder()
        .one_shot_below(1)
        .token(ALICE)
        .base_url(&proxy.url)
        .build()
        .unwrap();
    let data = Bytes::from(pseudo_random(5000, 9));
    // The uploader (create, parts, commit), a version, SDK calls (get, list, abort).
    let f = c
        .uploader()
        .upload(new_file("spec.bin"), UploadSource::Bytes(data.clone()))
        .await
        .unwrap();
    let target = Target::NewVersion {
        file_id: f.id.clone(),
        name: Some("spec2.bin".into()),
        if_match: f.etag.clone(),
    };
    c.uploader()
        .upload(target, UploadSource::Bytes(data.clone()))
        .await
        .unwrap();
    let s = c
        .folder("0")
        .create_upload_session(5000, "other.bin")
        .await
        .unwrap();
    let r = c.upload_session(s.id.clone());
    r.get().await.unwrap();
    r.get_parts().await.unwrap();
    r.abort().await.unwrap();
    let seen = proxy.requests();
    assert!(seen.len() >= 16, "{}", seen.len());
    let spec = crate::openapi::Spec::load();
    let mut ops = std::collections::BTreeSet::new();
    for req in &seen {
        ops.insert(
            spec.check(req)
                .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path)),
        );
    }
    assert_eq!(ops.len(), 7, "all seven operations were exercised: {ops:?}");
}
