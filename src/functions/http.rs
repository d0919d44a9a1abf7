//! `POST /SyncHttp` (run now) and `GET /SyncHttp` (last report, runs in progress).
//!
//! The host-level answer is always 200 JSON (the invocation itself worked); the client's answer is in
//! `Outputs.res`: 200 report (all succeeded), 502 report (a workspace failed), 400 malformed request or
//! unknown workspace, 409 a requested workspace is being synced (naming the run), 405 other methods,
//! 500 unusable configuration. Only a malformed host payload gets a host-level 400.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;

use super::payload::{HttpRequestData, InvocationResponse};
use super::{AppState, HostCall, invocation_span, log_failed_run, refuse};
use crate::state::Locked;
use crate::sync::{RunError, RunRequest, Runner, Status, Trigger};

const FUNCTION: &str = "SyncHttp";

pub(super) async fn invoke(State(state): State<AppState>, call: HostCall) -> Response {
    let span = invocation_span(FUNCTION, call.invocation_id.as_deref());
    handle(state, call).instrument(span).await
}

async fn handle(state: AppState, call: HostCall) -> Response {
    let HostCall {
        invocation_id: invocation,
        invocation: payload,
    } = call;
    let id = invocation.as_deref();
    let request = match payload.http_request() {
        Ok(request) => request,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, FUNCTION, id, &e.to_string()),
    };
    let answer = match &state.runner {
        Err(misconfiguration) => {
            tracing::error!(
                invocation_id = id.unwrap_or(""),
                "{FUNCTION} invocation {} answered 500: {}",
                id.unwrap_or("(no invocation id)"),
                misconfiguration.text()
            );
            let body =
                json!({ "error": misconfiguration.summary, "problems": misconfiguration.problems });
            InvocationResponse::http(500, &body, vec![misconfiguration.text()])
        }
        Ok(runner) => answer(runner, request, invocation).await,
    };
    // The invocation itself succeeded, whatever the client is told.
    Json(answer).into_response()
}

async fn answer(
    runner: &Runner,
    request: HttpRequestData,
    invocation: Option<String>,
) -> InvocationResponse {
    match request.method.as_str() {
        "GET" => overview(runner).await,
        "POST" => match SyncOptions::from_request(&request) {
            Err(message) => client_error(400, message),
            Ok(options) => run(runner, options, invocation).await,
        },
        other => client_error(
            405,
            format!(
                "method {other} is not supported: use POST to run a sync, GET for the last report"
            ),
        ),
    }
}

async fn run(
    runner: &Runner,
    options: SyncOptions,
    invocation: Option<String>,
) -> InvocationResponse {
    let request = RunRequest {
        trigger: Trigger::Http,
        invocation_id: invocation,
        workspaces: options.workspaces,
        dry_run: options.dry_run,
        allow_deprovision: options.allow_deprovision,
    };
    match runner.run(request, false).await {
        Ok(report) => {
            let status = if report.status == Status::Failed {
                log_failed_run(FUNCTION, report.invocation_id.as_deref(), &report);
                502
            } else {
                200
            };
            let logs = report.workspaces.iter().map(|w| w.summary_line()).collect();
            InvocationResponse::http(status, &report, logs)
        }
        Err(e @ RunError::UnknownWorkspaces { .. }) => client_error(400, e.to_string()),
        Err(RunError::Busy(busy)) => {
            let message = RunError::Busy(busy.clone()).to_string();
            tracing::warn!(running_run_id = %busy.holder.run_id, "{FUNCTION} answered 409: {message}");
            let body = json!({ "error": message, "runningRunId": busy.holder.run_id, "running": busy.holder });
            InvocationResponse::http(409, &body, vec![message])
        }
        Err(e @ RunError::BusyElsewhere { .. }) => {
            let message = e.to_string();
            let RunError::BusyElsewhere { locked, holder } = e else {
                return client_error(409, message);
            };
            tracing::warn!("{FUNCTION} answered 409: {message}");
            let (workspace, account) = match locked {
                Locked::Workspace(name) => (Some(name), false),
                Locked::Account => (None, true),
            };
            let body = json!({
                "error": message,
                "workspace": workspace,
                "account": account,
                "runningRunId": holder.as_ref().map(|h| h.run_id.clone()),
                "holder": holder,
            });
            InvocationResponse::http(409, &body, vec![message])
        }
    }
}

