//! `/Groups`: workspace-local groups. Names are unique case-insensitively (409 `Group with name <x> already
//! exists.`). Members are users, service principals or groups that exist (else 400 `invalidValue`); a group
//! cannot contain one of its ancestors. PATCH `add` on `members` needs an array of `{"value": id}` (a bare
//! string is `invalidSyntax`, as on the service); `remove` takes `members[value eq "<id>"]` or a value array,
//! and removing a non-member is not an error. The built-in `admins` group cannot be renamed or deleted (403).

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::ScimWorkspace;
use super::error::{ScimError, parse_body};
use super::fields::{self, check_entitlements};
use super::filter::{AttrValue, Filterable, Kind, Schema};
use super::patch::{self, OpKind, PatchOp};
use super::query::{ListQuery, Projection};
use super::render;
use super::store::{ADMINS_GROUP, Group, Store, listed};

const FILTERABLE: Schema = &[
    ("displayname", Kind::Text { ignore_case: true }),
    ("id", Kind::Text { ignore_case: false }),
];

impl Filterable for Group {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match name {
            "displayname" => Some(AttrValue::Text(&self.display_name)),
            "id" => Some(AttrValue::Text(&self.id)),
            _ => None,
        }
    }
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("Group with id {id} not found."))
}

fn system_group() -> ScimError {
    ScimError::forbidden(format!(
        "The {ADMINS_GROUP} group is a system group: it cannot be renamed or deleted."
    ))
}

pub(crate) async fn list(
    State(ws): State<ScimWorkspace>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let store = ws.store();
    let query = ListQuery::parse(query.as_deref(), FILTERABLE, store.settings.max_page_size)?;
    let now = Instant::now();
    let matches: Vec<&Group> = store
        .groups
        .iter()
        .filter(|g| listed(g.listed_from, now) && query.matches(*g))
        .collect();
    // Who is in which group only when the answer shows it.
    let memberships = if query.projection.returns("groups") {
        store.memberships()
    } else {
        render::Memberships::new()
    };
    Ok(query.respond(
        &matches,
        |g| render::group(g, &store, &memberships),
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
    let mut group = group_from(&body)?;
    let mut store = ws.store();
    if store.group_named(&group.display_name).is_some() {
        return Err(ScimError::conflict(format!(
            "Group with name {} already exists.",
            group.display_name
        )));
    }
    store.check_members(None, &group.members)?;
    group.id = store.new_id();
    group.listed_from = store.listed_from(true);
    let id = group.id.clone();
    store.groups.insert(group);
    Ok((StatusCode::CREATED, Json(rendered(&store, &id)?)).into_response())
}

pub(crate) async fn replace(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut group = group_from(&body)?;
    let mut store = ws.store();
    let existing = store.groups.get(&id).ok_or_else(|| not_found(&id))?;
    group.id.clone_from(&existing.id);
    group.listed_from = existing.listed_from;
    commit(&mut store, group)?;
    Ok(Json(rendered(&store, &id)?).into_response())
}

pub(crate) async fn patch(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let operations = patch::parse(&body)?;
    let mut store = ws.store();
    let mut group = store.groups.get(&id).ok_or_else(|| not_found(&id))?.clone();
    for op in &operations {
        apply(&mut group, op)?;
    }
    commit(&mut store, group)?;
    ws.patched(&store, || rendered(&store, &id))
}

pub(crate) async fn delete(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let mut store = ws.store();
    let group = store.groups.get(&id).ok_or_else(|| not_found(&id))?;
    if group.display_name == ADMINS_GROUP {
        return Err(system_group());
    }
    store.groups.remove(&id);
    store.forget_member(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Stores `group` over the group with its id, after checking its name and its new members.
fn commit(store: &mut Store, group: Group) -> Result<(), ScimError> {
    let existing = store
        .groups
        .get(&group.id)
        .ok_or_else(|| not_found(&group.id))?;
    if existing.display_name != group.display_name {
        if existing.display_name == ADMINS_GROUP {
            return Err(system_group());
        }
        if store
            .group_named(&group.display_name)
            .is_some_and(|g| g.id != group.id)
        {
            return Err(ScimError::conflict(format!(
                "Group with name {} already exists.",
                group.display_name
            )));
        }
    }
    let before: HashSet<&String> = existing.members.iter().collect();
    let added: Vec<&String> = group
        .members
        .iter()
        .filter(|m| !before.contains(m))
        .collect();
    store.check_members(Some(&group.id), added)?;
    if let Some(slot) = store.groups.get_mut(&group.id) {
        *slot = group;
    }
    Ok(())
}

fn rendered(store: &Store, id: &str) -> Result<Value, ScimError> {
    let group = store.groups.get(id).ok_or_else(|| not_found(id))?;
    Ok(render::group(group, store, &store.memberships_of(id)))
}

/// A group (without id) from a POST or PUT body.
fn group_from(body: &Map<String, Value>) -> Result<Group, ScimError> {
    Ok(Group {
        id: String::new(),
        display_name: fields::required_text(body, "displayName")?,
        members: fields::list(body, "members")?,
        entitlements: fields::entitlements(body)?,
        listed_from: None,
    })
}

fn apply(group: &mut Group, op: &PatchOp) -> Result<(), ScimError> {
    match op.path.attribute.as_str() {
        "members" => patch::apply_to_list(&mut group.members, op).map(drop),
        "entitlements" => check_entitlements(&patch::apply_to_list(&mut group.entitlements, op)?),
        "displayname" if op.path.filter.is_none() && op.kind != OpKind::Remove => {
            match op.value()?.as_str().filter(|s| !s.trim().is_empty()) {
                Some(name) => {
                    group.display_name = name.to_owned();
                    Ok(())
                }
                None => Err(ScimError::invalid_value(
                    "displayName must be a non-empty string.",
                )),
            }
        }
        _ => Err(op.unsupported()),
    }
}
