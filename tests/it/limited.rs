//! What Graph does not show is never taken as absence, through the real `handler`: members Graph lists
//! "with limited information" (the app lacks User.Read.All or Application.Read.All: only `@odata.type`
//! and `id`, every other property null) make the read incomplete; in a workspace of three managed
//! principals, with deprovisioning and mirroring on, nobody is then deprovisioned or removed from a
//! group, the readable newcomers are still added, and the workspace fails naming the permission and the
//! group. And an `@odata.nextLink` to another host is never followed: no connection is made there.

use axum::http::Method;
use sandbox::faults::Fault;
use sandbox::graph::{NewUser, Permission};
use sandbox::world::{Workspace, World};
use serde_json::{Value, json};

use crate::support::{Handler, sync_http};

const GROUP: &str = "Databricks-Group-Test";
const MARKER: &str = "entra-sync-managed";
const ETL: &str = "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a";
const REPORT_BOT: &str = "1c8d8a4f-9b5f-4d3b-8e8f-2a1f3e4d5c6b";

fn ws(report: &Value) -> &Value {
    &report["workspaces"][0]
}

/// A workspace synced once with every permission: two users and a service principal, all three
/// managed (marked) and in the mirrored group; `deprovision` on with the default threshold (at least 5,
/// so nothing but the incomplete read could stop deprovisioning here).
async fn three_managed(deprovision: &str) -> (World, Workspace, Handler) {
    let world = World::start().await.unwrap();
    let tenant = &world.tenant;
    let group = tenant.add_group(GROUP);
    for name in ["ana@contoso.com", "bo@contoso.com"] {
        let user = tenant.add_user(NewUser::member(name, name));
        tenant.add_member(&group, &user);
    }
    let etl = tenant.add_service_principal(ETL, "nightly-etl", true);
    tenant.add_member(&group, &etl);
    let workspace = world.add_workspace("analytics").await.unwrap();
    let mut entry = World::config_entry(&workspace, &[GROUP]);
    entry["deprovision"] = json!(deprovision);
    entry["mirrorGroups"] = json!(true);
    entry["includeServicePrincipals"] = json!(true);
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(principals(&workspace).len(), 3, "{report}");
    (world, workspace, handler)
}

/// Every user and service principal but the admin as `(name or application id, active, groups)`, sorted.
fn principals(ws: &Workspace) -> Vec<(String, bool, Vec<String>)> {
    let users = ws.scim.users().into_iter();
    let users = users
        .filter(|u| u.user_name != sandbox::scim::ADMIN_USER_NAME)
        .map(|u| (u.user_name, u.active, u.groups));
    let sps = (ws.scim.service_principals().into_iter())
        .map(|sp| (sp.application_id.to_lowercase(), sp.active, sp.groups));
    let mut all: Vec<_> = users
        .chain(sps)
        .map(|(name, active, mut groups)| {
            groups.sort();
            (name, active, groups)
        })
        .collect();
    all.sort();
    all
}

fn managed(name: &str) -> (String, bool, Vec<String>) {
    (name.to_owned(), true, vec![GROUP.into(), MARKER.into()])
}

/// DELETE requests the workspace received (a removed principal).
fn removals(ws: &Workspace) -> usize {
    ws.scim.faults().count(&Method::DELETE, "/")
}

