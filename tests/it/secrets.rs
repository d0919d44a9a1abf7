//! Secret hygiene: runs built to make things go wrong, with distinctive secrets (workspace PATs in Key
//! Vault, a wrong PAT, the identity endpoint's header and the tokens it issues, the function key sent
//! as `?code=` and `x-functions-key`), and every output searched for them or any 12-character piece of
//! them (`support::assert_no_leak`): the handler's stdout and stderr at `debug`, the host's console,
//! every HTTP answer and report, the timer's invocation records, the command line's output. The other
//! scenarios (faults, crash, concurrency) run the same search on their own outputs.

use std::process::Command;
use std::time::Duration;

use axum::http::Method;
use sandbox::faults::Fault;
use sandbox::world::World;
use serde_json::{Value, json};

use crate::scenario::{Scenario, scenario};
use crate::support::{
    FUNCTION_KEY, Handler, app_folder, assert_no_leak, handler_exe, handler_outputs, host_headers,
    invoke, local_host, secrets_of, sync_http,
};

/// A wrong PAT stored for one workspace: a secret too, though the workspace refuses it.
const WRONG_PAT: &str = "dapi5f3e9c1b7a2d4e6f8091a2b3c4d5e6f7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_runs_through_the_host_at_debug_level_show_no_secret_anywhere() {
    let Scenario {
        world, test, prod, ..
    } = scenario().await;
    let refused = world.add_workspace("refused").await.unwrap();
    world.vault.set_secret("refused-pat", WRONG_PAT);
    let stranger = world.add_workspace("stranger").await.unwrap();
    let mut missing = World::config_entry(&stranger, &["Databricks-Group-Prod"]);
    missing["scimToken"] = json!(format!("{}/secrets/no-such-pat", world.vault.vault_url()));
    let mut pat_free = World::config_entry(&stranger, &["Databricks-Group-Prod"]);
    pat_free.as_object_mut().unwrap().remove("scimToken");
    pat_free["auth"] = json!("managedIdentity");
    pat_free["name"] = json!("pat-free");
    let config = json!({ "workspaces": [
        World::config_entry(&test, &["Databricks-Group-Test"]),
        World::config_entry(&prod, &["Databricks-Group-Test", "Databricks-Group-Prod"]),
        World::config_entry(&refused, &["Databricks-Group-Prod"]),
        missing,
        pat_free,
    ]})
    .to_string();
    // Transient faults on the way, and a gateway that quotes the bearer token in its refusals.
    world.tenant.faults().inject(Fault::throttled("1"), 2);
    test.scim.faults().inject(Fault::status(503), 1);
    prod.scim
        .faults()
        .inject_persistent(Fault::echo_authorization().on_method(Method::POST));

    let app = app_folder(&config);
    let (host, console) = local_host(&world, &app, &[("RUST_LOG", "debug")]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/SyncHttp?code={FUNCTION_KEY}", host.url());
    let mut answers = Vec::new();
    for body in [
        json!({}),
        json!({"dryRun": true}),
        json!({"workspaces": ["nope"]}),
    ] {
        let response = client
            .post(&url)
            .header("x-functions-key", FUNCTION_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    let last = client.get(&url).send().await.unwrap().text().await.unwrap();
    // The timer through the admin API (its retries are minutes away: only the first attempt counts).
    let ticked = client
        .post(format!("{}/admin/functions/SyncTimer", host.url()))
        .header("x-functions-key", FUNCTION_KEY)
        .json(&json!({"input": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(ticked.status(), 202);
    let timer = host
        .wait_for_invocations("SyncTimer", 1, Duration::from_secs(60))
        .await
        .unwrap()
        .remove(0);
    host.stop().await;

    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [502, 502, 400], "{answers:?}");
    let report: Value = serde_json::from_str(&answers[0].1).unwrap();
    let error = |name: &str| {
        report["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| w.to_string())
            .unwrap()
    };
    assert!(error("refused").contains("refused the token from Key Vault"));
    assert!(error("analytics-prod").contains("[redacted]"), "{report}");
    assert!(!timer.succeeded, "the timer run fails too: {timer:?}");

    let console = console.lock().unwrap().join("\n");
    assert!(
        console.contains("\"level\":\"DEBUG\""),
        "the handler logged at debug level"
    );
    let mut secrets = secrets_of(&world);
    secrets.push(WRONG_PAT.to_owned());
    let mut outputs = vec![
        ("host console (handler stdout and stderr at debug)", console),
        ("GET /api/SyncHttp", last),
        ("the timer's invocation record", format!("{timer:?}")),
    ];
    outputs.extend(
        answers
            .into_iter()
            .map(|(_, body)| ("a SyncHttp answer", body)),
    );
    assert_no_leak(&secrets, &outputs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_quoting_the_bearer_token_gets_it_into_no_report_log_or_command_output() {
    let Scenario {
        world, test, prod, ..
    } = scenario().await;
    // Graph quotes the app's Entra token, the workspace its PAT.
    world
        .tenant
        .faults()
        .inject_persistent(Fault::echo_authorization().on_path("transitiveMembers"));
    test.scim
        .faults()
        .inject_persistent(Fault::echo_authorization().on_path("/Users"));
    let config = json!({ "workspaces": [
        World::config_entry(&test, &["Databricks-Group-Test"]),
        World::config_entry(&prod, &["Databricks-Group-Prod"]),
    ]})
    .to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    for ws in report["workspaces"].as_array().unwrap() {
        let error = ws["error"].as_str().unwrap();
        assert!(
            error.contains("Authorization: Bearer [redacted]"),
            "the gateway's words are kept, the token is not: {error}"
        );
    }
    let (status, _, timer) = invoke(
        handler.port,
        "SyncTimer",
        br#"{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}"#,
        &host_headers("echo"),
    )
    .await;
    assert_eq!(status, 500, "{timer}");
    assert!(handler.wait_for_stderr("echo").await);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync-config.json");
    std::fs::write(&path, &config).unwrap();
    let mut cli = Command::new(handler_exe());
    cli.args(["sync", "--config"]).arg(&path);
    for name in World::ENV_TO_CLEAR.iter().chain(&["RUST_LOG"]) {
        cli.env_remove(name);
    }
    cli.envs(world.handler_env());
    let text = tokio::task::spawn_blocking(move || cli.output().unwrap())
        .await
        .unwrap();
    assert_eq!(text.status.code(), Some(1));
    let mut json_cli = Command::new(handler_exe());
    json_cli
        .args(["sync", "--output", "json", "--config"])
        .arg(&path)
        .env("RUST_LOG", "debug");
    for name in World::ENV_TO_CLEAR {
        json_cli.env_remove(name);
    }
    json_cli.envs(world.handler_env());
    let json_out = tokio::task::spawn_blocking(move || json_cli.output().unwrap())
        .await
        .unwrap();

    let mut outputs = handler_outputs(&handler);
    outputs.push(("the SyncHttp report", report.to_string()));
    outputs.push(("the failed timer answer", timer));
    for (place, out) in [
        ("handler sync", &text),
        ("handler sync --output json", &json_out),
    ] {
        outputs.push((place, String::from_utf8_lossy(&out.stdout).into_owned()));
        outputs.push((place, String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    assert_no_leak(&secrets_of(&world), &outputs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_pasted_as_scim_token_is_echoed_by_neither_check_config_nor_serve() {
    let world = World::start().await.unwrap();
    let ws = world.add_workspace("analytics").await.unwrap();
    let mut entry = World::config_entry(&ws, &["Databricks-Group-Test"]);
    entry["scimToken"] = json!(ws.pat);
    let config = json!({ "workspaces": [entry] }).to_string();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync-config.json");
    std::fs::write(&path, &config).unwrap();
    let check = Command::new(handler_exe())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let said = String::from_utf8_lossy(&check.stderr).into_owned()
        + &String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("scimToken"), "the problem is named: {said}");

    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, answer) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 500, "{answer}");
    let (status, _, timer) = invoke(
        handler.port,
        "SyncTimer",
        br#"{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}"#,
        &host_headers("pasted"),
    )
    .await;
    assert_eq!(status, 500, "{timer}");
    assert!(handler.wait_for_stderr("pasted").await);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut outputs = handler_outputs(&handler);
    outputs.push(("check-config", said));
    outputs.push(("the SyncHttp answer", answer.to_string()));
    outputs.push(("the timer answer", timer));
    assert_no_leak(&secrets_of(&world), &outputs);
}
