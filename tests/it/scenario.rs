//! Emulated worlds the real `handler` is run against (see `sandbox::world`).

use sandbox::graph::NewUser;
use sandbox::world::{Workspace, World};
use serde_json::json;

/// A world with the named workspaces, all given the group "Databricks-Group-Test" (two members).
pub async fn small_world(names: &[&str]) -> (World, Vec<Workspace>, String) {
    let world = World::start().await.unwrap();
    let group = world.tenant.add_group("Databricks-Group-Test");
    for who in ["ana", "bo"] {
        let user = world
            .tenant
            .add_user(NewUser::member(&format!("{who}@contoso.com"), who));
        world.tenant.add_member(&group, &user);
    }
    let mut workspaces = Vec::new();
    for name in names {
        workspaces.push(world.add_workspace(name).await.unwrap());
    }
    let entries: Vec<_> = workspaces
        .iter()
        .map(|w| World::config_entry(w, &["Databricks-Group-Test"]))
        .collect();
    let config = json!({ "workspaces": entries }).to_string();
    (world, workspaces, config)
}

/// The scenario: two workspaces sharing a group, nesting, overlap, a guest, a disabled user,
/// a user present with another case, an inactive user, a user created at first sign-in that listings
/// do not show yet, and small pages on both sides.
pub struct Scenario {
    pub world: World,
    pub test: Workspace,
    pub prod: Workspace,
    pub config: String,
}

/// Graph page size and SCIM page size of the scenario.
pub const GRAPH_PAGE: usize = 5;
pub const SCIM_PAGE: usize = 3;

pub async fn scenario() -> Scenario {
    let world = World::start().await.unwrap();
    let t = &world.tenant;
    t.set_max_page_size(GRAPH_PAGE);
    let users: Vec<String> = (0..14)
        .map(|i| {
            t.add_user(NewUser::member(
                &format!("user{i}@contoso.com"),
                &format!("User {i}"),
            ))
        })
        .collect();
    let guest = t.add_user(NewUser::guest("gina@fabrikam.com", "Gina Guest"));
    let mut disabled = NewUser::member("dis@contoso.com", "Disabled");
    disabled.account_enabled = false;
    let disabled = t.add_user(disabled);

    let test_group = t.add_group("Databricks-Group-Test");
    let engineers = t.add_group("Data-Engineers");
    let prod_group = t.add_group("Databricks-Group-Prod");
    for user in &users[0..8] {
        t.add_member(&test_group, user);
    }
    t.add_member(&test_group, &guest);
    t.add_member(&test_group, &disabled);
    t.add_member(&test_group, &engineers);
    for user in &users[8..14] {
        t.add_member(&engineers, user);
    }
    t.add_member(&engineers, &users[0]);
    for user in &users[10..14] {
        t.add_member(&prod_group, user);
    }

    let test = world.add_workspace("analytics-test").await.unwrap();
    let prod = world.add_workspace("analytics-prod").await.unwrap();
    for ws in [&test, &prod] {
        ws.scim.set_max_page_size(SCIM_PAGE);
    }
    test.scim.add_user("USER1@Contoso.com", "User 1", true);
    test.scim.add_user("user2@contoso.com", "User 2", false);
    test.scim.hide_from_list("user3@contoso.com");
    // The two PATCH answer styles of SCIM servers: 204 without a body here, 200 with the resource in prod.
    test.scim.set_patch_answers_204(true);
    let config = json!({ "workspaces": [
        World::config_entry(&test, &["Databricks-Group-Test"]),
        World::config_entry(&prod, &["Databricks-Group-Test", "Databricks-Group-Prod"]),
    ]})
    .to_string();
    Scenario {
        world,
        test,
        prod,
        config,
    }
}

/// The users of a workspace as `(userName, active)`, sorted, without the admin.
pub fn end_state(ws: &Workspace) -> Vec<(String, bool)> {
    let mut users: Vec<(String, bool)> = ws
        .scim
        .users()
        .into_iter()
        .filter(|u| u.user_name != sandbox::scim::ADMIN_USER_NAME)
        .map(|u| (u.user_name, u.active))
        .collect();
    users.sort();
    users
}

/// The users every workspace of the scenario must end with, all active.
pub fn expected_users() -> Vec<(String, bool)> {
    let mut users: Vec<(String, bool)> = (0..14)
        .map(|i| (format!("user{i}@contoso.com"), true))
        .chain([("gina@fabrikam.com".to_owned(), true)])
        .collect();
    users.sort();
    users
}
