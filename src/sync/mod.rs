//! The sync core: one entry point ([`Runner::run`]) shared by `SyncTimer`, `SyncHttp` and `handler sync`.
//!
//! The runner owns what is common to every run (workspace selection, one-run-per-workspace, panic
//! isolation, the report); the [`Engine`] starts a [`RunScope`] per run, which syncs one workspace at a
//! time: gather (Key Vault, Graph, SCIM) → `desired` → `plan` (pure) → `apply` → report. What a run is
//! ([`RunContext`]) is made once from the request and shared by `Arc`.

mod account;
pub mod admins;
mod apply;
mod coordinator;
mod current;
pub mod desired;
mod engine;
mod errors;
mod events;
mod gather;
mod groups;
mod lifecycle;
mod memo;
pub mod plan;
mod report;
mod runner;

pub use coordinator::{Busy, Claim, Coordinator};
pub use engine::AzureEngine;
pub use errors::StartError;
pub use report::{
    ActionList, ActionReport, GroupReport, MAX_LISTED_ACTIONS, OmittedActions, Outcome, Report,
    Status, Trigger, UserCounts, WorkspaceReport,
};
pub use runner::{RunError, RunRequest, Runner};

use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::{Workspace, WorkspaceName};

/// What a run is: made once from its [`RunRequest`], then shared by `Arc` with the coordinator (which
/// shows it to `GET /api/SyncHttp` as it is serialised here), the engine and every workspace's sync; the
/// report copies the fields it shows in one place (`runner.rs`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunContext {
    pub run_id: Uuid,
    pub trigger: Trigger,
    pub invocation_id: Option<String>,
    pub dry_run: bool,
    /// The operator confirmed deprovisioning beyond `maxDeprovision` for this run.
    pub allow_deprovision: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The workspaces the run syncs.
    pub workspaces: Vec<WorkspaceName>,
    /// The run's workspaces whose identities live in the Databricks account (`identities: "account"`),
    /// and the account; `None` when it has none.
    #[serde(skip)]
    pub account: Option<Arc<AccountScope>>,
}

/// The workspaces of a run with `identities: "account"`: their principals are synced once, at the
/// account, before each is given its assignments (`account.rs`).
#[derive(Debug, Clone)]
pub struct AccountScope {
    pub account: crate::config::Account,
    /// The run's workspaces in account mode, in configuration order, each with its workspace id.
    pub workspaces: Vec<(Workspace, u64)>,
    /// The run has every account-mode workspace of the configuration: only then is anyone
    /// deprovisioned at the account (a principal nobody wants any more).
    pub complete: bool,
    /// The configuration's workspace-mode workspaces: a principal one of them wants is never
    /// deprovisioned at the account (an identity-federated workspace shares the account's users).
    pub others: Vec<Workspace>,
}

/// Starts runs. The production engine is [`AzureEngine`]; tests script their own.
pub trait Engine: Send + Sync + 'static {
    /// What the workspaces of one run share (caches of reads); dropped when the run ends.
    fn start_run(&self, run: Arc<RunContext>) -> Arc<dyn RunScope>;

    /// The run's time budget in seconds (`SYNC_MAX_RUN_SECONDS`), if this engine has one: written in the
    /// `runFinished` event.
    fn max_run_seconds(&self) -> Option<u64> {
        None
    }
}

/// Syncs the workspaces of one run. Implementations record per-item failures in the report and go
/// on; they never put a secret in the report.
#[async_trait::async_trait]
pub trait RunScope: Send + Sync + 'static {
    async fn sync_workspace(&self, workspace: Workspace) -> WorkspaceReport;

    /// Once every workspace is synced: the report of what the run did in the Databricks account, if
    /// it had workspaces with `identities: "account"`.
    fn finish(&self) -> Option<WorkspaceReport> {
        None
    }
}
