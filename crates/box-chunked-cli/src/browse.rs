//! `ls`, `mkdir` and `rm`, and paths wherever a folder or file is asked
//! for: `/Backups/2026` or `box:Backups/2026` (from "All Files"), or an
//! id (`123`, `folder:123`, `file:123`). A path is walked from the root by
//! listing (every page, names compared as Box does); one that is not there
//! names its first missing folder.

use crate::args::{Global, LsArgs, MkdirArgs, RmArgs, UploadArgs};
use crate::connect::{connect, Endpoint};
use crate::failure::{exit, explain_in, Failure, Where};
use box_chunked_hyper::proto::listing::Item;
use box_chunked_hyper::proto::paths::{BoxPath, ItemRef};
use box_chunked_hyper::{BoxClient, Error, Resolution};

fn usage(m: impl Into<String>) -> Failure {
    Failure::new(exit::USAGE, m)
}

/// `arg` as an id or a path; a usage error otherwise (nothing sent).
pub(crate) fn item_ref(flag: &str, arg: &str) -> Result<ItemRef, Failure> {
    ItemRef::parse(arg).map_err(|e| usage(format!("{flag} {arg}: {e}")))
}

/// The sentence for a failed call about `what`.
fn failed(e: &Error, what: &str, t: &Endpoint) -> Failure {
    let at = Where {
        signed_in: Some(t.signed_in()),
        server: Some(t.client.api_url().to_owned()),
        ..Where::default()
    };
    explain_in(e, what, &at)
}

/// `box-chunked ARGS` with the flags that connect the same way (the server's
/// URLs when they are not Box's, `--local`, and the recorded CA file,
/// credential file and `--as-user`), quoted to run as printed.
pub(crate) fn command(t: &Endpoint, args: &[&str]) -> String {
    use crate::connect::shell_quote;
    let mut cmd = String::from("box-chunked");
    for a in args {
        cmd.push(' ');
        cmd.push_str(&shell_quote(a));
    }
    if t.embedded.is_some() {
        cmd.push_str(" --local");
    } else if t.client.api_url() != box_chunked_hyper::DEFAULT_API_URL {
        for (flag, url) in [
            ("--api-url", t.client.api_url()),
            ("--upload-url", t.client.upload_url()),
        ] {
            cmd.push_str(&format!(" {flag} {}", shell_quote(url)));
        }
    }
    for f in t.resume_flags() {
        cmd.push(' ');
        cmd.push_str(&shell_quote(&f));
    }
    cmd
}

/// Where `path` leads, or a sentence naming the first missing folder.
pub(crate) async fn found_item(t: &Endpoint, path: &BoxPath) -> Result<Item, Failure> {
    found(t, path).await
}

async fn found(t: &Endpoint, path: &BoxPath) -> Result<Item, Failure> {
    match t.client.resolve(path).await {
        Ok(Resolution::Found(item)) => Ok(item),
        Ok(Resolution::Missing { missing, .. }) if missing == *path => Err(Failure::new(
            exit::REFUSED,
            format!(
                "{path} does not exist; `{}` shows what is there",
                command(t, &["ls", &shown_parent(path)])
            ),
        )),
        Ok(Resolution::Missing { missing, .. }) => Err(Failure::new(
            exit::REFUSED,
            format!(
                "{path} does not exist: there is no {missing} (`{}` makes the folders)",
                command(t, &["mkdir", "-p", &path.to_string()])
            ),
        )),
        Err(e) => Err(failed(&e, &path.to_string(), t)),
    }
}

fn shown_parent(path: &BoxPath) -> String {
    path.split_last()
        .map_or_else(|| "/".to_owned(), |(p, _)| p.to_string())
}

/// The folder id `arg` names (`--folder`); with `mkdir`, a path's missing
/// folders are made.
pub(crate) async fn folder_id(t: &Endpoint, arg: &str, mkdir: bool) -> Result<String, Failure> {
    match item_ref("--folder", arg)? {
        ItemRef::Id { kind: Some("file"), id } => Err(usage(format!(
            "--folder {arg} names a file; give a folder (its id, or a path such as /Backups), or upload a new version with --file {id}"
        ))),
        ItemRef::Id { id, .. } => Ok(id),
        ItemRef::Path(p) if mkdir => t
            .client
            .make_folders(&p)
            .await
            .map_err(|e| failed(&e, &p.to_string(), t)),
        ItemRef::Path(p) => {
            let item = found(t, &p).await.map_err(|f| {
                Failure::new(f.code, format!("{}; or pass --mkdir to make them while uploading", f.message))
            })?;
            if item.is_folder() {
                Ok(item.id)
            } else {
                Err(usage(format!("--folder {p} is a file; give a folder, or upload a new version with --file {p}")))
            }
        }
    }
}

