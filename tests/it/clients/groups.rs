//! Workspace groups: find by exact name, create (and adopt on 409), members in batches, entitlements.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::Method;
use entra_databricks_sync::databricks::{MAX_MEMBERS_PER_PATCH, ScimId};

use super::{names, setup, statuses};

#[tokio::test]
async fn a_created_group_is_found_by_its_exact_name_in_any_case_and_not_by_part_of_it() {
    let s = setup().await;
    let entitlements = names(&["workspace-access"]);
    let created = s
        .scim
        .create_group("Data Engineers", &entitlements, &s.requests)
        .await
        .unwrap();
    assert_eq!(created.display_name, "Data Engineers");
    assert_eq!(created.entitlements, entitlements);
    assert!(created.members.is_empty());

    let found = s.scim.find_group("data engineers", &s.requests).await;
    assert_eq!(found.unwrap(), Some(created));
    let partial = s.scim.find_group("Data", &s.requests).await.unwrap();
    assert_eq!(partial, None);
}

#[tokio::test]
async fn a_group_name_with_quotes_and_backslashes_is_found() {
    let s = setup().await;
    let name = r#"Team "Q" \ ops"#;
    let created = s.scim.create_group(name, &[], &s.requests).await.unwrap();
    let found = s.scim.find_group(name, &s.requests).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.display_name),
        (created.id, name.to_owned())
    );
}

#[tokio::test]
async fn creating_a_group_that_exists_returns_the_existing_group_with_its_members() {
    let s = setup().await;
    let id = s.ws.scim.add_group("Analysts");
    let ana = s.ws.scim.add_user("ana@contoso.com", "Ana", true);
    s.ws.scim.add_member(&id, &ana);

    let group = s
        .scim
        .create_group("analysts", &names(&["workspace-access"]), &s.requests)
        .await
        .unwrap();
    assert_eq!(group.id, id);
    assert_eq!(group.display_name, "Analysts");
    assert_eq!(group.members, [ana]);
    // Returned as it is: adding the entitlements is the caller's decision.
    assert!(group.entitlements.is_empty());
    assert_eq!(statuses(&s.ws, &Method::POST, "/Groups"), [409]);
}

#[tokio::test]
async fn a_group_that_exists_but_is_not_listed_yet_is_an_error_not_a_second_group() {
    let s = setup().await;
    s.ws.scim.set_visibility_delay(Duration::from_secs(600));
    s.scim
        .create_group("Fresh", &[], &s.requests)
        .await
        .unwrap();
    let error = s
        .scim
        .create_group("Fresh", &[], &s.requests)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not list it yet"), "{error}");
    assert_eq!(s.ws.scim.groups().len(), 2, "admins and Fresh");
}

#[tokio::test]
async fn adding_120_members_takes_three_patches_of_at_most_50() {
    let s = setup().await;
    let group = s.scim.create_group("Big", &[], &s.requests).await.unwrap();
    let ids: Vec<String> = (0..120)
        .map(|i| {
            s.ws.scim
                .add_user(&format!("user{i}@contoso.com"), &format!("User {i}"), true)
        })
        .collect();
    let mut with_repeats: Vec<ScimId> = ids.iter().map(|id| ScimId::from(id.as_str())).collect();
    with_repeats.extend(ids[..5].iter().map(|id| ScimId::from(id.as_str())));

    s.scim
        .add_members(&group.id, &with_repeats, &s.requests)
        .await
        .unwrap();
    assert_eq!(MAX_MEMBERS_PER_PATCH, 50);
    assert_eq!(s.ws.scim.faults().count(&Method::PATCH, "/Groups"), 3);
    let found = s
        .scim
        .find_group("Big", &s.requests)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.members, ids);

    s.scim
        .add_members(&group.id, &[], &s.requests)
        .await
        .unwrap();
    assert_eq!(s.ws.scim.faults().count(&Method::PATCH, "/Groups"), 3);
}

#[tokio::test]
async fn a_removed_member_leaves_the_group_whether_patch_answers_200_or_204() {
    let s = setup().await;
    let group = s.ws.scim.add_group("Team");
    let ids: Vec<String> = ["ana", "bo", "cy"]
        .iter()
        .map(|n| s.ws.scim.add_user(&format!("{n}@contoso.com"), n, true))
        .collect();
    for id in &ids {
        s.ws.scim.add_member(&group, id);
    }

    s.scim
        .remove_member(&group, &ids[0], &s.requests)
        .await
        .unwrap();
    s.ws.scim.set_patch_answers_204(true);
    s.scim
        .remove_member(&group, &ids[2], &s.requests)
        .await
        .unwrap();
    // Removing a member that is gone already is not an error.
    s.scim
        .remove_member(&group, &ids[2], &s.requests)
        .await
        .unwrap();

    let found = s
        .scim
        .find_group("Team", &s.requests)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.members, [ids[1].clone()]);
    assert_eq!(statuses(&s.ws, &Method::PATCH, "/Groups"), [200, 204, 204]);
}

#[tokio::test]
async fn entitlements_are_added_to_a_group_and_kept() {
    let s = setup().await;
    let group = s
        .scim
        .create_group("Sql", &names(&["workspace-access"]), &s.requests)
        .await
        .unwrap();
    let more = names(&["databricks-sql-access", "workspace-access"]);
    s.scim
        .add_entitlements(&group.id, &more, &s.requests)
        .await
        .unwrap();
    s.scim
        .add_entitlements(&group.id, &[], &s.requests)
        .await
        .unwrap();

    let found = s
        .scim
        .find_group("Sql", &s.requests)
        .await
        .unwrap()
        .unwrap();
    let entitlements: BTreeSet<String> = found.entitlements.into_iter().collect();
    assert_eq!(
        entitlements,
        BTreeSet::from(["databricks-sql-access".into(), "workspace-access".into()])
    );
    assert_eq!(s.ws.scim.faults().count(&Method::PATCH, "/Groups"), 1);
}
