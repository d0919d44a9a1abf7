//! Service principals through the real `handler` (`includeServicePrincipals`): Entra service principals
//! in the groups (directly or nested) become workspace service principals keyed by `applicationId`, are
//! marked, mirrored and deprovisioned by the users' rules; the app's own identity and service
//! principals made by hand are never touched.

use axum::http::Method;
use sandbox::world::World;
use serde_json::{Value, json};

use crate::scenario::scenario;
use crate::support::{Handler, sync_http};

const ETL: &str = "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a";
const REPORT_BOT: &str = "1c8d8a4f-9b5f-4d3b-8e8f-2a1f3e4d5c6b";
const DISABLED_APP: &str = "2d9e9b5a-ac6a-4e4c-9f9a-3b2a4f5e6d7c";
const HANDMADE: &str = "3eafac6b-bd7b-4f5d-8aab-4c3b5a6f7e8d";

fn ws(report: &Value) -> &Value {
    &report["workspaces"][0]
}

fn writes(ws: &sandbox::world::Workspace) -> usize {
    [Method::POST, Method::PATCH, Method::DELETE]
        .iter()
        .map(|m| ws.scim.faults().count(m, "/"))
        .sum()
}

/// `(applicationId, active, groups)` of every service principal of the workspace, sorted.
fn service_principals(ws: &sandbox::world::Workspace) -> Vec<(String, bool, Vec<String>)> {
    let mut all: Vec<_> = ws
        .scim
        .service_principals()
        .into_iter()
        .map(|sp| {
            let mut groups = sp.groups;
            groups.sort();
            (sp.application_id.to_lowercase(), sp.active, groups)
        })
        .collect();
    all.sort();
    all
}

fn kinds(report: &Value, outcome: &str) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = ws(report)["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == outcome)
        .filter(|a| a["type"].as_str().unwrap().contains("ServicePrincipal"))
        .map(|a| {
            (
                a["type"].as_str().unwrap().to_owned(),
                a["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    kinds
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn service_principals_round_trip_created_marked_mirrored_deprovisioned_and_the_apps_own_left_alone()
 {
    let s = scenario().await;
    let tenant = &s.world.tenant;
    let own_app = s.world.identity.system_client_id().to_lowercase();
    let group = tenant.group_id("Databricks-Group-Test").unwrap();
    let engineers = tenant.group_id("Data-Engineers").unwrap();
    let etl = tenant.add_service_principal(ETL, "nightly-etl", true);
    let bot = tenant.add_service_principal(&REPORT_BOT.to_uppercase(), "report-bot", true);
    let disabled = tenant.add_service_principal(DISABLED_APP, "retired-app", false);
    let own = tenant.add_service_principal(&own_app, "entra-databricks-sync", true);
    tenant.add_member(&group, &etl);
    tenant.add_member(&engineers, &bot);
    tenant.add_member(&group, &disabled);
    tenant.add_member(&group, &own);
    // The app calls the workspace as itself (a workspace admin); the bot was there before, deactivated;
    // an operator made one by hand.
    s.test.scim.admit_identity("system", &own_app);
    s.test
        .scim
        .add_service_principal(REPORT_BOT, "report-bot", false);
    s.test
        .scim
        .add_service_principal(HANDMADE, "made-by-hand", true);
    s.test.scim.show_in_list("user3@contoso.com");

    let mut entry = World::config_entry(&s.test, &["Databricks-Group-Test"]);
    let object = entry.as_object_mut().unwrap();
    object.remove("scimToken");
    object.insert("auth".into(), json!("managedIdentity"));
    object.insert("includeServicePrincipals".into(), json!(true));
    object.insert("mirrorGroups".into(), json!(true));
    object.insert("deprovision".into(), json!("remove"));
    object.insert("maxDeprovision".into(), json!(5));
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &s.world.handler_env()).await;

    // A dry run shows what will happen to the service principals, and writes nothing.
    let (code, report) = sync_http(&handler, json!({"dryRun": true})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(
        kinds(&report, "planned"),
        [
            ("activateServicePrincipal".into(), REPORT_BOT.into()),
            ("createServicePrincipal".into(), ETL.into()),
        ]
    );
    let skipped: Vec<&Value> = ws(&report)["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["type"] == "skipMember" && a["target"].as_str().unwrap().contains("retired-app")
        })
        .collect();
    assert_eq!(skipped.len(), 1, "{report}");
    assert_eq!(
        skipped[0]["detail"],
        "service principal is disabled in Entra ID"
    );
    assert_eq!(writes(&s.test), 0);

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(
        ws(&report)["servicePrincipals"],
        json!({"desired": 3, "existing": 1, "created": 1, "reactivated": 1, "deactivated": 0,
               "removed": 0, "skipped": 0, "failed": 0, "accountDeactivated": 0}),
        "{report}"
    );
    let both = strings(&["Databricks-Group-Test", "entra-sync-managed"]);
    assert_eq!(
        service_principals(&s.test),
        [
            (ETL.into(), true, both.clone()),
            (REPORT_BOT.into(), true, both.clone()),
            (HANDMADE.into(), true, vec![]),
            (
                own_app.clone(),
                true,
                strings(&["Databricks-Group-Test", "admins", "entra-sync-managed"])
            ),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );

    let before = writes(&s.test);
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(writes(&s.test), before, "nothing changed, nothing written");
    assert_eq!(ws(&report)["servicePrincipals"]["existing"], 3);

    // The ETL app and the app itself leave the group; the bot leaves the nested group.
    tenant.remove_member(&group, &etl);
    tenant.remove_member(&group, &own);
    tenant.remove_member(&engineers, &bot);
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(
        kinds(&report, "applied"),
        [
            ("removeServicePrincipal".into(), ETL.into()),
            ("removeServicePrincipal".into(), REPORT_BOT.into()),
        ]
    );
    assert_eq!(ws(&report)["servicePrincipals"]["removed"], 2);
    let left = service_principals(&s.test);
    assert_eq!(
        left,
        [
            (HANDMADE.into(), true, vec![]),
            (
                own_app.clone(),
                true,
                strings(&["admins", "entra-sync-managed"])
            ),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>(),
        "the app's own identity left the mirrored group but is never deprovisioned; the handmade one is untouched"
    );

    let before = writes(&s.test);
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(writes(&s.test), before, "converged: nothing more to do");
}

#[tokio::test]
async fn without_the_option_service_principals_are_neither_read_nor_touched() {
    let s = scenario().await;
    let tenant = &s.world.tenant;
    let group = tenant.group_id("Databricks-Group-Test").unwrap();
    let etl = tenant.add_service_principal(ETL, "nightly-etl", true);
    tenant.add_member(&group, &etl);
    s.test
        .scim
        .add_service_principal(HANDMADE, "made-by-hand", false);
    let mut entry = World::config_entry(&s.test, &["Databricks-Group-Test"]);
    entry["mirrorGroups"] = json!(true);
    entry["deprovision"] = json!("remove");
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &s.world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(ws(&report)["servicePrincipals"]["desired"], 0);
    assert_eq!(
        s.test
            .scim
            .faults()
            .count(&Method::GET, "/ServicePrincipals"),
        0
    );
    assert!(
        !tenant
            .faults()
            .log()
            .iter()
            .any(|r| r.path.contains("servicePrincipal")),
        "Graph is not asked for service principals"
    );
    assert_eq!(
        service_principals(&s.test),
        [(HANDMADE.to_owned(), false, vec![])]
    );
}
