//! The measuring client behind `cargo xtask bench` (run it through xtask).
//!
//! ```text
//! bench upload URL TOKEN (--file PATH | --generate BYTES) --parallel N [--ca-cert PEM] [--http1-only]
//! bench limits [--bytes N] [--dir DIR]
//! bench certs DIR
//! ```
//!
//! Each prints one JSON line. `upload` reports wall seconds, this process's
//! CPU seconds (user + system, from /proc/self/stat) and peak RSS (VmHWM):
//! the client alone, the server being another process. `limits` measures one
//! core's SHA-1 rate, the two-digest rate of the hashing path the core uses,
//! loopback HTTP PUT throughput to a server that discards the bytes, and
//! (with `--dir`) the disk's rate for 32 MiB files written and fsynced four at
//! a time, as the durable server stores parts, and the floors of the CPU
//! table: one copy of every byte, and the TLS provider's AES-256-GCM
//! sealing and opening 16 KiB records. `certs` writes a test CA and
//! a certificate it signed for 127.0.0.1 (`ca.pem`, `cert.pem`, `key.pem`)
//! for the HTTPS rows.

use box_chunked_hyper::{BoxClient, Target, UploadSource};
use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, ReadBuf};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn proc_stats() -> (f64, u64) {
    // utime and stime are fields 14 and 15 of /proc/self/stat, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let cpu = (ticks(11) + ticks(12)) as f64 / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, hwm_kib * 1024)
}

/// Pseudo-random bytes of a given length, generated as they are read.
struct Generated {
    left: u64,
    state: u64,
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left) as usize;
        let mut chunk = vec![0u8; n];
        for c in chunk.chunks_mut(8) {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let b = (z ^ (z >> 31)).to_le_bytes();
            c.copy_from_slice(&b[..c.len()]);
        }
        buf.put_slice(&chunk);
        self.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}

async fn upload(args: &[String]) {
    let url = &args[1];
    let token = &args[2];
    let parallel: usize = arg(args, "--parallel")
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut builder = BoxClient::builder()
        .token(token.clone())
        .base_url(url)
        .http1_only(args.iter().any(|a| a == "--http1-only"));
    if let Some(ca) = arg(args, "--ca-cert") {
        builder = builder.root_certificates_pem(std::fs::read(ca).expect("CA file"));
    }
    let client = builder.build().expect("client");
    let name = format!("bench-{}-{}.bin", std::process::id(), parallel);
    let target = Target::NewFile {
        folder_id: "0".into(),
        name,
    };
    let (source, bytes) = if let Some(path) = arg(args, "--file") {
        let n = std::fs::metadata(&path).expect("file").len();
        (UploadSource::Path(path.into()), n)
    } else {
        let n: u64 = arg(args, "--generate")
            .and_then(|v| v.parse().ok())
            .expect("--file or --generate");
        (
            UploadSource::Reader(Box::new(Generated { left: n, state: 7 }), n),
            n,
        )
    };
    let started = Instant::now();
    let file = client
        .uploader()
        .parallelism(parallel)
        .upload(target, source)
        .await
        .expect("upload");
    let secs = started.elapsed().as_secs_f64();
    let (cpu, rss) = proc_stats();
    assert_eq!(file.size, Some(bytes));
    println!(
        "{{\"kind\":\"upload\",\"bytes\":{bytes},\"parallel\":{parallel},\"secs\":{secs:.4},\"cpu_secs\":{cpu:.3},\"peak_rss\":{rss}}}"
    );
}

async fn limits(args: &[String]) {
    let n: usize = arg(args, "--bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(512 << 20);
    let data: Vec<u8> = (0..n)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes()[7])
        .collect();
    // One core's SHA-1 rate, in 1 MiB pieces as the core hashes.
    let t = Instant::now();
    let mut h = Sha1::new();
    for piece in data.chunks(1 << 20) {
        h.update(piece);
    }
    let _ = h.finalize();
    let sha1_rate = n as f64 / t.elapsed().as_secs_f64();
    // The core's hashing path: part and whole-file digests in one pass (32 MiB parts).
    use box_chunked_hyper::core::sha1x2::{Backend, DualSha1};
    let t = Instant::now();
    let mut dual = DualSha1::new(Backend::detect());
    for part in data.chunks(32 << 20) {
        for piece in part.chunks(1 << 20) {
            dual.update(piece);
        }
        let _ = dual.finish_part();
    }
    let _ = dual.finish_file();
    let two_digest_rate = n as f64 / t.elapsed().as_secs_f64();
    // Two separate hashers, for comparison.
    let t = Instant::now();
    let mut whole = Sha1::new();
    for part in data.chunks(32 << 20) {
        let mut p = Sha1::new();
        for piece in part.chunks(1 << 20) {
            p.update(piece);
            whole.update(piece);
        }
        let _ = p.finalize();
    }
    let _ = whole.finalize();
    let two_hashers_rate = n as f64 / t.elapsed().as_secs_f64();
    let copy_rate = copy_rate(&data);
    let (seal_rate, open_rate) = aes_gcm_rates(&data);
    // What the disk takes: 32 MiB files written and fsynced, 4 at a time,
    // as the durable server stores parts.
    let disk_rate = match arg(args, "--dir") {
        Some(dir) => disk_rate(std::path::Path::new(&dir), &data, 4),
        None => f64::NAN,
    };
    // Loopback HTTP PUT throughput to a server that discards the bytes.
    let put_rate = put_to_discard(Bytes::from(data), 4).await;
    println!(
        "{{\"kind\":\"limits\",\"bytes\":{n},\"sha1_bytes_per_sec\":{sha1_rate:.0},\"two_digest_bytes_per_sec\":{two_digest_rate:.0},\"two_hashers_bytes_per_sec\":{two_hashers_rate:.0},\"put_bytes_per_sec\":{put_rate:.0},\"disk_bytes_per_sec\":{disk_rate:.0},\"copy_bytes_per_sec\":{copy_rate:.0},\"seal_bytes_per_sec\":{seal_rate:.0},\"open_bytes_per_sec\":{open_rate:.0}}}"
    );
}

