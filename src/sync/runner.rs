//! Runs one sync: selects workspaces, claims them, syncs each in its own task, and builds the report.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use super::coordinator::{Busy, Claim, Coordinator};
use super::report::{Report, Status, Trigger, WorkspaceReport};
use super::{AccountScope, Engine, RunContext, RunScope, events};
use crate::config::{Config, Identities, Workspace, WorkspaceName};
use crate::state::{Holder, Lease, Locked, StateStore, Taken};

/// How many workspaces one run syncs at the same time. Each has its own SCIM rate limit, so a run's
/// time is that of its largest workspace while they all fit; memory grows with it (each holds its lists).
const WORKSPACE_CONCURRENCY: usize = 8;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub trigger: Trigger,
    pub invocation_id: Option<String>,
    /// Workspace names as given by the caller; empty means every configured workspace.
    pub workspaces: Vec<String>,
    pub dry_run: bool,
    /// Confirms deprovisioning beyond the configured limit (`SyncHttp` `allowDeprovision`).
    pub allow_deprovision: bool,
}

/// Why a run did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown workspace {}; configured: {}", quoted(.unknown), quoted(.known))]
    UnknownWorkspaces {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    #[error(
        "workspace \"{}\" is being synced by run {} (trigger {}, started {})",
        .0.workspace, .0.holder.run_id, .0.holder.trigger, rfc3339(.0.holder.started_at)
    )]
    Busy(Box<Busy>),
    /// Held by a run of another instance (its lease in the storage account).
    #[error("{locked} is being synced {}", elsewhere(.holder.as_ref()))]
    BusyElsewhere {
        locked: Locked,
        holder: Option<Holder>,
    },
}

fn elsewhere(holder: Option<&Holder>) -> String {
    match holder {
        Some(h) => format!(
            "by run {} (trigger {}, started {}) on instance {}",
            h.run_id, h.trigger, h.started_at, h.instance
        ),
        None => {
            "by a run of another instance (its lease is held; the holder has not named itself yet)"
                .to_owned()
        }
    }
}

/// How often a run that must wait tries again for a workspace another instance holds.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_secs(5);

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// The report of `run`: the run's own fields are copied here, and only here.
fn report(
    run: &RunContext,
    duration_ms: u64,
    workspaces: Vec<WorkspaceReport>,
    account: Option<WorkspaceReport>,
) -> Report {
    let statuses = workspaces.iter().chain(&account).map(|w| w.status);
    Report {
        run_id: run.run_id,
        trigger: run.trigger,
        invocation_id: run.invocation_id.clone(),
        dry_run: run.dry_run,
        started_at: run.started_at,
        duration_ms,
        status: Status::combine(statuses),
        workspaces,
        account,
    }
}

fn failed_run(run: &RunContext, cause: &str) -> Report {
    let workspaces = (run.workspaces.iter())
        .map(|name| WorkspaceReport::failed(name.clone(), cause))
        .collect();
    let mut report = report(run, 0, workspaces, None);
    report.status = Status::Failed;
    report
}

/// Shared by every run of one process (cheap to clone).
#[derive(Clone)]
pub struct Runner {
    config: Arc<Config>,
    engine: Arc<dyn Engine>,
    coordinator: Arc<Coordinator>,
    /// The state shared with other instances (leases, last reports); `None`: this process only.
    state: Option<Arc<StateStore>>,
}

impl Runner {
    pub fn new(config: Arc<Config>, engine: Arc<dyn Engine>) -> Self {
        Runner {
            config,
            engine,
            coordinator: Coordinator::new(),
            state: None,
        }
    }

    /// Coordinates with other instances through `state` (a lease per workspace) and keeps the
    /// reports there.
    #[must_use]
    pub fn with_state(mut self, state: Arc<StateStore>) -> Self {
        self.state = Some(state);
        self
    }

