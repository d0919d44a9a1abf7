//! `POST /SyncSubscriptions` (a timer, `SUBSCRIPTION_SCHEDULE`): keeps one Microsoft Graph
//! subscription per group the workspaces read, renewed well before it expires
//! (`notify::Notifier::reconcile`). Any subscription that could not be made or renewed fails the
//! invocation (so the portal shows Failed and the alert on it fires), after the others were handled.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::payload::InvocationResponse;
use super::{AppState, HostCall, invocation_span, refuse};
use crate::http::Requests;

const FUNCTION: &str = "SyncSubscriptions";

pub(super) async fn invoke(State(state): State<AppState>, call: HostCall) -> Response {
    let span = invocation_span(FUNCTION, call.invocation_id.as_deref());
    handle(state, call).instrument(span).await
}

async fn handle(state: AppState, call: HostCall) -> Response {
    let id = call.invocation_id.as_deref();
    let Some(notifier) = state.notifier.as_ref() else {
        let line =
            "change notifications are off (NOTIFICATION_URL is not set): nothing to do".to_owned();
        tracing::info!(invocation_id = id.unwrap_or(""), "{FUNCTION}: {line}");
        return Json(InvocationResponse {
            logs: vec![line],
            ..InvocationResponse::default()
        })
        .into_response();
    };
    let requests = Requests::default();
    match notifier.reconcile(&requests).await {
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            FUNCTION,
            id,
            &format!("the subscriptions could not be reconciled: {e}"),
        ),
        Ok(done) => {
            let line = format!(
                "subscriptions for {} group(s) at {}: created {}, renewed {}, kept {}, deleted {}, failed {}{}",
                done.groups,
                notifier.settings().shown_url(),
                done.created.len(),
                done.renewed.len(),
                done.kept,
                done.deleted.len(),
                done.failures.len(),
                if done.uncovered.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} group(s) over Graph's {} subscriptions per app left to the timer's runs",
                        done.uncovered.len(),
                        crate::notify::MAX_SUBSCRIPTIONS
                    )
                }
            );
            tracing::info!(
                invocation_id = id.unwrap_or(""),
                event = "subscriptionsReconciled",
                created = done.created.len(),
                renewed = done.renewed.len(),
                failed = done.failures.len(),
                "{FUNCTION}: {line}"
            );
            if done.failures.is_empty() {
                Json(InvocationResponse {
                    logs: vec![line],
                    ..InvocationResponse::default()
                })
                .into_response()
            } else {
                let error = format!("{line}:\n  - {}", done.failures.join("\n  - "));
                tracing::error!(
                    invocation_id = id.unwrap_or(""),
                    "{FUNCTION} failed: {error}"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": error, "result": done })),
                )
                    .into_response()
            }
        }
    }
}
