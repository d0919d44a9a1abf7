//! The production engine: for one workspace, read its token from Key Vault (or use the app's own
//! Entra token), its groups' members from
//! Microsoft Graph and its users over SCIM, plan, apply, report. Reads shared by several workspaces of
//! a run (a token, a group) happen once per run, through the run's [`Memo`]s.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::admins::{self, Admins};
use super::apply::{Budget, apply};
use super::desired::{Desired, Incomplete, Names, desired_users_in};
use super::memo::Memo;
use super::plan::{Current, DesiredGroup, GroupState, Plan, Policy, plan};
use super::report::{ExternalIdReport, GroupReport, Outcome, Status, UserCounts, WorkspaceReport};
use super::{Engine, RunContext, RunScope};
use azure_core::credentials::TokenCredential;

use crate::auth::{Identity, check_token};
use crate::config::{Deprovision, GroupRef, SecretUrl, SyncOptions, Workspace, WorkspaceAuth};
use crate::databricks::{Bearer, Scim, ScimServicePrincipal, ScimUser};
use crate::entra::{Graph, Group, Listed, People, Person, ServicePrincipalMember, Shortfall};
use crate::http::{Api, Requests};
use crate::keyvault::Secrets;
use crate::settings::Settings;

/// How long after the run's budget a workspace still waiting on a call is stopped: a fifth of the
/// budget, from 30 s (time for paced writes in flight to finish) to 3 minutes; with the default budget
/// (25 min) it ends 2 minutes before host.json's functionTimeout (30 min).
fn hard_stop_grace(budget: Duration) -> Duration {
    (budget / 5).clamp(Duration::from_secs(30), Duration::from_secs(180))
}

/// Syncs workspaces with Graph, Key Vault and SCIM.
pub struct AzureEngine {
    client: reqwest::Client,
    graph: Graph,
    secrets: Secrets,
    credential: Arc<dyn TokenCredential>,
    identity: String,
    max_run_seconds: u64,
}

impl AzureEngine {
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(settings: &Settings, identity: &Identity) -> Result<AzureEngine, String> {
        let client =
            crate::http::client().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let graph = Graph::new(
            client.clone(),
            &settings.graph_endpoint,
            Arc::clone(&identity.credential),
        );
        Ok(AzureEngine {
            client,
            graph,
            secrets: Secrets::new(Arc::clone(&identity.credential)),
            credential: Arc::clone(&identity.credential),
            identity: identity.name.clone(),
            max_run_seconds: settings.max_run_seconds,
        })
    }
}

/// Members of a group as read once in a run, or why they could not be.
type MembersRead<T> = Result<Arc<Listed<T>>, String>;

/// The members of one configured group: its users and (when synced) its service principals.
#[derive(Clone)]
struct GroupMembers {
    users: Arc<Listed<Person>>,
    service_principals: Arc<Listed<ServicePrincipalMember>>,
}

/// What the workspaces of one run share.
struct AzureRun {
    credential: Arc<dyn TokenCredential>,
    identity: String,
    /// Whether the credential gives tokens at all: checked once per run, before any service is called.
    signed_in: Memo<(), Result<(), String>>,
    client: reqwest::Client,
    graph: Graph,
    secrets: Secrets,
    run: Arc<RunContext>,
    /// After it no write starts (`SYNC_MAX_RUN_SECONDS` from the run's start).
    deadline: Instant,
    max_run_seconds: u64,
    tokens: Memo<String, Result<Arc<SecretString>, String>>,
    groups: Memo<String, Result<Group, String>>,
    members: Memo<(String, bool), MembersRead<Person>>,
    service_principals: Memo<(String, bool), MembersRead<ServicePrincipalMember>>,
    /// Every person read in the run, once.
    people: People,
    /// Every user name of the run, once.
    names: Names,
    /// Workspaces of the run that still need group members: when none does, the members are dropped
    /// (a run of large groups would otherwise hold every person until its last write).
    gathering: AtomicUsize,
    /// Held while a workspace makes its desired principals.
    desiring: tokio::sync::Mutex<()>,
}

