//! Account mode (`identities: "account"`): the run's workspaces in account mode share one sync of the
//! Databricks account, then each is given its permission assignments.
//!
//! The account's part runs once per run ([`AccountRun::outcome`], single-flight: the first workspace
//! to need it runs it, the others wait for it), and reuses the workspace engine whole, with the account
//! as its "workspace": the configured groups of every account-mode workspace of the run are read from
//! Graph (through the run's memos, so a group shared with another workspace is read once), their
//! desired principals merged (each principal once, however many workspaces want it), and the account
//! read, planned and applied over the account's SCIM API (`Scim::account`): creations with `externalId`,
//! reactivations, the marker group at the account, and the mirrored groups as account groups. What that
//! did is the report's `account` section.
//!
//! Each workspace then gets exactly the access its configuration gives it (`assignments.rs` of
//! `databricks`): its mirrored groups assigned (one assignment per group) or, without `mirrorGroups`,
//! its principals. A principal or group assigned already, by anyone and with any permission, is never
//! assigned again (a PUT of `USER` would turn an `ADMIN` into a user). The assignments this sync makes
//! are recorded, before they are made, as members of an account group of their own per workspace
//! (`<managedGroup>-ws-<workspaceId>`); only those are ever taken back, and only with `deprovision` on,
//! under the workspace's threshold and its fail-closed holds. An assignment made by anyone else is never
//! removed.
//!
//! Deprovisioning at the account (deactivating or removing a marked principal no account-mode workspace
//! wants) happens only in a run that has every account-mode workspace of the configuration, when all
//! of them deprovision (`remove` when all remove, else `deactivate`), under the first one's
//! `maxDeprovision`, after any of their Graph reads held removals nothing, and never for an account
//! admin (the `account_admin` role, listed with each principal, or held by a group: its members read at
//! the account), a principal or group member assigned `ADMIN` to one of those workspaces, or a
//! principal a workspace-mode workspace of the configuration wants (read only when someone would be
//! deprovisioned; any of those reads failing holds every deprovisioning, saying why).
//!
//! Not yet (issue 17): entitlements of mirrored groups in the workspaces, adopting a workspace-mode
//! workspace's marker group, telling apart principals another provisioner manages.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use tokio::sync::OnceCell;

use super::admins::{self, Admins, GroupsAt, Route};
use super::apply::{Budget, Ids, apply};
use super::current::read_workspace;
use super::desired::{Principal, Principals, Skipped};
use super::engine::AzureRun;
use super::errors::SyncError;
use super::plan::{Current, DesiredGroup, Held, HoldEffect, Policy, RemovalHold, plan};
use super::report::{
    ActionKind, ActionList, AssignmentCounts, GroupReport, Outcome, Wanted, WorkspaceReport,
};
use super::{AccountScope, Workspace};
use crate::config::{Deprovision, WorkspaceName};
use crate::databricks::{AccountPace, Assignee, Bearer, Permission, Scim, ScimId};
use crate::http::{Api, Requests};

/// The account's part of one run, and its report.
#[derive(Default)]
pub struct AccountRun {
    outcome: OnceCell<Arc<AccountOutcome>>,
    report: Mutex<Option<WorkspaceReport>>,
}

impl AccountRun {
    /// The account's report, once: for the run's report.
    pub fn take_report(&self) -> Option<WorkspaceReport> {
        (self.report.lock().unwrap_or_else(PoisonError::into_inner)).take()
    }
}

/// What the account's part came to, for the workspaces.
struct AccountOutcome {
    /// The account's client, shared by every workspace's assignments (one pace for the account).
    scim: Option<Arc<Scim>>,
    /// Why the account could not be synced (every account-mode workspace fails with it).
    failure: Option<String>,
    workspaces: Mutex<HashMap<WorkspaceName, Result<Wants, String>>>,
}

/// What one workspace wants of the account, with what its report says of its Graph reads.
struct Wants {
    groups: Vec<GroupReport>,
    wanted: Wanted,
    /// The account ids to assign, each with the name the report gives it (user name, application id,
    /// group name), sorted by id.
    assignees: Vec<(ScimId, String)>,
    /// Desired principals or groups not in the account (yet): by name.
    waiting: Vec<String>,
    policy: Policy,
    /// The requests its Graph reads took.
    requests: Requests,
}

