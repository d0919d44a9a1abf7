//! A tiny custom handler that is not our product, for `sandbox/tests/host.rs`: the local Functions
//! host ([`sandbox::host`]) starts it as an app's `defaultExecutablePath`. It serves `GET /` and one
//! behaviour per function name (an HTTP answer, 500, text, an empty body, exits, a handler that fails
//! twice then answers), and echoes what it received (headers, payload, environment, working directory)
//! in `ReturnValue`, so the tests check the host's wire format from the other side.
//!
//! It is a binary of its own (not a test re-run as a child) so that `cargo test` never counts it as a
//! test that passes by doing nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The one argument the tests' `host.json` passes: without it the binary refuses to start, so the
/// host's handling of `customHandler.description.arguments` stays tested.
const ARGUMENT: &str = "--as-custom-handler";

static FLAKY_CALLS: AtomicUsize = AtomicUsize::new(0);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args != [ARGUMENT] {
        return Err(format!("expected the single argument {ARGUMENT}, got {args:?}").into());
    }
    let port: u16 = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")?.parse()?;
    if let Ok(ms) = std::env::var("FAKE_STARTUP_DELAY_MS") {
        tokio::time::sleep(Duration::from_millis(ms.parse()?)).await;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("fake handler listening on {port}");
    eprintln!("warning: a fake warning on stderr");
    eprintln!("a fake line on stderr");
    let app = axum::Router::new().fallback(fake);
    axum::serve(listener, app).await?;
    Ok(())
}

fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

async fn fake(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if method == Method::GET && uri.path() == "/" {
        return "fake handler".into_response();
    }
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let env: serde_json::Map<String, Value> = [
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "FUNCTIONS_HTTPWORKER_PORT",
        "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
        "FUNCTIONS_APP_ROOT_PATH",
        "FROM_LOCAL_SETTINGS",
        "FROM_CALLER",
    ]
    .iter()
    .map(|k| (k.to_string(), std::env::var(k).ok().into()))
    .collect();
    let header_list: Vec<[String; 2]> = headers
        .iter()
        .map(|(k, v)| {
            [
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ]
        })
        .collect();
    let seen = json!({
        "method": method.as_str(), "headers": header_list, "payload": payload, "env": env,
        "cwd": std::env::current_dir().ok(),
    });
    let echo = json!({ "Outputs": {}, "Logs": ["first log line", "second log line"], "ReturnValue": seen });
    let name = uri.path().trim_start_matches('/');
    match name {
        "Http" => {
            let body = json!({ "req": payload["Data"]["req"], "metadata": payload["Metadata"] });
            ok(json!({
                "Outputs": { "res": {
                    "statusCode": "201",
                    "body": body.to_string(),
                    "headers": { "Content-Type": "application/json", "X-Fake": "yes" },
                }},
                "Logs": ["http log line"],
                "ReturnValue": null,
            }))
        }
        "Fail500" | "HttpFail" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"Logs": ["SECRET-IN-BODY"]})),
        )
            .into_response(),
        "Text" => ([(header::CONTENT_TYPE, "text/plain")], "ok").into_response(),
        "Empty" => ([(header::CONTENT_TYPE, "application/json")], "").into_response(),
        "Exit0" => std::process::exit(0),
        "Exit1" => std::process::exit(1),
        "Flaky" => {
            let n = FLAKY_CALLS.fetch_add(1, Ordering::SeqCst);
            println!(
                "FLAKY call {n} RetryContext={}",
                payload["Metadata"]["RetryContext"]
            );
            if n < 2 {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else {
                ok(echo)
            }
        }
        _ => ok(echo),
    }
}
