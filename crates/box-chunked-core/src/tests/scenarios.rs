//! Scenario tests: each drives an upload against the simulated Box and
//! checks the outcome, the server's state and, for the main scenarios, the
//! whole transcript of outputs and inputs.

use super::sim::*;
use crate::*;
use box_chunked_proto::ErrorCode;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

fn new_file() -> Target {
    Target::NewFile {
        folder_id: "0".into(),
        name: "big.bin".into(),
    }
}

fn config(parallelism: usize) -> UploadConfig {
    UploadConfig {
        upload_root: ROOT.into(),
        parallelism: NonZeroUsize::new(parallelism).unwrap(),
        ..UploadConfig::default()
    }
}

struct Setup {
    size: u64,
    part_size: u64,
    cfg: UploadConfig,
    faults: Vec<ScriptedFault>,
    target: Target,
}

impl Setup {
    fn new(size: u64, part_size: u64, parallelism: usize) -> Self {
        Self {
            size,
            part_size,
            cfg: config(parallelism),
            faults: Vec::new(),
            target: new_file(),
        }
    }

    fn fault(mut self, on: On, nth: u32, fault: Fault) -> Self {
        self.faults.push(ScriptedFault { on, nth, fault });
        self
    }

    fn sim(self) -> Sim {
        let epoch = Instant::now();
        let mut server = SimBox::new(self.part_size, epoch);
        server.faults = self.faults;
        let source = source_bytes(self.size, 42);
        let up = Upload::new(
            self.target,
            Source {
                size: self.size,
                fingerprint: Some("v1".into()),
            },
            self.cfg,
            epoch,
        )
        .unwrap();
        Sim::new(up, server, source, epoch)
    }
}

fn committed(sim: &mut Sim) -> box_chunked_proto::File {
    match sim.run(100_000) {
        Outcome::Committed(f) => {
            assert_eq!(
                f.sha1,
                Some(sim.source_sha1()),
                "committed digest is the source's"
            );
            assert_eq!(f.size, Some(sim.source.len() as u64));
            let (_, content) = sim.server.files.get(&f.id).unwrap();
            assert_eq!(content, &sim.source, "stored content is the source");
            *f
        }
        other => panic!(
            "expected a commit, got {other:?}\n{}",
            sim.transcript.join("\n")
        ),
    }
}

fn failed(sim: &mut Sim) -> UploadError {
    match sim.run(100_000) {
        Outcome::Failed(e) => e,
        other => panic!(
            "expected a failure, got {other:?}\n{}",
            sim.transcript.join("\n")
        ),
    }
}

fn check_transcript(sim: &Sim, expected: &str) {
    let got = sim.transcript.join("\n");
    let want: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let have: Vec<&str> = got.lines().map(str::trim).collect();
    assert_eq!(have, want, "\n--- transcript ---\n{got}\n");
}

/// The main path: 3 parts (the last 1 byte) through a window of 2.
#[test]
fn transcript_happy_path() {
    let mut sim = Setup::new(201, 100, 2).sim();
    committed(&mut sim);
    check_transcript(
        &sim,
        r#"
        0.000s -> req#0 POST ~ (attempt 1)
        0.010s <- req#0 201
        0.010s    event: SessionReady { session_id: "00000000000000000000000000003DDE", part_size: 100, total_parts: 3 }
        0.010s    event: CheckpointChanged
        0.010s -> read#0 bytes 0..100 Upload
        0.010s -> read#1 bytes 100..200 Upload
        0.010s -> read#2 bytes 200..201 Upload
        0.010s <- read#0 data
        0.010s -> req#1 PUT ~/00000000000000000000000000003DDE (attempt 1) [bytes 0-99/201]
        0.010s <- read#1 data
        0.010s -> req#2 PUT ~/00000000000000000000000000003DDE (attempt 1) [bytes 100-199/201]
        0.010s <- read#2 data
        0.020s <- req#1 200
        0.020s    event: part 0 confirmed (Uploaded)
        0.020s    event: CheckpointChanged
        0.020s -> req#3 PUT ~/00000000000000000000000000003DDE (attempt 1) [bytes 200-200/201]
        0.020s <- req#2 200
        0.020s    event: part 1 confirmed (Uploaded)
        0.020s    event: CheckpointChanged
        0.030s <- req#3 200
        0.030s    event: part 2 confirmed (Uploaded)
        0.030s    event: CheckpointChanged
        0.030s -> req#4 POST ~/00000000000000000000000000003DDE/commit (attempt 1)
        0.040s <- req#4 201
        0.040s    event: committed file 1000
        0.040s done: committed 1000 sha1 707e521ed09209e01290feca51f22c349baa2749
        "#,
    );
}

