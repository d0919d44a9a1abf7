//! Account groups: names unique case-insensitively (409 `Group with name <x> already exists.`), members
//! that are account users, service principals or groups (else 400 `invalidValue`), no cycles. A LIST
//! item never carries `members` (documented since 2025-08-22); a GET of one group does, each member as
//! `{"$ref":"Users/<id>"|"Groups/<id>"|"ServicePrincipals/<id>","value":"<id>","display":…}`. A PATCH is
//! all or nothing: member changes are journaled and undone on failure, as in the workspace emulator.

use serde_json::{Map, Value, json};

use crate::scim::error::ScimError;
use crate::scim::fields;
use crate::scim::members::{Journal, Members};
use crate::scim::patch::{OpKind, PatchOp, apply_to_list, apply_to_members};
use crate::scim::render::GROUP_SCHEMA;
use crate::scim::store::Kind;

use super::resources::{Resource, check_external_id, roles_json, text};
use super::state::{AccountGroup, State};

pub(crate) fn render(group: &AccountGroup, state: &State, one: bool) -> Value {
    let mut object = Map::new();
    object.insert("schemas".into(), json!([GROUP_SCHEMA]));
    object.insert("id".into(), json!(group.id));
    object.insert("displayName".into(), json!(group.display_name));
    if let Some(external_id) = &group.external_id {
        object.insert("externalId".into(), json!(external_id));
    }
    if one {
        let members: Vec<Value> = (group.members.iter())
            .filter_map(|id| {
                let (kind, display) = state.principal(id)?;
                Some(json!({ "$ref": format!("{}/{id}", kind.endpoint()), "value": id, "display": display }))
            })
            .collect();
        if !members.is_empty() {
            object.insert("members".into(), Value::Array(members));
        }
    }
    if let Some(roles) = roles_json(&group.roles) {
        object.insert("roles".into(), roles);
    }
    object.insert("meta".into(), json!({ "resourceType": "Group" }));
    Value::Object(object)
}

pub(crate) fn create(
    state: &State,
    body: &Map<String, Value>,
    external_id: Option<String>,
) -> Result<AccountGroup, ScimError> {
    let display_name = fields::required_text(body, "displayName")?;
    if state.group_named(&display_name, None).is_some() {
        return Err(duplicate(&display_name));
    }
    let members = fields::list(body, "members")?;
    check_members(state, None, members.iter())?;
    Ok(AccountGroup {
        id: state.new_id(),
        display_name,
        external_id,
        members: members.into_iter().collect(),
        roles: fields::list(body, "roles")?,
    })
}

fn duplicate(name: &str) -> ScimError {
    ScimError::conflict(format!("Group with name {name} already exists."))
}

/// Applies `operations` to the group `id`; on failure the group is as it was.
pub(crate) fn patch(state: &mut State, id: &str, operations: &[PatchOp]) -> Result<(), ScimError> {
    let group = state
        .groups
        .get_mut(id)
        .ok_or_else(|| AccountGroup::not_found(id))?;
    let saved = (
        group.display_name.clone(),
        group.external_id.clone(),
        group.roles.clone(),
    );
    let mut journal = Journal::default();
    let result = (operations.iter())
        .try_for_each(|op| apply(group, op, &mut journal))
        .and_then(|()| {
            let group = state
                .groups
                .get(id)
                .ok_or_else(|| AccountGroup::not_found(id))?;
            if state.group_named(&group.display_name, Some(id)).is_some() {
                return Err(duplicate(&group.display_name));
            }
            check_members(state, Some(id), journal.added(&group.members))
        });
    if result.is_err()
        && let Some(group) = state.groups.get_mut(id)
    {
        (group.display_name, group.external_id, group.roles) = saved;
        journal.undo(&mut group.members);
    }
    result
}

fn apply(group: &mut AccountGroup, op: &PatchOp, journal: &mut Journal) -> Result<(), ScimError> {
    let remove = op.kind == OpKind::Remove;
    match op.path.attribute.as_str() {
        "members" => apply_to_members(&mut group.members, op, journal),
        "roles" => apply_to_list(&mut group.roles, op).map(drop),
        "displayname" if !remove && op.path.filter.is_none() => {
            let name = text(op)?;
            if name.trim().is_empty() {
                return Err(ScimError::invalid_value(
                    "displayName must be a non-empty string.",
                ));
            }
            group.display_name = name;
            Ok(())
        }
        "externalid" if remove => {
            group.external_id = None;
            Ok(())
        }
        "externalid" => {
            let value = text(op)?;
            check_external_id(Some(&value))?;
            group.external_id = Some(value);
            Ok(())
        }
        _ => Err(op.unsupported()),
    }
}

/// Fails unless every member exists in the account and none would make a cycle in `group_id`.
fn check_members<'a>(
    state: &State,
    group_id: Option<&str>,
    members: impl IntoIterator<Item = &'a String>,
) -> Result<(), ScimError> {
    for member in members {
        match state.kind_of(member) {
            None => {
                return Err(ScimError::invalid_value(format!(
                    "Principal {member} not found."
                )));
            }
            Some(Kind::Group) if group_id.is_some_and(|g| state.contains(member, g)) => {
                return Err(ScimError::invalid_value(format!(
                    "Adding group {member} would create a membership cycle."
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// An empty group for seeding.
pub(crate) fn seeded(id: String, display_name: &str) -> AccountGroup {
    AccountGroup {
        id,
        display_name: display_name.to_owned(),
        external_id: None,
        members: Members::default(),
        roles: Vec::new(),
    }
}
