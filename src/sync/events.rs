//! The structured trace of a run: one JSON line per workspace (`workspaceSynced`), one per failed
//! action (`actionFailed`), one per workspace whose deprovisioning was held (`deprovisioningHeld`) and
//! one per run (`runFinished`), with stable field names at the top level.
//! The Functions host forwards stdout lines to Application Insights as traces; `docs/monitoring.md`, the
//! workbook (`infra/workbook/sync-workbook.json`) and the alert rules query these fields, and `tests.rs`
//! checks that every field they read is written here. Renaming a field breaks operators' queries: add,
//! never rename. Held changes are counted by kind ([`super::report::ActionKind::can_be_held`]), never
//! by the spelling of their names.

use super::report::{ActionReport, Outcome, Report, Status, WorkspaceReport};

#[cfg(test)]
mod tests;

/// What every event of a run carries; `run_event!` writes it first, after the event's name.
struct Run<'a> {
    run_id: String,
    trigger: String,
    invocation_id: &'a str,
    dry_run: bool,
}

/// `tracing::info!` with the event's name and the run's fields, then `$rest` (fields and message).
macro_rules! run_event {
    ($run:expr, $event:literal, $($rest:tt)*) => {
        tracing::info!(
            event = $event,
            run_id = $run.run_id.as_str(),
            trigger = $run.trigger.as_str(),
            invocation_id = $run.invocation_id,
            dry_run = $run.dry_run,
            $($rest)*
        )
    };
}

fn count(map: &std::collections::BTreeMap<String, u64>, api: &str) -> u64 {
    map.get(api).copied().unwrap_or(0)
}

/// Writes the run's events (Information, stdout in `serve`). `max_run_seconds` is the run's time budget
/// (`SYNC_MAX_RUN_SECONDS`) when the engine has one; `runFinished` carries it so that a run's duration can
/// be read against it (the dashboard in `infra/workbook/`).
pub fn emit(report: &Report, max_run_seconds: Option<u64>) {
    let run = Run {
        run_id: report.run_id.to_string(),
        trigger: report.trigger.to_string(),
        invocation_id: report.invocation_id.as_deref().unwrap_or(""),
        dry_run: report.dry_run,
    };
    // The account's part of the run (account mode) is written as a workspace named after the account
    // id, so the dashboard and the alerts see it without a query of their own.
    for ws in report.workspaces.iter().chain(&report.account) {
        workspace_synced(&run, ws);
        deprovisioning_held(&run, ws);
        for action in ws.actions.iter().filter(|a| a.outcome == Outcome::Failed) {
            action_failed(&run, ws, action);
        }
    }
    run_finished(&run, report, max_run_seconds);
}

fn workspace_synced(run: &Run<'_>, ws: &WorkspaceReport) {
    let (u, sp) = (&ws.users, &ws.service_principals);
    run_event!(
        run,
        "workspaceSynced",
        workspace = ws.name.as_str(),
        status = ws.status.as_str(),
        error = ws.error.as_deref().unwrap_or(""),
        desired = u.desired,
        existing = u.existing,
        created = u.created,
        reactivated = u.reactivated,
        skipped = u.skipped,
        failed = u.failed,
        account_deactivated = u.account_deactivated,
        deactivated = u.deactivated,
        removed = u.removed,
        sp_desired = sp.desired,
        sp_created = sp.created,
        sp_reactivated = sp.reactivated,
        sp_deactivated = sp.deactivated,
        sp_removed = sp.removed,
        sp_failed = sp.failed,
        remaining = ws.remaining,
        duration_ms = ws.duration_ms,
        requests_graph = count(&ws.requests, "graph"),
        requests_databricks = count(&ws.requests, "databricks"),
        requests_keyvault = count(&ws.requests, "keyVault"),
        "{}",
        ws.summary_line()
    );
}

/// Removals that wait for Graph's count to agree are held the same way (the workspace is then
/// `partial`, not failed): one event for both, the reason telling them apart.
fn deprovisioning_held(run: &Run<'_>, ws: &WorkspaceReport) {
    let Some(reason) = (ws.deprovisioning_held.as_ref()).or(ws.removals_waiting.as_ref()) else {
        return;
    };
    tracing::info!(
        event = "deprovisioningHeld",
        run_id = run.run_id.as_str(),
        workspace = ws.name.as_str(),
        held = held(ws, reason),
        reason = reason.as_str(),
        "{}: {reason}",
        ws.name
    );
}

/// How many changes were held: held ones are the only skipped changes of a kind that can be held with
/// this reason as their detail; beyond the report's cap they are counted, not listed.
fn held(ws: &WorkspaceReport, reason: &str) -> u64 {
    let listed = (ws.actions.iter())
        .filter(|a| a.outcome == Outcome::Skipped && a.detail.as_deref() == Some(reason))
        .count() as u64;
    let omitted: u64 = (ws.omitted_actions.iter())
        .filter(|o| o.outcome == Outcome::Skipped && o.kind.can_be_held())
        .map(|o| o.count)
        .sum();
    listed + omitted
}

fn action_failed(run: &Run<'_>, ws: &WorkspaceReport, action: &ActionReport) {
    tracing::info!(
        event = "actionFailed",
        run_id = run.run_id.as_str(),
        workspace = ws.name.as_str(),
        action = action.kind.as_str(),
        target = action.target.as_str(),
        detail = action.detail.as_deref().unwrap_or(""),
        reason = action.reason.map_or("", |r| r.as_str()),
        "{} {} failed in {}",
        action.kind,
        action.target,
        ws.name
    );
}

fn run_finished(run: &Run<'_>, report: &Report, max_run_seconds: Option<u64>) {
    let failed = (report.workspaces.iter())
        .filter(|w| w.status == Status::Failed)
        .count();
    run_event!(
        run,
        "runFinished",
        status = report.status.as_str(),
        duration_ms = report.duration_ms,
        workspaces = report.workspaces.len(),
        failed_workspaces = failed,
        max_run_seconds,
        "run {} {} in {} ms",
        report.run_id,
        report.status.as_str(),
        report.duration_ms
    );
}
