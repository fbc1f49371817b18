//! A browser uploader on `box-chunked-core`: the same [`Upload`] machine
//! the tokio client and the blocking driver run (parallel parts, SHA-1 of
//! each part and of the whole file, `Retry-After` waits, `202` commits,
//! `416` reconciliation, bounded retries), driven with the browser's
//! `fetch`, `Blob.slice` reads and timers. Built with `wasm-bindgen` for
//! `wasm32-unknown-unknown`, it is one JavaScript function:
//!
//! ```js
//! import init, { upload } from "./pkg/box_chunked_wasm.js";
//! await init();
//! const stop = new AbortController();
//! const file = await upload(input.files[0], { folderId: "0" }, {
//!   token,                                          // a Box access token
//!   uploadUrl: "https://upload.box.com/api/2.0",    // the default
//!   parallel: 4,                                    // parts in flight, the default
//!   signal: stop.signal,                            // stop.abort() deletes the session
//!   onProgress: (p) => bar.value = p.bytesDone / p.bytesTotal,
//!   onRetry: (r) => console.log(`${r.kind}: attempt ${r.attempt} failed (${r.status}); again in ${r.delayMs} ms`),
//! });
//! console.log(file.id, file.sha1);
//! ```
//!
//! `target` is `{folderId, name?}` for a new file (the name defaults to the
//! `File`'s) or `{fileId, name?, ifMatch?}` for a new version. The promise
//! resolves with the file as Box returned it, or rejects with an `Error`
//! whose message says what failed (named `AbortError` after a cancel). The
//! token is sent only to the upload root and `apiUrl` (default
//! `https://api.box.com/2.0`). The page's origin must be allowed by the
//! app's CORS settings (on the local server: `--cors-origin` or the app's
//! `corsDomains`). `tests/interop/browser/wasm-upload.html` is a page that
//! uses it; docs/sans-io.md explains the loop in `driver.rs`.

mod driver;
mod js;
mod transport;

use box_chunked_core::{Source, Target, Upload, UploadConfig};
use driver::{Callbacks, End};
use std::num::NonZeroUsize;
use transport::Credentials;
use wasm_bindgen::prelude::*;

/// Box's upload root, where a session is created.
const UPLOAD_ROOT: &str = "https://upload.box.com/api/2.0";
/// Box's API root (the token goes there too).
const API_ROOT: &str = "https://api.box.com/2.0";

/// Uploads `file` (a `File` or any `Blob`) to `target` with a chunked upload
/// session; see the crate's documentation for `target` and `options`.
///
/// # Errors
/// Rejects with an `Error` that names what failed: bad arguments before
/// anything is sent, or the upload's failure as the core words it.
#[wasm_bindgen]
pub async fn upload(
    file: web_sys::Blob,
    target: JsValue,
    options: JsValue,
) -> Result<JsValue, JsValue> {
    let token = js::get_string(&options, "token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| error("options.token is required: a Box access token", None))?;
    let target = target_of(&file, &target).map_err(|m| error(&m, None))?;
    let mut config = UploadConfig::default();
    config.upload_root = js::get_string(&options, "uploadUrl")
        .unwrap_or_else(|| UPLOAD_ROOT.to_owned())
        .trim_end_matches('/')
        .to_owned();
    let api_root = js::get_string(&options, "apiUrl").unwrap_or_else(|| API_ROOT.to_owned());
    if let Some(n) = js::get(&options, "parallel") {
        let n = n
            .as_f64()
            .filter(|n| n.fract() == 0.0 && (1.0..=64.0).contains(n))
            .ok_or_else(|| error("options.parallel must be a whole number from 1 to 64", None))?;
        config.parallelism = NonZeroUsize::new(n as usize).unwrap_or(NonZeroUsize::MIN);
    }
    let signal = js::get(&options, "signal")
        .map(|s| s.dyn_into::<web_sys::AbortSignal>())
        .transpose()
        .map_err(|_| error("options.signal must be an AbortSignal", None))?;
    let callbacks = Callbacks {
        progress: callback(&options, "onProgress")?,
        retry: callback(&options, "onRetry")?,
    };
    let credentials = Credentials {
        token,
        origins: vec![
            config.upload_root.clone(),
            api_root.trim_end_matches('/').to_owned(),
        ],
    };
    let source = Source {
        size: file.size() as u64,
        fingerprint: None,
    };
    let upload =
        Upload::new(target, source, config, js::now()).map_err(|e| error(&e.to_string(), None))?;
    match driver::run(upload, file, credentials, signal, callbacks).await {
        End::Committed(json) => js_sys::JSON::parse(&json),
        End::Aborted => Err(error(
            "the upload was cancelled and its session deleted",
            Some("AbortError"),
        )),
        End::Failed(message) => Err(error(&message, None)),
    }
}

/// The version of this crate (and of the core it drives).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// `{folderId, name?}` or `{fileId, name?, ifMatch?}`.
fn target_of(file: &web_sys::Blob, target: &JsValue) -> Result<Target, String> {
    let name = js::get_string(target, "name").or_else(|| js::get_string(file, "name"));
    if let Some(file_id) = js::get_string(target, "fileId") {
        return Ok(Target::NewVersion {
            file_id,
            name,
            if_match: js::get_string(target, "ifMatch"),
        });
    }
    let folder_id = js::get_string(target, "folderId")
        .ok_or("the target needs folderId (a new file) or fileId (a new version)")?;
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or("the target needs a name: this Blob is not a File with one")?;
    Ok(Target::NewFile { folder_id, name })
}

/// `options[key]`, a function or absent.
fn callback(options: &JsValue, key: &str) -> Result<Option<js_sys::Function>, JsValue> {
    js::get(options, key)
        .map(|f| f.dyn_into::<js_sys::Function>())
        .transpose()
        .map_err(|_| error(&format!("options.{key} must be a function"), None))
}

/// A JavaScript `Error` with `message` (and `name`).
fn error(message: &str, name: Option<&str>) -> JsValue {
    let e = js_sys::Error::new(message);
    if let Some(name) = name {
        e.set_name(name);
    }
    e.into()
}
