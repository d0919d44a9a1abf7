//! The compiled `handler`, spoken to exactly as the Functions host does: started with the port in the
//! environment, polled on `GET /` every 25 ms, then sent the captured and built invocations chunked.
//! Runs go to an emulated world (`sandbox::world`) through the handler's production code paths.

use serde_json::Value;

use crate::scenario::small_world;
use crate::support::{Handler, config_json, host_headers, invoke};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/functions-host");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// The captured headers of a fixture, minus those the HTTP client sets itself.
fn fixture_headers(name: &str) -> Vec<(String, String)> {
    let headers: serde_json::Map<String, Value> = serde_json::from_str(&fixture(name)).unwrap();
    headers
        .into_iter()
        .filter(|(k, _)| {
            !["host", "transfer-encoding", "content-length"]
                .contains(&k.to_ascii_lowercase().as_str())
        })
        .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
        .collect()
}

fn res(body: &str) -> (u64, Value) {
    let answer: Value = serde_json::from_str(body).unwrap();
    let res = &answer["Outputs"]["res"];
    assert_eq!(
        res["headers"]["Content-Type"], "application/json",
        "{answer}"
    );
    (
        res["statusCode"].as_u64().unwrap(),
        serde_json::from_str(res["body"].as_str().unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn captured_timer_invocation_syncs_and_logs_one_line_per_workspace() {
    let (world, workspaces, config) = small_world(&["analytics-test"]).await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (status, content_type, body) = invoke(
        handler.port,
        "SyncTimer",
        fixture("timer-captured.json").as_bytes(),
        &fixture_headers("timer-captured.headers.json"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/json"),
        "{body}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["Logs"],
        serde_json::json!([
            "analytics-test: succeeded (desired 2, existing 0, created 2, reactivated 0, skipped 0, failed 0)"
        ])
    );
    assert_eq!(body["Outputs"], serde_json::json!({}));
    assert_eq!(
        workspaces[0].scim.users().len(),
        3,
        "the admin and the two members"
    );

    // The structured trace Application Insights queries rely on (docs/monitoring.md).
    assert!(handler.wait_for_stdout("runFinished").await);
    let events: Vec<Value> = handler
        .stdout()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["event"].is_string())
        .collect();
    let synced = events
        .iter()
        .find(|e| e["event"] == "workspaceSynced")
        .expect("workspaceSynced");
    for (field, value) in [
        ("workspace", serde_json::json!("analytics-test")),
        ("status", serde_json::json!("succeeded")),
        ("trigger", serde_json::json!("timer")),
        (
            "invocation_id",
            serde_json::json!("83a33220-a921-460a-bec0-b3f043dcf1ff"),
        ),
        ("dry_run", serde_json::json!(false)),
        ("created", serde_json::json!(2)),
        ("desired", serde_json::json!(2)),
        ("requests_keyvault", serde_json::json!(1)),
        ("requests_graph", serde_json::json!(2)),
        // One user list page, the marker group look-up, two creations, the marker group and its members.
        ("requests_databricks", serde_json::json!(6)),
        ("sp_desired", serde_json::json!(0)),
        ("remaining", serde_json::json!(0)),
    ] {
        assert_eq!(synced[field], value, "{field} in {synced}");
    }
    let finished = events
        .iter()
        .find(|e| e["event"] == "runFinished")
        .expect("runFinished");
    assert_eq!(finished["run_id"], synced["run_id"]);
    assert_eq!(
        (
            finished["workspaces"].as_u64(),
            finished["failed_workspaces"].as_u64()
        ),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn a_failed_timer_run_answers_500_and_puts_the_cause_on_stderr_with_the_invocation_id() {
    let (world, _, config) = small_world(&["analytics-test"]).await;
    world.vault.deny("system");
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (status, content_type, body) = invoke(
        handler.port,
        "SyncTimer",
        fixture("timer-captured.json").as_bytes(),
        &fixture_headers("timer-captured.headers.json"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (500, "application/json"),
        "{body}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["report"]["status"], "failed");
    assert_eq!(
        body["report"]["invocationId"],
        "83a33220-a921-460a-bec0-b3f043dcf1ff"
    );
    let error = body["report"]["workspaces"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(
            "Key Vault secret https://kv-dbx-sync.vault.azure.net/secrets/analytics-test-pat"
        ),
        "{error}"
    );
    assert!(error.contains("Key Vault Secrets User"), "{error}");
    // The host drops a failed answer's body: the summary must be on stderr, with the invocation id.
    assert!(
        handler
            .wait_for_stderr("SyncTimer invocation 83a33220-a921-460a-bec0-b3f043dcf1ff run")
            .await
    );
}

#[tokio::test]
async fn monitored_past_due_retried_timer_is_logged_with_its_schedule_and_retry() {
    let (world, _, config) = small_world(&["analytics-test"]).await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (status, content_type, _) = invoke(
        handler.port,
        "SyncTimer",
        fixture("timer-monitored-pastdue-retry.json").as_bytes(),
        &host_headers("5d1a7c2e-0000-4000-8000-000000000001"),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    // Lines are read from the pipe as they come: the answer can arrive first.
    assert!(handler.wait_for_stdout("SyncTimer fired").await);
    let fired: Value = handler
        .stdout()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("SyncTimer fired"))
        })
        .expect("the timer firing is logged on stdout as JSON");
    assert_eq!(fired["is_past_due"], true);
    assert_eq!(fired["schedule_next"], "2026-11-28T11:00:00+00:00");
    assert_eq!(fired["retry_count"], 1);
    assert_eq!(fired["level"], "INFO");
    assert_eq!(
        fired["span"]["invocation_id"],
        "5d1a7c2e-0000-4000-8000-000000000001"
    );
}

#[tokio::test]
async fn authenticated_post_runs_the_requested_dry_run_and_writes_nothing() {
    let (world, workspaces, config) = small_world(&["analytics-test", "other"]).await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (status, content_type, body) = invoke(
        handler.port,
        "SyncHttp",
        fixture("http-post-sync.json").as_bytes(),
        &host_headers("c0ffee00-0000-4000-8000-000000000002"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/json"),
        "{body}"
    );
    let (code, report) = res(&body);
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["dryRun"], true);
    assert_eq!(report["trigger"], "http");
    assert_eq!(report["status"], "succeeded");
    let names: Vec<&str> = report["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["analytics-test"],
        "only the requested workspace runs"
    );
    let actions = report["workspaces"][0]["actions"].as_array().unwrap();
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["createUser", "createUser", "createGroup", "addToGroup"],
        "{report}"
    );
    assert!(
        actions.iter().all(|a| a["outcome"] == "planned"),
        "{report}"
    );
    for ws in &workspaces {
        assert_eq!(ws.scim.users().len(), 1, "a dry run creates nobody");
        assert_eq!(
            ws.scim.faults().count(&axum::http::Method::POST, "/Users"),
            0
        );
    }
    let logs: Value = serde_json::from_str::<Value>(&body).unwrap()["Logs"].clone();
    assert_eq!(logs.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn captured_get_answers_the_last_report_and_no_run_in_progress() {
    let (world, _, config) = small_world(&["analytics-test"]).await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let get = fixture("http-get-captured.json");
    let headers = fixture_headers("http-get-captured.headers.json");
    let (status, content_type, body) =
        invoke(handler.port, "SyncHttp", get.as_bytes(), &headers).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let (code, state) = res(&body);
    assert_eq!(code, 200);
    assert_eq!(state["running"], serde_json::json!([]));
    assert_eq!(state["lastReport"], Value::Null);

    invoke(
        handler.port,
        "SyncHttp",
        fixture("http-post-sync.json").as_bytes(),
        &host_headers("1"),
    )
    .await;
    let (_, _, body) = invoke(handler.port, "SyncHttp", get.as_bytes(), &headers).await;
    let (_, state) = res(&body);
    assert_eq!(state["lastReport"]["invocationId"], "1");
    assert_eq!(state["lastReport"]["dryRun"], true);
}

#[tokio::test]
async fn handler_is_ready_quickly_and_answers_the_readiness_probe_with_json() {
    let handler = Handler::start(&config_json(&["a"]), &[]).await;
    let response = reqwest::get(handler.url("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    // Generous bound: this only catches a start-up that does real work before binding.
    assert!(
        handler.ready_after.as_secs() < 10,
        "{:?}",
        handler.ready_after
    );
}

#[tokio::test]
async fn malformed_payloads_get_a_clear_json_error_and_the_handler_keeps_serving() {
    let mut handler = Handler::start(&config_json(&["a"]), &[]).await;
    let huge = vec![b' '; 2 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "SyncTimer",
            b"not json".to_vec(),
            400,
            "the invocation payload is not valid JSON",
        ),
        (
            "SyncTimer",
            Vec::new(),
            400,
            "the invocation payload is empty",
        ),
        (
            "SyncTimer",
            br#"{"Data":{"timer":{"IsPastDue":"no"}}}"#.to_vec(),
            400,
            "the timer \"timer\" binding is malformed",
        ),
        (
            "SyncTimer",
            br#"{"Data":[]}"#.to_vec(),
            400,
            "\"Data\" must be an object of bindings, got an array",
        ),
        (
            "SyncTimer",
            br#"{"Data":{}}"#.to_vec(),
            400,
            "\"Data\" holds no timer binding",
        ),
        (
            "SyncHttp",
            br#"{"Data":{"req":{"Method":7}}}"#.to_vec(),
            400,
            "\"Method\" must be a non-empty string, got a number",
        ),
        (
            "SyncHttp",
            br#"{"Data":{"timer":{}}}"#.to_vec(),
            400,
            "\"Data\" holds no HTTP request binding \"req\"",
        ),
        (
            "SyncHttp",
            huge,
            413,
            "the invocation payload is larger than 1048576 bytes",
        ),
        (
            "NoSuchFunction",
            b"{}".to_vec(),
            404,
            "no function at /NoSuchFunction",
        ),
    ];
    for (function, body, expected, message) in cases {
        let (status, content_type, answer) =
            invoke(handler.port, function, &body, &host_headers("bad-1")).await;
        assert_eq!(status, expected, "{function}: {answer}");
        assert_eq!(content_type, "application/json", "{function}: {answer}");
        let error: Value = serde_json::from_str(&answer).unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(message),
            "{function}: {answer}"
        );
        assert!(handler.alive());
    }
    let (status, _, body) = invoke(
        handler.port,
        "SyncHttp",
        fixture("http-get-captured.json").as_bytes(),
        &host_headers("ok"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn invalid_configuration_does_not_stop_the_handler_and_every_invocation_names_the_problems() {
    let bad = r#"{"workspaces":[{"databricksInstance":"http://adb-1.1.azuredatabricks.net","accessGroups":[],"scimToken":"x"}]}"#;
    let mut handler = Handler::start(bad, &[]).await;
    let (status, content_type, body) = invoke(
        handler.port,
        "SyncTimer",
        fixture("timer-captured.json").as_bytes(),
        &host_headers("cfg-1"),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (500, "application/json"));
    assert!(
        body.contains("databricksInstance") && body.contains("accessGroups"),
        "{body}"
    );
    let (status, _, body) = invoke(
        handler.port,
        "SyncHttp",
        fixture("http-post-sync.json").as_bytes(),
        &host_headers("cfg-2"),
    )
    .await;
    assert_eq!(status, 200);
    let (code, answer) = res(&body);
    assert_eq!(code, 500);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("sync-config.json cannot be used"),
        "{answer}"
    );
    assert_eq!(answer["problems"].as_array().unwrap().len(), 3, "{answer}");
    assert!(handler.alive());
    assert!(
        handler.wait_for_stderr("cfg-1").await,
        "the timer failure is on stderr with its invocation id"
    );
}

#[tokio::test]
async fn function_key_and_authorization_never_appear_in_any_output() {
    let (world, _, config) = small_world(&["analytics-test"]).await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let key = "fk-Zq81-distinctive-function-key";
    let bearer = "eyJ0eXAi-distinctive-bearer-token";
    let post = fixture("http-post-sync.json").replace("REDACTED", key);
    let mut payload: Value = serde_json::from_str(&post).unwrap();
    payload["Data"]["req"]["Headers"]["Authorization"] =
        serde_json::json!([format!("Bearer {bearer}")]);
    payload["Data"]["req"]["Headers"]["x-functions-key"] = serde_json::json!([key]);
    let payload = payload.to_string();
    let mut answers = Vec::new();
    for body in [
        payload.as_str(),
        &payload.replace("\"Body\"", "\"Body\":\"{bad\",\"Ignored\""),
    ] {
        let (_, _, answer) = invoke(
            handler.port,
            "SyncHttp",
            body.as_bytes(),
            &host_headers("secret-1"),
        )
        .await;
        answers.push(answer);
    }
    let (_, _, answer) = invoke(
        handler.port,
        "SyncTimer",
        fixture("timer-captured.json").as_bytes(),
        &host_headers("secret-2"),
    )
    .await;
    answers.push(answer);
    assert!(handler.wait_for_stdout("secret-2").await);
    let everything = [answers, handler.stdout(), handler.stderr()]
        .concat()
        .join("\n");
    assert!(!everything.contains(key), "function key leaked");
    assert!(!everything.contains(bearer), "bearer token leaked");
    for secret in world.secrets() {
        assert!(
            !everything.contains(&secret),
            "a PAT or the identity header leaked"
        );
    }
}
