//! `GET /users/me`: the user of the token, with the space they hold.

use super::common::{blocking, json_response, Body, Fail};
use super::repr::me_json;
use crate::State;
use http::Response;
use std::sync::Arc;

/// `GET /users/me`.
pub(crate) async fn users_me(st: &Arc<State>, user: &str) -> Result<Response<Body>, Fail> {
    let owner = user.to_owned();
    let used = blocking(st, move |s| s.space_used(&owner)).await?;
    Ok(json_response(200, &me_json(user, used, st.cfg.quota)))
}
