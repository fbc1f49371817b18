//! The example's transport: worker threads, each sending one request at a
//! time with `ureq` and handing the whole answer back on a channel. It
//! classifies only what happened below HTTP (never sent, maybe arrived, no
//! answer in time); what an answer means is the core's to decide. The token
//! goes only to the API and upload roots it was given for.

use box_chunked_core::{Input, OutgoingRequest, RequestId, TransportError, TransportErrorKind};
use bytes::Bytes;
use std::io::Read as _;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest answer read (Box's answers are small; a page of parts is
/// about 150 KiB).
const MAX_ANSWER: u64 = 16 << 20;

/// An answer, or how the request failed, for the request `id`.
pub(crate) struct Sent {
    pub(crate) id: RequestId,
    result: Result<http::Response<Bytes>, TransportError>,
}

impl Sent {
    /// The machine's input for it.
    pub(crate) fn into_input(self) -> Input {
        match self.result {
            Ok(response) => Input::Response {
                id: self.id,
                response,
            },
            Err(error) => Input::Failed { id: self.id, error },
        }
    }
}

/// The worker threads.
pub(crate) struct Pool {
    jobs: mpsc::Sender<OutgoingRequest>,
}

impl Pool {
    /// `threads` workers that send with `token` (to URLs under `api` or
    /// `upload` only) and answer on `answers`.
    pub(crate) fn new(
        threads: usize,
        token: &str,
        api: &str,
        upload: &str,
        answers: mpsc::Sender<Sent>,
    ) -> Self {
        let (jobs, queue) = mpsc::channel::<OutgoingRequest>();
        let queue = Arc::new(Mutex::new(queue));
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let origins = Arc::new([
            api.trim_end_matches('/').to_owned(),
            upload.trim_end_matches('/').to_owned(),
        ]);
        for _ in 0..threads.max(1) {
            let (queue, answers, agent, origins) = (
                queue.clone(),
                answers.clone(),
                agent.clone(),
                origins.clone(),
            );
            let token = token.to_owned();
            std::thread::spawn(move || loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .recv();
                let Ok(r) = next else { return };
                let id = r.id;
                let result = exchange(&agent, &token, &origins[..], r);
                if answers.send(Sent { id, result }).is_err() {
                    return;
                }
            });
        }
        Self { jobs }
    }

    /// Sends `r` on the next free worker.
    pub(crate) fn send(&self, r: OutgoingRequest) {
        let _ = self.jobs.send(r);
    }
}

fn failed(kind: TransportErrorKind, detail: impl Into<String>) -> TransportError {
    TransportError::new(kind, detail)
}

/// One request, to its end.
fn exchange(
    agent: &ureq::Agent,
    token: &str,
    origins: &[String],
    r: OutgoingRequest,
) -> Result<http::Response<Bytes>, TransportError> {
    let (parts, body) = r.request.into_parts();
    let url = parts.uri.to_string();
    let timeout = r
        .deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let mut req = agent.request(parts.method.as_str(), &url).timeout(timeout);
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            req = req.set(name.as_str(), v);
        }
    }
    if origins.iter().any(|o| url.starts_with(o.as_str())) {
        req = req.set("authorization", &format!("Bearer {token}"));
    }
    let answer = match req.send_bytes(&body) {
        Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
        Err(ureq::Error::Transport(t)) => {
            let kind = match t.kind() {
                ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed => {
                    TransportErrorKind::NotSent
                }
                _ if t.to_string().contains("timed out") => TransportErrorKind::TimedOut,
                _ => TransportErrorKind::Ambiguous,
            };
            return Err(failed(kind, t.to_string()));
        }
    };
    let mut out = http::Response::builder().status(answer.status());
    for name in answer.headers_names() {
        for value in answer.all(&name) {
            out = out.header(name.as_str(), value);
        }
    }
    let mut bytes = Vec::new();
    answer
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            failed(
                TransportErrorKind::Ambiguous,
                format!("the answer broke off: {e}"),
            )
        })?;
    out.body(Bytes::from(bytes))
        .map_err(|e| failed(TransportErrorKind::Ambiguous, e.to_string()))
}
