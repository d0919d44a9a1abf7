//! The wire shape of each resource, as the service answers it. Like Databricks, empty multi-valued
//! attributes (`groups`, `entitlements`, `members`) are left out rather than sent as `[]`, and only groups
//! carry `meta` (`resourceType: WorkspaceGroup` for workspace-local groups, `Group` for account groups
//! federated into the workspace, see [`super::federation`]).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::store::{Group, ServicePrincipal, Store, User};

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const SERVICE_PRINCIPAL_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";

/// Direct groups by member id (see [`Store::memberships`]).
pub(crate) type Memberships<'a> = HashMap<&'a str, Vec<&'a Group>>;

pub(crate) fn user(user: &User, memberships: &Memberships<'_>) -> Value {
    let mut object = Map::new();
    object.insert("schemas".into(), json!([USER_SCHEMA]));
    object.insert("id".into(), json!(user.id));
    object.insert("userName".into(), json!(user.user_name));
    if !user.display_name.is_empty() {
        object.insert("displayName".into(), json!(user.display_name));
    }
    if let Some(name) = &user.name {
        object.insert("name".into(), name.clone());
    }
    if !user.emails.is_empty() {
        object.insert("emails".into(), Value::Array(user.emails.clone()));
    }
    if let Some(external_id) = &user.external_id {
        object.insert("externalId".into(), json!(external_id));
    }
    object.insert("active".into(), json!(user.active));
    insert_common(&mut object, &user.id, &user.entitlements, memberships);
    Value::Object(object)
}

pub(crate) fn group(group: &Group, store: &Store, memberships: &Memberships<'_>) -> Value {
    let mut object = Map::new();
    object.insert("schemas".into(), json!([GROUP_SCHEMA]));
    object.insert("id".into(), json!(group.id));
    object.insert("displayName".into(), json!(group.display_name));
    let members: Vec<Value> = group
        .members
        .iter()
        .filter_map(|id| {
            let (kind, display) = store.principal(id)?;
            Some(json!({ "value": id, "display": display, "$ref": format!("{}/{id}", kind.endpoint()) }))
        })
        .collect();
    if !members.is_empty() {
        object.insert("members".into(), Value::Array(members));
    }
    insert_common(&mut object, &group.id, &group.entitlements, memberships);
    // An account group federated into the workspace is a `Group`, a workspace-local one a
    // `WorkspaceGroup` (the Go SDK's `ResourceMeta`, the Terraform provider's; ucx filters on it).
    let resource_type = if store.account_groups.get(&group.id).is_some() {
        "Group"
    } else {
        "WorkspaceGroup"
    };
    object.insert("meta".into(), json!({ "resourceType": resource_type }));
    Value::Object(object)
}

pub(crate) fn service_principal(sp: &ServicePrincipal, memberships: &Memberships<'_>) -> Value {
    let mut object = Map::new();
    object.insert("schemas".into(), json!([SERVICE_PRINCIPAL_SCHEMA]));
    object.insert("id".into(), json!(sp.id));
    object.insert("applicationId".into(), json!(sp.application_id));
    if !sp.display_name.is_empty() {
        object.insert("displayName".into(), json!(sp.display_name));
    }
    if let Some(external_id) = &sp.external_id {
        object.insert("externalId".into(), json!(external_id));
    }
    object.insert("active".into(), json!(sp.active));
    insert_common(&mut object, &sp.id, &sp.entitlements, memberships);
    Value::Object(object)
}

/// `entitlements` and `groups`, when not empty.
fn insert_common(
    object: &mut Map<String, Value>,
    id: &str,
    entitlements: &[String],
    memberships: &Memberships<'_>,
) {
    if !entitlements.is_empty() {
        let values: Vec<Value> = entitlements.iter().map(|e| json!({ "value": e })).collect();
        object.insert("entitlements".into(), Value::Array(values));
    }
    if let Some(groups) = memberships.get(id).filter(|g| !g.is_empty()) {
        let values: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.id,
                    "display": g.display_name,
                    "type": "direct",
                    "$ref": format!("Groups/{}", g.id),
                })
            })
            .collect();
        object.insert("groups".into(), Value::Array(values));
    }
}
