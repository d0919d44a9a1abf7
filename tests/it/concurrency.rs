//! Concurrency through the local Functions host: 50 `SyncHttp` calls (some for one workspace, some for
//! the other, some for both), spread over a few seconds, and timer ticks through the admin API, all
//! against one handler process. Per workspace at most one run at a time (read from the handler's own
//! trace: each run's `run started` and `runFinished` lines, and the workspaces its `workspaceSynced`
//! lines name); every other HTTP call answered 409 naming the run that holds the workspace; timer
//! ticks wait and run; no write twice (each user and the marker group created once, no 409 from the
//! workspace); the process healthy afterwards (same pid, no restart, answers).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use axum::http::Method;
use sandbox::host::HandlerStatus;
use sandbox::world::World;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::{
    FUNCTION_KEY, app_folder, assert_no_leak, local_host, numbered_group, secrets_of,
};

const USERS: usize = 12;
const CALLS: usize = 50;
const TICKS: usize = 4;

/// A run as the handler traced it.
#[derive(Debug, Default)]
struct Run {
    started: Option<OffsetDateTime>,
    finished: Option<OffsetDateTime>,
    workspaces: HashSet<String>,
}

fn timestamp(line: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(line["timestamp"].as_str()?, &Rfc3339).ok()
}

/// The runs in the handler's JSON lines (as the host printed them), by run id.
fn runs(console: &[String]) -> BTreeMap<String, Run> {
    let mut runs: BTreeMap<String, Run> = BTreeMap::new();
    for text in console {
        let Some(at) = text.find('{') else { continue };
        let Ok(line) = serde_json::from_str::<Value>(&text[at..]) else {
            continue;
        };
        let run_id = line["run_id"]
            .as_str()
            .or_else(|| line["span"]["run_id"].as_str());
        let Some(run_id) = run_id else { continue };
        let run = runs.entry(run_id.to_owned()).or_default();
        if line["message"] == "run started" {
            run.started = timestamp(&line);
        }
        match line["event"].as_str() {
            Some("runFinished") => run.finished = timestamp(&line),
            Some("workspaceSynced") => {
                run.workspaces
                    .insert(line["workspace"].as_str().unwrap_or("").to_owned());
            }
            _ => {}
        }
    }
    runs
}

