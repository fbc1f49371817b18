//! The link model's text form: profiles, settings, errors, and a property
//! test that the canonical form reads back as the same model.

use super::*;
use proptest::prelude::*;

#[test]
fn profiles_carry_their_numbers_and_box_limits() {
    let m = LinkModel::parse("transatlantic").unwrap();
    assert_eq!(m.conn_rate, Some(3_000_000));
    assert_eq!(m.total_rate, Some(50_000_000));
    assert_eq!(m.rtt, Duration::from_millis(90));
    assert_eq!(m.part_time, Duration::from_millis(150));
    assert_eq!(
        (m.api_per_minute, m.uploads_per_minute),
        (Some(1000), Some(240))
    );
    let office = LinkModel::parse("office,total=100Mbit,uploads=off,parts=upload").unwrap();
    assert_eq!(office.total_rate, Some(12_500_000));
    assert_eq!(office.uploads_per_minute, None);
    assert_eq!(office.parts, PartsCount::Upload);
    for (name, _) in PROFILES {
        assert!(LinkModel::parse(name).unwrap().is_active(), "{name}");
    }
    assert!(!LinkModel::parse("off").unwrap().is_active());
    assert!(!LinkModel::parse("").unwrap().is_active());
}

#[test]
fn mistakes_are_sentences_that_name_the_setting() {
    for (spec, says) in [
        ("conn=3", "needs a unit"),
        ("conn=3mb", "is not a unit"),
        ("rtt=90", "ms or s"),
        ("rtt=-5ms", "is not a time"),
        ("jitter=2", "fraction from 0 to 1"),
        ("api=0", "whole number of requests per minute"),
        ("parts=some", "api, upload or free"),
        ("speed=3MB", "speed is not a link setting"),
        ("lunar", "neither a profile"),
        ("rtt=5ms,office", "must come first"),
    ] {
        let e = LinkModel::parse(spec).unwrap_err();
        assert!(e.contains(says), "{spec}: {e}");
    }
}

fn model() -> impl Strategy<Value = LinkModel> {
    let rate = prop_oneof![Just(None), (1u64..10_000_000_000).prop_map(Some)];
    let count = prop_oneof![Just(None), (1u32..100_000).prop_map(Some)];
    let parts = prop_oneof![
        Just(PartsCount::Api),
        Just(PartsCount::Upload),
        Just(PartsCount::Free)
    ];
    (
        (rate.clone(), rate, 0u64..600_000, 0u64..600_000),
        (0u32..=100, count.clone(), count, parts, any::<u64>()),
    )
        .prop_map(
            |((conn, total, rtt, part), (jitter, api, uploads, parts, seed))| LinkModel {
                conn_rate: conn,
                total_rate: total,
                rtt: Duration::from_millis(rtt),
                part_time: Duration::from_millis(part),
                jitter: f64::from(jitter) / 100.0,
                api_per_minute: api,
                uploads_per_minute: uploads,
                parts,
                seed,
            },
        )
}

proptest! {
    #[test]
    fn the_canonical_form_reads_back(m in model()) {
        let text = m.to_string();
        prop_assert_eq!(LinkModel::parse(&text).unwrap(), m, "{}", text);
    }
}
