//! `POST /SyncNotify`: where Microsoft Graph delivers change notifications for the configured groups
//! (`notify::Notifier::receive`), and its validation handshake.
//!
//! - `?validationToken=…` (Graph checking the URL when a subscription is created): 200 with the
//!   token, as `text/plain`, at once (Graph allows 10 s).
//! - A notification batch: each item's `clientState` checked, the affected workspaces queued;
//!   202 once recorded (Graph wants an answer within 3 s and retries 5xx answers for up to 4 hours);
//!   500 when nothing could be recorded (Key Vault, the storage), so that Graph retries; 403 when no
//!   item's `clientState` matched (counted in the log, never their content); 400 for a body that is
//!   not a batch.
//!
//! The invocation itself succeeds whatever Graph is told (as `SyncHttp`): the portal's failures are the
//! queued syncs' own.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::payload::InvocationResponse;
use super::{AppState, HostCall, invocation_span, refuse};
use crate::http::Requests;
use crate::notify::ReceiveError;

const FUNCTION: &str = "SyncNotify";

pub(super) async fn invoke(State(state): State<AppState>, call: HostCall) -> Response {
    let span = invocation_span(FUNCTION, call.invocation_id.as_deref());
    handle(state, call).instrument(span).await
}

async fn handle(state: AppState, call: HostCall) -> Response {
    let id = call.invocation_id.as_deref();
    let request = match call.invocation.http_request() {
        Ok(request) => request,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, FUNCTION, id, &e.to_string()),
    };
    // The handshake needs nothing but the token: answered even before the app is configured.
    if let Some((_, token)) = request.query.iter().find(|(k, _)| k == "validationToken") {
        tracing::info!(
            invocation_id = id.unwrap_or(""),
            "{FUNCTION}: Graph's validation request answered"
        );
        return Json(InvocationResponse::text(200, token, Vec::new())).into_response();
    }
    let answer = match state.notifier.as_ref() {
        None => {
            let message = "change notifications are not configured here (NOTIFICATION_URL is not set, or the app cannot start)";
            tracing::warn!(
                invocation_id = id.unwrap_or(""),
                "{FUNCTION} answered 503: {message}"
            );
            InvocationResponse::http(503, &json!({ "error": message }), vec![message.to_owned()])
        }
        Some(notifier) if request.method == "POST" => {
            let body = request.body.unwrap_or_default();
            let requests = Requests::default();
            match notifier.receive(body.as_bytes(), &requests).await {
                Ok(received) if received.refused == received.items && received.items > 0 => {
                    tracing::warn!(
                        invocation_id = id.unwrap_or(""),
                        refused = received.refused,
                        "{FUNCTION} answered 403: {} notification(s) whose clientState does not match were refused",
                        received.refused
                    );
                    InvocationResponse::http(
                        403,
                        &json!({ "error": "clientState does not match" }),
                        Vec::new(),
                    )
                }
                Ok(received) => {
                    if received.refused > 0 {
                        tracing::warn!(
                            invocation_id = id.unwrap_or(""),
                            refused = received.refused,
                            "{FUNCTION}: {} notification(s) whose clientState does not match were refused",
                            received.refused
                        );
                    }
                    let line = format!(
                        "{} notification(s): queued {}, already waiting {}, ignored {}, refused {}",
                        received.items,
                        list(&received.queued),
                        list(&received.coalesced),
                        received.ignored,
                        received.refused
                    );
                    tracing::info!(invocation_id = id.unwrap_or(""), "{FUNCTION}: {line}");
                    InvocationResponse::http(202, &received, vec![line])
                }
                Err(e @ ReceiveError::Malformed(_)) => {
                    let message = e.to_string();
                    tracing::warn!(
                        invocation_id = id.unwrap_or(""),
                        "{FUNCTION} answered 400: {message}"
                    );
                    InvocationResponse::http(400, &json!({ "error": message }), vec![message])
                }
                Err(e @ ReceiveError::NotRecorded(_)) => {
                    let message = e.to_string();
                    tracing::error!(
                        invocation_id = id.unwrap_or(""),
                        "{FUNCTION} answered 500 (Graph retries): {message}"
                    );
                    InvocationResponse::http(500, &json!({ "error": message }), vec![message])
                }
            }
        }
        Some(_) => InvocationResponse::http(
            405,
            &json!({ "error": format!("method {} is not supported: Graph POSTs notifications", request.method) }),
            Vec::new(),
        ),
    };
    Json(answer).into_response()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
