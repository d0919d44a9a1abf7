//! Workspace permission assignments through the account's client (`Scim::assignments`) against the
//! account emulator: the paths, a PUT that always names its permission, ADMIN over USER, DELETE with
//! 404 as done, the 400 of a workspace without identity federation, and none for a workspace's client.

use axum::http::Method;
use entra_databricks_sync::databricks::{Assignee, Permission, PrincipalKind};

use super::account::{ACCOUNT_ID, setup};

const FEDERATED: u64 = 1234567890123456;
const LEGACY: u64 = 6543210987654321;

#[tokio::test]
async fn a_group_is_assigned_listed_promoted_and_unassigned_by_its_account_id() {
    let s = setup("sync-app").await;
    let world_ws = s.world.add_workspace("federated").await.unwrap();
    s.account.add_workspace(FEDERATED, &world_ws.scim);
    let ana = s.account.add_user("ana@contoso.com", "Ana");
    let group = s.account.add_group("Eng", &[&ana]);
    let assignments = s.scim.assignments(FEDERATED).expect("an account client");
    assert_eq!(assignments.list(&s.requests).await.unwrap(), []);

    assignments
        .assign(&group, Permission::User, &s.requests)
        .await
        .unwrap();
    let listed = assignments.list(&s.requests).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].principal_id.as_str(), group);
    assert_eq!(listed[0].assignee, Assignee::Group("Eng".into()));
    assert_eq!(listed[0].permission, Some(Permission::User));
    // Federation: the group's member is now a user of the workspace.
    assert!(
        world_ws
            .scim
            .users()
            .iter()
            .any(|u| u.user_name == "ana@contoso.com"),
        "the member of an assigned group is in the workspace"
    );

    assignments
        .assign(&group, Permission::Admin, &s.requests)
        .await
        .unwrap();
    let listed = assignments.list(&s.requests).await.unwrap();
    assert_eq!(listed[0].permission, Some(Permission::Admin));

    assignments.unassign(&group, &s.requests).await.unwrap();
    assert_eq!(assignments.list(&s.requests).await.unwrap(), []);
    // Taking back what is not there is done, not an error.
    assignments.unassign(&group, &s.requests).await.unwrap();

    let log = s.account.faults().log();
    let root =
        format!("/api/2.0/accounts/{ACCOUNT_ID}/workspaces/{FEDERATED}/permissionassignments");
    let puts: Vec<_> = log.iter().filter(|r| r.method == Method::PUT).collect();
    assert_eq!(puts.len(), 2);
    for put in puts {
        assert_eq!(put.path, format!("{root}/principals/{group}"));
    }
    assert!(
        log.iter()
            .filter(|r| r.method == Method::GET)
            .all(|r| r.path == root)
    );
}

#[tokio::test]
async fn a_workspace_without_identity_federation_is_refused_in_words() {
    let s = setup("sync-app").await;
    s.account.add_unfederated_workspace(LEGACY);
    let ana = s.account.add_user("ana@contoso.com", "Ana");
    let assignments = s.scim.assignments(LEGACY).expect("an account client");
    let error = assignments
        .assign(&ana, Permission::User, &s.requests)
        .await
        .unwrap_err()
        .to_string();
    for needle in [
        format!("assigning {ana} to workspace {LEGACY} as USER"),
        "HTTP 400".to_owned(),
        "Permission assignment APIs are not available for this workspace".to_owned(),
    ] {
        assert!(error.contains(&needle), "{needle:?} not in {error}");
    }
}

#[tokio::test]
async fn a_workspace_client_has_no_assignments() {
    let s = super::setup().await;
    assert!(s.scim.assignments(FEDERATED).is_none());
    // The principal path is the same at both levels.
    let _ = s.scim.principals(PrincipalKind::User);
}
