//! Server ingest throughput over loopback: one 1 GiB upload with 4 parallel
//! parts at the server's default part size (32 MiB for 1 GiB), raw HTTP.
//! The client's part digests are computed before the clock starts, so the
//! number is the server's: receive, hash, write, fsync, record.
//!
//! `cargo bench -p box-chunked-tests --bench ingest [-- --size BYTES --runs N]`

use box_chunked_tests::*;
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let size = arg("--size", 1 << 30) as usize;
    let runs = arg("--runs", 3);
    let parallel = arg("--parallel", 4) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data = Bytes::from(pseudo_random(size, 1));
    let whole = digest(&data);
    let mut ingest = Vec::new();
    let mut commits = Vec::new();
    for run in 0..runs {
        let (ingest_s, commit_s) = rt.block_on(async {
            let ts = TestServer::start(|c| c.part_size = None).await;
            let http = Http::new();
            let r = http
                .post(&format!("{}/files/upload_sessions", ts.upload_root())).bearer(ALICE).body(json!({"folder_id": "0", "file_size": size, "file_name": format!("bench{run}.bin")}).to_string()).send()
                .await;
            let s = r.json();
            let part = s["part_size"].as_u64().expect("part_size") as usize;
            let url = s["session_endpoints"]["upload_part"].as_str().expect("url").to_owned();
            let commit_url = s["session_endpoints"]["commit"].as_str().expect("url").to_owned();
            let parts: Vec<(usize, Bytes, String)> = (0..size.div_ceil(part))
                .map(|i| {
                    let b = data.slice(i * part..((i + 1) * part).min(size));
                    let d = digest(&b);
                    (i * part, b, d)
                })
                .collect();
            let queue = Arc::new(std::sync::Mutex::new(parts.into_iter()));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..parallel {
                let (http, url, queue) = (http.clone(), url.clone(), queue.clone());
                tasks.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        let next = queue.lock().expect("queue").next();
                        let Some((off, b, d)) = next else { return out };
                        let r = http
                            .put(&url).bearer(ALICE).headers(&[("content-range", format!("bytes {}-{}/{}", off, off + b.len() - 1, size)), ("digest", d)]).body(b).send()
                            .await;
                        assert_eq!(r.status, 200, "{:?}", r.json());
                        out.push(r.json()["part"].clone());
                    }
                }));
            }
            let mut listed = Vec::new();
            for t in tasks {
                listed.extend(t.await.expect("task"));
            }
            let ingest_s = started.elapsed().as_secs_f64();
            listed.sort_by_key(|p| p["offset"].as_u64());
            let started = Instant::now();
            let r = http.post(&commit_url).bearer(ALICE).headers(&[("digest", whole.clone())]).body(json!({"parts": listed}).to_string()).send().await;
            assert_eq!(r.status, 201, "{:?}", r.json());
            let commit_s = started.elapsed().as_secs_f64();
            drop(ts);
            (ingest_s, commit_s)
        });
        eprintln!("run {run}: ingest {ingest_s:.3} s, commit {commit_s:.3} s");
        ingest.push(ingest_s);
        commits.push(commit_s);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (i, c) = (median(&mut ingest), median(&mut commits));
    println!(
        "{{\"bench\":\"server_ingest\",\"bytes\":{size},\"parallel\":{parallel},\"runs\":{runs},\"ingest_s\":{i:.3},\"ingest_gb_per_s\":{:.3},\"commit_s\":{c:.3}}}",
        size as f64 / i / 1e9
    );
}
