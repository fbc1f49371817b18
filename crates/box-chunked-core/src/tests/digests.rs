//! Verify reads answered with digests only ([`Input::Digested`]): a new
//! version's one read pass hashes every part, and the parts the plan found
//! stored are verified from those digests without being read again.

use super::scenarios::{half_done, resume_sim};
use super::sim::*;
use crate::*;

fn digests_only(sim: &mut Sim, lie: bool) {
    sim.prehash = Some(PreHash {
        chain: box_chunked_sha1::DualSha1::new(box_chunked_sha1::Backend::detect()),
        offered: 0,
        lie: None,
        lies: 0,
        digests_only: true,
        lie_digests: lie,
        digested: 0,
    });
}

fn config() -> UploadConfig {
    UploadConfig {
        upload_root: ROOT.into(),
        ..UploadConfig::default()
    }
}

#[test]
fn stored_parts_are_verified_from_digests_without_their_bytes() {
    let (cp, server, now) = half_done(1280, 128);
    let stored = cp.parts.len() as u64;
    let stored_before = server.counters.parts_stored;
    let mut sim = resume_sim(cp, server, source_bytes(1280, 42), now, config()).unwrap();
    digests_only(&mut sim, false);
    let f = match sim.run(100_000) {
        Outcome::Committed(f) => f,
        other => panic!("{other:?}\n{}", sim.transcript.join("\n")),
    };
    assert_eq!(
        f.sha1,
        Some(sim.source_sha1()),
        "the whole-file chain went on"
    );
    let digested = sim.prehash.as_ref().map_or(0, |p| p.digested);
    // The checkpoint knew `stored` parts; Box had more (parts in flight when
    // the first run stopped): every part Box had is verified from digests.
    let sent_again = sim.server.counters.parts_stored - stored_before;
    assert!(stored >= 5 && digested >= stored, "{digested} of {stored}");
    assert_eq!(
        digested + sent_again,
        10,
        "{digested} verified, {sent_again} sent"
    );
}

#[test]
fn digests_of_another_chain_are_a_changed_source() {
    let (cp, server, now) = half_done(1280, 128);
    let mut sim = resume_sim(cp, server, source_bytes(1280, 42), now, config()).unwrap();
    digests_only(&mut sim, true);
    match sim.run(100_000) {
        Outcome::Failed(UploadError::SourceChanged(SourceChange::Modified { detail })) => {
            assert!(detail.contains("digests"), "{detail}");
        }
        other => panic!("{other:?}\n{}", sim.transcript.join("\n")),
    }
    assert_eq!(sim.server.counters.commits, 0);
}

#[test]
fn a_part_to_send_needs_its_bytes() {
    use std::time::Instant;
    let now = Instant::now();
    let target = Target::NewFile {
        folder_id: "0".into(),
        name: "f.bin".into(),
    };
    let source = Source {
        size: 30_000_000,
        fingerprint: None,
    };
    let mut up = Upload::new(target, source, config(), now).unwrap();
    let Output::Request(req) = up.poll_output() else {
        panic!("the create first")
    };
    let body = r#"{"id":"S1","type":"upload_session","part_size":8388608,"total_parts":4,"num_parts_processed":0,"session_expires_at":"2099-01-01T00:00:00Z","session_endpoints":{}}"#;
    let response = http::Response::builder()
        .status(201)
        .body(bytes::Bytes::from(body))
        .unwrap();
    up.handle_input(
        now,
        Input::Response {
            id: req.id,
            response,
        },
    )
    .unwrap();
    let read = loop {
        match up.poll_output() {
            Output::Read(r) => break r,
            Output::Wait(_) | Output::Done(_) => panic!("no read"),
            _ => {}
        }
    };
    assert_eq!(read.purpose, ReadPurpose::Upload);
    let mut chain = box_chunked_sha1::DualSha1::new(box_chunked_sha1::Backend::detect());
    let before = chain.clone();
    chain.update(&vec![0u8; 8 << 20]);
    let hashes = Box::new(PartHashes {
        part_sha1: chain.finish_part(),
        before,
        after: chain,
    });
    let e = up
        .handle_input(
            now,
            Input::Digested {
                id: read.id,
                hashes,
            },
        )
        .unwrap_err();
    assert!(matches!(e, InputError::NeedsBytes(_)), "{e}");
}
