//! Self-tuning parallelism against the real server: the limit rises while
//! parts take no longer with more of them out (the link model's processing
//! time per part, and nothing shared), and a `429` halves it at once.

use crate::client::{check_download, client};
use box_chunked_core::tune::Tuning;
use box_chunked_core::{Event, Target};
use box_chunked_hyper::{UploadEvent, UploadSource};
use box_chunked_server::link::LinkModel;
use box_chunked_tests::*;
use bytes::Bytes;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

fn new_file(name: &str) -> Target {
    Target::NewFile {
        folder_id: "0".into(),
        name: name.into(),
    }
}

fn tuning(start: usize, min: usize) -> Tuning {
    Tuning {
        start: NonZeroUsize::new(start).unwrap(),
        min: NonZeroUsize::new(min).unwrap(),
        ..Tuning::default()
    }
}

/// Uploads `parts` parts of 4 KiB through `link`, with `faults`; returns
/// the events.
async fn upload(parts: usize, link: &str, faults: &str, tune: Tuning) -> Vec<UploadEvent> {
    let link = LinkModel::parse(link).unwrap();
    let faults = box_chunked_server::faults::FaultSpec::parse(faults).unwrap();
    let ts = TestServer::start(move |c| {
        c.part_size = Some(4096);
        c.link = link;
        c.faults = faults;
    })
    .await;
    let c = client(&ts);
    let data = Bytes::from(pseudo_random(4096 * parts, 31));
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let f = c
        .uploader()
        .tuning(tune)
        .on_event(move |e| ev.lock().unwrap().push(e.clone()))
        .upload(new_file("tuned.bin"), UploadSource::Bytes(data.clone()))
        .await
        .unwrap();
    check_download(&c, &f.id, &data).await;
    let events = events.lock().unwrap().clone();
    events
}

fn limits(events: &[UploadEvent]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            UploadEvent::Core(Event::ParallelismChanged { parts }) => Some(*parts),
            _ => None,
        })
        .collect()
}

/// Every part waits 100 ms at the server and shares nothing: more parts
/// out cost no part any time, so the limit climbs from 2 to its maximum,
/// and the parts in flight follow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_rises_while_more_parts_cost_no_time() {
    let events = upload(120, "part=100ms", "", tuning(2, 1)).await;
    let limits = limits(&events);
    assert_eq!(limits.iter().max(), Some(&32), "{limits:?}");
    let in_flight = events
        .iter()
        .filter_map(|e| match e {
            UploadEvent::Progress {
                parts_in_flight, ..
            } => Some(*parts_in_flight),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    assert!(in_flight > 8, "at most {in_flight} parts were in flight");
}

/// A `429` on a part halves the limit at once, below the floor, for as long
/// as the pause and again as long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_halves_the_limit() {
    let events = upload(40, "part=20ms", "part:429=1@#3", tuning(8, 4)).await;
    let at = events
        .iter()
        .position(|e| matches!(e, UploadEvent::Core(Event::Throttled { .. })))
        .expect("a throttle");
    let next = events[at..].iter().find_map(|e| match e {
        UploadEvent::Core(Event::ParallelismChanged { parts }) => Some(*parts),
        _ => None,
    });
    let before = limits(&events[..at]).last().copied().unwrap_or(8);
    assert_eq!(next, Some(before / 2), "{:?}", limits(&events));
}
