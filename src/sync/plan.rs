//! The plan: what must change so a workspace has its desired principals (users, and service principals
//! when configured), and (when configured) loses the managed ones who left. A pure function of the
//! desired principals, the workspace's current state ([`Current`], in `current.rs`) and the policy; its
//! output is plain data a dry run shows.
//!
//! A [`Plan`] holds one type per phase, in the order they are applied: principal changes
//! ([`PrincipalChange`]: create, reactivate), the marker group ([`Marking`]), the mirrored groups
//! ([`GroupChange`]), deprovisioning ([`Deprovisioning`]), and what is [`Held`], with why and whether
//! the hold fails the workspace or only makes it partial ([`HoldEffect`]). [`Plan::actions`] lists every
//! change as an [`Action`] (borrowed, for dry runs and reports).
//!
//! Ownership without a database: every desired principal present in (or created in) the workspace is made
//! a member of the marker group; only marker-group members are ever deprovisioned, and never a protected
//! principal (workspace admins by any route, the token's own identity). Where the admins cannot be
//! established ([`Admins::Unknown`]), or are not read yet ([`Admins::Nested`]: [`Plan::awaits_admins`]),
//! every deprovisioning is held, whatever `allowDeprovision` says. Deprovisionings beyond the policy's limit are
//! held, all of them, unless the run was confirmed with `allowDeprovision`. After an incomplete read of
//! the Entra groups (members Graph listed with limited information), nothing is removed at all: every
//! deprovisioning, removal from a group and entitlement change is held (`Policy::hold_removals`, which
//! fails the workspace); after a read whose listing fell short of Graph's count twice, the same changes
//! wait (held as well, but the workspace is `partial`, not failed).
//! Invariant (tested): applying a plan, then planning again, gives an empty plan.

use serde::Serialize;

use super::admins::Admins;
use super::desired::{EntraId, Identity, Principal, Principals};
use super::report::ActionKind;
use crate::config::{Deprovision, MaxDeprovision};
use crate::databricks::{ExternalId, ScimId};

mod current;

pub use current::{ById, Current, GroupState, Ids, Lookup, Present};

/// A principal created or reactivated: the first phase, as group additions need the ids it learns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PrincipalChange {
    Create {
        principal: Principal,
        /// The display name (reported) and the Entra object id, sent as `externalId` (nil: none sent).
        #[serde(rename = "displayName", serialize_with = "display_name")]
        identity: Identity,
    },
    Activate {
        id: ScimId,
        principal: Principal,
    },
}

/// A creation is reported with its display name only (the object id is the workspace's business).
fn display_name<S: serde::Serializer>(
    identity: &Identity,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(identity.display_name())
}

impl PrincipalChange {
    pub fn principal(&self) -> &Principal {
        match self {
            PrincipalChange::Create { principal, .. }
            | PrincipalChange::Activate { principal, .. } => principal,
        }
    }

    pub fn kind(&self) -> ActionKind {
        match self {
            PrincipalChange::Create { principal, .. } => by_principal(
                principal,
                ActionKind::CreateUser,
                ActionKind::CreateServicePrincipal,
            ),
            PrincipalChange::Activate { principal, .. } => by_principal(
                principal,
                ActionKind::ActivateUser,
                ActionKind::ActivateServicePrincipal,
            ),
        }
    }
}

fn by_principal(principal: &Principal, user: ActionKind, other: ActionKind) -> ActionKind {
    match principal {
        Principal::User(_) => user,
        Principal::ServicePrincipal(_) => other,
    }
}

/// What the marker group gains: the listed principals not marked yet, and every principal the plan
/// creates (their ids are known only once created). A first sync's plan so holds one list of its
/// principals, the creations, not a second one for the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marking {
    pub group: String,
    /// The group does not exist yet: it is created first.
    pub create: bool,
    pub listed: Vec<Principal>,
    /// How many principals the plan creates.
    pub created: usize,
}

/// A change to a mirrored group; a group is created before its members are added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum GroupChange {
    Create {
        group: String,
    },
    /// Adds entitlements (a group has at least the configured ones).
    AddEntitlements {
        group: String,
        entitlements: Vec<String>,
    },
    /// Adds principals, by key: some are created by this plan.
    Add {
        group: String,
        members: Vec<Principal>,
    },
    /// Removes a principal (boxed: the largest change and a rare one).
    Remove(Box<Removal>),
}

/// A principal leaving a mirrored group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub group: String,
    pub id: ScimId,
    pub member: Principal,
}