impl AzureRun {
    /// Syncs a workspace in account mode: waits for the account's part of the run, then assigns.
    pub(super) async fn sync_in_account(
        &self,
        workspace: &Workspace,
        requests: &Requests,
        report: &mut WorkspaceReport,
    ) -> Result<(), SyncError> {
        let Some(scope) = self.run.account.clone() else {
            return Err(SyncError::Account(
                "internal error: an account-mode workspace in a run without its account".to_owned(),
            ));
        };
        let outcome = (self.account.outcome)
            .get_or_init(|| self.account_part(&scope))
            .await;
        let wants = {
            let mut workspaces =
                (outcome.workspaces.lock()).unwrap_or_else(PoisonError::into_inner);
            workspaces.remove(&workspace.name)
        };
        let wants = match (wants, &outcome.failure) {
            (Some(Ok(wants)), None) => wants,
            (Some(Err(error)), _) => return Err(SyncError::Account(error)),
            (_, Some(failure)) => return Err(SyncError::Account(failure.clone())),
            (None, None) => {
                return Err(SyncError::Account(
                    "internal error: the account's part of the run did not include this workspace"
                        .to_owned(),
                ));
            }
        };
        for api in [Api::Graph, Api::KeyVault, Api::Databricks] {
            requests.add(api, wants.requests.get(api));
        }
        let Some(scim) = outcome.scim.as_ref() else {
            return Err(SyncError::Account(
                "the account could not be reached".to_owned(),
            ));
        };
        let workspace_id = (scope.workspaces.iter())
            .find(|(w, _)| w.name == workspace.name)
            .map(|(_, id)| *id)
            .unwrap_or_default();
        self.assign(workspace, workspace_id, scim, wants, requests, report)
            .await
    }

