//! The run report: what a run did, per workspace, in the one JSON shape shared by `handler sync`,
//! `SyncTimer` and `SyncHttp` (camelCase; field names are a public interface, see README.md).
//! The kinds of change are [`ActionKind`] (serialised in the report's names). A workspace's counts and
//! status are derived in one place, [`WorkspaceReport::settle`], from its plan and what applying it came
//! to; [`ActionList`] lists actions up to the caps and counts the rest.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::apply::{Applied, Tally};
use super::desired::Skipped;
use super::plan::{ExternalIdFindings, Held, HoldEffect, Plan};
use crate::config::WorkspaceName;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    Timer,
    Http,
    Cli,
    /// A message of the work queue (`SyncQueue`): one workspace.
    Queue,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::Timer => "timer",
            Trigger::Http => "http",
            Trigger::Cli => "cli",
            Trigger::Queue => "queue",
        })
    }
}

/// Outcome of a run or of one workspace in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Succeeded,
    Failed,
    /// Some work was left for the next run (for instance a spent time budget); nothing failed.
    Partial,
}

impl Status {
    /// The status of a whole run: any failure fails it, else any partial makes it partial.
    pub fn combine(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses
            .into_iter()
            .fold(Status::Succeeded, |acc, s| match (acc, s) {
                (Status::Failed, _) | (_, Status::Failed) => Status::Failed,
                (Status::Partial, _) | (_, Status::Partial) => Status::Partial,
                _ => Status::Succeeded,
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Partial => "partial",
        }
    }
}

/// The report of one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub run_id: Uuid,
    pub trigger: Trigger,
    /// The Functions host's invocation id (`X-Azure-Functions-InvocationId`), when there is one.
    pub invocation_id: Option<String>,
    pub dry_run: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    pub status: Status,
    pub workspaces: Vec<WorkspaceReport>,
    /// What the run did in the Databricks account, for the workspaces with `identities: "account"`
    /// (absent when the run has none): the account's users, service principals, marker group and
    /// mirrored groups, in a workspace report's shape, named after the account id. Each of those
    /// workspaces' own reports say what was assigned to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<WorkspaceReport>,
}

/// What happened in one workspace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceReport {
    pub name: WorkspaceName,
    pub status: Status,
    /// Why the workspace failed as a whole (per-action failures are in `actions`). Never holds a secret.
    pub error: Option<String>,
    pub groups: Vec<GroupReport>,
    pub users: UserCounts,
    /// Counted only with `includeServicePrincipals`.
    pub service_principals: UserCounts,
    /// The changes, each with its outcome: at most [`MAX_LISTED_ACTIONS`] failed or skipped ones and as
    /// many others; the rest are counted in `omitted_actions`.
    pub actions: Vec<ActionReport>,
    /// Actions not listed in `actions` (beyond the caps), counted by type and outcome.
    pub omitted_actions: Vec<OmittedActions>,
    /// Why deprovisioning was held back this run (the held actions are in `actions`, `skipped`).
    pub deprovisioning_held: Option<String>,
    /// Why removals, deprovisioning and entitlement changes wait this run although nothing failed: Graph's
    /// member count and listing disagreed on two reads (the held actions are in `actions`, `skipped`);
    /// the workspace is then `partial`.
    pub removals_waiting: Option<String>,
    /// Listed principals the sync wants whose `externalId` is not their Entra object id, or is not
    /// set: reported, never rewritten.
    pub external_ids: ExternalIdReport,
    /// Changes left for the next run because the time budget was spent (in `actions`, `deferred`); the
    /// workspace is then `partial`.
    pub remaining: u64,
    /// Time spent on this workspace.
    pub duration_ms: u64,
    /// Requests sent per outside API, e.g. `{"graph": 3, "keyVault": 1, "databricks": 12}`.
    pub requests: BTreeMap<String, u64>,
    /// With `identities: "account"`: the workspace's permission assignments at the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments: Option<AssignmentCounts>,
    /// The account's report: desired principals another provisioner manages, left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_elsewhere: Option<ManagedElsewhere>,
    /// Account mode with mirrored groups: workspace-local groups named as a mirrored account group, each
    /// with how to migrate it (they are never deleted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local_groups: Vec<String>,
}

