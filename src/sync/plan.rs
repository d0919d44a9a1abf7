//! The plan: what must change so a workspace has its desired principals (users, and service principals
//! when configured), and (when configured) loses the managed ones who left. A pure function of the
//! desired principals, the workspace's current state and the policy; its output is plain data a dry run
//! shows.
//!
//! Ownership without a database: every desired principal present in (or created in) the workspace is made
//! a member of the marker group; only marker-group members are ever deprovisioned, and never a protected
//! principal (workspace admins by any route, the token's own identity). Where the admins cannot be
//! established ([`Admins::Unknown`]), or are not read yet ([`Admins::Nested`]: [`Plan::awaits_admins`]),
//! every deprovisioning is held, whatever `allowDeprovision` says. Deprovisionings beyond the policy's limit are
//! held, all of them, unless the run was confirmed with `allowDeprovision`. After an incomplete read of
//! the Entra groups (members Graph listed with limited information), nothing is removed at all: every
//! deprovisioning, removal from a group and entitlement change is held (`Policy::hold_removals`); after
//! a read whose listing fell short of Graph's count twice, the same changes wait (`Policy::wait_removals`:
//! held as well, but the workspace is `partial`, not failed).
//! Invariant (tested): applying a plan, then planning again, gives an empty plan.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::admins::Admins;
use super::desired::{AppId, EntraId, Principal, Principals, UserName};
use crate::config::{Deprovision, MaxDeprovision};
use crate::databricks::{ExternalId, ScimId, ScimServicePrincipal, ScimUser};

/// One change to a workspace. Principal actions name a user or a service principal; their report kind
/// says which (`createUser`, `createServicePrincipal`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    Create {
        principal: Principal,
        display_name: Arc<str>,
        /// The Entra object id, sent as `externalId` (nil: none sent).
        #[serde(skip)]
        external_id: EntraId,
    },
    Activate {
        id: ScimId,
        principal: Principal,
    },
    /// Creates a workspace group (the marker group when it does not exist yet).
    CreateGroup {
        display_name: String,
    },
    /// Adds principals (by key: some are created by this plan) to a group.
    AddToGroup {
        group: String,
        members: Vec<Principal>,
    },
    /// Adds principals to the marker group (boxed: one per plan).
    Mark(Box<Marking>),
    /// Removes a principal from a mirrored group (boxed: the largest change and a rare one; a plan of
    /// a first sync holds one action per principal).
    RemoveFromGroup(Box<Removal>),
    /// Adds entitlements to a mirrored group.
    AddEntitlements {
        group: String,
        entitlements: Vec<String>,
    },
    Deactivate {
        id: ScimId,
        principal: Principal,
    },
    Remove {
        id: ScimId,
        principal: Principal,
    },
}

/// What the marker group gains: the listed principals not marked yet, and every principal the plan
/// creates (their ids are known only once created). A first sync's plan so holds one list of its
/// principals, the creations, not a second one for the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marking {
    pub group: String,
    pub listed: Vec<Principal>,
    /// How many principals the plan creates.
    pub created: usize,
}

/// A principal leaving a mirrored group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub group: String,
    pub id: ScimId,
    pub member: Principal,
}

