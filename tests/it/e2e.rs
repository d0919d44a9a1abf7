//! The real `handler`, started as the Functions host starts it, syncing emulated workspaces from an
//! emulated tenant through its production code paths (proxy + CA, managed identity, Key Vault, Graph,
//! SCIM). Request counts are read from the emulators' logs.

use std::process::Command;

use axum::http::Method;
use sandbox::faults::Fault;
use sandbox::world::World;
use serde_json::{Value, json};

use crate::scenario::{Scenario, end_state, expected_users, scenario};
use crate::support::{Handler, handler_exe, host_headers, invoke, sync_http};

const TIMER: &str = r#"{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}"#;

fn workspace<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == name)
        .unwrap()
}

fn users(report: &Value, name: &str) -> Value {
    workspace(report, name)["users"].clone()
}

fn count(scim: &sandbox::scim::ScimWorkspace, method: Method) -> usize {
    scim.faults().count(&method, "/Users")
}

fn assert_no_secret(world: &World, outputs: &[String]) {
    let everything = outputs.join("\n");
    for secret in world.secrets() {
        assert!(
            !everything.contains(&secret),
            "a secret appeared in the output"
        );
    }
    // Access tokens issued by the emulated identity endpoint start with "sbx.".
    assert!(
        !everything.contains("sbx."),
        "an access token appeared in the output"
    );
}