impl GroupChange {
    pub fn kind(&self) -> ActionKind {
        match self {
            GroupChange::Create { .. } => ActionKind::CreateGroup,
            GroupChange::AddEntitlements { .. } => ActionKind::AddEntitlements,
            GroupChange::Add { .. } => ActionKind::AddToGroup,
            GroupChange::Remove(_) => ActionKind::RemoveFromGroup,
        }
    }

    /// Whether the change waits for a complete Entra read: it takes access away or changes what a
    /// group may do.
    fn waits_for_a_complete_read(&self) -> bool {
        match self {
            GroupChange::Create { .. } | GroupChange::Add { .. } => false,
            GroupChange::AddEntitlements { .. } | GroupChange::Remove(_) => true,
        }
    }

    fn target(&self) -> String {
        match self {
            GroupChange::Create { group }
            | GroupChange::AddEntitlements { group, .. }
            | GroupChange::Add { group, .. } => group.clone(),
            GroupChange::Remove(removal) => format!("{}: {}", removal.group, removal.member),
        }
    }
}

/// A managed principal who left the groups, deactivated or removed as the policy says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deprovisioning {
    pub leave: Leave,
    pub id: ScimId,
    pub principal: Principal,
}

/// How a principal is deprovisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Leave {
    Deactivate,
    Remove,
}

impl Deprovisioning {
    pub fn kind(&self) -> ActionKind {
        match self.leave {
            Leave::Deactivate => by_principal(
                &self.principal,
                ActionKind::DeactivateUser,
                ActionKind::DeactivateServicePrincipal,
            ),
            Leave::Remove => by_principal(
                &self.principal,
                ActionKind::RemoveUser,
                ActionKind::RemoveServicePrincipal,
            ),
        }
    }
}

/// Changes not made this run, why, and what that does to the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Why, in words (the report's `deprovisioningHeld` or `removalsWaiting`).
    pub reason: String,
    /// Removals from mirrored groups and entitlement changes: held only after an incomplete or unsettled
    /// Entra read.
    pub groups: Vec<GroupChange>,
    pub effect: HoldEffect,
    pub deprovisioning: Vec<Deprovisioning>,
    /// The deprovisionings wait for the groups nested in `admins`: read them (`admins::expand`), then
    /// plan again.
    pub awaits_admins: bool,
}

/// What a hold does to the workspace's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldEffect {
    /// It fails (someone must act: the limit, admins that cannot be established, a missing permission),
    /// so the timer run shows Failed and alerts fire. Even when nothing was held, so the cause is seen.
    Fails,
    /// It is `partial`: the hold only waits for a read that agrees with Graph's count.
    Waits,
}

impl Held {
    fn new(reason: String, effect: HoldEffect) -> Held {
        Held {
            reason,
            effect,
            groups: Vec::new(),
            deprovisioning: Vec::new(),
            awaits_admins: false,
        }
    }

    /// The held changes, in plan order.
    pub fn actions(&self) -> impl Iterator<Item = Action<'_>> {
        let groups = self.groups.iter().map(Action::Group);
        groups.chain(self.deprovisioning.iter().map(Action::Deprovision))
    }
}

