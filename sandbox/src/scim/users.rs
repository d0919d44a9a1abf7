//! `/Users` and `/Me`. `userName` is lower-cased on the way in and unique case-insensitively, hidden
//! just-in-time users included (409 `User with username <x> already exists.`); it and `emails` cannot change
//! afterwards. A user created without `emails` gets its user name as primary work email, as the service does.
//! `groups` on create joins existing groups; on PUT it is ignored (membership is managed on the group).
//! A user deactivated in the Databricks account (`deactivate_in_account`) cannot be made active here:
//! PATCH or PUT answers 500 with the body the Databricks knowledge base shows, until the account
//! reactivates the user (`reactivate_in_account`). On a workspace registered with an account (identity
//! federation), POST adds the user to the account, or takes the account's user of that name, and
//! assigns it to the workspace, which then lists it with its account id (see [`crate::account`],
//! "Federation into workspaces"); PATCH, PUT and DELETE act on the workspace alone, as before.

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
use super::store::{Store, User, listed};

const FILTERABLE: Schema = &[
    ("username", Kind::Text { ignore_case: true }),
    ("displayname", Kind::Text { ignore_case: true }),
    ("active", Kind::Flag),
    ("id", Kind::Text { ignore_case: false }),
];

/// Sub-attributes of `name` that PATCH may set, lower-cased and as sent.
const NAME_PARTS: [(&str, &str); 4] = [
    ("givenname", "givenName"),
    ("familyname", "familyName"),
    ("middlename", "middleName"),
    ("formatted", "formatted"),
];

impl Filterable for User {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match name {
            "username" => Some(AttrValue::Text(&self.user_name)),
            "displayname" => Some(AttrValue::Text(&self.display_name)),
            "active" => Some(AttrValue::Flag(self.active)),
            "id" => Some(AttrValue::Text(&self.id)),
            _ => None,
        }
    }
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("User {id} not found."))
}

pub(crate) async fn list(
    State(ws): State<ScimWorkspace>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let store = ws.store();
    let query = ListQuery::parse(query.as_deref(), FILTERABLE, store.settings.max_page_size)?;
    let now = Instant::now();
    let matches: Vec<&User> = store
        .users
        .iter()
        .filter(|u| !u.hidden && listed(u.listed_from, now) && query.matches(*u))
        .collect();
    // Who is in which group only when the answer shows it.
    let memberships = if query.projection.returns("groups") {
        store.memberships()
    } else {
        render::Memberships::new()
    };
    Ok(query.respond(
        &matches,
        |u| render::user(u, &memberships),
        store.settings.omit_total_results,
    ))
}

pub(crate) async fn get(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let store = ws.store();
    let user = store.users.get(&id).ok_or_else(|| not_found(&id))?;
    let body = render::user(user, &store.memberships_of(&user.id));
    Ok(Json(Projection::from_query(query.as_deref()).apply(body)).into_response())
}

/// The caller: the PAT's owner, or the service principal an admitted Entra identity calls as.
pub(crate) async fn me(
    State(ws): State<ScimWorkspace>,
    caller: Option<axum::Extension<super::guard::Caller>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let admin_id = ws.store().admin_id.clone();
    let id = caller.map(|axum::Extension(c)| c.0).unwrap_or(admin_id);
    if ws.store().users.get(&id).is_some() {
        get(State(ws), Path(id), RawQuery(query)).await
    } else {
        super::service_principals::get(State(ws), Path(id), RawQuery(query)).await
    }
}

pub(crate) async fn create(
    State(ws): State<ScimWorkspace>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut user = user_from(&body)?;
    let groups = fields::list(&body, "groups")?;
    // Identity federation: the account's user, assigned to this workspace.
    if let Some(account) = ws.account() {
        let check = || addable(&ws.store(), &user, &groups);
        if let Some(added) = account.add_user(&user, &check) {
            let id = added?;
            ws.settle_added(&id, user.entitlements, &groups);
            let rendered = rendered(&ws.store(), &id)?;
            return Ok((StatusCode::CREATED, Json(rendered)).into_response());
        }
    }
    let mut store = ws.store();
    addable(&store, &user, &groups)?;
    user.id = store.new_id();
    user.listed_from = store.listed_from(true);
    let id = user.id.clone();
    store.insert_user(user);
    store.join(&id, &groups);
    Ok((StatusCode::CREATED, Json(rendered(&store, &id)?)).into_response())
}