/// A part is stored but its response is lost; the repeat is answered 416 with
/// the stored part, which matches: the part is reconciled, not re-stored.
#[test]
fn transcript_lost_response_is_reconciled() {
    let mut sim = Setup::new(200, 100, 1)
        .fault(On::Part(0), 1, Fault::LoseResponse)
        .sim();
    committed(&mut sim);
    let t = sim.transcript.join("\n");
    assert!(t.contains("<- req#1 failed Ambiguous"), "{t}");
    assert!(t.contains("retry upload part 0 after attempt 1"), "{t}");
    assert!(
        t.contains("-> req#3 PUT ~/00000000000000000000000000003DDE (attempt 2) [bytes 0-99/200]"),
        "{t}"
    );
    assert!(t.contains("<- req#3 416"), "{t}");
    assert!(t.contains("part 0 confirmed (Reconciled)"), "{t}");
    assert_eq!(sim.server.counters.parts_stored, 2);
    assert_eq!(sim.server.counters.overlaps, 1);
    assert_eq!(
        sim.server.counters.lists, 0,
        "the 416 body alone reconciles the part"
    );
    assert_eq!(sim.server.counters.resent_after_ack, 0);
}

/// Commit answers 202 twice (with and without Retry-After) before 201.
#[test]
fn transcript_commit_202() {
    let mut sim = Setup::new(100, 100, 1)
        .fault(On::Commit, 1, Fault::Accepted(Some(3)))
        .fault(On::Commit, 2, Fault::Accepted(None))
        .sim();
    committed(&mut sim);
    let lines: Vec<&String> = sim
        .transcript
        .iter()
        .filter(|l| {
            l.contains("commit") || l.contains("Commit") || l.contains("202") || l.contains("done")
        })
        .collect();
    let text = lines
        .iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        text,
        "0.020s -> req#2 POST ~/00000000000000000000000000003DDE/commit (attempt 1)\n\
         0.030s <- req#2 202\n\
         0.030s event: CommitPending { retry_after: 3s, polls: 1 }\n\
         3.030s -> req#3 POST ~/00000000000000000000000000003DDE/commit (attempt 2)\n\
         3.040s <- req#3 202\n\
         3.040s event: CommitPending { retry_after: 5s, polls: 2 }\n\
         8.040s -> req#4 POST ~/00000000000000000000000000003DDE/commit (attempt 3)\n\
         8.050s event: committed file 1000\n\
         8.050s done: committed 1000 sha1 "
            .to_owned()
            + &sim.source_sha1().to_hex()
    );
}

#[test]
fn resets_and_server_errors_are_retried() {
    let mut sim = Setup::new(1000, 100, 4)
        .fault(On::Part(0), 1, Fault::ResetBefore)
        .fault(On::Part(1), 1, Fault::Status(500))
        .fault(On::Part(2), 1, Fault::Status(503))
        .fault(On::Part(3), 1, Fault::NotSent)
        .fault(On::Create, 1, Fault::Status(502))
        .fault(On::Commit, 1, Fault::Status(504))
        .sim();
    committed(&mut sim);
    let retries = sim
        .events
        .iter()
        .filter(|e| matches!(e, Event::RetryScheduled { .. }))
        .count();
    assert_eq!(retries, 6);
    assert_eq!(sim.server.counters.resent_after_ack, 0);
}

