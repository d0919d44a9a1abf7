//! The Functions host's invocation payload (`functions::payload`): any bytes as the body of
//! `POST /SyncTimer` or `POST /SyncHttp`.
//!
//! Properties: parsing and reading the timer binding, the HTTP binding and `RetryContext` never
//! panic; a method read is upper case, trimmed and non-empty; an answer can always be built; and the
//! `req` binding's `Url` and `Headers` (which carry the function key) never reach what the app keeps
//! or any message.
#![no_main]

use entra_databricks_sync::functions::payload::{Invocation, InvocationResponse};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Stands for a function key: distinctive enough never to occur by chance.
const KEY: &str = "fnKEY-7c1e0b5a9d-FUZZ";

fuzz_target!(|data: &[u8]| {
    let Ok(invocation) = Invocation::parse(data).map_err(|e| e.to_string()) else {
        return;
    };
    // A key the input already carries (even encoded, as in `Query`) may show legitimately.
    if !read_everything(&invocation).contains(KEY) {
        key_never_kept(&invocation);
    }
});

/// Everything the handlers read from an invocation, with the properties that must hold.
fn read_everything(invocation: &Invocation) -> String {
    let _ = invocation.retry_context();
    let mut seen = String::new();
    match invocation.timer() {
        Ok(timer) => seen.push_str(&format!("{timer:?}")),
        Err(e) => seen.push_str(&e.to_string()),
    }
    match invocation.http_request() {
        Ok(request) => {
            let method = &request.method;
            assert!(!method.is_empty(), "empty method");
            assert_eq!(method.trim(), method, "untrimmed method");
            assert_eq!(
                &method.to_ascii_uppercase(),
                method,
                "method not upper case"
            );
            let answer = InvocationResponse::http(200, &request.query, vec![method.clone()]);
            let json = serde_json::to_value(&answer).expect("an answer serializes");
            assert!(json.as_object().is_some_and(|o| !o.is_empty()));
            seen.push_str(&format!("{request:?}"));
        }
        Err(e) => seen.push_str(&e.to_string()),
    }
    seen
}

/// Puts a function key in `req.Url` and `req.Headers` and checks it shows nowhere.
fn key_never_kept(invocation: &Invocation) {
    let mut data = invocation.data.clone();
    let Some(Value::Object(req)) = data.get_mut("req") else {
        return;
    };
    req.insert(
        "Url".into(),
        Value::String(format!(
            "https://app.azurewebsites.net/api/SyncHttp?code={KEY}"
        )),
    );
    let mut headers = serde_json::Map::new();
    headers.insert("x-functions-key".into(), Value::String(KEY.into()));
    req.insert("Headers".into(), Value::Object(headers));
    let body = serde_json::json!({ "Data": data, "Metadata": invocation.metadata });
    let bytes = serde_json::to_vec(&body).expect("a JSON value serializes");
    let reparsed = Invocation::parse(&bytes).expect("a serialized invocation parses");
    let seen = read_everything(&reparsed);
    assert!(!seen.contains(KEY), "the function key leaked: {seen}");
}
