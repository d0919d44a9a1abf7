//! The run time budget (`SYNC_MAX_RUN_SECONDS`) through the real `handler`: a first sync that cannot
//! finish in time stops starting writes, reports `partial` with the changes left, and the following runs
//! continue until the workspace is complete, with no principal created twice.

use axum::http::Method;
use sandbox::graph::NewUser;
use sandbox::world::World;
use serde_json::{Value, json};

use crate::support::{Handler, numbered_group, sync_http};

const USERS: usize = 12;

#[tokio::test]
async fn a_sync_longer_than_its_budget_is_partial_and_the_next_runs_finish_it_without_duplicates() {
    let world = World::start().await.unwrap();
    numbered_group(&world.tenant, "Databricks-Big", "u", USERS);
    let ws = world.add_workspace("slow").await.unwrap();
    // 3 writes a second on both sides: 12 users and the marker group take about 5 s, the budget is 1 s.
    ws.scim.set_write_rate(Some(3.0));
    let mut entry = World::config_entry(&ws, &["Databricks-Big"]);
    entry["scimRequestsPerSecond"] = json!(3);
    let config = json!({ "workspaces": [entry] }).to_string();
    let mut env = world.handler_env();
    env.push(("SYNC_MAX_RUN_SECONDS".into(), "1".into()));
    let handler = Handler::start(&config, &env).await;

    let mut reports: Vec<Value> = Vec::new();
    for _ in 0..20 {
        let (code, report) = sync_http(&handler, json!({})).await;
        assert_eq!(code, 200, "a partial run is not a failure: {report}");
        let done = report["status"] == "succeeded";
        reports.push(report);
        if done {
            break;
        }
    }
    let first = &reports[0]["workspaces"][0];
    assert_eq!(reports[0]["status"], "partial", "{first}");
    assert_eq!(first["status"], "partial");
    let remaining = first["remaining"].as_u64().unwrap();
    let deferred: Vec<&Value> = first["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "deferred")
        .collect();
    assert_eq!(deferred.len() as u64, remaining);
    assert!(remaining > 0, "{first}");
    assert!(
        deferred[0]["detail"].as_str().unwrap().contains(
            "the run's time budget (SYNC_MAX_RUN_SECONDS=1) was spent; the next run does the rest"
        ),
        "{first}"
    );
    let last = reports.last().unwrap();
    assert_eq!(
        last["status"],
        "succeeded",
        "converged within {} runs: {last}",
        reports.len()
    );
    assert!(reports.len() >= 2);

    let users: Vec<String> = ws
        .scim
        .users()
        .into_iter()
        .filter(|u| u.user_name != sandbox::scim::ADMIN_USER_NAME)
        .map(|u| u.user_name)
        .collect();
    assert_eq!(users.len(), USERS);
    let marker: Vec<_> = ws
        .scim
        .groups()
        .into_iter()
        .filter(|g| g.display_name == "entra-sync-managed")
        .collect();
    assert_eq!(marker.len(), 1);
    assert_eq!(
        marker[0].members.len(),
        USERS,
        "every user marked in the end"
    );
    let created: usize = ws
        .scim
        .faults()
        .log()
        .iter()
        .filter(|r| r.method == Method::POST && r.path.ends_with("/Users") && r.status == 201)
        .count();
    assert_eq!(created, USERS, "each user created exactly once");
    let (_, again) = sync_http(&handler, json!({"dryRun": true})).await;
    let planned = again["workspaces"][0]["actions"].as_array().unwrap().len();
    assert_eq!(planned, 0, "{again}");
}

#[tokio::test]
async fn a_workspace_still_waiting_on_a_call_after_the_budget_and_its_grace_is_stopped_and_reported()
 {
    let world = World::start().await.unwrap();
    let group = world.tenant.add_group("Databricks-Big");
    let user = world.tenant.add_user(NewUser::member("u@contoso.com", "U"));
    world.tenant.add_member(&group, &user);
    let ws = world.add_workspace("hanging").await.unwrap();
    // The user list is never answered (the client would wait 60 s, then retry).
    ws.scim.faults().inject_persistent(
        sandbox::faults::Fault::no_answer()
            .on_path("/Users")
            .on_method(Method::GET),
    );
    let config =
        json!({ "workspaces": [World::config_entry(&ws, &["Databricks-Big"])] }).to_string();
    let mut env = world.handler_env();
    // A budget of 2 s and the shortest grace, 30 s: stopped about 32 s in, before the client's 60 s.
    env.push(("SYNC_MAX_RUN_SECONDS".into(), "2".into()));
    let handler = Handler::start(&config, &env).await;
    let started = std::time::Instant::now();
    let (code, report) = sync_http(&handler, json!({})).await;
    let took = started.elapsed();
    assert_eq!(code, 200, "{report}");
    let workspace = &report["workspaces"][0];
    assert_eq!(workspace["status"], "partial", "{report}");
    assert_eq!(
        workspace["error"],
        "stopped: the run's time budget (SYNC_MAX_RUN_SECONDS=2) and 30 s of grace were spent while a call \
         was still waiting for an answer; the changes made so far stay, and the next run plans the rest again"
    );
    // Below the client's own 60 s time-out: the stop, not the time-out, ended it.
    assert!(took < std::time::Duration::from_secs(55), "{took:?}");
    assert_eq!(ws.scim.faults().writes(), 0);
}