#[tokio::test]
async fn a_timer_run_brings_every_workspace_to_its_groups_with_the_fewest_requests() {
    let Scenario {
        world,
        test,
        prod,
        config,
    } = scenario().await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (status, _, body) = invoke(
        handler.port,
        "SyncTimer",
        TIMER.as_bytes(),
        &host_headers("t-1"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(end_state(&test), expected_users());
    assert_eq!(end_state(&prod), expected_users());

    let logs: Value = serde_json::from_str::<Value>(&body).unwrap()["Logs"].clone();
    assert_eq!(
        logs,
        json!([
            "analytics-test: succeeded (desired 15, existing 2, created 12, reactivated 1, skipped 1, failed 0)",
            "analytics-prod: succeeded (desired 15, existing 0, created 15, reactivated 0, skipped 1, failed 0)"
        ])
    );
    // Graph: one look-up per distinct group, one request per member page (16 users in the shared
    // group, 4 in the other, 5 a page); the shared group is read once for both workspaces.
    assert_eq!(world.tenant.faults().log().len(), 2 + 4 + 1);
    assert_eq!(world.vault.reads(), 2, "one read per distinct secret");
    assert_eq!(
        world.vault.faults().log().len(),
        3,
        "and one 401 challenge per vault: its client is kept"
    );
    // SCIM: one list page each (3 users at most), then one write per change; the user created at
    // first sign-in costs its 409 and one look-up.
    assert_eq!(
        (
            count(&test.scim, Method::GET),
            count(&test.scim, Method::POST),
            count(&test.scim, Method::PATCH)
        ),
        (2, 13, 1)
    );
    assert_eq!(
        (
            count(&prod.scim, Method::GET),
            count(&prod.scim, Method::POST),
            count(&prod.scim, Method::PATCH)
        ),
        (1, 15, 0)
    );
    assert_no_secret(
        &world,
        &[
            body,
            handler.stdout().join("\n"),
            handler.stderr().join("\n"),
        ],
    );
}

#[tokio::test]
async fn a_second_run_with_nothing_changed_writes_nothing_and_pages_through_every_user() {
    let Scenario {
        world,
        test,
        prod,
        config,
    } = scenario().await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, _) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200);
    // The user created at first sign-in becomes visible; this run marks it as managed (one write).
    test.scim.show_in_list("user3@contoso.com");
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    let marked: Vec<&Value> = workspace(&report, "analytics-test")["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "addToGroup")
        .collect();
    assert_eq!(marked.len(), 1, "{report}");
    assert_eq!(marked[0]["detail"], "1 member(s)");
    for ws in [&test, &prod] {
        ws.scim.faults().clear_log();
    }
    world.tenant.faults().clear_log();

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    for (ws, name) in [(&test, "analytics-test"), (&prod, "analytics-prod")] {
        assert_eq!(
            users(&report, name),
            json!({"desired": 15, "existing": 15, "created": 0, "reactivated": 0, "deactivated": 0, "removed": 0, "skipped": 1, "failed": 0, "accountDeactivated": 0})
        );
        let log = ws.scim.faults().log();
        assert!(
            log.iter().all(|r| r.method == Method::GET),
            "no write at all: {log:?}"
        );
        // 16 users (admin included) at 3 a page: 6 pages, no extra empty one; and the marker group.
        assert_eq!(count(&ws.scim, Method::GET), 6);
        assert_eq!(ws.scim.faults().count(&Method::GET, "/Groups"), 1);
        let requests = &workspace(&report, name)["requests"];
        assert_eq!(requests["databricks"], 7, "{requests}");
    }
    assert_eq!(world.tenant.faults().log().len(), 7);
    assert_eq!(end_state(&test), expected_users());
}

#[tokio::test]
async fn a_dry_run_plans_every_change_and_writes_nothing() {
    let Scenario {
        world,
        test,
        prod,
        config,
    } = scenario().await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({"dryRun": true})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["dryRun"], true);
    let actions = workspace(&report, "analytics-test")["actions"]
        .as_array()
        .unwrap()
        .clone();
    let planned: Vec<(&str, &str)> = actions
        .iter()
        .filter(|a| a["outcome"] == "planned")
        .map(|a| (a["type"].as_str().unwrap(), a["target"].as_str().unwrap()))
        .collect();
    // 13 creations, 1 reactivation, and the marker group with its 15 members.
    assert_eq!(planned.len(), 16, "{planned:?}");
    assert!(planned.contains(&("createGroup", "entra-sync-managed")));
    assert!(planned.contains(&("addToGroup", "entra-sync-managed")));
    assert!(planned.contains(&("activateUser", "user2@contoso.com")));
    assert!(planned.contains(&("createUser", "gina@fabrikam.com")));
    assert!(
        !planned.iter().any(|(_, t)| *t == "user1@contoso.com"),
        "present with another case: nothing to do"
    );
    let skipped: Vec<&Value> = actions
        .iter()
        .filter(|a| a["outcome"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["target"], "dis@contoso.com");
    assert_eq!(skipped[0]["detail"], "account is disabled in Entra ID");
    for ws in [&test, &prod] {
        assert_eq!(
            count(&ws.scim, Method::POST) + count(&ws.scim, Method::PATCH),
            0
        );
    }
    assert_eq!(end_state(&prod), vec![]);
}

#[tokio::test]
async fn a_workspace_with_a_wrong_pat_fails_with_a_readable_cause_while_the_others_succeed() {
    let Scenario {
        world,
        test,
        prod,
        config: _,
    } = scenario().await;
    let broken = world.add_workspace("broken").await.unwrap();
    world
        .vault
        .set_secret("broken-pat", "dapi-not-the-right-token");
    let config = json!({ "workspaces": [
        World::config_entry(&test, &["Databricks-Group-Test"]),
        World::config_entry(&broken, &["Databricks-Group-Test"]),
        World::config_entry(&prod, &["Databricks-Group-Prod"]),
    ]})
    .to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (status, _, body) = invoke(
        handler.port,
        "SyncTimer",
        TIMER.as_bytes(),
        &host_headers("t-broken"),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    let report = &serde_json::from_str::<Value>(&body).unwrap()["report"];
    assert_eq!(workspace(report, "analytics-test")["status"], "succeeded");
    assert_eq!(workspace(report, "analytics-prod")["status"], "succeeded");
    let broken_report = workspace(report, "broken");
    assert_eq!(broken_report["status"], "failed");
    let error = broken_report["error"].as_str().unwrap();
    assert!(
        error.contains("refused the token from Key Vault (HTTP 401"),
        "{error}"
    );
    assert_eq!(end_state(&broken), vec![]);
    assert_eq!(end_state(&test), expected_users());
    assert!(handler.wait_for_stderr("t-broken").await);
    let outputs = [
        body,
        handler.stdout().join("\n"),
        handler.stderr().join("\n"),
    ];
    assert_no_secret(&world, &outputs);
    assert!(!outputs.join("\n").contains("dapi-not-the-right-token"));
}

#[tokio::test]
async fn throttling_and_unavailability_are_ridden_out_honouring_retry_after() {
    let Scenario {
        world,
        test,
        prod,
        config,
    } = scenario().await;
    world.tenant.faults().inject(Fault::throttled("1"), 2);
    world.vault.faults().inject(Fault::status(503), 1);
    prod.scim
        .faults()
        .inject(Fault::throttled("1").on_method(Method::POST), 3);
    test.scim
        .faults()
        .inject(Fault::status(503).on_method(Method::GET), 1);
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(end_state(&test), expected_users());
    assert_eq!(end_state(&prod), expected_users());
    let throttled =
        |log: Vec<sandbox::faults::LoggedRequest>| log.iter().filter(|r| r.status == 429).count();
    assert_eq!(throttled(world.tenant.faults().log()), 2);
    assert_eq!(throttled(prod.scim.faults().log()), 3);
    assert_eq!(users(&report, "analytics-prod")["created"], 15);
    assert_no_secret(
        &world,
        &[handler.stdout().join("\n"), handler.stderr().join("\n")],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_sync_on_the_command_line_reaches_the_same_end_state_and_report() {
    let Scenario {
        world,
        test,
        prod,
        config,
    } = scenario().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync-config.json");
    std::fs::write(&path, &config).unwrap();
    let mut command = Command::new(handler_exe());
    command
        .args(["sync", "--output", "json", "--config"])
        .arg(&path);
    for name in
        World::ENV_TO_CLEAR
            .iter()
            .chain(&["RUST_LOG", "SYNC_CONFIG_PATH", "GRAPH_ENDPOINT"])
    {
        command.env_remove(name);
    }
    command.envs(world.handler_env());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("authenticating as the system-assigned managed identity"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["trigger"], "cli");
    assert_eq!(
        users(&report, "analytics-test"),
        json!({"desired": 15, "existing": 2, "created": 12, "reactivated": 1, "deactivated": 0, "removed": 0, "skipped": 1, "failed": 0, "accountDeactivated": 0})
    );
    assert_eq!(
        users(&report, "analytics-prod"),
        json!({"desired": 15, "existing": 0, "created": 15, "reactivated": 0, "deactivated": 0, "removed": 0, "skipped": 1, "failed": 0, "accountDeactivated": 0})
    );
    let groups = &workspace(&report, "analytics-prod")["groups"];
    assert_eq!(groups[0]["reference"], "Databricks-Group-Test");
    assert_eq!(groups[0]["memberCount"], 16);
    assert_eq!(groups[1]["memberCount"], 4);
    assert_eq!(end_state(&test), expected_users());
    assert_eq!(end_state(&prod), expected_users());
    assert_no_secret(&world, &[stdout, stderr]);
}

#[tokio::test]
async fn a_failed_change_is_recorded_the_others_go_on_and_the_next_run_completes_the_work() {
    let Scenario {
        world,
        test: _,
        prod,
        config: _,
    } = scenario().await;
    let config = json!({ "workspaces": [World::config_entry(&prod, &["Databricks-Group-Test"])] })
        .to_string();
    prod.scim.faults().inject(
        Fault::status(400).on_method(Method::POST).on_path("/Users"),
        1,
    );
    // Reactivation against a server that answers PATCH with 200 and the resource.
    prod.scim.add_user("user5@contoso.com", "User 5", false);
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    let ws = workspace(&report, "analytics-prod");
    assert_eq!(ws["status"], "failed");
    assert_eq!(ws["error"], "1 change(s) failed; see actions");
    assert_eq!(users(&report, "analytics-prod")["created"], 13);
    assert_eq!(users(&report, "analytics-prod")["reactivated"], 1);
    let failed: Vec<&Value> = ws["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("creating user "),
        "{}",
        failed[0]
    );
    assert_eq!(end_state(&prod).len(), 14);
    assert!(
        handler.wait_for_stdout(r#""event":"actionFailed""#).await,
        "the failure is traced for Application Insights"
    );

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(users(&report, "analytics-prod")["created"], 1);
    assert_eq!(end_state(&prod), expected_users());
}

#[tokio::test]
async fn unknown_and_ambiguous_groups_fail_their_workspace_naming_the_candidates_and_nested_false_reads_direct_members()
 {
    let Scenario {
        world,
        test,
        prod,
        config: _,
    } = scenario().await;
    let twin_a = world.tenant.add_group("Twins");
    let twin_b = world.tenant.add_group("Twins");
    let direct = world.add_workspace("direct").await.unwrap();
    let mut direct_entry = World::config_entry(&direct, &["Databricks-Group-Test"]);
    direct_entry["nested"] = json!(false);
    let config = json!({ "workspaces": [
        World::config_entry(&test, &["Databricks-Group-Test", "No-Such-Group"]),
        World::config_entry(&prod, &["Twins"]),
        direct_entry,
    ]})
    .to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    assert_eq!(
        workspace(&report, "analytics-test")["error"],
        "Entra ID group \"No-Such-Group\" was not found"
    );
    let ambiguous = workspace(&report, "analytics-prod")["error"]
        .as_str()
        .unwrap();
    assert!(
        ambiguous.starts_with("Entra ID group name \"Twins\" is ambiguous: 2 groups have it"),
        "{ambiguous}"
    );
    assert!(
        ambiguous.contains(&twin_a) && ambiguous.contains(&twin_b),
        "{ambiguous}"
    );
    for ws in [&test, &prod] {
        let writes = count(&ws.scim, Method::POST) + count(&ws.scim, Method::PATCH);
        assert_eq!(writes, 0, "nothing is written when a group cannot be read");
    }
    // Direct members of the test group: user0..7 and the guest (the disabled user is skipped).
    assert_eq!(workspace(&report, "direct")["status"], "succeeded");
    assert_eq!(users(&report, "direct")["desired"], 9);
    assert_eq!(end_state(&direct).len(), 9);
}

#[tokio::test]
async fn a_missing_secret_is_named_with_its_url_and_the_cause_in_words() {
    let Scenario {
        world,
        test,
        prod: _,
        config: _,
    } = scenario().await;
    let mut entry = World::config_entry(&test, &["Databricks-Group-Test"]);
    entry["scimToken"] = json!(format!("{}/secrets/no-such-pat", world.vault.vault_url()));
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502);
    let error = workspace(&report, "analytics-test")["error"]
        .as_str()
        .unwrap();
    assert!(
        error.starts_with("cannot read the workspace token from Key Vault secret https://kv-dbx-sync.vault.azure.net/secrets/no-such-pat: HTTP 404"),
        "{error}"
    );
    assert!(error.contains("there is no such secret"), "{error}");
    assert_eq!(
        count(&test.scim, Method::GET),
        0,
        "nothing is asked of the workspace without its token"
    );
}

#[tokio::test]
async fn managed_identity_auth_calls_the_workspace_with_a_databricks_token_and_never_reads_key_vault()
 {
    let Scenario {
        world,
        test: _,
        prod: _,
        config: _,
    } = scenario().await;
    let admitted = world.add_workspace("pat-free").await.unwrap();
    admitted
        .scim
        .admit_identity("system", &world.identity.system_client_id());
    let stranger = world.add_workspace("not-admitted").await.unwrap();
    let entry = |ws: &sandbox::world::Workspace| {
        let mut entry = World::config_entry(ws, &["Databricks-Group-Prod"]);
        entry.as_object_mut().unwrap().remove("scimToken");
        entry["auth"] = json!("managedIdentity");
        entry
    };
    let config = json!({ "workspaces": [entry(&admitted), entry(&stranger)] }).to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    assert_eq!(workspace(&report, "pat-free")["status"], "succeeded");
    assert_eq!(users(&report, "pat-free")["created"], 4);
    assert_eq!(end_state(&admitted).len(), 4);
    let refused = workspace(&report, "not-admitted")["error"]
        .as_str()
        .unwrap();
    assert!(
        refused.contains("the workspace refused the app's managed identity (HTTP 401: is it added to the workspace"),
        "{refused}"
    );
    assert_eq!(
        world.vault.reads(),
        0,
        "no PAT is read for a workspace on managed-identity auth"
    );
    assert_eq!(world.vault.faults().log().len(), 0);
    let resources: Vec<String> = world
        .identity
        .issued()
        .into_iter()
        .map(|t| t.resource)
        .collect();
    assert!(
        resources
            .iter()
            .any(|r| r.contains(sandbox::identity::DATABRICKS_RESOURCE)),
        "{resources:?}"
    );
    assert_no_secret(
        &world,
        &[handler.stdout().join("\n"), handler.stderr().join("\n")],
    );
}
