//! What every emulator shares: a request log and fault switches, applied as an axum middleware.
//!
//! Faults are queued and consumed in order, one per matching request: "answer the next 3 requests with 429
//! and `Retry-After: 1`", "answer the next request with 503". A persistent fault
//! ([`Faults::inject_persistent`]) answers every matching request until [`Faults::clear`]. A fixed latency
//! can be added to every request, and a hook ([`Faults::set_hook`]) sees each request as it arrives and
//! once it is answered (the crash tests kill the client from there).
//!
//! The kinds ([`Kind`]) go from the transport (no answer, a connection closed without an answer, an
//! answer cut off mid-body) through the body (200 with something that is not JSON) to the data of a
//! listing page (empty, truncated, a `@odata.nextLink` that loops, a lying `totalResults`, a lagging
//! `@odata.count`, a `startIndex` ignored): the last ones rewrite the emulator's real answer (`faults/pages.rs`), so
//! they work on Graph and SCIM pages alike.

mod pages;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long a "no answer" fault holds a request: longer than any client time-out worth testing.
const NO_ANSWER_FOR: Duration = Duration::from_secs(600);

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The status the emulator (or a fault) answered; 0 when no answer was given (a "no answer" or
    /// "reset" fault).
    pub status: u16,
    /// Whether the request carried an `Authorization` header (its value is never logged).
    pub authorized: bool,
    /// When the request reached the emulator.
    pub received: std::time::Instant,
    /// From arrival to answer, added latency included.
    pub took: Duration,
}

/// What a fault does to the request it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Answer with the fault's status (and `Retry-After` when set), a JSON error body.
    Status,
    /// Accept the request and never answer: the client's time-out ends it.
    NoAnswer,
    /// Close the connection without any answer (as a reset or a dying front end does).
    Reset,
    /// 200, `Content-Type: application/json`, and a body that is not JSON.
    InvalidJson,
    /// The real answer with its full `Content-Length`, but the connection closes halfway through the
    /// body.
    CutOff,
    /// The real answer of a listing with no items and no next link; its counts (`@odata.count`,
    /// `totalResults`) kept: a page that says there is more than it gives.
    EmptyPage,
    /// The real answer of a listing with the second half of its items left out; links and counts kept.
    TruncatedPage,
    /// The real answer with its `@odata.nextLink` pointing back at the page just read.
    RepeatedNextLink,
    /// The real answer with a new `@odata.nextLink` every time (the same items again): paging never ends.
    EndlessNextLink,
    /// The real answer with its `@odata.nextLink` (when it has one) moved to this origin
    /// (`https://host[:port]`), path and query kept: a link to another host.
    ForeignNextLink(String),
    /// The real answer of a SCIM listing with `totalResults` replaced by this number.
    TotalResults(usize),
    /// The real answer of a Graph listing's first page with `@odata.count` replaced by this number: a
    /// count from Graph's separate, eventually consistent index that has not caught up with a change.
    ODataCount(u64),
    /// The request's `startIndex` is dropped before the emulator sees it, so every page is the first
    /// one; `totalResults` replaced when given.
    IgnoreStartIndex { total_results: Option<usize> },
    /// 400 with an error body that quotes the request's `Authorization` header, as a careless gateway
    /// does (in both Graph's and SCIM's error shapes).
    EchoAuthorization,
}

/// A queued fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: Kind,
    /// For [`Kind::Status`]: the status answered.
    pub status: StatusCode,
    /// `Retry-After` header value, if any (seconds or an HTTP date, sent as given).
    pub retry_after: Option<String>,
    /// Only requests whose path contains this string consume the fault (None: any request).
    pub path_contains: Option<String>,
    /// Only requests whose raw query contains this string consume the fault (None: any request).
    pub query_contains: Option<String>,
    /// Only requests with this method consume the fault (None: any method).
    pub method: Option<Method>,
}

impl Fault {
    fn of(kind: Kind) -> Fault {
        Fault {
            kind,
            status: StatusCode::OK,
            retry_after: None,
            path_contains: None,
            query_contains: None,
            method: None,
        }
    }