/// A 429 pauses every new request, not only the part that got it.
#[test]
fn throttling_pauses_all_dispatch() {
    let mut sim = Setup::new(1000, 100, 2)
        .fault(On::Part(1), 1, Fault::Throttle(30))
        .sim();
    committed(&mut sim);
    let at_429 = sim
        .transcript
        .iter()
        .position(|l| l.contains(" 429"))
        .unwrap();
    let t = |l: &str| l.trim().split('s').next().unwrap().parse::<f64>().unwrap();
    let t429 = t(&sim.transcript[at_429]);
    // Every request sent after the 429 waits for the pause.
    for line in &sim.transcript[at_429..] {
        if line.contains("-> req#") {
            assert!(
                t(line) >= t429 + 30.0 - 1e-9,
                "request during the pause: {line}"
            );
        }
    }
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, Event::Throttled { pause } if *pause >= Duration::from_secs(30))));
}

/// A response slower than the attempt's deadline: the machine cancels the
/// attempt itself, repeats it, and reconciles the overlap.
#[test]
fn slow_response_times_out_and_reconciles() {
    let mut s =
        Setup::new(300, 100, 3).fault(On::Part(1), 1, Fault::Delay(Duration::from_secs(400)));
    s.cfg.timeouts.part = Duration::from_secs(60);
    let mut sim = s.sim();
    committed(&mut sim);
    let t = sim.transcript.join("\n");
    assert!(t.contains("-> cancel req#2"), "{t}");
    assert!(sim.events.iter().any(|e| matches!(
        e,
        Event::PartConfirmed {
            index: 1,
            how: Confirmation::Reconciled,
            ..
        }
    )));
}

#[test]
fn transient_parts_mismatch_is_retried() {
    let mut sim = Setup::new(300, 100, 3)
        .fault(On::Commit, 1, Fault::PartsMismatch)
        .fault(On::Commit, 2, Fault::PartsMismatch)
        .sim();
    committed(&mut sim);
}

#[test]
fn persistent_parts_mismatch_fails_and_aborts() {
    let mut sim = (1..=4)
        .fold(Setup::new(300, 100, 3), |s, n| {
            s.fault(On::Commit, n, Fault::PartsMismatch)
        })
        .sim();
    let e = failed(&mut sim);
    assert!(
        matches!(e, UploadError::PartsMismatch(ref f) if f.code() == Some("parts_mismatch")),
        "{e}"
    );
    assert_eq!(sim.server.session_count(), 0, "the session was aborted");
}

/// Commit keeps answering 202: bounded by the commit deadline, in virtual time.
#[test]
fn long_202_wait_ends_at_the_commit_deadline() {
    let mut s = (1..=1000).fold(Setup::new(100, 100, 1), |s, n| {
        s.fault(On::Commit, n, Fault::Accepted(Some(30)))
    });
    s.cfg.commit_wait = Duration::from_secs(600);
    let mut sim = s.sim();
    let real = Instant::now();
    let e = failed(&mut sim);
    assert!(real.elapsed() < Duration::from_secs(2));
    match e {
        UploadError::CommitTimedOut { waited, polls } => {
            assert!(
                waited <= Duration::from_secs(600) && waited >= Duration::from_secs(570),
                "{waited:?}"
            );
            assert_eq!(polls, 20);
        }
        other => panic!("{other}"),
    }
}

/// The session's 7-day expiry is a timer of the machine: a commit that waits
/// on 202s for days ends with SessionExpired when the session's time is up.
#[test]
fn seven_day_expiry_in_virtual_time() {
    let mut s = (1..=5000).fold(Setup::new(100, 100, 1), |s, n| {
        s.fault(On::Commit, n, Fault::Accepted(Some(300)))
    });
    s.cfg.commit_wait = Duration::from_secs(30 * 24 * 3600);
    let mut sim = s.sim();
    let real = Instant::now();
    let e = failed(&mut sim);
    assert!(real.elapsed() < Duration::from_secs(5));
    assert!(matches!(e, UploadError::SessionExpired { .. }), "{e}");
    let elapsed = sim.now.saturating_duration_since(sim.server.epoch);
    assert!(
        elapsed >= Duration::from_secs(7 * 24 * 3600)
            && elapsed < Duration::from_secs(7 * 24 * 3600 + 400),
        "{elapsed:?}"
    );
}

