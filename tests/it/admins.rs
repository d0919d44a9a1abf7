//! Admin protection by any route, through the real `handler`: a managed user who left the Entra groups
//! but is a workspace admin through workspace groups nested in `admins` is not deprovisioned, while
//! the other leavers are; where the workspace API cannot show who is an admin (an account group in
//! `admins`, which workspace-level SCIM does not serve; a nested group that cannot be read), nobody in
//! the workspace is deprovisioned, the newcomers are still added and the report says why, naming the
//! group; and reading `admins`' groups costs no request when nobody is to be deprovisioned or when
//! `admins` holds only users.

use axum::http::Method;
use sandbox::faults::Fault;
use sandbox::graph::NewUser;
use sandbox::world::{Workspace, World};
use serde_json::{Value, json};

use crate::support::{Handler, sync_http};

const GROUP: &str = "Databricks-Group-Test";
const MARKER: &str = "entra-sync-managed";

fn ws(report: &Value) -> &Value {
    &report["workspaces"][0]
}

/// A world whose Entra group holds ana, bo and cy, synced once into one workspace with
/// `deprovision: deactivate`: all three created and managed.
async fn three_managed() -> (World, Workspace, Handler) {
    let world = World::start().await.unwrap();
    let group = world.tenant.add_group(GROUP);
    for name in ["ana", "bo", "cy"] {
        let user = world
            .tenant
            .add_user(NewUser::member(&format!("{name}@contoso.com"), name));
        world.tenant.add_member(&group, &user);
    }
    let workspace = world.add_workspace("analytics").await.unwrap();
    let mut entry = World::config_entry(&workspace, &[GROUP]);
    entry["deprovision"] = json!("deactivate");
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    let marker = group_named(&workspace, MARKER);
    assert_eq!(marker.members.len(), 3, "{report}");
    (world, workspace, handler)
}

fn group_named(ws: &Workspace, name: &str) -> sandbox::scim::GroupSnapshot {
    ws.scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == name)
        .unwrap_or_else(|| panic!("no group {name}"))
}

fn user_id(ws: &Workspace, user_name: &str) -> String {
    (ws.scim.users().into_iter())
        .find(|u| u.user_name == user_name)
        .map(|u| u.id)
        .unwrap_or_else(|| panic!("no user {user_name}"))
}

fn active(ws: &Workspace, user_name: &str) -> Option<bool> {
    (ws.scim.users().into_iter())
        .find(|u| u.user_name == user_name)
        .map(|u| u.active)
}

/// Takes these users out of the Entra group.
fn leave(world: &World, names: &[&str]) {
    let group = world.tenant.group_id(GROUP).unwrap();
    for name in names {
        let user = world
            .tenant
            .user_id(&format!("{name}@contoso.com"))
            .unwrap();
        world.tenant.remove_member(&group, &user);
    }
}

/// Requests the workspace received since its log was cleared: `(GET Groups?filter=…, GET Groups/{id})`.
fn group_reads(ws: &Workspace) -> (usize, usize) {
    let log = ws.scim.faults().log();
    let gets = log.iter().filter(|r| r.method == Method::GET);
    let (by_id, listed): (Vec<_>, Vec<_>) = gets
        .filter(|r| r.path.contains("/Groups"))
        .partition(|r| r.path.contains("/Groups/"));
    (listed.len(), by_id.len())
}