async fn post(url: String, body: Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("the host answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_http_calls_and_timer_ticks_run_one_at_a_time_per_workspace_and_answer_409_naming_the_run()
 {
    let world = World::start().await.unwrap();
    numbered_group(&world.tenant, "Databricks-Group-Test", "user", USERS);
    let alpha = world.add_workspace("alpha").await.unwrap();
    let beta = world.add_workspace("beta").await.unwrap();
    let config = json!({ "workspaces": [
        World::config_entry(&alpha, &["Databricks-Group-Test"]),
        World::config_entry(&beta, &["Databricks-Group-Test"]),
    ]})
    .to_string();
    let app = app_folder(&config);
    let (host, console) = local_host(&world, &app, &[]).await;
    let pid = host.handler_pid().unwrap();

    let url = format!("{}/api/SyncHttp?code={FUNCTION_KEY}", host.url());
    let calls = (0..CALLS).map(|i| {
        let url = url.clone();
        let body = match i % 3 {
            0 => json!({"workspaces": ["alpha"]}),
            1 => json!({"workspaces": ["beta"]}),
            _ => json!({}),
        };
        async move {
            tokio::time::sleep(Duration::from_millis(150 * i as u64)).await;
            post(url, body).await
        }
    });
    let admin = format!("{}/admin/functions/SyncTimer", host.url());
    let ticks = (0..TICKS).map(|i| {
        let admin = admin.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(2000 * i as u64)).await;
            let response = reqwest::Client::new()
                .post(admin)
                .header("x-functions-key", FUNCTION_KEY)
                .json(&json!({"input": ""}))
                .send()
                .await
                .expect("the host answers");
            response.status().as_u16()
        }
    });
    let (answers, ticked) = tokio::join!(
        futures::future::join_all(calls),
        futures::future::join_all(ticks)
    );
    assert!(ticked.iter().all(|s| *s == 202), "{ticked:?}");
    let timer = host
        .wait_for_invocations("SyncTimer", TICKS, Duration::from_secs(120))
        .await
        .expect("every tick runs");
    assert!(
        timer.iter().all(|t| t.succeeded),
        "every timer run succeeded: {timer:?}"
    );

    let console: Vec<String> = console.lock().unwrap().clone();
    let runs = runs(&console);
    // Every run traced from start to end; per workspace, no two runs overlap.
    let mut by_workspace: HashMap<&str, Vec<(OffsetDateTime, OffsetDateTime, &str)>> =
        HashMap::new();
    for (id, run) in &runs {
        let (Some(started), Some(finished)) = (run.started, run.finished) else {
            panic!("run {id} not traced from start to end: {run:?}");
        };
        for ws in &run.workspaces {
            by_workspace
                .entry(ws)
                .or_default()
                .push((started, finished, id));
        }
    }
    for (ws, intervals) in &mut by_workspace {
        intervals.sort();
        for pair in intervals.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "two runs held {ws} at once: {} until {}, {} from {}",
                pair[0].2,
                pair[0].1,
                pair[1].2,
                pair[1].0
            );
        }
    }

    let (mut ran, mut refused) = (0, 0);
    for (i, (status, body)) in answers.iter().enumerate() {
        let answer: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        match status {
            200 => ran += 1,
            409 => {
                refused += 1;
                let holder = answer["runningRunId"].as_str().unwrap_or("");
                let error = answer["error"].as_str().unwrap_or("");
                assert!(
                    error.contains(&format!("is being synced by run {holder}")),
                    "call {i}: {body}"
                );
                let run = runs
                    .get(holder)
                    .unwrap_or_else(|| panic!("call {i}: 409 names a run that never ran: {body}"));
                let asked: Vec<&str> = match i % 3 {
                    0 => vec!["alpha"],
                    1 => vec!["beta"],
                    _ => vec!["alpha", "beta"],
                };
                assert!(
                    asked.iter().any(|w| run.workspaces.contains(*w)),
                    "call {i}: the run named does not hold a workspace asked for: {body}"
                );
            }
            other => panic!("call {i} answered {other}: {body}"),
        }
    }
    eprintln!(
        "{ran} calls ran, {refused} answered 409, {} runs traced",
        runs.len()
    );
    assert_eq!(ran + refused, CALLS);
    assert!(
        ran >= 2 && refused >= 10,
        "the calls overlapped runs: {ran} ran, {refused} refused"
    );
    assert_eq!(
        runs.len(),
        ran + TICKS,
        "one traced run per call that ran and per tick"
    );

    for ws in [&alpha, &beta] {
        let faults = ws.scim.faults();
        assert_eq!(
            faults.count(&Method::POST, "/Users"),
            USERS,
            "each user created once"
        );
        assert_eq!(
            faults.count(&Method::POST, "/Groups"),
            1,
            "the marker group created once"
        );
        let conflicts = faults.log().iter().filter(|r| r.status == 409).count();
        assert_eq!(conflicts, 0, "no write was sent twice");
        assert_eq!(ws.scim.users().len(), USERS + 1);
    }

    // Healthy: the same process answers, never restarted.
    assert_eq!(host.restarts(), 0);
    assert!(matches!(host.handler_status(), HandlerStatus::Ready { pid: p, .. } if p == pid));
    let status = reqwest::get(&url).await.unwrap();
    assert_eq!(status.status(), 200);
    let state: Value = status.json().await.unwrap();
    assert_eq!(state["running"], json!([]), "{state}");
    let (code, last) = post(url.clone(), json!({})).await;
    assert_eq!(code, 200, "{last}");

    let mut outputs: Vec<(&str, String)> = vec![("host console", console.join("\n"))];
    outputs.extend(
        answers
            .into_iter()
            .map(|(_, body)| ("an HTTP answer", body)),
    );
    outputs.push(("the last answer", last));
    assert_no_leak(&secrets_of(&world), &outputs);
    host.stop().await;
}