    pub fn status(status: u16) -> Fault {
        Fault {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ..Fault::of(Kind::Status)
        }
    }

    pub fn throttled(retry_after: &str) -> Fault {
        Fault {
            retry_after: Some(retry_after.to_owned()),
            ..Fault::status(429)
        }
    }

    /// See [`Kind::NoAnswer`].
    pub fn no_answer() -> Fault {
        Fault::of(Kind::NoAnswer)
    }

    /// See [`Kind::Reset`].
    pub fn reset() -> Fault {
        Fault::of(Kind::Reset)
    }

    /// See [`Kind::InvalidJson`].
    pub fn invalid_json() -> Fault {
        Fault::of(Kind::InvalidJson)
    }

    /// See [`Kind::CutOff`].
    pub fn cut_off() -> Fault {
        Fault::of(Kind::CutOff)
    }

    /// See [`Kind::EmptyPage`].
    pub fn empty_page() -> Fault {
        Fault::of(Kind::EmptyPage)
    }

    /// See [`Kind::TruncatedPage`].
    pub fn truncated_page() -> Fault {
        Fault::of(Kind::TruncatedPage)
    }

    /// See [`Kind::RepeatedNextLink`].
    pub fn repeated_next_link() -> Fault {
        Fault::of(Kind::RepeatedNextLink)
    }

    /// See [`Kind::EndlessNextLink`].
    pub fn endless_next_link() -> Fault {
        Fault::of(Kind::EndlessNextLink)
    }

    /// See [`Kind::ForeignNextLink`].
    pub fn foreign_next_link(origin: &str) -> Fault {
        Fault::of(Kind::ForeignNextLink(
            origin.trim_end_matches('/').to_owned(),
        ))
    }

    /// See [`Kind::TotalResults`].
    pub fn total_results(total: usize) -> Fault {
        Fault::of(Kind::TotalResults(total))
    }

    /// See [`Kind::ODataCount`].
    pub fn odata_count(count: u64) -> Fault {
        Fault::of(Kind::ODataCount(count))
    }

    /// See [`Kind::EchoAuthorization`].
    pub fn echo_authorization() -> Fault {
        Fault::of(Kind::EchoAuthorization)
    }

    /// See [`Kind::IgnoreStartIndex`].
    pub fn ignore_start_index(total_results: Option<usize>) -> Fault {
        Fault::of(Kind::IgnoreStartIndex { total_results })
    }

    pub fn on_path(mut self, fragment: &str) -> Fault {
        self.path_contains = Some(fragment.to_owned());
        self
    }

    pub fn on_query(mut self, fragment: &str) -> Fault {
        self.query_contains = Some(fragment.to_owned());
        self
    }

    pub fn on_method(mut self, method: Method) -> Fault {
        self.method = Some(method);
        self
    }

    fn matches(&self, method: &Method, path: &str, query: Option<&str>) -> bool {
        let contains = |want: &Option<String>, have: Option<&str>| {
            want.as_deref()
                .is_none_or(|w| have.is_some_and(|h| h.contains(w)))
        };
        self.method.as_ref().is_none_or(|m| m == method)
            && contains(&self.path_contains, Some(path))
            && contains(&self.query_contains, query)
    }
}

/// When a hook sees a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before the emulator (or a fault) handles it; `status` is 0.
    Received,
    /// Handled: the answer is made but not yet sent.
    Answered,
}

type Hook = Arc<dyn Fn(Stage, &LoggedRequest) + Send + Sync>;

#[derive(Default)]
struct Inner {
    log: Vec<LoggedRequest>,
    faults: VecDeque<Fault>,
    persistent: Vec<Fault>,
    latency: Duration,
    hook: Option<Hook>,
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

    /// `fault` answers every matching request (after the queued ones) until [`Faults::clear`].
    pub fn inject_persistent(&self, fault: Fault) {
        self.lock().persistent.push(fault);
    }

