//! The plan: what must change so a workspace has its desired users, and (when configured) loses the
//! managed users who left. A pure function of the desired users, the workspace's current state and the
//! policy; its output is plain data a dry run shows.
//!
//! Ownership without a database: every desired user present in (or created in) the workspace is made a
//! member of the marker group; only marker-group members are ever deprovisioned, and never a protected
//! principal (workspace admins, the token's own identity). Deprovisionings beyond the policy's limit are
//! held, all of them, unless the run was confirmed with `allowDeprovision`.
//! Invariant (tested): applying a plan, then planning again, gives an empty plan.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::desired::{DesiredUser, UserName};
use crate::config::{Deprovision, MaxDeprovision};
use crate::databricks::ScimUser;

/// One change to a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    CreateUser {
        user_name: UserName,
        display_name: String,
    },
    ActivateUser {
        id: String,
        user_name: UserName,
    },
    /// Creates a workspace group (the marker group when it does not exist yet).
    CreateGroup {
        display_name: String,
    },
    /// Adds users (by name: some are created by this plan) to a group.
    AddToGroup {
        group: String,
        user_names: Vec<UserName>,
    },
    /// Removes a user from a mirrored group.
    RemoveFromGroup {
        group: String,
        id: String,
        user_name: UserName,
    },
    /// Adds entitlements to a mirrored group.
    AddEntitlements {
        group: String,
        entitlements: Vec<String>,
    },
    DeactivateUser {
        id: String,
        user_name: UserName,
    },
    RemoveUser {
        id: String,
        user_name: UserName,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateUser { .. } => "createUser",
            Action::ActivateUser { .. } => "activateUser",
            Action::CreateGroup { .. } => "createGroup",
            Action::AddToGroup { .. } => "addToGroup",
            Action::RemoveFromGroup { .. } => "removeFromGroup",
            Action::AddEntitlements { .. } => "addEntitlements",
            Action::DeactivateUser { .. } => "deactivateUser",
            Action::RemoveUser { .. } => "removeUser",
        }
    }

    /// What the action is about, for the report.
    pub fn target(&self) -> String {
        match self {
            Action::CreateUser { user_name, .. }
            | Action::ActivateUser { user_name, .. }
            | Action::DeactivateUser { user_name, .. }
            | Action::RemoveUser { user_name, .. } => user_name.to_string(),
            Action::CreateGroup { display_name } => display_name.clone(),
            Action::AddToGroup { group, .. } | Action::AddEntitlements { group, .. } => {
                group.clone()
            }
            Action::RemoveFromGroup {
                group, user_name, ..
            } => format!("{group}: {user_name}"),
        }
    }

    fn is_deprovisioning(&self) -> bool {
        matches!(
            self,
            Action::DeactivateUser { .. } | Action::RemoveUser { .. }
        )
    }
}

/// The workspace as read before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    pub users: Vec<ScimUser>,
    /// Member ids of the marker group, or `None` when the group does not exist yet.
    pub marker_members: Option<HashSet<String>>,
    /// The marker group's id, when it exists.
    pub marker_id: Option<String>,
    /// Ids never deprovisioned: members of `admins` and the token's own identity.
    pub protected: HashSet<String>,
    /// The mirrored groups that exist, by name.
    pub groups: BTreeMap<String, GroupState>,
}

/// A workspace group as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupState {
    pub id: String,
    pub members: HashSet<String>,
    pub entitlements: Vec<String>,
}

/// A workspace group that mirrors an Entra group: exactly these users, at least these entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    pub name: String,
    pub members: std::collections::BTreeSet<UserName>,
    pub entitlements: Vec<String>,
}

/// What the sync may do in a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The marker group's name.
    pub managed_group: String,
    pub deprovision: Deprovision,
    pub max_deprovision: MaxDeprovision,
    /// The operator confirmed this run's deprovisioning whatever its size.
    pub allow_deprovision: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            managed_group: crate::config::DEFAULT_MANAGED_GROUP.to_owned(),
            deprovision: Deprovision::None,
            max_deprovision: MaxDeprovision::Default,
            allow_deprovision: false,
        }
    }
}

/// The changes, how many desired users need none, and the deprovisionings held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Desired users already present and active.
    pub existing: u64,
    /// Deprovisionings not made this run, and why.
    pub held: Vec<Action>,
    pub held_reason: Option<String>,
}

