//! `POST /SyncQueue`: one workspace from the work queue (`state::work::WorkMessage`), so each
//! workspace's sync is its own invocation in the portal, with its own retries and the poison queue.
//!
//! The run waits for the workspace's lease like a timer run (another instance may be syncing it); once
//! it holds it, the workspace's pending marker is cleared (`Runner`), so a notification from then on
//! queues the next sync, and the ones before are covered by this one. A
//! succeeded or partial run → 200 with its `Logs` line. A failed run, or a message that cannot be
//! read → the cause on stderr with the invocation id, then 500: the host makes the message visible
//! again and, after `maxDequeueCount` tries, moves it to `<queue>-poison`; the next timer run converges
//! whatever happened here. A workspace that is no longer configured is acknowledged (200) and
//! logged: the message is obsolete, not failed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::payload::InvocationResponse;
use super::{AppState, HostCall, invocation_span, log_failed_run, refuse};
use crate::state::work::WorkMessage;
use crate::sync::{RunError, RunRequest, Status, Trigger};

const FUNCTION: &str = "SyncQueue";

pub(super) async fn invoke(State(state): State<AppState>, call: HostCall) -> Response {
    let span = invocation_span(FUNCTION, call.invocation_id.as_deref());
    handle(state, call).instrument(span).await
}

async fn handle(state: AppState, call: HostCall) -> Response {
    let id = call.invocation_id.as_deref();
    let message = match call
        .invocation
        .queue_message()
        .map_err(|e| e.to_string())
        .and_then(|value| {
            WorkMessage::from_json(value)
                .map_err(|e| format!("the queue message is not a work message: {e}"))
        }) {
        Ok(message) => message,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, FUNCTION, id, &e),
    };
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
    tracing::info!(
        invocation_id = id.unwrap_or(""),
        workspace = %message.workspace,
        reason = ?message.reason,
        dequeue_count = call.invocation.dequeue_count().unwrap_or(1),
        "{FUNCTION}: workspace \"{}\" queued ({:?}{})",
        message.workspace,
        message.reason,
        if message.groups.is_empty() {
            String::new()
        } else {
            format!(", groups {}", message.groups.join(", "))
        }
    );
    let request = RunRequest {
        trigger: Trigger::Queue,
        invocation_id: call.invocation_id.clone(),
        workspaces: vec![message.workspace.clone()],
        dry_run: false,
        allow_deprovision: false,
    };
    match runner.run(request, true).await {
        Ok(report) if report.status == Status::Failed => {
            let error = log_failed_run(FUNCTION, id, &report);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": error, "report": report })),
            )
                .into_response()
        }
        Ok(report) => Json(InvocationResponse {
            logs: report.workspaces.iter().map(|w| w.summary_line()).collect(),
            ..InvocationResponse::default()
        })
        .into_response(),
        Err(RunError::UnknownWorkspaces { .. }) => {
            let line = format!(
                "workspace \"{}\" is not in the configuration (any more): nothing to do",
                message.workspace
            );
            tracing::warn!(invocation_id = id.unwrap_or(""), "{FUNCTION}: {line}");
            Json(InvocationResponse {
                logs: vec![line],
                ..InvocationResponse::default()
            })
            .into_response()
        }
        // Unreachable while waiting, but answered rather than assumed.
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            FUNCTION,
            id,
            &e.to_string(),
        ),
    }
}
