//! The few browser facilities the driver uses, bound once: the global
//! `fetch`, `setTimeout`/`clearTimeout`, `performance.now()` as the
//! machine's [`Instant`], reading a slice of a `Blob`, and reading the
//! properties of an options object. They are the globals of both a window
//! and a worker, so the uploader runs in either.

use box_chunked_core::Instant;
use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch(request)`.
    #[wasm_bindgen(js_name = fetch)]
    pub(crate) fn fetch_request(request: &web_sys::Request) -> Promise;

    /// The global `setTimeout(callback, ms)`; its handle.
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(callback: &Function, ms: f64) -> JsValue;

    /// The global `clearTimeout(handle)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(handle: &JsValue);
}

/// Now, in the machine's time: `performance.now()` on the web, std's clock
/// elsewhere (native builds exist only for checks and docs).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) fn now() -> Instant {
    let performance = Reflect::get(&js_sys::global(), &"performance".into()).ok();
    let millis = performance
        .and_then(|p| p.dyn_into::<js_sys::Object>().ok())
        .and_then(|p| Reflect::get(&p, &"now".into()).ok().map(|f| (p, f)))
        .and_then(|(p, f)| f.dyn_into::<Function>().ok()?.call0(&p).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or_else(js_sys::Date::now);
    Instant::from_millis_f64(millis)
}

/// Now, in the machine's time (std's clock off the web).
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// A promise that resolves after `ms` milliseconds.
pub(crate) fn sleep(ms: f64) -> JsFuture {
    let promise = Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms);
    });
    JsFuture::from(promise)
}

/// The bytes `start..end` of `blob` (a `File` is a `Blob`).
pub(crate) async fn read_slice(
    blob: &web_sys::Blob,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, String> {
    let slice = blob
        .slice_with_f64_and_f64(start as f64, end as f64)
        .map_err(|e| describe(&e))?;
    let buffer = JsFuture::from(slice.array_buffer())
        .await
        .map_err(|e| describe(&e))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// A JavaScript error or value as a sentence.
pub(crate) fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string()
        .or_else(|| js_sys::JSON::stringify(e).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "an error without a message".to_owned())
}

/// `obj[key]`, unless it is missing, `null` or `undefined`.
pub(crate) fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    if !obj.is_object() {
        return None;
    }
    Reflect::get(obj, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `obj[key]` as a string (numbers are written out, as ids often are).
pub(crate) fn get_string(obj: &JsValue, key: &str) -> Option<String> {
    let v = get(obj, key)?;
    v.as_string().or_else(|| v.as_f64().map(|n| format!("{n}")))
}
