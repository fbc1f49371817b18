//! Uploads a file given on the command line with the high-level uploader.
//!
//! ```text
//! BOX_ACCESS_TOKEN=... cargo run -p box-chunked-hyper --example upload -- PATH [FOLDER_ID] [BASE_URL]
//! ```
//!
//! `BASE_URL` points at a Box-compatible server (for example
//! `http://127.0.0.1:8080` for `box-chunked serve`); without it, Box itself.

use box_chunked_hyper::{BoxClient, UploadEvent};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: upload PATH [FOLDER_ID] [BASE_URL]   (token in BOX_ACCESS_TOKEN)");
        return ExitCode::from(2);
    };
    let folder = args.get(1).map_or("0", String::as_str);
    let Ok(token) = std::env::var("BOX_ACCESS_TOKEN") else {
        eprintln!("set BOX_ACCESS_TOKEN to a Box access token");
        return ExitCode::from(2);
    };
    let mut builder = BoxClient::builder().token(token);
    if let Some(base) = args.get(2) {
        builder = builder.base_url(base);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let name = std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload.bin")
        .to_owned();
    let result = client
        .uploader()
        .checkpoint(format!("{path}.box-checkpoint"))
        .on_event(|e| {
            if let UploadEvent::Progress {
                bytes_confirmed,
                bytes_total,
                ..
            } = e
            {
                eprintln!("{bytes_confirmed} / {bytes_total} bytes confirmed");
            }
        })
        .upload_file(folder, &name, path)
        .await;
    match result {
        Ok(file) => {
            println!(
                "uploaded file {} ({} bytes, SHA-1 {})",
                file.id,
                file.size.unwrap_or(0),
                file.sha1.map(|s| s.to_hex()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upload failed: {e}");
            ExitCode::from(1)
        }
    }
}
