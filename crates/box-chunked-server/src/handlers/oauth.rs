//! The OAuth token endpoint: the client-credentials grant (for `--client`
//! clients and `--app` apps), the JWT-bearer grant verified against the
//! app's public key, and the `authorization_code` and single-use
//! `refresh_token` grants. Refusals are Box's: `400 invalid_grant` with a
//! sentence naming the claim, `400 invalid_client`, `400 invalid_request`.

use super::common::{json_response, random_hex, small_body, Body, Fail};
use crate::auth::{Principal, ServerApp};
use crate::{Counters, State};
use box_chunked_proto::jwt::{Assertion, BOX_AUDIENCE};
use box_chunked_proto::oauth::{Grant, SubjectType, TokenAnswer};
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// Clocks may differ this much when `exp` is checked.
const LEEWAY_SECS: u64 = 5;

fn refused(error: &'static str, why: impl Into<String>) -> Fail {
    Fail::OAuth(400, error, why.into())
}

fn invalid_client() -> Fail {
    refused("invalid_client", "The client credentials are invalid")
}

pub(crate) async fn oauth_token(
    st: &Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let body = small_body(st, req, 64 * 1024).await?;
    let answer = Grant::parse_form(&body)
        .map_err(|e| refused(e.code(), e.to_string()))
        .and_then(|g| grant(st, &g));
    match answer {
        Ok(a) => Ok(json_response(200, &a)),
        Err(e) => {
            Counters::add(&st.counters.grants_refused, 1);
            Err(e)
        }
    }
}

fn grant(st: &State, g: &Grant) -> Result<serde_json::Value, Fail> {
    let app = st
        .cfg
        .apps
        .iter()
        .find(|a| a.client_id == g.client_id() && a.secret_is(g.client_secret()));
    let client = st
        .cfg
        .clients
        .iter()
        .find(|(id, secret, _)| id == g.client_id() && secret == g.client_secret());
    match g {
        Grant::ClientCredentials {
            subject_type,
            subject_id,
            ..
        } => {
            if let Some(app) = app {
                let mut who = app_subject(st, app, subject_type, subject_id)
                    .ok_or_else(|| refused("invalid_grant", "Grant credentials are invalid"))?;
                who.app = Some(app.client_id.clone());
                return Ok(issue(st, who, None));
            }
            let (_, _, user) = client.ok_or_else(invalid_client)?;
            Ok(issue(st, Principal::user(user), None))
        }
        Grant::JwtBearer { assertion, .. } => {
            let app = app.ok_or_else(invalid_client)?;
            let mut who = verify_assertion(st, app, assertion)?;
            who.app = Some(app.client_id.clone());
            Ok(issue(st, who, None))
        }
        Grant::AuthorizationCode {
            code,
            client_id,
            redirect_uri,
            ..
        } => {
            client.ok_or_else(invalid_client)?;
            let user = st
                .book
                .take_code(code, client_id, redirect_uri.as_deref())
                .ok_or_else(|| {
                    refused(
                        "invalid_grant",
                        "The authorization code is invalid, used already, expired, or for another redirect_uri",
                    )
                })?;
            Ok(issue(st, Principal::user(&user), Some(client_id)))
        }
        Grant::RefreshToken {
            refresh_token,
            client_id,
            ..
        } => {
            client.ok_or_else(invalid_client)?;
            let user = st
                .book
                .take_refresh(refresh_token, client_id)
                .ok_or_else(|| refused("invalid_grant", "Invalid refresh token"))?;
            Counters::add(&st.counters.tokens_refreshed, 1);
            Ok(issue(st, Principal::user(&user), Some(client_id)))
        }
    }
}

/// Who an app's token for this subject acts as: the service account for
/// its own enterprise, or one of the enterprise's managed users.
fn app_subject(st: &State, app: &ServerApp, kind: &SubjectType, id: &str) -> Option<Principal> {
    match kind {
        SubjectType::Enterprise if id == app.enterprise_id => Some(Principal {
            user: app.service_account(),
            service_account: true,
            app: Some(app.client_id.clone()),
        }),
        SubjectType::User if st.is_managed_user(id) => Some(Principal::user(id)),
        _ => None,
    }
}

/// Box's checks of a JWT-bearer assertion, in the order Box reports them.
fn verify_assertion(st: &State, app: &ServerApp, jwt: &str) -> Result<Principal, Fail> {
    let bad = |why: String| refused("invalid_grant", why);
    let a = Assertion::parse(jwt).map_err(|e| bad(format!("Invalid assertion: {e}")))?;
    // Box's Node SDK sends no `kid`: then the app's key is tried.
    if !a.header.kid.is_empty() && a.header.kid != app.public_key_id {
        return Err(bad(format!(
            "Please check the 'kid' header: {:?} is not a public key of this app.",
            a.header.kid
        )));
    }
    a.verify(app.public_key()).map_err(|_| {
        bad("Please check the signature: it does not match the app's public key.".into())
    })?;
    let c = &a.claims;
    if c.iss != app.client_id {
        return Err(bad("Please check the 'iss' claim.".into()));
    }
    let own = box_chunked_proto::urls::BaseUrls::from_base(&st.url).token;
    if c.aud != BOX_AUDIENCE && c.aud != own {
        return Err(bad("Please check the 'aud' claim.".into()));
    }
    let now = st
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    c.check(now, LEEWAY_SECS).map_err(|e| bad(e.to_string()))?;
    if !st
        .book
        .first_use_of_jti(&c.iss, &c.jti, UNIX_EPOCH + Duration::from_secs(c.exp))
    {
        return Err(bad(
            "Please check the 'jti' claim: this assertion was used before.".into(),
        ));
    }
    let kind = SubjectType::parse(&c.box_sub_type)
        .ok_or_else(|| bad("Please check the 'box_sub_type' claim.".into()))?;
    app_subject(st, app, &kind, &c.sub).ok_or_else(|| bad("Please check the 'sub' claim.".into()))
}

/// A new access token (and, for a user grant of `client`, a refresh token).
fn issue(st: &State, who: Principal, client: Option<&str>) -> serde_json::Value {
    let token = random_hex(16, false);
    let refresh_token = client.map(|c| {
        let r = random_hex(24, false);
        st.book.issue_refresh(&r, c, &who.user);
        r
    });
    st.book.issue(&token, who, st.cfg.token_ttl);
    Counters::add(&st.counters.tokens_issued, 1);
    serde_json::to_value(TokenAnswer {
        access_token: token,
        expires_in: st.cfg.token_ttl.as_secs(),
        token_type: "bearer".into(),
        refresh_token,
        restricted_to: vec![],
        issued_token_type: Some("urn:ietf:params:oauth:token-type:access_token".into()),
    })
    .unwrap_or_default()
}