/// Checks the syntax of an upload's --folder and --file (nothing sent).
pub(crate) fn check_refs(args: &UploadArgs) -> Result<(), Failure> {
    if let Some(f) = &args.folder {
        item_ref("--folder", f)?;
    }
    if let Some(f) = &args.file {
        item_ref("--file", f)?;
    }
    Ok(())
}

/// `args` with --folder and --file as ids: paths resolved (with --mkdir,
/// the missing folders made). On a failure the connection is closed.
pub(crate) async fn with_ids(t: &Endpoint, mut args: UploadArgs) -> Result<UploadArgs, Failure> {
    if let Some(f) = args.folder.take() {
        args.folder = Some(folder_id(t, &f, args.mkdir).await?);
    }
    if let Some(f) = args.file.take() {
        args.file = Some(file_id(t, &f).await?);
    }
    Ok(args)
}

/// The file id `arg` names (`--file`).
pub(crate) async fn file_id(t: &Endpoint, arg: &str) -> Result<String, Failure> {
    match item_ref("--file", arg)? {
        ItemRef::Id {
            kind: Some("folder"),
            ..
        } => Err(usage(format!(
            "--file {arg} names a folder; upload into it with --folder {arg}"
        ))),
        ItemRef::Id { id, .. } => Ok(id),
        ItemRef::Path(p) => {
            let item = found(t, &p).await?;
            if item.is_folder() {
                Err(usage(format!(
                    "--file {p} is a folder; upload into it with --folder {p}"
                )))
            } else {
                Ok(item.id)
            }
        }
    }
}

/// One line of `ls`: type, id, size, modified, SHA-1 (with `-l`) and the
/// name (a folder's with a `/`).
fn line(item: &Item, shown: &str, long: bool) -> String {
    let size = item.size.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let modified = item
        .content_modified_at
        .as_ref()
        .or(item.modified_at.as_ref())
        .map_or("-", |t| t.as_str());
    let slash = if item.is_folder() { "/" } else { "" };
    if long {
        let sha1 = item.sha1.map_or_else(|| "-".repeat(40), |s| s.to_hex());
        format!(
            "{:<6} {:>12} {:>14} {:<25} {sha1} {shown}{slash}",
            item.kind, item.id, size, modified
        )
    } else {
        format!(
            "{:<6} {:>12} {:>14} {:<25} {shown}{slash}",
            item.kind, item.id, size, modified
        )
    }
}

fn json_line(item: &Item, path: &str) -> String {
    serde_json::json!({
        "path": path, "type": item.kind, "id": item.id, "name": item.name(),
        "size": item.size, "modified_at": item.content_modified_at.as_ref().or(item.modified_at.as_ref()),
        "sha1": item.sha1.map(|s| s.to_hex()),
    })
    .to_string()
}

/// The item `ls` starts from, and its path when a path named it.
async fn ls_start(t: &Endpoint, target: &str) -> Result<(Item, Option<BoxPath>), Failure> {
    match item_ref("ls", target)? {
        ItemRef::Path(p) => Ok((found(t, &p).await?, Some(p))),
        ItemRef::Id {
            id,
            kind: Some("file"),
        } => {
            let f = t
                .client
                .get_file(&id)
                .await
                .map_err(|e| failed(&e, &format!("file {id}"), t))?;
            let item = Item::from(f);
            Ok((item, None))
        }
        ItemRef::Id { id, .. } => {
            let item = t
                .client
                .get_folder(&id)
                .await
                .map_err(|e| failed(&e, &format!("folder {id}"), t))?;
            Ok((item, (id == "0").then(BoxPath::root)))
        }
    }
}

/// `box-chunked ls [PATH|ID]`.
pub(crate) async fn ls(g: &Global, args: LsArgs) -> Result<(), Failure> {
    item_ref("ls", &args.target)?;
    let t = connect(&args.conn.clone().or(&g.conn), g.quiet).await?;
    let out = ls_with(&t, &args).await;
    t.close().await;
    out
}

