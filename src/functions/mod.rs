//! The custom-handler protocol layer: the axum router the Functions host calls. It translates host
//! payloads into [`RunRequest`](crate::sync::RunRequest)s and reports into host responses, and holds no
//! sync logic. `GET /` is the readiness probe; `POST /SyncTimer`, `POST /SyncHttp` and `POST /SyncQueue` are
//! invocations.

mod http;
mod notify;
pub mod payload;
mod queue;
mod subscriptions;
mod timer;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::net::TcpListener;

use crate::sync::{Report, Runner};
use payload::Invocation;

/// Largest host payload accepted; real ones are a few KiB.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Past this, an oversized body is no longer drained and the connection is simply closed.
const DRAIN_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// What every invocation needs: the runner, or, when the configuration could not be used, the
/// problems to answer with (the handler keeps serving so the host does not crash-loop it).
#[derive(Clone)]
pub struct AppState {
    runner: Result<Runner, Arc<Misconfiguration>>,
    /// Change notifications (`NOTIFICATION_URL`), when configured.
    notifier: Option<Arc<crate::notify::Notifier>>,
    /// `SYNC_TIMER_FANOUT`: the timer queues each workspace instead of syncing them.
    timer_fanout: bool,
}

/// Why the handler cannot sync: a one-line summary and every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfiguration {
    pub summary: String,
    pub problems: Vec<String>,
}

impl Misconfiguration {
    fn text(&self) -> String {
        format!("{}:\n  - {}", self.summary, self.problems.join("\n  - "))
    }
}

impl AppState {
    pub fn ready(runner: Runner) -> Self {
        AppState {
            runner: Ok(runner),
            notifier: None,
            timer_fanout: false,
        }
    }

    /// With `SYNC_TIMER_FANOUT`.
    #[must_use]
    pub fn with_timer_fanout(mut self, fanout: bool) -> Self {
        self.timer_fanout = fanout;
        self
    }

    /// With change notifications.
    #[must_use]
    pub fn with_notifier(mut self, notifier: Option<Arc<crate::notify::Notifier>>) -> Self {
        self.notifier = notifier;
        self
    }

    pub fn misconfigured(misconfiguration: Misconfiguration) -> Self {
        AppState {
            runner: Err(Arc::new(misconfiguration)),
            notifier: None,
            timer_fanout: false,
        }
    }
}

/// The routes the Functions host calls.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(ready))
        .route("/SyncTimer", post(timer::invoke))
        .route("/SyncHttp", post(http::invoke))
        .route("/SyncQueue", post(queue::invoke))
        .route("/SyncNotify", post(notify::invoke))
        .route("/SyncSubscriptions", post(subscriptions::invoke))
        .fallback(unknown_function)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Readiness: any answer will do for the host; keep it cheap.
async fn ready() -> Json<serde_json::Value> {
    Json(json!({ "status": "ready" }))
}

async fn unknown_function(uri: axum::http::Uri) -> Response {
    let message = format!(
        "no function at {}: this handler serves POST /SyncTimer and POST /SyncHttp",
        uri.path()
    );
    (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response()
}

async fn method_not_allowed() -> Response {
    let message = "method not allowed: the host invokes functions with POST";
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "error": message })),
    )
        .into_response()
}

/// The `X-Azure-Functions-InvocationId` header, if present and printable.
fn invocation_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-azure-functions-invocationid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An invocation the handler could not take: written to stderr with the invocation id (the host drops
/// the body of a non-2xx answer) and answered with `status` and a JSON error.
fn refuse(status: StatusCode, function: &str, invocation: Option<&str>, error: &str) -> Response {
    tracing::error!(
        function,
        invocation_id = invocation.unwrap_or(""),
        "{function} invocation {} refused: {error}",
        invocation.unwrap_or("(no invocation id)")
    );
    (status, Json(json!({ "error": error }))).into_response()
}

/// The span every log line of one invocation is written in.
fn invocation_span(function: &'static str, invocation: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        "invocation",
        function,
        invocation_id = invocation.unwrap_or("")
    )
}

/// Writes a failed run's summary to stderr, with the invocation id in the text (the host's stderr
/// traces carry none), and returns the summary.
fn log_failed_run(function: &str, invocation: Option<&str>, report: &Report) -> String {
    let failed = report.failure_lines();
    let error = format!(
        "run {} failed: {} of {} workspaces failed:\n  - {}",
        report.run_id,
        failed.len(),
        report.workspaces.len(),
        failed.join("\n  - ")
    );
    tracing::error!(
        function,
        invocation_id = invocation.unwrap_or(""),
        run_id = %report.run_id,
        "{function} invocation {} {error}",
        invocation.unwrap_or("(no invocation id)")
    );
    error
}

/// One invocation from the host: its id and its parsed payload. Extracting it answers a body that is
/// too large, unreadable or not a host payload with a JSON error (and a stderr line).
pub(crate) struct HostCall {
    pub invocation_id: Option<String>,
    pub invocation: Invocation,
}

impl<S: Send + Sync> FromRequest<S> for HostCall {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Response> {
        let function = request.uri().path().trim_start_matches('/').to_owned();
        let invocation_id = invocation_id(request.headers());
        let id = invocation_id.as_deref();
        let body = read_limited(request.into_body())
            .await
            .map_err(|(status, error)| refuse(status, &function, id, &error))?;
        let invocation = Invocation::parse(&body)
            .map_err(|e| refuse(StatusCode::BAD_REQUEST, &function, id, &e.to_string()))?;
        Ok(HostCall {
            invocation_id,
            invocation,
        })
    }
}

/// Reads at most [`MAX_PAYLOAD_BYTES`]. A larger body is read to its end (up to
/// [`DRAIN_LIMIT_BYTES`]) without being kept, so the sender gets the 413 answer instead of a broken pipe.
async fn read_limited(mut body: Body) -> Result<Vec<u8>, (StatusCode, String)> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let error = format!("the invocation payload could not be read: {e}");
            (StatusCode::BAD_REQUEST, error)
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= MAX_PAYLOAD_BYTES {
            kept.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT_BYTES {
            break;
        }
    }
    if seen > MAX_PAYLOAD_BYTES {
        let error = format!("the invocation payload is larger than {MAX_PAYLOAD_BYTES} bytes");
        return Err((StatusCode::PAYLOAD_TOO_LARGE, error));
    }
    Ok(kept)
}

/// The handler's listening socket, bound only once everything it serves is ready.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Binds `127.0.0.1:port` (0 picks a free port, for tests).
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn bind(port: u16, state: AppState) -> std::io::Result<Application> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        Ok(Application {
            listener,
            router: router(state),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` completes.
    ///
    /// # Errors
    /// The server stopped on an I/O error.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
