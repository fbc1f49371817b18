//! A new version sent as its changes: what the command says of it is
//! true. The parts the plan found are "already on Box", the changed one
//! sent while the file was read is named and counted in "sent" (and paced
//! by `--bwlimit`), and the `--stats` bytes read are the file once plus
//! that part.

use crate::support::*;
use box_chunked_tests::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_says_what_it_sent() {
    let s = Serve::start(&["--min-file-size", "1", "--part-size", "1048576"]);
    let home = TempDir::new("cli-delta");
    let (path, mut data) = write_file(home.path(), "v.bin", 6 * MIB + 100, 31);
    let o = cli(&s, home.path())
        .args(["upload", "--json", "--no-progress"])
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let id = last_json(&o)["id"].as_str().unwrap().to_owned();
    data[3 * MIB + 9] ^= 0xff; // part 3 of 7
    std::fs::write(&path, &data).unwrap();
    let o = cli(&s, home.path())
        .args(["upload", "--file", &id, "--stats"])
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .arg(&path)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(s.download_sha1(&id).await, sha1(&data));
    assert!(
        err.contains("6 of 7 parts were already on Box and 1 changed part (1.00 MiB) was sent while the file was read; all 7 verified"),
        "{err}"
    );
    assert!(err.contains("sent 1.00 MiB of 6.00 MiB"), "{err}");
    let stats: Value = err
        .lines()
        .find_map(|l| l.strip_prefix("stats: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no stats line in {err}"));
    assert_eq!(stats["bytes_read"], data.len() + MIB, "{stats}");
    // `--bwlimit` paces the parts sent while the file is read too: 1 MiB
    // at 1M, less the throttle's burst of 256 KiB, takes at least 0.75 s
    // (unpaced, the whole command took 0.2 s).
    data[5 * MIB + 1] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let started = std::time::Instant::now();
    let o = cli(&s, home.path())
        .args(["upload", "--file", &id, "--bwlimit", "1M", "--no-progress"])
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .arg(&path)
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("1 changed part (1.00 MiB) was sent"), "{err}");
    assert!(
        took >= std::time::Duration::from_millis(700),
        "1 MiB at --bwlimit 1M took {took:?}"
    );
    assert_eq!(s.download_sha1(&id).await, sha1(&data));
}