/// One change of a plan, borrowed from its phase: what dry runs and reports list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    Principal(&'a PrincipalChange),
    /// The marker group created, as it does not exist yet.
    CreateMarker(&'a Marking),
    /// The marker group's additions.
    Mark(&'a Marking),
    Group(&'a GroupChange),
    Deprovision(&'a Deprovisioning),
}

impl<'a> Action<'a> {
    pub fn kind(self) -> ActionKind {
        match self {
            Action::Principal(change) => change.kind(),
            Action::CreateMarker(_) => ActionKind::CreateGroup,
            Action::Mark(_) => ActionKind::AddToGroup,
            Action::Group(change) => change.kind(),
            Action::Deprovision(leaving) => leaving.kind(),
        }
    }

    /// The principal a create, (re)activation or deprovisioning is about.
    pub fn principal(self) -> Option<&'a Principal> {
        match self {
            Action::Principal(change) => Some(change.principal()),
            Action::Deprovision(leaving) => Some(&leaving.principal),
            Action::CreateMarker(_) | Action::Mark(_) | Action::Group(_) => None,
        }
    }

    /// What the action is about, for the report.
    pub fn target(self) -> String {
        match self {
            Action::Principal(change) => change.principal().to_string(),
            Action::CreateMarker(marking) | Action::Mark(marking) => marking.group.clone(),
            Action::Group(change) => change.target(),
            Action::Deprovision(leaving) => leaving.principal.to_string(),
        }
    }
}

/// A workspace group that mirrors an Entra group: exactly these principals, at least these entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    pub name: String,
    pub members: Members,
    pub entitlements: Vec<String>,
}

/// A mirrored group's desired members: sorted, each once. A list rather than a tree: at 100,000 users
/// the mirrored groups' 190,000 members took 3.9 MB in a `BTreeSet`, 2.9 MB here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members(Vec<Principal>);

impl Members {
    pub fn contains(&self, key: &Principal) -> bool {
        self.0.binary_search(key).is_ok()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Principal> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes every member of `other` in (it is left empty, its buffer freed: `Vec::append` would keep
    /// it, and the account's part holds each workspace's emptied groups until it assigns them).
    pub fn append(&mut self, other: &mut Members) {
        let other = std::mem::take(&mut other.0);
        if self.0.is_empty() {
            self.0 = other;
            return;
        }
        self.0.reserve_exact(other.len());
        self.0.extend(other);
        self.0.sort_unstable();
        self.0.dedup();
        self.0.shrink_to_fit();
    }
}

impl FromIterator<Principal> for Members {
    fn from_iter<I: IntoIterator<Item = Principal>>(iter: I) -> Self {
        let mut members: Vec<Principal> = iter.into_iter().collect();
        members.sort_unstable();
        members.dedup();
        members.shrink_to_fit();
        Members(members)
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = &'a Principal;
    type IntoIter = std::slice::Iter<'a, Principal>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
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
    /// Why nothing may be removed this run ([`RemovalHold::of`]): every deprovisioning, removal from a
    /// group and entitlement change is then held, whatever `allow_deprovision` says.
    pub hold_removals: Option<RemovalHold>,
}

/// Why every removal of a run is held, and what that does to the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalHold {
    pub reason: String,
    pub effect: HoldEffect,
}

impl RemovalHold {
    /// The hold of a workspace whose Entra read is `incomplete` (members Graph listed with limited
    /// information, [`super::desired::Incomplete::reason`]: it fails, a permission is missing) or
    /// `unsettled` (a listing fell short of Graph's count on two reads, the count's index lags: it
    /// waits, the workspace is `partial`). An incomplete read wins when both are.
    pub fn of(incomplete: Option<String>, unsettled: Option<String>) -> Option<RemovalHold> {
        match (incomplete, unsettled) {
            (Some(reason), _) => Some(RemovalHold {
                reason,
                effect: HoldEffect::Fails,
            }),
            (None, Some(reason)) => Some(RemovalHold {
                reason,
                effect: HoldEffect::Waits,
            }),
            (None, None) => None,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            managed_group: crate::config::DEFAULT_MANAGED_GROUP.to_owned(),
            deprovision: Deprovision::None,
            max_deprovision: MaxDeprovision::Default,
            allow_deprovision: false,
            hold_removals: None,
        }
    }
}

/// The changes by phase, in the order they are applied: principals (creations and reactivations, in
/// the order of the desired principals), the marker group (when it gains anyone), the mirrored groups
/// (group by group), deprovisioning; and what is held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub principals: Vec<PrincipalChange>,
    pub marker: Option<Marking>,
    /// Listed desired principals whose `externalId` is not their Entra object id (never rewritten).
    pub external_ids: ExternalIdFindings,
    pub groups: Vec<GroupChange>,
    pub deprovisioning: Vec<Deprovisioning>,
    pub held: Option<Held>,
    /// Desired principals already present and active.
    pub existing: u64,
    /// Of `existing`, the service principals.
    pub existing_service_principals: u64,
}

impl Plan {
    /// Every change to make, phase by phase (held ones are in [`Held::actions`]).
    pub fn actions(&self) -> impl Iterator<Item = Action<'_>> {
        let principals = self.principals.iter().map(Action::Principal);
        let marker = self.marker.iter().flat_map(|marking| {
            let create = marking.create.then_some(Action::CreateMarker(marking));
            create.into_iter().chain([Action::Mark(marking)])
        });
        let groups = self.groups.iter().map(Action::Group);
        let deprovisioning = self.deprovisioning.iter().map(Action::Deprovision);
        principals.chain(marker).chain(groups).chain(deprovisioning)
    }

    /// Deprovisionings are held because the groups nested in `admins` are not read yet: read them
    /// (`admins::expand`), then plan again.
    pub fn awaits_admins(&self) -> bool {
        self.held.as_ref().is_some_and(|held| held.awaits_admins)
    }

    fn count_existing(&mut self, key: &Principal) {
        self.existing += 1;
        if matches!(key, Principal::ServicePrincipal(_)) {
            self.existing_service_principals += 1;
        }
    }
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
    let empty = Ids::default();
    let planning = Planning {
        desired,
        present: current.lookup(),
        marked: current.marker_members.as_ref().unwrap_or(&empty),
        current,
        policy,
    };
    let mut result = Plan::default();
    planning.principals(&mut result);
    result.marker = planning.marking(&result.principals);
    if !groups.is_empty() {
        let by_id = current.by_id();
        for group in groups {
            mirror(
                group,
                &planning.present,
                &by_id,
                current,
                &mut result.groups,
            );
        }
    }
    planning.deprovision(&mut result);
    hold_removals(policy, &mut result);
    result
}

/// What every phase of planning reads.
struct Planning<'a> {
    desired: &'a Principals,
    present: Lookup<'a>,
    /// The marker group's members (none when it does not exist).
    marked: &'a Ids,
    current: &'a Current,
    policy: &'a Policy,
}

