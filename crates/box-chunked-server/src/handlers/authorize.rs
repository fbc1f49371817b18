//! `GET /oauth2/authorize` (also at Box's path `/api/oauth2/authorize`):
//! the user's approval of an app, granted at once for the user of a
//! `--client ID:SECRET=USER` (there is no login page), answered with a
//! redirect to `redirect_uri` carrying a single-use `code` and the `state`.
//! As on Box, only a redirect URI registered for the client is followed
//! (compared exactly); a client with none registered may use loopback
//! `http` URIs. Any other is a `400`: no redirect, no code.

use super::common::{empty_response, random_hex, Body, Fail};
use crate::State;
use box_chunked_proto::oauth::parse_form;
use http::{HeaderValue, Request, Response};

pub(crate) fn authorize<B>(st: &State, req: &Request<B>) -> Result<Response<Body>, Fail> {
    let query = parse_form(req.uri().query().unwrap_or("").as_bytes());
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let bad = |e: &'static str, why: &str| Fail::OAuth(400, e, why.to_owned());
    let client_id =
        get("client_id").ok_or_else(|| bad("invalid_request", "client_id is required"))?;
    let Some((_, _, user)) = st.cfg.clients.iter().find(|(id, _, _)| id == client_id) else {
        return Err(bad(
            "invalid_client",
            "The client_id is not a client of this server (serve --client ID:SECRET=USER)",
        ));
    };
    if get("response_type") != Some("code") {
        return Err(bad(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let redirect = get("redirect_uri")
        .filter(|r| r.starts_with("http://") || r.starts_with("https://"))
        .ok_or_else(|| {
            bad(
                "invalid_request",
                "redirect_uri is required, as an http:// or https:// URL",
            )
        })?;
    if !redirect_allowed(st, client_id, redirect) {
        return Err(bad(
            "invalid_request",
            "The redirect_uri is not registered for this client (serve --redirect-uri ID=URI; without one, only http://127.0.0.1:PORT/ and http://localhost:PORT/ URIs are allowed)",
        ));
    }
    let code = random_hex(16, false);
    st.book.issue_code(&code, client_id, user, Some(redirect));
    let mut back = form_urlencoded::Serializer::new(String::new());
    back.append_pair("code", &code);
    if let Some(state) = get("state") {
        back.append_pair("state", state);
    }
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!("{redirect}{sep}{}", back.finish());
    let mut r = empty_response(302);
    r.headers_mut().insert(
        http::header::LOCATION,
        HeaderValue::from_str(&location)
            .map_err(|_| bad("invalid_request", "redirect_uri is not a valid URL"))?,
    );
    Ok(r)
}

/// Whether `uri` is one of the client's registered redirect URIs, or, when
/// it has none, a loopback `http` URI (any port and path).
fn redirect_allowed(st: &State, client_id: &str, uri: &str) -> bool {
    let mut registered = st
        .cfg
        .redirect_uris
        .iter()
        .filter(|(c, _)| c == client_id)
        .peekable();
    if registered.peek().is_some() {
        return registered.any(|(_, u)| u == uri);
    }
    uri.parse::<http::Uri>().is_ok_and(|u| {
        u.scheme_str() == Some("http")
            && !u.authority().is_some_and(|a| a.as_str().contains('@'))
            && matches!(u.host(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}
