//! The results section of `docs/performance.md`, written from the records.

use super::{DEFAULT_PART, SCALE_PART};
use serde_json::{json, Value};
use std::path::Path;

pub(super) fn mib(v: &Value) -> String {
    format!(
        "{:.0} MiB",
        v.as_f64().unwrap_or(f64::NAN) / (1 << 20) as f64
    )
}

pub(super) fn pct(v: &Value) -> String {
    format!("{:.0}%", v.as_f64().unwrap_or(f64::NAN) * 100.0)
}

pub(super) fn one_pass(r: &Value) -> String {
    match (
        r["server_parts_one_pass"].as_u64(),
        r["server_parts"].as_u64(),
    ) {
        (Some(a), Some(b)) if b > 0 => format!("{a}/{b}"),
        _ => "-".to_owned(),
    }
}

pub(super) fn f(v: &Value, digits: usize) -> String {
    format!("{:.*}", digits, v.as_f64().unwrap_or(f64::NAN))
}

/// Everything the results section is written from.
pub(super) struct Records<'a> {
    pub(super) meta: &'a Value,
    pub(super) quick: bool,
    pub(super) limits: &'a Value,
    pub(super) ours: &'a [Value],
    pub(super) peers: &'a [Value],
    pub(super) scale: &'a [Value],
    pub(super) transport: &'a [Value],
    /// Rows written elsewhere (many files, bandwidth limit).
    pub(super) extra: &'a str,
}

/// Writes the results section of `docs/performance.md`: one table after
/// another, then the targets.
pub(super) fn write_markdown(root: &Path, r: &Records<'_>) -> Result<(), String> {
    let mut md = String::new();
    header(&mut md, r);
    limits_table(&mut md, r.limits);
    ours_table(&mut md, r.ours);
    peers_table(&mut md, r.ours, r.peers);
    transport_table(&mut md, r.transport);
    floors_table(&mut md, r.limits, r.transport);
    md.push_str(r.extra);
    scale_table(&mut md, r.scale);
    targets(&mut md, r);
    splice(root, &md)
}

fn header(md: &mut String, r: &Records<'_>) {
    let (meta, quick) = (r.meta, r.quick);
    md.push_str(&format!(
        "Measured {} on {} ({} cores), commit {}{}.\n\n",
        meta["date"].as_str().unwrap_or(""),
        meta["cpu"].as_str().unwrap_or(""),
        meta["cores"],
        meta["commit"].as_str().unwrap_or(""),
        if quick {
            ", `--quick` (256 MiB, one run)"
        } else {
            ", medians of 3 runs"
        }
    ));
}

fn limits_table(md: &mut String, limits: &Value) {
    let sha = limits["sha1_bytes_per_sec"].as_f64().unwrap_or(f64::NAN);
    md.push_str("### Limits\n\n| what | GB/s | ratio to one core's SHA-1 |\n| --- | --- | --- |\n");
    for (name, key) in [
        ("SHA-1, one core (`sha1` crate)", "sha1_bytes_per_sec"),
        (
            "part + whole-file digests, the core's two-chain path",
            "two_digest_bytes_per_sec",
        ),
        (
            "part + whole-file digests, two separate hashers",
            "two_hashers_bytes_per_sec",
        ),
        (
            "loopback HTTP PUT to a discarding server (4 parallel)",
            "put_bytes_per_sec",
        ),
        (
            "disk: 32 MiB files written and fsynced, 4 at a time",
            "disk_bytes_per_sec",
        ),
        (
            "one copy of every byte (256 KiB pieces)",
            "copy_bytes_per_sec",
        ),
        (
            "AES-256-GCM sealing 16 KiB records (rustls with ring)",
            "seal_bytes_per_sec",
        ),
        (
            "AES-256-GCM opening 16 KiB records (rustls with ring)",
            "open_bytes_per_sec",
        ),
    ] {
        let v = limits[key].as_f64().unwrap_or(f64::NAN);
        md.push_str(&format!("| {name} | {:.2} | {:.2} |\n", v / 1e9, v / sha));
    }
}

