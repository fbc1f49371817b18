//! A simulated Box (in memory, virtual time) that follows Box's rules and can
//! script faults, and a harness that drives an [`Upload`] against it.

use crate::retry::Jitter;
use crate::*;
use box_chunked_proto::endpoints::{Endpoint, Method, Root};
use box_chunked_proto::{
    decode_json, encode_json, format_http_date, BoxError, CommitRequest, ContentRange,
    CreateUploadSession, DigestHeader, ErrorCode, File, Files, PartPlan, SessionEndpoints,
    Sha1Digest, Timestamp, UploadPart, UploadParts, UploadSession, UploadedPart,
};
use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

pub(crate) const ROOT: &str = "https://upload.box.test/api/2.0";

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum On {
    Create,
    Part(u64),
    AnyPart,
    List,
    Commit,
    Abort,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    /// Answer this status with a Box error body; the request is not applied.
    Status(u16),
    /// `429` with `Retry-After: secs`.
    Throttle(u64),
    /// The connection was never made.
    NotSent,
    /// Reset before the server applied anything.
    ResetBefore,
    /// The server applies the request, then the response is lost.
    LoseResponse,
    /// The response is delayed by this much.
    Delay(Duration),
    /// Commit answers `202`, with `Retry-After` when given.
    Accepted(Option<u64>),
    /// Commit answers `400 parts_mismatch`.
    PartsMismatch,
    /// The part is stored but the echo carries another SHA-1.
    WrongEcho,
    /// The session expires now.
    Expire,
    /// Answer this status and Box code; the request is not applied.
    Refuse(u16, ErrorCode),
}

#[derive(Debug, Clone)]
pub(crate) struct ScriptedFault {
    pub on: On,
    /// 1-based: the nth request matching `on`.
    pub nth: u32,
    pub fault: Fault,
}

#[derive(Debug)]
struct SimSession {
    file_size: u64,
    plan: PartPlan,
    parts: BTreeMap<u64, (UploadPart, Bytes)>,
    expires: Instant,
    name: String,
    folder_id: String,
    file_id: Option<String>,
    committed: Option<File>,
}

/// Counters a test can read.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub parts_stored: u64,
    pub overlaps: u64,
    pub commits: u64,
    pub creates: u64,
    pub lists: u64,
    pub aborts: u64,
    /// Part uploads of a range whose earlier upload was answered `200` and delivered.
    pub resent_after_ack: u64,
}

/// The simulated Box.
pub(crate) struct SimBox {
    pub part_size: u64,
    pub lifetime: Duration,
    pub epoch: Instant,
    pub wall_epoch: SystemTime,
    pub faults: Vec<ScriptedFault>,
    /// Random faults: (probability in 1/1000, per-key limit).
    pub chaos: Option<(u64, u32)>,
    pub overlap_without_sha: bool,
    rng: Jitter,
    seen: HashMap<String, u32>,
    matched: HashMap<String, u32>,
    sessions: HashMap<String, SimSession>,
    next_id: u64,
    /// File names per folder (lower-cased) -> file id.
    pub names: HashMap<(String, String), String>,
    pub files: HashMap<String, (File, Bytes)>,
    pub counters: Counters,
    acked: std::collections::HashSet<(String, u64)>,
}

/// What the simulated network does with a request.
pub(crate) enum Delivery {
    Respond(http::Response<Bytes>, Duration),
    Fail(TransportErrorKind, Duration),
}

impl SimBox {
    pub(crate) fn new(part_size: u64, epoch: Instant) -> Self {
        Self {
            part_size,
            lifetime: Duration::from_secs(7 * 24 * 3600),
            epoch,
            wall_epoch: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            faults: Vec::new(),
            chaos: None,
            overlap_without_sha: false,
            rng: Jitter::new(99),
            seen: HashMap::new(),
            matched: HashMap::new(),
            sessions: HashMap::new(),
            next_id: 1,
            names: HashMap::new(),
            files: HashMap::new(),
            counters: Counters::default(),
            acked: Default::default(),
        }
    }

