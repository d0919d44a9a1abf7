//! The production engine. A workspace's sync is four steps: gather (`gather.rs`: the token check, the
//! bearer, the groups' members from Graph, the desired principals, the workspace over SCIM in
//! `current.rs`), plan (pure; again once the groups nested in `admins` are read when it would
//! deprovision someone), apply, report. Reads shared by several workspaces of a run (a token, a group)
//! happen once per run, through the run's [`Memo`]s; the run's memory is let go in the named steps of
//! [`RunMemory`]. A step that fails gives a typed [`SyncError`], made text only in the workspace's report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use secrecy::SecretString;

use super::apply::{Applied, Budget, Tally, apply};
use super::current::read_nested_admins;
use super::errors::{SignInError, StartError, SyncError};
use super::gather::{Desire, Gathered};
use super::lifecycle::{RunMemory, WorkspaceMemory};
use super::memo::Memo;
use super::plan::{Plan, plan};
use super::report::{ExternalIdReport, Outcome, Status, UserCounts, WorkspaceReport};
use super::{Engine, RunContext, RunScope};
use crate::auth::{Identity, SecretError, Secrets};
use crate::config::Workspace;
use crate::entra::{Graph, GraphError, Group};
use crate::http::Requests;
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
    pub fn new(settings: &Settings, identity: &Identity) -> Result<AzureEngine, StartError> {
        let client = crate::http::client().map_err(StartError)?;
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

/// What the workspaces of one run share.
pub struct AzureRun {
    pub(super) credential: Arc<dyn TokenCredential>,
    pub(super) identity: String,
    /// Whether the credential gives tokens at all: checked once per run, before any service is called.
    pub(super) signed_in: Memo<(), Result<(), SignInError>>,
    pub(super) client: reqwest::Client,
    pub(super) graph: Graph,
    pub(super) secrets: Secrets,
    pub(super) run: Arc<RunContext>,
    /// After it no write starts (`SYNC_MAX_RUN_SECONDS` from the run's start).
    deadline: Instant,
    max_run_seconds: u64,
    pub(super) tokens: Memo<String, Result<Arc<SecretString>, SecretError>>,
    pub(super) groups: Memo<String, Result<Group, GraphError>>,
    /// The group members, people and user names of the run, and when they go.
    pub(super) memory: RunMemory,
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
            memory: RunMemory::new(run.workspaces.len()),
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
        let mut memory = self.memory.workspace_started();
        let requests = Requests::default();
        let mut report = WorkspaceReport::failed(workspace.name.clone(), "");
        let max_run_seconds = self.max_run_seconds;
        let outcome = if Instant::now() >= self.deadline {
            Err(SyncError::NotStarted { max_run_seconds })
        } else {
            // The hard stop: a call still waiting when even the grace is spent must not outlive the
            // host's functionTimeout, which would kill the process and lose every report of the run.
            let grace = hard_stop_grace(Duration::from_secs(max_run_seconds));
            let sync = self.sync(&workspace, &requests, &mut report, &mut memory);
            match tokio::time::timeout_at((self.deadline + grace).into(), sync).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    report.actions.clear();
                    report.omitted_actions.clear();
                    let grace_seconds = grace.as_secs();
                    Err(SyncError::Stopped {
                        max_run_seconds,
                        grace_seconds,
                    })
                }
            }
        };
        report.requests = requests.snapshot();
        memory.workspace_done();
        settle(&mut report, outcome);
        report
    }
}

/// The workspace's status and error from how its sync ended and what its report counts.
fn settle(report: &mut WorkspaceReport, outcome: Result<(), SyncError>) {
    let error = match outcome {
        Ok(()) => return settle_applied(report),
        Err(error) => error,
    };
    report.status = if error.is_deferred() {
        Status::Partial
    } else {
        Status::Failed
    };
    report.error = Some(error.to_string());
}