impl Engine for AzureEngine {
    fn start_run(&self, run: Arc<RunContext>) -> Arc<dyn RunScope> {
        Arc::new(AzureRun {
            credential: Arc::clone(&self.credential),
            identity: self.identity.clone(),
            signed_in: Memo::default(),
            client: self.client.clone(),
            graph: self.graph.clone(),
            secrets: self.secrets.clone(),
            deadline: Instant::now() + Duration::from_secs(self.max_run_seconds),
            max_run_seconds: self.max_run_seconds,
            tokens: Memo::default(),
            groups: Memo::default(),
            members: Memo::default(),
            service_principals: Memo::default(),
            people: People::default(),
            names: Names::default(),
            gathering: AtomicUsize::new(run.workspaces),
            desiring: tokio::sync::Mutex::new(()),
            run,
        })
    }

    fn max_run_seconds(&self) -> Option<u64> {
        Some(self.max_run_seconds)
    }
}

#[async_trait::async_trait]
impl RunScope for AzureRun {
    async fn sync_workspace(&self, workspace: Workspace) -> WorkspaceReport {
        // However this workspace's sync ends, it no longer needs group members after it.
        let mut gathering = Gathering(Some(self));
        let requests = Requests::default();
        if Instant::now() >= self.deadline {
            let mut report = WorkspaceReport::failed(workspace.name.clone(), "");
            report.status = Status::Partial;
            report.error = Some(format!(
                "not started: the run's time budget (SYNC_MAX_RUN_SECONDS={}) was spent on the other \
                 workspaces; the next run syncs it",
                self.max_run_seconds
            ));
            return report;
        }
        let mut report = WorkspaceReport::failed(workspace.name.clone(), "");
        // The hard stop: a call still waiting when even the grace is spent must not outlive the
        // host's functionTimeout, which would kill the process and lose every report of the run.
        let grace = hard_stop_grace(Duration::from_secs(self.max_run_seconds));
        let hard_stop = self.deadline + grace;
        let outcome = match tokio::time::timeout_at(
            hard_stop.into(),
            self.sync(&workspace, &requests, &mut report, &mut gathering),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                report.requests = requests.snapshot();
                report.status = Status::Partial;
                report.actions.clear();
                report.omitted_actions.clear();
                report.error = Some(format!(
                    "stopped: the run's time budget (SYNC_MAX_RUN_SECONDS={}) and {} s of grace were spent \
                     while a call was still waiting for an answer; the changes made so far stay, and the next \
                     run plans the rest again",
                    self.max_run_seconds,
                    grace.as_secs()
                ));
                return report;
            }
        };
        report.requests = requests.snapshot();
        crate::memory::release();
        match outcome {
            Ok(()) => {
                report.error = None;
                report.status = Status::Succeeded;
                let mut problems = Vec::new();
                let failed = report.users.failed + report.service_principals.failed;
                if failed > 0 {
                    problems.push(format!("{failed} change(s) failed; see actions"));
                }
                // Failed too (someone must act), but said apart: the sync cannot fix it by itself.
                let deactivated = report.users.account_deactivated
                    + report.service_principals.account_deactivated;
                if deactivated > 0 {
                    problems.push(format!(
                        "of which {deactivated} user(s) could not be reactivated because they are deactivated \
                         in the Databricks account (reason accountDeactivated): an account admin must \
                         reactivate them there first; the next run then reactivates them in this workspace"
                    ));
                }
                // Held deprovisioning fails the workspace, so the timer run shows Failed and alerts fire.
                problems.extend(report.deprovisioning_held.clone());
                if !problems.is_empty() {
                    report.status = Status::Failed;
                    report.error = Some(problems.join("; "));
                } else if report.remaining > 0 || report.removals_waiting.is_some() {
                    report.status = Status::Partial;
                }
            }
            Err(error) => report.error = Some(error),
        }
        report
    }
}