    /// The account's part of the run: every account-mode workspace's desired principals, merged, synced
    /// into the account with the workspace engine.
    async fn account_part(&self, scope: &AccountScope) -> Arc<AccountOutcome> {
        let failed = |failure: String| {
            Arc::new(AccountOutcome {
                scim: None,
                failure: Some(failure),
                workspaces: Mutex::default(),
            })
        };
        let account_name = WorkspaceName::of_account(&scope.account.account_id);
        let account_requests = Requests::default();
        if let Err(e) = self.sign_in().await {
            let mut report = WorkspaceReport::failed(account_name, e.to_string());
            report.requests = account_requests.snapshot();
            *self
                .account
                .report
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(report);
            return failed(e.to_string());
        }
        // Every workspace's groups, read at once; each workspace's desired principals made in its turn.
        let reads = scope.workspaces.iter().map(|(workspace, _)| async move {
            let requests = Requests::default();
            let mut memory = self.memory.workspace_started();
            let read = async {
                let entra = self.read_groups(workspace, &requests).await?;
                let policy = self.policy(&workspace.options, &entra.incomplete, &entra.unsettled);
                let desired = self
                    .desire(workspace, entra.members, entra.mirrored, &mut memory)
                    .await?;
                Ok::<_, SyncError>((entra.reports, desired, policy))
            };
            let read = read.await;
            drop(memory);
            (read, requests)
        });
        let reads = futures::future::join_all(reads).await;

        let first = &scope.workspaces[0].0.options;
        let mut principals: Vec<(Principal, crate::principal::Identity)> = Vec::new();
        let mut groups: BTreeMap<String, DesiredGroup> = BTreeMap::new();
        let mut holds: Vec<String> = Vec::new();
        let mut include_service_principals = false;
        for ((workspace, _), (read, _)) in scope.workspaces.iter().zip(&reads) {
            include_service_principals |= workspace.options.include_service_principals;
            match read {
                Ok((_, desired, policy)) => {
                    principals.extend(
                        (&desired.principals)
                            .into_iter()
                            .map(|(k, i)| (k.clone(), i.clone())),
                    );
                    for group in &desired.groups {
                        let merged = groups.entry(group.name.to_lowercase()).or_insert_with(|| {
                            DesiredGroup {
                                name: group.name.clone(),
                                members: Default::default(),
                                entitlements: Vec::new(),
                            }
                        });
                        merged.members.extend(group.members.iter().cloned());
                    }
                    if let Some(hold) = &policy.hold_removals {
                        holds.push(format!("{}: {}", workspace.name, hold.reason));
                    }
                }
                Err(error) => holds.push(format!(
                    "{} could not be read ({error}), so who it wants is not known",
                    workspace.name
                )),
            }
        }
        let principals: Principals = principals.into_iter().collect();
        let groups: Vec<DesiredGroup> = groups.into_values().collect();

        let scim = Arc::new(Scim::account(
            self.client.clone(),
            &scope.account.host,
            &scope.account.account_id.to_string(),
            Bearer::Entra(Arc::clone(&self.credential)),
            (scope.account.requests_per_second)
                .map_or_else(AccountPace::default, AccountPace::uniform),
        ));
        let mut options = first.clone();
        // The account has no `/Me` nor `admins`: who is never deprovisioned there is read below.
        options.deprovision = Deprovision::None;
        options.include_service_principals = include_service_principals;
        let names = &self.memory.names;
        let mut current =
            match read_workspace(&scim, &options, &groups, &account_requests, names).await {
                Ok(current) => current,
                Err(e) => {
                    let error = format!("the Databricks account could not be read: {e}");
                    let mut report = WorkspaceReport::failed(account_name, error.clone());
                    report.requests = account_requests.snapshot();
                    *self
                        .account
                        .report
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(report);
                    return failed(error);
                }
            };
        let hold_removals = RemovalHold::of(
            (!holds.is_empty())
                .then(|| format!("removals at the account wait: {}", holds.join("; "))),
            None,
        );
        let policy = Policy {
            managed_group: options.managed_group.clone(),
            deprovision: account_deprovision(scope),
            max_deprovision: options.max_deprovision,
            allow_deprovision: self.run.allow_deprovision,
            hold_removals,
        };
        // Account admins listed with their role are protected at once; the rest of who must never be
        // deprovisioned (groups with the role, workspace admins, what workspace-mode workspaces want) is
        // read only when someone would be.
        current.protected.extend(
            (current
                .users
                .iter()
                .filter(|u| u.account_admin)
                .map(|u| u.id.clone()))
            .chain(
                (current.service_principals.iter())
                    .filter(|sp| sp.account_admin)
                    .map(|sp| sp.id.clone()),
            ),
        );
        current.admins = Admins::Nested(Vec::new());
        let mut planned = plan(&principals, &groups, &current, &policy);
        if planned.awaits_admins() {
            drop(planned);
            let kept = self
                .kept_at_account(&scim, scope, &current, &account_requests)
                .await;
            current.protected.extend(kept.protected);
            current.admins = kept.admins;
            planned = plan(&principals, &groups, &current, &policy);
        }
        let budget = Budget::new(self.deadline, self.max_run_seconds);
        let dry_run = self.run.dry_run;
        let applied = apply(
            &planned,
            &current,
            &scim,
            &account_requests,
            dry_run,
            &budget,
            Ids::Keep,
        )
        .await;

        // The account ids of every desired principal and mirrored group, for the assignments.
        let lookup = current.lookup();
        let id_of = |key: &Principal| {
            (lookup.get(key).map(|p| p.id.clone())).or_else(|| applied.ids.get(key).cloned())
        };
        let group_id = |name: &str| {
            (applied.group_ids.get(name).cloned())
                .or_else(|| current.groups.get(name).map(|g| g.id.clone()))
        };
        let mut workspaces = HashMap::new();
        for ((workspace, _), (read, requests)) in scope.workspaces.iter().zip(reads) {
            let wants = read
                .map_err(|e| e.to_string())
                .map(|(reports, desired, policy)| {
                    let mut assignees = Vec::new();
                    let mut waiting = Vec::new();
                    if workspace.options.mirror_groups {
                        for group in &desired.groups {
                            match group_id(&group.name) {
                                Some(id) => assignees.push((id, group.name.clone())),
                                None => waiting.push(group.name.clone()),
                            }
                        }
                    } else {
                        for key in desired.principals.keys() {
                            match id_of(key) {
                                Some(id) => assignees.push((id, key.to_string())),
                                None => waiting.push(key.to_string()),
                            }
                        }
                    }
                    assignees.sort();
                    assignees.dedup_by(|a, b| a.0 == b.0);
                    Wants {
                        groups: reports,
                        wanted: Wanted {
                            users: desired.users as u64,
                            service_principals: desired.service_principals as u64,
                            skipped: desired.skipped,
                        },
                        assignees,
                        waiting,
                        policy,
                        requests,
                    }
                });
            workspaces.insert(workspace.name.clone(), wants);
        }
        let wanted = Wanted {
            users: (principals.keys())
                .filter(|k| matches!(k, Principal::User(_)))
                .count() as u64,
            service_principals: (principals.keys())
                .filter(|k| matches!(k, Principal::ServicePrincipal(_)))
                .count() as u64,
            skipped: Vec::new(),
        };
        let mut report = WorkspaceReport::failed(account_name, "");
        report.settle(&planned, applied, wanted);
        report.requests = account_requests.snapshot();
        *self
            .account
            .report
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(report);
        Arc::new(AccountOutcome {
            scim: Some(scim),
            failure: None,
            workspaces: Mutex::new(workspaces),
        })
    }

