//! The Functions host's invocation payload and response, as ../reference/functions-host.md describes
//! the v4 host: `{"Data": {...}, "Metadata": {...}}` in, `{"Outputs", "Logs", "ReturnValue"}` out.
//! Parsing is tolerant where the host varies (binding names, `Query` as object or string, `Body` as
//! string or JSON, unknown fields everywhere) and strict where a wrong value would change what we do.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::json_kind;

/// The host's request body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the invocation payload is empty")]
    Empty,
    #[error("the invocation payload is not valid JSON ({0})")]
    NotJson(String),
    #[error("the invocation payload must be a JSON object with \"Data\" and \"Metadata\", got {0}")]
    NotObject(&'static str),
    #[error("\"Data\" must be an object of bindings, got {0}")]
    DataNotObject(&'static str),
    #[error("\"Data\" holds no timer binding (an object with \"IsPastDue\")")]
    NoTimerBinding,
    #[error("\"Data\" holds no HTTP request binding \"req\"")]
    NoHttpBinding,
    #[error("\"Data\" holds no queue message binding \"message\"")]
    NoQueueBinding,
    #[error("the {binding} binding is malformed: {message}")]
    Binding { binding: String, message: String },
}

/// A parsed invocation: the bindings and the metadata, both kept as JSON for tolerance.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub data: Map<String, Value>,
    pub metadata: Map<String, Value>,
}

/// `Metadata.RetryContext`, present when a function-level retry policy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryContext {
    pub retry_count: i64,
    pub max_retry_count: i64,
}

/// The timer binding's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimerInfo {
    #[serde(default)]
    pub schedule_status: Option<ScheduleStatus>,
    #[serde(default)]
    pub is_past_due: bool,
}

/// The schedule monitor's state before this run (null when `useMonitor` is off). Dates are kept as
/// the host wrote them: they are only logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleStatus {
    #[serde(default)]
    pub last: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub last_updated: Option<String>,
}

/// The parts of the HTTP trigger's `req` binding that the app uses. `Url` and `Headers` are
/// deliberately not kept: they carry the function key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestData {
    /// Upper case, as the host sends it.
    pub method: String,
    /// Query parameters; multi-values arrive comma-joined.
    pub query: Vec<(String, String)>,
    /// The client's body as text (absent when the client sent none).
    pub body: Option<String>,
}

impl Invocation {
    /// Parses the host's request body.
    ///
    /// # Errors
    /// An empty body, invalid JSON, or a body that is not an object with an object `Data`.
    pub fn parse(body: &[u8]) -> Result<Invocation, PayloadError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(PayloadError::Empty);
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
        let Value::Object(mut top) = value else {
            return Err(PayloadError::NotObject(json_kind(&value)));
        };
        let data = match top.remove("Data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data,
            Some(other) => return Err(PayloadError::DataNotObject(json_kind(&other))),
        };
        // Metadata repeats user-controlled body fields at its top level: never fail on its shape.
        let metadata = match top.remove("Metadata") {
            Some(Value::Object(metadata)) => metadata,
            _ => Map::new(),
        };
        Ok(Invocation { data, metadata })
    }

    /// `Metadata.RetryContext`, if present and well-formed.
    pub fn retry_context(&self) -> Option<RetryContext> {
        self.metadata
            .get("RetryContext")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The timer binding: `timer` (our function.json), else the one binding that looks like a timer.
    ///
    /// # Errors
    /// No timer binding, or one whose fields have the wrong types.
    pub fn timer(&self) -> Result<TimerInfo, PayloadError> {
        let (name, value) = match self.data.get_key_value("timer") {
            Some(entry) => entry,
            None => self
                .data
                .iter()
                .find(|(_, v)| v.get("IsPastDue").is_some())
                .ok_or(PayloadError::NoTimerBinding)?,
        };
        serde_json::from_value(value.clone()).map_err(|e| PayloadError::Binding {
            binding: format!("timer \"{name}\""),
            message: e.to_string(),
        })
    }

    /// The queue trigger's `message` binding, as JSON: the host passes the message text as a string
    /// (parsed here); an object is taken as it is.
    ///
    /// # Errors
    /// No `message` binding, or a text that is not JSON.
    pub fn queue_message(&self) -> Result<Value, PayloadError> {
        match self.data.get("message") {
            None => Err(PayloadError::NoQueueBinding),
            Some(Value::String(text)) => {
                serde_json::from_str(text).map_err(|e| PayloadError::Binding {
                    binding: "queue message \"message\"".into(),
                    message: format!("its text is not JSON ({e})"),
                })
            }
            Some(other) => Ok(other.clone()),
        }
    }

    /// `Metadata.DequeueCount` of a queue invocation (1 for the first delivery).
    pub fn dequeue_count(&self) -> Option<u64> {
        let count = self.metadata.get("DequeueCount")?;
        count
            .as_u64()
            .or_else(|| count.as_str().and_then(|s| s.parse().ok()))
    }

    /// The HTTP trigger's `req` binding.
    ///
    /// # Errors
    /// No `req` binding, or one whose `Method`, `Query` or `Body` cannot be read.
    pub fn http_request(&self) -> Result<HttpRequestData, PayloadError> {
        let req = self.data.get("req").ok_or(PayloadError::NoHttpBinding)?;
        let malformed = |message: String| PayloadError::Binding {
            binding: "HTTP request \"req\"".into(),
            message,
        };
        let Value::Object(req) = req else {
            return Err(malformed(format!(
                "must be an object, got {}",
                json_kind(req)
            )));
        };
        let method = match req.get("Method") {
            Some(Value::String(m)) if !m.trim().is_empty() => m.trim().to_ascii_uppercase(),
            Some(other) => {
                return Err(malformed(format!(
                    "\"Method\" must be a non-empty string, got {}",
                    json_kind(other)
                )));
            }
            None => return Err(malformed("\"Method\" is missing".into())),
        };
        let query = parse_query(req.get("Query")).map_err(malformed)?;
        let body = match req.get("Body") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            // Some hosts hand JSON bodies over already parsed.
            Some(json @ (Value::Object(_) | Value::Array(_))) => Some(json.to_string()),
            Some(other) => Some(other.to_string()),
        };
        Ok(HttpRequestData {
            method,
            query,
            body,
        })
    }
}

