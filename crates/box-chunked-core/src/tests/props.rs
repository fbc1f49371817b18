//! Property tests over random sizes, windows and fault schedules.

use super::sim::*;
use crate::*;
use proptest::prelude::*;
use std::num::NonZeroUsize;
use std::time::Instant;

struct Case {
    size: u64,
    part_size: u64,
    parallelism: usize,
    chaos: Option<(u64, u32)>,
    seed: u64,
    shuffle_reads: bool,
    /// The driver pre-hashes reads it can (and offers a wrong chain to one
    /// in four when `Some(true)`).
    prehash: Option<bool>,
}

fn run_case(c: &Case) -> Sim {
    let epoch = Instant::now();
    let mut server = SimBox::new(c.part_size, epoch).with_seed(c.seed);
    server.chaos = c.chaos;
    let cfg = UploadConfig {
        upload_root: ROOT.into(),
        parallelism: NonZeroUsize::new(c.parallelism).unwrap(),
        jitter_seed: c.seed,
        ..UploadConfig::default()
    };
    let source = source_bytes(c.size, c.seed);
    let target = Target::NewFile {
        folder_id: "0".into(),
        name: "p.bin".into(),
    };
    let up = Upload::new(
        target,
        Source {
            size: c.size,
            fingerprint: None,
        },
        cfg,
        epoch,
    )
    .unwrap();
    let mut sim = Sim::new(up, server, source, epoch);
    sim.record = false;
    if c.shuffle_reads {
        sim.read_jitter = Some(crate::retry::Jitter::new(c.seed ^ 0xabc));
    }
    if let Some(lie) = c.prehash {
        sim.prehash = Some(PreHash {
            chain: box_chunked_sha1::DualSha1::new(box_chunked_sha1::Backend::detect()),
            offered: 0,
            lie: lie.then(|| crate::retry::Jitter::new(c.seed ^ 0x11e)),
            lies: 0,
            digests_only: false,
            lie_digests: false,
            digested: 0,
        });
    }
    sim
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let mut sim = run_case(c);
    let outcome = sim.run(2_000_000);
    let Outcome::Committed(file) = outcome else {
        return Err(TestCaseError::fail(format!("not committed: {outcome:?}")));
    };
    // The committed digest is the SHA-1 of the source, and the stored bytes are the source.
    prop_assert_eq!(file.sha1, Some(sim.source_sha1()));
    let (_, content) = sim.server.files.get(&file.id).unwrap();
    prop_assert_eq!(content, &sim.source);
    // The committed parts tile the file exactly once (the server checks the
    // commit list equals its stored parts; each part was stored once).
    let total = c.size.div_ceil(c.part_size);
    prop_assert_eq!(sim.server.counters.parts_stored, total);
    prop_assert_eq!(sim.server.stored_parts() as u64, total);
    // A part acknowledged to the client is never sent again.
    prop_assert_eq!(sim.server.counters.resent_after_ack, 0);
    // The window and the memory bound held at every step.
    prop_assert!(sim.max_parts_in_flight <= c.parallelism);
    prop_assert!(sim.max_bytes_held <= (c.parallelism as u64 + 1) * c.part_size);
    // Done is sticky.
    prop_assert!(matches!(
        sim.upload.poll_output(),
        Output::Done(Outcome::Committed(_))
    ));
    sim.upload.handle_input(sim.now, Input::Timeout).unwrap();
    prop_assert!(matches!(
        sim.upload.poll_output(),
        Output::Done(Outcome::Committed(_))
    ));
    Ok(())
}

/// Cases per property: 256, or `BOX_CHUNKED_PROPTEST_CASES` (tests may read
/// the environment; the machine never does).
fn cases() -> u32 {
    option_env_cases().unwrap_or(256)
}

fn option_env_cases() -> Option<u32> {
    std::env::var("BOX_CHUNKED_PROPTEST_CASES")
        .ok()?
        .parse()
        .ok()
}

proptest! {
    // 256 cases on a normal run; `BOX_CHUNKED_PROPTEST_CASES=4096` for a deep run.
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Random sizes (exact multiples, 1-byte last parts, single parts),
    /// windows, read completion orders, and no faults.
    #[test]
    fn clean_runs(parts in 1u64..40, extra in 0u64..64, part_size in prop_oneof![Just(64u64), 1u64..200],
                  parallelism in 1usize..7, seed in any::<u64>(), shuffle in any::<bool>()) {
        let size = (parts - 1) * part_size + extra.min(part_size - 1) + 1;
        check(&Case { size, part_size, parallelism, chaos: None, seed, shuffle_reads: shuffle, prehash: None })?;
    }

    /// A driver that hashes while reading (in read order, like the hyper
    /// driver's reader thread), sometimes offering a chain that is not the
    /// machine's: the commit digest is still the source's, the honest offers
    /// made in order are adopted, and the wrong ones never are.
    #[test]
    fn prehashed_runs(parts in 1u64..30, extra in 0u64..64, blocks in 1u64..4,
                      parallelism in 1usize..6, seed in any::<u64>(), shuffle in any::<bool>(),
                      lie in any::<bool>(), per_mille in prop_oneof![Just(0u64), 50u64..300]) {
        let part_size = blocks * 64;
        let size = (parts - 1) * part_size + extra.min(part_size - 1) + 1;
        let chaos = (per_mille > 0).then_some((per_mille, 3));
        let mut sim = run_case(&Case { size, part_size, parallelism, chaos, seed, shuffle_reads: shuffle, prehash: Some(lie) });
        let outcome = sim.run(2_000_000);
        let Outcome::Committed(file) = outcome else {
            return Err(TestCaseError::fail(format!("not committed: {outcome:?}")));
        };
        prop_assert_eq!(file.sha1, Some(sim.source_sha1()));
        let p = sim.prehash.as_ref().unwrap();
        let adopted = sim.upload.progress().parts_hashed_by_driver;
        prop_assert!(adopted <= p.offered - p.lies);
        if !shuffle && !lie {
            // Reads answered in order: every part was hashed by the driver.
            prop_assert_eq!(adopted, parts);
        }
    }

    /// The same under random fault schedules: resets, 5xx, 429 with
    /// Retry-After, lost responses, slow responses, 202s, transient
    /// parts_mismatch, at most 3 faults per request so each run can finish.
    #[test]
    fn faulty_runs(parts in 1u64..30, extra in 0u64..64, part_size in 1u64..128,
                   parallelism in 1usize..6, seed in any::<u64>(), per_mille in 50u64..400) {
        let size = (parts - 1) * part_size + extra.min(part_size - 1) + 1;
        check(&Case { size, part_size, parallelism, chaos: Some((per_mille, 3)), seed, shuffle_reads: true, prehash: None })?;
    }
}
