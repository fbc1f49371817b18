//! `box-chunked status`, `parts` and `abort`: one session by id.

use crate::args::{Global, SessionArgs};
use crate::connect::{connect, connect_for};
use crate::failure::exit;
use crate::failure::{explain_in, Failure, Where};
use box_chunked_hyper::CheckpointFile;

pub(crate) async fn status(g: &Global, args: SessionArgs, parts: bool) -> Result<(), Failure> {
    let conn = args.conn.clone().or(&g.conn);
    let path = std::path::Path::new(&args.session_id);
    // A checkpoint file: its session, with the URLs it recorded.
    let (t, s) = if path.is_file() {
        let mut cp = read_checkpoint(path)?;
        let t = connect_for(&conn, &mut cp, g.quiet).await?;
        let s = t.client.session(&cp.session());
        (t, s)
    } else {
        let t = connect(&conn, g.quiet).await?;
        let s = t.client.upload_session(args.session_id.clone());
        (t, s)
    };
    let out = if parts {
        s.get_parts().await.map(|p| {
            let n = p.len();
            serde_json::json!({"total_count": n, "entries": p})
        })
    } else {
        s.get()
            .await
            .map(|s| serde_json::to_value(s).unwrap_or_default())
    };
    let at = Where {
        session: Some(args.session_id.clone()),
        signed_in: Some(t.signed_in()),
        ..Where::default()
    };
    t.close().await;
    let v = out.map_err(|e| given_session(&e, &args.session_id, &at))?;
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

pub(crate) async fn abort(g: &Global, args: SessionArgs) -> Result<(), Failure> {
    let path = std::path::Path::new(&args.session_id);
    if path.is_file() {
        return abort_checkpoint(g, &args, path).await;
    }
    let t = connect(&args.conn.clone().or(&g.conn), g.quiet).await?;
    let r = t
        .client
        .upload_session(args.session_id.clone())
        .abort()
        .await;
    let at = Where {
        session: Some(args.session_id.clone()),
        signed_in: Some(t.signed_in()),
        ..Where::default()
    };
    t.close().await;
    r.map_err(|e| given_session(&e, &args.session_id, &at))?;
    let removed = remove_checkpoints_of(&args.session_id);
    match removed.as_slice() {
        [] => println!("aborted upload session {}", args.session_id),
        paths => println!(
            "aborted upload session {} and removed its checkpoint {}",
            args.session_id,
            paths.join(", ")
        ),
    }
    Ok(())
}

/// The checkpoint file the user gave for a session.
fn read_checkpoint(path: &std::path::Path) -> Result<CheckpointFile, Failure> {
    CheckpointFile::read(path).map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!(
                "{e}; give a session id or the checkpoint file that `box-chunked upload` printed"
            ),
        )
    })
}

/// A failure of a call on a session id the user gave: a `404` means the
/// id names no session this user can see, which is said as such (not as a
/// lost upload).
fn given_session(e: &box_chunked_hyper::Error, id: &str, at: &Where) -> Failure {
    if e.session_gone() && e.answered_as_box() {
        return Failure::new(
            exit::REFUSED,
            format!(
                "upload session {id} was not found: the id is wrong, or the session was committed, aborted or expired, or another user made it ({e}); `box-chunked jobs` lists the sessions of unfinished uploads"
            ),
        );
    }
    explain_in(e, "the file", at)
}

/// Removes the checkpoints under the data directory that name session
/// `id`; their paths.
fn remove_checkpoints_of(id: &str) -> Vec<String> {
    let dir = crate::connect::data_dir().join("checkpoints");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| CheckpointFile::read(p).is_ok_and(|cp| cp.upload.session.id == id))
        .filter(|p| std::fs::remove_file(p).is_ok())
        .map(|p| p.display().to_string())
        .collect()
}

/// `abort CHECKPOINT`: deletes the session the checkpoint names (with the
/// URLs it recorded) and the checkpoint.
async fn abort_checkpoint(
    g: &Global,
    args: &SessionArgs,
    path: &std::path::Path,
) -> Result<(), Failure> {
    let mut cp = read_checkpoint(path)?;
    let t = connect_for(&args.conn.clone().or(&g.conn), &mut cp, g.quiet).await?;
    let r = t.client.session(&cp.session()).abort().await;
    let id = &cp.upload.session.id;
    let at = Where {
        session: Some(id.clone()),
        signed_in: Some(t.signed_in()),
        ..Where::default()
    };
    t.close().await;
    match r {
        Ok(()) => {}
        Err(e) if e.session_gone() => {}
        Err(e) => return Err(explain_in(&e, &format!("upload session {id}"), &at)),
    }
    let _ = std::fs::remove_file(path);
    println!(
        "aborted upload session {id} and removed the checkpoint {}",
        path.display()
    );
    Ok(())
}