/// `Query` is an object of strings on current hosts; the documentation shows a string holding JSON.
fn parse_query(query: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let object = match query {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(object)) => object.clone(),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(text)) if text.trim_start().starts_with('{') => {
            match serde_json::from_str(text) {
                Ok(Value::Object(object)) => object,
                _ => return Err("\"Query\" is a string that is not a JSON object".into()),
            }
        }
        Some(Value::String(text)) => {
            let pairs = url::form_urlencoded::parse(text.trim_start_matches('?').as_bytes());
            return Ok(pairs
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect());
        }
        Some(other) => {
            return Err(format!(
                "\"Query\" must be an object, got {}",
                json_kind(other)
            ));
        }
    };
    object
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            Ok((key, value))
        })
        .collect()
}

/// The response the host expects: always a non-empty JSON object.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationResponse {
    pub outputs: Map<String, Value>,
    pub logs: Vec<String>,
    pub return_value: Option<Value>,
}

impl InvocationResponse {
    /// A response whose output binding `res` answers the HTTP client with `status` and a plain-text
    /// body (Graph's validation handshake wants `text/plain`).
    pub fn text(status: u16, body: &str, logs: Vec<String>) -> Self {
        Self::res(status, body.to_owned(), "text/plain; charset=utf-8", logs)
    }

    /// A response whose output binding `res` answers the HTTP client with `status` and a JSON body.
    pub fn http(status: u16, body: &impl Serialize, logs: Vec<String>) -> Self {
        let body = serde_json::to_string(body).unwrap_or_else(|e| {
            serde_json::json!({ "error": format!("internal error: the answer could not be serialized ({e})") })
                .to_string()
        });
        Self::res(status, body, "application/json", logs)
    }