pub(crate) async fn replace(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut user = user_from(&body)?;
    let mut store = ws.store();
    let existing = store.users.get(&id).ok_or_else(|| not_found(&id))?;
    if existing.user_name != user.user_name {
        return Err(ScimError::mutability("User name cannot be changed."));
    }
    if !body.contains_key("emails") {
        user.emails.clone_from(&existing.emails);
    } else if email_set(&user.emails) != email_set(&existing.emails) {
        return Err(ScimError::mutability("Emails cannot be changed."));
    }
    if user.active && existing.account_deactivated {
        return Err(ScimError::account_deactivated());
    }
    user.id.clone_from(&existing.id);
    user.listed_from = existing.listed_from;
    user.hidden = existing.hidden;
    user.account_deactivated = existing.account_deactivated;
    if let Some(slot) = store.users.get_mut(&id) {
        *slot = user;
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
    let mut user = store.users.get(&id).ok_or_else(|| not_found(&id))?.clone();
    for op in &operations {
        apply(&mut user, op)?;
    }
    // Reactivating a user the account deactivated fails, as on an identity-federated workspace.
    if user.active && user.account_deactivated {
        return Err(ScimError::account_deactivated());
    }
    if let Some(slot) = store.users.get_mut(&id) {
        *slot = user;
    }
    ws.patched(&store, || rendered(&store, &id))
}

pub(crate) async fn delete(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let mut store = ws.store();
    store.remove_user(&id).ok_or_else(|| not_found(&id))?;
    store.forget_member(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Fails if a user with this user name is in the workspace (409) or a group to join is unknown.
fn addable(store: &Store, user: &User, groups: &[String]) -> Result<(), ScimError> {
    if store.user_named(&user.user_name).is_some() {
        return Err(ScimError::conflict(format!(
            "User with username {} already exists.",
            user.user_name
        )));
    }
    store.check_groups(groups)
}

fn rendered(store: &Store, id: &str) -> Result<Value, ScimError> {
    let user = store.users.get(id).ok_or_else(|| not_found(id))?;
    Ok(render::user(user, &store.memberships_of(id)))
}

/// A user (without id) from a POST or PUT body.
fn user_from(body: &Map<String, Value>) -> Result<User, ScimError> {
    fields::declares(body, render::USER_SCHEMA)?;
    let user_name = fields::required_text(body, "userName")?.to_lowercase();
    let (emails, name) = fields::emails_and_name(body, &user_name)?;
    Ok(User {
        id: String::new(),
        display_name: fields::text(body, "displayName")?.unwrap_or_default(),
        name,
        emails,
        external_id: fields::text(body, "externalId")?,
        active: fields::flag_or(body, "active", true)?,
        entitlements: fields::entitlements(body)?,
        user_name,
        listed_from: None,
        hidden: false,
        account_deactivated: false,
    })
}

fn email_set(emails: &[Value]) -> Vec<String> {
    let mut set: Vec<String> = emails
        .iter()
        .filter_map(|e| e.get("value").and_then(Value::as_str))
        .map(str::to_lowercase)
        .collect();
    set.sort();
    set
}

fn apply(user: &mut User, op: &PatchOp) -> Result<(), ScimError> {
    let attribute = op.path.attribute.as_str();
    if attribute == "username" || attribute == "emails" || attribute.starts_with("emails.") {
        return Err(ScimError::mutability(format!(
            "{} cannot be changed.",
            op.path.raw
        )));
    }
    if attribute == "entitlements" {
        let added = patch::apply_to_list(&mut user.entitlements, op)?;
        return check_entitlements(&added);
    }
    if op.path.filter.is_some() {
        return Err(op.unsupported());
    }
    let remove = op.kind == OpKind::Remove;
    match attribute {
        "active" if !remove => user.active = patched_flag(op.value()?)?,
        "displayname" if remove => user.display_name.clear(),
        "displayname" => user.display_name = text(op)?,
        "externalid" if remove => user.external_id = None,
        "externalid" => user.external_id = Some(text(op)?),
        "name" if remove => user.name = None,
        "name" => match op.value()? {
            value @ Value::Object(_) => user.name = Some(value.clone()),
            _ => return Err(ScimError::invalid_syntax()),
        },
        _ => return apply_name_part(user, op),
    }
    Ok(())
}

fn apply_name_part(user: &mut User, op: &PatchOp) -> Result<(), ScimError> {
    let part = op.path.attribute.strip_prefix("name.");
    let Some(&(_, key)) = NAME_PARTS.iter().find(|(lower, _)| Some(*lower) == part) else {
        return Err(op.unsupported());
    };
    let name = user.name.get_or_insert_with(|| Value::Object(Map::new()));
    if let Some(object) = name.as_object_mut() {
        if op.kind == OpKind::Remove {
            object.remove(key);
        } else {
            object.insert(key.to_owned(), Value::String(text(op)?));
        }
    }
    Ok(())
}

fn text(op: &PatchOp) -> Result<String, ScimError> {
    op.value()?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value(format!("{} must be a string.", op.path.raw)))
}