/// A workspace's claim on the run's group members, given up once it has its desired principals (or
/// when its sync ends, whatever the way).
struct Gathering<'a>(Option<&'a AzureRun>);

impl Gathering<'_> {
    fn done(&mut self) {
        if let Some(run) = self.0.take()
            && run.gathering.fetch_sub(1, Ordering::SeqCst) == 1
        {
            run.members.clear();
            run.service_principals.clear();
            run.people.clear();
            crate::memory::release();
        }
    }
}

impl Drop for Gathering<'_> {
    fn drop(&mut self) {
        self.done();
    }
}

/// The workspace's users (and service principals, when synced), its marker group's members, and (when
/// deprovisioning is on) the principals never to deprovision: the token's own identity and the direct
/// members of `admins`, with whether groups nested in it remain to be read ([`Admins`]). Any read that
/// fails fails the workspace before anything is written.
async fn read_workspace(
    scim: &Scim,
    options: &SyncOptions,
    mirrored: &[DesiredGroup],
    requests: &Requests,
    names: &Names,
) -> Result<Current, String> {
    // Every read at once (the SCIM client still paces them); the first that fails fails the workspace.
    let users = async {
        scim.list_users(requests, &|name| names.share(name))
            .await
            .map_err(|e| format!("cannot list the workspace's users: {e}"))
    };
    let service_principals = async {
        if !options.include_service_principals {
            return Ok(Vec::new());
        }
        scim.list_service_principals(requests)
            .await
            .map_err(|e| format!("cannot list the workspace's service principals: {e}"))
    };
    let group = |name: &str| {
        let name = name.to_owned();
        async move {
            scim.find_group(&name, requests)
                .await
                .map_err(|e| format!("cannot read the workspace group {name:?}: {e}"))
        }
    };
    let protected = async {
        let mut protected = HashSet::new();
        let mut admins_group = None;
        if options.deprovision != Deprovision::None {
            let me = async {
                scim.me(requests)
                    .await
                    .map_err(|e| format!("cannot read the token's own identity (/Me): {e}"))
            };
            let admins = async {
                scim.find_classified_group("admins", requests)
                    .await
                    .map_err(|e| format!("cannot read the workspace group \"admins\": {e}"))
            };
            let (me, admins) = futures::try_join!(me, admins)?;
            protected.insert(me.id);
            admins_group = admins;
        }
        Ok::<_, String>((protected, admins_group))
    };
    let groups = futures::future::try_join_all(mirrored.iter().map(|wanted| group(&wanted.name)));
    let (users, service_principals, marker, (mut protected, admins_group), found) = futures::try_join!(
        users,
        service_principals,
        group(&options.managed_group),
        protected,
        groups
    )?;
    // The direct members of `admins`; the groups nested in it are read only if someone would be
    // deprovisioned (`Plan::awaits_admins`).
    let admins = match &admins_group {
        Some(group) => {
            let (direct, admins) =
                admins::direct(group, &|id| is_listed(&users, &service_principals, id));
            protected.extend(direct);
            admins
        }
        None => Admins::Known,
    };
    let groups: BTreeMap<String, GroupState> = mirrored
        .iter()
        .zip(found)
        .filter_map(|(wanted, found)| {
            let found = found?;
            let state = GroupState {
                id: found.id,
                members: found.members.into_iter().collect(),
                entitlements: found.entitlements,
            };
            Some((wanted.name.clone(), state))
        })
        .collect();
    Ok(Current {
        users,
        service_principals,
        marker_id: marker.as_ref().map(|g| g.id.clone()),
        marker_members: marker.map(|g| g.members.into_iter().collect()),
        protected,
        admins,
        groups,
    })
}

