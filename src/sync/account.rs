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
//! the account), a principal or group member assigned `ADMIN` to one of those workspaces, a member of
//! one of those workspaces' own `admins` (directly or through nested groups), or a principal a
//! workspace-mode workspace of the configuration wants (read only when someone would be
//! deprovisioned; any of those reads failing holds every deprovisioning, saying why). A workspace's
//! `admins` also guards its take-backs: an admin's assignment is never taken back.
//!
//! Living next to others (`kept.rs`): a principal listed at the account with an `externalId` that is
//! neither marked nor in an account-mode workspace's own marker group (what it owned in workspace mode)
//! is managed by another provisioner (automatic identity management, the Entra provisioning connector):
//! assigned, never reactivated, marked or deprovisioned, and counted in the report's `managedElsewhere`.
//! Migration from workspace mode (`assign.rs`): a workspace's own marker members that are assigned to
//! it as users are adopted into its record; same-named workspace-local groups are reported; with
//! `mirrorGroups`, the mirrored account groups' missing entitlements are added in the workspace.

mod assign;
mod kept;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use super::admins::Admins;
use super::apply::{Budget, Ids, apply};
use super::current::{list_principals, read_listed};
use super::desired::{Principal, Principals};
use super::engine::AzureRun;
use super::errors::{ReadError, SyncError};
use super::plan::{DesiredGroup, Policy, RemovalHold, plan};
use super::report::{GroupReport, Wanted, WorkspaceReport};
use super::{AccountScope, Workspace};
use crate::config::{Deprovision, WorkspaceName};
use crate::databricks::{
    AccountPace, Assignment, Bearer, ExternalId, GroupKind, Scim, ScimGroup, ScimId,
};
use crate::http::{Api, Requests};
use kept::{account_deprovision, managed_elsewhere};

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
    /// The workspace's own SCIM client.
    scim: Arc<Scim>,
    /// The members of the workspace's own marker group: who this sync owned there in workspace mode.
    legacy: Vec<ScimId>,
    assigned: Result<Assigned, String>,
}

/// Every account-mode workspace's desired principals and mirrored groups, merged as each is made.
#[derive(Default)]
struct Merged {
    principals: Principals,
    /// By lower-cased name.
    groups: BTreeMap<String, DesiredGroup>,
}

impl Merged {
    /// Takes a workspace's desired principals in by moving what it will not need again: its mirrored
    /// groups' members, and with mirrored groups (assigned as groups) its principals; without, its
    /// principals are copied (names and identities are shared), as its assignments name them.
    fn take_in(&mut self, mirror_groups: bool, desired: &mut super::gather::Desire) {
        let principals = if mirror_groups {
            std::mem::take(&mut desired.principals)
        } else {
            (&desired.principals)
                .into_iter()
                .map(|(k, i)| (k.clone(), i.clone()))
                .collect()
        };
        self.principals.absorb(principals);
        for group in &mut desired.groups {
            let merged = (self.groups)
                .entry(group.name.to_lowercase())
                .or_insert_with(|| DesiredGroup {
                    name: group.name.clone(),
                    members: Default::default(),
                    entitlements: Vec::new(),
                });
            // One name whatever order workspaces come in (they differ in case at most).
            if group.name < merged.name {
                merged.name.clone_from(&group.name);
            }
            merged.members.append(&mut group.members);
        }
    }
}

/// One account-mode workspace as read for the account's part of the run.
struct Read {
    reports: Vec<GroupReport>,
    desired: super::gather::Desire,
    policy: Policy,
    scim: Arc<Scim>,
    legacy: Vec<ScimId>,
    assigned: Result<Assigned, String>,
}

/// What a workspace's assignments start from, read with its Graph groups (nothing the account's part
/// writes changes it): its permission assignments, its record group `<managedGroup>-ws-<id>`, and with
/// mirrored groups its own groups (same-named workspace-local groups, the entitlements the account
/// groups have in it).
struct Assigned {
    listed: Vec<Assignment>,
    record: Option<ScimGroup>,
    workspace_groups: Vec<GroupKind>,
}