    /// Drops every queued and persistent fault.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.faults.clear();
        inner.persistent.clear();
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Calls `hook` with every request when it arrives and once it is answered, before the answer
    /// is sent. It runs on the emulator's task: keep it short (or make it kill the client).
    pub fn set_hook(&self, hook: impl Fn(Stage, &LoggedRequest) + Send + Sync + 'static) {
        self.lock().hook = Some(Arc::new(hook));
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

    /// How many requests that change something (POST, PUT, PATCH, DELETE) were seen.
    pub fn writes(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| is_write(&r.method))
            .count()
    }

    fn take_fault(&self, method: &Method, path: &str, query: Option<&str>) -> Option<Fault> {
        let mut inner = self.lock();
        if let Some(index) = inner
            .faults
            .iter()
            .position(|f| f.matches(method, path, query))
        {
            return inner.faults.remove(index);
        }
        inner
            .persistent
            .iter()
            .find(|f| f.matches(method, path, query))
            .cloned()
    }

    fn record(&self, request: LoggedRequest) {
        self.lock().log.push(request);
    }

    fn notify(&self, stage: Stage, request: &LoggedRequest) {
        let hook = self.lock().hook.clone();
        if let Some(hook) = hook {
            hook(stage, request);
        }
    }
}

/// POST, PUT, PATCH or DELETE.
pub fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The middleware: log, add latency, answer a queued fault or pass on.
/// Install with `axum::middleware::from_fn_with_state(faults.clone(), faults::layer)`.
pub async fn layer(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let request = pages::strip_page_marker(request);
    let received = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let mut logged = LoggedRequest {
        method,
        path,
        query,
        status: 0,
        authorized: request.headers().contains_key("authorization"),
        received,
        took: Duration::ZERO,
    };
    faults.notify(Stage::Received, &logged);
    let latency = faults.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = faults.take_fault(&logged.method, &logged.path, logged.query.as_deref());
    if fault.as_ref().is_some_and(|f| f.kind == Kind::NoAnswer) {
        logged.took = received.elapsed();
        faults.record(logged);
        tokio::time::sleep(NO_ANSWER_FOR).await;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    let response = match fault {
        None => next.run(request).await,
        Some(fault) => answer(&fault, request, next).await,
    };
    let aborted = response.extensions().get::<AbortConnection>().is_some();
    logged.status = if aborted {
        0
    } else {
        response.status().as_u16()
    };
    logged.took = received.elapsed();
    faults.notify(Stage::Answered, &logged);
    faults.record(logged);
    response
}

/// The answer a fault gives to `request` (the emulator's own answer, rewritten, for the data kinds).
async fn answer(fault: &Fault, request: Request, next: Next) -> Response {
    match &fault.kind {
        Kind::Status => fault_response(fault),
        Kind::NoAnswer | Kind::Reset => abort_connection(),
        Kind::InvalidJson => {
            let mut response = (StatusCode::OK, "{\"value\": [ this is not JSON").into_response();
            response.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        Kind::CutOff => pages::cut_off(next.run(request).await).await,
        Kind::EchoAuthorization => {
            let sent = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(none)");
            let echo = format!("the request was refused; it carried Authorization: {sent}");
            let body = serde_json::json!({
                "error": { "code": "BadRequest", "message": echo },
                "detail": echo,
                "status": "400",
            });
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
        Kind::IgnoreStartIndex { total_results } => {
            let answer = next.run(pages::without_start_index(request)).await;
            match total_results {
                Some(total) => pages::rewrite(answer, &Kind::TotalResults(*total), None).await,
                None => answer,
            }
        }
        kind => {
            let url = pages::absolute_url(&request);
            pages::rewrite(next.run(request).await, kind, Some(&url)).await
        }
    }
}

/// Marks a response whose connection must be closed without sending it; the servers of
/// [`crate::tls`] honour it.
#[derive(Debug, Clone, Copy)]
pub struct AbortConnection;

fn abort_connection() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(AbortConnection);
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