/// Computes the changes that make `current` match `desired` under `policy`.
pub fn plan(
    desired: &BTreeMap<UserName, DesiredUser>,
    groups: &[DesiredGroup],
    current: &Current,
    policy: &Policy,
) -> Plan {
    let mut by_name: BTreeMap<UserName, &ScimUser> = BTreeMap::new();
    for user in &current.users {
        if let Some(name) = UserName::parse(&user.user_name) {
            // Two listed users with one name cannot both be ours; prefer an active one.
            let keep = by_name
                .get(&name)
                .is_some_and(|kept| kept.active && !user.active);
            if !keep {
                by_name.insert(name, user);
            }
        }
    }
    let empty = HashSet::new();
    let marked = current.marker_members.as_ref().unwrap_or(&empty);
    let mut result = Plan::default();
    let mut to_mark = Vec::new();
    for (name, want) in desired {
        match by_name.get(name) {
            None => result.actions.push(Action::CreateUser {
                user_name: name.clone(),
                display_name: want.display_name.clone(),
            }),
            Some(user) if !user.active => result.actions.push(Action::ActivateUser {
                id: user.id.clone(),
                user_name: name.clone(),
            }),
            Some(_) => result.existing += 1,
        }
        if by_name
            .get(name)
            .is_none_or(|user| !marked.contains(&user.id))
        {
            to_mark.push(name.clone());
        }
    }
    if !to_mark.is_empty() {
        if current.marker_members.is_none() {
            result.actions.push(Action::CreateGroup {
                display_name: policy.managed_group.clone(),
            });
        }
        result.actions.push(Action::AddToGroup {
            group: policy.managed_group.clone(),
            user_names: to_mark,
        });
    }
    for group in groups {
        mirror(group, &by_name, current, &mut result);
    }
    deprovision(desired, current, marked, policy, &mut result);
    result
}

/// The actions that make a workspace group hold exactly `group.members` and its entitlements. Only
/// user members are compared: other members (service principals, groups) are left alone.
fn mirror(
    group: &DesiredGroup,
    by_name: &BTreeMap<UserName, &ScimUser>,
    current: &Current,
    result: &mut Plan,
) {
    let empty = GroupState::default();
    let state = current.groups.get(&group.name);
    if state.is_none() {
        result.actions.push(Action::CreateGroup {
            display_name: group.name.clone(),
        });
    }
    let state = state.unwrap_or(&empty);
    let missing: Vec<String> = group
        .entitlements
        .iter()
        .filter(|e| !state.entitlements.contains(e))
        .cloned()
        .collect();
    if !missing.is_empty() {
        result.actions.push(Action::AddEntitlements {
            group: group.name.clone(),
            entitlements: missing,
        });
    }
    let to_add: Vec<UserName> = group
        .members
        .iter()
        .filter(|name| {
            by_name
                .get(*name)
                .is_none_or(|user| !state.members.contains(&user.id))
        })
        .cloned()
        .collect();
    if !to_add.is_empty() {
        result.actions.push(Action::AddToGroup {
            group: group.name.clone(),
            user_names: to_add,
        });
    }
    let mut leaving: Vec<(&String, UserName)> = current
        .users
        .iter()
        .filter(|user| state.members.contains(&user.id))
        .filter_map(|user| Some((&user.id, UserName::parse(&user.user_name)?)))
        .filter(|(_, name)| !group.members.contains(name))
        .collect();
    leaving.sort_by(|a, b| a.1.cmp(&b.1));
    for (id, user_name) in leaving {
        result.actions.push(Action::RemoveFromGroup {
            group: group.name.clone(),
            id: id.clone(),
            user_name,
        });
    }
}

/// Marker members who are no longer desired, unless protected; held beyond the limit.
fn deprovision(
    desired: &BTreeMap<UserName, DesiredUser>,
    current: &Current,
    marked: &HashSet<String>,
    policy: &Policy,
    result: &mut Plan,
) {
    if policy.deprovision == Deprovision::None {
        return;
    }
    let leaving = current.users.iter().filter(|user| {
        marked.contains(&user.id)
            && !current.protected.contains(&user.id)
            && UserName::parse(&user.user_name).is_none_or(|name| !desired.contains_key(&name))
    });
    let actions: Vec<Action> = leaving
        .filter_map(|user| {
            let user_name = UserName::parse(&user.user_name)?;
            match policy.deprovision {
                Deprovision::Deactivate if user.active => Some(Action::DeactivateUser {
                    id: user.id.clone(),
                    user_name,
                }),
                Deprovision::Remove => Some(Action::RemoveUser {
                    id: user.id.clone(),
                    user_name,
                }),
                _ => None,
            }
        })
        .collect();
    let limit = policy.max_deprovision.limit(marked.len() as u64);
    if actions.len() as u64 > limit && !policy.allow_deprovision {
        result.held_reason = Some(format!(
            "deprovisioning held: {} of the {} managed users would be deprovisioned, more than the limit of {limit} \
             (maxDeprovision); check the groups, then confirm with SyncHttp {{\"workspaces\": [...], \
             \"allowDeprovision\": true}} or raise maxDeprovision",
            actions.len(),
            marked.len()
        ));
        result.held = actions;
    } else {
        result.actions.extend(actions);
    }
}

impl Plan {
    /// How many deprovisionings the plan makes (not counting held ones).
    pub fn deprovisionings(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.is_deprovisioning())
            .count()
    }
}

#[cfg(test)]
mod tests;