impl Action {
    pub fn kind(&self) -> &'static str {
        let by_principal = |principal: &Principal, user, service_principal| match principal {
            Principal::User(_) => user,
            Principal::ServicePrincipal(_) => service_principal,
        };
        match self {
            Action::Create { principal, .. } => {
                by_principal(principal, "createUser", "createServicePrincipal")
            }
            Action::Activate { principal, .. } => {
                by_principal(principal, "activateUser", "activateServicePrincipal")
            }
            Action::Deactivate { principal, .. } => {
                by_principal(principal, "deactivateUser", "deactivateServicePrincipal")
            }
            Action::Remove { principal, .. } => {
                by_principal(principal, "removeUser", "removeServicePrincipal")
            }
            Action::CreateGroup { .. } => "createGroup",
            Action::AddToGroup { .. } | Action::Mark(_) => "addToGroup",
            Action::RemoveFromGroup(_) => "removeFromGroup",
            Action::AddEntitlements { .. } => "addEntitlements",
        }
    }

    /// What the action is about, for the report.
    pub fn target(&self) -> String {
        match self {
            Action::Create { principal, .. }
            | Action::Activate { principal, .. }
            | Action::Deactivate { principal, .. }
            | Action::Remove { principal, .. } => principal.to_string(),
            Action::CreateGroup { display_name } => display_name.clone(),
            Action::AddToGroup { group, .. } | Action::AddEntitlements { group, .. } => {
                group.clone()
            }
            Action::Mark(marking) => marking.group.clone(),
            Action::RemoveFromGroup(removal) => format!("{}: {}", removal.group, removal.member),
        }
    }

    /// The principal a create, (re)activation or deprovisioning is about.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Action::Create { principal, .. }
            | Action::Activate { principal, .. }
            | Action::Deactivate { principal, .. }
            | Action::Remove { principal, .. } => Some(principal),
            _ => None,
        }
    }

    fn is_deprovisioning(&self) -> bool {
        matches!(self, Action::Deactivate { .. } | Action::Remove { .. })
    }
}

/// Workspace ids as a sorted list (24 bytes each; a set would take about twice that, and a marker
/// group holds every principal the sync made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids(Vec<ScimId>);

impl Ids {
    pub fn contains(&self, id: &str) -> bool {
        self.0.binary_search_by(|i| i.as_str().cmp(id)).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn insert(&mut self, id: ScimId) {
        if let Err(at) = self.0.binary_search(&id) {
            self.0.insert(at, id);
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Ok(at) = self.0.binary_search_by(|i| i.as_str().cmp(id)) {
            self.0.remove(at);
        }
    }
}

impl FromIterator<ScimId> for Ids {
    fn from_iter<I: IntoIterator<Item = ScimId>>(iter: I) -> Self {
        let mut ids: Vec<ScimId> = iter.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.shrink_to_fit();
        Ids(ids)
    }
}

/// The workspace as read before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    pub users: Vec<ScimUser>,
    /// Listed only when service principals are synced; empty otherwise, so none is ever touched.
    pub service_principals: Vec<ScimServicePrincipal>,
    /// Member ids of the marker group, or `None` when the group does not exist yet.
    pub marker_members: Option<Ids>,
    /// The marker group's id, when it exists.
    pub marker_id: Option<ScimId>,
    /// Ids never deprovisioned: admins (direct members of `admins`, and those of the groups nested in
    /// it once read) and the token's own identity.
    pub protected: HashSet<ScimId>,
    /// Whether `protected` holds every admin ([`Admins::Known`], the default), or what is missing.
    pub admins: Admins,
    /// The mirrored groups that exist, by name.
    pub groups: BTreeMap<String, GroupState>,
}

/// A principal of the workspace as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Present<'a> {
    pub id: &'a ScimId,
    pub active: bool,
    pub external_id: ExternalId,
}

impl Current {
    /// Every listed user and service principal with a usable key (user name, application id), with its
    /// id and whether it is active. The others are never touched.
    fn listed(&self) -> impl Iterator<Item = (Principal, Present<'_>)> {
        let users = self.users.iter().filter_map(|u| {
            let key = Principal::User(UserName::parse_shared(&u.user_name)?);
            Some((
                key,
                Present {
                    id: &u.id,
                    active: u.active,
                    external_id: u.external_id,
                },
            ))
        });
        let service_principals = self.service_principals.iter().filter_map(|sp| {
            let key = Principal::ServicePrincipal(AppId::parse(&sp.application_id)?);
            Some((
                key,
                Present {
                    id: &sp.id,
                    active: sp.active,
                    external_id: sp.external_id,
                },
            ))
        });
        users.chain(service_principals)
    }