/// How many names a report lists of a set it counts.
pub const MAX_NAMED: usize = 20;

/// Desired principals another provisioner manages at the account (automatic identity management, the
/// Entra provisioning connector): listed there with an `externalId` yet not in the marker group, nor
/// owned by this sync in an account-mode workspace's own marker group. They are assigned to the
/// workspaces that want them, and never reactivated, marked or deprovisioned by this sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedElsewhere {
    pub count: u64,
    /// The first of them (user names, application ids), at most [`MAX_NAMED`].
    pub first: Vec<String>,
}

/// What a workspace with `identities: "account"` was given at the account: its permission assignments
/// (each principal, or each mirrored group, once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentCounts {
    /// Principals or groups the configuration gives this workspace.
    pub desired: u64,
    /// Of those, assigned already (by anyone, with any permission: never changed).
    pub existing: u64,
    pub assigned: u64,
    /// Assignments this sync made, taken back: the principal left the workspace's groups.
    pub unassigned: u64,
    /// Desired but not in the account yet (creation failed, deferred, or only planned in a dry run).
    pub waiting: u64,
    pub failed: u64,
}

impl WorkspaceReport {
    /// A workspace that failed before anything could be counted.
    pub fn failed(name: WorkspaceName, error: impl Into<String>) -> Self {
        WorkspaceReport {
            name,
            status: Status::Failed,
            error: Some(error.into()),
            groups: Vec::new(),
            users: UserCounts::default(),
            service_principals: UserCounts::default(),
            actions: Vec::new(),
            omitted_actions: Vec::new(),
            deprovisioning_held: None,
            removals_waiting: None,
            external_ids: ExternalIdReport::default(),
            remaining: 0,
            duration_ms: 0,
            requests: BTreeMap::new(),
            assignments: None,
            managed_elsewhere: None,
            local_groups: Vec::new(),
        }
    }

    /// Fills in what a workspace's sync came to once it ran to its end (its plan, what applying it
    /// came to, and the desired principals it started from), and derives from that, here and only here,
    /// its counts and its status: `failed` when a change failed or changes are held by a hold that fails
    /// ([`HoldEffect::Fails`]), else `partial` when changes were left for the next run (the time budget)
    /// or wait ([`HoldEffect::Waits`]), else `succeeded`.
    pub fn settle(&mut self, plan: &Plan, applied: Applied, wanted: Wanted) {
        self.users = UserCounts::of(
            &applied.users,
            wanted.users,
            plan.existing - plan.existing_service_principals,
        );
        self.users.skipped = wanted.skipped.len() as u64;
        // Failed group changes count here: every workspace has users, not every one service principals.
        self.users.failed += applied.failed_group_changes;
        self.service_principals = UserCounts::of(
            &applied.service_principals,
            wanted.service_principals,
            plan.existing_service_principals,
        );
        self.remaining = applied.deferred;
        self.external_ids = ExternalIdReport::from(&plan.external_ids);
        self.hold(plan.held.as_ref());
        let mut actions = applied.actions;
        for skipped in wanted.skipped {
            actions.push(ActionKind::SkipMember, Outcome::Skipped, || {
                (skipped.member, Some(skipped.reason))
            });
        }
        (self.actions, self.omitted_actions) = actions.finish();
        (self.status, self.error) = self.status();
    }

    /// Account mode: the workspace's actions (its assignments, counted in `assignments` already) and
    /// what was held; its status derived as [`WorkspaceReport::settle`] does.
    pub fn conclude(&mut self, actions: ActionList, held: Option<&Held>) {
        self.hold(held);
        (self.actions, self.omitted_actions) = actions.finish();
        (self.status, self.error) = self.status();
    }

    /// Says why changes were held: `deprovisioningHeld` for a hold that fails the workspace,
    /// `removalsWaiting` for one that waits.
    pub fn hold(&mut self, held: Option<&Held>) {
        let Some(held) = held else { return };
        let reason = Some(held.reason.clone());
        match held.effect {
            HoldEffect::Fails => self.deprovisioning_held = reason,
            HoldEffect::Waits => self.removals_waiting = reason,
        }
    }

