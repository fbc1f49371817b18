//! `box-chunked status`, `parts` and `abort`: one session by id.

use crate::args::{Global, SessionArgs};
use crate::connect::connect;
use crate::failure::{explain, Failure};

pub(crate) async fn status(g: &Global, args: SessionArgs, parts: bool) -> Result<(), Failure> {
    let t = connect(&args.conn.clone().or(&g.conn), true).await?;
    let mut s = t.client.upload_session(args.session_id.clone());
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
    t.close().await;
    let v = out.map_err(|e| explain(&e, "the session"))?;
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

pub(crate) async fn abort(g: &Global, args: SessionArgs) -> Result<(), Failure> {
    let t = connect(&args.conn.clone().or(&g.conn), true).await?;
    let r = t
        .client
        .upload_session(args.session_id.clone())
        .abort()
        .await;
    t.close().await;
    r.map_err(|e| explain(&e, "the session"))?;
    println!("aborted upload session {}", args.session_id);
    Ok(())
}