/// The `(type, target, detail)` of the skipped actions.
fn skipped(report: &Value) -> Vec<(String, String, String)> {
    let mut found: Vec<_> = (ws(report)["actions"].as_array().unwrap().iter())
        .filter(|a| a["outcome"] == "skipped")
        .map(|a| {
            let text = |key: &str| a[key].as_str().unwrap_or_default().to_owned();
            (text("type"), text("target"), text("detail"))
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_leaver_who_is_an_admin_through_groups_nested_in_admins_is_kept_and_the_others_go() {
    let (world, workspace, handler) = three_managed().await;
    // admins > "platform" > "leads" > bo: bo is a workspace admin two groups down.
    let scim = &workspace.scim;
    let platform = scim.add_group("platform");
    let leads = scim.add_group("leads");
    scim.add_member(&leads, &user_id(&workspace, "bo@contoso.com"));
    scim.add_member(&platform, &leads);
    scim.add_member(&group_named(&workspace, "admins").id, &platform);

    leave(&world, &["ana", "bo"]);
    // A dry run reads the nested groups too, and shows exactly what the run will do.
    let (code, report) = sync_http(&handler, json!({"dryRun": true})).await;
    assert_eq!(code, 200, "{report}");
    let planned: Vec<(&str, &str)> = (ws(&report)["actions"].as_array().unwrap().iter())
        .map(|a| (a["type"].as_str().unwrap(), a["target"].as_str().unwrap()))
        .collect();
    assert_eq!(planned, [("deactivateUser", "ana@contoso.com")], "{report}");
    scim.faults().clear_log();
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["status"], "succeeded", "{report}");
    assert_eq!(ws(&report)["users"]["deactivated"], 1, "{report}");
    assert_eq!(active(&workspace, "ana@contoso.com"), Some(false));
    assert_eq!(
        active(&workspace, "bo@contoso.com"),
        Some(true),
        "an admin through nested groups is never deprovisioned"
    );
    assert_eq!(active(&workspace, "cy@contoso.com"), Some(true));
    assert!(ws(&report)["deprovisioningHeld"].is_null(), "{report}");
    assert_eq!(
        group_reads(&workspace),
        (2, 2),
        "the marker and admins by name, then platform and leads by id"
    );
}

#[tokio::test]
async fn an_account_group_in_admins_holds_every_deprovisioning_adds_the_newcomers_and_says_why() {
    let (world, workspace, handler) = three_managed().await;
    // bo is an admin through an account group, whose members the workspace API does not show.
    let scim = &workspace.scim;
    let platform =
        scim.add_account_group("platform-admins", &[&user_id(&workspace, "bo@contoso.com")]);
    scim.nest_account_group(&group_named(&workspace, "admins").id, &platform);
    leave(&world, &["ana", "bo"]);
    let group = world.tenant.group_id(GROUP).unwrap();
    let dee = world
        .tenant
        .add_user(NewUser::member("dee@contoso.com", "dee"));
    world.tenant.add_member(&group, &dee);

    let (code, report) = sync_http(&handler, json!({"allowDeprovision": true})).await;
    assert_eq!(code, 502, "the workspace fails: {report}");
    assert_eq!(ws(&report)["status"], "failed");
    let held = ws(&report)["deprovisioningHeld"].as_str().unwrap();
    assert!(
        held.starts_with(&format!(
            "deprovisioning held: who is a workspace admin cannot be established, so none of the 2 \
             principal(s) who would be deprovisioned is: the group \"platform-admins\" (id {platform}) \
             in admins cannot be read through the workspace API (an account group, which \
             workspace-level SCIM does not serve, or a group gone since): "
        )),
        "{held}"
    );
    assert!(held.contains("404"), "{held}");
    assert_eq!(ws(&report)["error"], held);
    assert_eq!(
        skipped(&report),
        [
            (
                "deactivateUser".into(),
                "ana@contoso.com".into(),
                held.into()
            ),
            (
                "deactivateUser".into(),
                "bo@contoso.com".into(),
                held.into()
            ),
        ]
    );
    for name in ["ana", "bo", "cy"] {
        assert_eq!(
            active(&workspace, &format!("{name}@contoso.com")),
            Some(true)
        );
    }
    assert_eq!(
        active(&workspace, "dee@contoso.com"),
        Some(true),
        "the newcomer is added"
    );
    let dee_id = user_id(&workspace, "dee@contoso.com");
    assert!(group_named(&workspace, MARKER).members.contains(&dee_id));
    assert_eq!(
        scim.faults().count(&Method::PATCH, "/Users"),
        0,
        "nobody deactivated"
    );
    assert!(
        handler
            .wait_for_stdout(r#""event":"deprovisioningHeld""#)
            .await
    );
}

#[tokio::test]
async fn a_nested_group_that_cannot_be_read_holds_every_deprovisioning() {
    let (world, workspace, handler) = three_managed().await;
    let scim = &workspace.scim;
    let leads = scim.add_group("leads");
    scim.add_member(&leads, &user_id(&workspace, "bo@contoso.com"));
    scim.add_member(&group_named(&workspace, "admins").id, &leads);
    scim.faults().inject_persistent(
        Fault::status(403)
            .on_method(Method::GET)
            .on_path(&format!("/Groups/{leads}")),
    );
    leave(&world, &["ana"]);
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    let held = ws(&report)["deprovisioningHeld"].as_str().unwrap();
    assert!(
        held.contains(&format!(
            "the group \"leads\" (id {leads}) in admins cannot be read through the workspace API"
        )),
        "{held}"
    );
    assert_eq!(active(&workspace, "ana@contoso.com"), Some(true));

    // Readable again: ana goes, bo (an admin through leads) would stay.
    scim.faults().clear();
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["users"]["deactivated"], 1);
    assert_eq!(active(&workspace, "ana@contoso.com"), Some(false));
}

#[tokio::test]
async fn admins_groups_cost_no_request_when_nobody_leaves_or_when_admins_holds_only_users() {
    let (world, workspace, handler) = three_managed().await;
    let scim = &workspace.scim;
    // admins holds users only (its owner and bo): a leaver costs the same reads as before.
    let admins = group_named(&workspace, "admins").id;
    scim.add_member(&admins, &user_id(&workspace, "bo@contoso.com"));
    leave(&world, &["ana", "bo"]);
    scim.faults().clear_log();
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["users"]["deactivated"], 1, "ana only: {report}");
    assert_eq!(active(&workspace, "bo@contoso.com"), Some(true));
    assert_eq!(
        group_reads(&workspace),
        (2, 0),
        "the marker and admins by name, nothing by id"
    );
    let gets = scim
        .faults()
        .log()
        .iter()
        .filter(|r| r.method == Method::GET)
        .count();

    // A group nested in admins, and nobody left to deprovision: still nothing read by id.
    let leads = scim.add_group("leads");
    scim.add_member(&admins, &leads);
    scim.faults().clear_log();
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(group_reads(&workspace), (2, 0));
    let again = scim
        .faults()
        .log()
        .iter()
        .filter(|r| r.method == Method::GET)
        .count();
    assert_eq!(
        again, gets,
        "the same reads as a run with admins of users only"
    );
}
