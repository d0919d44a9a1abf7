//! Workspace permission assignments (`/workspaces/{workspace_id}/permissionassignments`): the list (not
//! paged; direct assignments only, as the newer iamv2 API states for itself: for this one it is
//! unconfirmed), PUT and DELETE of one principal's (DELETE of a known principal without an assignment
//! answers 200 `{}` as well, unconfirmed), and the permission levels (their descriptions are ours).
//! A PUT's `permissions` holds `USER` and/or `ADMIN` (case-sensitive; ADMIN wins, other values are
//! ignored); a missing field, an empty list or only unsupported values delete every permission of the
//! principal, as documented. Errors are `{"error_code","message"}` documents: an unknown principal 404
//! `RESOURCE_DOES_NOT_EXIST`, a workspace that is not identity-federated 400 with
//! "Permission assignment APIs are not available for this workspace".

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::scim::store::Kind;

use super::Account;
use super::rest::RestError;
use super::state::{AccountWorkspace, Permission, State as AccountState};

const NOT_AVAILABLE: &str = "Permission assignment APIs are not available for this workspace";

/// `workspace_id` and `principal_id` are int64 in the path.
fn int64(name: &str, text: &str) -> Result<u64, RestError> {
    (text.parse::<i64>().ok())
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            RestError::invalid_parameter(format!("{name} must be an int64, not '{text}'."))
        })
}

/// The identity-federated workspace `workspace_id`.
fn workspace<'a>(
    state: &'a mut AccountState,
    workspace_id: &str,
) -> Result<&'a mut AccountWorkspace, RestError> {
    let id = int64("workspace_id", workspace_id)?;
    let workspace = (state.workspaces.get_mut(&id))
        .ok_or_else(|| RestError::not_found(format!("Workspace {id} does not exist.")))?;
    if workspace.scim.is_none() {
        return Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            NOT_AVAILABLE,
        ));
    }
    Ok(workspace)
}

/// `{"principal_id":…,"display_name":…,"user_name"|"group_name"|"service_principal_name":…}`.
fn principal(state: &AccountState, id: &str) -> Option<Value> {
    let (kind, display) = state.principal(id)?;
    let mut object = Map::new();
    object.insert("principal_id".into(), json!(id.parse::<i64>().ok()?));
    object.insert("display_name".into(), json!(display));
    let (key, name) = match kind {
        Kind::User => ("user_name", state.users.get(id)?.user_name.clone()),
        Kind::Group => ("group_name", display.to_owned()),
        // Which name this holds is unconfirmed; the application id is what identifies it.
        Kind::ServicePrincipal => (
            "service_principal_name",
            state.service_principals.get(id)?.application_id.clone(),
        ),
    };
    object.insert(key.into(), json!(name));
    Some(Value::Object(object))
}

fn assignment(state: &AccountState, id: &str, permission: Option<Permission>) -> Value {
    let permissions: Vec<&str> = permission.map(Permission::name).into_iter().collect();
    json!({ "principal": principal(state, id), "permissions": permissions })
}

pub(crate) async fn list(
    State(account): State<Account>,
    Path((_, workspace_id)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let mut state = account.state();
    let assignments = workspace(&mut state, &workspace_id)?.assignments.clone();
    let items: Vec<Value> = (assignments.iter())
        .map(|(id, permission)| assignment(&state, id, Some(*permission)))
        .collect();
    Ok(Json(json!({ "permission_assignments": items })).into_response())
}

/// The permission a PUT body asks for: ADMIN over USER, `None` for nothing supported.
fn requested(body: &[u8]) -> Result<Option<Permission>, RestError> {
    let body: Value = serde_json::from_slice(body).map_err(|_| RestError::malformed())?;
    let permissions = match body.get("permissions") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(RestError::malformed()),
    };
    let names: Vec<&str> = permissions.iter().filter_map(Value::as_str).collect();
    Ok(if names.contains(&"ADMIN") {
        Some(Permission::Admin)
    } else if names.contains(&"USER") {
        Some(Permission::User)
    } else {
        None
    })
}

pub(crate) async fn put(
    State(account): State<Account>,
    Path((_, workspace_id, principal_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, RestError> {
    let permission = requested(&body)?;
    let mut state = account.state();
    workspace(&mut state, &workspace_id)?;
    let id = known_principal(&state, &principal_id)?;
    let workspace = workspace(&mut state, &workspace_id)?;
    match permission {
        Some(p) => workspace.assignments.insert(id.clone(), p),
        None => workspace.assignments.remove(&id),
    };
    federate(&account, &state, &workspace_id);
    Ok(Json(assignment(&state, &id, permission)).into_response())
}

pub(crate) async fn delete(
    State(account): State<Account>,
    Path((_, workspace_id, principal_id)): Path<(String, String, String)>,
) -> Result<Response, RestError> {
    let mut state = account.state();
    workspace(&mut state, &workspace_id)?;
    let id = known_principal(&state, &principal_id)?;
    workspace(&mut state, &workspace_id)?
        .assignments
        .remove(&id);
    federate(&account, &state, &workspace_id);
    Ok(Json(json!({})).into_response())
}

/// An assignment changes only its own workspace.
fn federate(account: &Account, state: &AccountState, workspace_id: &str) {
    if let Ok(id) = int64("workspace_id", workspace_id) {
        account.federate_only(state, &std::collections::BTreeSet::from([id]));
    }
}

fn known_principal(state: &AccountState, principal_id: &str) -> Result<String, RestError> {
    let id = int64("principal_id", principal_id)?.to_string();
    match state.kind_of(&id) {
        Some(_) => Ok(id),
        None => Err(RestError::not_found(format!(
            "Principal {id} does not exist."
        ))),
    }
}

pub(crate) async fn permissions(
    State(account): State<Account>,
    Path((_, workspace_id)): Path<(String, String)>,
) -> Result<Response, RestError> {
    workspace(&mut account.state(), &workspace_id)?;
    Ok(Json(json!({ "permissions": [
        { "permission_level": "USER", "description": "Can access the workspace." },
        { "permission_level": "ADMIN", "description": "Can access the workspace and has workspace admin privileges to manage users and groups, workspace configurations, and more." },
    ] }))
    .into_response())
}