#[test]
fn expired_session_can_start_over() {
    let mut s = Setup::new(300, 100, 1).fault(On::Part(1), 1, Fault::Expire);
    s.cfg.on_expiry = OnExpiry::StartOver;
    let mut sim = s.sim();
    committed(&mut sim);
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionRestarted { .. })));
    assert_eq!(sim.server.counters.creates, 2);
}

#[test]
fn wrong_echo_is_an_error_never_accepted() {
    let mut sim = Setup::new(300, 100, 2)
        .fault(On::Part(1), 1, Fault::WrongEcho)
        .sim();
    let e = failed(&mut sim);
    assert!(
        matches!(e, UploadError::EchoMismatch { index: 1, .. }),
        "{e}"
    );
    assert_eq!(sim.server.session_count(), 0, "the session was aborted");
    assert_eq!(sim.server.counters.commits, 0);
}

/// When a 416 carries no usable stored part, the machine lists the parts.
#[test]
fn overlap_without_details_is_reconciled_by_listing() {
    let mut sim = Setup::new(300, 100, 1)
        .fault(On::Part(1), 1, Fault::LoseResponse)
        .sim();
    sim.server.overlap_without_sha = true;
    committed(&mut sim);
    assert_eq!(sim.server.counters.lists, 1);
    assert!(sim.events.iter().any(|e| matches!(
        e,
        Event::PartConfirmed {
            index: 1,
            how: Confirmation::Reconciled,
            ..
        }
    )));
}

