//! A workspace's permission assignments in account mode: what it wants assigned (its mirrored
//! groups, or its principals), recorded before it is assigned, and what this sync assigned and it no
//! longer wants taken back; its mirrored groups' entitlements in the workspace; same-named
//! workspace-local groups reported.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use super::kept::workspace_admins;
use super::{Assigned, Wants};
use crate::config::Deprovision;
use crate::databricks::{Assignee, GroupKind, Permission, Scim, ScimId};
use crate::http::Requests;
use crate::sync::Workspace;
use crate::sync::apply::Budget;
use crate::sync::desired::Skipped;
use crate::sync::engine::AzureRun;
use crate::sync::errors::SyncError;
use crate::sync::plan::{Held, HoldEffect, Policy};
use crate::sync::report::{ActionKind, ActionList, AssignmentCounts, Outcome, WorkspaceReport};

/// The account group that records the assignments this sync made to a workspace.
pub(super) fn record_name(workspace: &Workspace, workspace_id: u64) -> String {
    format!("{}-ws-{workspace_id}", workspace.options.managed_group)
}

impl AzureRun {
    /// Gives the workspace exactly the assignments its configuration wants: assigns what is missing
    /// (recorded first), takes back what this sync assigned and is no longer wanted.
    pub(super) async fn assign(
        &self,
        workspace: &Workspace,
        workspace_id: u64,
        scim: &Scim,
        wants: Wants,
        requests: &Requests,
        report: &mut WorkspaceReport,
    ) -> Result<(), SyncError> {
        let Wants {
            groups,
            wanted,
            assignees,
            waiting,
            policy,
            requests: _,
            scim: workspace_scim,
            legacy,
            assigned,
        } = wants;
        report.groups = groups;
        report.users.desired = wanted.users;
        report.service_principals.desired = wanted.service_principals;
        report.users.skipped = wanted.skipped.len() as u64;
        let Some(assignments) = scim.assignments(workspace_id) else {
            return Err(SyncError::Account(
                "internal error: the account's client gives no assignments".to_owned(),
            ));
        };
        let Assigned {
            listed,
            record,
            workspace_groups,
        } = assigned.map_err(SyncError::Account)?;
        let record_name = record_name(workspace, workspace_id);
        let mirroring = workspace.options.mirror_groups;
        report.local_groups = same_named_local_groups(&workspace_groups, &assignees, workspace_id);
        // What the assignment list calls each principal: the report's names of those taken back.
        let listed_names: HashMap<ScimId, String> = (listed.iter())
            .map(|a| {
                let name = match &a.assignee {
                    Assignee::User(name)
                    | Assignee::Group(name)
                    | Assignee::ServicePrincipal(name) => name.clone(),
                    Assignee::Unnamed => {
                        (a.display_name.clone()).unwrap_or_else(|| a.principal_id.to_string())
                    }
                };
                (a.principal_id.clone(), name)
            })
            .collect();
        // Assigned as a user or service principal: a member of `admins` of unknown kind that is one
        // of them is a principal.
        let principals: HashSet<ScimId> = (listed.iter())
            .filter(|a| {
                matches!(
                    a.assignee,
                    Assignee::User(_) | Assignee::ServicePrincipal(_)
                )
            })
            .map(|a| a.principal_id.clone())
            .collect();
        let listed: HashMap<ScimId, Option<Permission>> = (listed.into_iter())
            .map(|a| (a.principal_id, a.permission))
            .collect();
        let recorded: HashSet<ScimId> = record
            .as_ref()
            .map(|g| g.members.iter().cloned().collect())
            .unwrap_or_default();
        // Migration from workspace mode: what this sync owned in the workspace's own marker group and
        // is assigned as a plain user (workspace-level SCIM made it so) is adopted into the record.
        let adopted: Vec<ScimId> = (legacy.into_iter())
            .filter(|id| !recorded.contains(id))
            .filter(|id| listed.get(id) == Some(&Some(Permission::User)))
            .collect();
        let wanted_ids: HashSet<&ScimId> = assignees.iter().map(|(id, _)| id).collect();

        let to_assign: Vec<&(ScimId, String)> = (assignees.iter())
            .filter(|(id, _)| !listed.contains_key(id))
            .collect();
        // Only what this sync assigned, still a plain `USER` assignment, and no longer wanted.
        let mut to_unassign: Vec<ScimId> = (recorded.iter().chain(&adopted))
            .filter(|id| !wanted_ids.contains(id))
            .filter(|id| listed.get(*id) == Some(&Some(Permission::User)))
            .cloned()
            .collect();
        to_unassign.sort();
        if policy.deprovision == Deprovision::None {
            // Never taken back, as workspace mode never deprovisions then.
            to_unassign.clear();
        }
        // A workspace admin by the workspace's own `admins` group keeps the assignment, as workspace
        // mode never deprovisions an admin; while who is one cannot be known, nothing is taken back.
        let mut admins_unknown = None;
        if !to_unassign.is_empty() && policy.hold_removals.is_none() {
            let is_principal = |id: &str| principals.contains(id);
            match workspace_admins(scim, &workspace_scim, workspace, &is_principal, requests).await
            {
                Ok(admins) => {
                    let admins: HashSet<ScimId> = admins.into_iter().collect();
                    to_unassign.retain(|id| !admins.contains(id));
                }
                Err(why) => admins_unknown = Some(why),
            }
        }
        let held = match admins_unknown {
            Some(why) => Some(held(
                format!(
                    "taking back held: who is a workspace admin cannot be established, so none of \
                     the {} assignment(s) to take back is: {why}",
                    to_unassign.len()
                ),
                HoldEffect::Fails,
            )),
            None => unassign_hold(&policy, to_unassign.len(), recorded.len() + adopted.len()),
        };

        let mut counts = AssignmentCounts {
            desired: (assignees.len() + waiting.len()) as u64,
            existing: (assignees.len() - to_assign.len()) as u64,
            waiting: waiting.len() as u64,
            ..AssignmentCounts::default()
        };
        let mut actions = ActionList::default();
        let dry_run = self.run.dry_run;
        for name in &waiting {
            let (outcome, detail) = if dry_run {
                (Outcome::Planned, "once it is created at the account")
            } else {
                let detail = "not in the account yet: its creation at the account failed or was \
                              deferred (see the report's account section); the next run assigns it";
                (Outcome::Skipped, detail)
            };
            actions.push(ActionKind::AssignToWorkspace, outcome, || {
                (name.clone(), Some(detail.to_owned()))
            });
        }
        let budget = Budget::new(self.deadline, self.max_run_seconds);
        // Recorded before assigned: a run stopped between the two leaves a record of an assignment
        // not made (harmless), never an assignment made without its record (never taken back).
        let to_record: Vec<ScimId> = (to_assign.iter())
            .map(|(id, _)| id.clone())
            .filter(|id| !recorded.contains(id))
            .chain(adopted.iter().cloned())
            .collect();
        let mut record_id = record.map(|g| g.id);
        let mut recording_failed = None;
        if !dry_run && !to_record.is_empty() {
            let recorded = async {
                let id = match &record_id {
                    Some(id) => id.clone(),
                    None => scim.create_group(&record_name, &[], requests).await?.id,
                };
                record_id = Some(id.clone());
                scim.add_members(&id, &to_record, requests).await
            };
            if let Err(e) = recorded.await {
                recording_failed = Some(format!(
                    "not assigned: recording it in the account group {record_name:?} (which says which \
                     assignments this sync made) failed: {e}"
                ));
            }
        }
        let writes = scim.writes_in_flight();
        // Owned items: a closure over borrowed ones is not `Send` for every lifetime (async_trait).
        let owned: Vec<(ScimId, String)> = to_assign.iter().map(|a| (*a).clone()).collect();
        let (budget_ref, assignments_ref, failed_ref) = (&budget, &assignments, &recording_failed);
        let assigned = futures::stream::iter(owned)
            .map(move |(id, name)| {
                let recording_failed = failed_ref.clone();
                let (budget, assignments) = (budget_ref, assignments_ref);
                async move {
                    let done = if dry_run {
                        Done::Planned
                    } else if let Some(cause) = recording_failed {
                        Done::Failed(cause)
                    } else if !budget.may_start() {
                        Done::Deferred
                    } else {
                        match assignments.assign(&id, Permission::User, requests).await {
                            Ok(()) => Done::Applied,
                            Err(e) => Done::Failed(e.to_string()),
                        }
                    };
                    (name, done)
                }
            })
            .buffered(writes)
            .collect::<Vec<_>>()
            .await;
        let mut deferred = 0;
        for (name, done) in assigned {
            deferred += done.record(
                ActionKind::AssignToWorkspace,
                &name,
                &mut counts,
                &mut actions,
            );
        }
        let name_of =
            |id: &ScimId| (listed_names.get(id).cloned()).unwrap_or_else(|| id.to_string());
        if let Some(held) = &held {
            for id in &to_unassign {
                actions.push(ActionKind::UnassignFromWorkspace, Outcome::Skipped, || {
                    (name_of(id), Some(held.reason.clone()))
                });
            }
        } else {
            for id in &to_unassign {
                let done = if dry_run {
                    Done::Planned
                } else if let (Some(cause), true) = (&recording_failed, adopted.contains(id)) {
                    // Adopted from workspace mode but not recorded: not taken back unrecorded.
                    Done::Failed(cause.replace("not assigned", "not taken back"))
                } else if !budget.may_start() {
                    Done::Deferred
                } else {
                    match assignments.unassign(id, requests).await {
                        Ok(()) => {
                            // Forgotten once taken back; a failure here leaves a harmless record.
                            if let Some(record) = &record_id {
                                let _ = scim.remove_member(record, id, requests).await;
                            }
                            Done::Applied
                        }
                        Err(e) => Done::Failed(e.to_string()),
                    }
                };
                deferred += done.record(
                    ActionKind::UnassignFromWorkspace,
                    &name_of(id),
                    &mut counts,
                    &mut actions,
                );
            }
        }
        if mirroring && !workspace.options.entitlements.is_empty() {
            let entitled = Entitled {
                scim: &workspace_scim,
                wanted: &workspace.options.entitlements,
                listed: &workspace_groups,
                held: policy.hold_removals.as_ref().map(|h| h.reason.as_str()),
                dry_run,
                budget: &budget,
            };
            deferred += (entitled.apply(&assignees, requests, &mut counts, &mut actions)).await;
        }
        for skipped in wanted.skipped {
            let Skipped { member, reason } = skipped;
            actions.push(ActionKind::SkipMember, Outcome::Skipped, || {
                (member, Some(reason))
            });
        }
        report.assignments = Some(counts);
        report.remaining = deferred;
        report.conclude(actions, held.as_ref());
        Ok(())
    }
}

