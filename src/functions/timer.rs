//! `POST /SyncTimer`: a scheduled run of every workspace.
//!
//! All workspaces succeeded (or stopped with work left for the next run) → 200 with one `Logs` line per
//! workspace. Anything failed → the summary on stderr with the invocation id, then 500, so the portal
//! shows the invocation as Failed and the function's retry policy applies. A timer run waits for a
//! running HTTP run of the same workspaces instead of failing.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::payload::{InvocationResponse, RetryContext, TimerInfo};
use super::{AppState, HostCall, invocation_span, log_failed_run, refuse};
use crate::sync::{Report, RunRequest, Status, Trigger};

const FUNCTION: &str = "SyncTimer";

pub(super) async fn invoke(State(state): State<AppState>, call: HostCall) -> Response {
    let span = invocation_span(FUNCTION, call.invocation_id.as_deref());
    handle(state, call).instrument(span).await
}

async fn handle(state: AppState, call: HostCall) -> Response {
    let id = call.invocation_id.as_deref();
    let timer = match call.invocation.timer() {
        Ok(timer) => timer,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, FUNCTION, id, &e.to_string()),
    };
    log_fired(id, timer, call.invocation.retry_context());
    if state.timer_fanout {
        return fan_out(&state, id).await;
    }
    match run(&state, call.invocation_id.clone()).await {
        Ok(report) => answer(id, &report),
        Err(error) => refuse(StatusCode::INTERNAL_SERVER_ERROR, FUNCTION, id, &error),
    }
}

/// The line that says the timer fired: past due or not, the schedule monitor's times, the retry.
fn log_fired(id: Option<&str>, timer: TimerInfo, retry: Option<RetryContext>) {
    let status = timer.schedule_status.unwrap_or_default();
    tracing::info!(
        invocation_id = id.unwrap_or(""),
        is_past_due = timer.is_past_due,
        schedule_last = status.last.as_deref().unwrap_or(""),
        schedule_next = status.next.as_deref().unwrap_or(""),
        retry_count = retry.map_or(0, |r| r.retry_count),
        max_retry_count = retry.map_or(0, |r| r.max_retry_count),
        "SyncTimer fired{}",
        if timer.is_past_due {
            " (past due: catching up a missed occurrence)"
        } else {
            ""
        }
    );
}

/// Every workspace, waiting for runs that hold some of them; `Err` is the text of the 500 refusal
/// (an unusable configuration).
async fn run(state: &AppState, invocation: Option<String>) -> Result<Arc<Report>, String> {
    let runner = state
        .runner
        .as_ref()
        .map_err(|misconfiguration| misconfiguration.text())?;
    let request = RunRequest {
        trigger: Trigger::Timer,
        invocation_id: invocation,
        workspaces: Vec::new(),
        dry_run: false,
        allow_deprovision: false,
    };
    // An error is unreachable with no names and waiting, but answered properly rather than assumed.
    runner.run(request, true).await.map_err(|e| e.to_string())
}

/// `SYNC_TIMER_FANOUT`: one work-queue message per configured workspace (a workspace that already has
/// one waiting gets no second), each then synced by its own `SyncQueue` invocation. 500 if the storage
/// has no queue or a message could not be sent (the others are still sent).
async fn fan_out(state: &AppState, id: Option<&str>) -> Response {
    let runner = match state.runner.as_ref() {
        Ok(runner) => runner,
        Err(m) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, FUNCTION, id, &m.text()),
    };
    let Some(store) = runner.state() else {
        let error = "SYNC_TIMER_FANOUT needs the app's storage account (identity-based AzureWebJobsStorage) for its work queue";
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, FUNCTION, id, error);
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    let sends = runner.config().workspaces.iter().map(|w| {
        let message = crate::state::work::WorkMessage {
            workspace: w.name.to_string(),
            reason: crate::state::work::Reason::Timer,
            groups: Vec::new(),
            requested_at: now.clone(),
        };
        async move {
            (
                message.workspace.clone(),
                store.enqueue(&message, true).await,
            )
        }
    });
    let (mut queued, mut waiting, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (workspace, sent) in futures::future::join_all(sends).await {
        match sent {
            Ok(true) => queued.push(workspace),
            Ok(false) => waiting.push(workspace),
            Err(e) => failed.push(format!("{workspace}: {e}")),
        }
    }
    let line = format!(
        "fanned out: queued {} workspace(s), {} already waiting",
        queued.len(),
        waiting.len()
    );
    tracing::info!(invocation_id = id.unwrap_or(""), queued = ?queued, waiting = ?waiting, "{FUNCTION} {line}");
    if failed.is_empty() {
        Json(InvocationResponse {
            logs: vec![line],
            ..InvocationResponse::default()
        })
        .into_response()
    } else {
        let error = format!(
            "{line}; {} could not be queued:\n  - {}",
            failed.len(),
            failed.join("\n  - ")
        );
        refuse(StatusCode::INTERNAL_SERVER_ERROR, FUNCTION, id, &error)
    }
}

/// 200 with one `Logs` line per workspace; a failed run: the summary on stderr, then 500.
fn answer(id: Option<&str>, report: &Report) -> Response {
    if report.status == Status::Failed {
        let error = log_failed_run(FUNCTION, id, report);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": error, "report": report })),
        )
            .into_response();
    }
    let lines: Vec<String> = report.workspaces.iter().map(|w| w.summary_line()).collect();
    Json(InvocationResponse {
        logs: lines,
        ..InvocationResponse::default()
    })
    .into_response()
}
