//! The sync core: one entry point ([`Runner::run`]) shared by `SyncTimer`, `SyncHttp` and `handler sync`.
//!
//! The runner owns what is common to every run (workspace selection, one-run-per-workspace, panic
//! isolation, the report); the [`Engine`] syncs one workspace. Until the Graph/SCIM engine lands,
//! production uses [`Unavailable`], which fails every workspace honestly without calling anything.

mod coordinator;
mod report;
mod runner;

pub use coordinator::{Busy, Claim, Coordinator, RunInfo};
pub use report::{
    ActionReport, GroupReport, Outcome, Report, Status, Trigger, UserCounts, WorkspaceReport,
};
pub use runner::{RunError, RunRequest, Runner};

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Workspace;

/// What every workspace sync of one run shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: Uuid,
    pub trigger: Trigger,
    pub invocation_id: Option<String>,
    pub dry_run: bool,
    pub started_at: OffsetDateTime,
}

/// Syncs one workspace. Implementations record per-item failures in the report and go on; they
/// never put a secret in the report.
#[async_trait::async_trait]
pub trait Engine: Send + Sync + 'static {
    async fn sync_workspace(&self, run: Arc<RunContext>, workspace: Workspace) -> WorkspaceReport;
}

/// The engine of this build: it stops where it would call Azure, and says so.
pub struct Unavailable;

#[async_trait::async_trait]
impl Engine for Unavailable {
    async fn sync_workspace(&self, _run: Arc<RunContext>, workspace: Workspace) -> WorkspaceReport {
        WorkspaceReport::failed(
            workspace.name,
            "this build has no sync engine yet: nothing was read from Microsoft Graph or Key Vault \
             and nothing was written to the workspace",
        )
    }
}
