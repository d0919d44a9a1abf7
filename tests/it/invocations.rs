//! Invocation semantics with scripted engines: the router served in-process on a free port, called
//! the way the host calls it.

use std::sync::Arc;
use std::time::Duration;

use entra_databricks_sync::functions::{AppState, Application};
use entra_databricks_sync::sync::{Engine, Runner};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{Behaviour, Scripted, config, host_headers, invoke};

const TIMER: &str = r#"{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}"#;

async fn serve(names: &[&str], engine: Arc<dyn Engine>) -> u16 {
    let app = Application::bind(0, AppState::ready(Runner::new(config(names), engine)))
        .await
        .unwrap();
    let port = app.port();
    tokio::spawn(app.run_until(std::future::pending()));
    port
}

fn http(method: &str, body: Option<Value>, query: Value) -> Vec<u8> {
    let mut req = json!({ "Url": "http://localhost:7071/api/SyncHttp", "Method": method, "Query": query, "Headers": {}, "Params": {} });
    if let Some(body) = body {
        req["Body"] = Value::String(body.to_string());
    }
    json!({ "Data": { "req": req }, "Metadata": {} })
        .to_string()
        .into_bytes()
}

async fn call_http(port: u16, payload: &[u8]) -> (u64, Value, Vec<String>) {
    let (status, _, body) = invoke(port, "SyncHttp", payload, &host_headers("http-1")).await;
    assert_eq!(status, 200, "SyncHttp always answers the host 200: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let res = &answer["Outputs"]["res"];
    let logs = answer["Logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    (
        res["statusCode"].as_u64().unwrap(),
        serde_json::from_str(res["body"].as_str().unwrap()).unwrap(),
        logs,
    )
}

#[tokio::test]
async fn timer_with_every_workspace_succeeding_answers_200_with_one_log_line_per_workspace() {
    let port = serve(&["a", "b"], Scripted::new(&[])).await;
    let (status, content_type, body) =
        invoke(port, "SyncTimer", TIMER.as_bytes(), &host_headers("t-1")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["Outputs"], json!({}));
    assert_eq!(answer["ReturnValue"], Value::Null);
    assert_eq!(
        answer["Logs"],
        json!([
            "a: succeeded (desired 3, existing 2, created 1, reactivated 0, skipped 0, failed 0)",
            "b: succeeded (desired 3, existing 2, created 1, reactivated 0, skipped 0, failed 0)"
        ])
    );
}

#[tokio::test]
async fn timer_with_one_failed_workspace_answers_500_and_the_others_still_run() {
    let port = serve(
        &["a", "b"],
        Scripted::new(&[("a", Behaviour::Fail("Key Vault said 403"))]),
    )
    .await;
    let (status, content_type, body) =
        invoke(port, "SyncTimer", TIMER.as_bytes(), &host_headers("t-2")).await;
    assert_eq!((status, content_type.as_str()), (500, "application/json"));
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("1 of 2 workspaces failed"),
        "{answer}"
    );
    assert_eq!(
        answer["report"]["workspaces"][0]["error"],
        "Key Vault said 403"
    );
    assert_eq!(answer["report"]["workspaces"][1]["status"], "succeeded");
}

#[tokio::test]
async fn a_panicking_workspace_becomes_a_failed_workspace_and_the_process_keeps_serving() {
    let port = serve(&["a", "b"], Scripted::new(&[("a", Behaviour::Panic)])).await;
    let (code, report, _) = call_http(port, &http("POST", None, json!({}))).await;
    assert_eq!(code, 502);
    assert_eq!(report["workspaces"][0]["status"], "failed");
    assert!(
        report["workspaces"][0]["error"]
            .as_str()
            .unwrap()
            .contains("panicked (scripted panic in a)")
    );
    assert_eq!(report["workspaces"][1]["status"], "succeeded");
    let (code, _, _) = call_http(
        port,
        &http("POST", Some(json!({"workspaces": ["b"]})), json!({})),
    )
    .await;
    assert_eq!(
        code, 200,
        "the workspace is released and the next run works"
    );
}

