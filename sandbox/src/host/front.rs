//! The host's HTTP front on `127.0.0.1:<port>`: `/<routePrefix>/<route>` runs HTTP functions (methods
//! from `function.json`, anything else 404 like the host; keys not enforced, like Core Tools; a
//! failed invocation is a bare 500), `POST /admin/functions/<Name>` runs a timer function in the
//! background and answers 202 at once, `GET /` and `GET /admin/host/status` give a small status.
//! While the host is shut down, functions get 503 "Function host is not running.".

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::function::Trigger;
use super::invoke::{Call, HOST_VERSION, PROGRAMMATIC, invoke};
use super::local_host::Shared;
use super::payload::{HttpCall, http_input};
use super::process::HandlerStatus;
use super::route;
use super::timer::{Firing, fire};

/// The host's request size limit (100 MB).
const MAX_REQUEST: usize = 100 * 1024 * 1024;

/// Serves the front until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = Router::new().fallback(handle).with_state(shared);
    let _ = axum::serve(listener, app).await;
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/" || path.eq_ignore_ascii_case("/admin/host/status") {
        return if matches!(*request.method(), Method::GET | Method::HEAD) {
            axum::Json(status(&shared)).into_response()
        } else {
            StatusCode::METHOD_NOT_ALLOWED.into_response()
        };
    }
    let admin = "/admin/functions/";
    if path.len() > admin.len() && path[..admin.len()].eq_ignore_ascii_case(admin) {
        let name = path[admin.len()..].to_owned();
        return admin_invoke(shared, &name, request).await;
    }
    http_function(shared, request).await
}

fn status(shared: &Shared) -> Value {
    let handler = shared.supervisor.status();
    let (state, handler) = match &handler {
        HandlerStatus::Starting { pid } => ("Running", json!({"state": "starting", "pid": pid})),
        HandlerStatus::Ready { pid, port } => (
            "Running",
            json!({"state": "ready", "pid": pid, "port": port}),
        ),
        HandlerStatus::Gone { pid } => ("Running", json!({"state": "gone", "pid": pid})),
        HandlerStatus::Failed { message } => {
            ("Error", json!({"state": "failed", "error": message}))
        }
        HandlerStatus::Stopped => ("Stopped", json!({"state": "stopped"})),
    };
    let mut handler = handler;
    handler["restarts"] = shared.supervisor.restarts().into();
    let functions: Vec<&str> = shared
        .app
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    json!({
        "state": state,
        "version": HOST_VERSION,
        "handler": handler,
        "functions": functions,
    })
}

fn host_down(shared: &Shared) -> Option<Response> {
    matches!(
        shared.supervisor.status(),
        HandlerStatus::Failed { .. } | HandlerStatus::Stopped
    )
    .then(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Function host is not running.",
        )
            .into_response()
    })
}

async fn admin_invoke(shared: Arc<Shared>, name: &str, request: Request) -> Response {
    if request.method() != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Some(function) = shared.function(name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(down) = host_down(&shared) {
        return down;
    }
    let Ok(body) = to_bytes(request.into_body(), MAX_REQUEST).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    // The host wants {"input": "..."}; an empty body is accepted here too.
    if !body.iter().all(u8::is_ascii_whitespace)
        && !matches!(serde_json::from_slice::<Value>(&body), Ok(Value::Object(_)))
    {
        return (
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object like {\"input\": \"\"}",
        )
            .into_response();
    }
    if !matches!(function.trigger, Trigger::Timer(_)) {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "'{}' is HTTP-triggered: call it through its route instead",
                function.name
            ),
        )
            .into_response();
    }
    tokio::spawn(async move {
        fire(&shared, &function, Firing::OnDemand).await;
    });
    StatusCode::ACCEPTED.into_response()
}

async fn http_function(shared: Arc<Shared>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let prefix = &shared.app.route_prefix;
    let below = if prefix.is_empty() {
        Some(path.as_str())
    } else {
        let head = format!("/{prefix}");
        (path.len() >= head.len()
            && path[..head.len()].eq_ignore_ascii_case(&head)
            && matches!(path.as_bytes().get(head.len()), None | Some(b'/')))
        .then(|| &path[head.len()..])
    };
    let method = request.method().as_str().to_ascii_uppercase();
    let found = below.and_then(|below| {
        shared.app.functions.iter().find_map(|f| {
            let Trigger::Http(trigger) = &f.trigger else {
                return None;
            };
            let allowed = trigger.methods.as_ref().is_none_or(|m| m.contains(&method));
            let params = route::matches(&trigger.route, below).filter(|_| allowed)?;
            Some((Arc::clone(f), trigger.clone(), params))
        })
    });
    let Some((function, trigger, params)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(down) = host_down(&shared) {
        return down;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_REQUEST).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(
            || shared.base_url.trim_start_matches("http://").to_owned(),
            str::to_owned,
        );
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let call = HttpCall {
        url: format!("http://{host}{path_and_query}"),
        method: &method,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
        params,
    };
    let (data, metadata) = http_input(&trigger.binding, &call);
    let outcome = invoke(
        &shared,
        Call {
            function: function.name.clone(),
            reason: PROGRAMMATIC.to_owned(),
            data,
            metadata,
            retry_count: 0,
            http_output: Some(trigger.output.clone()),
        },
    )
    .await;
    let Some(answer) = outcome.http.filter(|_| outcome.record.succeeded) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            continue;
        };
        response.headers_mut().append(name, value);
    }
    response
}