/// Whether `id` is a listed user or service principal of the workspace.
fn is_listed(users: &[ScimUser], service_principals: &[ScimServicePrincipal], id: &str) -> bool {
    users.iter().any(|u| u.id == id) || service_principals.iter().any(|sp| sp.id == id)
}

/// Reads the groups nested in `admins` ([`admins::expand`]) into `current`: their members become
/// protected, and `current.admins` says whether every admin is known.
async fn read_nested_admins(scim: &Scim, current: &mut Current, requests: &Requests) {
    let Admins::Nested(nested) = std::mem::take(&mut current.admins) else {
        return;
    };
    let found = {
        let listed = |id: &str| is_listed(&current.users, &current.service_principals, id);
        admins::expand(nested, &listed, |id| async move {
            scim.get_group(&id, requests)
                .await
                .map_err(|e| e.to_string())
        })
        .await
    };
    current.protected.extend(found.protected);
    current.admins = found.admins;
}

/// The workspace groups that mirror the configured Entra groups: each group's members that are desired
/// principals of the workspace, and the workspace's entitlements. A name that would change a group the
/// sync must not own (the marker group, `admins`, `users`) is an error.
fn desired_groups(
    mirrored: Vec<(String, GroupMembers)>,
    desired: &Desired,
    workspace: &Workspace,
    names: &Names,
) -> Result<Vec<DesiredGroup>, String> {
    let mut groups: Vec<DesiredGroup> = Vec::new();
    for (name, members) in mirrored {
        let reserved = [workspace.options.managed_group.as_str(), "admins", "users"];
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
            return Err(format!(
                "the Entra group {name:?} cannot be mirrored under that name: it is a group the sync must not \
                 manage; give it another name in groupNames"
            ));
        }
        if groups.iter().any(|g| g.name.eq_ignore_ascii_case(&name)) {
            return Err(format!(
                "two configured groups would be mirrored as {name:?}: tell them apart in groupNames"
            ));
        }
        let members = desired_of([&members], &workspace.options, names)
            .into_principals()
            .into_keys()
            .filter(|key| desired.contains(key))
            .collect();
        groups.push(DesiredGroup {
            name,
            members,
            entitlements: workspace.options.entitlements.clone(),
        });
    }
    Ok(groups)
}

/// The principals some groups' members make, under the workspace's options.
fn desired_of<'a>(
    groups: impl IntoIterator<Item = &'a GroupMembers> + Clone,
    options: &SyncOptions,
    names: &Names,
) -> Desired {
    let mut desired = desired_users_in(
        groups
            .clone()
            .into_iter()
            .flat_map(|g| g.users.items.iter()),
        options,
        names,
    );
    if options.include_service_principals {
        desired.add_service_principals(
            groups
                .into_iter()
                .flat_map(|g| g.service_principals.items.iter()),
            options,
        );
    }
    desired
}

/// The member count Graph gave for a group, when a listing held fewer (read twice): the users' and
/// service principals' counts added up.
fn counted(members: &GroupMembers) -> Option<u64> {
    let (users, sps) = (members.users.short, members.service_principals.short);
    (users.is_some() || sps.is_some()).then(|| {
        let count =
            |listed: &Option<Shortfall>, len: usize| listed.map_or(len as u64, |s| s.counted);
        count(&users, members.users.items.len())
            + count(&sps, members.service_principals.items.len())
    })
}

/// Configured groups whose listing held fewer members than Graph's `@odata.count`, on two reads in a
/// row. Graph serves the count from an eventually consistent index, so the two can disagree for a
/// while after a change; the listing may then lack members, so nothing is removed on it, but nothing
/// is wrong either: the workspace is `partial`, not failed, and additions go ahead.
#[derive(Debug, Default)]
struct Unsettled(Vec<String>);

impl Unsettled {
    fn add(&mut self, group: &str, members: &GroupMembers) {
        let kinds = [
            ("user", members.users.short),
            ("service principal", members.service_principals.short),
        ];
        for (kind, short) in kinds {
            if let Some(Shortfall { counted, listed }) = short {
                self.0.push(format!(
                    "group {group:?}: Graph counted {counted} {kind} member(s) (@odata.count) but listed {listed}"
                ));
            }
        }
    }

