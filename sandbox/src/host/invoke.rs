//! One invocation as the host runs it: `Executing ...`, `POST /<Function>` to the handler (chunked
//! JSON, the host's headers, a new invocation id and `traceparent`), the answer judged as the host
//! judges it, the `Logs` printed, `Executed ... (Succeeded|Failed, Id=..., Duration=...ms)`.
//!
//! Succeeded: 2xx, `Content-Type: application/json` (or `text/json`), a JSON object. Failed: any other
//! status (body and `Logs` discarded), another content type, invalid JSON, a broken connection, the
//! function timeout. An empty body or `null` leaves the real host waiting for the function timeout;
//! this host says so at once, then waits the timeout out the same way. A timeout kills and restarts
//! the handler, failing every invocation in flight.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::clock;
use super::local_host::Shared;
use super::options::InvocationRecord;
use super::payload::{HttpAnswer, http_answer};
use super::wire::{self, WireResponse};

/// The host version the handler is told.
pub const HOST_VERSION: &str = "4.1040.300.1";
/// The reason of invocations through the admin API and of HTTP requests.
pub const PROGRAMMATIC: &str = "This function was programmatically called via the host APIs.";

/// What to invoke.
pub(crate) struct Call {
    pub function: String,
    pub reason: String,
    /// `Data`.
    pub data: Map<String, Value>,
    /// `Metadata` without `sys`.
    pub metadata: Map<String, Value>,
    pub retry_count: u32,
    /// For HTTP functions: unwrap this output binding into `Outcome::http` (`None`: no output binding).
    pub http_output: Option<Option<String>>,
}

pub(crate) struct Outcome {
    pub record: InvocationRecord,
    pub http: Option<HttpAnswer>,
}

struct Failure {
    status: Option<u16>,
    message: String,
    /// `System.Net.Http`-like source shown before the message.
    source: &'static str,
}

fn failed(status: Option<u16>, source: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        message: message.into(),
        source,
    }
}

type Answer = (u16, Map<String, Value>, Option<HttpAnswer>);

/// Runs one invocation and records it.
pub(crate) async fn invoke(shared: &Arc<Shared>, call: Call) -> Outcome {
    let id = uuid::Uuid::new_v4().to_string();
    let name = call.function.clone();
    let category = format!("Function.{name}");
    shared.console.info(
        &category,
        format!(
            "Executing 'Functions.{name}' (Reason='{}', Id={id})",
            call.reason
        ),
    );
    let started_at = clock::now();
    let started = Instant::now();
    let result = attempt(shared, &call, &id).await;
    let duration = started.elapsed();
    let ms = duration.as_millis();
    let mut record = InvocationRecord {
        id: id.clone(),
        function: name.clone(),
        reason: call.reason,
        started: started_at,
        duration,
        succeeded: false,
        error: None,
        status: None,
        logs: Vec::new(),
        retry_count: call.retry_count,
        answer: None,
    };
    let mut http = None;
    match result {
        Ok((status, answer, answer_http)) => {
            record.succeeded = true;
            record.status = Some(status);
            record.logs = logs(&answer);
            for line in &record.logs {
                shared
                    .console
                    .info(&format!("{category}.User"), line.clone());
            }
            record.answer = Some(Value::Object(answer));
            http = answer_http;
            shared.console.info(
                &category,
                format!("Executed 'Functions.{name}' (Succeeded, Id={id}, Duration={ms}ms)"),
            );
        }
        Err(failure) => {
            record.status = failure.status;
            record.error = Some(failure.message.clone());
            shared.console.error(
                &category,
                format!("Executed 'Functions.{name}' (Failed, Id={id}, Duration={ms}ms)"),
            );
            shared.console.error(
                &category,
                format!(
                    "System.Private.CoreLib: Exception while executing function: Functions.{name}. {}: {}",
                    failure.source, failure.message
                ),
            );
        }
    }
    shared.record(record.clone());
    Outcome { record, http }
}

