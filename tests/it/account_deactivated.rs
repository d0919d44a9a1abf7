//! Users deactivated in the Databricks account, through the real binary (issue 15): on an
//! identity-federated workspace such a user is listed inactive and the workspace answers its
//! reactivation with HTTP 500 (Databricks knowledge base, "Reactivate a user that has been disabled with
//! AAD at the Account and Workspace level"). The sync reports it per user, in words that say an account
//! admin must act, counted apart (`accountDeactivated`); it does not retry it, the rest of the run goes
//! on, each later run asks once more, and once the account has reactivated the user the next run
//! reactivates it in the workspace.

use axum::http::Method;
use sandbox::graph::NewUser;
use sandbox::world::{Workspace, World};
use serde_json::{Value, json};

use crate::support::{Handler, sync_http};

const GROUP: &str = "Databricks-Group-Test";
/// Inactive in the workspace only: reactivated.
const PARKED: &str = "ana@contoso.com";
/// Deactivated in the Databricks account: the workspace cannot reactivate it.
const ACCOUNT_OFF: &str = "cy@contoso.com";
/// Not in the workspace yet: created.
const NEWCOMERS: [&str; 2] = ["dee@contoso.com", "eli@contoso.com"];

/// PATCHes of this user sent to the workspace.
fn patches_of(ws: &Workspace, id: &str) -> usize {
    ws.scim
        .faults()
        .count(&Method::PATCH, &format!("/Users/{id}"))
}

fn active(ws: &Workspace, name: &str) -> Option<bool> {
    ws.scim
        .users()
        .into_iter()
        .find(|u| u.user_name == name)
        .map(|u| u.active)
}

/// The report's actions about `target`.
fn actions_on<'a>(workspace: &'a Value, target: &str) -> Vec<&'a Value> {
    workspace["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["target"] == target)
        .collect()
}

#[tokio::test]
async fn a_user_deactivated_in_the_account_is_reported_in_words_once_a_run_and_the_rest_still_happens()
 {
    let world = World::start().await.unwrap();
    let group = world.tenant.add_group(GROUP);
    for name in [PARKED, ACCOUNT_OFF].into_iter().chain(NEWCOMERS) {
        let user = world.tenant.add_user(NewUser::member(name, name));
        world.tenant.add_member(&group, &user);
    }
    let ws = world.add_workspace("analytics").await.unwrap();
    ws.scim.add_user(PARKED, PARKED, false);
    let off = ws.scim.add_user(ACCOUNT_OFF, ACCOUNT_OFF, true);
    ws.scim.deactivate_in_account(ACCOUNT_OFF);
    let config = json!({ "workspaces": [World::config_entry(&ws, &[GROUP])] });
    let handler = Handler::start(&config.to_string(), &world.handler_env()).await;

    let (code, report) = sync_http(&handler, json!({})).await;
    let workspace = &report["workspaces"][0];
    assert_eq!(code, 502, "someone must act, so the run fails: {report}");
    assert_eq!(workspace["status"], "failed", "{workspace}");
    // The other reactivation and the creations happened.
    assert_eq!(active(&ws, PARKED), Some(true));
    for name in NEWCOMERS {
        assert_eq!(active(&ws, name), Some(true), "{name} was created");
    }
    assert_eq!(active(&ws, ACCOUNT_OFF), Some(false));
    let users = &workspace["users"];
    assert_eq!(
        (&users["created"], &users["reactivated"], &users["failed"]),
        (&json!(2), &json!(1), &json!(1)),
        "{users}"
    );
    assert_eq!(users["accountDeactivated"], 1, "{users}");
    // Reported for that user, in words, with its reason.
    let about = actions_on(workspace, ACCOUNT_OFF);
    assert_eq!(about.len(), 1, "{about:?}");
    let action = about[0];
    assert_eq!(
        (&action["type"], &action["outcome"], &action["reason"]),
        (
            &json!("activateUser"),
            &json!("failed"),
            &json!("accountDeactivated")
        ),
        "{action}"
    );
    let detail = action["detail"].as_str().unwrap();
    for needle in [
        "reactivating user cy@contoso.com: HTTP 500",
        "the answer Databricks gives for a user deactivated in the Databricks account",
        "an account admin must reactivate cy@contoso.com in the Databricks account first",
        "the next run reactivates the user in this workspace",
    ] {
        assert!(detail.contains(needle), "{needle:?} not in {detail}");
    }
    assert!(
        actions_on(workspace, PARKED)
            .iter()
            .all(|a| a["reason"].is_null()),
        "only the refused reactivation carries a reason: {workspace}"
    );
    let error = workspace["error"].as_str().unwrap();
    assert!(
        error.contains("1 user(s) could not be reactivated because they are deactivated in the Databricks account"),
        "{error}"
    );
    // Sent once: a 500 is not retried, and the documented form is not followed by the RFC's.
    assert_eq!(patches_of(&ws, &off), 1);
    // The event operators count by (read from the pipe as it comes: the answer can arrive first).
    assert!(handler.wait_for_stdout("actionFailed").await);
    let events: Vec<Value> = handler
        .stdout()
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|e: &Value| e["event"] == "actionFailed")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (&events[0]["target"], &events[0]["reason"]),
        (&json!(ACCOUNT_OFF), &json!("accountDeactivated")),
        "{}",
        events[0]
    );

    // The next run asks once more, reports it once more, and has nothing else to do.
    ws.scim.faults().clear_log();
    let (code, report) = sync_http(&handler, json!({})).await;
    let workspace = &report["workspaces"][0];
    assert_eq!(code, 502, "{report}");
    assert_eq!(actions_on(workspace, ACCOUNT_OFF).len(), 1, "{workspace}");
    assert_eq!(workspace["users"]["accountDeactivated"], 1);
    let writes: Vec<String> = (ws.scim.faults().log().into_iter())
        .filter(|r| r.method != Method::GET)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        [format!("PATCH /api/2.0/preview/scim/v2/Users/{off}")],
        "one PATCH for that user and nothing else"
    );

    // An account admin reactivates the user in the account: the next run reactivates it here.
    ws.scim.reactivate_in_account(ACCOUNT_OFF);
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["workspaces"][0]["users"]["reactivated"], 1);
    assert_eq!(active(&ws, ACCOUNT_OFF), Some(true));
}