    /// The listed principals by key (of two listed with one key, an active one is found).
    pub fn lookup(&self) -> Lookup<'_> {
        // Each name normalised once (borrowed when it is a user name already, as listed names are).
        let mut users: Vec<(Cow<'_, str>, u32)> = (self.users.iter())
            .zip(0u32..)
            .filter_map(|(u, i)| Some((UserName::normalize(&u.user_name)?, i)))
            .collect();
        let active = |i: &u32| self.users[*i as usize].active;
        users.sort_unstable_by(|(a, i), (b, j)| a.cmp(b).then(active(j).cmp(&active(i))));
        let mut service_principals: Vec<(AppId, u32)> = (self.service_principals.iter())
            .zip(0u32..)
            .filter_map(|(sp, i)| Some((AppId::parse(&sp.application_id)?, i)))
            .collect();
        let active = |i: &u32| self.service_principals[*i as usize].active;
        service_principals.sort_by(|(a, i), (b, j)| a.cmp(b).then(active(j).cmp(&active(i))));
        Lookup {
            current: self,
            users,
            service_principals,
        }
    }
}

/// Finds listed principals by key: the listed users' names (borrowed, normalised) with their
/// positions, sorted, searched by halving; no name is copied unless it was not normalised.
pub struct Lookup<'a> {
    current: &'a Current,
    users: Vec<(Cow<'a, str>, u32)>,
    service_principals: Vec<(AppId, u32)>,
}

impl<'a> Lookup<'a> {
    /// The principal listed under `key`: an active one if any.
    pub fn get(&self, key: &Principal) -> Option<Present<'a>> {
        match key {
            Principal::User(name) => {
                let found = self
                    .users
                    .partition_point(|(listed, _)| listed.as_ref() < name.as_str());
                let (listed, i) = self.users.get(found)?;
                let user = &self.current.users[*i as usize];
                (listed.as_ref() == name.as_str()).then_some(Present {
                    id: &user.id,
                    active: user.active,
                    external_id: user.external_id,
                })
            }
            Principal::ServicePrincipal(app) => {
                let found = self.service_principals.partition_point(|(k, _)| k < app);
                let (listed, i) = self.service_principals.get(found)?;
                let sp = &self.current.service_principals[*i as usize];
                (listed == app).then_some(Present {
                    id: &sp.id,
                    active: sp.active,
                    external_id: sp.external_id,
                })
            }
        }
    }
}

/// A workspace group as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupState {
    pub id: ScimId,
    pub members: HashSet<ScimId>,
    pub entitlements: Vec<String>,
}

/// A workspace group that mirrors an Entra group: exactly these principals, at least these entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    pub name: String,
    pub members: BTreeSet<Principal>,
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
    /// Why nothing may be removed this run, when the workspace's Entra read is incomplete (members Graph
    /// listed with limited information: [`super::desired::Incomplete::reason`]). Every deprovisioning,
    /// removal from a group and entitlement change is then held, whatever `allow_deprovision` says.
    pub hold_removals: Option<String>,
    /// Why removals wait this run although nothing is wrong: a listing fell short of Graph's count on
    /// two reads (the count's index lags). The same changes as `hold_removals` are held; the workspace
    /// is `partial`. `hold_removals` wins when both are set.
    pub wait_removals: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            managed_group: crate::config::DEFAULT_MANAGED_GROUP.to_owned(),
            deprovision: Deprovision::None,
            max_deprovision: MaxDeprovision::Default,
            allow_deprovision: false,
            hold_removals: None,
            wait_removals: None,
        }
    }
}

/// The changes, how many desired principals need none, and the deprovisionings held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Desired principals already present and active.
    pub existing: u64,
    /// Of `existing`, the service principals.
    pub existing_service_principals: u64,
    /// Deprovisionings not made this run, and why.
    pub held: Vec<Action>,
    pub held_reason: Option<String>,
    /// The holds only wait for a read that agrees with Graph's count (`Policy::wait_removals`): the
    /// workspace is `partial`, not failed.
    pub held_to_wait: bool,
    /// Deprovisionings are held because the groups nested in `admins` are not read yet: read them
    /// (`admins::expand`), then plan again.
    pub awaits_admins: bool,
    /// Listed desired principals whose `externalId` is not their Entra object id (never rewritten).
    pub external_ids: ExternalIdFindings,
}

