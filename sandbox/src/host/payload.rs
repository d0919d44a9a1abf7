//! The bodies the host sends and unwraps, as in the captured fixtures: the timer's `Data.<binding>`,
//! an HTTP request's `Data.<req>` (`Url`, `Method`, `Query`, `Headers`, `Params`, `Identities`,
//! `Body`) with its `Metadata` (`Query` and `Headers` as plain strings, query parameters other than
//! `code` and the top-level fields of a JSON body), `Metadata.RetryContext`, and the HTTP output
//! binding of an answer (`statusCode`, `body`, `headers`; property names case-insensitive, as
//! Newtonsoft reads them) turned into the client's response.

use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{Map, Value, json};

/// `Data` of a timer invocation.
pub(crate) fn timer_input(
    binding: &str,
    schedule_status: Value,
    past_due: bool,
) -> Map<String, Value> {
    let timer = json!({
        "Schedule": { "AdjustForDST": true },
        "ScheduleStatus": schedule_status,
        "IsPastDue": past_due,
    });
    Map::from_iter([(binding.to_owned(), timer)])
}

/// `Metadata.RetryContext` of retry number `count`; `Exception` is the previous attempt's failure
/// in the shape Newtonsoft gives a .NET exception.
pub(crate) fn retry_context(count: u32, max: i32, previous_error: &str) -> Value {
    json!({
        "RetryCount": count,
        "MaxRetryCount": max,
        "Exception": {
            "ClassName": "System.Exception",
            "Message": previous_error,
            "Data": null,
            "InnerException": null,
            "HelpURL": null,
            "StackTraceString": null,
            "RemoteStackTraceString": null,
            "RemoteStackIndex": 0,
            "ExceptionMethod": null,
            "HResult": -2146233088,
            "Source": null,
            "WatsonBuckets": null,
        },
    })
}

/// A client's request to an HTTP-triggered function.
pub(crate) struct HttpCall<'a> {
    pub url: String,
    pub method: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// Route parameters.
    pub params: Map<String, Value>,
}

/// `content-type` → `Content-Type`, as clients usually send them (hyper does not keep the case).
pub(crate) fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Groups `(key, value)` pairs by key (case-insensitive, first spelling kept), in order.
fn group(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in pairs {
        match groups
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some((_, values)) => values.push(value),
            None => groups.push((key, vec![value])),
        }
    }
    groups
}

