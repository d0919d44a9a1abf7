//! `externalId` through the real binary: every principal the sync creates carries its Entra object id,
//! and a listed principal whose `externalId` is another value is reported, never rewritten (issue 15).

use axum::http::Method;
use sandbox::graph::NewUser;
use sandbox::world::World;
use serde_json::json;

use crate::support::{Handler, sync_http};

#[tokio::test]
async fn created_users_carry_their_entra_object_id_and_a_differing_one_is_reported_not_rewritten() {
    let world = World::start().await.unwrap();
    let group = world.tenant.add_group("Databricks-Group-Test");
    let mut object_ids = Vec::new();
    for who in ["ana", "bo", "cy"] {
        let id = world
            .tenant
            .add_user(NewUser::member(&format!("{who}@contoso.com"), who));
        world.tenant.add_member(&group, &id);
        object_ids.push((format!("{who}@contoso.com"), id));
    }
    let ws = world.add_workspace("analytics").await.unwrap();
    // cy is in the workspace already, linked by another provisioner to something else.
    let cy = ws.scim.add_user("cy@contoso.com", "cy", true);
    ws.scim.set_external_id(&cy, "legacy-link-42");
    let config = json!({ "workspaces": [World::config_entry(&ws, &["Databricks-Group-Test"])] });
    let handler = Handler::start(&config.to_string(), &world.handler_env()).await;

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    let ids = ws.scim.external_ids();
    for (name, object_id) in &object_ids[..2] {
        assert!(
            ids.contains(&(name.clone(), Some(object_id.clone()))),
            "{name} was created with externalId = its Entra object id: {ids:?}"
        );
    }
    assert!(
        ids.contains(&(
            "cy@contoso.com".to_owned(),
            Some("legacy-link-42".to_owned())
        )),
        "an existing externalId is left as it is: {ids:?}"
    );
    let workspace = &report["workspaces"][0];
    assert_eq!(
        workspace["externalIds"],
        json!({"differ": 1, "differing": ["cy@contoso.com"], "absent": 0}),
        "{workspace}"
    );
    assert_eq!(
        workspace["status"], "succeeded",
        "a difference does not fail the workspace"
    );
    let log = ws.scim.faults().log();
    assert!(
        !log.iter().any(|r| r.method == Method::PUT
            || (r.method == Method::PATCH && r.path.contains(&format!("/Users/{cy}")))),
        "cy's externalId is never written: {log:?}"
    );

    // The next run reports the same, and still writes nothing for it.
    ws.scim.faults().clear_log();
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["workspaces"][0]["externalIds"]["differ"], 1);
    let writes: Vec<_> = (ws.scim.faults().log().into_iter())
        .filter(|r| r.method != Method::GET)
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}