/// The status of a workspace whose plan was applied: failed when a change failed or deprovisioning is
/// held (someone must act), partial when work waits for the next run.
fn settle_applied(report: &mut WorkspaceReport) {
    report.error = None;
    report.status = Status::Succeeded;
    let mut problems = Vec::new();
    let failed = report.users.failed + report.service_principals.failed;
    if failed > 0 {
        problems.push(format!("{failed} change(s) failed; see actions"));
    }
    // Failed too (someone must act), but said apart: the sync cannot fix it by itself.
    let deactivated =
        report.users.account_deactivated + report.service_principals.account_deactivated;
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

impl AzureRun {
    /// Gather → plan → apply → report.
    async fn sync(
        &self,
        workspace: &Workspace,
        requests: &Requests,
        report: &mut WorkspaceReport,
        memory: &mut WorkspaceMemory<'_>,
    ) -> Result<(), SyncError> {
        let mut gathered = self.gather(workspace, requests, report, memory).await?;
        let plan = self.plan(&mut gathered, requests, memory).await;
        let applied = self.apply(&plan, &gathered, requests).await;
        record(report, gathered.desired, &plan, applied);
        Ok(())
    }

    /// The plan; when it would deprovision someone and `admins` has groups as members, those are read
    /// and the workspace planned again, with every admin protected (or every deprovisioning held, saying
    /// why).
    async fn plan(
        &self,
        gathered: &mut Gathered,
        requests: &Requests,
        memory: &WorkspaceMemory<'_>,
    ) -> Plan {
        let Gathered {
            scim,
            desired,
            current,
            policy,
        } = gathered;
        let principals = std::mem::take(&mut desired.principals);
        let mut planned = plan(&principals, &desired.groups, current, policy);
        if read_plan(&planned).awaits_admins {
            memory.plan_superseded(planned);
            read_nested_admins(scim, current, requests).await;
            planned = plan(&principals, &desired.groups, current, policy);
        }
        memory.plan_made(principals);
        planned
    }

    async fn apply(&self, plan: &Plan, gathered: &Gathered, requests: &Requests) -> Applied {
        let budget = Budget::new(self.deadline, self.max_run_seconds);
        let managed_group = &gathered.policy.managed_group;
        let (current, scim) = (&gathered.current, &gathered.scim);
        let dry_run = self.run.dry_run;
        apply(
            plan,
            current,
            managed_group,
            scim,
            requests,
            dry_run,
            &budget,
        )
        .await
    }
}

/// What the engine reads of a plan besides applying it: in one place, so a change of the plan's shape
/// changes one function.
struct PlanFacts {
    /// Deprovisionings wait for the groups nested in `admins` to be read.
    awaits_admins: bool,
    /// Desired users and service principals already present and active.
    existing_users: u64,
    existing_service_principals: u64,
    /// Why deprovisioning is held (the workspace fails).
    deprovisioning_held: Option<String>,
    /// Why removals wait for a read that agrees with Graph's count (the workspace is partial).
    removals_waiting: Option<String>,
    external_ids: ExternalIdReport,
}

fn read_plan(plan: &Plan) -> PlanFacts {
    let held = plan.held_reason.clone();
    let (removals_waiting, deprovisioning_held) = if plan.held_to_wait {
        (held, None)
    } else {
        (None, held)
    };
    let ids = &plan.external_ids;
    PlanFacts {
        awaits_admins: plan.awaits_admins,
        existing_users: plan.existing - plan.existing_service_principals,
        existing_service_principals: plan.existing_service_principals,
        deprovisioning_held,
        removals_waiting,
        external_ids: ExternalIdReport {
            differ: ids.differ,
            differing: ids.differing.iter().map(ToString::to_string).collect(),
            absent: ids.absent,
        },
    }
}

/// The report's counts and actions, from what was desired, planned and applied.
fn record(report: &mut WorkspaceReport, desired: Desire, plan: &Plan, applied: Applied) {
    let facts = read_plan(plan);
    report.remaining = applied.deferred;
    report.removals_waiting = facts.removals_waiting;
    report.deprovisioning_held = facts.deprovisioning_held;
    report.external_ids = facts.external_ids;
    report.users = counts(desired.users, facts.existing_users, &applied.users);
    report.users.skipped = desired.skipped.len() as u64;
    // Failed group changes count here: every workspace has users, not every one service principals.
    report.users.failed += applied.failed_group_changes;
    report.service_principals = counts(
        desired.service_principals,
        facts.existing_service_principals,
        &applied.service_principals,
    );
    let mut actions = applied.actions;
    for skipped in desired.skipped {
        actions.push("skipMember", Outcome::Skipped, || {
            (skipped.member, Some(skipped.reason))
        });
    }
    (report.actions, report.omitted_actions) = actions.finish();
}

/// One kind of principal's counts.
fn counts(desired: usize, existing: u64, tally: &Tally) -> UserCounts {
    UserCounts {
        desired: desired as u64,
        existing: existing + tally.already_existing,
        created: tally.created,
        reactivated: tally.reactivated,
        deactivated: tally.deactivated,
        removed: tally.removed,
        skipped: 0,
        failed: tally.failed,
        account_deactivated: tally.account_deactivated,
    }
}