    /// The `res` output binding: status, body and its content type.
    fn res(status: u16, body: String, content_type: &str, logs: Vec<String>) -> Self {
        let res = serde_json::json!({
            "statusCode": status,
            "body": body,
            "headers": { "Content-Type": content_type },
        });
        let mut outputs = Map::new();
        outputs.insert("res".into(), res);
        InvocationResponse {
            outputs,
            logs,
            return_value: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(json: &str) -> Invocation {
        Invocation::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn timer_binding_is_found_under_any_name_and_null_schedule_status_is_accepted() {
        let inv = invocation(
            r#"{"Data":{"myTimer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":true}},"Metadata":{}}"#,
        );
        assert_eq!(
            inv.timer().unwrap(),
            TimerInfo {
                schedule_status: None,
                is_past_due: true
            }
        );
    }

    #[test]
    fn timer_with_wrong_field_types_is_a_binding_error() {
        let inv = invocation(r#"{"Data":{"timer":{"IsPastDue":"yes"}}}"#);
        let err = inv.timer().unwrap_err().to_string();
        assert!(err.starts_with("the timer \"timer\" binding is malformed: invalid type: string \"yes\", expected a boolean"), "{err}");
    }

    #[test]
    fn payload_that_is_not_an_object_or_has_non_object_data_is_refused() {
        assert_eq!(Invocation::parse(b"  ").unwrap_err(), PayloadError::Empty);
        assert_eq!(
            Invocation::parse(b"[1]").unwrap_err(),
            PayloadError::NotObject("an array")
        );
        assert_eq!(
            Invocation::parse(br#"{"Data":"x"}"#).unwrap_err(),
            PayloadError::DataNotObject("a string")
        );
        assert!(matches!(
            Invocation::parse(b"{\"Data\":").unwrap_err(),
            PayloadError::NotJson(_)
        ));
    }

    #[test]
    fn metadata_of_any_shape_is_tolerated_and_retry_context_is_read_when_well_formed() {
        let inv = invocation(
            r#"{"Data":{},"Metadata":{"sys":5,"RetryContext":{"RetryCount":1,"MaxRetryCount":2,"Exception":null}}}"#,
        );
        assert_eq!(
            inv.retry_context(),
            Some(RetryContext {
                retry_count: 1,
                max_retry_count: 2
            })
        );
        let inv = invocation(r#"{"Data":{},"Metadata":"odd"}"#);
        assert_eq!(inv.retry_context(), None);
    }

    #[test]
    fn query_is_read_as_object_as_json_string_or_as_query_string() {
        let req = |query: &str| {
            invocation(&format!(
                r#"{{"Data":{{"req":{{"Method":"post","Query":{query}}}}}}}"#
            ))
            .http_request()
            .unwrap()
        };
        assert_eq!(
            req(r#"{"dryRun":"true"}"#).query,
            [("dryRun".to_string(), "true".to_string())]
        );
        assert_eq!(
            req(r#""{\"workspace\":\"a,b\"}""#).query,
            [("workspace".to_string(), "a,b".to_string())]
        );
        assert_eq!(req(r#""{}""#).query, []);
        assert_eq!(req(r#""?dryRun=1&workspace=x""#).query.len(), 2);
        assert_eq!(req("null").method, "POST");
    }

    #[test]
    fn body_is_kept_as_text_whether_sent_as_string_or_as_json() {
        let inv = invocation(r#"{"Data":{"req":{"Method":"POST","Body":"{\"dryRun\":true}"}}}"#);
        assert_eq!(
            inv.http_request().unwrap().body.as_deref(),
            Some(r#"{"dryRun":true}"#)
        );
        let inv = invocation(r#"{"Data":{"req":{"Method":"POST","Body":{"dryRun":true}}}}"#);
        assert_eq!(
            inv.http_request().unwrap().body.as_deref(),
            Some(r#"{"dryRun":true}"#)
        );
        let inv = invocation(r#"{"Data":{"req":{"Method":"GET"}}}"#);
        assert_eq!(inv.http_request().unwrap().body, None);
    }

    #[test]
    fn http_binding_without_method_is_malformed() {
        let err = invocation(r#"{"Data":{"req":{"Query":{}}}}"#)
            .http_request()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the HTTP request \"req\" binding is malformed: \"Method\" is missing"
        );
        assert_eq!(
            invocation(r#"{"Data":{}}"#).http_request().unwrap_err(),
            PayloadError::NoHttpBinding
        );
    }

    #[test]
    fn http_response_sets_status_code_json_body_and_content_type() {
        let r = serde_json::to_value(InvocationResponse::http(
            409,
            &serde_json::json!({"error":"busy"}),
            vec![],
        ))
        .unwrap();
        assert_eq!(r["Outputs"]["res"]["statusCode"], 409);
        assert_eq!(
            r["Outputs"]["res"]["headers"]["Content-Type"],
            "application/json"
        );
        assert_eq!(r["Outputs"]["res"]["body"], r#"{"error":"busy"}"#);
        assert_eq!(r["ReturnValue"], Value::Null);
        assert_eq!(r["Logs"], serde_json::json!([]));
    }
}