/// The workspace-local groups (`meta.resourceType` `WorkspaceGroup`) named as a mirrored account group
/// assigned to the workspace: kept, never deleted; the report says how to migrate them.
fn same_named_local_groups(
    listed: &[GroupKind],
    assignees: &[(ScimId, String)],
    workspace_id: u64,
) -> Vec<String> {
    let local = (listed.iter()).filter(|g| g.resource_type.as_deref() == Some("WorkspaceGroup"));
    local
        .filter(|g| (assignees.iter()).any(|(_, name)| name.eq_ignore_ascii_case(&g.display_name)))
        .map(|g| {
            format!(
                "the workspace-local group {name:?} (id {id}) has the name of the mirrored account group \
                 {name:?}: it is left as it is, never deleted. Account groups are the ones Unity Catalog and \
                 other workspaces know; to migrate, move its permissions to the account group (the \
                 permission migration API, POST /api/2.0/permissionmigration with workspace_id \
                 {workspace_id}, from_workspace_group_name and to_account_group_name {name:?}, or UCX's \
                 group migration workflow), then delete it in the workspace's admin settings",
                name = g.display_name,
                id = g.id,
            )
        })
        .collect()
}

/// The entitlements of a workspace's mirrored account groups, set in the workspace (the Terraform
/// provider's `databricks_entitlements`: `PATCH Groups/{id}` on the workspace with the account group's
/// id): the configured ones a group lacks are added; none is removed.
struct Entitled<'a> {
    scim: &'a Scim,
    wanted: &'a [String],
    /// The workspace's groups as listed: an account group's entitlements in it.
    listed: &'a [GroupKind],
    /// Why entitlement changes wait this run (an incomplete Graph read), if they do.
    held: Option<&'a str>,
    dry_run: bool,
    budget: &'a Budget,
}

