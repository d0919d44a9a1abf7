//! `/ServicePrincipals`: Entra applications (and managed identities) known to the workspace.
//! `applicationId` is required on create, unique case-insensitively (409 `Service principal with
//! application ID <x> already exists.`) and cannot change afterwards. `groups` on create joins existing
//! groups, as for users. On a workspace registered with an account (identity federation), POST adds the
//! service principal to the account, or takes the account's one with that application id, and assigns
//! it to the workspace, as for users (`users.rs`); PATCH, PUT and DELETE act on the workspace alone.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::ScimWorkspace;
use super::error::{ScimError, parse_body};
use super::fields::{self, check_entitlements, patched_flag};
use super::filter::{AttrValue, Filterable, Kind, Schema};
use super::patch::{self, OpKind, PatchOp};
use super::query::{ListQuery, Projection};
use super::render;
use super::store::{ServicePrincipal, Store, listed};

const FILTERABLE: Schema = &[
    ("applicationid", Kind::Text { ignore_case: true }),
    ("displayname", Kind::Text { ignore_case: true }),
    ("active", Kind::Flag),
    ("id", Kind::Text { ignore_case: false }),
];

impl Filterable for ServicePrincipal {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match name {
            "applicationid" => Some(AttrValue::Text(&self.application_id)),
            "displayname" => Some(AttrValue::Text(&self.display_name)),
            "active" => Some(AttrValue::Flag(self.active)),
            "id" => Some(AttrValue::Text(&self.id)),
            _ => None,
        }
    }
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("Service principal {id} not found."))
}

pub(crate) async fn list(
    State(ws): State<ScimWorkspace>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let store = ws.store();
    let query = ListQuery::parse(query.as_deref(), FILTERABLE, store.settings.max_page_size)?;
    let now = Instant::now();
    let matches: Vec<&ServicePrincipal> = store
        .service_principals
        .iter()
        .filter(|sp| listed(sp.listed_from, now) && query.matches(*sp))
        .collect();
    // Who is in which group only when the answer shows it.
    let memberships = if query.projection.returns("groups") {
        store.memberships()
    } else {
        render::Memberships::new()
    };
    Ok(query.respond(
        &matches,
        |sp| render::service_principal(sp, &memberships),
        store.settings.omit_total_results,
    ))
}

pub(crate) async fn get(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let store = ws.store();
    let body = rendered(&store, &id)?;
    Ok(Json(Projection::from_query(query.as_deref()).apply(body)).into_response())
}

pub(crate) async fn create(
    State(ws): State<ScimWorkspace>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut sp = service_principal_from(&body)?;
    let groups = fields::list(&body, "groups")?;
    // Identity federation: the account's service principal, assigned to this workspace.
    if let Some(account) = ws.account() {
        let check = || addable(&ws.store(), &sp, &groups);
        if let Some(added) = account.add_service_principal(&sp, &check) {
            let id = added?;
            ws.settle_added(&id, sp.entitlements, &groups);
            let rendered = rendered(&ws.store(), &id)?;
            return Ok((StatusCode::CREATED, Json(rendered)).into_response());
        }
    }
    let mut store = ws.store();
    addable(&store, &sp, &groups)?;
    sp.id = store.new_id();
    sp.listed_from = store.listed_from(true);
    let id = sp.id.clone();
    store.service_principals.insert(sp);
    store.join(&id, &groups);
    Ok((StatusCode::CREATED, Json(rendered(&store, &id)?)).into_response())
}

pub(crate) async fn replace(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut sp = service_principal_from(&body)?;
    let mut store = ws.store();
    let existing = store
        .service_principals
        .get(&id)
        .ok_or_else(|| not_found(&id))?;
    if !existing
        .application_id
        .eq_ignore_ascii_case(&sp.application_id)
    {
        return Err(ScimError::mutability("applicationId cannot be changed."));
    }
    sp.id.clone_from(&existing.id);
    sp.application_id.clone_from(&existing.application_id);
    sp.listed_from = existing.listed_from;
    if let Some(slot) = store.service_principals.get_mut(&id) {
        *slot = sp;
    }
    Ok(Json(rendered(&store, &id)?).into_response())
}

pub(crate) async fn patch(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let operations = patch::parse(&body)?;
    let mut store = ws.store();
    let mut sp = store
        .service_principals
        .get(&id)
        .ok_or_else(|| not_found(&id))?
        .clone();
    for op in &operations {
        apply(&mut sp, op)?;
    }
    if let Some(slot) = store.service_principals.get_mut(&id) {
        *slot = sp;
    }
    ws.patched(&store, || rendered(&store, &id))
}

pub(crate) async fn delete(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let mut store = ws.store();
    store
        .service_principals
        .remove(&id)
        .ok_or_else(|| not_found(&id))?;
    store.forget_member(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Fails if a service principal with this application id is in the workspace (409) or a group to
/// join is unknown.
fn addable(store: &Store, sp: &ServicePrincipal, groups: &[String]) -> Result<(), ScimError> {
    if store.service_principal_for(&sp.application_id).is_some() {
        return Err(ScimError::conflict(format!(
            "Service principal with application ID {} already exists.",
            sp.application_id
        )));
    }
    store.check_groups(groups)
}

fn rendered(store: &Store, id: &str) -> Result<Value, ScimError> {
    let sp = store
        .service_principals
        .get(id)
        .ok_or_else(|| not_found(id))?;
    Ok(render::service_principal(sp, &store.memberships_of(id)))
}

/// A service principal (without id) from a POST or PUT body.
fn service_principal_from(body: &Map<String, Value>) -> Result<ServicePrincipal, ScimError> {
    fields::declares(body, render::SERVICE_PRINCIPAL_SCHEMA)?;
    Ok(ServicePrincipal {
        id: String::new(),
        application_id: fields::required_text(body, "applicationId")?,
        display_name: fields::text(body, "displayName")?.unwrap_or_default(),
        external_id: fields::text(body, "externalId")?,
        active: fields::flag_or(body, "active", true)?,
        entitlements: fields::entitlements(body)?,
        listed_from: None,
    })
}

fn apply(sp: &mut ServicePrincipal, op: &PatchOp) -> Result<(), ScimError> {
    let remove = op.kind == OpKind::Remove;
    match op.path.attribute.as_str() {
        "applicationid" => Err(ScimError::mutability("applicationId cannot be changed.")),
        "entitlements" => check_entitlements(&patch::apply_to_list(&mut sp.entitlements, op)?),
        _ if op.path.filter.is_some() => Err(op.unsupported()),
        "active" if !remove => {
            sp.active = patched_flag(op.value()?)?;
            Ok(())
        }
        "externalid" if remove => {
            sp.external_id = None;
            Ok(())
        }
        "externalid" => match op.value()?.as_str() {
            Some(id) => {
                sp.external_id = Some(id.to_owned());
                Ok(())
            }
            None => Err(ScimError::invalid_value("externalId must be a string.")),
        },
        "displayname" if remove => {
            sp.display_name.clear();
            Ok(())
        }
        "displayname" => match op.value()?.as_str() {
            Some(name) => {
                sp.display_name = name.to_owned();
                Ok(())
            }
            None => Err(ScimError::invalid_value("displayName must be a string.")),
        },
        _ => Err(op.unsupported()),
    }
}