/// How many names [`ExternalIdFindings`] keeps.
pub const MAX_LISTED_EXTERNAL_IDS: usize = 20;

/// What the plan found comparing listed principals' `externalId` with their Entra object ids. The
/// sync never changes an `externalId`: a difference is for an administrator to look at (another
/// provisioner, a re-created Entra object, a link made by hand).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalIdFindings {
    /// Principals whose `externalId` is set and is not their Entra object id.
    pub differ: u64,
    /// The first [`MAX_LISTED_EXTERNAL_IDS`] of them.
    pub differing: Vec<Principal>,
    /// Principals without an `externalId` (or a workspace that does not return it).
    pub absent: u64,
}

impl ExternalIdFindings {
    /// Compares a listed principal's `externalId` with the Entra object id it should be (nil: unknown,
    /// nothing to compare).
    fn compare(&mut self, key: &Principal, listed: ExternalId, entra: EntraId) {
        if listed.is_absent() {
            self.absent += 1;
            return;
        }
        let differs = !listed.is(&entra);
        if differs && !entra.is_nil() {
            self.differ += 1;
            if self.differing.len() < MAX_LISTED_EXTERNAL_IDS {
                self.differing.push(key.clone());
            }
        }
    }
}

/// Computes the changes that make `current` match `desired` (display names by principal) under `policy`.
pub fn plan(
    desired: &Principals,
    groups: &[DesiredGroup],
    current: &Current,
    policy: &Policy,
) -> Plan {
    let present = current.lookup();
    let empty = Ids::default();
    let marked = current.marker_members.as_ref().unwrap_or(&empty);
    let mut result = Plan::default();
    // Counted first, so that a first sync's plan (an action per principal) is allocated once, at its
    // size, rather than grown by doubling.
    let (mut changes, mut listed) = (0, 0);
    for key in desired.keys() {
        let found = present.get(key);
        changes += usize::from(found.is_none_or(|p| !p.active));
        listed += usize::from(found.is_some_and(|p| !marked.contains(p.id)));
    }
    result.actions.reserve_exact(changes + 2);
    let mut marking = Marking {
        group: policy.managed_group.clone(),
        listed: Vec::with_capacity(listed),
        created: 0,
    };
    for (key, display_name, object_id) in desired {
        let found = present.get(key);
        if let Some(p) = found {
            result.external_ids.compare(key, p.external_id, object_id);
        }
        match found {
            None => {
                result.actions.push(Action::Create {
                    principal: key.clone(),
                    display_name: display_name.clone(),
                    external_id: object_id,
                });
                marking.created += 1;
            }
            Some(p) if !p.active => result.actions.push(Action::Activate {
                id: p.id.clone(),
                principal: key.clone(),
            }),
            Some(_) => {
                result.existing += 1;
                if matches!(key, Principal::ServicePrincipal(_)) {
                    result.existing_service_principals += 1;
                }
            }
        }
        if found.is_some_and(|p| !marked.contains(p.id)) {
            marking.listed.push(key.clone());
        }
    }
    if !marking.listed.is_empty() || marking.created > 0 {
        if current.marker_members.is_none() {
            result.actions.push(Action::CreateGroup {
                display_name: policy.managed_group.clone(),
            });
        }
        result.actions.push(Action::Mark(Box::new(marking)));
    }
    for group in groups {
        mirror(group, &present, current, &mut result);
    }
    deprovision(desired, current, marked, policy, &mut result);
    if let Some(reason) = &policy.hold_removals {
        hold_removals(reason, &mut result);
    } else if let Some(reason) = &policy.wait_removals {
        // A hold that fails the workspace (over the limit, admins unknown) still does: both reasons.
        let failing = result.held_reason.take();
        hold_removals(reason, &mut result);
        match failing {
            Some(failing) => result.held_reason = Some(format!("{failing}; {reason}")),
            None => result.held_to_wait = true,
        }
    }
    result
}

