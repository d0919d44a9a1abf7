//! `POST /SyncTimer`: a scheduled run of every workspace.
//!
//! All workspaces succeeded (or stopped with work left for the next run) → 200 with one `Logs` line per
//! workspace. Anything failed → the summary on stderr with the invocation id, then 500, so the portal
//! shows the invocation as Failed and the function's retry policy applies. A timer run waits for a
//! running HTTP run of the same workspaces instead of failing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::payload::InvocationResponse;
use super::{AppState, HostCall, invocation_span, log_failed_run, refuse};
use crate::sync::{RunRequest, Status, Trigger};

const FUNCTION: &str = "SyncTimer";

pub(super) async fn invoke(State(state): State<AppState>, call: HostCall) -> Response {
    let span = invocation_span(FUNCTION, call.invocation_id.as_deref());
    handle(state, call).instrument(span).await
}

async fn handle(state: AppState, call: HostCall) -> Response {
    let HostCall {
        invocation_id: invocation,
        invocation: payload,
    } = call;
    let id = invocation.as_deref();
    let timer = match payload.timer() {
        Ok(timer) => timer,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, FUNCTION, id, &e.to_string()),
    };
    let retry = payload.retry_context();
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

    let runner = match &state.runner {
        Ok(runner) => runner,
        Err(misconfiguration) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                FUNCTION,
                id,
                &misconfiguration.text(),
            );
        }
    };
    let request = RunRequest {
        trigger: Trigger::Timer,
        invocation_id: invocation.clone(),
        workspaces: Vec::new(),
        dry_run: false,
        allow_deprovision: false,
    };
    let report = match runner.run(request, true).await {
        Ok(report) => report,
        // Unreachable with no names and waiting, but answered properly rather than assumed.
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                FUNCTION,
                id,
                &e.to_string(),
            );
        }
    };
    let lines: Vec<String> = report.workspaces.iter().map(|w| w.summary_line()).collect();
    if report.status == Status::Failed {
        let error = log_failed_run(FUNCTION, id, &report);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": error, "report": report })),
        )
            .into_response();
    }
    Json(InvocationResponse {
        logs: lines,
        ..InvocationResponse::default()
    })
    .into_response()
}