    /// The status the counts and holds give, and the error that says why it failed.
    fn status(&self) -> (Status, Option<String>) {
        let mut problems = Vec::new();
        let assignments = self.assignments.as_ref().map_or(0, |a| a.failed);
        let failed = self.users.failed + self.service_principals.failed + assignments;
        if failed > 0 {
            problems.push(format!("{failed} change(s) failed; see actions"));
        }
        // Failed too (someone must act), but said apart: the sync cannot fix it by itself.
        let deactivated =
            self.users.account_deactivated + self.service_principals.account_deactivated;
        if deactivated > 0 {
            problems.push(format!(
                "of which {deactivated} user(s) could not be reactivated because they are deactivated in \
                 the Databricks account (reason accountDeactivated): an account admin must reactivate \
                 them there first; the next run then reactivates them in this workspace"
            ));
        }
        // Held deprovisioning fails the workspace, so the timer run shows Failed and alerts fire.
        problems.extend(self.deprovisioning_held.clone());
        if !problems.is_empty() {
            (Status::Failed, Some(problems.join("; ")))
        } else if self.remaining > 0 || self.removals_waiting.is_some() {
            (Status::Partial, None)
        } else {
            (Status::Succeeded, None)
        }
    }

    /// One line for the host's `Logs` and for text output.
    pub fn summary_line(&self) -> String {
        let u = &self.users;
        let mut line = format!("{}: {}", self.name, self.status.as_str());
        // A workspace that failed before counting anything shows only its error.
        if self.status != Status::Failed || *u != UserCounts::default() {
            line.push_str(&format!(
                " (desired {}, existing {}, created {}, reactivated {}{}, skipped {}, failed {})",
                u.desired,
                u.existing,
                u.created,
                u.reactivated,
                u.deprovisioned(),
                u.skipped,
                u.failed
            ));
        }
        let sp = &self.service_principals;
        if *sp != UserCounts::default() {
            line.push_str(&format!(
                " (service principals: desired {}, existing {}, created {}, reactivated {}{}, failed {})",
                sp.desired,
                sp.existing,
                sp.created,
                sp.reactivated,
                sp.deprovisioned(),
                sp.failed
            ));
        }
        let ids = &self.external_ids;
        if ids.differ > 0 {
            line.push_str(&format!(
                ": {} principal(s) with an externalId that is not their Entra object id (not changed), first {}",
                ids.differ,
                ids.differing.join(", ")
            ));
        }
        if self.remaining > 0 {
            line.push_str(&format!(
                ": time budget spent, {} change(s) left for the next run",
                self.remaining
            ));
        }
        if let Some(waiting) = &self.removals_waiting {
            line.push_str(": ");
            line.push_str(waiting);
        }
        if let Some(error) = &self.error {
            line.push_str(": ");
            line.push_str(error);
        }
        line
    }
}

/// An Entra ID group as resolved for a workspace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupReport {
    /// The value from the configuration (display name or object id).
    pub reference: String,
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub member_count: Option<u64>,
    /// Graph's `@odata.count` for the group's members, only when the listing held fewer on two reads in
    /// a row (then `memberCount` is what was listed, and removals wait: `removalsWaiting`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted: Option<u64>,
}

/// The desired principals a workspace's counts start from.
#[derive(Debug, Default)]
pub struct Wanted {
    pub users: u64,
    pub service_principals: u64,
    /// Group members that make no principal (no usable user name), reported `skipMember`.
    pub skipped: Vec<Skipped>,
}

/// The `externalId` of the listed principals a workspace should have, compared with their Entra
/// object ids. The sync sets it only when it creates a principal and never rewrites it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalIdReport {
    /// How many have an `externalId` that is set and is not their Entra object id.
    pub differ: u64,
    /// The first of them (user names, application ids), at most 20.
    pub differing: Vec<String>,
    /// How many have none (also every listed one when a workspace does not return `externalId`).
    pub absent: u64,
}

impl From<&ExternalIdFindings> for ExternalIdReport {
    fn from(found: &ExternalIdFindings) -> Self {
        ExternalIdReport {
            differ: found.differ,
            differing: found.differing.iter().map(ToString::to_string).collect(),
            absent: found.absent,
        }
    }
}

