//! `box-chunked download PATH|ID [DEST]`: a file, or a folder's tree with
//! `-r`, into the local file system. Ranges of each file go in parallel and
//! several files at once, under one `--parallel` budget of ranges; each file
//! is checked against Box's SHA-1 before it takes its name; a stopped
//! download goes on from its partial file. A local file that is there
//! already is an error, a skip (when it holds Box's bytes), overwritten or
//! given a numbered name (`--on-conflict`).

use crate::args::{DownloadArgs, Global, LocalConflict};
use crate::browse::{found_item, item_ref};
use crate::connect::{connect, Endpoint};
use crate::failure::{exit, explain, Failure};
use box_chunked_hyper::proto::listing::Item;
use box_chunked_hyper::proto::paths::ItemRef;
use box_chunked_hyper::proto::rules::numbered_name;
use box_chunked_hyper::{DownloadOptions, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One file to fetch: where it is on Box (shown), its item, its local path.
struct Planned {
    shown: String,
    item: Item,
    local: PathBuf,
}

/// What became of one file.
enum Done {
    Fetched(box_chunked_hyper::Downloaded),
    Skipped,
}

fn usage(m: impl Into<String>) -> Failure {
    Failure::new(exit::USAGE, m)
}

pub(crate) async fn download(g: &Global, args: DownloadArgs) -> Result<(), Failure> {
    let r = item_ref("download", &args.source)?;
    let t = connect(&args.conn.clone().or(&g.conn), g.quiet).await?;
    let out = run(&t, &args, r).await;
    t.close().await;
    out
}

async fn run(t: &Endpoint, args: &DownloadArgs, r: ItemRef) -> Result<(), Failure> {
    let (item, shown) = match r {
        ItemRef::Path(p) => (found_item(t, &p).await?, p.to_string()),
        ItemRef::Id {
            id,
            kind: Some("folder"),
        } => {
            let item = t
                .client
                .get_folder(&id)
                .await
                .map_err(|e| explain(&e, &format!("folder {id}")))?;
            (item, format!("folder:{id}"))
        }
        ItemRef::Id { id, .. } => {
            let f = t
                .client
                .get_file(&id)
                .await
                .map_err(|e| explain(&e, &format!("file {id}")))?;
            let item = Item::from(f);
            (item, format!("file:{id}"))
        }
    };
    let plan = if item.is_folder() {
        if !args.recursive {
            return Err(usage(format!(
                "{} is a folder; `{}` fetches its tree",
                args.source,
                crate::browse::command(t, &["download", "-r", &args.source])
            )));
        }
        let root = args
            .dest
            .clone()
            .unwrap_or_else(|| PathBuf::from(item.name()));
        walk(t, &item, &shown, &root).await?
    } else {
        let local = match &args.dest {
            Some(d) if d.is_dir() => d.join(item.name()),
            Some(d) => d.clone(),
            None => PathBuf::from(item.name()),
        };
        vec![Planned { shown, item, local }]
    };
    fetch_all(t, args, plan).await
}

/// A folder's files, every level, with their local paths below `root`
/// (whose folders are made).
async fn walk(t: &Endpoint, top: &Item, shown: &str, root: &Path) -> Result<Vec<Planned>, Failure> {
    let mut out = Vec::new();
    let mut queue = vec![(
        top.id.clone(),
        shown.trim_end_matches('/').to_owned(),
        root.to_path_buf(),
    )];
    while let Some((id, at, local)) = queue.pop() {
        std::fs::create_dir_all(&local)
            .map_err(|e| usage(format!("cannot make {}: {e}", local.display())))?;
        let items = t
            .client
            .list_folder(&id)
            .await
            .map_err(|e| explain(&e, &format!("folder {at}")))?;
        for item in items {
            let shown = format!("{at}/{}", item.name());
            let path = local.join(item.name());
            match item.kind.as_str() {
                "folder" => queue.push((item.id.clone(), shown, path)),
                "file" => out.push(Planned {
                    shown,
                    item,
                    local: path,
                }),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// The local path a file goes to under `policy`, or `None` to skip it.
async fn place(p: &Planned, policy: LocalConflict) -> Result<Option<PathBuf>, Failure> {
    if !p.local.exists() {
        return Ok(Some(p.local.clone()));
    }
    match policy {
        LocalConflict::Overwrite => Ok(Some(p.local.clone())),
        LocalConflict::Rename => {
            let name = p.local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let free = (1..10_000)
                .map(|n| p.local.with_file_name(numbered_name(&name, n)))
                .find(|c| !c.exists());
            Ok(free)
        }
        LocalConflict::Skip => {
            let same = local_sha1(&p.local).await.ok() == p.item.sha1.map(|s| s.to_hex());
            if same {
                Ok(None)
            } else {
                Err(Failure::new(exit::REFUSED, format!("{} exists and holds other bytes than {}; --on-conflict overwrite or rename", p.local.display(), p.shown)))
            }
        }
        LocalConflict::Error => Err(Failure::new(exit::REFUSED, format!(
            "{} exists; nothing of {} was written: pass --on-conflict skip (keep it when it holds the same bytes), overwrite or rename",
            p.local.display(),
            p.shown
        ))),
    }
}

/// A local file's SHA-1, read in 1 MiB pieces on a blocking thread.
async fn local_sha1(path: &Path) -> std::io::Result<String> {
    use sha1::Digest as _;
    use std::io::Read as _;
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&p)?;
        let mut h = sha1::Sha1::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match f.read(&mut buf)? {
                0 => return Ok(box_chunked_hyper::proto::Sha1Digest(h.finalize().into()).to_hex()),
                n => h.update(&buf[..n]),
            }
        }
    })
    .await
    .map_err(std::io::Error::other)?
}

/// A bar of the bytes written, on a terminal (not with --json or
/// --no-progress), fed from the download's counter until `done`.
fn bar(
    args: &DownloadArgs,
    total: u64,
    opts: &DownloadOptions,
) -> Option<tokio::task::JoinHandle<()>> {
    use std::io::IsTerminal as _;
    if args.json || args.no_progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{bar:30}] {binary_bytes}/{binary_total_bytes} written and checked as they finish, ETA {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let pb = indicatif::ProgressBar::new(total).with_style(style);
    let counter = opts.progress.clone();
    Some(tokio::spawn(async move {
        loop {
            pb.set_position(
                counter
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .min(total),
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }))
}

async fn fetch_all(t: &Endpoint, args: &DownloadArgs, plan: Vec<Planned>) -> Result<(), Failure> {
    let opts = DownloadOptions::new(args.parallel);
    let total = plan.iter().filter_map(|p| p.item.size).sum();
    let ticker = bar(args, total, &opts);
    let files = Arc::new(tokio::sync::Semaphore::new(args.files.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for p in plan {
        let (client, opts, files, policy) = (
            t.client.clone(),
            opts.clone(),
            files.clone(),
            args.on_conflict,
        );
        tasks.spawn(async move {
            let _turn = files.acquire_owned().await;
            let out = match place(&p, policy).await {
                Ok(None) => Ok((Done::Skipped, p.local.clone())),
                Ok(Some(local)) => client
                    .download_file(&p.item.id, &local, &opts)
                    .await
                    .map(|d| (Done::Fetched(d), local))
                    .map_err(|e| match e.kind() {
                        ErrorKind::Unverified => Failure::new(exit::UNVERIFIED, e.to_string()),
                        _ => explain(&e, &p.shown),
                    }),
                Err(f) => Err(f),
            };
            (p, out)
        });
    }
    let mut first: Option<Failure> = None;
    let (mut fetched, mut skipped, mut failed) = (0u64, 0u64, 0u64);
    while let Some(joined) = tasks.join_next().await {
        let (p, out) = joined
            .map_err(|e| Failure::new(exit::FAILED, format!("a download task failed: {e}")))?;
        match out {
            Ok((done, local)) => {
                if matches!(done, Done::Fetched(_)) {
                    fetched += 1
                } else {
                    skipped += 1
                }
                report(args.json, &p, &local, &done);
            }
            Err(f) => {
                failed += 1;
                eprintln!("error: {}", f.message);
                first.get_or_insert(f);
            }
        }
    }
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(f) = first {
        return Err(Failure::new(f.code, format!("{failed} of {} files failed ({fetched} downloaded, {skipped} skipped); the first: {}", fetched + skipped + failed, f.message)));
    }
    Ok(())
}

fn report(json: bool, p: &Planned, at: &Path, done: &Done) {
    let local = at.display();
    match (done, json) {
        (Done::Fetched(d), false) => println!(
            "downloaded {} -> {local} ({} bytes, sha1 {}{})",
            p.shown,
            d.size,
            d.sha1.to_hex(),
            if d.resumed > 0 {
                format!(", {} bytes were there from before", d.resumed)
            } else {
                String::new()
            }
        ),
        (Done::Skipped, false) => {
            println!("skipped {} -> {local} (it holds the same bytes)", p.shown)
        }
        (Done::Fetched(d), true) => println!(
            "{}",
            serde_json::json!({
                "action": "downloaded", "path": p.shown, "local": at, "id": p.item.id,
                "size": d.size, "sha1": d.sha1.to_hex(), "resumed": d.resumed,
            })
        ),
        (Done::Skipped, true) => println!(
            "{}",
            serde_json::json!({
                "action": "skipped", "path": p.shown, "local": at, "id": p.item.id,
                "reason": "same_sha1",
            })
        ),
    }
}
