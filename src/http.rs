//! What the Graph and SCIM clients share: one `reqwest` client (default proxy handling and platform trust
//! store, so corporate proxies and `SSL_CERT_FILE` work), time-outs, bounded retries that honour
//! `Retry-After`, request counts per outside API ([`Api`]: their names are the report's keys), and the
//! error type of a failed call (which says how
//! many attempts were made, and never quotes the request's token, even when the service's answer does).
//! Only this module decides what is retried: 429, 502, 503, 504 and failures to get an answer. Start
//! with [`send_paced`]: a caller paces the attempts ([`Pace`]: the SCIM client's per-workspace pace;
//! [`Unpaced`] for Graph), so every attempt, retries included, waits for its turn, and the pace is told
//! how each was answered; one attempt is `Call::attempt`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{RequestBuilder, Response, StatusCode};

/// Time allowed for one request, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries after the first attempt.
const MAX_RETRIES: usize = 6;
/// A `Retry-After` longer than this is cut to it (the run has a time budget).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The HTTP client for outside APIs.
///
/// # Errors
/// The TLS backend could not be initialised.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("entra-databricks-sync/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// An outside API whose requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    Graph,
    KeyVault,
    Databricks,
}

impl Api {
    /// Its key in the report's `requests` (and its `api` field in log lines).
    pub fn name(self) -> &'static str {
        match self {
            Api::Graph => "graph",
            Api::KeyVault => "keyVault",
            Api::Databricks => "databricks",
        }
    }
}

/// Requests sent per outside API, retries included.
#[derive(Debug, Clone, Default)]
pub struct Requests(Arc<Mutex<BTreeMap<Api, u64>>>);

impl Requests {
    pub fn add(&self, api: Api, n: u64) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(api)
            .or_default() += n;
    }

    /// The requests sent to `api` so far.
    pub fn get(&self, api: Api) -> u64 {
        let counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&api).copied().unwrap_or(0)
    }

    /// The counts by [`Api::name`], as the report writes them; an API not called is absent.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .map(|(api, n)| (api.name().to_owned(), *n))
            .collect()
    }
}

/// A call to an outside API that did not give a usable answer. Never holds a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{operation}: HTTP {status}{}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(), after(*attempts))]
    Status {
        operation: String,
        status: u16,
        /// The service's error code (`Request_ResourceNotFound`, `invalidFilter`, ...).
        code: Option<String>,
        message: String,
        /// `request-id` / `x-request-id` / `x-databricks-org-id`, for support tickets.
        request_id: Option<String>,
        /// Requests sent for this call, retries included.
        attempts: usize,
    },
    #[error("{operation}: no answer{} ({cause})", after(*attempts))]
    Transport {
        operation: String,
        cause: String,
        /// Requests sent for this call, retries included.
        attempts: usize,
    },
    #[error("{operation}: the answer could not be read ({cause})")]
    Decode { operation: String, cause: String },
    #[error("{operation}: {cause}")]
    Protocol { operation: String, cause: String },
}

/// " after N attempts" when a call was retried, so a reader knows the answer was not a blip.
fn after(attempts: usize) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

