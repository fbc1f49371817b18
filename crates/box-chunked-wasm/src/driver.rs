//! The driver's loop, on one browser task, exactly as docs/sans-io.md
//! describes it: after every input, drain [`Upload::poll_output`]; start a
//! `fetch` for each request (several parts in flight, each its own task
//! answering on a channel); read each asked slice of the file in order;
//! wait for the next answer, the machine's deadline (`Retry-After`, backoff)
//! or the caller's `AbortSignal`; then feed what came, with the time it came.

use crate::js;
use crate::transport::{self, Answer, Credentials};
use box_chunked_core::{Event, Input, Outcome, Output, RequestId, Upload};
use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::future::{select, Either};
use futures_util::StreamExt as _;
use js_sys::Function;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{AbortController, AbortSignal, Blob};

/// What wakes the loop.
pub(crate) enum Wake {
    /// A request ended.
    Answer(Answer),
    /// The caller's `AbortSignal` fired.
    Stop,
}

/// The JavaScript callbacks of an upload.
#[derive(Default)]
pub(crate) struct Callbacks {
    /// `onProgress({bytesDone, bytesTotal, partsDone, partsTotal, partsInFlight})`.
    pub(crate) progress: Option<Function>,
    /// `onRetry({kind, attempt, delayMs, status})`.
    pub(crate) retry: Option<Function>,
}

/// How the loop ended, for the caller's promise.
pub(crate) enum End {
    /// The committed file, as Box returned it (JSON).
    Committed(String),
    /// The caller cancelled and the session was deleted.
    Aborted,
    /// The upload failed; the sentence says why.
    Failed(String),
}

/// Runs `upload` over `file` to its end.
// Long on purpose: the driver's loop in one place, as docs/sans-io.md shows it.
pub(crate) async fn run(
    mut upload: Upload,
    file: Blob,
    credentials: Credentials,
    signal: Option<AbortSignal>,
    callbacks: Callbacks,
) -> End {
    let credentials = Rc::new(credentials);
    let (wake, mut woken) = mpsc::unbounded::<Wake>();
    let on_abort = signal.as_ref().map(|s| StopListener::new(s, wake.clone()));
    let mut in_flight: HashMap<RequestId, AbortController> = HashMap::new();
    let mut stopping = false;
    loop {
        // 1. Drain: act on every output until the machine waits or is done.
        let mut ready: Vec<Input> = Vec::new();
        let deadline = loop {
            match upload.poll_output() {
                Output::Request(r) => {
                    let Ok(abort) = AbortController::new() else {
                        return End::Failed("this browser has no AbortController".into());
                    };
                    in_flight.insert(r.id, abort.clone());
                    let (wake, credentials) = (wake.clone(), credentials.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        let answer = transport::exchange(r, credentials, abort, js::now()).await;
                        let _ = wake.unbounded_send(Wake::Answer(answer));
                    });
                }
                Output::Read(r) => {
                    let read = js::read_slice(&file, r.range.start, r.range.end).await;
                    ready.push(match read {
                        Ok(bytes) => Input::Data {
                            id: r.id,
                            bytes: Bytes::from(bytes),
                        },
                        Err(detail) => Input::ReadFailed { id: r.id, detail },
                    });
                }
                Output::Cancel(id) => {
                    if let Some(abort) = in_flight.remove(&id) {
                        abort.abort();
                    }
                }
                // A `File` is a snapshot: the browser fails a read of a file
                // changed on disk (`NotReadableError`), which ends the upload
                // as a read failure; its size and date cannot change.
                Output::CheckSource => ready.push(Input::SourceChecked { changed: None }),
                Output::Event(event) => tell(&callbacks, &event, &upload),
                Output::Wait(deadline) => break deadline,
                Output::Done(outcome) => {
                    drop(on_abort);
                    return end(outcome);
                }
            }
        };
        // 2. Feed what is ready, else wait for the next answer, the deadline or a stop.
        if ready.is_empty() {
            let next = match deadline {
                Some(d) => {
                    let millis = d.saturating_duration_since(js::now()).as_secs_f64() * 1000.0;
                    match select(woken.next(), js::sleep(millis)).await {
                        Either::Left((wake, _)) => wake,
                        Either::Right(_) => {
                            ready.push(Input::Timeout);
                            None
                        }
                    }
                }
                None => woken.next().await,
            };
            match next {
                Some(Wake::Answer(a)) => {
                    // An answer to a request the machine cancelled is not its any more.
                    if in_flight.remove(&a.id).is_some() {
                        ready.push(match a.result {
                            Ok(response) => Input::Response { id: a.id, response },
                            Err(error) => Input::Failed { id: a.id, error },
                        });
                    }
                }
                Some(Wake::Stop) if !stopping => {
                    stopping = true;
                    upload.abort(js::now());
                }
                Some(Wake::Stop) | None => {}
            }
        }
        for input in ready {
            if let Err(e) = upload.handle_input(js::now(), input) {
                return End::Failed(format!("the browser driver broke the core's contract: {e}"));
            }
        }
    }
}

/// Tells the page what it follows: progress after each confirmed part, and
/// each retry.
fn tell(callbacks: &Callbacks, event: &Event, upload: &Upload) {
    match event {
        Event::PartConfirmed { .. } | Event::SessionReady { .. } => {
            if let Some(f) = &callbacks.progress {
                let p = upload.progress();
                let value = object(&[
                    ("bytesDone", (p.bytes_done as f64).into()),
                    ("bytesTotal", (p.bytes_total as f64).into()),
                    ("partsDone", (p.parts_done as f64).into()),
                    ("partsTotal", (p.parts_total as f64).into()),
                    ("partsInFlight", (p.parts_in_flight as f64).into()),
                ]);
                let _ = f.call1(&JsValue::NULL, &value);
            }
        }
        Event::RetryScheduled {
            kind,
            attempt,
            delay,
            status,
            ..
        } => {
            if let Some(f) = &callbacks.retry {
                let value = object(&[
                    ("kind", kind.to_string().into()),
                    ("attempt", (*attempt).into()),
                    ("delayMs", (delay.as_secs_f64() * 1000.0).into()),
                    ("status", status.map_or(JsValue::NULL, JsValue::from)),
                ]);
                let _ = f.call1(&JsValue::NULL, &value);
            }
        }
        _ => {}
    }
}

/// A plain object with these properties.
fn object(props: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in props {
        let _ = js_sys::Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}

fn end(outcome: Outcome) -> End {
    match outcome {
        Outcome::Committed(file) => match serde_json::to_string(&file) {
            Ok(json) => End::Committed(json),
            Err(e) => End::Failed(format!("the committed file could not be described: {e}")),
        },
        Outcome::Aborted => End::Aborted,
        Outcome::Failed(e) => End::Failed(e.to_string()),
    }
}

/// The `abort` listener on the caller's signal, removed when dropped.
struct StopListener {
    signal: AbortSignal,
    listener: Closure<dyn FnMut()>,
}

impl StopListener {
    fn new(signal: &AbortSignal, wake: mpsc::UnboundedSender<Wake>) -> Self {
        let listener = Closure::<dyn FnMut()>::new(move || {
            let _ = wake.unbounded_send(Wake::Stop);
        });
        let _ = signal.add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
        if signal.aborted() {
            let _ = listener
                .as_ref()
                .unchecked_ref::<Function>()
                .call0(&JsValue::NULL);
        }
        Self {
            signal: signal.clone(),
            listener,
        }
    }
}

impl Drop for StopListener {
    fn drop(&mut self) {
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.listener.as_ref().unchecked_ref());
    }
}