/// Reads what the workspace's assignments start from; an error in words (it fails the workspace).
async fn assigned(
    account: &Scim,
    workspace_scim: &Scim,
    workspace: &Workspace,
    workspace_id: u64,
    requests: &Requests,
) -> Result<Assigned, String> {
    let Some(assignments) = account.assignments(workspace_id) else {
        return Err("internal error: the account's client gives no assignments".to_owned());
    };
    let record_name = assign::record_name(workspace, workspace_id);
    let mirroring = workspace.options.mirror_groups;
    let (listed, record, workspace_groups) = futures::try_join!(
        async { assignments.list(requests).await },
        async { account.find_group(&record_name, requests).await },
        async {
            if mirroring {
                workspace_scim.list_group_kinds(requests).await
            } else {
                Ok(Vec::new())
            }
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(Assigned {
        listed,
        record,
        workspace_groups,
    })
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
        let account_name = WorkspaceName::of_account(&scope.account.account_id);
        let account_requests = Requests::default();
        // The account's report says why, and every account-mode workspace fails with it.
        let failed = |failure: String| {
            let mut report = WorkspaceReport::failed(account_name.clone(), failure.clone());
            report.requests = account_requests.snapshot();
            *self
                .account
                .report
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(report);
            Arc::new(AccountOutcome {
                scim: None,
                failure: Some(failure),
                workspaces: Mutex::default(),
            })
        };
        if let Err(e) = self.sign_in().await {
            return failed(e.to_string());
        }
        let scim = Arc::new(Scim::account(
            self.client.clone(),
            &scope.account.host,
            &scope.account.account_id.to_string(),
            Bearer::Entra(Arc::clone(&self.credential)),
            AccountPace::configured(scope.account.requests_per_second),
        ));
        // Every workspace's groups, read at once; each workspace's desired principals made in its turn.
        // Alongside, its own side (its PAT, its own marker group) and what its assignments start from.
        // Each workspace's desired principals and mirrored groups' members are merged as soon as they
        // are made: the merged lists and one workspace's are held, not every workspace's at once.
        let merging = Mutex::new(Merged::default());
        let reads = scope.workspaces.iter().map(|(workspace, workspace_id)| {
            let (account, merging) = (&scim, &merging);
            async move {
                let requests = Requests::default();
                let mut memory = self.memory.workspace_started();
                let read = async {
                    let graph = async {
                        let entra = self.read_groups(workspace, &requests).await?;
                        let options = &workspace.options;
                        let policy = self.policy(options, &entra.incomplete, &entra.unsettled);
                        let mut desired =
                            (self.desire(workspace, entra.members, entra.mirrored, &mut memory))
                                .await?;
                        merging
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .take_in(workspace.options.mirror_groups, &mut desired);
                        Ok::<_, SyncError>((entra.reports, policy, desired))
                    };
                    let side = async {
                        let (scim, legacy) = self.workspace_side(workspace, &requests).await?;
                        let assigned =
                            assigned(account, &scim, workspace, *workspace_id, &requests).await;
                        Ok::<_, SyncError>((scim, legacy, assigned))
                    };
                    let ((reports, policy, desired), (scim, legacy, assigned)) =
                        futures::try_join!(graph, side)?;
                    Ok::<_, SyncError>(Read {
                        reports,
                        desired,
                        policy,
                        scim,
                        legacy,
                        assigned,
                    })
                };
                let read = read.await;
                drop(memory);
                (read, requests)
            }
        });
        let include_service_principals = (scope.workspaces.iter())
            .any(|(workspace, _)| workspace.options.include_service_principals);
        let names = &self.memory.names;
        // The account's principals are listed while Graph is read and the account's groups looked
        // up: nothing waits for the listing but the plan.
        let listing = {
            let (scim, requests) = (Arc::clone(&scim), &account_requests);
            async move { list_principals(&scim, include_service_principals, requests, names).await }
        };
        let mut listing = std::pin::pin!(listing);
        let mut listed = None;
        let reads = {
            let reads = futures::future::join_all(reads);
            let mut reads = std::pin::pin!(reads);
            loop {
                tokio::select! {
                    reads = &mut reads => break reads,
                    done = listing.as_mut(), if listed.is_none() => listed = Some(done),
                }
            }
        };

        let first = &scope.workspaces[0].0.options;
        let Merged { principals, groups } =
            merging.into_inner().unwrap_or_else(PoisonError::into_inner);
        let mut holds: Vec<String> = Vec::new();
        for ((workspace, _), (read, _)) in scope.workspaces.iter().zip(&reads) {
            match read {
                Ok(Read { policy, .. }) => {
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
        let groups: Vec<DesiredGroup> = groups.into_values().collect();

        let mut options = first.clone();
        // The account has no `/Me` nor `admins`: who is never deprovisioned there is read below.
        options.deprovision = Deprovision::None;
        options.include_service_principals = include_service_principals;
        let listed = async {
            match listed {
                Some(done) => done,
                None => listing.await,
            }
        };
        let read = read_listed(&scim, &options, &groups, &account_requests, listed);
        let mut current = match read.await {
            Ok(current) => current,
            Err(e) => return failed(format!("the Databricks account could not be read: {e}")),
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
        // Who another provisioner manages: listed with an `externalId` (what automatic identity
        // management and the Entra provisioning connector set), yet neither marked nor owned by this
        // sync in workspace mode (in an account-mode workspace's own marker group).
        let legacy: HashSet<&ScimId> = (reads.iter())
            .filter_map(|(read, _)| read.as_ref().ok())
            .flat_map(|read| &read.legacy)
            .collect();
        let marked = |id: &ScimId| {
            current
                .marker_members
                .as_ref()
                .is_some_and(|m| m.contains(id))
        };
        let foreign = |id: &ScimId, external: ExternalId| {
            external != ExternalId::ABSENT && !marked(id) && !legacy.contains(id)
        };
        let hands_off: HashSet<ScimId> = (current.users.iter())
            .filter(|u| foreign(&u.id, u.external_id))
            .map(|u| u.id.clone())
            .chain(
                (current.service_principals.iter())
                    .filter(|sp| foreign(&sp.id, sp.external_id))
                    .map(|sp| sp.id.clone()),
            )
            .collect();
        current.hands_off = hands_off;
        let managed_elsewhere = managed_elsewhere(&principals, &current);
        let mut planned = plan(&principals, &groups, &current, &policy);
        if planned.awaits_admins() {
            drop(planned);
            // Each workspace's assignments as read with its groups (read once for both uses), and its
            // own SCIM client (its `admins`).
            let workspaces: Vec<Result<(&[Assignment], &Scim), String>> = (reads.iter())
                .map(|(read, _)| match read {
                    Ok(read) => (read.assigned.as_ref())
                        .map(|a| (a.listed.as_slice(), read.scim.as_ref()))
                        .map_err(Clone::clone),
                    Err(e) => Err(format!("the workspace could not be read: {e}")),
                })
                .collect();
            let kept = self
                .kept_at_account(&scim, scope, &workspaces, &current, &account_requests)
                .await;
            current.protected.extend(kept.protected);
            current.admins = kept.admins;
            planned = plan(&principals, &groups, &current, &policy);
        }
        // Principals' ids are kept and looked up only for workspaces assigned principal by principal
        // (at 100,000 users the ids learnt are 6 MB, the index 4 MB; with mirrored groups only the
        // groups' ids are needed).
        let by_principal = (scope.workspaces.iter()).any(|(w, _)| !w.options.mirror_groups);
        let budget = Budget::new(self.deadline, self.max_run_seconds);
        let dry_run = self.run.dry_run;
        let applied = apply(
            &planned,
            &current,
            &scim,
            &account_requests,
            dry_run,
            &budget,
            if by_principal { Ids::Keep } else { Ids::Drop },
        )
        .await;

        // The account ids of every desired principal and mirrored group, for the assignments.
        let lookup = by_principal.then(|| current.lookup());
        let id_of = |key: &Principal| {
            (lookup
                .as_ref()
                .and_then(|l| l.get(key))
                .map(|p| p.id.clone()))
            .or_else(|| applied.ids.get(key).cloned())
        };
        let group_id = |name: &str| {
            (applied.group_ids.get(name).cloned())
                .or_else(|| current.groups.get(name).map(|g| g.id.clone()))
        };
        let mut workspaces = HashMap::new();
        for ((workspace, _), (read, requests)) in scope.workspaces.iter().zip(reads) {
            let wants = read.map_err(|e| e.to_string()).map(|read| {
                let Read {
                    reports,
                    desired,
                    policy,
                    scim,
                    legacy,
                    assigned,
                } = read;
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
                    scim,
                    legacy,
                    assigned,
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
        report.managed_elsewhere = managed_elsewhere;
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
}

impl AzureRun {
    /// The workspace's own SCIM client (its PAT from Key Vault, or the app's token), and the members of
    /// its own marker group (`managedGroup` in the workspace, made in workspace mode): on an
    /// identity-federated workspace they are account principals this sync owned.
    async fn workspace_side(
        &self,
        workspace: &Workspace,
        requests: &Requests,
    ) -> Result<(Arc<Scim>, Vec<ScimId>), SyncError> {
        let bearer = self.bearer(workspace, requests).await?;
        let options = &workspace.options;
        let scim = self.workspace_scim(workspace, bearer);
        let marker = scim.find_group(&options.managed_group, requests).await;
        let marker = marker.map_err(|source| ReadError::ReadGroup {
            name: options.managed_group.clone(),
            source,
        })?;
        Ok((
            Arc::new(scim),
            marker.map(|g| g.members).unwrap_or_default(),
        ))
    }
}
