//! The structured trace of a run: one JSON line per workspace (`workspaceSynced`), one per failed
//! action (`actionFailed`), one per workspace whose deprovisioning was held (`deprovisioningHeld`) and
//! one per run (`runFinished`), with stable field names at the top level.
//! The Functions host forwards stdout lines to Application Insights as traces; `docs/monitoring.md`, the
//! workbook (`infra/workbook/sync-workbook.json`) and the alert rules query these fields, and `tests.rs`
//! checks that every field they read is written here. Renaming a field breaks operators' queries: add,
//! never rename.

use super::report::{Outcome, Report, Status};

#[cfg(test)]
mod tests;

fn count(map: &std::collections::BTreeMap<String, u64>, api: &str) -> u64 {
    map.get(api).copied().unwrap_or(0)
}

/// Writes the run's events (Information, stdout in `serve`). `max_run_seconds` is the run's time budget
/// (`SYNC_MAX_RUN_SECONDS`) when the engine has one; `runFinished` carries it so that a run's duration can
/// be read against it (the dashboard in `infra/workbook/`).
pub fn emit(report: &Report, max_run_seconds: Option<u64>) {
    let run_id = report.run_id.to_string();
    let trigger = report.trigger.to_string();
    let invocation_id = report.invocation_id.as_deref().unwrap_or("");
    for ws in &report.workspaces {
        let u = &ws.users;
        let sp = &ws.service_principals;
        tracing::info!(
            event = "workspaceSynced",
            run_id,
            trigger,
            invocation_id,
            dry_run = report.dry_run,
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
        // Removals that wait for Graph's count to agree are held the same way (the workspace is then
        // `partial`, not failed): one event for both, the reason telling them apart.
        if let Some(reason) = ws
            .deprovisioning_held
            .as_ref()
            .or(ws.removals_waiting.as_ref())
        {
            // Held actions are the only skipped deprovisionings, removals from groups and entitlement
            // changes (the last two held only after an incomplete Entra read); beyond the report's cap
            // they are counted, not listed.
            let listed = ws
                .actions
                .iter()
                .filter(|a| a.outcome == Outcome::Skipped && a.detail.as_deref() == Some(reason))
                .count() as u64;
            let omitted: u64 = ws
                .omitted_actions
                .iter()
                .filter(|o| {
                    o.outcome == Outcome::Skipped
                        && (o.kind.starts_with("deactivate")
                            || o.kind.starts_with("remove")
                            || o.kind == "addEntitlements")
                })
                .map(|o| o.count)
                .sum();
            let held = listed + omitted;
            tracing::info!(
                event = "deprovisioningHeld",
                run_id,
                workspace = ws.name.as_str(),
                held,
                reason = reason.as_str(),
                "{}: {reason}",
                ws.name
            );
        }
        for action in ws.actions.iter().filter(|a| a.outcome == Outcome::Failed) {
            tracing::info!(
                event = "actionFailed",
                run_id,
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
    }
    let failed = report
        .workspaces
        .iter()
        .filter(|w| w.status == Status::Failed)
        .count();
    tracing::info!(
        event = "runFinished",
        run_id,
        trigger,
        invocation_id,
        dry_run = report.dry_run,
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