impl Planning<'_> {
    /// The creations and reactivations; counts the principals present and active, and compares the
    /// `externalId` of those listed.
    fn principals(&self, result: &mut Plan) {
        // Counted first, so that a first sync's plan (a change per principal) is allocated once, at
        // its size, rather than grown by doubling.
        let hands_off = &self.current.hands_off;
        let changes = (self.desired.keys())
            .filter(|key| {
                (self.present.get(key)).is_none_or(|p| !p.active && !hands_off.contains(p.id))
            })
            .count();
        result.principals.reserve_exact(changes);
        for (key, identity) in self.desired {
            let Some(p) = self.present.get(key) else {
                result.principals.push(PrincipalChange::Create {
                    principal: key.clone(),
                    identity: identity.clone(),
                });
                continue;
            };
            result
                .external_ids
                .compare(key, p.external_id, identity.id());
            if p.active {
                result.count_existing(key);
            } else if hands_off.contains(p.id) {
                // Another provisioner deactivated it: its call, not fought.
            } else {
                result.principals.push(PrincipalChange::Activate {
                    id: p.id.clone(),
                    principal: key.clone(),
                });
            }
        }
    }

    /// The marker group's additions: every listed desired principal not marked yet, and every one
    /// `changes` creates (counted); `None` when it gains nobody.
    fn marking(&self, changes: &[PrincipalChange]) -> Option<Marking> {
        let hands_off = &self.current.hands_off;
        let unmarked = |key: &&Principal| {
            (self.present.get(key))
                .is_some_and(|p| !self.marked.contains(p.id) && !hands_off.contains(p.id))
        };
        let mut listed = Vec::with_capacity(self.desired.keys().filter(unmarked).count());
        listed.extend(self.desired.keys().filter(unmarked).cloned());
        let created = (changes.iter())
            .filter(|c| matches!(c, PrincipalChange::Create { .. }))
            .count();
        (!listed.is_empty() || created > 0).then(|| Marking {
            group: self.policy.managed_group.clone(),
            create: self.current.marker_members.is_none(),
            listed,
            created,
        })
    }

    /// Marker members who are no longer desired, unless protected; held while the admins are not
    /// known, and beyond the limit.
    fn deprovision(&self, result: &mut Plan) {
        let leave = match self.policy.deprovision {
            Deprovision::None => return,
            Deprovision::Deactivate => Leave::Deactivate,
            Deprovision::Remove => Leave::Remove,
        };
        let (current, marked) = (self.current, self.marked);
        let leaving: Vec<Deprovisioning> = (current.listed())
            .filter(|(key, p)| {
                marked.contains(p.id)
                    && !current.protected.contains(p.id)
                    && !current.hands_off.contains(p.id)
                    && !self.desired.contains_key(key)
            })
            // A deactivated principal stays so: only a removal has anything left to do.
            .filter(|(_, p)| p.active || leave == Leave::Remove)
            .map(|(principal, p)| Deprovisioning {
                leave,
                id: p.id.to_owned(),
                principal,
            })
            .collect();
        if leaving.is_empty() {
            return;
        }
        let held = hold_deprovisioning(&current.admins, leaving.len(), marked.len(), self.policy);
        match held {
            Some(held) => {
                result.held = Some(Held {
                    deprovisioning: leaving,
                    ..held
                })
            }
            None => result.deprovisioning = leaving,
        }
    }
}