impl Entitled<'_> {
    /// Adds what each assigned group lacks; returns how many were deferred.
    async fn apply(
        &self,
        groups: &[(ScimId, String)],
        requests: &Requests,
        counts: &mut AssignmentCounts,
        actions: &mut ActionList,
    ) -> u64 {
        let mut deferred = 0;
        for (id, name) in groups {
            // A group not listed yet (assigned this run) has none the workspace shows: all are added.
            let has = (self.listed.iter().find(|g| g.id == *id)).map(|g| g.entitlements.as_slice());
            let missing: Vec<String> = (self.wanted.iter())
                .filter(|e| !has.unwrap_or_default().contains(e))
                .cloned()
                .collect();
            if missing.is_empty() {
                continue;
            }
            let done = if let Some(reason) = self.held {
                actions.push(ActionKind::AddEntitlements, Outcome::Skipped, || {
                    (name.clone(), Some(reason.to_owned()))
                });
                continue;
            } else if self.dry_run {
                Done::Planned
            } else if !self.budget.may_start() {
                Done::Deferred
            } else {
                match self.scim.add_entitlements(id, &missing, requests).await {
                    Ok(()) => Done::Applied,
                    Err(e) => Done::Failed(e.to_string()),
                }
            };
            deferred += done.record(ActionKind::AddEntitlements, name, counts, actions);
        }
        deferred
    }
}