#[test]
fn name_conflict_carries_the_existing_id() {
    let mut sim = Setup::new(100, 100, 1).sim();
    sim.server
        .names
        .insert(("0".into(), "big.bin".into()), "777".into());
    let e = failed(&mut sim);
    match e {
        UploadError::NameConflict {
            existing_id,
            failure,
        } => {
            assert_eq!(existing_id.as_deref(), Some("777"));
            assert_eq!(failure.status, 409);
            assert_eq!(failure.code(), Some("item_name_in_use"));
            assert_eq!(failure.request_id.as_deref(), Some("simreq"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn unauthorized_is_final_for_the_core() {
    let mut sim = Setup::new(300, 100, 1)
        .fault(On::Part(0), 1, Fault::Status(401))
        .sim();
    let e = failed(&mut sim);
    // The driver's auth layer owns 401 (refresh and repeat once); what reaches
    // the core is final.
    assert!(
        matches!(e, UploadError::Api(ApiFailure { status: 401, .. })),
        "{e}"
    );
    assert_eq!(sim.server.session_count(), 0);
}

#[test]
fn delegated_not_sent_is_final_for_the_core() {
    let mut s = Setup::new(300, 100, 1).fault(On::Part(0), 1, Fault::NotSent);
    s.cfg.retry.delegated.not_sent = true;
    let mut sim = s.sim();
    let e = failed(&mut sim);
    assert!(
        matches!(e, UploadError::RetriesExhausted { attempts: 1, .. }),
        "{e}"
    );
}

#[test]
fn retries_are_bounded() {
    let mut sim = (1..=20)
        .fold(Setup::new(300, 100, 1), |s, n| {
            s.fault(On::Part(0), n, Fault::Status(503))
        })
        .sim();
    let e = failed(&mut sim);
    assert!(
        matches!(e, UploadError::RetriesExhausted { attempts: 8, .. }),
        "{e}"
    );
}

#[test]
fn abort_mid_upload_cancels_and_deletes() {
    let mut sim2 = Setup::new(1000, 100, 3).sim();
    // Drive step by step until the first part is confirmed, then abort.
    loop {
        let _ = sim2.drain();
        if sim2.upload.progress().parts_done >= 1 {
            break;
        }
        sim2.run_one();
    }
    sim2.upload.abort(sim2.now);
    let outcome = sim2.run(10_000);
    assert_eq!(outcome, Outcome::Aborted);
    assert!(sim2.transcript.iter().any(|l| l.contains("-> cancel")));
    assert!(sim2.transcript.iter().any(|l| l.contains("DELETE")));
    assert_eq!(sim2.server.session_count(), 0);
    // Done is sticky and later inputs are ignored.
    assert!(matches!(
        sim2.upload.poll_output(),
        Output::Done(Outcome::Aborted)
    ));
    sim2.upload.handle_input(sim2.now, Input::Timeout).unwrap();
    assert!(matches!(
        sim2.upload.poll_output(),
        Output::Done(Outcome::Aborted)
    ));
}

#[test]
fn abort_during_create_deletes_the_session_it_made() {
    let mut sim = Setup::new(300, 100, 1).sim();
    let _ = sim.drain(); // the create is in flight
    sim.upload.abort(sim.now);
    assert_eq!(sim.run(1000), Outcome::Aborted);
    assert_eq!(sim.server.counters.creates, 1);
    assert_eq!(sim.server.counters.aborts, 1);
    assert_eq!(sim.server.session_count(), 0);
}

#[test]
fn keep_session_on_failure() {
    let mut s = (1..=20).fold(Setup::new(300, 100, 1), |s, n| {
        s.fault(On::Part(1), n, Fault::Status(500))
    });
    s.cfg.on_failure = OnFailure::Keep;
    let mut sim = s.sim();
    let _ = failed(&mut sim);
    assert_eq!(
        sim.server.session_count(),
        1,
        "the session is kept for a resume"
    );
    assert!(sim.upload.checkpoint().is_some());
}

/// Resume in a "new process": a checkpoint from a run that stopped half way.
pub(super) fn half_done(size: u64, part_size: u64) -> (Checkpoint, SimBox, Instant) {
    let mut sim = Setup::new(size, part_size, 2).sim();
    let total = size.div_ceil(part_size);
    loop {
        let _ = sim.drain();
        if sim.upload.progress().parts_done >= total / 2 {
            break;
        }
        sim.run_one();
    }
    let cp = sim.upload.checkpoint().unwrap();
    // The process dies: the machine is dropped with requests in flight.
    let Sim { server, now, .. } = sim;
    (cp, server, now)
}

pub(super) fn resume_sim(
    cp: Checkpoint,
    server: SimBox,
    source: bytes::Bytes,
    now: Instant,
    cfg: UploadConfig,
) -> Result<Sim, ResumeError> {
    let src = Source {
        size: source.len() as u64,
        fingerprint: Some("v1".into()),
    };
    let up = Upload::resume(cp, src, cfg, now)?;
    Ok(Sim::new(up, server, source, now))
}

#[test]
fn resume_uploads_only_what_is_missing() {
    let (cp, server, now) = half_done(1000, 100);
    // The checkpoint is JSON, with no secrets.
    let json = serde_json::to_string(&cp).unwrap();
    let cp: Checkpoint = serde_json::from_str(&json).unwrap();
    let stored_before = server.counters.parts_stored;
    let mut sim = resume_sim(cp, server, source_bytes(1000, 42), now, config(3)).unwrap();
    committed(&mut sim);
    let verified = sim
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::PartConfirmed {
                    how: Confirmation::Verified,
                    ..
                }
            )
        })
        .count() as u64;
    assert!(verified >= 5, "{verified}");
    assert_eq!(
        sim.server.counters.parts_stored, 10,
        "each part stored exactly once"
    );
    assert!(stored_before >= 5);
    assert_eq!(sim.server.counters.resent_after_ack, 0);
}

#[test]
fn resume_with_nothing_left_to_send() {
    let mut sim = Setup::new(500, 100, 2).sim();
    sim.upload.set_parallelism(NonZeroUsize::new(5).unwrap());
    loop {
        let _ = sim.drain();
        if sim.upload.progress().parts_done == 5 {
            break;
        }
        sim.run_one();
    }
    let cp = sim.upload.checkpoint().unwrap();
    let Sim { server, now, .. } = sim;
    let mut sim = resume_sim(cp, server, source_bytes(500, 42), now, config(2)).unwrap();
    committed(&mut sim);
    assert!(
        !sim.transcript.iter().any(|l| l.contains("PUT")),
        "nothing re-sent"
    );
}

#[test]
fn resume_detects_a_changed_source() {
    let (cp, server, now) = half_done(1000, 100);
    let mut changed = source_bytes(1000, 42).to_vec();
    changed[150] ^= 1; // inside part 1, which is stored
    let mut sim = resume_sim(cp, server, changed.into(), now, config(2)).unwrap();
    let e = failed(&mut sim);
    assert!(
        matches!(
            e,
            UploadError::SourceChanged(SourceChange::StoredPartDiffers { index: 1, .. })
        ),
        "{e}"
    );
    assert_eq!(sim.server.counters.commits, 0);
    assert_eq!(
        sim.server.session_count(),
        0,
        "a session of other bytes is deleted"
    );
}

/// A source whose fingerprint changed (a `touch`) but whose content did
/// not resumes: the stored parts are verified by their SHA-1s, only the
/// missing ones are sent, and the new fingerprint is the one kept.
#[test]
fn resume_after_a_touch_is_decided_by_content() {
    let (cp, server, now) = half_done(1000, 100);
    let stored = server.counters.parts_stored;
    let src = Source {
        size: 1000,
        fingerprint: Some("v1, touched".into()),
    };
    let up = Upload::resume(cp, src, config(2), now).unwrap();
    assert_eq!(up.source().fingerprint.as_deref(), Some("v1, touched"));
    let mut sim = Sim::new(up, server, source_bytes(1000, 42), now);
    committed(&mut sim);
    let sent = sim.transcript.iter().filter(|l| l.contains("PUT")).count() as u64;
    assert!(
        sent <= 10 - stored.min(10),
        "{sent} parts sent after {stored} were stored"
    );
}

#[test]
fn resume_refuses_another_source_before_any_request() {
    let (cp, server, now) = half_done(1000, 100);
    let src = Source {
        size: 1001,
        fingerprint: Some("v1".into()),
    };
    let err = Upload::resume(cp.clone(), src, config(1), now).unwrap_err();
    assert!(matches!(err, ResumeError::SourceChanged(_)));
    assert!(err.to_string().contains("1000 bytes"), "{err}");
    let mut bad = cp.clone();
    bad.format = 99;
    assert!(matches!(
        Upload::resume(
            bad,
            Source {
                size: 1000,
                fingerprint: Some("v1".into())
            },
            config(1),
            now
        ),
        Err(ResumeError::UnsupportedFormat { found: 99, .. })
    ));
    let mut bad = cp;
    bad.session.total_parts = 3;
    assert!(matches!(
        Upload::resume(
            bad,
            Source {
                size: 1000,
                fingerprint: Some("v1".into())
            },
            config(1),
            now
        ),
        Err(ResumeError::Inconsistent(_))
    ));
    drop(server);
}

#[test]
fn resume_after_expiry() {
    let (cp, server, now) = half_done(1000, 100);
    let later = now + Duration::from_secs(8 * 24 * 3600);
    let mut sim = resume_sim(cp.clone(), server, source_bytes(1000, 42), later, config(2)).unwrap();
    sim.now = later;
    let e = failed(&mut sim);
    assert!(matches!(e, UploadError::SessionExpired { .. }), "{e}");

    let (cp, server, now) = half_done(1000, 100);
    let later = now + Duration::from_secs(8 * 24 * 3600);
    let mut cfg = config(2);
    cfg.on_expiry = OnExpiry::StartOver;
    let mut sim = resume_sim(cp, server, source_bytes(1000, 42), later, cfg).unwrap();
    sim.now = later;
    committed(&mut sim);
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionRestarted { .. })));
}

