//! A recording reverse proxy, and a checker of recorded requests against
//! Box's OpenAPI description of the chunked upload endpoints
//! (`tests/fixtures/box-openapi-chunked-uploads.json`, Box's public spec).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One recorded request.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct ProxyState {
    target: Mutex<String>,
    seen: Mutex<Vec<Recorded>>,
}

pub(crate) struct RecordingProxy {
    pub url: String,
    state: Arc<ProxyState>,
}

impl RecordingProxy {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProxyState::default());
        let st = state.clone();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, client) = (st.clone(), client.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                        let (st, client) = (st.clone(), client.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes();
                            st.seen.lock().unwrap().push(Recorded {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().map(str::to_owned),
                                headers: parts.headers.clone(),
                                body: body.clone(),
                            });
                            let target = st.target.lock().unwrap().clone();
                            let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                            let mut fwd = http::Request::builder()
                                .method(parts.method)
                                .uri(format!("{target}{pq}"));
                            for (k, v) in &parts.headers {
                                if k != http::header::HOST {
                                    fwd = fwd.header(k, v);
                                }
                            }
                            let resp = client.request(fwd.body(Full::new(body)).unwrap()).await;
                            let resp = match resp {
                                Ok(r) => r,
                                Err(_) => {
                                    return Ok::<_, hyper::Error>(
                                        http::Response::builder()
                                            .status(502)
                                            .body(Full::new(Bytes::new()))
                                            .unwrap(),
                                    )
                                }
                            };
                            let (rp, rb) = resp.into_parts();
                            let rb = rb.collect().await?.to_bytes();
                            Ok(http::Response::from_parts(rp, Full::new(rb)))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { url, state }
    }

    pub(crate) fn set_target(&self, target: &str) {
        *self.state.target.lock().unwrap() = target.to_owned();
    }

    /// The chunked upload requests seen (file downloads and reads are not part of the spec).
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with("/api/2.0/"))
            .cloned()
            .collect()
    }
}

pub(crate) struct Spec {
    doc: Value,
}

impl Spec {
    pub(crate) fn load() -> Self {
        let path = format!(
            "{}/fixtures/box-openapi-chunked-uploads.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        Self { doc }
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let mut cur = &self.doc;
                for seg in r.trim_start_matches("#/").split('/') {
                    cur = &cur[seg];
                }
                self.resolve(cur)
            }
            None => v,
        }
    }

    /// Properties and required names of an object schema, following `$ref` and `allOf`.
    fn object(&self, schema: &Value) -> (serde_json::Map<String, Value>, Vec<String>) {
        let s = self.resolve(schema);
        let mut props = serde_json::Map::new();
        let mut required = Vec::new();
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for part in all {
                let (p, r) = self.object(part);
                props.extend(p);
                required.extend(r);
            }
        }
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            props.extend(p.clone());
        }
        if let Some(r) = s.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        }
        (props, required)
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let s = self.resolve(schema);
        let ty = s
            .get("type")
            .and_then(Value::as_str)
            .or_else(|| s.get("allOf").map(|_| "object"));
        match ty {
            Some("object") | None
                if value.is_object()
                    || s.get("properties").is_some()
                    || s.get("allOf").is_some() =>
            {
                let obj = value
                    .as_object()
                    .ok_or(format!("{at}: expected an object"))?;
                let (props, required) = self.object(schema);
                for r in required {
                    if !obj.contains_key(&r) {
                        return Err(format!("{at}: required property {r} missing"));
                    }
                }
                for (k, v) in obj {
                    if let Some(ps) = props.get(k) {
                        self.validate(ps, v, &format!("{at}.{k}"))?;
                    }
                }
                Ok(())
            }
            Some("string") if !value.is_string() => {
                Err(format!("{at}: expected a string, got {value}"))
            }
            Some("integer") if !(value.is_u64() || value.is_i64()) => {
                Err(format!("{at}: expected an integer, got {value}"))
            }
            Some("array") => {
                let items = value.as_array().ok_or(format!("{at}: expected an array"))?;
                for (i, it) in items.iter().enumerate() {
                    self.validate(&s["items"], it, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Checks one request; returns the operation's `METHOD path-template`.
    pub(crate) fn check(&self, r: &Recorded) -> Result<String, String> {
        let rel = r
            .path
            .strip_prefix("/api/2.0")
            .ok_or("not under the upload root /api/2.0")?;
        let segs: Vec<&str> = rel.trim_matches('/').split('/').collect();
        let paths = self.doc["paths"].as_object().ok_or("no paths")?;
        let method = r.method.to_lowercase();
        for (template, item) in paths {
            let t: Vec<&str> = template.trim_matches('/').split('/').collect();
            if t.len() != segs.len() {
                continue;
            }
            let matches = t
                .iter()
                .zip(&segs)
                .all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b);
            if !matches {
                continue;
            }
            let Some(op) = item.get(&method) else {
                continue;
            };
            for p in op["parameters"].as_array().into_iter().flatten() {
                let p = self.resolve(p);
                let name = p["name"].as_str().unwrap_or("");
                let required = p["required"].as_bool().unwrap_or(false);
                match p["in"].as_str() {
                    Some("header") => {
                        let v = r.headers.get(name).and_then(|v| v.to_str().ok());
                        if required && v.is_none() {
                            return Err(format!("required header {name} missing"));
                        }
                        if name == "digest" {
                            if let Some(v) = v {
                                box_chunked_proto::DigestHeader::parse_sha1(v)
                                    .map_err(|e| format!("digest: {e}"))?;
                            }
                        }
                        if name == "content-range" {
                            if let Some(v) = v {
                                box_chunked_proto::ContentRange::parse(v)
                                    .map_err(|e| format!("content-range: {e}"))?;
                            }
                        }
                    }
                    Some("query") => {
                        let q = r.query.clone().unwrap_or_default();
                        for kv in q.split('&').filter(|s| !s.is_empty()) {
                            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                            if k == name
                                && p["schema"]["type"] == "integer"
                                && v.parse::<i64>().is_err()
                            {
                                return Err(format!("query {name}={v} is not an integer"));
                            }
                            if k == name {
                                if let Some(max) = p["schema"]["maximum"].as_i64() {
                                    if v.parse::<i64>().unwrap_or(0) > max {
                                        return Err(format!("query {name}={v} above {max}"));
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                let ct = r
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let (media, schema) = content.iter().next().ok_or("empty requestBody")?;
                if !ct.starts_with(media.as_str()) {
                    return Err(format!("content-type {ct:?}, the spec says {media}"));
                }
                if media == "application/json" {
                    let v: Value = serde_json::from_slice(&r.body)
                        .map_err(|e| format!("body is not JSON: {e}"))?;
                    self.validate(&schema["schema"], &v, "body")?;
                } else if r.body.is_empty() {
                    return Err("empty binary body".into());
                }
            } else if !r.body.is_empty() {
                return Err("a body where the spec has none".into());
            }
            return Ok(format!("{} {template}", r.method));
        }
        Err("no operation in the spec matches".into())
    }
}
