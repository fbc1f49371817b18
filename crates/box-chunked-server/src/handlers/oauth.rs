//! The OAuth token endpoint: the client-credentials grant.

use super::common::{fail, json_response, random_hex, small_body, Body, Fail};
use crate::State;
use box_chunked_proto::ErrorCode;
use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;
use std::time::SystemTime;

pub(crate) async fn oauth_token(
    st: &Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    if req.method() != http::Method::POST {
        return Err(fail(405, ErrorCode::MethodNotAllowed, "Method Not Allowed"));
    }
    let body = small_body(st, req, 64 * 1024).await?;
    let mut grant = None;
    let mut client_id = None;
    let mut secret = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match &*k {
            "grant_type" => grant = Some(v.into_owned()),
            "client_id" => client_id = Some(v.into_owned()),
            "client_secret" => secret = Some(v.into_owned()),
            _ => {}
        }
    }
    if grant.as_deref() != Some("client_credentials") {
        return Err(Fail::OAuth(
            400,
            "unsupported_grant_type",
            "The grant type is unsupported; use client_credentials",
        ));
    }
    let (Some(id), Some(secret)) = (client_id, secret) else {
        return Err(Fail::OAuth(
            400,
            "invalid_request",
            "client_id and client_secret are required",
        ));
    };
    let Some((_, _, user)) = st
        .cfg
        .clients
        .iter()
        .find(|(c, s, _)| *c == id && *s == secret)
    else {
        return Err(Fail::OAuth(
            400,
            "invalid_client",
            "The client credentials are invalid",
        ));
    };
    let token = random_hex(16, false);
    let expires = SystemTime::now() + st.cfg.token_ttl;
    st.issued
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(token.clone(), (user.clone(), expires));
    Ok(json_response(
        200,
        &json!({
            "access_token": token,
            "expires_in": st.cfg.token_ttl.as_secs(),
            "token_type": "bearer",
            "restricted_to": [],
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }),
    ))
}