/// Listing spans pages of 1000 when resuming a session of 2,500 parts.
#[test]
fn resume_lists_every_page() {
    let (cp, server, now) = half_done(2500 * 64, 64);
    let lists_before = server.counters.lists;
    let mut sim = resume_sim(cp, server, source_bytes(2500 * 64, 42), now, config(4)).unwrap();
    sim.record = false;
    committed(&mut sim);
    assert_eq!(
        sim.server.counters.lists - lists_before,
        2,
        "1250 stored parts: 2 pages"
    );
}

#[test]
fn new_version_with_if_match() {
    let mut sim = Setup::new(300, 100, 2).sim();
    let first = committed(&mut sim);
    let Sim { server, .. } = sim;
    let epoch = Instant::now();
    let mut cfg = config(2);
    cfg.attributes = Some(box_chunked_proto::CommitAttributes {
        description: Some("v2".into()),
        ..Default::default()
    });
    let target = Target::NewVersion {
        file_id: first.id.clone(),
        name: None,
        if_match: Some("1".into()),
    };
    let source = source_bytes(300, 7);
    let up = Upload::new(
        target,
        Source {
            size: 300,
            fingerprint: None,
        },
        cfg,
        epoch,
    )
    .unwrap();
    let mut sim = Sim::new(up, server, source, epoch);
    let f = committed(&mut sim);
    assert_eq!(f.id, first.id);
    assert!(sim.transcript.iter().any(|l| l
        .contains(&format!("POST /api/2.0/files/{}/upload_sessions", first.id))
        || l.contains("POST ~")));
}

