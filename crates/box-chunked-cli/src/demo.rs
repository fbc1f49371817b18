//! `box-chunked demo`: a generated file uploaded to the embedded server,
//! downloaded back and compared.

use crate::args::DemoArgs;
use crate::connect::random_token;
use crate::failure::{exit, explain, Failure};
use crate::upload::with_progress;
use crate::values::Parallel;
use box_chunked_hyper::BoxClient;
use box_chunked_server::{Server, ServerConfig};
use sha1::Digest as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

pub(crate) async fn demo(args: DemoArgs) -> Result<(), Failure> {
    if args.size == 0 {
        return Err(Failure::new(exit::USAGE, "--size must be positive"));
    }
    let work = std::env::temp_dir().join(format!("box-chunked-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!("cannot create {}: {e}", work.display()),
        )
    })?;
    let result = demo_in(&work, &args).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

pub(crate) async fn demo_in(work: &Path, args: &DemoArgs) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::new(exit::FAILED, format!("demo: {e}"));
    // 1. A file of pseudo-random bytes.
    let path = work.join("demo.bin");
    eprintln!(
        "1/4 writing {} MiB of pseudo-random bytes to {}",
        args.size / 1048576,
        path.display()
    );
    let source_sha = write_demo_file(&path, args.size).map_err(io)?;
    // 2. The local server.
    let token = random_token()?;
    let mut cfg = ServerConfig::new(work.join("server"));
    cfg.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.tokens = vec![(token.clone(), "demo".to_owned())];
    cfg.min_file_size = 1;
    let server = Server::bind(cfg)
        .await
        .map_err(|e| Failure::new(exit::FAILED, format!("demo server: {e}")))?;
    eprintln!("2/4 local box-chunked server at {}", server.url());
    let client = BoxClient::builder()
        .token(token)
        .base_url(server.url())
        .build()
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    let running = server.spawn();
    // 3. Upload.
    match args.parallel {
        Parallel::Auto => eprintln!("3/4 uploading, parts in flight tuned as it goes"),
        Parallel::Fixed(n) => eprintln!("3/4 uploading with {n} parts in flight"),
    }
    let (uploader, progress) = with_progress(
        args.parallel.apply(client.uploader(), args.max_memory),
        args.size,
        true,
        true,
    );
    let started = Instant::now();
    let uploaded = uploader.upload_file("0", "demo.bin", &path).await;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    progress.finish();
    let file = uploaded.map_err(|e| explain(&e, "the demo file"))?;
    // 4. Download through the server's API and compare.
    eprintln!("4/4 downloading file {} back and comparing SHA-1", file.id);
    let (size, sha) = client
        .download_sha1(&file.id)
        .await
        .map_err(|e| explain(&e, "the demo file"))?;
    let _ = running.shutdown().await;
    if size != args.size || sha != source_sha || file.sha1 != Some(source_sha) {
        return Err(Failure::new(
            exit::FAILED,
            format!("SHA-1 mismatch: source {source_sha}, committed {}, downloaded {sha} ({size} bytes)", file.sha1.map_or_else(|| "none".to_owned(), |s| s.to_hex())),
        ));
    }
    println!(
        "demo: uploaded {} bytes as file {} in {:.2} s ({:.1} MiB/s); downloaded SHA-1 {} matches the source",
        args.size,
        file.id,
        secs,
        args.size as f64 / 1048576.0 / secs,
        sha
    );
    Ok(())
}

/// Writes `size` pseudo-random bytes (SplitMix64) to `path` and returns their SHA-1.
fn write_demo_file(path: &Path, size: u64) -> std::io::Result<box_chunked_proto::Sha1Digest> {
    use std::io::Write as _;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut h = sha1::Sha1::new();
    let mut state = 0x0123_4567_89ab_cdefu64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for c in buf.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            c.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    f.flush()?;
    Ok(box_chunked_proto::Sha1Digest(h.finalize().into()))
}