    pub(crate) fn with_seed(mut self, seed: u64) -> Self {
        self.rng = Jitter::new(seed);
        self
    }

    fn wall(&self, now: Instant) -> SystemTime {
        self.wall_epoch + now.saturating_duration_since(self.epoch)
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032X}", self.next_id * 7919)
    }

    fn on_of(ep: &Endpoint, req: &http::Request<Bytes>, part_size: u64) -> On {
        match ep {
            Endpoint::CreateSession | Endpoint::CreateVersionSession { .. } => On::Create,
            Endpoint::UploadPart { .. } => {
                let offset = req
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| ContentRange::parse(v).ok())
                    .map_or(0, |r| r.offset());
                On::Part(offset / part_size.max(1))
            }
            Endpoint::ListParts { .. } => On::List,
            Endpoint::Commit { .. } => On::Commit,
            // The core sends none of these (the sim answers them 404).
            _ => On::Abort,
        }
    }

    fn pick_fault(&mut self, on: On) -> Option<Fault> {
        let key = format!("{on:?}");
        let n = {
            let c = self.seen.entry(key.clone()).or_insert(0);
            *c += 1;
            *c
        };
        let any_part = matches!(on, On::Part(_)).then(|| {
            let c = self.matched.entry("AnyPart".into()).or_insert(0);
            *c += 1;
            *c
        });
        if let Some(f) = self.faults.iter().find(|f| {
            (f.on == on && f.nth == n) || (f.on == On::AnyPart && Some(f.nth) == any_part)
        }) {
            return Some(f.fault.clone());
        }
        let (per_mille, limit) = self.chaos?;
        if n > limit || self.rng.next_u64() % 1000 >= per_mille {
            return None;
        }
        let r = self.rng.next_u64() % 8;
        Some(match (on, r) {
            (On::Commit, 0 | 1) => Fault::Accepted(Some(1 + self.rng.next_u64() % 3)),
            (On::Commit, 2) => Fault::Accepted(None),
            (On::Commit, 3) if n <= 2 => Fault::PartsMismatch,
            (_, 0) => Fault::Status(500),
            (_, 1) => Fault::Status(503),
            (_, 2) => Fault::Throttle(1 + self.rng.next_u64() % 2),
            (_, 3) => Fault::NotSent,
            (_, 4) => Fault::ResetBefore,
            (_, 5) => Fault::LoseResponse,
            (_, 6) => Fault::Delay(Duration::from_millis(1 + self.rng.next_u64() % 500)),
            _ => Fault::Status(502),
        })
    }

    /// Handles one request that arrives at `now`.
    pub(crate) fn deliver(&mut self, req: &http::Request<Bytes>, now: Instant) -> Delivery {
        let latency = Duration::from_millis(10);
        let path = req
            .uri()
            .path()
            .strip_prefix("/api/2.0")
            .unwrap_or("")
            .to_owned();
        let Some(method) = Method::parse(req.method().as_str()) else {
            return Delivery::Respond(
                self.error(now, 405, ErrorCode::MethodNotAllowed, "method"),
                latency,
            );
        };
        let ep = match Endpoint::route(Root::Upload, method, &path) {
            Ok(ep) => ep,
            Err(_) => {
                return Delivery::Respond(
                    self.error(now, 404, ErrorCode::NotFound, "no route"),
                    latency,
                )
            }
        };
        let on = Self::on_of(&ep, req, self.part_size);
        let fault = self.pick_fault(on);
        match fault {
            Some(Fault::Status(s)) => {
                let code = if s >= 500 {
                    ErrorCode::InternalServerError
                } else {
                    ErrorCode::BadRequest
                };
                Delivery::Respond(self.error(now, s, code, "injected"), latency)
            }
            Some(Fault::Refuse(status, code)) => {
                Delivery::Respond(self.error(now, status, code, "refused"), latency)
            }
            Some(Fault::Throttle(secs)) => {
                let mut r = self.error(
                    now,
                    429,
                    ErrorCode::RateLimitExceeded,
                    "Request rate limit exceeded",
                );
                r.headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
                Delivery::Respond(r, latency)
            }
            Some(Fault::NotSent) => {
                Delivery::Fail(TransportErrorKind::NotSent, Duration::from_millis(1))
            }
            Some(Fault::ResetBefore) => Delivery::Fail(TransportErrorKind::Ambiguous, latency),
            Some(Fault::LoseResponse) => {
                let _ = self.apply(&ep, req, now, false);
                Delivery::Fail(TransportErrorKind::Ambiguous, latency)
            }
            Some(Fault::Delay(d)) => {
                Delivery::Respond(self.apply(&ep, req, now, false), latency + d)
            }
            Some(Fault::Accepted(ra)) => {
                let mut r = http::Response::builder().status(202);
                if let Some(secs) = ra {
                    r = r.header("retry-after", secs.to_string());
                }
                let r = r
                    .header("date", format_http_date(self.wall(now)))
                    .body(Bytes::new())
                    .unwrap();
                Delivery::Respond(r, latency)
            }
            Some(Fault::PartsMismatch) => Delivery::Respond(
                self.error(
                    now,
                    400,
                    ErrorCode::PartsMismatch,
                    "No matching part found on server",
                ),
                latency,
            ),
            Some(Fault::WrongEcho) => Delivery::Respond(self.apply(&ep, req, now, true), latency),
            Some(Fault::Expire) => {
                for s in self.sessions.values_mut() {
                    s.expires = now;
                }
                Delivery::Respond(self.apply(&ep, req, now, false), latency)
            }
            None => Delivery::Respond(self.apply(&ep, req, now, false), latency),
        }
    }

    /// Called by the harness when a `200` part response reaches the client.
    pub(crate) fn acknowledged(&mut self, req: &http::Request<Bytes>) {
        if req.method() != http::Method::PUT {
            return;
        }
        if let Some(r) = req
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| ContentRange::parse(v).ok())
        {
            self.acked.insert((req.uri().path().to_owned(), r.offset()));
        }
    }

    fn error(
        &self,
        now: Instant,
        status: u16,
        code: ErrorCode,
        msg: &str,
    ) -> http::Response<Bytes> {
        self.json(
            now,
            status,
            &BoxError::new(status, code, msg).with_request_id("simreq"),
        )
    }

    fn json<T: serde::Serialize>(
        &self,
        now: Instant,
        status: u16,
        body: &T,
    ) -> http::Response<Bytes> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("date", format_http_date(self.wall(now)))
            .header("box-request-id", "simreq")
            .body(Bytes::from(encode_json(body)))
            .unwrap()
    }

    fn session_json(&self, id: &str, s: &SimSession, now: Instant) -> UploadSession {
        let url = |suffix: &str| Some(format!("{ROOT}/files/upload_sessions/{id}{suffix}"));
        let left = s.expires.saturating_duration_since(now);
        UploadSession {
            id: id.to_owned(),
            kind: "upload_session".into(),
            session_expires_at: Some(Timestamp::from_system_time(self.wall(now) + left)),
            part_size: s.plan.part_size(),
            total_parts: s.plan.total_parts(),
            num_parts_processed: Some(s.parts.len() as u64),
            session_endpoints: SessionEndpoints {
                upload_part: url(""),
                commit: url("/commit"),
                abort: url(""),
                list_parts: url("/parts"),
                status: url(""),
                log_event: url("/log"),
                plan: None,
            },
        }
    }

    fn apply(
        &mut self,
        ep: &Endpoint,
        req: &http::Request<Bytes>,
        now: Instant,
        wrong_echo: bool,
    ) -> http::Response<Bytes> {
        match ep {
            Endpoint::CreateSession | Endpoint::CreateVersionSession { .. } => {
                self.counters.creates += 1;
                let (folder_id, name, size, file_id) = match ep {
                    Endpoint::CreateSession => match decode_json::<CreateUploadSession>(req.body())
                    {
                        Ok(c) => (c.folder_id, c.file_name, c.file_size, None),
                        Err(e) => {
                            return self.error(now, 400, ErrorCode::BadRequest, &e.to_string())
                        }
                    },
                    Endpoint::CreateVersionSession { file_id } => {
                        match decode_json::<box_chunked_proto::CreateVersionUploadSession>(
                            req.body(),
                        ) {
                            Ok(c) => {
                                let Some((f, _)) = self.files.get(file_id) else {
                                    return self.error(now, 404, ErrorCode::NotFound, "no file");
                                };
                                let folder =
                                    f.parent.as_ref().map(|p| p.id.clone()).unwrap_or_default();
                                let name = c.file_name.or(f.name.clone()).unwrap_or_default();
                                (folder, name, c.file_size, Some(file_id.clone()))
                            }
                            Err(e) => {
                                return self.error(now, 400, ErrorCode::BadRequest, &e.to_string())
                            }
                        }
                    }
                    _ => unreachable!(),
                };
                if file_id.is_none() {
                    if let Some(existing) =
                        self.names.get(&(folder_id.clone(), name.to_lowercase()))
                    {
                        let e = BoxError::new(
                            409,
                            ErrorCode::ItemNameInUse,
                            "Item with the same name already exists",
                        )
                        .with_context(
                            serde_json::json!({"conflicts": {"type": "file", "id": existing}}),
                        );
                        return self.json(now, 409, &e);
                    }
                }
                let id = self.id();
                let plan = PartPlan::new(size, self.part_size).unwrap();
                let s = SimSession {
                    file_size: size,
                    plan,
                    parts: BTreeMap::new(),
                    expires: now + self.lifetime,
                    name,
                    folder_id,
                    file_id,
                    committed: None,
                };
                let body = self.session_json(&id, &s, now);
                self.sessions.insert(id, s);
                self.json(now, 201, &body)
            }
            Endpoint::UploadPart { session_id } => {
                let Some(s) = self.sessions.get_mut(session_id) else {
                    return self.error(now, 404, ErrorCode::NotFound, "no session");
                };
                if now >= s.expires {
                    return self.error(now, 410, ErrorCode::SessionExpired, "expired");
                }
                let range = req
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| ContentRange::parse(v).ok());
                let Some(range) = range else {
                    return self.error(now, 400, ErrorCode::BadRequest, "content-range");
                };
                let plan = s.plan;
                if plan.validate_content_range(&range).is_err()
                    || range.len() != req.body().len() as u64
                {
                    return self.error(now, 416, ErrorCode::RequestedRangeNotSatisfiable, "range");
                }
                let digest = req
                    .headers()
                    .get("digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| DigestHeader::parse_sha1(v).ok());
                let sha = Sha1Digest(Sha1::digest(req.body()).into());
                if digest != Some(sha) {
                    return self.error(now, 400, ErrorCode::BadDigest, "digest");
                }
                let key = (req.uri().path().to_owned(), range.offset());
                if self.acked.contains(&key) {
                    self.counters.resent_after_ack += 1;
                }
                let s = self.sessions.get_mut(session_id).unwrap();
                if let Some((stored, _)) = s.parts.get(&range.offset()) {
                    self.counters.overlaps += 1;
                    let mut stored = stored.clone();
                    if self.overlap_without_sha {
                        stored.sha1 = None;
                    }
                    let e = BoxError::new(
                        416,
                        ErrorCode::RangeOverlapsExistingPart,
                        "Part overlaps with previously uploaded part",
                    )
                    .with_context(serde_json::json!({ "conflicting_part": stored }));
                    return self.json(now, 416, &e);
                }
                let part = UploadPart {
                    part_id: format!("{:08X}", range.offset() / plan.part_size() + 0xA000),
                    offset: range.offset(),
                    size: range.len(),
                    sha1: Some(sha),
                };
                s.parts
                    .insert(range.offset(), (part.clone(), req.body().clone()));
                self.counters.parts_stored += 1;
                let mut echo = part;
                if wrong_echo {
                    echo.sha1 = Some(Sha1Digest([7; 20]));
                }
                self.json(now, 200, &UploadedPart { part: echo })
            }
            Endpoint::ListParts { session_id } => {
                self.counters.lists += 1;
                let Some(s) = self.sessions.get(session_id) else {
                    return self.error(now, 404, ErrorCode::NotFound, "no session");
                };
                if now >= s.expires {
                    return self.error(now, 410, ErrorCode::SessionExpired, "expired");
                }
                let q: HashMap<String, u64> = req
                    .uri()
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                    .collect();
                let offset = q.get("offset").copied().unwrap_or(0);
                let limit = q.get("limit").copied().unwrap_or(1000).min(1000);
                let entries: Vec<UploadPart> = s
                    .parts
                    .values()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .map(|(p, _)| p.clone())
                    .collect();
                let page = UploadParts {
                    entries,
                    total_count: s.parts.len() as u64,
                    limit,
                    offset,
                    order: vec![],
                };
                self.json(now, 200, &page)
            }
            Endpoint::Commit { session_id } => {
                self.counters.commits += 1;
                let Some(s) = self.sessions.get(session_id) else {
                    return self.error(now, 404, ErrorCode::NotFound, "no session");
                };
                if let Some(f) = &s.committed {
                    let files = Files {
                        total_count: Some(1),
                        entries: vec![f.clone()],
                    };
                    return self.json(now, 201, &files);
                }
                if now >= s.expires {
                    return self.error(now, 410, ErrorCode::SessionExpired, "expired");
                }
                let Ok(body) = decode_json::<CommitRequest>(req.body()) else {
                    return self.error(now, 400, ErrorCode::BadRequest, "body");
                };
                let listed: Vec<(u64, u64)> =
                    body.parts.iter().map(|p| (p.offset, p.size)).collect();
                let stored: Vec<(u64, u64)> =
                    s.parts.values().map(|(p, _)| (p.offset, p.size)).collect();
                let complete = stored.len() as u64 == s.plan.total_parts();
                if listed != stored || !complete {
                    return self.error(
                        now,
                        400,
                        ErrorCode::PartsMismatch,
                        "No matching part found on server",
                    );
                }
                let mut whole = Sha1::new();
                let mut content = Vec::with_capacity(s.file_size as usize);
                for (_, bytes) in s.parts.values() {
                    whole.update(bytes);
                    content.extend_from_slice(bytes);
                }
                let sha = Sha1Digest(whole.finalize().into());
                let sent = req
                    .headers()
                    .get("digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| DigestHeader::parse_sha1(v).ok());
                if sent != Some(sha) {
                    return self.error(
                        now,
                        400,
                        ErrorCode::DigestMismatch,
                        "File digest was incorrect.",
                    );
                }
                let file_id = s
                    .file_id
                    .clone()
                    .unwrap_or_else(|| format!("{}", 1000 + self.files.len()));
                let file: File = serde_json::from_value(serde_json::json!({
                    "type": "file", "id": file_id, "etag": "1", "sequence_id": "1",
                    "sha1": sha.to_hex(), "name": s.name, "size": s.file_size,
                    "parent": {"type": "folder", "id": s.folder_id},
                }))
                .unwrap();
                self.names.insert(
                    (s.folder_id.clone(), s.name.to_lowercase()),
                    file_id.clone(),
                );
                self.files
                    .insert(file_id, (file.clone(), Bytes::from(content)));
                self.sessions.get_mut(session_id).unwrap().committed = Some(file.clone());
                let files = Files {
                    total_count: Some(1),
                    entries: vec![file],
                };
                self.json(now, 201, &files)
            }
            Endpoint::Abort { session_id } => {
                self.counters.aborts += 1;
                if self.sessions.remove(session_id).is_none() {
                    return self.error(now, 404, ErrorCode::NotFound, "no session");
                }
                http::Response::builder()
                    .status(204)
                    .body(Bytes::new())
                    .unwrap()
            }
            Endpoint::GetSession { session_id } => match self.sessions.get(session_id) {
                Some(s) => {
                    let body = self.session_json(session_id, s, now);
                    self.json(now, 200, &body)
                }
                None => self.error(now, 404, ErrorCode::NotFound, "no session"),
            },
            _ => self.error(now, 404, ErrorCode::NotFound, "not simulated"),
        }
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn stored_parts(&self) -> usize {
        self.sessions.values().map(|s| s.parts.len()).sum()
    }
}

/// Deterministic source bytes.
pub(crate) fn source_bytes(size: u64, seed: u64) -> Bytes {
    let mut j = Jitter::new(seed);
    let mut v = Vec::with_capacity(size as usize);
    while (v.len() as u64) < size {
        v.extend_from_slice(&j.next_u64().to_le_bytes());
    }
    v.truncate(size as usize);
    Bytes::from(v)
}

#[allow(clippy::large_enum_variant)]
enum Pending {
    Reply {
        id: RequestId,
        delivery: Delivery,
        req: http::Request<Bytes>,
    },
    Read {
        id: ReadId,
        range: std::ops::Range<u64>,
        purpose: ReadPurpose,
    },
}

/// Drives one upload against a [`SimBox`] in virtual time.
pub(crate) struct Sim {
    pub now: Instant,
    pub upload: Upload,
    pub server: SimBox,
    pub source: Bytes,
    pub transcript: Vec<String>,
    pub events: Vec<Event>,
    pending: Vec<(Instant, u64, Pending)>,
    seq: u64,
    /// Shuffle the completion order of reads that finish together.
    pub read_jitter: Option<Jitter>,
    pub max_parts_in_flight: usize,
    pub max_bytes_held: u64,
    pub record: bool,
    pub steps: u64,
    /// Answer reads with [`Input::HashedData`] from the sim's own in-order
    /// chain, like the hyper driver's reader thread.
    pub prehash: Option<PreHash>,
    /// What the driver reports at the source check before the commit
    /// (`None`: unchanged).
    pub source_change: Option<String>,
}

/// A driver-side hasher: its chain, how many offers were made, and a
/// generator that sometimes makes it offer a `before` that is not the
/// machine's chain (the machine must then hash the part itself).
pub(crate) struct PreHash {
    pub chain: box_chunked_sha1::DualSha1,
    pub offered: u64,
    pub lie: Option<Jitter>,
    pub lies: u64,
    /// Answer verify reads with [`Input::Digested`] (no bytes), like the
    /// hyper driver after a new version's one-pass plan; `lie_digests`
    /// makes those digests continue another chain.
    pub digests_only: bool,
    pub lie_digests: bool,
    pub digested: u64,
}

impl Sim {
    pub(crate) fn new(upload: Upload, server: SimBox, source: Bytes, now: Instant) -> Self {
        Self {
            now,
            upload,
            server,
            source,
            transcript: Vec::new(),
            events: Vec::new(),
            pending: Vec::new(),
            seq: 0,
            read_jitter: None,
            max_parts_in_flight: 0,
            max_bytes_held: 0,
            record: true,
            steps: 0,
            prehash: None,
            source_change: None,
        }
    }

    fn log(&mut self, line: String) {
        if self.record {
            let t = self.now.saturating_duration_since(self.server.epoch);
            self.transcript
                .push(format!("{:>9.3}s {line}", t.as_secs_f64()));
        }
    }

    /// Drains outputs until `Wait` or `Done`; returns the wait deadline, or
    /// `Err(outcome)` when done.
    pub(crate) fn drain(&mut self) -> Result<Option<Instant>, Outcome> {
        loop {
            let p = self.upload.progress();
            self.max_parts_in_flight = self.max_parts_in_flight.max(p.parts_in_flight);
            self.max_bytes_held = self.max_bytes_held.max(p.bytes_held);
            match self.upload.poll_output() {
                Output::Request(r) => {
                    let line = format!(
                        "-> {} {} {} (attempt {})",
                        r.id,
                        r.request.method(),
                        r.request
                            .uri()
                            .path()
                            .replace("/api/2.0/files/upload_sessions", "~"),
                        r.attempt
                    );
                    let extra = r
                        .request
                        .headers()
                        .get("content-range")
                        .map(|v| format!(" [{}]", v.to_str().unwrap()))
                        .unwrap_or_default();
                    self.log(format!("{line}{extra}"));
                    let delivery = self.server.deliver(&r.request, self.now);
                    let at = match &delivery {
                        Delivery::Respond(_, d) | Delivery::Fail(_, d) => self.now + *d,
                    };
                    self.push(
                        at,
                        Pending::Reply {
                            id: r.id,
                            delivery,
                            req: r.request,
                        },
                    );
                }
                Output::Read(r) => {
                    self.log(format!(
                        "-> {} bytes {}..{} {:?}",
                        r.id, r.range.start, r.range.end, r.purpose
                    ));
                    let d = match self.read_jitter.as_mut() {
                        Some(j) => Duration::from_micros(j.next_u64() % 2000),
                        None => Duration::ZERO,
                    };
                    self.push(
                        self.now + d,
                        Pending::Read {
                            id: r.id,
                            range: r.range,
                            purpose: r.purpose,
                        },
                    );
                }
                Output::Cancel(id) => {
                    self.log(format!("-> cancel {id}"));
                    self.pending
                        .retain(|(_, _, p)| !matches!(p, Pending::Reply { id: i, .. } if *i == id));
                }
                // Signals for a shared tuner: kept, not in the transcript
                // (the tuner's own tests read them).
                Output::Event(e @ Event::PartSignal(_)) => self.events.push(e),
                Output::Event(e) => {
                    let line = match &e {
                        Event::PartConfirmed { index, how, .. } => {
                            format!("   event: part {index} confirmed ({how:?})")
                        }
                        Event::RetryScheduled {
                            kind,
                            attempt,
                            delay,
                            cause,
                            ..
                        } => {
                            format!(
                                "   event: retry {kind} after attempt {attempt} in {:.3}s ({})",
                                delay.as_secs_f64(),
                                cause.as_str()
                            )
                        }
                        Event::Committed(f) => format!("   event: committed file {}", f.id),
                        other => format!("   event: {other:?}"),
                    };
                    self.log(line);
                    self.events.push(e);
                }
                Output::CheckSource => {
                    let changed = self.source_change.clone();
                    if changed.is_some() {
                        self.log("-> check source: changed".to_owned());
                    }
                    let r = self
                        .upload
                        .handle_input(self.now, Input::SourceChecked { changed });
                    assert!(r.is_ok(), "{r:?}");
                }
                Output::Wait(d) => return Ok(d),
                Output::Done(o) => {
                    let line = match &o {
                        Outcome::Committed(f) => {
                            format!("done: committed {} sha1 {}", f.id, f.sha1.unwrap())
                        }
                        other => format!("done: {other:?}"),
                    };
                    self.log(line);
                    return Err(o);
                }
            }
        }
    }

    fn push(&mut self, at: Instant, p: Pending) {
        self.seq += 1;
        self.pending.push((at, self.seq, p));
    }

    /// Runs until done (or `max_steps` inputs), returning the outcome.
    pub(crate) fn run(&mut self, max_steps: u64) -> Outcome {
        loop {
            if let Err(o) = self.drain() {
                return o;
            }
            self.steps += 1;
            assert!(
                self.steps <= max_steps,
                "no outcome after {max_steps} inputs"
            );
            self.run_one();
        }
    }

    /// Feeds the next input: the earliest delivery, or a timeout if the
    /// machine's deadline comes first.
    pub(crate) fn run_one(&mut self) {
        let deadline = match self.drain() {
            Ok(d) => d,
            Err(_) => return,
        };
        let next = self
            .pending
            .iter()
            .enumerate()
            .min_by_key(|(_, (t, s, _))| (*t, *s))
            .map(|(i, (t, _, _))| (i, *t));
        match (next, deadline) {
            (Some((_, t)), Some(d)) if d < t => self.timeout(d),
            (None, Some(d)) => self.timeout(d),
            (Some((i, t)), _) => {
                let (_, _, p) = self.pending.remove(i);
                self.now = self.now.max(t);
                self.deliver(p);
            }
            (None, None) => panic!("deadlock: nothing pending and no deadline"),
        }
    }

    /// Runs until a read is waiting to be answered (and answers nothing).
    pub(crate) fn run_until_read(&mut self) {
        for _ in 0..1000 {
            let _ = self.drain();
            if self
                .pending
                .iter()
                .any(|(_, _, p)| matches!(p, Pending::Read { .. }))
            {
                return;
            }
            self.run_one();
        }
        panic!("no read was requested");
    }

    fn timeout(&mut self, d: Instant) {
        self.now = self.now.max(d);
        self.log("<- timeout".to_owned());
        let before = self.now;
        self.upload.handle_input(self.now, Input::Timeout).unwrap();
        // After a timeout the next deadline must be strictly later.
        if let Ok(Some(next)) = self.peek_deadline() {
            assert!(
                next > before,
                "deadline did not move forward after a timeout"
            );
        }
    }

    fn peek_deadline(&mut self) -> Result<Option<Instant>, Outcome> {
        self.drain()
    }

    fn deliver(&mut self, p: Pending) {
        match p {
            Pending::Reply { id, delivery, req } => match delivery {
                Delivery::Respond(resp, _) => {
                    self.log(format!("<- {id} {}", resp.status().as_u16()));
                    if resp.status() == 200 {
                        self.server.acknowledged(&req);
                    }
                    self.upload
                        .handle_input(self.now, Input::Response { id, response: resp })
                        .unwrap();
                }
                Delivery::Fail(kind, _) => {
                    self.log(format!("<- {id} failed {kind:?}"));
                    let error = TransportError::new(kind, "simulated");
                    self.upload
                        .handle_input(self.now, Input::Failed { id, error })
                        .unwrap();
                }
            },
            Pending::Read { id, range, purpose } => {
                self.log(format!("<- {id} data"));
                let bytes = self.source.slice(range.start as usize..range.end as usize);
                let input = match self.prehash.as_mut() {
                    Some(p) if p.chain.file_len() == range.start && p.chain.at_block_boundary() => {
                        let before = p.chain.clone();
                        p.chain.update(&bytes);
                        let part_sha1 = p.chain.finish_part();
                        p.offered += 1;
                        let mut hashes = PartHashes {
                            part_sha1,
                            before,
                            after: p.chain.clone(),
                        };
                        if p.lie.as_mut().is_some_and(|j| j.next_u64() % 4 == 0) {
                            // A chain over other bytes of the same length
                            // (or, at offset 0, of another length).
                            p.lies += 1;
                            let mut other = box_chunked_sha1::DualSha1::new(
                                box_chunked_sha1::Backend::Portable,
                            );
                            other.update(&vec![0x5a; range.start.max(64) as usize]);
                            let _ = other.finish_part();
                            hashes.before = other.clone();
                            other.update(&bytes);
                            hashes.part_sha1 = other.finish_part();
                            hashes.after = other;
                        }
                        if p.digests_only && purpose == ReadPurpose::Verify {
                            p.digested += 1;
                            if p.lie_digests {
                                let mut other = box_chunked_sha1::DualSha1::new(
                                    box_chunked_sha1::Backend::Portable,
                                );
                                other.update(&vec![0x5a; range.start.max(64) as usize]);
                                let _ = other.finish_part();
                                hashes.before = other;
                            }
                            Input::Digested {
                                id,
                                hashes: Box::new(hashes),
                            }
                        } else {
                            Input::HashedData {
                                id,
                                bytes,
                                hashes: Box::new(hashes),
                            }
                        }
                    }
                    _ => Input::Data { id, bytes },
                };
                self.upload.handle_input(self.now, input).unwrap();
            }
        }
    }

    pub(crate) fn source_sha1(&self) -> Sha1Digest {
        Sha1Digest(Sha1::digest(&self.source).into())
    }
}
