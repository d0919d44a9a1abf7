//! An account group assigned to this workspace (identity federation), as `/Groups/{id}` serves it: only
//! for its entitlements in this workspace, which Terraform's `databricks_entitlements` sets with the
//! workspace host and the account group's id ("Use databricks_entitlements resource to assign
//! entitlements inside a workspace to account-level groups", terraform-provider-databricks
//! `docs/resources/group.md`; `scim/resource_entitlement.go` @ 684f4424: `PATCH Groups/{id}` with
//! `path: "entitlements"`, then `GET Groups/{id}?attributes=entitlements`). Everything else involving the
//! group still fails with 404 ("workspace-level SCIM API calls will fail if they involve account
//! groups", archive/workspace-level-scim):
//! - GET answers `schemas`, `id`, `displayName`, `entitlements` (when any) and `meta.resourceType`
//!   `"Group"`, projected as usual, never `members`: a GET whose answer would carry `members` (no
//!   `attributes`, or `attributes` naming `members` or a sub-attribute of it, unless `excludedAttributes`
//!   names `members`) answers 404. That a plain GET fails while `?attributes=entitlements` does not is
//!   **unconfirmed**: the one read Databricks' own client makes is the latter.
//! - PATCH whose every operation is on `entitlements` (`add`, `replace`, `remove` with a value list or a
//!   `entitlements[value eq "…"]` filter) changes this workspace's entitlements of the group, all or
//!   nothing, with the checks of a workspace group's; an operation on any other path (`members`,
//!   `displayName`) answers 404, and nothing changes. Terraform's create with every entitlement off
//!   sends `replace` with `[{"value":""}]` (`emptyAddRequest` in `resource_entitlement_test.go`, a
//!   mocked answer): refused here as an unknown entitlement, as for a workspace group; what the service
//!   answers is **unconfirmed**.
//! - An account group nested in an assigned one, not assigned itself, is not served at all (404).
//!
//! The entitlements live on the workspace's copy of the group: the account group and other workspaces
//! do not see them, and they are gone once the group leaves the workspace (**unconfirmed**).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::fields::check_entitlements;
use super::groups::not_found;
use super::patch::{self, PatchOp};
use super::query::Projection;
use super::render::GROUP_SCHEMA;
use super::store::{Group, Store};

/// The account group `id`, if the workspace lists it (an account assigned it to the workspace).
fn assigned<'a>(store: &'a Store, id: &str) -> Option<&'a Group> {
    (store.federated.listed_groups.contains(id))
        .then(|| store.account_groups.get(id))
        .flatten()
}

/// `GET Groups/{id}` of an id that is not a workspace group.
pub(crate) fn get(store: &Store, id: &str, query: Option<&str>) -> Result<Response, ScimError> {
    let projection = Projection::from_query(query);
    if projection.returns("members") {
        return Err(not_found(id));
    }
    let group = assigned(store, id).ok_or_else(|| not_found(id))?;
    Ok(Json(projection.apply(render(group))).into_response())
}

/// `PATCH Groups/{id}` of an id that is not a workspace group.
pub(crate) fn patch(store: &mut Store, id: &str, operations: &[PatchOp]) -> Result<(), ScimError> {
    let only_entitlements = (operations.iter()).all(|op| op.path.attribute == "entitlements");
    if !only_entitlements || assigned(store, id).is_none() {
        return Err(not_found(id));
    }
    let group = store
        .account_groups
        .get_mut(id)
        .ok_or_else(|| not_found(id))?;
    let mut entitlements = group.entitlements.clone();
    for op in operations {
        check_entitlements(&patch::apply_to_list(&mut entitlements, op)?)?;
    }
    group.entitlements = entitlements;
    Ok(())
}

/// The answer to a successful PATCH.
pub(crate) fn rendered(store: &Store, id: &str) -> Result<Value, ScimError> {
    assigned(store, id).map(render).ok_or_else(|| not_found(id))
}

fn render(group: &Group) -> Value {
    let mut object = Map::new();
    object.insert("schemas".into(), json!([GROUP_SCHEMA]));
    object.insert("id".into(), json!(group.id));
    object.insert("displayName".into(), json!(group.display_name));
    if !group.entitlements.is_empty() {
        let values: Vec<Value> = (group.entitlements.iter())
            .map(|e| json!({ "value": e }))
            .collect();
        object.insert("entitlements".into(), Value::Array(values));
    }
    object.insert("meta".into(), json!({ "resourceType": "Group" }));
    Value::Object(object)
}