async fn ls_with(t: &Endpoint, args: &LsArgs) -> Result<(), Failure> {
    let (start, path) = ls_start(t, &args.target).await?;
    let base = path.as_ref().map(ToString::to_string);
    if !start.is_folder() {
        let shown = base.unwrap_or_else(|| start.name().to_owned());
        println!(
            "{}",
            if args.json {
                json_line(&start, &shown)
            } else {
                line(&start, &shown, args.long)
            }
        );
        return Ok(());
    }
    // Breadth first: a folder's items, then each of its folders' (with -R).
    let mut queue = vec![(start.id.clone(), String::new())];
    while let Some((id, rel)) = queue.pop() {
        let items = t
            .client
            .list_folder(&id)
            .await
            .map_err(|e| failed(&e, &format!("folder {id}"), t))?;
        for item in &items {
            let rel_path = if rel.is_empty() {
                item.name().to_owned()
            } else {
                format!("{rel}/{}", item.name())
            };
            if args.json {
                let full = match &base {
                    Some(b) => format!("{}/{rel_path}", b.trim_end_matches('/')),
                    None => rel_path.clone(),
                };
                println!("{}", json_line(item, &full));
            } else {
                println!("{}", line(item, &rel_path, args.long));
            }
            if args.recursive && item.is_folder() {
                queue.insert(0, (item.id.clone(), rel_path));
            }
        }
    }
    Ok(())
}

/// `box-chunked mkdir [-p] PATH...`: each folder's id.
pub(crate) async fn mkdir(g: &Global, args: MkdirArgs) -> Result<(), Failure> {
    let paths = args
        .paths
        .iter()
        .map(|a| match item_ref("mkdir", a)? {
            ItemRef::Path(p) if !p.is_root() => Ok(p),
            _ => Err(usage(format!(
                "mkdir {a}: give a path such as /Backups/2026 (the root is there already)"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let t = connect(&args.conn.clone().or(&g.conn), g.quiet).await?;
    let mut out = Ok(());
    for p in &paths {
        out = mkdir_one(&t.client, &t, p, args.parents).await;
        if out.is_err() {
            break;
        }
    }
    t.close().await;
    out
}

async fn mkdir_one(c: &BoxClient, t: &Endpoint, p: &BoxPath, parents: bool) -> Result<(), Failure> {
    let fail = |e: Error| failed(&e, &p.to_string(), t);
    if parents {
        let id = c.make_folders(p).await.map_err(fail)?;
        println!("{p}\t{id}");
        return Ok(());
    }
    match c.resolve(p).await.map_err(fail)? {
        Resolution::Found(item) => Err(Failure::new(
            exit::REFUSED,
            format!(
                "{p} exists already ({} {}); mkdir -p accepts it",
                item.kind, item.id
            ),
        )),
        Resolution::Missing { missing, parent_id } if missing == *p => {
            let (_, name) = p.split_last().unwrap_or((BoxPath::root(), ""));
            let id = c.ensure_folder(&parent_id, name).await.map_err(fail)?;
            println!("{p}\t{id}");
            Ok(())
        }
        Resolution::Missing { missing, .. } => Err(Failure::new(
            exit::REFUSED,
            format!(
                "cannot make {p}: there is no {missing}; `{}` makes the folders on the way",
                command(t, &["mkdir", "-p", &p.to_string()])
            ),
        )),
    }
}

/// `box-chunked rm [-r] PATH|ID...`: to the trash, where Box keeps one.
pub(crate) async fn rm(g: &Global, args: RmArgs) -> Result<(), Failure> {
    let refs = args
        .targets
        .iter()
        .map(|a| item_ref("rm", a))
        .collect::<Result<Vec<_>, _>>()?;
    let t = connect(&args.conn.clone().or(&g.conn), g.quiet).await?;
    let mut out = Ok(());
    for (arg, r) in args.targets.iter().zip(refs) {
        out = rm_one(&t, arg, r, args.recursive).await;
        if out.is_err() {
            break;
        }
    }
    t.close().await;
    out
}

async fn rm_one(t: &Endpoint, arg: &str, r: ItemRef, recursive: bool) -> Result<(), Failure> {
    let (kind, id) = match r {
        ItemRef::Path(p) if p.is_root() => {
            return Err(usage("rm /: the root folder cannot be removed"))
        }
        ItemRef::Path(p) => {
            let item = found(t, &p).await?;
            (if item.is_folder() { "folder" } else { "file" }, item.id)
        }
        ItemRef::Id { id, kind } => (kind.unwrap_or("file"), id),
    };
    if kind == "folder" && !recursive {
        return Err(usage(format!(
            "{arg} is a folder; `{}` removes it with everything in it",
            command(t, &["rm", "-r", arg])
        )));
    }
    let done = if kind == "folder" {
        t.client.delete_folder(&id, true).await
    } else {
        t.client.delete_file(&id).await
    };
    done.map_err(|e| failed(&e, &format!("{kind} {id} ({arg})"), t))?;
    println!("removed {kind} {id}\t{arg}");
    Ok(())
}