    fn reason(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            format!(
                "removals wait: {}, on two reads in a row (Graph serves counts from an eventually consistent \
                 index); until a read agrees, nobody is deprovisioned, removed from a group or changed in \
                 entitlements in this workspace (the changes are reported skipped); additions go ahead",
                self.0.join("; ")
            )
        })
    }
}

impl AzureRun {
    async fn sync(
        &self,
        workspace: &Workspace,
        requests: &Requests,
        report: &mut WorkspaceReport,
        gathering: &mut Gathering<'_>,
    ) -> Result<(), String> {
        self.signed_in
            .get_or((), || {
                check_token(&self.credential, &self.identity, self.graph.scope())
            })
            .await?;
        let bearer = self.bearer(workspace, requests).await?;
        // The groups are read at once; a group shared with another workspace is read once per run.
        let read = futures::future::try_join_all(
            workspace
                .access_groups
                .iter()
                .map(|reference| self.group(reference, &workspace.options, requests)),
        )
        .await?;
        let mut members: Vec<GroupMembers> = Vec::new();
        let mut mirrored = Vec::new();
        let mut incomplete = Incomplete::default();
        let mut unsettled = Unsettled::default();
        for (reference, (group, group_members)) in workspace.access_groups.iter().zip(read) {
            unsettled.add(&group.display_name, &group_members);
            incomplete.add(
                &group.display_name,
                group_members
                    .users
                    .items
                    .iter()
                    .filter(|m| m.is_limited())
                    .count(),
                (group_members.service_principals.items.iter())
                    .filter(|m| m.is_limited())
                    .count(),
            );
            if workspace.options.mirror_groups {
                mirrored.push((
                    workspace.mirrored_group_name(reference, &group.display_name),
                    group_members.clone(),
                ));
            }
            report.groups.push(GroupReport {
                reference: reference.to_string(),
                id: Some(group.id),
                display_name: Some(group.display_name),
                member_count: Some(
                    (group_members.users.items.len() + group_members.service_principals.items.len())
                        as u64,
                ),
                counted: counted(&group_members),
            });
            members.push(group_members);
        }
        // One workspace at a time: making the desired principals of a large workspace takes a few
        // megabytes of scratch, and CPU that two workspaces would only share.
        let desiring = self.desiring.lock().await;
        let mut desired = desired_of(&members, &workspace.options, &self.names);
        let mirrored = desired_groups(mirrored, &desired, workspace, &self.names)?;
        drop(members);
        gathering.done();
        let (desired_users, desired_service_principals) =
            (desired.users.len(), desired.service_principals.len());
        let skipped = std::mem::take(&mut desired.skipped);
        let principals = desired.into_principals();
        drop(desiring);

        let scim = Scim::new(
            self.client.clone(),
            &workspace.instance,
            bearer,
            workspace.options.scim_requests_per_second,
        );
        let mut current =
            read_workspace(&scim, &workspace.options, &mirrored, requests, &self.names).await?;
        let policy = Policy {
            managed_group: workspace.options.managed_group.clone(),
            deprovision: workspace.options.deprovision,
            max_deprovision: workspace.options.max_deprovision,
            allow_deprovision: self.run.allow_deprovision,
            // Members Graph could not show make the read incomplete: nothing is removed on it.
            hold_removals: incomplete.reason(),
            // A count Graph's listing fell short of, twice: removals wait for a read that agrees.
            wait_removals: unsettled.reason(),
        };
        let mut plan: Plan = plan(&principals, &mirrored, &current, &policy);
        if plan.awaits_admins {
            // Someone would be deprovisioned and `admins` has groups as members: read them, then plan
            // again with every admin protected (or every deprovisioning held, saying why).
            drop(plan);
            read_nested_admins(&scim, &mut current, requests).await;
            plan = super::plan::plan(&principals, &mirrored, &current, &policy);
        }
        // The plan holds what applying needs (names are shared): the desired principals need not live
        // through it.
        drop(principals);
        let applied = apply(
            &plan,
            &current,
            &policy.managed_group,
            &scim,
            requests,
            self.run.dry_run,
            &Budget::new(self.deadline, self.max_run_seconds),
        )
        .await;
        report.remaining = applied.deferred;
        if plan.held_to_wait {
            report.removals_waiting = plan.held_reason.clone();
        } else {
            report.deprovisioning_held = plan.held_reason.clone();
        }
        report.external_ids = ExternalIdReport {
            differ: plan.external_ids.differ,
            differing: (plan.external_ids.differing.iter())
                .map(ToString::to_string)
                .collect(),
            absent: plan.external_ids.absent,
        };

        let (users, sps) = (&applied.users, &applied.service_principals);
        let existing_sps = plan.existing_service_principals;
        report.users = UserCounts {
            desired: desired_users as u64,
            existing: plan.existing - existing_sps + users.already_existing,
            created: users.created,
            reactivated: users.reactivated,
            deactivated: users.deactivated,
            removed: users.removed,
            skipped: skipped.len() as u64,
            // Failed group changes count here: every workspace has users, not every one service principals.
            failed: users.failed + applied.failed_group_changes,
            account_deactivated: users.account_deactivated,
        };
        report.service_principals = UserCounts {
            desired: desired_service_principals as u64,
            existing: existing_sps + sps.already_existing,
            created: sps.created,
            reactivated: sps.reactivated,
            deactivated: sps.deactivated,
            removed: sps.removed,
            skipped: 0,
            failed: sps.failed,
            account_deactivated: sps.account_deactivated,
        };
        let mut actions = applied.actions;
        for skipped in skipped {
            actions.push("skipMember", Outcome::Skipped, || {
                (skipped.member, Some(skipped.reason))
            });
        }
        (report.actions, report.omitted_actions) = actions.finish();
        Ok(())
    }