#[test]
fn digest_rejected_is_source_changed() {
    let mut sim = Setup::new(300, 100, 2)
        .fault(On::Commit, 1, Fault::Refuse(400, ErrorCode::DigestMismatch))
        .sim();
    let e = failed(&mut sim);
    assert!(
        matches!(
            e,
            UploadError::SourceChanged(SourceChange::DigestRejected { .. })
        ),
        "{e}"
    );
}

#[test]
fn precondition_failed_is_its_own_error() {
    let mut sim = Setup::new(300, 100, 2)
        .fault(
            On::Commit,
            1,
            Fault::Refuse(412, ErrorCode::PreconditionFailed),
        )
        .sim();
    let e = failed(&mut sim);
    assert!(
        matches!(
            e,
            UploadError::PreconditionFailed(ApiFailure { status: 412, .. })
        ),
        "{e}"
    );
}

/// A part refused because its bytes do not match its digest (a file
/// changed under a mapped part sends bytes other than those hashed) makes
/// the upload ask whether the source changed. Changed: the error says what
/// changed. Unchanged: it is the server's refusal. Nothing is committed and
/// the session is deleted either way.
#[test]
fn a_part_refused_for_its_digest_asks_whether_the_source_changed() {
    for changed in [true, false] {
        let mut sim = Setup::new(300, 100, 1)
            .fault(
                On::Part(1),
                1,
                Fault::Refuse(412, ErrorCode::PreconditionFailed),
            )
            .sim();
        if changed {
            sim.source_change = Some("big.bin was modified at 12:00:01".into());
        }
        let e = failed(&mut sim);
        if changed {
            assert_eq!(
                e.to_string(),
                "the source changed during the upload: big.bin was modified at 12:00:01"
            );
            assert!(sim.transcript.iter().any(|l| l.contains("check source")));
        } else {
            assert!(
                matches!(e, UploadError::Api(ApiFailure { status: 412, .. })),
                "{e}"
            );
        }
        assert_eq!(sim.server.counters.commits, 0);
        assert_eq!(sim.server.session_count(), 0, "the session was deleted");
    }
}

#[test]
fn driver_misuse_is_an_error_not_a_panic() {
    let mut sim = Setup::new(300, 100, 1).sim();
    let _ = sim.drain();
    let never = RequestId(999);
    let err = sim.upload.handle_input(
        sim.now,
        Input::Failed {
            id: never,
            error: TransportError::new(TransportErrorKind::NotSent, "x"),
        },
    );
    assert_eq!(err, Err(InputError::UnknownRequest(never)));
    let err = sim.upload.handle_input(
        sim.now,
        Input::Data {
            id: ReadId(5),
            bytes: bytes::Bytes::new(),
        },
    );
    assert_eq!(err, Err(InputError::UnknownRead(ReadId(5))));
    // Let the create finish, then answer the first read with too few bytes.
    sim.run_until_read();
    let err = sim.upload.handle_input(
        sim.now,
        Input::Data {
            id: ReadId(0),
            bytes: bytes::Bytes::from_static(b"short"),
        },
    );
    assert_eq!(
        err,
        Err(InputError::WrongLength {
            id: ReadId(0),
            expected: 100,
            actual: 5
        })
    );
    // The machine is still usable: the upload completes.
    committed(&mut sim);
}