/// `Data` and `Metadata` (without `sys`) of an HTTP invocation.
pub(crate) fn http_input(
    binding: &str,
    call: &HttpCall,
) -> (Map<String, Value>, Map<String, Value>) {
    let query = group(
        url::form_urlencoded::parse(call.query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
    let headers = group(call.headers.iter().map(|(name, value)| {
        (
            title_case(name.as_str()),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )
    }));
    let joined = |groups: &[(String, Vec<String>)], skip_code: bool| -> Map<String, Value> {
        groups
            .iter()
            .filter(|(k, _)| !(skip_code && k.eq_ignore_ascii_case("code")))
            .map(|(k, v)| (k.clone(), Value::String(v.join(","))))
            .collect()
    };
    let mut request = Map::new();
    request.insert("Url".into(), call.url.clone().into());
    request.insert("Method".into(), call.method.to_ascii_uppercase().into());
    request.insert("Query".into(), joined(&query, false).into());
    let header_arrays: Map<String, Value> =
        headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    request.insert("Headers".into(), header_arrays.into());
    request.insert("Params".into(), call.params.clone().into());
    request.insert("Identities".into(), json!([anonymous_identity()]));
    if !call.body.is_empty() {
        let content_type = call
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = if content_type.starts_with("application/octet-stream")
            || content_type.starts_with("multipart/")
        {
            base64::engine::general_purpose::STANDARD.encode(call.body)
        } else {
            String::from_utf8_lossy(call.body).into_owned()
        };
        request.insert("Body".into(), body.into());
    }

    let mut metadata = Map::new();
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(call.body) {
        metadata.extend(fields);
    }
    metadata.extend(joined(&query, true));
    metadata.extend(call.params.clone());
    metadata.insert("Query".into(), joined(&query, true).into());
    metadata.insert("Headers".into(), joined(&headers, false).into());
    (
        Map::from_iter([(binding.to_owned(), request.into())]),
        metadata,
    )
}

/// The `ClaimsIdentity` of a request without keys or EasyAuth, as serialized by the host.
fn anonymous_identity() -> Value {
    json!({
        "AuthenticationType": null,
        "IsAuthenticated": false,
        "Actor": null,
        "BootstrapContext": null,
        "Claims": [],
        "Label": null,
        "Name": null,
        "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    })
}

/// The HTTP response a function's answer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Unwraps `Outputs.<output>` (or `ReturnValue` for `$return`) of a handler's answer. Nothing set:
/// 204 No Content, as the host answers.
pub(crate) fn http_answer(
    answer: &Map<String, Value>,
    output: Option<&str>,
) -> Result<HttpAnswer, String> {
    let value = match output {
        None => None,
        Some("$return") => answer.get("ReturnValue"),
        Some(name) => answer
            .get("Outputs")
            .and_then(Value::as_object)
            .and_then(|outputs| get_ci(outputs, name)),
    };
    let res = match value {
        None | Some(Value::Null) => {
            return Ok(HttpAnswer {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            });
        }
        Some(Value::Object(res)) => res,
        Some(other) => {
            return Err(format!(
                "the output binding '{}' must be an object with statusCode, body and headers, got {other}",
                output.unwrap_or_default()
            ));
        }
    };
    let status = match get_ci(res, "statusCode") {
        None | Some(Value::Null) => Some(200),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        Some(_) => None,
    }
    .filter(|s| (100..=999).contains(s))
    .ok_or_else(|| format!("statusCode {} is not an HTTP status", res["statusCode"]))?;
    let body = match get_ci(res, "body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut headers = Vec::new();
    match get_ci(res, "headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                match value {
                    Value::Null => {}
                    Value::String(s) => headers.push((name.clone(), s.clone())),
                    other => headers.push((name.clone(), other.to_string())),
                }
            }
        }
        Some(other) => return Err(format!("headers must be an object of strings, got {other}")),
    }
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
    }
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn outputs_res_becomes_the_response() {
        let a = http_answer(
            &answer(
                r#"{"Outputs":{"res":{"statusCode":"201","body":{"a":1},"headers":{"X-N":5}}}}"#,
            ),
            Some("res"),
        )
        .unwrap();
        assert_eq!(a.status, 201);
        assert_eq!(a.body, br#"{"a":1}"#);
        assert_eq!(
            a.headers,
            vec![
                ("X-N".to_owned(), "5".to_owned()),
                (
                    "Content-Type".to_owned(),
                    "text/plain; charset=utf-8".to_owned()
                )
            ]
        );
        let none = http_answer(&answer(r#"{"Outputs":{}}"#), Some("res")).unwrap();
        assert_eq!(none.status, 204);
        let ret = http_answer(
            &answer(r#"{"ReturnValue":{"StatusCode":202}}"#),
            Some("$return"),
        );
        assert_eq!(ret.unwrap().status, 202);
        assert!(
            http_answer(
                &answer(r#"{"Outputs":{"res":{"statusCode":"x"}}}"#),
                Some("res")
            )
            .is_err()
        );
        assert!(http_answer(&answer(r#"{"Outputs":{"res":"text"}}"#), Some("res")).is_err());
    }

    #[test]
    fn header_names_are_title_cased() {
        assert_eq!(title_case("content-type"), "Content-Type");
        assert_eq!(
            title_case("x-azure-functions-invocationid"),
            "X-Azure-Functions-Invocationid"
        );
        assert_eq!(title_case("host"), "Host");
    }
}