/// The changes that make a workspace group hold exactly `group.members` and its entitlements. Only
/// listed principals are compared: other members (groups, and service principals when they are not
/// synced) are left alone.
fn mirror(
    group: &DesiredGroup,
    present: &Lookup<'_>,
    by_id: &ById<'_>,
    current: &Current,
    changes: &mut Vec<GroupChange>,
) {
    let empty = GroupState::default();
    let state = current.groups.get(&group.name);
    if state.is_none() {
        changes.push(GroupChange::Create {
            group: group.name.clone(),
        });
    }
    let state = state.unwrap_or(&empty);
    let entitlements = lacking(&group.entitlements, |e| state.entitlements.contains(e));
    if !entitlements.is_empty() {
        let group = group.name.clone();
        changes.push(GroupChange::AddEntitlements {
            group,
            entitlements,
        });
    }
    let members = lacking(&group.members, |key| {
        (present.get(key)).is_some_and(|p| state.members.contains(p.id))
    });
    if !members.is_empty() {
        let group = group.name.clone();
        changes.push(GroupChange::Add { group, members });
    }
    changes.extend(leaving(group, state, by_id));
}

/// What of `wanted` a group lacks (`has` says what it has), in order.
fn lacking<'a, T: Clone + 'a>(
    wanted: impl IntoIterator<Item = &'a T>,
    has: impl Fn(&T) -> bool,
) -> Vec<T> {
    wanted.into_iter().filter(|w| !has(w)).cloned().collect()
}

/// The removals from a mirrored group: every listed principal with a member's id, even a duplicate
/// key's inactive twin, leaves if unwanted.
fn leaving<'a>(
    group: &'a DesiredGroup,
    state: &GroupState,
    by_id: &ById<'_>,
) -> impl Iterator<Item = GroupChange> + 'a {
    let mut leaving: Vec<(Principal, ScimId)> = (state.members.iter())
        .filter_map(|id| by_id.get(id))
        .filter(|(key, _)| !group.members.contains(key))
        .map(|(key, p)| (key, p.id.clone()))
        .collect();
    leaving.sort();
    leaving.into_iter().map(|(member, id)| {
        GroupChange::Remove(Box::new(Removal {
            group: group.name.clone(),
            id,
            member,
        }))
    })
}

/// Why `leaving` deprovisionings are held, if they are: the admins are not read yet or cannot be
/// established (checked before the limit: a confirmation never releases a deprovisioning that may
/// deactivate an admin), or there are more than the limit and the run is not confirmed.
fn hold_deprovisioning(
    admins: &Admins,
    leaving: usize,
    managed: usize,
    policy: &Policy,
) -> Option<Held> {
    let fails = |reason| Some(Held::new(reason, HoldEffect::Fails));
    match admins {
        Admins::Known => {}
        Admins::Nested(groups) => {
            let mut held = fails(format!(
                "deprovisioning held: the {} group(s) nested in admins are not read yet",
                groups.len()
            ))?;
            held.awaits_admins = true;
            return Some(held);
        }
        Admins::Unknown(why) => {
            return fails(format!(
                "deprovisioning held: who is a workspace admin cannot be established, so none of the \
                 {leaving} principal(s) who would be deprovisioned is: {why}"
            ));
        }
    }
    let limit = policy.max_deprovision.limit(managed as u64);
    if leaving as u64 <= limit || policy.allow_deprovision {
        return None;
    }
    fails(format!(
        "deprovisioning held: {leaving} of the {managed} managed principals would be deprovisioned, more \
         than the limit of {limit} (maxDeprovision); check the groups, then confirm with SyncHttp \
         {{\"workspaces\": [...], \"allowDeprovision\": true}} or raise maxDeprovision"
    ))
}

/// Fail closed on an incomplete read, wait on an unsettled one: every change that could take access
/// away (a deprovisioning, a removal from a group) or change entitlements is held, with the reason,
/// however few they are; the additions stay. The hold is kept even when nothing was held, so the
/// missing permission (or the wait) is reported.
fn hold_removals(policy: &Policy, result: &mut Plan) {
    let Some(hold) = &policy.hold_removals else {
        return;
    };
    let (reason, effect) = match (hold.effect, &result.held) {
        (HoldEffect::Fails, _) => (hold.reason.clone(), HoldEffect::Fails),
        // A hold that fails the workspace (over the limit, admins unknown) still does: both reasons.
        (HoldEffect::Waits, Some(failing)) => (
            format!("{}; {}", failing.reason, hold.reason),
            HoldEffect::Fails,
        ),
        (HoldEffect::Waits, None) => (hold.reason.clone(), HoldEffect::Waits),
    };
    let mut held = (result.held.take()).unwrap_or_else(|| Held::new(String::new(), effect));
    (held.reason, held.effect) = (reason, effect);
    let (waiting, kept) = std::mem::take(&mut result.groups)
        .into_iter()
        .partition(GroupChange::waits_for_a_complete_read);
    result.groups = kept;
    held.groups = waiting;
    // At most one of the two holds any: deprovisionings are either made or held already.
    held.deprovisioning.append(&mut result.deprovisioning);
    result.held = Some(held);
}

#[cfg(test)]
mod tests;