    /// The shared state, if the runner has one.
    pub fn state(&self) -> Option<&Arc<StateStore>> {
        self.state.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn coordinator(&self) -> &Arc<Coordinator> {
        &self.coordinator
    }

    /// Runs a sync. With `wait`, waits for runs holding the same workspaces; without, answers
    /// [`RunError::Busy`] at once.
    ///
    /// # Errors
    /// Unknown workspace names, or (without `wait`) a requested workspace held by another run.
    pub async fn run(&self, request: RunRequest, wait: bool) -> Result<Arc<Report>, RunError> {
        let workspaces = self.select(&request.workspaces)?;
        let run = Arc::new(RunContext {
            run_id: Uuid::new_v4(),
            trigger: request.trigger,
            invocation_id: request.invocation_id,
            dry_run: request.dry_run,
            allow_deprovision: request.allow_deprovision,
            started_at: OffsetDateTime::now_utc(),
            workspaces: workspaces.iter().map(|w| w.name.clone()).collect(),
            account: self.account_scope(&workspaces),
        });
        let span = run_span(
            &run.run_id,
            run.trigger,
            run.invocation_id.as_deref(),
            run.dry_run,
        );
        let claim: Claim = if wait {
            self.coordinator.claim(&run).instrument(span.clone()).await
        } else {
            self.coordinator
                .try_claim(&run)
                .map_err(|b| RunError::Busy(Box::new(b)))?
        };
        let leases = match self.take_leases(&run, wait).instrument(span.clone()).await {
            Ok(leases) => leases,
            Err(Leasing::Busy(e)) => return Err(e),
            Err(Leasing::Failed(cause)) => {
                let report = failed_run(&run, &cause);
                events::emit(&report, self.engine.max_run_seconds());
                // Kept here only: the storage that would keep it for the others is what failed.
                return Ok(self.coordinator.record(report));
            }
        };
        if run.trigger == Trigger::Queue {
            self.clear_pending(&run).await;
        }
        // The run is its own task holding the claim: if the caller goes away (a client disconnects),
        // the run still finishes and only then releases its workspaces.
        let runner = self.clone();
        let shared = Arc::clone(&run);
        let task = tokio::spawn(
            async move {
                let report = runner.run_claimed(shared, workspaces, leases).await;
                drop(claim);
                report
            }
            .instrument(span),
        );
        // Workspace panics are caught below `run_claimed`; this only guards against a bug above them.
        Ok(task.await.unwrap_or_else(|join| {
            let cause = format!("internal error: the run task ended abnormally ({join})");
            Arc::new(failed_run(&run, &cause))
        }))
    }

    fn select(&self, names: &[String]) -> Result<Vec<Workspace>, RunError> {
        if names.is_empty() {
            return Ok(self.config.workspaces.clone());
        }
        let mut selected: Vec<Workspace> = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            match self.config.workspace(name) {
                Some(ws) if !selected.iter().any(|s| s.name == ws.name) => {
                    selected.push(ws.clone())
                }
                Some(_) => {}
                None => unknown.push(name.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(selected)
        } else {
            let known = self
                .config
                .workspaces
                .iter()
                .map(|w| w.name.to_string())
                .collect();
            Err(RunError::UnknownWorkspaces { unknown, known })
        }
    }

    /// The run's workspaces in account mode, with the account (validation made sure there is one and
    /// that each has a workspace id).
    fn account_scope(&self, workspaces: &[Workspace]) -> Option<Arc<AccountScope>> {
        let account = self.config.account.as_ref()?;
        let in_account: Vec<(Workspace, u64)> = (workspaces.iter())
            .filter(|w| w.options.identities == Identities::Account)
            .filter_map(|w| Some((w.clone(), w.workspace_id?)))
            .collect();
        let configured = (self.config.workspaces.iter())
            .filter(|w| w.options.identities == Identities::Account)
            .count();
        let others = (self.config.workspaces.iter())
            .filter(|w| w.options.identities == Identities::Workspace)
            .cloned()
            .collect();
        (!in_account.is_empty()).then(|| {
            Arc::new(AccountScope {
                account: account.clone(),
                complete: in_account.len() == configured,
                workspaces: in_account,
                others,
            })
        })
    }

    /// Every workspace of `run`'s lease, and the account's when the run has account-mode workspaces
    /// (their principals at the account are one shared part), all or none, in one order; with `wait`,
    /// tried again every [`LEASE_POLL`] while another instance holds one (never holding some while
    /// waiting).
    async fn take_leases(
        &self,
        run: &RunContext,
        wait: bool,
    ) -> Result<Vec<(Locked, Lease)>, Leasing> {
        let Some(state) = &self.state else {
            return Ok(Vec::new());
        };
        let holder = Holder {
            run_id: run.run_id.to_string(),
            trigger: run.trigger.to_string(),
            started_at: rfc3339(run.started_at),
            instance: state.instance().to_owned(),
        };
        let mut names: Vec<Locked> = (run.workspaces.iter().cloned())
            .map(Locked::Workspace)
            .chain(run.account.is_some().then_some(Locked::Account))
            .collect();
        names.sort();
        let mut said = false;
        loop {
            let mut held = Vec::with_capacity(names.len());
            let mut busy = None;
            for name in &names {
                match state.try_lease(name, &holder).await {
                    Ok(Taken::Held(lease)) => held.push((name.clone(), lease)),
                    Ok(Taken::Busy(holder)) => {
                        busy = Some((name.clone(), holder));
                        break;
                    }
                    Err(e) => {
                        release_all(held).await;
                        return Err(Leasing::Failed(format!(
                            "the run could not take the workspaces' leases, which keep one sync \
                             per workspace across instances: {e}"
                        )));
                    }
                }
            }
            let Some((locked, holder)) = busy else {
                return Ok(held);
            };
            release_all(held).await;
            if !wait {
                return Err(Leasing::Busy(RunError::BusyElsewhere { locked, holder }));
            }
            if !said {
                said = true;
                tracing::info!(
                    "waiting for another instance's run to release {locked}: {}",
                    elsewhere(holder.as_ref())
                );
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    /// A queued run holds its workspaces now: a notification from here on queues the next sync (this
    /// one reads Entra after this point, so it covers the ones before).
    async fn clear_pending(&self, run: &RunContext) {
        let Some(state) = &self.state else {
            return;
        };
        for name in &run.workspaces {
            if let Err(e) = state.clear_pending(&name.to_string()).await {
                tracing::warn!(
                    workspace = %name,
                    "the workspace's pending marker was not cleared ({e}); notifications within the next \
                     {} minutes may not queue a new sync (the timer's run converges)",
                    crate::state::PENDING_STALE.whole_minutes()
                );
            }
        }
    }

    async fn run_claimed(
        &self,
        run: Arc<RunContext>,
        workspaces: Vec<Workspace>,
        mut leases: Vec<(Locked, Lease)>,
    ) -> Arc<Report> {
        let clock = Instant::now();
        tracing::info!(workspaces = workspaces.len(), "run started");
        let scope = self.engine.start_run(Arc::clone(&run));
        let reports: Vec<WorkspaceReport> = futures::stream::iter(workspaces)
            .map(|ws| {
                let lease = (leases.iter())
                    .position(
                        |(locked, _)| matches!(locked, Locked::Workspace(name) if *name == ws.name),
                    )
                    .map(|at| leases.swap_remove(at).1);
                sync_leased(Arc::clone(&scope), ws, lease)
            })
            .buffered(WORKSPACE_CONCURRENCY)
            .collect()
            .await;
        // What is left is the account's lease: its part is done with the last workspace.
        release_all(leases).await;
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let report = report(&run, duration_ms, reports, scope.finish());
        // Information only: whoever handles the report decides whether a failure is an error to log.
        events::emit(&report, self.engine.max_run_seconds());
        if let Some(state) = &self.state
            && let Err(e) = state.record(&report).await
        {
            tracing::error!("the run's report was not kept for other instances: {e}");
        }
        // Shared with the coordinator (the last report), not copied: a large first sync's report is big.
        self.coordinator.record(report)
    }
}

/// Why a run did not take its leases.
enum Leasing {
    Busy(RunError),
    /// The storage account could not be used: every workspace of the run fails with this cause.
    Failed(String),
}

async fn release_all(leases: Vec<(Locked, Lease)>) {
    futures::future::join_all(leases.into_iter().map(|(_, lease)| lease.release())).await;
}

/// Syncs one workspace under its lease (if the run has one): released as soon as the workspace is
/// done; if it is lost, the sync is stopped and the workspace fails (another instance may take it).
async fn sync_leased(
    scope: Arc<dyn RunScope>,
    workspace: Workspace,
    lease: Option<Lease>,
) -> WorkspaceReport {
    let Some(lease) = lease else {
        return sync_isolated(scope, workspace).await;
    };
    let name = workspace.name.clone();
    let mut lost = lease.lost();
    let clock = Instant::now();
    let sync = sync_isolated(scope, workspace);
    tokio::pin!(sync);
    let report = tokio::select! {
        report = &mut sync => report,
        reason = async {
            loop {
                if let Some(reason) = lost.borrow_and_update().clone() {
                    return reason;
                }
                if lost.changed().await.is_err() {
                    // The renewer ended without a word (aborted): the sync decides.
                    std::future::pending::<()>().await;
                }
            }
        } => {
            tracing::error!(workspace = %name, "stopped: {reason}");
            let mut report = WorkspaceReport::failed(name, format!("stopped: {reason}"));
            report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
            report
        }
    };
    lease.release().await;
    report
}

/// Syncs one workspace in its own task, so that a panic fails that workspace only.
async fn sync_isolated(scope: Arc<dyn RunScope>, workspace: Workspace) -> WorkspaceReport {
    let name: WorkspaceName = workspace.name.clone();
    let span = tracing::info_span!("workspace", workspace = %name);
    let clock = Instant::now();
    let task = tokio::spawn(async move { scope.sync_workspace(workspace).await }.instrument(span));
    let mut report = match task.await {
        Ok(report) => report,
        Err(join) => {
            let cause = if join.is_panic() {
                let payload = join.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned());
                format!("internal error: the sync of this workspace panicked ({message})")
            } else {
                "internal error: the sync of this workspace was cancelled".to_owned()
            };
            WorkspaceReport::failed(name, cause)
        }
    };
    report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

/// The span every line of a run is written in (its fields are under `span` in the JSON lines, which the
/// dashboard and the alerts may read: `events/tests.rs` emits inside this same span).
pub(crate) fn run_span(
    run_id: &Uuid,
    trigger: Trigger,
    invocation_id: Option<&str>,
    dry_run: bool,
) -> tracing::Span {
    tracing::info_span!(
        "run",
        run_id = %run_id,
        trigger = %trigger,
        invocation_id = invocation_id.unwrap_or(""),
        dry_run = dry_run,
    )
}
