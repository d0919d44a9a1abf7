//! Ownership and deprovisioning through the real `handler`: the marker group, deactivation and removal
//! of managed leavers, the threshold that holds them and the confirmation that releases them, and the
//! principals never touched (admins, the token's owner, users created by hand, any run on incomplete
//! information).

use axum::http::Method;
use sandbox::faults::Fault;
use sandbox::graph::NewUser;
use sandbox::world::World;
use serde_json::{Value, json};

use crate::scenario::{Scenario, scenario};
use crate::support::{Handler, host_headers, invoke, sync_http as sync};

fn ws(report: &Value) -> &Value {
    &report["workspaces"][0]
}

fn active(world_ws: &sandbox::world::Workspace, user_name: &str) -> Option<bool> {
    world_ws
        .scim
        .users()
        .into_iter()
        .find(|u| u.user_name == user_name)
        .map(|u| u.active)
}

/// The scenario's test workspace alone, with these options, plus a user created by hand.
async fn setup(options: Value) -> (Scenario, Handler) {
    let scenario = scenario().await;
    scenario.test.scim.show_in_list("user3@contoso.com");
    scenario
        .test
        .scim
        .add_user("handmade@contoso.com", "Created by hand", true);
    let mut entry = World::config_entry(&scenario.test, &["Databricks-Group-Test"]);
    for (key, value) in options.as_object().unwrap() {
        entry[key] = value.clone();
    }
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &scenario.world.handler_env()).await;
    let (code, report) = sync(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    (scenario, handler)
}

#[tokio::test]
async fn managed_users_who_leave_are_deactivated_and_come_back_active() {
    let (s, handler) = setup(json!({"deprovision": "deactivate", "maxDeprovision": 5})).await;
    let marker = s
        .test
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == "entra-sync-managed")
        .unwrap();
    assert_eq!(
        marker.members.len(),
        15,
        "every desired user is marked, the handmade one is not"
    );

    let leaver = s
        .world
        .tenant
        .add_user(NewUser::member("temp@contoso.com", "Temp"));
    let group = group_id(&s, "Databricks-Group-Test");
    s.world.tenant.add_member(&group, &leaver);
    let (code, _) = sync(&handler, json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(active(&s.test, "temp@contoso.com"), Some(true));

    s.world.tenant.remove_member(&group, &leaver);
    let (code, report) = sync(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["users"]["deactivated"], 1);
    assert_eq!(active(&s.test, "temp@contoso.com"), Some(false));
    assert_eq!(
        active(&s.test, "handmade@contoso.com"),
        Some(true),
        "outside the marker group: never touched"
    );
    assert_eq!(active(&s.test, sandbox::scim::ADMIN_USER_NAME), Some(true));

    s.world.tenant.add_member(&group, &leaver);
    let (code, report) = sync(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["users"]["reactivated"], 1);
    assert_eq!(active(&s.test, "temp@contoso.com"), Some(true));
}

fn group_id(s: &Scenario, name: &str) -> String {
    s.world
        .tenant
        .group_id(name)
        .expect("the scenario has this group")
}