/// Why taking back this workspace's assignments is held this run, if it is: a fail-closed hold of
/// its Graph reads (as it holds deprovisioning in workspace mode), or the threshold (`maxDeprovision`
/// of the assignments this sync made, unless the run carries `allowDeprovision`).
fn unassign_hold(policy: &Policy, leaving: usize, managed: usize) -> Option<Held> {
    if leaving == 0 {
        return None;
    }
    if let Some(hold) = &policy.hold_removals {
        return Some(held(hold.reason.clone(), hold.effect));
    }
    let limit = policy.max_deprovision.limit(managed as u64);
    (leaving as u64 > limit && !policy.allow_deprovision).then(|| {
        let reason = format!(
            "{leaving} assignment(s) to take back, above maxDeprovision {limit}: held until a run \
             carries allowDeprovision"
        );
        held(reason, HoldEffect::Fails)
    })
}

fn held(reason: String, effect: HoldEffect) -> Held {
    Held {
        reason,
        groups: Vec::new(),
        effect,
        deprovisioning: Vec::new(),
        awaits_admins: false,
    }
}

/// How one assignment change ended.
enum Done {
    Applied,
    Planned,
    Deferred,
    Failed(String),
}

impl Done {
    /// Counts and lists it; 1 if it was deferred (left for the next run), else 0.
    fn record(
        self,
        kind: ActionKind,
        name: &str,
        counts: &mut AssignmentCounts,
        actions: &mut ActionList,
    ) -> u64 {
        let deferred = u64::from(matches!(self, Done::Deferred));
        let (outcome, detail) = match self {
            Done::Applied => {
                match kind {
                    ActionKind::AssignToWorkspace => counts.assigned += 1,
                    ActionKind::UnassignFromWorkspace => counts.unassigned += 1,
                    // Entitlements: listed in the actions only.
                    _ => {}
                }
                (Outcome::Applied, None)
            }
            Done::Planned => (Outcome::Planned, None),
            Done::Deferred => (
                Outcome::Deferred,
                Some(
                    "not started: the run's time budget was spent; the next run does it".to_owned(),
                ),
            ),
            Done::Failed(cause) => {
                counts.failed += 1;
                (Outcome::Failed, Some(cause))
            }
        };
        actions.push(kind, outcome, || (name.to_owned(), detail));
        deferred
    }
}
