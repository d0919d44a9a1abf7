//! The real `handler` under the local Functions host (`sandbox::host`), deployed as in Azure: an app
//! folder with this repository's `host.json`, `SyncTimer/`, `SyncHttp/`, `local.settings.example.json`,
//! the `handler` binary and `sync-config.json`, the emulated world reached through its environment.
//! The timer goes through the admin API, the HTTP function through `/api/SyncHttp`; then the handler
//! is SIGKILLed in the middle of a slow run, restarted by the host, and the next run converges.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use sandbox::graph::NewUser;
use sandbox::host::{HandlerStatus, LocalHost, PROGRAMMATIC};
use sandbox::world::{Workspace, World};
use serde_json::{Value, json};

use crate::scenario::{end_state, small_world};
use crate::support::app_folder;

/// The host on a free port, the world's environment as settings, timers on (with a far schedule).
async fn start(world: &World, app: &tempfile::TempDir) -> (LocalHost, Arc<Mutex<Vec<String>>>) {
    crate::support::local_host(world, app, &[]).await
}

pub(crate) async fn sync_http(host: &LocalHost, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/SyncHttp", host.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn all_active(names: &[&str]) -> Vec<(String, bool)> {
    let mut users: Vec<(String, bool)> = names.iter().map(|n| (n.to_string(), true)).collect();
    users.sort();
    users
}

#[tokio::test]
async fn the_timer_through_the_admin_api_and_the_http_function_sync_the_workspaces() {
    let (world, workspaces, config) = small_world(&["analytics-test", "analytics-prod"]).await;
    let app = app_folder(&config);
    let (host, lines) = start(&world, &app).await;
    let (test, prod) = (&workspaces[0], &workspaces[1]);

    // The HTTP function, one workspace.
    let (status, report) = sync_http(
        &host,
        json!({"workspaces": ["analytics-prod"], "dryRun": false}),
    )
    .await;
    let console = || lines.lock().unwrap().join("\n");
    assert_eq!(status, 200, "{report}\n{}", console());
    assert_eq!(
        (&report["status"], &report["trigger"]),
        (&json!("succeeded"), &json!("http"))
    );
    assert_eq!(report["workspaces"][0]["users"]["created"], 2, "{report}");
    let http = host
        .wait_for_invocations("SyncHttp", 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(http[0].succeeded);
    assert_eq!(report["invocationId"], http[0].id);
    assert_eq!(
        end_state(prod),
        all_active(&["ana@contoso.com", "bo@contoso.com"])
    );
    assert_eq!(end_state(test), vec![]);

    // The timer through the admin API: 202 at once, the run in the background.
    let admin = reqwest::Client::new()
        .post(format!("{}/admin/functions/SyncTimer", host.url()))
        .json(&json!({"input": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 202);
    let timer = host
        .wait_for_invocations("SyncTimer", 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(timer[0].succeeded, "{:?}", timer[0]);
    assert_eq!(timer[0].reason, PROGRAMMATIC);
    assert_eq!(
        timer[0].logs,
        [
            "analytics-test: succeeded (desired 2, existing 0, created 2, reactivated 0, skipped 0, failed 0)",
            "analytics-prod: succeeded (desired 2, existing 2, created 0, reactivated 0, skipped 0, failed 0)",
        ]
    );
    assert_eq!(
        end_state(test),
        all_active(&["ana@contoso.com", "bo@contoso.com"])
    );

    let out = lines.lock().unwrap().join("\n");
    let id = &timer[0].id;
    assert!(
        out.contains(&format!(
            "] Executed 'Functions.SyncTimer' (Succeeded, Id={id}, Duration="
        )),
        "{out}"
    );
    assert!(
        out.contains("] analytics-test: succeeded (desired 2"),
        "{out}"
    );
    assert!(
        out.contains("  SyncHttp: [GET,POST] http://127.0.0.1:"),
        "{out}"
    );
    for secret in world.secrets() {
        assert!(!out.contains(&secret), "a secret was printed");
    }
    host.stop().await;
}

/// A world with one workspace and a group of `n` users, whose SCIM answers slowly.
pub(crate) async fn slow_world(n: usize) -> (World, Workspace, String, Vec<String>) {
    let world = World::start().await.unwrap();
    let group = world.tenant.add_group("Databricks-Group-Test");
    let names: Vec<String> = (0..n).map(|i| format!("user{i:02}@contoso.com")).collect();
    for name in &names {
        let user = world.tenant.add_user(NewUser::member(name, name));
        world.tenant.add_member(&group, &user);
    }
    let workspace = world.add_workspace("analytics-test").await.unwrap();
    workspace
        .scim
        .faults()
        .set_latency(Duration::from_millis(400));
    let config =
        json!({"workspaces": [World::config_entry(&workspace, &["Databricks-Group-Test"])]});
    (world, workspace, config.to_string(), names)
}

#[tokio::test]
async fn a_handler_killed_mid_run_is_restarted_and_the_next_run_converges() {
    let (world, workspace, config, names) = slow_world(20).await;
    let app = app_folder(&config);
    let (host, lines) = start(&world, &app).await;
    let first = host.handler_pid().unwrap();

    let url = host.url();
    let run = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/api/SyncHttp"))
            .json(&json!({"dryRun": false}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    // Kill it once the writes have begun (4 at a time, 400 ms each: far from done).
    let writes = || workspace.scim.faults().count(&Method::POST, "/Users");
    for _ in 0..800 {
        if writes() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(writes() >= 2, "the run never started writing");
    let killed = std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    assert_eq!(
        run.await.unwrap().unwrap(),
        500,
        "the client of the killed run gets a 500"
    );
    let status = host
        .wait_for_handler(
            Duration::from_secs(30),
            |s| matches!(s, HandlerStatus::Ready { pid, .. } if *pid != first),
        )
        .await
        .unwrap();
    assert!(matches!(status, HandlerStatus::Ready { .. }));
    assert_eq!(host.restarts(), 1);
    let before = end_state(&workspace).len();
    assert!(
        before < names.len(),
        "the run was cut short ({before} users)"
    );
    let out = lines.lock().unwrap().join("\n");
    assert!(
        out.contains(&format!(
            "(pid {first}) exited with code 137 (killed by signal 9)"
        )),
        "{out}"
    );
    assert!(
        out.contains("Executed 'Functions.SyncHttp' (Failed, Id="),
        "{out}"
    );

    // The next run completes the work: every desired user exactly once, all active.
    workspace.scim.faults().set_latency(Duration::ZERO);
    let (status, report) = sync_http(&host, json!({"dryRun": false})).await;
    assert_eq!(
        status,
        200,
        "{report}\n{}",
        lines.lock().unwrap().join("\n")
    );
    assert_eq!(report["status"], "succeeded", "{report}");
    let users = &report["workspaces"][0]["users"];
    assert_eq!(
        users["created"].as_u64().unwrap() + users["existing"].as_u64().unwrap(),
        20,
        "{users}"
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(end_state(&workspace), all_active(&names));
    let mut listed: Vec<String> = workspace
        .scim
        .users()
        .into_iter()
        .map(|u| u.user_name.to_lowercase())
        .collect();
    let total = listed.len();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), total, "no user twice");
    host.stop().await;
}
