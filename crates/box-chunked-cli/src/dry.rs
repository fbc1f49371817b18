//! `upload --dry-run`: what the upload would do, one line per action (or a
//! JSON object per line with `--json`), with nothing changed on the server:
//! the target folder and the job's folders are only looked up, and with
//! `--mkdir` a missing target path is reported as folders to make.

use crate::args::UploadArgs;
use crate::browse::item_ref;
use crate::connect::Endpoint;
use crate::failure::{exit, explain, Failure};
use box_chunked_hyper::job::{DryAction, JobFile};
use box_chunked_hyper::proto::paths::ItemRef;
use box_chunked_hyper::Resolution;

/// Prints the dry run of `job` (whose folder is `args.folder`, not yet an id).
pub(crate) async fn dry_run(
    t: &Endpoint,
    args: &UploadArgs,
    mut job: JobFile,
) -> Result<(), Failure> {
    let mut actions = Vec::new();
    let mut root_exists = true;
    if let Some(f) = &args.folder {
        if let ItemRef::Path(p) = item_ref("--folder", f)? {
            match t
                .client
                .resolve(&p)
                .await
                .map_err(|e| explain(&e, &p.to_string()))?
            {
                Resolution::Found(item) if item.is_folder() => job.folder_id = item.id,
                Resolution::Found(_) => {
                    return Err(Failure::new(
                        exit::USAGE,
                        format!("--folder {p} is a file; give a folder"),
                    ))
                }
                Resolution::Missing { missing, .. } if args.mkdir => {
                    root_exists = false;
                    for n in missing.names().len()..=p.names().len() {
                        actions.push(DryAction {
                            rel: p.prefix(n).to_string(),
                            path: None,
                            outcome: "folder_created",
                            name: None,
                            reason: None,
                        });
                    }
                }
                Resolution::Missing { missing, .. } => {
                    return Err(Failure::new(
                        exit::REFUSED,
                        format!(
                            "{p} does not exist: there is no {missing}; pass --mkdir to make it"
                        ),
                    ))
                }
            }
        }
    }
    actions.extend(
        job.dry_run(&t.client, root_exists)
            .await
            .map_err(|e| explain(&e, "the dry run"))?,
    );
    for a in &actions {
        print(a, args.json);
    }
    let count = |o: &str| actions.iter().filter(|a| a.outcome == o).count();
    if !args.json {
        eprintln!(
            "dry run: {} new, {} new versions, {} renamed, {} skipped, {} would fail, {} folders to make; nothing was changed",
            count("uploaded"),
            count("version"),
            count("renamed"),
            count("skipped"),
            count("failed"),
            count("folder_created")
        );
    }
    Ok(())
}

fn print(a: &DryAction, json: bool) {
    if json {
        let line = serde_json::json!({
            "dry_run": true, "rel": a.rel, "path": a.path, "outcome": a.outcome,
            "name": a.name, "reason": a.reason,
        });
        println!("{line}");
        return;
    }
    match (a.outcome, &a.name, &a.reason) {
        ("folder_created", _, _) => println!("would make folder {}", a.rel),
        ("uploaded", _, _) => println!("would upload {}", a.rel),
        ("version", _, _) => println!("would upload a new version of {}", a.rel),
        ("renamed", Some(n), _) => println!("would upload {} as {n}", a.rel),
        ("skipped", _, Some(r)) => println!("would skip {} ({r})", a.rel),
        ("failed", _, Some(r)) => println!("would fail {} ({r})", a.rel),
        (o, _, _) => println!("would {o} {}", a.rel),
    }
}