/// `GET /api/SyncHttp`: the runs in progress here and, with shared state, what every instance
/// recorded (last runs, each workspace's last report, who holds which workspace now); without it,
/// this process's last report.
async fn overview(runner: &Runner) -> InvocationResponse {
    let running = runner.coordinator().running();
    let Some(state) = runner.state() else {
        let body = json!({
            "running": running,
            "lastReport": runner.coordinator().last_report(),
            "sharedState": null,
        });
        return InvocationResponse::http(200, &body, Vec::new());
    };
    let names: Vec<_> = runner
        .config()
        .workspaces
        .iter()
        .map(|w| w.name.clone())
        .collect();
    match state.overview(&names).await {
        Ok(mut body) => {
            if let Some(fields) = body.as_object_mut() {
                fields.insert("running".to_owned(), json!(running));
                fields.insert("sharedState".to_owned(), json!(state.endpoint()));
            }
            InvocationResponse::http(200, &body, Vec::new())
        }
        Err(e) => {
            let message = format!("the last reports could not be read: {e}");
            tracing::error!("{FUNCTION} answered 503: {message}");
            let body = json!({
                "error": message,
                "running": running,
                "lastReportOfThisInstance": runner.coordinator().last_report(),
                "sharedState": state.endpoint(),
            });
            InvocationResponse::http(503, &body, vec![message])
        }
    }
}

fn client_error(status: u16, message: String) -> InvocationResponse {
    tracing::warn!("{FUNCTION} answered {status}: {message}");
    InvocationResponse::http(status, &json!({ "error": message }), vec![message])
}

/// What the client asked for, from the JSON body and the query string together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SyncOptions {
    pub workspaces: Vec<String>,
    pub dry_run: bool,
    pub allow_deprovision: bool,
}

/// The JSON body. Unknown fields are refused: a misspelt `dryRun` must never start a real sync.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BodyOptions {
    #[serde(default)]
    workspaces: Option<OneOrMany>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    allow_deprovision: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl SyncOptions {
    /// # Errors
    /// A message for the client: bad JSON, unknown field or query parameter, bad `dryRun`, or body and
    /// query disagreeing.
    fn from_request(request: &HttpRequestData) -> Result<SyncOptions, String> {
        let body = parse_body(request.body.as_deref())?;
        let mut query_workspaces: Option<Vec<String>> = None;
        let mut query_dry_run: Option<bool> = None;
        let mut query_allow: Option<bool> = None;
        for (key, value) in &request.query {
            match key.to_ascii_lowercase().as_str() {
                // The function key: never echoed, never used here.
                "code" => {}
                "workspace" | "workspaces" => {
                    query_workspaces
                        .get_or_insert_with(Vec::new)
                        .extend(split_names(value));
                }
                "dryrun" => query_dry_run = Some(parse_flag(key, value)?),
                "allowdeprovision" => query_allow = Some(parse_flag(key, value)?),
                _ => {
                    return Err(format!(
                        "unknown query parameter \"{key}\": the known ones are \"workspace\", \"dryRun\" and \"allowDeprovision\""
                    ));
                }
            }
        }
        let body_workspaces = body.workspaces.map(|w| match w {
            OneOrMany::One(name) => vec![name],
            OneOrMany::Many(names) => names,
        });
        let workspaces =
            agree("workspaces", body_workspaces, query_workspaces)?.unwrap_or_default();
        if let Some(blank) = workspaces.iter().position(|n| n.trim().is_empty()) {
            return Err(format!("workspace name {} is empty", blank + 1));
        }
        let dry_run = agree("dryRun", body.dry_run, query_dry_run)?.unwrap_or(false);
        let allow_deprovision =
            agree("allowDeprovision", body.allow_deprovision, query_allow)?.unwrap_or(false);
        Ok(SyncOptions {
            workspaces: workspaces
                .into_iter()
                .map(|n| n.trim().to_owned())
                .collect(),
            dry_run,
            allow_deprovision,
        })
    }
}

fn parse_body(body: Option<&str>) -> Result<BodyOptions, String> {
    match body.map(str::trim) {
        None | Some("") | Some("null") => Ok(BodyOptions::default()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            format!(
                "the request body must be a JSON object like {{\"workspaces\": [\"name\"], \"dryRun\": true}}: {e}"
            )
        }),
    }
}

