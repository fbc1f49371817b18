//! How the uploader reads a file source: the reader thread reads and
//! hashes every part in the machine's order, so the state machine hashes
//! none again.

use crate::client::{check_download, client};
use box_chunked_core::Target;
use box_chunked_hyper::{UploadEvent, UploadSource};
use box_chunked_tests::*;
use std::sync::{Arc, Mutex};

fn new_file(name: &str) -> Target {
    Target::NewFile {
        folder_id: "0".into(),
        name: name.into(),
    }
}

/// A file's parts are read and hashed by the reader thread in the
/// machine's order, every one of them, however many reads are awaited at
/// once (one task per read used to reach the thread out of order, and the
/// state machine then hashed most parts again after the fact).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_hashes_every_part_of_a_file_as_it_reads() {
    let ts = TestServer::start(|c| c.part_size = Some(4096)).await;
    let c = client(&ts);
    let dir = TempDir::new("hashed");
    let path = dir.path().join("f.bin");
    let data = pseudo_random(4096 * 300, 12);
    std::fs::write(&path, &data).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let f = c
        .uploader()
        .parallelism(8)
        .on_event(move |e| ev.lock().unwrap().push(e.clone()))
        .upload(new_file("hashed.bin"), UploadSource::Path(path))
        .await
        .unwrap();
    check_download(&c, &f.id, &data).await;
    let hashing = events.lock().unwrap().iter().find_map(|e| match e {
        UploadEvent::Hashing {
            parts_hashed_while_read,
            parts,
        } => Some((*parts_hashed_while_read, *parts)),
        _ => None,
    });
    assert_eq!(hashing, Some((300, 300)));
}