impl ApiError {
    /// Whether the call got no usable answer after all its retries: no answer at all, or a status
    /// that is retried (429, 502, 503, 504) every time.
    pub fn gave_up(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            ApiError::Decode { .. } | ApiError::Protocol { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Why an attempt failed, for the retry decision.
enum Attempt {
    Retryable {
        error: ApiError,
        retry_after: Option<Duration>,
    },
    Final(ApiError),
}

/// What paces the attempts of calls: asked before every attempt (retries included), told how each was
/// answered. The retry decisions stay here; a pace only learns from the answers.
pub trait Pace: Sync {
    /// What an admitted attempt carries to [`Pace::answered`].
    type Ticket: Copy + Send;
    /// Waits until an attempt may be sent. `Err` (why) means it must not be sent at all: the call
    /// fails with that cause and is not retried.
    fn admit(&self) -> impl Future<Output = Result<Self::Ticket, String>> + Send;
    /// The attempt got `status` (`None`: no answer), with this `Retry-After` (capped).
    fn answered(
        &self,
        ticket: Self::Ticket,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
    );
}

/// No pace: every attempt goes at once (Graph, whose throttling is per app and tenant, not ours to pace).
pub struct Unpaced;

impl Pace for Unpaced {
    type Ticket = ();
    async fn admit(&self) -> Result<(), String> {
        Ok(())
    }
    fn answered(&self, (): (), _: Option<StatusCode>, _: Option<Duration>) {}
}

/// Sends the request built by `build` (called again for each retry) and returns the first 2xx answer,
/// or an error once the answer is not retryable or the retries are spent. Each attempt is admitted by
/// `pace` first ([`Unpaced`]: at once) and its answer told to it. `error_of` turns an error answer's
/// body into `(code, message)`.
///
/// # Errors
/// The last failed attempt, described; or the pace's refusal to send.
pub async fn send_paced<P: Pace>(
    pace: &P,
    api: Api,
    operation: &str,
    requests: &Requests,
    build: impl Fn() -> RequestBuilder,
    error_of: fn(&str) -> (Option<String>, String),
) -> Result<Response, ApiError> {
    let attempts = AtomicUsize::new(0);
    let call = Call {
        api,
        operation,
        requests,
        error_of,
    };
    let attempt = || call.attempt(pace, &attempts, &build);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .with_max_times(MAX_RETRIES)
        .with_jitter();
    attempt
        .retry(backoff)
        .when(|a| matches!(a, Attempt::Retryable { .. }))
        // When the backoff is spent (`None`), stop even if the service asked for a later retry.
        .adjust(|a, delay| match (a, delay) {
            (
                Attempt::Retryable {
                    retry_after: Some(after),
                    ..
                },
                Some(_),
            ) => Some(*after),
            (_, delay) => delay,
        })
        .notify(|a, delay| {
            if let Attempt::Retryable { error, .. } = a {
                tracing::warn!(
                    api = api.name(),
                    "{error}; retrying in {} ms",
                    delay.as_millis()
                );
            }
        })
        .await
        .map_err(|a| match a {
            Attempt::Retryable { error, .. } | Attempt::Final(error) => error,
        })
}

/// One call's attempts share these.
struct Call<'a> {
    api: Api,
    operation: &'a str,
    requests: &'a Requests,
    error_of: fn(&str) -> (Option<String>, String),
}

impl Call<'_> {
    /// One attempt: admitted by the pace (`Final` when it refuses), counted (`attempts` so far),
    /// built, sent, its answer told to the pace; an error answer described for the retry decision.
    async fn attempt<P: Pace>(
        &self,
        pace: &P,
        attempts: &AtomicUsize,
        build: &impl Fn() -> RequestBuilder,
    ) -> Result<Response, Attempt> {
        let ticket = pace
            .admit()
            .await
            .map_err(|cause| Attempt::Final(self.protocol(cause)))?;
        self.requests.add(self.api, 1);
        let attempts = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let (client, request) = build().build_split();
        let request = request.map_err(|e| {
            let cause = format!("the request could not be built: {}", describe(&e));
            Attempt::Final(self.protocol(cause))
        })?;
        let bearer = bearer_of(&request);
        let answer = client.execute(request).await;
        let retry_after = answer.as_ref().ok().and_then(retry_after);
        let status = answer.as_ref().ok().map(Response::status);
        pace.answered(ticket, status, retry_after);
        match answer {
            Err(e) => Err(Attempt::Retryable {
                error: ApiError::Transport {
                    operation: self.operation.to_owned(),
                    cause: describe(&e),
                    attempts,
                },
                retry_after: None,
            }),
            Ok(response) if response.status().is_success() => Ok(response),
            Ok(response) => Err(self
                .refused(response, bearer.as_deref(), attempts, retry_after)
                .await),
        }
    }

    /// An error answer, its body cleaned of the request's token; retryable or final by its status.
    async fn refused(
        &self,
        response: Response,
        bearer: Option<&str>,
        attempts: usize,
        retry_after: Option<Duration>,
    ) -> Attempt {
        let status = response.status();
        let request_id = request_id(&response);
        let body = redact(response.text().await.unwrap_or_default(), bearer);
        let (code, message) = (self.error_of)(&body);
        let error = ApiError::Status {
            operation: self.operation.to_owned(),
            status: status.as_u16(),
            code,
            message,
            request_id,
            attempts,
        };
        if is_retryable(status) {
            Attempt::Retryable { error, retry_after }
        } else {
            Attempt::Final(error)
        }
    }

    fn protocol(&self, cause: String) -> ApiError {
        ApiError::Protocol {
            operation: self.operation.to_owned(),
            cause,
        }
    }
}

/// The bearer token a request carries, so that an error answer quoting it can be cleaned.
fn bearer_of(request: &reqwest::Request) -> Option<String> {
    let value = request.headers().get(reqwest::header::AUTHORIZATION)?;
    let token = value.to_str().ok()?.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Pieces of a token this long or longer are taken out of error answers.
const REDACTED_PIECE: usize = 12;

/// `body` without the request's token, or any piece of it of `REDACTED_PIECE` characters or more:
/// error answers go into reports and logs, and a careless gateway may quote the request's headers
/// (whole or cut). Done before any cut to length.
fn redact(body: String, token: Option<&str>) -> String {
    let Some(token) = token.filter(|t| t.len() >= REDACTED_PIECE) else {
        return body;
    };
    let pieces: std::collections::HashSet<&[u8]> =
        token.as_bytes().windows(REDACTED_PIECE).collect();
    let bytes = body.as_bytes();
    let mut covered = vec![false; bytes.len()];
    for (at, window) in bytes.windows(REDACTED_PIECE).enumerate() {
        if pieces.contains(window) {
            covered[at..at + REDACTED_PIECE].fill(true);
        }
    }
    if !covered.contains(&true) {
        return body;
    }
    // Covered bytes belong to the token, which is ASCII: spans start and end on char boundaries.
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    while at < bytes.len() {
        let end = (at..bytes.len())
            .find(|&i| covered[i] != covered[at])
            .unwrap_or(bytes.len());
        if covered[at] {
            out.push_str("[redacted]");
        } else {
            out.push_str(&body[at..end]);
        }
        at = end;
    }
    out
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// `Retry-After` in seconds or as an HTTP date, capped.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .to_owned();
    parse_retry_after(&value, time::OffsetDateTime::now_utc())
}

/// A `Retry-After` value (seconds, or an HTTP date relative to `now`), capped at 60 s; `None` when it
/// is neither.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let delay = match value.parse::<f64>() {
        // Beyond what a `Duration` holds (about 1.8e19 s) is beyond the cap too.
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Duration::try_from_secs_f64(seconds).unwrap_or(MAX_RETRY_AFTER)
        }
        Ok(_) => return None,
        Err(_) => {
            let at =
                time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
                    .ok()?;
            Duration::try_from(at - now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

fn request_id(response: &Response) -> Option<String> {
    [
        "request-id",
        "x-ms-request-id",
        "x-request-id",
        "x-databricks-org-id",
    ]
    .iter()
    .find_map(|h| response.headers().get(*h))
    .and_then(|v| v.to_str().ok())
    .map(str::to_owned)
}

/// A transport error in words, without the URL (which may carry a query the user did not write).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// Answers announced larger than this, or of unknown length, are parsed as they arrive.
const STREAM_FROM: u64 = 1 << 20;

/// Reads a 2xx answer as JSON. A large answer (a SCIM page of 10,000 users, a group of 100,000
/// members: megabytes) is parsed as it arrives, on a blocking thread, so it is never held whole;
/// a small one is read into one buffer and parsed there (faster).
///
/// # Errors
/// The body could not be read or is not the expected JSON.
pub async fn json<T: serde::de::DeserializeOwned + Send + 'static>(
    operation: &str,
    mut response: Response,
) -> Result<T, ApiError> {
    // An answer came, so a failure here is never "no answer": the body was cut off or unreadable.
    let decode = |cause: String| ApiError::Decode {
        operation: operation.to_owned(),
        cause,
    };
    let announced = response.content_length();
    if announced.is_none_or(|length| length > STREAM_FROM) {
        use futures::TryStreamExt;
        let body = response
            .bytes_stream()
            .map_err(|e| std::io::Error::other(describe(&e)));
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
        let parsed = tokio::task::spawn_blocking(move || {
            serde_json::from_reader::<_, T>(std::io::BufReader::with_capacity(64 * 1024, reader))
        })
        .await;
        return match parsed {
            Ok(parsed) => parsed.map_err(|e| decode(e.to_string())),
            Err(e) => Err(decode(format!("the parser stopped: {e}"))),
        };
    }
    // Each chunk is copied as it comes and dropped, so the connection's read buffer is reused rather
    // than a new one held per chunk; room for the announced length is made at once.
    let mut body = Vec::with_capacity(usize::try_from(announced.unwrap_or(0)).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(|e| decode(describe(&e)))? {
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_error_answer_loses_the_token_and_every_long_piece_of_it() {
        let token = "dapi0123456789abcdef0123456789abcdef";
        let whole = format!("{{\"detail\": \"Authorization: Bearer {token} refused\"}}");
        assert_eq!(
            redact(whole, Some(token)),
            "{\"detail\": \"Authorization: Bearer [redacted] refused\"}"
        );
        let cut = format!("Bearer {}…", &token[..20]);
        assert_eq!(redact(cut, Some(token)), "Bearer [redacted]…");
        let short = format!("dapi01234 {}", &token[5..16]);
        assert_eq!(
            redact(short.clone(), Some(token)),
            short,
            "pieces under 12 stay"
        );
        assert_eq!(redact("no token".into(), None), "no token");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_http_date_and_capped() {
        let now = datetime!(2026-11-28 11:00:00 UTC);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 11:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("3600", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn retry_after_beyond_what_a_duration_holds_is_capped_not_a_panic() {
        // Found by fuzz/fuzz_targets/retry_after.rs: `Duration::from_secs_f64` panicked.
        let now = datetime!(2026-11-28 11:00:00 UTC);
        for huge in ["218446744073709551616", "1e300", "18446744073709551616"] {
            assert_eq!(
                parse_retry_after(huge, now),
                Some(MAX_RETRY_AFTER),
                "{huge}"
            );
        }
        assert_eq!(parse_retry_after("inf", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }
}
