//! What the account federates into each identity-federated workspace: the principals assigned to it
//! directly, and those reached through an assigned account group at any depth of nesting; the assigned
//! groups (listed there) and the groups nested in them (shown only as members); who holds `ADMIN`.

use std::collections::{BTreeSet, HashSet};

use crate::scim::federation::{
    FederatedGroup, FederatedServicePrincipal, FederatedUser, FederatedView,
};

use super::state::{AccountWorkspace, Permission, State};

/// The view of one workspace.
pub(crate) fn view(state: &State, workspace: &AccountWorkspace) -> FederatedView {
    let assigned_groups: HashSet<&str> = (workspace.assignments.keys())
        .filter(|id| state.groups.get(id).is_some())
        .map(String::as_str)
        .collect();
    let reached = reached(state, workspace);
    let mut view = FederatedView::default();
    for id in &reached {
        if let Some(user) = state.users.get(id) {
            view.users.push(FederatedUser {
                id: user.id.clone(),
                user_name: user.user_name.clone(),
                display_name: user.display_name.clone(),
                external_id: user.external_id.clone(),
                active: user.active,
            });
        } else if let Some(sp) = state.service_principals.get(id) {
            view.service_principals.push(FederatedServicePrincipal {
                id: sp.id.clone(),
                application_id: sp.application_id.clone(),
                display_name: sp.display_name.clone(),
                external_id: sp.external_id.clone(),
                active: sp.active,
            });
        } else if let Some(group) = state.groups.get(id) {
            view.groups.push(FederatedGroup {
                id: group.id.clone(),
                display_name: group.display_name.clone(),
                members: group.members.iter().cloned().collect(),
                assigned: assigned_groups.contains(id.as_str()),
            });
        }
    }
    view.admins = (workspace.assignments.iter())
        .filter(|(_, p)| **p == Permission::Admin)
        .map(|(id, _)| id.clone())
        .collect();
    view
}

/// Every principal and group assigned to the workspace or nested in an assigned group.
fn reached(state: &State, workspace: &AccountWorkspace) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut stack: Vec<&String> = workspace.assignments.keys().collect();
    while let Some(id) = stack.pop() {
        if state.kind_of(id).is_none() || !reached.insert(id.clone()) {
            continue;
        }
        if let Some(group) = state.groups.get(id) {
            stack.extend(group.members.iter());
        }
    }
    reached
}
