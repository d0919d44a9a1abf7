//! The three account SCIM resources behind one [`Resource`] trait, so that one set of handlers
//! ([`super::scim`]) serves them: their wire shape, how a POST body becomes one (with the duplicate
//! checks and the detail strings Terraform matches on), and the PATCH operations each accepts.
//! PATCH takes what Databricks' clients send (see the module header of [`super`]); a user's
//! `userName` and `emails` in a PATCH are ignored, as the REST reference says.

use serde_json::{Map, Value, json};

use crate::scim::error::ScimError;
use crate::scim::fields::{self, patched_flag};
use crate::scim::filter::{Filterable, Kind as FilterKind, Schema};
use crate::scim::patch::{OpKind, PatchOp, apply_to_list};
use crate::scim::render::{SERVICE_PRINCIPAL_SCHEMA, USER_SCHEMA};
use crate::scim::store::{Record, Table};

use super::groups;
use super::state::{AccountGroup, AccountServicePrincipal, AccountUser, State};

/// `externalId` is at most 64 characters (REST reference, `AccountUser.ExternalId`).
const EXTERNAL_ID_MAX: usize = 64;

pub(crate) trait Resource: Record + Filterable + Sized + Send + Sync + 'static {
    const FILTERABLE: Schema;
    fn table(state: &State) -> &Table<Self>;
    fn table_mut(state: &mut State) -> &mut Table<Self>;
    fn not_found(id: &str) -> ScimError;
    /// The wire shape; `one` is a GET of this resource (a group's LIST item has no `members`).
    fn render(&self, state: &State, one: bool) -> Value;
    /// A new resource (with a fresh id) from a POST body, or the 409 of a duplicate.
    fn create(state: &State, body: &Map<String, Value>) -> Result<Self, ScimError>;
    /// Applies a PatchOp message to the resource `id`, all or nothing.
    fn patch(state: &mut State, id: &str, operations: &[PatchOp]) -> Result<(), ScimError>;
}

fn external_id(body: &Map<String, Value>) -> Result<Option<String>, ScimError> {
    let external_id = fields::text(body, "externalId")?;
    check_external_id(external_id.as_deref())?;
    Ok(external_id)
}

pub(crate) fn check_external_id(external_id: Option<&str>) -> Result<(), ScimError> {
    match external_id {
        Some(e) if e.chars().count() > EXTERNAL_ID_MAX => Err(ScimError::invalid_value(format!(
            "externalId must be at most {EXTERNAL_ID_MAX} characters."
        ))),
        _ => Ok(()),
    }
}

/// A string operation value.
pub(crate) fn text(op: &PatchOp) -> Result<String, ScimError> {
    op.value()?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value(format!("{} must be a string.", op.path.raw)))
}

/// `roles`, `displayName`, `externalId` and `active`: what users and service principals share.
fn apply_common(
    roles: &mut Vec<String>,
    display_name: &mut String,
    external: &mut Option<String>,
    active: &mut bool,
    op: &PatchOp,
) -> Result<bool, ScimError> {
    let remove = op.kind == OpKind::Remove;
    match op.path.attribute.as_str() {
        "roles" => drop(apply_to_list(roles, op)?),
        "active" if !remove && op.path.filter.is_none() => *active = patched_flag(op.value()?)?,
        "displayname" if !remove => *display_name = text(op)?,
        "externalid" if remove => *external = None,
        "externalid" => {
            let value = text(op)?;
            check_external_id(Some(&value))?;
            *external = Some(value);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

pub(crate) fn roles_json(roles: &[String]) -> Option<Value> {
    (!roles.is_empty()).then(|| roles.iter().map(|r| json!({ "value": r })).collect())
}

fn insert_optional(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), value);
    }
}

impl Resource for AccountUser {
    const FILTERABLE: Schema = &[
        ("username", FilterKind::Text { ignore_case: true }),
        ("displayname", FilterKind::Text { ignore_case: true }),
        ("externalid", FilterKind::Text { ignore_case: false }),
        ("active", FilterKind::Flag),
        ("id", FilterKind::Text { ignore_case: false }),
    ];

    fn table(state: &State) -> &Table<Self> {
        &state.users
    }

    fn table_mut(state: &mut State) -> &mut Table<Self> {
        &mut state.users
    }

    fn not_found(id: &str) -> ScimError {
        ScimError::not_found(format!("User {id} not found."))
    }

    fn render(&self, _: &State, _: bool) -> Value {
        let mut object = Map::new();
        object.insert("schemas".into(), json!([USER_SCHEMA]));
        object.insert("id".into(), json!(self.id));
        object.insert("userName".into(), json!(self.user_name));
        let display = (!self.display_name.is_empty()).then(|| json!(self.display_name));
        insert_optional(&mut object, "displayName", display);
        insert_optional(&mut object, "name", self.name.clone());
        object.insert("emails".into(), Value::Array(self.emails.clone()));
        insert_optional(
            &mut object,
            "externalId",
            self.external_id.as_ref().map(|e| json!(e)),
        );
        object.insert("active".into(), json!(self.active));
        insert_optional(&mut object, "roles", roles_json(&self.roles));
        Value::Object(object)
    }