/// The `(type, target)` of the actions with this outcome, sorted.
fn actions(report: &Value, outcome: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = (ws(report)["actions"].as_array().unwrap().iter())
        .filter(|a| a["outcome"] == outcome)
        .filter(|a| a["type"] != "skipMember")
        .map(|a| {
            (
                a["type"].as_str().unwrap().to_owned(),
                a["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn without_user_read_all_no_user_is_removed_or_deprovisioned_and_readable_newcomers_are_added()
 {
    let (world, workspace, handler) = three_managed("remove").await;
    world.tenant.revoke(Permission::UserReadAll);
    let bot = world
        .tenant
        .add_service_principal(REPORT_BOT, "report-bot", true);
    let group = world.tenant.group_id(GROUP).unwrap();
    world.tenant.add_member(&group, &bot);

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "the workspace fails: {report}");
    assert_eq!(ws(&report)["status"], "failed");
    let error = ws(&report)["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "Microsoft Graph listed 2 user member(s) with limited information (only their id) in group(s) \
             \"{GROUP}\" (2): grant the app the Graph application permission User.Read.All"
        )),
        "{error}"
    );
    assert!(!error.contains("Application.Read.All"), "{error}");
    assert_eq!(ws(&report)["deprovisioningHeld"], error);
    assert_eq!(
        principals(&workspace),
        [
            managed(ETL),
            managed(REPORT_BOT),
            managed("ana@contoso.com"),
            managed("bo@contoso.com"),
        ],
        "nobody removed, deactivated or taken out of a group; the readable newcomer created, marked and \
         mirrored: {report}"
    );
    assert_eq!(removals(&workspace), 0);
    assert_eq!(
        actions(&report, "skipped"),
        pairs(&[
            ("removeFromGroup", &format!("{GROUP}: ana@contoso.com")),
            ("removeFromGroup", &format!("{GROUP}: bo@contoso.com")),
            ("removeUser", "ana@contoso.com"),
            ("removeUser", "bo@contoso.com"),
        ])
    );
    let held = ws(&report)["actions"].as_array().unwrap().iter();
    assert!(
        held.filter(|a| a["outcome"] == "skipped" && a["type"] != "skipMember")
            .all(|a| a["detail"] == error)
    );
    assert_eq!(
        actions(&report, "applied"),
        pairs(&[
            ("addToGroup", GROUP),
            ("addToGroup", MARKER),
            ("createServicePrincipal", REPORT_BOT),
        ])
    );
    let skipped = ws(&report)["actions"].as_array().unwrap().iter();
    let limited: Vec<&Value> = skipped.filter(|a| a["type"] == "skipMember").collect();
    assert_eq!(limited.len(), 2);
    assert!(
        limited
            .iter()
            .all(|a| a["detail"].as_str().unwrap().contains("User.Read.All")),
        "{limited:?}"
    );
    assert!(
        handler
            .wait_for_stdout(r#""event":"deprovisioningHeld""#)
            .await
    );

    // Granted again: complete, nothing to remove, the run succeeds.
    world.tenant.grant(Permission::UserReadAll);
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["status"], "succeeded");
    assert_eq!(principals(&workspace).len(), 4);
    assert_eq!(removals(&workspace), 0);
}

#[tokio::test]
async fn without_application_read_all_no_service_principal_is_deprovisioned_and_new_users_are_added()
 {
    let (world, workspace, handler) = three_managed("deactivate").await;
    world.tenant.revoke(Permission::ApplicationReadAll);
    let cy = world
        .tenant
        .add_user(NewUser::member("cy@contoso.com", "Cy"));
    let group = world.tenant.group_id(GROUP).unwrap();
    world.tenant.add_member(&group, &cy);
    let patches_before = workspace.scim.faults().count(&Method::PATCH, "/");

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    let error = ws(&report)["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "Microsoft Graph listed 1 service principal member(s) with limited information (only their id) in \
             group(s) \"{GROUP}\" (1): grant the app the Graph application permission Application.Read.All"
        )),
        "{error}"
    );
    assert!(!error.contains("User.Read.All"), "{error}");
    assert_eq!(
        principals(&workspace),
        [
            managed(ETL),
            managed("ana@contoso.com"),
            managed("bo@contoso.com"),
            managed("cy@contoso.com"),
        ],
        "the service principal still active and in its groups, the new user added: {report}"
    );
    assert_eq!(
        actions(&report, "skipped"),
        pairs(&[
            ("deactivateServicePrincipal", ETL),
            ("removeFromGroup", &format!("{GROUP}: {ETL}")),
        ])
    );
    assert_eq!(ws(&report)["servicePrincipals"]["deactivated"], 0);
    // The additions: the marker and the mirrored group, one PATCH each; nothing deactivated.
    assert_eq!(
        workspace.scim.faults().count(&Method::PATCH, "/") - patches_before,
        2
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed_and_the_workspace_fails_before_any_write() {
    let world = World::start().await.unwrap();
    let tenant = &world.tenant;
    tenant.set_max_page_size(2);
    let group = tenant.add_group(GROUP);
    for i in 0..5 {
        let user = tenant.add_user(NewUser::member(&format!("user{i}@contoso.com"), "U"));
        tenant.add_member(&group, &user);
    }
    // The other host answers as Graph would: only the client's own check keeps the token from it.
    let elsewhere = "graph.microsoft.com.evil.example";
    world.serve_host(elsewhere, tenant.router()).await.unwrap();
    tenant.faults().inject_persistent(
        Fault::foreign_next_link(&format!("https://{elsewhere}")).on_path("transitiveMembers"),
    );
    let workspace = world.add_workspace("analytics").await.unwrap();
    let mut entry = World::config_entry(&workspace, &[GROUP]);
    entry["deprovision"] = json!("remove");
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 502, "{report}");
    let error = ws(&report)["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "@odata.nextLink leads to https://{elsewhere}, not to the configured Graph endpoint \
             https://graph.microsoft.com (GRAPH_ENDPOINT): it is not followed and no token is sent there"
        )),
        "{error}"
    );
    assert!(
        !error.contains("skiptoken"),
        "the link's query is not echoed: {error}"
    );
    assert!(
        !world.connects().iter().any(|c| c.contains("evil")),
        "no connection to the other host: {:?}",
        world.connects()
    );
    assert_eq!(workspace.scim.faults().writes(), 0, "nothing written");
}