/// One copy of every byte: `data` copied in 256 KiB pieces into one reused
/// buffer, as bytes move into a socket's buffer.
fn copy_rate(data: &[u8]) -> f64 {
    let mut to = vec![0u8; 256 << 10];
    let t = Instant::now();
    for piece in data.chunks(to.len()) {
        to[..piece.len()].copy_from_slice(piece);
        std::hint::black_box(&mut to);
    }
    data.len() as f64 / t.elapsed().as_secs_f64()
}

/// The TLS provider's AES-256-GCM (rustls with ring, TLS 1.3's first
/// suite): bytes per second sealed into 16 KiB records, as a client sends,
/// and opened in place, as a server receives.
fn aes_gcm_rates(data: &[u8]) -> (f64, f64) {
    use rustls::crypto::cipher::{
        AeadKey, InboundOpaqueMessage, Iv, OutboundChunks, OutboundPlainMessage,
    };
    use rustls::{ContentType, ProtocolVersion, SupportedCipherSuite};
    let SupportedCipherSuite::Tls13(suite) =
        rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384
    else {
        return (f64::NAN, f64::NAN);
    };
    let iv = [9u8; 12];
    let mut seal = suite
        .aead_alg
        .encrypter(AeadKey::from([7u8; 32]), Iv::new(iv));
    let mut sealed = |seq: usize, rec: &[u8]| {
        let msg = OutboundPlainMessage {
            typ: ContentType::ApplicationData,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(rec),
        };
        seal.encrypt(msg, seq as u64).expect("seal").encode()
    };
    // Each record dropped once sealed, as rustls drops it once written:
    // the allocator hands the same memory back (no fresh pages timed).
    let t = Instant::now();
    for (seq, rec) in data.chunks(16 << 10).enumerate() {
        drop(std::hint::black_box(sealed(seq, rec)));
    }
    let seal_rate = data.len() as f64 / t.elapsed().as_secs_f64();
    let mut records: Vec<Vec<u8>> = data
        .chunks(16 << 10)
        .enumerate()
        .map(|(seq, rec)| sealed(seq, rec))
        .collect();
    let mut open = suite
        .aead_alg
        .decrypter(AeadKey::from([7u8; 32]), Iv::new(iv));
    let t = Instant::now();
    for (seq, rec) in records.iter_mut().enumerate() {
        let msg = InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            &mut rec[5..],
        );
        std::hint::black_box(open.decrypt(msg, seq as u64).expect("open"));
    }
    let open_rate = data.len() as f64 / t.elapsed().as_secs_f64();
    (seal_rate, open_rate)
}

/// Bytes per second written to `dir` as 32 MiB files, each fsynced, by
/// `parallel` threads (the files are removed afterwards).
fn disk_rate(dir: &std::path::Path, data: &[u8], parallel: usize) -> f64 {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).expect("disk dir");
    let parts: Vec<&[u8]> = data.chunks(32 << 20).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(part) = parts.get(i) else { return };
                let path = dir.join(format!("part-{i}"));
                let mut f = std::fs::File::create(&path).expect("create");
                for piece in part.chunks(1 << 20) {
                    f.write_all(piece).expect("write");
                }
                f.sync_all().expect("fsync");
            });
        }
    });
    let rate = data.len() as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(dir);
    rate
}

async fn put_to_discard(data: Bytes, parallel: usize) -> f64 {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let mut body = req.into_body();
                        while let Some(f) = body.frame().await {
                            f?;
                        }
                        Ok::<_, hyper::Error>(http::Response::new(
                            http_body_util::Empty::<Bytes>::new(),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let part = 32 << 20;
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let chunks: Vec<Bytes> = (0..data.len().div_ceil(part))
        .map(|i| data.slice(i * part..((i + 1) * part).min(data.len())))
        .collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(chunks.into_iter()));
    for _ in 0..parallel {
        let (client, queue) = (client.clone(), queue.clone());
        tasks.spawn(async move {
            loop {
                let next = queue.lock().expect("queue").next();
                let Some(b) = next else { return };
                let req = http::Request::put(format!("http://{addr}/discard"))
                    .body(http_body_util::Full::new(b))
                    .expect("req");
                let resp = client.request(req).await.expect("put");
                let _ = resp.into_body().collect().await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    data.len() as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("upload") if args.len() >= 3 => upload(&args).await,
        Some("limits") => limits(&args).await,
        Some("certs") if args.len() >= 2 => certs(std::path::Path::new(&args[1])),
        _ => {
            eprintln!("usage: bench upload URL TOKEN (--file PATH | --generate BYTES) --parallel N [--ca-cert PEM] [--http1-only] | bench limits [--bytes N] [--dir DIR] | bench certs DIR");
            std::process::exit(2);
        }
    }
}

/// A test CA and a certificate it signed for 127.0.0.1, as PEM files in `dir`.
fn certs(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("parameters");
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let key = KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca).expect("certificate");
    std::fs::create_dir_all(dir).expect("directory");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert.pem");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key.pem");
    println!("{{\"kind\":\"certs\"}}");
}