#[test]
fn invalid_starts_are_refused() {
    let now = Instant::now();
    let src = Source {
        size: 10,
        fingerprint: None,
    };
    let bad_name = Target::NewFile {
        folder_id: "0".into(),
        name: "a/b".into(),
    };
    assert!(matches!(
        Upload::new(bad_name, src.clone(), config(1), now),
        Err(StartError::Name(_))
    ));
    let no_folder = Target::NewFile {
        folder_id: String::new(),
        name: "a".into(),
    };
    assert!(matches!(
        Upload::new(no_folder, src.clone(), config(1), now),
        Err(StartError::EmptyId("folder"))
    ));
    let mut cfg = config(1);
    cfg.upload_root = "not a url".into();
    assert!(matches!(
        Upload::new(new_file(), src.clone(), cfg, now),
        Err(StartError::UploadRoot(_))
    ));
    let mut cfg = config(1);
    cfg.list_limit = 5000;
    assert!(matches!(
        Upload::new(new_file(), src, cfg, now),
        Err(StartError::ListLimit(5000))
    ));
}

#[test]
fn source_read_failure_ends_the_upload() {
    let mut sim = Setup::new(300, 100, 1).sim();
    sim.run_until_read();
    sim.upload
        .handle_input(
            sim.now,
            Input::ReadFailed {
                id: ReadId(0),
                detail: "EIO".into(),
            },
        )
        .unwrap();
    let e = failed(&mut sim);
    assert!(
        matches!(e, UploadError::SourceRead { offset: 0, .. }),
        "{e}"
    );
}

#[test]
fn parallelism_changes_while_running() {
    let mut sim = Setup::new(2000, 100, 1).sim();
    sim.upload.set_parallelism(NonZeroUsize::new(6).unwrap());
    committed(&mut sim);
    assert_eq!(sim.max_parts_in_flight, 6);
    assert!(sim.max_bytes_held <= 7 * 100);
}

#[test]
fn ten_thousand_parts() {
    let size = 64 * 10_001 + 1; // 10,002 parts, the last of 1 byte
    let mut sim = Setup::new(size, 64, 8).sim();
    sim.record = false;
    let f = committed(&mut sim);
    assert_eq!(f.size, Some(size));
    assert_eq!(sim.server.counters.parts_stored, 10_002);
    assert!(sim.max_parts_in_flight <= 8);
    assert!(sim.max_bytes_held <= 9 * 64);
}

/// The driver finds the source changed at the check before the commit:
/// nothing is committed, the session is deleted (its parts mix two
/// contents) even when failed sessions are kept, and the error says what
/// changed.
#[test]
fn a_source_changed_before_the_commit_is_never_committed() {
    let mut setup = Setup::new(300, 100, 2);
    setup.cfg.on_failure = OnFailure::Keep;
    let mut sim = setup.sim();
    sim.source_change = Some("big.bin was modified at 12:00:01".into());
    let e = failed(&mut sim);
    assert!(
        matches!(e, UploadError::SourceChanged(SourceChange::Modified { ref detail }) if detail.contains("modified")),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "the source changed during the upload: big.bin was modified at 12:00:01"
    );
    assert_eq!(sim.server.counters.commits, 0);
    assert_eq!(sim.server.session_count(), 0, "the session was deleted");
}

/// A short read reported by the driver is the same "source changed" error,
/// not a read failure.
#[test]
fn a_short_read_is_a_changed_source() {
    let mut sim = Setup::new(300, 100, 1).sim();
    let _ = sim.drain();
    sim.upload
        .handle_input(
            sim.now,
            Input::SourceChecked {
                changed: Some("big.bin ended at byte 150 of 300".into()),
            },
        )
        .unwrap();
    let e = failed(&mut sim);
    assert!(
        matches!(e, UploadError::SourceChanged(SourceChange::Modified { .. })),
        "{e}"
    );
    assert_eq!(sim.server.counters.commits, 0);
}
