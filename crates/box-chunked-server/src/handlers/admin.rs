//! The server's own routes (`/__box-chunked/*`): counters and fault rules.

use super::common::{empty_response, fail, json_response, now_unix, small_body, Body, Fail};
use crate::faults::FaultSpec;
use crate::store::{Store, StoreError};
use crate::State;
use box_chunked_proto::ErrorCode;
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

pub(crate) async fn admin(
    st: &Arc<State>,
    rest: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    match (req.method().as_str(), rest) {
        ("GET", "counters") => Ok(json_response(200, &st.counters.snapshot())),
        ("PUT", "faults") => {
            let body = small_body(st, req, 64 * 1024).await?;
            let text = String::from_utf8_lossy(&body);
            let spec = FaultSpec::parse(&text)
                .map_err(|e| fail(400, ErrorCode::BadRequest, e.to_string()))?;
            st.faults.set(spec);
            Ok(empty_response(204))
        }
        _ => Err(fail(404, ErrorCode::NotFound, "Not Found")),
    }
}

impl Store {
    /// Moves a session's expiry to now (fault injection).
    pub(crate) fn expire_now(&self, id: &str) -> Result<(), StoreError> {
        self.set_expiry(id, now_unix())
    }
}