fn logs(answer: &Map<String, Value>) -> Vec<String> {
    match answer.get("Logs") {
        Some(Value::Array(lines)) => lines
            .iter()
            .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

async fn attempt(shared: &Arc<Shared>, call: &Call, id: &str) -> Result<Answer, Failure> {
    let deadline = shared.timeout.map(|t| Instant::now() + t);
    let within = |d: Option<Instant>| {
        d.unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400))
    };
    let ready = tokio::time::timeout_at(within(deadline), shared.supervisor.ready()).await;
    let (pid, port) = match ready {
        Err(_) => return Err(timed_out(shared, &call.function, id, None)),
        Ok(Err(why)) => return Err(failed(None, "Microsoft.Azure.WebJobs.Script", why)),
        Ok(Ok(ready)) => ready,
    };
    let mut metadata = call.metadata.clone();
    metadata.insert(
        "sys".into(),
        json!({
            "MethodName": call.function,
            "UtcNow": clock::json_utc(clock::now()),
            "RandGuid": uuid::Uuid::new_v4().to_string(),
        }),
    );
    let body = json!({ "Data": call.data, "Metadata": metadata }).to_string();
    let trace = format!(
        "00-{}-{}-00",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let headers = [
        ("X-Azure-Functions-HostVersion", HOST_VERSION.to_owned()),
        ("X-Azure-Functions-InvocationId", id.to_owned()),
        ("User-Agent", format!("Azure-Functions-Host/{HOST_VERSION}")),
        ("Transfer-Encoding", "chunked".to_owned()),
        ("traceparent", trace),
        ("Content-Type", "application/json; charset=utf-8".to_owned()),
    ];
    let path = format!("/{}", call.function);
    let sent = tokio::time::timeout_at(
        within(deadline),
        wire::send(port, "POST", &path, &headers, Some(body.as_bytes())),
    )
    .await;
    let response = match sent {
        Err(_) => return Err(timed_out(shared, &call.function, id, Some(pid))),
        Ok(Err(e)) => return Err(failed(None, "System.Net.Http", e.to_string())),
        Ok(Ok(response)) => response,
    };
    match judge(&response, call) {
        Judged::Answer(answer) => Ok(answer),
        Judged::Failed(failure) => Err(failure),
        Judged::Hangs(what) => {
            let Some(deadline) = deadline else {
                return Err(failed(
                    Some(response.status),
                    "Microsoft.Azure.WebJobs.Script",
                    format!(
                        "the handler answered {what}: the real host would wait forever (functionTimeout is -1)"
                    ),
                ));
            };
            shared.console.warn(
                &format!("Function.{}", call.function),
                format!(
                    "The handler answered {what} for invocation {id}: the real host waits for the function timeout ({}), then restarts the handler. Waiting.",
                    clock::format_timespan(shared.timeout.unwrap_or_default())
                ),
            );
            tokio::time::sleep_until(deadline).await;
            Err(timed_out(shared, &call.function, id, Some(pid)))
        }
    }
}

enum Judged {
    Answer(Answer),
    Failed(Failure),
    /// The real host never completes the invocation.
    Hangs(&'static str),
}

fn judge(response: &WireResponse, call: &Call) -> Judged {
    let status = response.status;
    if !(200..300).contains(&status) {
        let reason = if response.reason.is_empty() {
            axum::http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default()
                .to_owned()
        } else {
            response.reason.clone()
        };
        return Judged::Failed(failed(
            Some(status),
            "System.Net.Http",
            format!("Response status code does not indicate success: {status} ({reason})."),
        ));
    }
    let invalid = |message: String| {
        Judged::Failed(failed(
            Some(status),
            "Microsoft.Azure.WebJobs.Script",
            format!("Invalid HttpResponseMessage: {message}"),
        ))
    };
    let content_type = response.header("content-type").unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Judged::Hangs("an empty body");
    }
    if media != "application/json" && media != "text/json" {
        let media = if media.is_empty() {
            "application/octet-stream"
        } else {
            &media
        };
        return invalid(format!(
            "No MediaTypeFormatter is available to read an object of type 'HttpScriptInvocationResult' from content with media type '{media}'."
        ));
    }
    let answer = match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(answer)) => answer,
        Ok(Value::Null) => return Judged::Hangs("JSON null"),
        Ok(other) => return invalid(format!("expected a JSON object, got {other}")),
        Err(e) => return invalid(format!("the body is not valid JSON: {e}")),
    };
    let http = match &call.http_output {
        None => None,
        Some(output) => match http_answer(&answer, output.as_deref()) {
            Ok(http) => Some(http),
            Err(e) => return invalid(e),
        },
    };
    Judged::Answer((status, answer, http))
}

fn timed_out(shared: &Arc<Shared>, function: &str, id: &str, pid: Option<u32>) -> Failure {
    let timeout = clock::format_timespan(shared.timeout.unwrap_or_default());
    shared.console.error(
        &format!("Function.{function}"),
        format!(
            "Timeout value of {timeout} exceeded by function 'Functions.{function}' (Id: '{id}'). \
             Initiating cancellation."
        ),
    );
    if let Some(pid) = pid {
        shared.console.error(
            super::console::HOST,
            format!(
                "A function timeout has occurred: restarting the handler process (pid {pid}), \
                 as the host does."
            ),
        );
        shared.supervisor.restart(pid);
    }
    failed(
        None,
        "Microsoft.Azure.WebJobs.Host",
        format!("Timeout value of {timeout} was exceeded by function: Functions.{function}"),
    )
}
