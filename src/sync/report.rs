//! The run report: what a run did, per workspace, in the one JSON shape shared by `handler sync`,
//! `SyncTimer` and `SyncHttp` (camelCase; field names are a public interface, see README.md).

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::WorkspaceName;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    Timer,
    Http,
    Cli,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::Timer => "timer",
            Trigger::Http => "http",
            Trigger::Cli => "cli",
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

/// One planned or applied change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionReport {
    #[serde(rename = "type")]
    pub kind: String,
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
    pub kind: String,
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
    omitted: BTreeMap<(&'static str, Outcome), u64>,
}

impl ActionList {
    /// Records one action; `describe` gives its target and detail, and is called only if it is listed.
    pub fn push(
        &mut self,
        kind: &'static str,
        outcome: Outcome,
        describe: impl FnOnce() -> (String, Option<String>),
    ) {
        self.push_with_reason(kind, outcome, None, describe);
    }

    /// [`ActionList::push`] for a failure with a known cause.
    pub fn push_with_reason(
        &mut self,
        kind: &'static str,
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
            kind: kind.to_owned(),
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
                kind: kind.to_owned(),
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
            list.push("createUser", Outcome::Applied, || (format!("u{i}"), None));
        }
        list.push("createUser", Outcome::Failed, || {
            ("late".to_owned(), Some("HTTP 500".to_owned()))
        });
        for _ in 0..MAX_LISTED_ACTIONS + 2 {
            list.push("skipMember", Outcome::Skipped, || ("m".to_owned(), None));
        }
        list.push("createUser", Outcome::Deferred, || {
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
