//! Who is syncing which workspace right now, in this process, and the last finished report.
//!
//! Invariant: a workspace is held by at most one run at a time. A claim is all-or-nothing and is
//! released when its [`Claim`] is dropped, so a run that fails or panics can never leave a workspace held.
//! HTTP runs `try_claim` (and answer 409 when busy); timer runs `claim` and wait. Waiters never hold
//! part of a claim while waiting, so two waiting runs cannot deadlock.
//! This is in-process only; across instances (Flex Consumption runs the timer and HTTP functions on
//! separate ones) the runner also takes each workspace's blob lease (`state/lease.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use uuid::Uuid;

use super::RunContext;
use super::report::Report;
use crate::config::WorkspaceName;

/// A requested workspace is held by another run.
#[derive(Debug, Clone)]
pub struct Busy {
    pub workspace: WorkspaceName,
    pub holder: Arc<RunContext>,
}

#[derive(Default)]
struct State {
    /// Workspace → id of the run holding it.
    held: HashMap<WorkspaceName, Uuid>,
    running: HashMap<Uuid, Arc<RunContext>>,
    last_report: Option<Arc<Report>>,
}

/// Shared by every run of one process.
#[derive(Default)]
pub struct Coordinator {
    state: Mutex<State>,
    released: Notify,
}

impl Coordinator {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    // The state is plain data updated in single statements: a panic elsewhere cannot leave it half-written.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims every workspace of `run` at once, or none.
    ///
    /// # Errors
    /// [`Busy`] naming the first requested workspace that another run holds.
    pub fn try_claim(self: &Arc<Self>, run: &Arc<RunContext>) -> Result<Claim, Busy> {
        let mut state = self.lock();
        for name in &run.workspaces {
            if let Some(holder) = state.held.get(name).and_then(|id| state.running.get(id)) {
                return Err(Busy {
                    workspace: name.clone(),
                    holder: Arc::clone(holder),
                });
            }
        }
        for name in &run.workspaces {
            state.held.insert(name.clone(), run.run_id);
        }
        let run_id = run.run_id;
        state.running.insert(run_id, Arc::clone(run));
        Ok(Claim {
            coordinator: Arc::clone(self),
            run_id,
        })
    }

    /// Claims every workspace of `run`, waiting for the runs that hold some of them to finish.
    pub async fn claim(self: &Arc<Self>, run: &Arc<RunContext>) -> Claim {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Register before checking, so a release between the check and the wait is not missed.
            released.as_mut().enable();
            match self.try_claim(run) {
                Ok(claim) => return claim,
                Err(busy) => {
                    tracing::info!(
                        run_id = %run.run_id,
                        waiting_for = %busy.holder.run_id,
                        workspace = %busy.workspace,
                        "waiting for a running run to release a workspace"
                    );
                    released.await;
                }
            }
        }
    }

    /// The runs in progress, oldest first (as `GET /api/SyncHttp` shows them).
    pub fn running(&self) -> Vec<Arc<RunContext>> {
        let mut runs: Vec<Arc<RunContext>> = self.lock().running.values().cloned().collect();
        runs.sort_by_key(|r| r.started_at);
        runs
    }

    pub fn last_report(&self) -> Option<Arc<Report>> {
        self.lock().last_report.clone()
    }

    pub fn record(&self, report: Report) -> Arc<Report> {
        let report = Arc::new(report);
        self.lock().last_report = Some(Arc::clone(&report));
        report
    }

    fn release(&self, run_id: Uuid) {
        {
            let mut state = self.lock();
            state.held.retain(|_, holder| *holder != run_id);
            state.running.remove(&run_id);
        }
        self.released.notify_waiters();
    }
}

/// Holds the workspaces of one run until dropped.
pub struct Claim {
    coordinator: Arc<Coordinator>,
    run_id: Uuid,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.coordinator.release(self.run_id);
    }
}
