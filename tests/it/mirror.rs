//! Group mirroring through the real `handler`: each configured Entra group has a workspace group with
//! exactly its synced members (nesting flattened), and its entitlements; renames follow `groupNames`.

use sandbox::graph::NewUser;
use sandbox::world::World;
use serde_json::{Value, json};

use crate::scenario::scenario;
use crate::support::{Handler, sync_http};

async fn sync(handler: &Handler) -> (u64, Value) {
    sync_http(handler, json!({})).await
}

/// The user names in a workspace group, sorted.
fn members(ws: &sandbox::world::Workspace, group: &str) -> Vec<String> {
    let users = ws.scim.users();
    let group = ws
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == group)
        .expect(group);
    let mut names: Vec<String> = group
        .members
        .iter()
        .filter_map(|id| {
            users
                .iter()
                .find(|u| &u.id == id)
                .map(|u| u.user_name.clone())
        })
        .collect();
    names.sort();
    names
}

fn users(range: std::ops::Range<usize>) -> Vec<String> {
    let mut names: Vec<String> = range.map(|i| format!("user{i}@contoso.com")).collect();
    names.sort();
    names
}

#[tokio::test]
async fn mirrored_groups_follow_entra_membership_changes_renames_and_keep_their_entitlements() {
    let s = scenario().await;
    s.prod.scim.set_max_page_size(1000);
    // The engineers are configured by object id, mirrored under a name of their own.
    let engineers_id = s.world.tenant.group_id("Data-Engineers").unwrap();
    let mut entry = World::config_entry(&s.prod, &["Databricks-Group-Prod", engineers_id.as_str()]);
    entry["mirrorGroups"] = json!(true);
    entry["entitlements"] = json!(["workspace-access", "databricks-sql-access"]);
    entry["groupNames"] = json!({ engineers_id.clone(): "engineers" });
    let handler = Handler::start(
        &json!({"workspaces": [entry]}).to_string(),
        &s.world.handler_env(),
    )
    .await;
    let (code, report) = sync(&handler).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(members(&s.prod, "Databricks-Group-Prod"), users(10..14));
    let mut engineers = users(8..14);
    engineers.push("user0@contoso.com".into());
    engineers.sort();
    assert_eq!(
        members(&s.prod, "engineers"),
        engineers,
        "mirrored under its groupNames name"
    );
    let group = s
        .prod
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == "engineers")
        .unwrap();
    let mut entitlements = group.entitlements.clone();
    entitlements.sort();
    assert_eq!(entitlements, ["databricks-sql-access", "workspace-access"]);

    // Membership changes in Entra: one joins the prod group, one leaves it, one moves (nested) from the
    // engineers into the prod group.
    let t = &s.world.tenant;
    let prod = t.group_id("Databricks-Group-Prod").unwrap();
    let eng = t.group_id("Data-Engineers").unwrap();
    let newcomer = t.add_user(NewUser::member("newcomer@contoso.com", "Newcomer"));
    t.add_member(&prod, &newcomer);
    let user10 = find_user(&s, "user10@contoso.com");
    t.remove_member(&prod, &user10);
    let user9 = find_user(&s, "user9@contoso.com");
    t.remove_member(&eng, &user9);
    t.add_member(&prod, &user9);
    let (code, report) = sync(&handler).await;
    assert_eq!(code, 200, "{report}");
    let mut expected = vec![
        "newcomer@contoso.com".to_owned(),
        "user9@contoso.com".to_owned(),
    ];
    expected.extend(users(11..14));
    expected.sort();
    assert_eq!(members(&s.prod, "Databricks-Group-Prod"), expected);
    assert!(!members(&s.prod, "engineers").contains(&"user9@contoso.com".to_owned()));
    assert!(
        members(&s.prod, "engineers").contains(&"user10@contoso.com".to_owned()),
        "still an engineer"
    );

    // A rename in Entra: the groupNames mapping keeps the workspace group, nothing changes.
    t.rename_group(&eng, "Data-Platform-Engineers");
    let groups_before = s.prod.scim.groups().len();
    let (code, report) = sync(&handler).await;
    assert_eq!(code, 200, "{report}");
    let actions = report["workspaces"][0]["actions"].as_array().unwrap();
    assert!(
        actions.iter().all(|a| a["outcome"] != "applied"),
        "nothing to change: {report}"
    );
    assert_eq!(
        report["workspaces"][0]["groups"][1]["displayName"],
        "Data-Platform-Engineers"
    );
    assert_eq!(s.prod.scim.groups().len(), groups_before);
    assert_eq!(members(&s.prod, "engineers").len(), 6);
}

fn find_user(s: &crate::scenario::Scenario, upn: &str) -> String {
    s.world.tenant.user_id(upn).expect(upn)
}