/// Fail closed on an incomplete read: every action that could take access away (a deprovisioning, a
/// removal from a group) or change entitlements is held, with the reason, however few they are; the
/// additions stay. The workspace is then reported failed (held actions always fail it) even when
/// nothing was held, so the missing permission is seen.
fn hold_removals(reason: &str, result: &mut Plan) {
    let (held, kept): (Vec<Action>, Vec<Action>) = std::mem::take(&mut result.actions)
        .into_iter()
        .partition(|a| {
            matches!(
                a,
                Action::RemoveFromGroup(_)
                    | Action::AddEntitlements { .. }
                    | Action::Deactivate { .. }
                    | Action::Remove { .. }
            )
        });
    result.actions = kept;
    let over_the_limit = std::mem::take(&mut result.held);
    result.held = held;
    result.held.extend(over_the_limit);
    result.held_reason = Some(reason.to_owned());
}

/// The actions that make a workspace group hold exactly `group.members` and its entitlements. Only
/// listed principals are compared: other members (groups, and service principals when they are not
/// synced) are left alone.
fn mirror(group: &DesiredGroup, present: &Lookup<'_>, current: &Current, result: &mut Plan) {
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
    let to_add: Vec<Principal> = group
        .members
        .iter()
        .filter(|key| {
            present
                .get(key)
                .is_none_or(|p| !state.members.contains(p.id))
        })
        .cloned()
        .collect();
    if !to_add.is_empty() {
        result.actions.push(Action::AddToGroup {
            group: group.name.clone(),
            members: to_add,
        });
    }
    // Every listed principal with this id, even a duplicate key's inactive twin, leaves if unwanted.
    let mut leaving: Vec<(Principal, &ScimId)> = current
        .listed()
        .filter(|(key, p)| state.members.contains(p.id) && !group.members.contains(key))
        .map(|(key, p)| (key, p.id))
        .collect();
    leaving.sort();
    for (member, id) in leaving {
        result
            .actions
            .push(Action::RemoveFromGroup(Box::new(Removal {
                group: group.name.clone(),
                id: id.clone(),
                member,
            })));
    }
}

/// Marker members who are no longer desired, unless protected; held beyond the limit.
fn deprovision(
    desired: &Principals,
    current: &Current,
    marked: &Ids,
    policy: &Policy,
    result: &mut Plan,
) {
    if policy.deprovision == Deprovision::None {
        return;
    }
    let actions: Vec<Action> = current
        .listed()
        .filter(|(key, p)| {
            marked.contains(p.id) && !current.protected.contains(p.id) && !desired.contains_key(key)
        })
        .filter_map(|(principal, p)| match policy.deprovision {
            Deprovision::Deactivate if p.active => Some(Action::Deactivate {
                id: p.id.to_owned(),
                principal,
            }),
            Deprovision::Remove => Some(Action::Remove {
                id: p.id.to_owned(),
                principal,
            }),
            _ => None,
        })
        .collect();
    if actions.is_empty() {
        return;
    }
    // Before the limit: a confirmation (`allowDeprovision`) never releases a deprovisioning that may
    // deactivate an admin.
    match &current.admins {
        Admins::Known => {}
        Admins::Nested(groups) => {
            result.awaits_admins = true;
            result.held_reason = Some(format!(
                "deprovisioning held: the {} group(s) nested in admins are not read yet",
                groups.len()
            ));
            result.held = actions;
            return;
        }
        Admins::Unknown(why) => {
            result.held_reason = Some(format!(
                "deprovisioning held: who is a workspace admin cannot be established, so none of the {} \
                 principal(s) who would be deprovisioned is: {why}",
                actions.len()
            ));
            result.held = actions;
            return;
        }
    }
    let limit = policy.max_deprovision.limit(marked.len() as u64);
    if actions.len() as u64 > limit && !policy.allow_deprovision {
        result.held_reason = Some(format!(
            "deprovisioning held: {} of the {} managed principals would be deprovisioned, more than the limit of \
             {limit} (maxDeprovision); check the groups, then confirm with SyncHttp {{\"workspaces\": [...], \
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
