//! The account SCIM handlers, one generic set for [`Resource`]s: LIST (`filter`, `startIndex`,
//! `count` capped at [`MAX_PAGE_SIZE`], `attributes`/`excludedAttributes`, the workspace emulator's
//! [`ListQuery`]), GET, POST (201 with the resource), PATCH (200 with the resource, or 204 without a
//! body: [`super::Account::set_patch_answers_204`]) and DELETE (204).
//! Every change is federated, before the answer, into the account's workspaces it can change: those
//! that reach the changed resource before or after the change (a resource just created is in no group
//! and assigned nowhere, so its creation changes no workspace); a group's members changed by users
//! and service principals only, as the difference ([`super::federation::Change`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::scim::error::{ScimError, parse_body};
use crate::scim::patch;
use crate::scim::query::{ListQuery, Projection};

use super::Account;
use super::federation::{Change, reaching};
use super::resources::Resource;

/// The REST reference: `count` "Constraints: <= 100". Larger counts are capped, not refused
/// (what the service does is unconfirmed).
pub const MAX_PAGE_SIZE: usize = 100;

pub(crate) async fn list<T: Resource>(
    State(account): State<Account>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let state = account.state();
    let query = ListQuery::parse(query.as_deref(), T::FILTERABLE, MAX_PAGE_SIZE)?;
    let matches: Vec<&T> = T::table(&state)
        .iter()
        .filter(|r| query.matches(*r))
        .collect();
    Ok(query.respond(&matches, |r| r.render(&state, false), false))
}

pub(crate) async fn get<T: Resource>(
    State(account): State<Account>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let state = account.state();
    let resource = T::table(&state).get(&id).ok_or_else(|| T::not_found(&id))?;
    let body = Projection::from_query(query.as_deref()).apply(resource.render(&state, true));
    Ok(Json(body).into_response())
}

pub(crate) async fn create<T: Resource>(
    State(account): State<Account>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut state = account.state();
    let resource = T::create(&state, &body)?;
    let rendered = resource.render(&state, true);
    T::table_mut(&mut state).insert(resource);
    Ok((StatusCode::CREATED, Json(rendered)).into_response())
}

pub(crate) async fn patch<T: Resource>(
    State(account): State<Account>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let operations = patch::parse(&body)?;
    let mut state = account.state();
    let change = Change::of(&state, &id);
    T::patch(&mut state, &id, &operations)?;
    change.federate(&account, &state);
    let resource = T::table(&state).get(&id).ok_or_else(|| T::not_found(&id))?;
    if state.patch_answers_204 {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Json(resource.render(&state, true)).into_response())
}

pub(crate) async fn delete<T: Resource>(
    State(account): State<Account>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ScimError> {
    let mut state = account.state();
    let touched = reaching(&state, &id);
    T::table_mut(&mut state)
        .remove(&id)
        .ok_or_else(|| T::not_found(&id))?;
    state.forget(&id);
    account.federate_only(&state, &touched);
    Ok(StatusCode::NO_CONTENT.into_response())
}