/// Counts of one kind of principal (users, or service principals) in one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCounts {
    pub desired: u64,
    pub existing: u64,
    pub created: u64,
    pub reactivated: u64,
    /// Managed principals who left the groups and were deactivated or removed.
    pub deactivated: u64,
    pub removed: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Of `failed`: users the workspace could not reactivate because they are deactivated in the
    /// Databricks account (each also listed with reason `accountDeactivated`, up to the cap). An
    /// account admin must reactivate them there; the next run then does it in the workspace.
    pub account_deactivated: u64,
}

impl UserCounts {
    /// The counts of one kind of principal: desired, present and active when planned, and what
    /// applying did (`skipped` is counted apart).
    fn of(applied: &Tally, desired: u64, existing: u64) -> UserCounts {
        UserCounts {
            desired,
            existing: existing + applied.already_existing,
            created: applied.created,
            reactivated: applied.reactivated,
            deactivated: applied.deactivated,
            removed: applied.removed,
            skipped: 0,
            failed: applied.failed,
            account_deactivated: applied.account_deactivated,
        }
    }

    /// ", deactivated N, removed M" when there were any, else nothing.
    fn deprovisioned(&self) -> String {
        if self.deactivated + self.removed == 0 {
            return String::new();
        }
        format!(
            ", deactivated {}, removed {}",
            self.deactivated, self.removed
        )
    }
}

/// The kind of a change, as reports and events name it (`type` in the report, `action` in
/// `actionFailed`): a public interface. Declared in the order of those names, so that counts by kind
/// (`omittedActions`) come out sorted by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionKind {
    ActivateServicePrincipal,
    ActivateUser,
    AddEntitlements,
    AddToGroup,
    /// A principal or group assigned to a workspace at the Databricks account (`identities: "account"`).
    AssignToWorkspace,
    CreateGroup,
    CreateServicePrincipal,
    CreateUser,
    DeactivateServicePrincipal,
    DeactivateUser,
    RemoveFromGroup,
    RemoveServicePrincipal,
    RemoveUser,
    /// A group member the sync cannot make a principal of (no usable user name): reported, never planned.
    SkipMember,
    /// A workspace assignment the sync made taken back: the principal left the workspace's groups.
    UnassignFromWorkspace,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ActivateServicePrincipal => "activateServicePrincipal",
            ActionKind::ActivateUser => "activateUser",
            ActionKind::AddEntitlements => "addEntitlements",
            ActionKind::AddToGroup => "addToGroup",
            ActionKind::AssignToWorkspace => "assignToWorkspace",
            ActionKind::CreateGroup => "createGroup",
            ActionKind::CreateServicePrincipal => "createServicePrincipal",
            ActionKind::CreateUser => "createUser",
            ActionKind::DeactivateServicePrincipal => "deactivateServicePrincipal",
            ActionKind::DeactivateUser => "deactivateUser",
            ActionKind::RemoveFromGroup => "removeFromGroup",
            ActionKind::RemoveServicePrincipal => "removeServicePrincipal",
            ActionKind::RemoveUser => "removeUser",
            ActionKind::SkipMember => "skipMember",
            ActionKind::UnassignFromWorkspace => "unassignFromWorkspace",
        }
    }

    /// Whether a change of this kind can be held (`Plan::held`): a deprovisioning, and after an
    /// incomplete or unsettled Entra read a removal from a group or an entitlement change.
    pub fn can_be_held(self) -> bool {
        match self {
            ActionKind::DeactivateServicePrincipal
            | ActionKind::DeactivateUser
            | ActionKind::RemoveServicePrincipal
            | ActionKind::RemoveUser
            | ActionKind::RemoveFromGroup
            | ActionKind::UnassignFromWorkspace
            | ActionKind::AddEntitlements => true,
            ActionKind::ActivateServicePrincipal
            | ActionKind::ActivateUser
            | ActionKind::AddToGroup
            | ActionKind::AssignToWorkspace
            | ActionKind::CreateGroup
            | ActionKind::CreateServicePrincipal
            | ActionKind::CreateUser
            | ActionKind::SkipMember => false,
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One planned or applied change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionReport {
    #[serde(rename = "type")]
    pub kind: ActionKind,
    pub target: String,
    pub outcome: Outcome,
    pub detail: Option<String>,
    /// A failure with a known cause that someone other than this sync must fix (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
}

/// A failure told apart from the others, so it can be counted and alerted on by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureReason {
    /// A reactivation the workspace refused because the user is deactivated in the Databricks account:
    /// an account admin must reactivate the user there first.
    AccountDeactivated,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::AccountDeactivated => "accountDeactivated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Applied,
    Planned,
    Failed,
    Skipped,
    /// Not started (or not finished) because the run's time budget was spent; the next run does it.
    Deferred,
}

/// How many actions of one type and outcome a workspace's report does not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OmittedActions {
    #[serde(rename = "type")]
    pub kind: ActionKind,
    pub outcome: Outcome,
    pub count: u64,
}

