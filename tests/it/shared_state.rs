//! State shared across instances, through the real binary under two local Functions hosts (two handler
//! processes, as two Flex Consumption instances) against one Azure Storage (Azurite, HTTPS and Entra
//! tokens only) and one emulated world: a workspace one instance syncs is busy for the other (409
//! naming the holder's run and instance; a timer run there waits for it), the runs never overlap, a
//! SIGKILLed holder's lease expires and the next run converges, and `GET /api/SyncHttp` on a fresh
//! instance shows the last runs of both.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::Method;
use sandbox::host::LocalHost;
use sandbox::world::{Workspace, World};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::local_host::sync_http;
use crate::scenario::end_state;
use crate::support::{app_folder, local_host};

/// A world with storage, one workspace whose SCIM answers slowly, and a group of `n` users.
async fn slow_world(n: usize) -> (World, Workspace, String) {
    let (world, workspace, config, _) = crate::local_host::slow_world(n).await;
    world.add_storage().await.unwrap();
    (world, workspace, config)
}

/// `POST /api/SyncHttp` (every workspace, for real) in the background.
fn start_run(host: &LocalHost) -> tokio::task::JoinHandle<(u16, Value)> {
    let host_url = host.url();
    tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(format!("{host_url}/api/SyncHttp"))
            .json(&json!({"dryRun": false}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
}

async fn overview(host: &LocalHost) -> (u16, Value) {
    let response = reqwest::get(format!("{}/api/SyncHttp", host.url()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Waits until the workspace has seen `n` user creations.
async fn wait_for_writes(workspace: &Workspace, n: usize) {
    let writes = || workspace.scim.faults().count(&Method::POST, "/Users");
    let deadline = Instant::now() + Duration::from_secs(30);
    while writes() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(writes() >= n, "the run never started writing");
}

fn timestamp(line: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(line["timestamp"].as_str()?, &Rfc3339).ok()
}

/// Each run's start and end as the handlers traced them, by run id.
fn runs(console: &[String]) -> BTreeMap<String, (Option<OffsetDateTime>, Option<OffsetDateTime>)> {
    let mut runs: BTreeMap<String, (Option<OffsetDateTime>, Option<OffsetDateTime>)> =
        BTreeMap::new();
    for text in console {
        let Some(at) = text.find('{') else { continue };
        let Ok(line) = serde_json::from_str::<Value>(&text[at..]) else {
            continue;
        };
        let Some(run_id) = (line["run_id"].as_str()).or_else(|| line["span"]["run_id"].as_str())
        else {
            continue;
        };
        let run = runs.entry(run_id.to_owned()).or_default();
        if line["message"] == "run started" {
            run.0 = timestamp(&line);
        }
        if line["event"] == "runFinished" {
            run.1 = timestamp(&line);
        }
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_sync_one_workspace_at_once_and_any_instance_shows_the_last_runs() {
    let (world, workspace, config) = slow_world(12).await;
    let app = app_folder(&config);
    let (first, first_lines) = local_host(&world, &app, &[]).await;
    let (second, second_lines) = local_host(&world, &app, &[]).await;

    // A slow run on the first instance.
    let running = start_run(&first);
    wait_for_writes(&workspace, 1).await;

    // The second instance finds the workspace busy and names who holds it.
    let (status, busy) = sync_http(&second, json!({"dryRun": false})).await;
    assert_eq!(status, 409, "{busy}");
    let holder = &busy["holder"];
    assert_eq!(holder["trigger"], "http", "{busy}");
    assert_eq!(busy["workspace"], "analytics-test", "{busy}");
    let first_pid = first.handler_pid().unwrap();
    assert!(
        holder["instance"]
            .as_str()
            .unwrap()
            .ends_with(&format!("pid {first_pid}")),
        "{busy}"
    );
    let message = busy["error"].as_str().unwrap();
    assert!(
        message.starts_with("workspace \"analytics-test\" is being synced by run "),
        "{message}"
    );

    // Its timer waits for the lease, then runs.
    let admin = reqwest::Client::new()
        .post(format!("{}/admin/functions/SyncTimer", second.url()))
        .json(&json!({"input": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 202);
    let (status, report) = running.await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(holder["runId"], report["runId"], "{busy}");
    let timer = second
        .wait_for_invocations("SyncTimer", 1, Duration::from_secs(90))
        .await
        .unwrap();
    assert!(timer[0].succeeded, "{:?}", timer[0]);

    // Never at once: the timer run started after the HTTP run finished.
    let mut console = first_lines.lock().unwrap().clone();
    console.extend(second_lines.lock().unwrap().iter().cloned());
    let runs = runs(&console);
    let http_run = &runs[report["runId"].as_str().unwrap()];
    let timer_run = runs
        .iter()
        .find(|(id, _)| id.as_str() != report["runId"].as_str().unwrap())
        .map(|(_, run)| run)
        .expect("the timer's run is traced");
    assert!(
        timer_run.0.unwrap() >= http_run.1.unwrap(),
        "the timer run started before the HTTP run finished: {runs:?}"
    );
    let users = end_state(&workspace);
    assert_eq!(users.len(), 12);
    assert!(users.iter().all(|(_, active)| *active));
    assert_eq!(
        workspace.scim.faults().count(&Method::POST, "/Users"),
        12,
        "each user created once"
    );

    // A fresh instance knows both runs, from storage.
    let (third, _) = local_host(&world, &app, &[]).await;
    let (status, seen) = overview(&third).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["lastReport"]["trigger"], "timer", "{seen}");
    assert_eq!(
        seen["lastReportByTrigger"]["http"]["runId"], report["runId"],
        "{seen}"
    );
    assert_eq!(
        seen["workspaces"]["analytics-test"]["trigger"], "timer",
        "{seen}"
    );
    assert_eq!(
        seen["workspaces"]["analytics-test"]["report"]["status"], "succeeded",
        "{seen}"
    );
    assert_eq!(seen["held"], json!({}), "{seen}");
    assert_eq!(seen["running"], json!([]), "{seen}");
    for host in [first, second, third] {
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holders_lease_expires_and_the_next_run_converges() {
    let (world, workspace, config) = slow_world(12).await;
    let app = app_folder(&config);
    let (first, _) = local_host(&world, &app, &[]).await;
    let (second, second_lines) = local_host(&world, &app, &[]).await;

    let running = start_run(&first);
    wait_for_writes(&workspace, 2).await;
    let pid = first.handler_pid().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let killed_at = Instant::now();
    assert_eq!(running.await.unwrap().0, 500);
    workspace.scim.faults().set_latency(Duration::ZERO);

    // The lease outlives its holder for at most its 30 s: until then, busy.
    let (status, busy) = sync_http(&second, json!({"dryRun": false})).await;
    assert_eq!(status, 409, "{busy}");
    assert!(
        busy["holder"]["instance"]
            .as_str()
            .unwrap()
            .ends_with(&format!("pid {pid}")),
        "{busy}"
    );
    let report = loop {
        let (status, answer) = sync_http(&second, json!({"dryRun": false})).await;
        if status != 409 {
            assert_eq!(status, 200, "{answer}");
            break answer;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(45),
            "the dead holder's lease never expired: {answer}\n{}",
            second_lines.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(
        killed_at.elapsed() >= Duration::from_secs(15),
        "the lease was free before it could have expired"
    );
    assert_eq!(report["status"], "succeeded", "{report}");
    let users = end_state(&workspace);
    assert_eq!(users.len(), 12, "{users:?}");
    assert!(users.iter().all(|(_, active)| *active));
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_that_cannot_be_used_fails_the_run_before_anything_is_read_or_written() {
    let (world, workspace, config) = slow_world(3).await;
    workspace.scim.faults().set_latency(Duration::ZERO);
    let app = app_folder(&config);
    let (host, lines) = local_host(&world, &app, &[]).await;
    // The storage account goes away (the proxy then answers 502 for its host names).
    world.stop_storage().await;

    let (status, report) = sync_http(&host, json!({"dryRun": false})).await;
    assert_eq!(status, 502, "{report}");
    assert_eq!(report["status"], "failed", "{report}");
    let error = report["workspaces"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("the run could not take the workspaces' leases, which keep one sync per workspace across instances: the app's storage account (https://devstoreaccount1.blob.core.windows.net) could not "),
        "{error}"
    );
    assert_eq!(
        workspace.scim.faults().log().len(),
        0,
        "nothing was read from or written to the workspace"
    );
    assert!(end_state(&workspace).is_empty());
    let out = lines.lock().unwrap().join("\n");
    for secret in world.secrets() {
        assert!(!out.contains(&secret), "a secret was printed");
        assert!(
            !report.to_string().contains(&secret),
            "a secret was reported"
        );
    }
    // GET says it cannot read the shared state, and what this instance knows.
    let (status, seen) = overview(&host).await;
    assert_eq!(status, 503, "{seen}");
    assert!(
        seen["error"]
            .as_str()
            .unwrap()
            .starts_with("the last reports could not be read: the app's storage account"),
        "{seen}"
    );
    assert_eq!(seen["lastReportOfThisInstance"]["runId"], report["runId"]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_mode_runs_of_different_workspaces_take_turns_at_the_account() {
    let estate = crate::account_mode::estate().await;
    estate.world.add_storage().await.unwrap();
    let app = app_folder(&crate::account_mode::config(&estate, json!({})));
    let (first, _) = local_host(&estate.world, &app, &[]).await;
    let (second, _) = local_host(&estate.world, &app, &[]).await;
    estate
        .account
        .faults()
        .set_latency(Duration::from_millis(300));

    // ws-a's run on the first instance holds the account's part.
    let host_url = first.url();
    let running = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{host_url}/api/SyncHttp"))
            .json(&json!({"workspaces": ["ws-a"]}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while estate.account.faults().log().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // ws-b is another workspace, but its run would sync the same account: busy.
    let (status, busy) = sync_http(&second, json!({"workspaces": ["ws-b"]})).await;
    assert_eq!(status, 409, "{busy}");
    assert_eq!(busy["account"], true, "{busy}");
    assert!(
        busy["error"]
            .as_str()
            .unwrap()
            .starts_with("the Databricks account (account mode) is being synced by run "),
        "{busy}"
    );
    let (status, seen) = overview(&second).await;
    assert_eq!(status, 200, "{seen}");
    let pid = first.handler_pid().unwrap();
    assert!(
        seen["held"]["_account"]["instance"]
            .as_str()
            .is_some_and(|i| i.ends_with(&format!("pid {pid}"))),
        "{seen}"
    );
    assert_eq!(running.await.unwrap(), 200);
    estate.account.faults().set_latency(Duration::ZERO);
    let (status, report) = sync_http(&second, json!({"workspaces": ["ws-b"]})).await;
    assert_eq!(status, 200, "{report}");
    first.stop().await;
    second.stop().await;
}
