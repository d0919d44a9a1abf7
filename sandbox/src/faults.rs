//! What every emulator shares: a request log and fault switches, applied as an axum middleware.
//!
//! Faults are queued and consumed in order, one per matching request: "answer the next 3 requests with 429
//! and `Retry-After: 1`", "answer the next request with 503". A fixed latency can be added to every request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The status the emulator (or a fault) answered.
    pub status: u16,
    /// Whether the request carried an `Authorization` header (its value is never logged).
    pub authorized: bool,
    /// When the request reached the emulator.
    pub received: std::time::Instant,
    /// From arrival to answer, added latency included.
    pub took: Duration,
}

/// A queued fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub status: StatusCode,
    /// `Retry-After` header value, if any (seconds or an HTTP date, sent as given).
    pub retry_after: Option<String>,
    /// Only requests whose path contains this string consume the fault (None: any request).
    pub path_contains: Option<String>,
    /// Only requests with this method consume the fault (None: any method).
    pub method: Option<Method>,
}

impl Fault {
    pub fn status(status: u16) -> Fault {
        Fault {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            retry_after: None,
            path_contains: None,
            method: None,
        }
    }

    pub fn throttled(retry_after: &str) -> Fault {
        Fault {
            retry_after: Some(retry_after.to_owned()),
            ..Fault::status(429)
        }
    }

    pub fn on_path(mut self, fragment: &str) -> Fault {
        self.path_contains = Some(fragment.to_owned());
        self
    }

    pub fn on_method(mut self, method: Method) -> Fault {
        self.method = Some(method);
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

#[derive(Default)]
struct Inner {
    log: Vec<LoggedRequest>,
    faults: VecDeque<Fault>,
    latency: Duration,
}

/// Request log and fault queue of one emulator. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `fault` for the next `times` matching requests.
    pub fn inject(&self, fault: Fault, times: usize) {
        let mut inner = self.lock();
        for _ in 0..times {
            inner.faults.push_back(fault.clone());
        }
    }

    /// Drops every queued fault.
    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Every request seen so far.
    pub fn log(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// How many requests with `method` whose path contains `fragment` were seen.
    pub fn count(&self, method: &Method, fragment: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.method == *method && r.path.contains(fragment))
            .count()
    }

    fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let index = inner.faults.iter().position(|f| f.matches(method, path))?;
        inner.faults.remove(index)
    }

    fn record(&self, request: LoggedRequest) {
        self.lock().log.push(request);
    }
}

/// The middleware: log, add latency, answer a queued fault or pass on.
/// Install with `axum::middleware::from_fn_with_state(faults.clone(), faults::layer)`.
pub async fn layer(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let received = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let authorized = request.headers().contains_key("authorization");
    let latency = faults.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match faults.take_fault(&method, &path) {
        Some(fault) => fault_response(&fault),
        None => next.run(request).await,
    };
    faults.record(LoggedRequest {
        method,
        path,
        query,
        status: response.status().as_u16(),
        authorized,
        received,
        took: received.elapsed(),
    });
    response
}

fn fault_response(fault: &Fault) -> Response {
    let body = serde_json::json!({
        "error": { "code": "InjectedFault", "message": format!("injected fault {}", fault.status.as_u16()) }
    });
    let mut response = (fault.status, axum::Json(body)).into_response();
    if let Some(retry_after) = &fault.retry_after
        && let Ok(value) = HeaderValue::from_str(retry_after)
    {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// An empty response with `status`, for emulators that need one.
pub fn empty(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .unwrap_or_default()
}