    /// What the workspace is called with: its PAT from Key Vault (read once per run per secret), or
    /// the app's own Entra token.
    async fn bearer(&self, workspace: &Workspace, requests: &Requests) -> Result<Bearer, String> {
        match &workspace.auth {
            WorkspaceAuth::ManagedIdentity => Ok(Bearer::Entra(Arc::clone(&self.credential))),
            WorkspaceAuth::Pat(url) => {
                let token = self.pat(url, requests).await?;
                Ok(Bearer::Pat(SecretString::from(
                    token.expose_secret().to_owned(),
                )))
            }
        }
    }

    async fn pat(&self, url: &SecretUrl, requests: &Requests) -> Result<Arc<SecretString>, String> {
        self.tokens
            .get_or(url.to_string(), || async {
                requests.add(Api::KeyVault, 1);
                self.secrets
                    .read(url)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
    }

    async fn group(
        &self,
        reference: &GroupRef,
        options: &SyncOptions,
        requests: &Requests,
    ) -> Result<(Group, GroupMembers), String> {
        let key = reference.to_string().to_lowercase();
        let group = self
            .groups
            .get_or(key, || async {
                self.graph
                    .resolve(reference, requests)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await?;
        let listing = (group.id.clone(), options.nested);
        let users = self
            .members
            .get_or(listing.clone(), || async {
                self.graph
                    .user_members(&group, options.nested, requests, &self.people)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await?;
        let service_principals = if options.include_service_principals {
            self.service_principals
                .get_or(listing, || async {
                    self.graph
                        .service_principal_members(&group, options.nested, requests)
                        .await
                        .map(Arc::new)
                        .map_err(|e| e.to_string())
                })
                .await?
        } else {
            Arc::default()
        };
        Ok((
            group,
            GroupMembers {
                users,
                service_principals,
            },
        ))
    }
}