    /// Gives the workspace exactly the assignments its configuration wants: assigns what is missing
    /// (recorded first), takes back what this sync assigned and is no longer wanted.
    async fn assign(
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
        let record_name = format!("{}-ws-{workspace_id}", workspace.options.managed_group);
        let (listed, record) =
            futures::try_join!(async { assignments.list(requests).await }, async {
                scim.find_group(&record_name, requests).await
            },)
            .map_err(|e| SyncError::Account(e.to_string()))?;
        let listed: HashMap<ScimId, Option<Permission>> = (listed.into_iter())
            .map(|a| (a.principal_id, a.permission))
            .collect();
        let recorded: HashSet<ScimId> = record
            .as_ref()
            .map(|g| g.members.iter().cloned().collect())
            .unwrap_or_default();
        let wanted_ids: HashSet<&ScimId> = assignees.iter().map(|(id, _)| id).collect();

        let to_assign: Vec<&(ScimId, String)> = (assignees.iter())
            .filter(|(id, _)| !listed.contains_key(id))
            .collect();
        // Only what this sync assigned, still a plain `USER` assignment, and no longer wanted.
        let mut to_unassign: Vec<ScimId> = (recorded.iter())
            .filter(|id| !wanted_ids.contains(id))
            .filter(|id| listed.get(*id) == Some(&Some(Permission::User)))
            .cloned()
            .collect();
        to_unassign.sort();
        if policy.deprovision == Deprovision::None {
            // Never taken back, as workspace mode never deprovisions then.
            to_unassign.clear();
        }
        let held = unassign_hold(&policy, to_unassign.len(), recorded.len());

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
        let (budget_ref, assignments_ref) = (&budget, &assignments);
        let assigned = futures::stream::iter(owned)
            .map(move |(id, name)| {
                let recording_failed = recording_failed.clone();
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
        let names: HashMap<&ScimId, &String> = assignees.iter().map(|(id, n)| (id, n)).collect();
        let name_of = |id: &ScimId| {
            names
                .get(id)
                .map_or_else(|| id.to_string(), |n| (*n).clone())
        };
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

/// What deprovisioning means at the account this run: nothing unless the run has every account-mode
/// workspace of the configuration (a principal may be wanted by one it does not sync) and all of them
/// deprovision; then `remove` when all remove, else `deactivate` (the gentler of what they ask).
fn account_deprovision(scope: &AccountScope) -> Deprovision {
    let mut modes = scope.workspaces.iter().map(|(w, _)| w.options.deprovision);
    if !scope.complete || modes.clone().any(|m| m == Deprovision::None) {
        Deprovision::None
    } else if modes.all(|m| m == Deprovision::Remove) {
        Deprovision::Remove
    } else {
        Deprovision::Deactivate
    }
}

/// Who must never be deprovisioned at the account beyond the admins listed with their role, or why
/// that cannot be known.
struct Kept {
    protected: Vec<ScimId>,
    admins: Admins,
}

impl Kept {
    fn unknown(why: String) -> Kept {
        Kept {
            protected: Vec::new(),
            admins: Admins::Unknown(why),
        }
    }
}

impl AzureRun {
    /// Read when someone would be deprovisioned at the account: the members (nested groups read at the
    /// account, to 10 levels) of the groups holding `account_admin`, the principals and groups assigned
    /// `ADMIN` to an account-mode workspace, and every principal a workspace-mode workspace of the
    /// configuration wants. The first read that fails makes them unknown: nobody is deprovisioned.
    async fn kept_at_account(
        &self,
        scim: &Scim,
        scope: &AccountScope,
        current: &Current,
        requests: &Requests,
    ) -> Kept {
        let mut protected = Vec::new();
        let mut routes = Vec::new();
        match scim.list_account_admin_groups(requests).await {
            Ok(groups) => routes.extend((groups.into_iter()).map(|(id, name)| Route {
                id,
                path: vec!["account admins".to_owned(), name],
            })),
            Err(e) => {
                return Kept::unknown(format!(
                    "the account's groups could not be listed with their roles, so the account admins \
                     are not known: {e}"
                ));
            }
        }
        for (workspace, id) in &scope.workspaces {
            let Some(assignments) = scim.assignments(*id) else {
                continue;
            };
            let listed = match assignments.list(requests).await {
                Ok(listed) => listed,
                Err(e) => {
                    return Kept::unknown(format!(
                        "the assignments of {} could not be read, so its admins are not known: {e}",
                        workspace.name
                    ));
                }
            };
            let admins = listed
                .into_iter()
                .filter(|a| a.permission == Some(Permission::Admin));
            for admin in admins {
                match admin.assignee {
                    Assignee::Group(name) => routes.push(Route {
                        id: admin.principal_id,
                        path: vec![format!("ADMIN of {}", workspace.name), name],
                    }),
                    Assignee::User(_) | Assignee::ServicePrincipal(_) => {
                        protected.push(admin.principal_id);
                    }
                    Assignee::Unnamed => {
                        return Kept::unknown(format!(
                            "{} has an ADMIN assignment of {} that names no user, group or service \
                             principal, so its admins are not known",
                            workspace.name, admin.principal_id
                        ));
                    }
                }
            }
        }
        let listed = |id: &str| {
            current.users.iter().any(|u| u.id == id)
                || current.service_principals.iter().any(|sp| sp.id == id)
        };
        let read = |id: ScimId| async move { scim.get_group(&id, requests).await };
        let found = admins::expand_at(GroupsAt::Account, routes, &listed, read).await;
        protected.extend(found.protected);
        if let Admins::Unknown(why) = found.admins {
            return Kept::unknown(why);
        }
        // A principal a workspace-mode workspace wants stays: that workspace may be identity-federated,
        // and then its users are the account's.
        let lookup = current.lookup();
        for workspace in &scope.others {
            let mut memory = self.memory.extra_reader();
            let wanted = async {
                let entra = self.read_groups(workspace, requests).await?;
                let desired = self
                    .desire(workspace, entra.members, entra.mirrored, &mut memory)
                    .await?;
                Ok::<_, SyncError>(desired.principals)
            };
            match wanted.await {
                Ok(principals) => protected.extend(
                    (principals.keys()).filter_map(|key| lookup.get(key).map(|p| p.id.clone())),
                ),
                Err(e) => {
                    return Kept::unknown(format!(
                        "the groups of the workspace-mode workspace {} could not be read, and a \
                         principal it wants is never deprovisioned at the account: {e}",
                        workspace.name
                    ));
                }
            }
        }
        Kept {
            protected,
            admins: Admins::Known,
        }
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
                    ActionKind::UnassignFromWorkspace => counts.unassigned += 1,
                    _ => counts.assigned += 1,
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