/// Actions listed per workspace report, twice: failed or skipped ones, and the others (applied, planned,
/// deferred). A first sync of 100,000 users must not hold (nor send to the host) 100,000 entries; the
/// counts stay complete, and problems are never crowded out by successes.
pub const MAX_LISTED_ACTIONS: usize = 1_000;

/// A workspace's actions as they happen: listed up to the caps, then only counted.
#[derive(Debug, Default)]
pub struct ActionList {
    listed: Vec<ActionReport>,
    problems: usize,
    others: usize,
    omitted: BTreeMap<(ActionKind, Outcome), u64>,
}

impl ActionList {
    /// Records one action; `describe` gives its target and detail, and is called only if it is listed.
    pub fn push(
        &mut self,
        kind: ActionKind,
        outcome: Outcome,
        describe: impl FnOnce() -> (String, Option<String>),
    ) {
        self.push_with_reason(kind, outcome, None, describe);
    }

    /// [`ActionList::push`] for a failure with a known cause.
    pub fn push_with_reason(
        &mut self,
        kind: ActionKind,
        outcome: Outcome,
        reason: Option<FailureReason>,
        describe: impl FnOnce() -> (String, Option<String>),
    ) {
        let listed = match outcome {
            Outcome::Failed | Outcome::Skipped => &mut self.problems,
            Outcome::Applied | Outcome::Planned | Outcome::Deferred => &mut self.others,
        };
        if *listed >= MAX_LISTED_ACTIONS {
            *self.omitted.entry((kind, outcome)).or_default() += 1;
            return;
        }
        *listed += 1;
        let (target, detail) = describe();
        self.listed.push(ActionReport {
            kind,
            target,
            outcome,
            detail,
            reason,
        });
    }

    /// The listed actions and the counts of the others.
    pub fn finish(self) -> (Vec<ActionReport>, Vec<OmittedActions>) {
        let omitted = self
            .omitted
            .into_iter()
            .map(|((kind, outcome), count)| OmittedActions {
                kind,
                outcome,
                count,
            })
            .collect();
        (self.listed, omitted)
    }
}