fn split_names(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

fn parse_flag(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        // `?dryRun` alone asks for a dry run.
        "" | "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!(
            "query parameter {key} must be true or false, got \"{value}\""
        )),
    }
}

/// The value given in the body or the query; both given and different is the client's mistake.
fn agree<T: PartialEq + std::fmt::Debug>(
    field: &str,
    body: Option<T>,
    query: Option<T>,
) -> Result<Option<T>, String> {
    match (body, query) {
        (Some(b), Some(q)) if b != q => Err(format!(
            "{field} is given in both the body ({b:?}) and the query string ({q:?}) with different values"
        )),
        (b, q) => Ok(b.or(q)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(query: &[(&str, &str)], body: Option<&str>) -> Result<SyncOptions, String> {
        let request = HttpRequestData {
            method: "POST".into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.map(str::to_owned),
        };
        SyncOptions::from_request(&request)
    }

    #[test]
    fn no_body_and_no_query_means_every_workspace_for_real() {
        assert_eq!(options(&[], None), Ok(SyncOptions::default()));
        assert_eq!(
            options(&[("code", "k")], Some("  ")),
            Ok(SyncOptions::default())
        );
    }

    #[test]
    fn body_and_query_both_select_workspaces_and_dry_run() {
        let expected = SyncOptions {
            workspaces: vec!["a".into(), "b".into()],
            dry_run: true,
            allow_deprovision: false,
        };
        assert_eq!(
            options(&[], Some(r#"{"workspaces":["a","b"],"dryRun":true}"#)),
            Ok(expected.clone())
        );
        assert_eq!(
            options(&[("workspace", "a,b"), ("dryRun", "true")], None),
            Ok(expected.clone())
        );
        assert_eq!(
            options(&[("Workspace", "a, b"), ("dryrun", "")], None),
            Ok(expected.clone())
        );
        assert_eq!(
            options(&[("dryRun", "true")], Some(r#"{"workspaces":["a","b"]}"#)),
            Ok(expected)
        );
        assert_eq!(
            options(&[], Some(r#"{"workspaces":"a"}"#)),
            Ok(SyncOptions {
                workspaces: vec!["a".into()],
                dry_run: false,
                allow_deprovision: false,
            })
        );
        let confirmed = options(
            &[("allowDeprovision", "true")],
            Some(r#"{"workspaces":["a"]}"#),
        );
        assert!(confirmed.unwrap().allow_deprovision);
        let confirmed = options(&[], Some(r#"{"workspaces":["a"],"allowDeprovision":true}"#));
        assert!(confirmed.unwrap().allow_deprovision);
    }

    #[test]
    fn misspelt_fields_and_parameters_are_refused_rather_than_ignored() {
        let err = options(&[], Some(r#"{"dryrun":true}"#)).unwrap_err();
        assert!(
            err.contains(
                "unknown field `dryrun`, expected one of `workspaces`, `dryRun`, `allowDeprovision`"
            ),
            "{err}"
        );
        let err = options(&[("dry_run", "true")], None).unwrap_err();
        assert_eq!(
            err,
            "unknown query parameter \"dry_run\": the known ones are \"workspace\", \"dryRun\" and \"allowDeprovision\""
        );
    }

    #[test]
    fn bad_values_are_refused_with_what_was_wrong() {
        assert_eq!(
            options(&[("dryRun", "maybe")], None).unwrap_err(),
            "query parameter dryRun must be true or false, got \"maybe\""
        );
        let err = options(&[], Some("{not json")).unwrap_err();
        assert!(
            err.starts_with("the request body must be a JSON object like"),
            "{err}"
        );
        let err = options(&[], Some(r#"{"dryRun":"yes"}"#)).unwrap_err();
        assert!(
            err.contains("invalid type: string \"yes\", expected a boolean"),
            "{err}"
        );
        assert_eq!(
            options(&[], Some(r#"{"workspaces":[" "]}"#)).unwrap_err(),
            "workspace name 1 is empty"
        );
    }

    #[test]
    fn body_and_query_that_disagree_are_refused() {
        let err = options(&[("dryRun", "false")], Some(r#"{"dryRun":true}"#)).unwrap_err();
        assert_eq!(
            err,
            "dryRun is given in both the body (true) and the query string (false) with different values"
        );
    }
}
