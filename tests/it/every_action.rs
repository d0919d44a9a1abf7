//! The demo organisation (`cargo run -p sandbox`) through the real `handler`: its first dry run plans
//! every kind of change the sync knows; applying it succeeds, and planning again finds nothing to do.

use std::collections::BTreeSet;

use sandbox::demo::tenant::populate;
use sandbox::world::World;
use serde_json::{Value, json};

use crate::support::{Handler, sync_http};

const EVERY_KIND: [&str; 15] = [
    "activateServicePrincipal",
    "activateUser",
    "addEntitlements",
    "addToGroup",
    "assignToWorkspace",
    "createGroup",
    "createServicePrincipal",
    "createUser",
    "deactivateServicePrincipal",
    "deactivateUser",
    "removeFromGroup",
    "removeServicePrincipal",
    "removeUser",
    "skipMember",
    "unassignFromWorkspace",
];

/// The kinds of the actions with this outcome, in the workspaces and the account.
fn kinds(report: &Value, outcome: &str) -> BTreeSet<String> {
    report["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report.get("account"))
        .flat_map(|ws| ws["actions"].as_array().unwrap())
        .filter(|a| a["outcome"] == outcome)
        .map(|a| a["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_demo_dry_run_shows_every_kind_of_action_and_applying_it_leaves_nothing_to_do() {
    let world = World::start().await.unwrap();
    let demo = populate(&world).await.unwrap();
    let handler = Handler::start(&demo.config.to_string(), &world.handler_env()).await;

    let (code, plan) = sync_http(&handler, json!({"dryRun": true})).await;
    assert_eq!(code, 200, "{plan}");
    let mut planned = kinds(&plan, "planned");
    // Skipped members are reported as skipped, not planned.
    planned.extend(kinds(&plan, "skipped"));
    let every: BTreeSet<String> = EVERY_KIND.iter().map(|k| k.to_string()).collect();
    assert_eq!(planned, every, "{plan}");

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["status"], "succeeded");
    let mut applied = kinds(&report, "applied");
    applied.extend(kinds(&report, "skipped"));
    assert_eq!(applied, every, "what was planned was done: {report}");

    let (code, again) = sync_http(&handler, json!({"dryRun": true})).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(
        kinds(&again, "planned"),
        BTreeSet::new(),
        "nothing left to do: {again}"
    );
}
