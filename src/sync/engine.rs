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

use super::account::AccountRun;
use super::apply::{Applied, Budget, Ids, apply};
use super::current::read_nested_admins;
use super::errors::{SignInError, StartError, SyncError};
use super::gather::Gathered;
use super::lifecycle::{RunMemory, WorkspaceMemory};
use super::memo::Memo;
use super::plan::{Plan, plan};
use super::report::{Status, Wanted, WorkspaceReport};
use super::{Engine, RunContext, RunScope};
use crate::auth::Identity;
use crate::config::{Identities, Workspace};
use crate::entra::{Graph, GraphError, Group};
use crate::http::Requests;
use crate::keyvault::{SecretError, Secrets};
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
    pub(super) deadline: Instant,
    pub(super) max_run_seconds: u64,
    /// The account's part of the run (`identities: "account"`), run once for its workspaces.
    pub(super) account: AccountRun,
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
            account: AccountRun::default(),
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
        // An account-mode workspace's memory is claimed by the account's part of the run, which makes
        // its desired principals.
        let in_account = workspace.options.identities == Identities::Account;
        let mut memory = (!in_account).then(|| self.memory.workspace_started());
        let requests = Requests::default();
        let mut report = WorkspaceReport::failed(workspace.name.clone(), "");
        let max_run_seconds = self.max_run_seconds;
        let outcome = if Instant::now() >= self.deadline {
            Err(SyncError::NotStarted { max_run_seconds })
        } else {
            // The hard stop: a call still waiting when even the grace is spent must not outlive the
            // host's functionTimeout, which would kill the process and lose every report of the run.
            let grace = hard_stop_grace(Duration::from_secs(max_run_seconds));
            let sync = async {
                match memory.as_mut() {
                    Some(memory) => self.sync(&workspace, &requests, &mut report, memory).await,
                    None => (self.sync_in_account(&workspace, &requests, &mut report)).await,
                }
            };
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
        if let Some(memory) = memory {
            memory.workspace_done();
        }
        settle(&mut report, outcome);
        report
    }

    fn finish(&self) -> Option<WorkspaceReport> {
        self.account.take_report()
    }
}

/// The workspace's status and error from how its sync ended and what its report counts.
fn settle(report: &mut WorkspaceReport, outcome: Result<(), SyncError>) {
    // A sync that ran to its end was settled by `WorkspaceReport::settle`, from its plan and counts.
    let Err(error) = outcome else { return };
    report.status = if error.is_deferred() {
        Status::Partial
    } else {
        Status::Failed
    };
    report.error = Some(error.to_string());
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
        let desired = gathered.desired;
        let wanted = Wanted {
            users: desired.users as u64,
            service_principals: desired.service_principals as u64,
            skipped: desired.skipped,
        };
        report.settle(&plan, applied, wanted);
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
        if planned.awaits_admins() {
            memory.plan_superseded(planned);
            read_nested_admins(scim, current, requests).await;
            planned = plan(&principals, &desired.groups, current, policy);
        }
        memory.plan_made(principals);
        planned
    }

    async fn apply(&self, plan: &Plan, gathered: &Gathered, requests: &Requests) -> Applied {
        let budget = Budget::new(self.deadline, self.max_run_seconds);
        let (current, scim) = (&gathered.current, &gathered.scim);
        let dry_run = self.run.dry_run;
        apply(plan, current, scim, requests, dry_run, &budget, Ids::Drop).await
    }
}
