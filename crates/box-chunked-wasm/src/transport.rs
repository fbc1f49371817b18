//! One request of the machine through the browser's `fetch`, to its end:
//! the answer whole (status, headers, body), or how it failed below HTTP.
//! It never interprets an answer (that is the core's), adds the token only
//! for the API and upload roots it was given for, and gives up at the
//! request's deadline (reported as timed out) or when the driver cancels it.

use crate::js;
use box_chunked_core::{Instant, OutgoingRequest, RequestId, TransportError, TransportErrorKind};
use bytes::Bytes;
use js_sys::Uint8Array;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestInit, Response};

/// The largest answer kept (Box's answers are small; a page of parts is
/// about 150 KiB).
const MAX_ANSWER: usize = 16 << 20;

/// Headers a page may not set (the browser sets them itself).
const BROWSER_OWNED: [&str; 4] = ["content-length", "host", "connection", "accept-encoding"];

/// Where the token may go.
pub(crate) struct Credentials {
    /// The access token.
    pub(crate) token: String,
    /// URL prefixes that get it: the API root and the upload root.
    pub(crate) origins: Vec<String>,
}

/// An answer, or how the request failed, for the request `id`.
pub(crate) struct Answer {
    pub(crate) id: RequestId,
    pub(crate) result: Result<http::Response<Bytes>, TransportError>,
}

/// Sends `r`; `abort` cancels it (the driver keeps it for
/// `Output::Cancel`); `now` is when it is sent, for its deadline.
pub(crate) async fn exchange(
    r: OutgoingRequest,
    credentials: Rc<Credentials>,
    abort: AbortController,
    now: Instant,
) -> Answer {
    let id = r.id;
    let timed_out = Rc::new(Cell::new(false));
    let flag = timed_out.clone();
    let signal = abort.clone();
    let millis = r.deadline.saturating_duration_since(now).as_secs_f64() * 1000.0;
    let deadline = Deadline::arm(millis, move || {
        flag.set(true);
        signal.abort();
    });
    let result = fetch(r, &credentials, &abort).await.map_err(|detail| {
        let kind = if timed_out.get() {
            TransportErrorKind::TimedOut
        } else {
            // The browser does not say whether a failed fetch reached the
            // server; the core reconciles an ambiguous part.
            TransportErrorKind::Ambiguous
        };
        TransportError::new(kind, detail)
    });
    drop(deadline);
    Answer { id, result }
}

/// A request's deadline: a browser timer and its callback, both gone when
/// this is dropped (the answer came, or the request was cancelled), so that
/// no callback outlives its request and none is leaked.
struct Deadline {
    timer: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Deadline {
    fn arm(millis: f64, on_deadline: impl FnOnce() + 'static) -> Self {
        let callback = Closure::once(on_deadline);
        let timer = js::set_timeout(callback.as_ref().unchecked_ref(), millis.max(1.0));
        Self {
            timer,
            _callback: callback,
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        js::clear_timeout(&self.timer);
    }
}

async fn fetch(
    r: OutgoingRequest,
    credentials: &Credentials,
    abort: &AbortController,
) -> Result<http::Response<Bytes>, String> {
    let (parts, body) = r.request.into_parts();
    let url = parts.uri.to_string();
    let headers = Headers::new().map_err(|e| js::describe(&e))?;
    for (name, value) in &parts.headers {
        if BROWSER_OWNED.contains(&name.as_str()) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            headers
                .set(name.as_str(), v)
                .map_err(|e| js::describe(&e))?;
        }
    }
    if credentials
        .origins
        .iter()
        .any(|o| url.starts_with(o.as_str()))
    {
        let bearer = format!("Bearer {}", credentials.token);
        headers
            .set("authorization", &bearer)
            .map_err(|e| js::describe(&e))?;
    }
    let init = RequestInit::new();
    init.set_method(parts.method.as_str());
    init.set_headers(&headers);
    init.set_signal(Some(&abort.signal()));
    if !body.is_empty() {
        init.set_body(&Uint8Array::from(&body[..]));
    }
    let request = Request::new_with_str_and_init(&url, &init).map_err(|e| js::describe(&e))?;
    let response: Response = JsFuture::from(js::fetch_request(&request))
        .await
        .map_err(|e| js::describe(&e))?
        .dyn_into()
        .map_err(|e| js::describe(&e))?;
    let mut out = http::Response::builder().status(response.status());
    if let Ok(Some(entries)) = js_sys::try_iter(&response.headers()) {
        for entry in entries.flatten() {
            let pair = js_sys::Array::from(&entry);
            if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                out = out.header(name, value);
            }
        }
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| js::describe(&e))?)
        .await
        .map_err(|e| format!("the answer broke off: {}", js::describe(&e)))?;
    let bytes = Uint8Array::new(&buffer);
    if bytes.length() as usize > MAX_ANSWER {
        return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
    }
    out.body(Bytes::from(bytes.to_vec()))
        .map_err(|e| e.to_string())
}