#[tokio::test]
async fn http_post_answers_200_with_the_report_when_all_succeeded_and_502_when_any_failed() {
    let port = serve(
        &["a", "b"],
        Scripted::new(&[("b", Behaviour::Fail("boom"))]),
    )
    .await;
    let (code, report, logs) = call_http(
        port,
        &http(
            "POST",
            Some(json!({"workspaces": ["A"], "dryRun": true})),
            json!({}),
        ),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        (report["status"].as_str(), report["dryRun"].as_bool()),
        (Some("succeeded"), Some(true))
    );
    assert_eq!(report["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(logs.len(), 1);
    for key in [
        "runId",
        "trigger",
        "dryRun",
        "startedAt",
        "durationMs",
        "status",
        "workspaces",
    ] {
        assert!(report.get(key).is_some(), "report lacks {key}");
    }
    for key in [
        "name", "status", "error", "groups", "users", "actions", "requests",
    ] {
        assert!(
            report["workspaces"][0].get(key).is_some(),
            "workspace report lacks {key}"
        );
    }
    let (code, report, _) = call_http(port, &http("POST", None, json!({"workspace": "b"}))).await;
    assert_eq!((code, report["status"].as_str()), (502, Some("failed")));
}

#[tokio::test]
async fn unknown_workspace_and_malformed_body_answer_400_and_run_nothing() {
    let engine = Scripted::new(&[]);
    let port = serve(&["a"], engine.clone()).await;
    let (code, body, _) = call_http(
        port,
        &http(
            "POST",
            Some(json!({"workspaces": ["a", "nope"]})),
            json!({}),
        ),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["error"],
        "unknown workspace \"nope\"; configured: \"a\""
    );
    let (code, body, _) = call_http(
        port,
        &http("POST", Some(json!({"dryrun": true})), json!({})),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `dryrun`"),
        "{body}"
    );
    let (code, _, _) = call_http(port, &http("DELETE", None, json!({}))).await;
    assert_eq!(code, 405);
    assert!(engine.max_in_flight().is_empty(), "no workspace was synced");
}

#[tokio::test]
async fn http_run_on_a_busy_workspace_answers_409_naming_the_running_run_and_get_shows_it() {
    let gate = Arc::new(Semaphore::new(0));
    let engine = Scripted::new(&[("a", Behaviour::WaitFor(gate.clone()))]);
    let port = serve(&["a", "b"], engine.clone()).await;
    let first = tokio::spawn(async move {
        call_http(port, &http("POST", None, json!({"workspace": "a"}))).await
    });
    let running = wait_until_running(port).await;
    let run_id = running["runId"].as_str().unwrap().to_owned();

    let (code, body, _) = call_http(
        port,
        &http("POST", Some(json!({"workspaces": ["b", "a"]})), json!({})),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(body["runningRunId"], run_id.as_str());
    assert!(
        body["error"].as_str().unwrap().starts_with(&format!(
            "workspace \"a\" is being synced by run {run_id} (trigger http"
        )),
        "{body}"
    );
    let (code, _, _) = call_http(port, &http("POST", None, json!({"workspace": "b"}))).await;
    assert_eq!(code, 200, "another workspace is free");

    gate.add_permits(1);
    let (code, report, _) = first.await.unwrap();
    assert_eq!(
        (code, report["runId"].as_str()),
        (200, Some(run_id.as_str()))
    );
    let (_, state, _) = call_http(port, &http("GET", None, json!({}))).await;
    assert_eq!(state["running"], json!([]));
    assert!(state["lastReport"]["runId"].is_string());
}

#[tokio::test]
async fn timer_tick_waits_for_a_running_http_run_of_the_same_workspace() {
    let gate = Arc::new(Semaphore::new(0));
    let engine = Scripted::new(&[("a", Behaviour::WaitFor(gate.clone()))]);
    let port = serve(&["a"], engine.clone()).await;
    let http_run =
        tokio::spawn(async move { call_http(port, &http("POST", None, json!({}))).await });
    wait_until_running(port).await;
    let timer = tokio::spawn(async move {
        invoke(port, "SyncTimer", TIMER.as_bytes(), &host_headers("t-3")).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !timer.is_finished(),
        "the timer waits instead of failing or overlapping"
    );
    gate.add_permits(2);
    assert_eq!(http_run.await.unwrap().0, 200);
    assert_eq!(timer.await.unwrap().0, 200);
    assert_eq!(
        engine.max_in_flight()["a"],
        1,
        "never two syncs of one workspace at once"
    );
}

#[tokio::test]
async fn many_concurrent_requests_never_sync_one_workspace_twice_at_once() {
    let gate = Arc::new(Semaphore::new(0));
    let engine = Scripted::new(&[
        ("a", Behaviour::WaitFor(gate.clone())),
        ("b", Behaviour::WaitFor(gate.clone())),
    ]);
    let port = serve(&["a", "b"], engine.clone()).await;
    let first =
        tokio::spawn(async move { call_http(port, &http("POST", None, json!({}))).await.0 });
    wait_until_running(port).await;
    let timers: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(async move {
                invoke(port, "SyncTimer", TIMER.as_bytes(), &host_headers("t"))
                    .await
                    .0
            })
        })
        .collect();
    let mut refused = Vec::new();
    for i in 0..40 {
        let payload = match i % 3 {
            0 => http("POST", None, json!({})),
            1 => http("POST", None, json!({"workspace": "b"})),
            _ => http(
                "POST",
                Some(json!({"workspaces": ["a"], "dryRun": true})),
                json!({}),
            ),
        };
        refused.push(tokio::spawn(
            async move { call_http(port, &payload).await.0 },
        ));
    }
    for call in refused {
        assert_eq!(
            call.await.unwrap(),
            409,
            "every HTTP run that overlaps the first is refused at once"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(timers.iter().all(|t| !t.is_finished()), "timer ticks wait");
    gate.add_permits(1000);
    assert_eq!(first.await.unwrap(), 200);
    for timer in timers {
        assert_eq!(timer.await.unwrap(), 200);
    }
    let max = engine.max_in_flight();
    assert_eq!(
        (max["a"], max["b"]),
        (1, 1),
        "never two syncs of one workspace at once"
    );
}

#[tokio::test]
async fn a_run_whose_caller_hangs_up_still_finishes_and_holds_its_workspace_until_then() {
    let gate = Arc::new(Semaphore::new(0));
    let engine = Scripted::new(&[("a", Behaviour::WaitFor(gate.clone()))]);
    let port = serve(&["a"], engine.clone()).await;
    let caller = tokio::spawn(async move { call_http(port, &http("POST", None, json!({}))).await });
    let run_id = wait_until_running(port).await["runId"].clone();
    caller.abort();
    let _ = caller.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (code, body, _) = call_http(port, &http("POST", None, json!({}))).await;
    assert_eq!((code, &body["runningRunId"]), (409, &run_id));
    gate.add_permits(1);
    for _ in 0..200 {
        let (_, state, _) = call_http(port, &http("GET", None, json!({}))).await;
        if state["lastReport"]["runId"] == run_id {
            assert_eq!(state["running"], json!([]));
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the abandoned run never finished");
}

/// Polls `GET` until a run is in progress, and returns it.
async fn wait_until_running(port: u16) -> Value {
    for _ in 0..200 {
        let (_, state, _) = call_http(port, &http("GET", None, json!({}))).await;
        if let Some(run) = state["running"].as_array().and_then(|r| r.first()) {
            return run.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no run started");
}