fn ours_table(md: &mut String, ours: &[Value]) {
    md.push_str("\nEvery timed run below starts a fresh server (new data directory) after `sync`. \
\"machine busy\" is (client CPU + server CPU) / (cores x wall time); \"ratio at 100% busy\" is the ratio to SHA-1 the same CPU work would reach if it kept every core busy: a ceiling for this machine. \
\"one pass\" counts the parts the durable server hashed into the whole-file SHA-1 as they arrived.\n");
    md.push_str("\n### box-chunked, client and server on this machine\n\n| server | part size | parallel | seconds | GB/s | ratio to SHA-1 | client CPU s/GiB | server CPU s/GiB | machine busy | ratio at 100% busy | client peak RSS | one pass |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in ours {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["server"].as_str().unwrap_or(""),
            r["part_size"].as_str().unwrap_or(""),
            r["parallel"],
            f(&r["secs"], 2),
            f(&r["gb_per_s"], 3),
            f(&r["ratio_to_sha1"], 2),
            f(&r["cpu_secs_per_gib"], 2),
            f(&r["server_cpu_secs_per_gib"], 2),
            pct(&r["machine_busy"]),
            f(&r["cpu_bound_ratio"], 2),
            mib(&r["peak_rss"]),
            one_pass(r),
        ));
    }
}

/// The durable server's fastest time over our settings.
fn best_ours(ours: &[Value]) -> f64 {
    ours.iter()
        .filter(|r| r["server"].as_str() == Some("durable"))
        .filter_map(|r| r["secs"].as_f64())
        .fold(f64::INFINITY, f64::min)
}

fn peers_table(md: &mut String, ours: &[Value], peers: &[Value]) {
    let best_ours = best_ours(ours);
    if !peers.is_empty() {
        md.push_str("\n### Box's Python SDKs, same server, same file, same run\n\n| client | seconds | GB/s | client CPU s/GiB | server CPU s/GiB | machine busy | peak RSS | one pass | box-chunked (durable server, best setting) is faster by |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for r in peers {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1}x |\n",
                r["kind"].as_str().unwrap_or(""),
                f(&r["secs"], 2),
                f(&r["gb_per_s"], 3),
                f(&r["cpu_secs_per_gib"], 2),
                f(&r["server_cpu_secs_per_gib"], 2),
                pct(&r["machine_busy"]),
                mib(&r["peak_rss"]),
                one_pass(r),
                r["secs"].as_f64().unwrap_or(f64::NAN) / best_ours
            ));
        }
    }
}

pub(super) fn transport_table(md: &mut String, transport: &[Value]) {
    if !transport.is_empty() {
        md.push_str("\n### Transports (bench client, verify-only server, parallelism 4, default part size)\n\n| transport | seconds | GB/s | client CPU s/GiB | server CPU s/GiB | client peak RSS | time against plain HTTP/1.1 |\n| --- | --- | --- | --- | --- | --- | --- |\n");
        let plain = transport
            .first()
            .and_then(|r| r["secs"].as_f64())
            .unwrap_or(f64::NAN);
        for r in transport {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.2} |\n",
                r["transport"].as_str().unwrap_or(""),
                f(&r["secs"], 2),
                f(&r["gb_per_s"], 2),
                f(&r["cpu_secs_per_gib"], 2),
                f(&r["server_cpu_secs_per_gib"], 2),
                mib(&r["peak_rss"]),
                r["secs"].as_f64().unwrap_or(f64::NAN) / plain,
            ));
        }
    }
}