#[tokio::test]
async fn beyond_the_limit_deprovisioning_is_held_and_the_run_fails_until_confirmed() {
    let (s, handler) = setup(json!({"deprovision": "remove", "maxDeprovision": 2})).await;
    let engineers = group_id(&s, "Data-Engineers");
    let group = group_id(&s, "Databricks-Group-Test");
    // The whole nested group leaves: 5 users (user0 is also a direct member and stays).
    s.world.tenant.remove_member(&group, &engineers);
    let writes_before = s.test.scim.faults().count(&Method::DELETE, "/Users");

    let (status, _, body) = invoke(
        handler.port,
        "SyncTimer",
        br#"{"Data":{"timer":{"IsPastDue":false}}}"#,
        &host_headers("held"),
    )
    .await;
    assert_eq!(
        status, 500,
        "a held deprovisioning shows the timer run as Failed: {body}"
    );
    let (code, report) = sync(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    let held = ws(&report)["deprovisioningHeld"].as_str().unwrap();
    assert!(held.starts_with("deprovisioning held: 6 of the 15 managed principals would be deprovisioned, more than the limit of 2"), "{held}");
    assert_eq!(ws(&report)["error"], held);
    let skipped: Vec<&Value> = ws(&report)["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "removeUser")
        .collect();
    assert_eq!(skipped.len(), 6);
    assert!(
        skipped
            .iter()
            .all(|a| a["outcome"] == "skipped" && a["detail"] == held)
    );
    assert_eq!(
        s.test.scim.faults().count(&Method::DELETE, "/Users"),
        writes_before,
        "nothing removed"
    );
    assert!(
        handler
            .wait_for_stdout(r#""event":"deprovisioningHeld""#)
            .await
    );

    let (code, report) = sync(
        &handler,
        json!({"workspaces": ["analytics-test"], "allowDeprovision": true}),
    )
    .await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["users"]["removed"], 6);
    for i in 8..14 {
        assert_eq!(
            active(&s.test, &format!("user{i}@contoso.com")),
            None,
            "user{i} removed"
        );
    }
    assert_eq!(active(&s.test, "user0@contoso.com"), Some(true));
}

#[tokio::test]
async fn no_deprovisioning_happens_on_incomplete_information() {
    let (s, handler) = setup(json!({"deprovision": "deactivate", "maxDeprovision": 50})).await;
    let engineers = group_id(&s, "Data-Engineers");
    let group = group_id(&s, "Databricks-Group-Test");
    s.world.tenant.remove_member(&group, &engineers);
    // A member page fails for good (not retryable) partway through the read.
    s.world
        .tenant
        .faults()
        .inject(Fault::status(400).on_path("transitiveMembers"), 1);
    let patches_before = s.test.scim.faults().count(&Method::PATCH, "/Users");
    let (code, report) = sync(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    let error = ws(&report)["error"].as_str().unwrap();
    assert!(error.contains("listing members of group"), "{error}");
    assert_eq!(
        s.test.scim.faults().count(&Method::PATCH, "/Users"),
        patches_before,
        "nothing deactivated"
    );
    for i in 8..14 {
        assert_eq!(active(&s.test, &format!("user{i}@contoso.com")), Some(true));
    }
}

#[tokio::test]
async fn admins_and_the_tokens_own_identity_are_never_deprovisioned() {
    let scenario = scenario().await;
    let t = &scenario.world.tenant;
    // The PAT's owner is a member of the Entra group at first, so the sync adopts it as managed...
    let owner = t.add_user(NewUser::member(
        sandbox::scim::ADMIN_USER_NAME,
        "Workspace admin",
    ));
    let group = t.group_id("Databricks-Group-Test").unwrap();
    t.add_member(&group, &owner);
    // ... and so is another workspace admin.
    let other_admin = t.add_user(NewUser::member("second.admin@contoso.com", "Second admin"));
    t.add_member(&group, &other_admin);
    let admin_id = scenario
        .test
        .scim
        .add_user("second.admin@contoso.com", "Second admin", true);
    let admins = scenario
        .test
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == "admins")
        .unwrap();
    scenario.test.scim.add_member(&admins.id, &admin_id);
    scenario.test.scim.show_in_list("user3@contoso.com");
    let mut entry = World::config_entry(&scenario.test, &["Databricks-Group-Test"]);
    entry["deprovision"] = json!("remove");
    entry["maxDeprovision"] = json!(10);
    let handler = Handler::start(
        &json!({"workspaces": [entry]}).to_string(),
        &scenario.world.handler_env(),
    )
    .await;
    let (code, report) = sync(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");

    // Both are managed now: without their protection they would be removed below.
    let marker = scenario
        .test
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == "entra-sync-managed")
        .unwrap();
    let owner_id = scenario.test.scim.admin_user_id();
    assert!(
        marker.members.contains(&owner_id) && marker.members.contains(&admin_id),
        "{marker:?}"
    );
    // Both leave the group.
    t.remove_member(&group, &owner);
    t.remove_member(&group, &other_admin);
    let (code, report) = sync(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["users"]["removed"], 0, "{report}");
    assert_eq!(
        active(&scenario.test, sandbox::scim::ADMIN_USER_NAME),
        Some(true)
    );
    assert_eq!(
        active(&scenario.test, "second.admin@contoso.com"),
        Some(true)
    );
}