impl Report {
    /// The workspaces that did not succeed, as `name: error` lines.
    pub fn failure_lines(&self) -> Vec<String> {
        self.workspaces
            .iter()
            .filter(|w| w.status == Status::Failed)
            .map(WorkspaceReport::summary_line)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_beyond_the_caps_are_counted_and_problems_are_never_crowded_out() {
        let mut list = ActionList::default();
        for i in 0..MAX_LISTED_ACTIONS + 5 {
            list.push(ActionKind::CreateUser, Outcome::Applied, || {
                (format!("u{i}"), None)
            });
        }
        list.push(ActionKind::CreateUser, Outcome::Failed, || {
            ("late".to_owned(), Some("HTTP 500".to_owned()))
        });
        for _ in 0..MAX_LISTED_ACTIONS + 2 {
            list.push(ActionKind::SkipMember, Outcome::Skipped, || {
                ("m".to_owned(), None)
            });
        }
        list.push(ActionKind::CreateUser, Outcome::Deferred, || {
            unreachable!("not listed")
        });
        let (listed, omitted) = list.finish();
        assert_eq!(listed.len(), 2 * MAX_LISTED_ACTIONS);
        assert!(
            listed
                .iter()
                .any(|a| a.target == "late" && a.outcome == Outcome::Failed)
        );
        let counts: Vec<(&str, Outcome, u64)> = omitted
            .iter()
            .map(|o| (o.kind.as_str(), o.outcome, o.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("createUser", Outcome::Applied, 5),
                ("createUser", Outcome::Deferred, 1),
                ("skipMember", Outcome::Skipped, 3),
            ]
        );
    }

    const EVERY_KIND: [ActionKind; 15] = [
        ActionKind::ActivateServicePrincipal,
        ActionKind::ActivateUser,
        ActionKind::AddEntitlements,
        ActionKind::AddToGroup,
        ActionKind::AssignToWorkspace,
        ActionKind::CreateGroup,
        ActionKind::CreateServicePrincipal,
        ActionKind::CreateUser,
        ActionKind::DeactivateServicePrincipal,
        ActionKind::DeactivateUser,
        ActionKind::RemoveFromGroup,
        ActionKind::RemoveServicePrincipal,
        ActionKind::RemoveUser,
        ActionKind::SkipMember,
        ActionKind::UnassignFromWorkspace,
    ];

    #[test]
    fn action_kinds_keep_their_names_in_the_report_and_the_events_and_sort_by_them() {
        let names: Vec<&str> = EVERY_KIND.iter().map(|k| k.as_str()).collect();
        for kind in EVERY_KIND {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!(names.is_sorted() && EVERY_KIND.is_sorted(), "{names:?}");
        let held: Vec<&str> = EVERY_KIND
            .iter()
            .filter(|k| k.can_be_held())
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            held,
            [
                "addEntitlements",
                "deactivateServicePrincipal",
                "deactivateUser",
                "removeFromGroup",
                "removeServicePrincipal",
                "removeUser",
                "unassignFromWorkspace"
            ]
        );
    }

    fn settled(plan: &Plan, applied: Applied) -> WorkspaceReport {
        let mut report = WorkspaceReport::failed(WorkspaceName::parse("w").unwrap(), "");
        let wanted = Wanted {
            users: 3,
            service_principals: 1,
            skipped: Vec::new(),
        };
        report.settle(plan, applied, wanted);
        report
    }

    fn held(effect: HoldEffect) -> Plan {
        let held = Held {
            reason: "why".to_owned(),
            groups: Vec::new(),
            effect,
            deprovisioning: Vec::new(),
            awaits_admins: false,
        };
        Plan {
            held: Some(held),
            existing: 2,
            existing_service_principals: 1,
            ..Plan::default()
        }
    }

    #[test]
    fn a_settled_workspace_counts_what_was_planned_and_done_and_says_how_it_went() {
        let done = || Applied {
            users: Tally {
                created: 1,
                already_existing: 1,
                ..Tally::default()
            },
            ..Applied::default()
        };
        let ok = settled(&held(HoldEffect::Waits), done());
        assert_eq!(
            (ok.users.desired, ok.users.existing, ok.users.created),
            (3, 2, 1)
        );
        assert_eq!(
            (
                ok.service_principals.desired,
                ok.service_principals.existing
            ),
            (1, 1)
        );
        assert_eq!((ok.status, ok.error.as_deref()), (Status::Partial, None));
        assert_eq!(ok.removals_waiting.as_deref(), Some("why"));

        let held = settled(&held(HoldEffect::Fails), done());
        assert_eq!(
            (held.status, held.error.as_deref()),
            (Status::Failed, Some("why"))
        );
        assert_eq!(held.deprovisioning_held.as_deref(), Some("why"));

        let deferred = settled(
            &Plan::default(),
            Applied {
                deferred: 2,
                ..done()
            },
        );
        assert_eq!((deferred.status, deferred.remaining), (Status::Partial, 2));
        let failed = settled(
            &Plan::default(),
            Applied {
                failed_group_changes: 1,
                ..done()
            },
        );
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(
            failed.error.as_deref(),
            Some("1 change(s) failed; see actions")
        );
        assert_eq!(settled(&Plan::default(), done()).status, Status::Succeeded);
    }

    #[test]
    fn any_failed_workspace_fails_the_run_and_partial_beats_succeeded() {
        use Status::*;
        assert_eq!(Status::combine([]), Succeeded);
        assert_eq!(Status::combine([Succeeded, Succeeded]), Succeeded);
        assert_eq!(Status::combine([Succeeded, Partial]), Partial);
        assert_eq!(Status::combine([Partial, Failed, Succeeded]), Failed);
        assert_eq!(Status::combine([Failed, Partial]), Failed);
    }
}