/// Client and server CPU per GiB against their floors, from the limits of
/// the same run: the client hashes two SHA-1 chains and copies each byte
/// once (and seals it over HTTPS); the verify-only server hashes one SHA-1
/// and copies each byte once (and opens it over HTTPS).
pub(super) fn floors_table(md: &mut String, limits: &Value, transport: &[Value]) {
    let per_gib = |key: &str| (1u64 << 30) as f64 / limits[key].as_f64().unwrap_or(f64::NAN);
    if transport.is_empty() || limits["copy_bytes_per_sec"].is_null() {
        return;
    }
    md.push_str("
### CPU against its floor (same transports; floors from the limits above)

The client's floor is its two SHA-1 chains plus one copy of every byte, and AES-GCM sealing over HTTPS; the verify-only server's is one SHA-1 plus one copy, and AES-GCM opening over HTTPS. Targets: the client at most 1.4 times its floor over plain HTTP/1.1 and 1.5 times over HTTPS, the TLS server at most 1.5 times.

| transport | client CPU s/GiB | client floor | ratio | target | server CPU s/GiB | server floor | ratio | target |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
");
    for r in transport {
        let name = r["transport"].as_str().unwrap_or("");
        let https = name.starts_with("HTTPS");
        let copy = per_gib("copy_bytes_per_sec");
        let client_floor = per_gib("two_digest_bytes_per_sec")
            + copy
            + if https {
                per_gib("seal_bytes_per_sec")
            } else {
                0.0
            };
        let server_floor = per_gib("sha1_bytes_per_sec")
            + copy
            + if https {
                per_gib("open_bytes_per_sec")
            } else {
                0.0
            };
        let client = r["cpu_secs_per_gib"].as_f64().unwrap_or(f64::NAN);
        let server = r["server_cpu_secs_per_gib"].as_f64().unwrap_or(f64::NAN);
        let (client_target, server_target) = if https { (1.5, "1.5") } else { (1.4, "-") };
        md.push_str(&format!(
            "| {name} | {client:.2} | {client_floor:.2} | {:.2} | {client_target} | {server:.2} | {server_floor:.2} | {:.2} | {server_target} |\n",
            client / client_floor,
            server / server_floor,
        ));
    }
}

fn scale_table(md: &mut String, scale: &[Value]) {
    md.push_str(&format!("\n### Scale (generated source, verify-only server, parallelism 4, {} MiB parts at every size)\n\n| size | runs | seconds | seconds per GiB | client CPU s/GiB | client peak RSS |\n| --- | --- | --- | --- | --- | --- |\n", SCALE_PART >> 20));
    for r in scale {
        md.push_str(&format!(
            "| {} GiB | {} | {} | {} | {} | {} |\n",
            r["gib"],
            r["runs"],
            f(&r["secs"], 2),
            f(&r["secs_per_gib"], 2),
            f(&r["cpu_secs_per_gib"], 2),
            mib(&r["peak_rss"])
        ));
    }
}

/// The worst client peak RSS against (parallelism + 2) x part size + 64
/// MiB over every run of ours, and which run it was.
fn rss_worst(ours: &[Value], scale: &[Value]) -> (f64, String) {
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    // Peak RSS against (parallelism + 2) x part size + 64 MiB, every run of ours.
    let part_of = |r: &Value| -> f64 {
        match r["part_size"].as_str() {
            // The server's default for 256 MiB and 1 GiB files.
            Some(p) if p.starts_with("default") => DEFAULT_PART as f64,
            Some(p) => {
                p.trim_end_matches(" MiB")
                    .parse::<f64>()
                    .unwrap_or(f64::NAN)
                    * (1u64 << 20) as f64
            }
            None => SCALE_PART as f64,
        }
    };
    let (rss_worst, rss_worst_of) = ours
        .iter()
        .chain(scale)
        .map(|r| {
            let parallel = r["parallel"].as_f64().unwrap_or(4.0);
            let bound = (parallel + 2.0) * part_of(r) + (64u64 << 20) as f64;
            (num(&r["peak_rss"]) / bound, r)
        })
        .fold(
            (0f64, None),
            |(w, wr), (x, r)| if x > w { (x, Some(r)) } else { (w, wr) },
        );
    let worst = rss_worst_of.map_or(String::new(), |r| {
        format!(
            " ({} at {}, parallelism {})",
            mib(&r["peak_rss"]),
            r["part_size"]
                .as_str()
                .map_or(format!("{} MiB", SCALE_PART >> 20), str::to_owned),
            r["parallel"].as_u64().unwrap_or(4)
        )
    });
    (rss_worst, worst)
}

/// Issue 7's targets, from the numbers above.
fn targets(md: &mut String, r: &Records<'_>) {
    let (e2e, client_alone, digests, speedup) = ratios(r);
    let (rss_worst, worst) = rss_worst(r.ours, r.scale);
    let (rss_spread, time_spread, sizes) = scale_spread(r.scale);
    let rows = [
        (
            "end to end, 1 GiB, default settings (durable server, 32 MiB parts, parallelism 4) >= 0.48 of SHA-1".to_owned(),
            format!("{e2e:.2}"),
            e2e >= 0.48,
        ),
        (
            "client alone (verify-only server, best parallelism) >= 0.7 of SHA-1".to_owned(),
            format!("{client_alone:.2}"),
            client_alone >= 0.7,
        ),
        (
            "part + whole-file digests >= 0.75 of one hasher".to_owned(),
            format!("{digests:.2}"),
            digests >= 0.75,
        ),
        (
            ">= 3x the faster official Python SDK".to_owned(),
            format!("{speedup:.1}x"),
            speedup >= 3.0,
        ),
        (
            "client peak RSS <= (parallelism + 2) x part size + 64 MiB, every setting".to_owned(),
            format!("at most {rss_worst:.2} of the bound{worst}"),
            rss_worst <= 1.0,
        ),
        (
            format!("peak RSS within 10% from {sizes}"),
            format!("{:+.0}%", rss_spread * 100.0),
            rss_spread <= 0.10,
        ),
        (
            format!("seconds per GiB within 10% from {sizes}"),
            format!("{:+.0}%", time_spread * 100.0),
            time_spread <= 0.10,
        ),
    ];
    md.push_str("\n### Against issue 7's targets (this run)\n\n| target | measured | met |\n| --- | --- | --- |\n");
    for (target, measured, ok) in rows {
        md.push_str(&format!(
            "| {target} | {measured} | {} |\n",
            if ok { "yes" } else { "no" }
        ));
    }
}

/// End to end at the default settings, the client alone (best), the
/// digests (all three against one core's SHA-1) and our speed-up over the
/// faster peer.
fn ratios(r: &Records<'_>) -> (f64, f64, f64, f64) {
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let default_p4 = r
        .ours
        .iter()
        .filter(|r| r["server"].as_str() == Some("durable"))
        .find(|r| {
            r["part_size"]
                .as_str()
                .is_some_and(|p| p.starts_with("default"))
                && r["parallel"] == 4
        });
    let client_alone = r
        .ours
        .iter()
        .filter(|r| {
            r["server"]
                .as_str()
                .is_some_and(|s| s.starts_with("verify-only"))
        })
        .map(|r| num(&r["ratio_to_sha1"]))
        .fold(f64::NAN, f64::max);
    let fastest_peer = r
        .peers
        .iter()
        .filter_map(|r| r["secs"].as_f64())
        .fold(f64::INFINITY, f64::min);
    let e2e = default_p4.map_or(f64::NAN, |r| num(&r["ratio_to_sha1"]));
    let digests = num(&r.limits["two_digest_bytes_per_sec"]) / num(&r.limits["sha1_bytes_per_sec"]);
    (e2e, client_alone, digests, fastest_peer / best_ours(r.ours))
}

/// How far peak RSS and seconds per GiB spread over the scale runs, and
/// the sizes they span.
fn scale_spread(scale: &[Value]) -> (f64, f64, String) {
    let spread = |k: &str| {
        let (lo, hi) = scale
            .iter()
            .map(|r| r[k].as_f64().unwrap_or(f64::NAN))
            .fold((f64::INFINITY, 0f64), |(a, b), x| (a.min(x), b.max(x)));
        hi / lo - 1.0
    };
    let sizes = format!(
        "{} to {} GiB",
        scale.first().map_or(json!(0), |r| r["gib"].clone()),
        scale.last().map_or(json!(0), |r| r["gib"].clone())
    );
    (spread("peak_rss"), spread("secs_per_gib"), sizes)
}

/// Puts `md` between the bench markers of `docs/performance.md`.
fn splice(root: &Path, md: &str) -> Result<(), String> {
    splice_block(root, "bench", "## `cargo xtask bench`", md)
}

/// Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`
/// in docs/performance.md with `md`, or appends it under `heading`.
pub(super) fn splice_block(root: &Path, name: &str, heading: &str, md: &str) -> Result<(), String> {
    let path = root.join("docs/performance.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{start}\n{md}{}", &old[..a], &old[b..]),
        _ => format!("{old}\n{heading}\n\n{start}\n{md}{end}\n"),
    };
    std::fs::write(&path, new).map_err(|e| e.to_string())?;
    eprintln!("==> updated {}", path.display());
    Ok(())
}