    fn create(state: &State, body: &Map<String, Value>) -> Result<Self, ScimError> {
        let user_name = fields::required_text(body, "userName")?.to_lowercase();
        if state.user_named(&user_name).is_some() {
            return Err(ScimError::conflict(format!(
                "User with email {user_name} already exists in this account"
            )));
        }
        let (emails, name) = fields::emails_and_name(body, &user_name)?;
        Ok(AccountUser {
            id: state.new_id(),
            display_name: fields::text(body, "displayName")?.unwrap_or_default(),
            name,
            emails,
            external_id: external_id(body)?,
            active: fields::flag_or(body, "active", true)?,
            roles: fields::list(body, "roles")?,
            user_name,
        })
    }

    fn patch(state: &mut State, id: &str, operations: &[PatchOp]) -> Result<(), ScimError> {
        let user = state.users.get(id).ok_or_else(|| Self::not_found(id))?;
        let mut user = user.clone();
        for op in operations {
            let u = &mut user;
            if apply_common(
                &mut u.roles,
                &mut u.display_name,
                &mut u.external_id,
                &mut u.active,
                op,
            )? {
                continue;
            }
            match op.path.attribute.as_str() {
                // "userName and emails cannot be updated through the SCIM PATCH or PUT APIs; any
                // supplied change is ignored" (REST reference, account user).
                "username" | "emails" => {}
                "name" if op.kind != OpKind::Remove => match op.value()? {
                    value @ Value::Object(_) => user.name = Some(value.clone()),
                    _ => return Err(ScimError::invalid_syntax()),
                },
                _ => return Err(op.unsupported()),
            }
        }
        if let Some(slot) = state.users.get_mut(id) {
            *slot = user;
        }
        Ok(())
    }
}

impl Resource for AccountServicePrincipal {
    const FILTERABLE: Schema = &[
        ("applicationid", FilterKind::Text { ignore_case: true }),
        ("displayname", FilterKind::Text { ignore_case: true }),
        ("externalid", FilterKind::Text { ignore_case: false }),
        ("active", FilterKind::Flag),
        ("id", FilterKind::Text { ignore_case: false }),
    ];

    fn table(state: &State) -> &Table<Self> {
        &state.service_principals
    }

    fn table_mut(state: &mut State) -> &mut Table<Self> {
        &mut state.service_principals
    }

    fn not_found(id: &str) -> ScimError {
        ScimError::not_found(format!("Service principal {id} not found."))
    }

    fn render(&self, _: &State, _: bool) -> Value {
        let mut object = Map::new();
        object.insert("schemas".into(), json!([SERVICE_PRINCIPAL_SCHEMA]));
        object.insert("id".into(), json!(self.id));
        object.insert("applicationId".into(), json!(self.application_id));
        let display = (!self.display_name.is_empty()).then(|| json!(self.display_name));
        insert_optional(&mut object, "displayName", display);
        insert_optional(
            &mut object,
            "externalId",
            self.external_id.as_ref().map(|e| json!(e)),
        );
        object.insert("active".into(), json!(self.active));
        insert_optional(&mut object, "roles", roles_json(&self.roles));
        Value::Object(object)
    }

    fn create(state: &State, body: &Map<String, Value>) -> Result<Self, ScimError> {
        // On Azure the application id is the Entra application (client) id, and required.
        let application_id = fields::required_text(body, "applicationId")?;
        if state.service_principal_for(&application_id).is_some() {
            return Err(ScimError::conflict(format!(
                "Service principal with application ID {application_id} already exists."
            )));
        }
        Ok(AccountServicePrincipal {
            id: state.new_id(),
            application_id,
            display_name: fields::text(body, "displayName")?.unwrap_or_default(),
            external_id: external_id(body)?,
            active: fields::flag_or(body, "active", true)?,
            roles: fields::list(body, "roles")?,
        })
    }

    fn patch(state: &mut State, id: &str, operations: &[PatchOp]) -> Result<(), ScimError> {
        let sp = state
            .service_principals
            .get(id)
            .ok_or_else(|| Self::not_found(id))?;
        let mut sp = sp.clone();
        for op in operations {
            let s = &mut sp;
            if !apply_common(
                &mut s.roles,
                &mut s.display_name,
                &mut s.external_id,
                &mut s.active,
                op,
            )? {
                return Err(op.unsupported());
            }
        }
        if let Some(slot) = state.service_principals.get_mut(id) {
            *slot = sp;
        }
        Ok(())
    }
}

impl Resource for AccountGroup {
    const FILTERABLE: Schema = &[
        ("displayname", FilterKind::Text { ignore_case: true }),
        ("externalid", FilterKind::Text { ignore_case: false }),
        ("id", FilterKind::Text { ignore_case: false }),
    ];

    fn table(state: &State) -> &Table<Self> {
        &state.groups
    }

    fn table_mut(state: &mut State) -> &mut Table<Self> {
        &mut state.groups
    }

    fn not_found(id: &str) -> ScimError {
        ScimError::not_found(format!("Group with id {id} not found."))
    }

    fn render(&self, state: &State, one: bool) -> Value {
        groups::render(self, state, one)
    }

    fn create(state: &State, body: &Map<String, Value>) -> Result<Self, ScimError> {
        groups::create(state, body, external_id(body)?)
    }

    fn patch(state: &mut State, id: &str, operations: &[PatchOp]) -> Result<(), ScimError> {
        groups::patch(state, id, operations)
    }
}
