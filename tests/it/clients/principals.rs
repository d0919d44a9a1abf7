//! `/Me`, service principals through the one principal path (create, find, list, activate, delete) and
//! deleting users.

use std::collections::BTreeSet;

use axum::http::Method;
use entra_databricks_sync::databricks::{
    Created, PrincipalKind, ScimError, ScimId, ScimServicePrincipal,
};
use sandbox::faults::Fault;

use super::{Setup, setup, statuses};

#[tokio::test]
async fn me_is_the_pat_owner_and_a_user() {
    let s = setup().await;
    let me = s.scim.me(&s.requests).await.unwrap();
    assert_eq!(me.id, s.ws.scim.admin_user_id());
    assert_eq!(me.kind, PrincipalKind::User);
}

#[tokio::test]
async fn a_service_principal_is_created_once_and_found_by_its_application_id_in_any_case() {
    let s = setup().await;
    let app = "9f3c1a52-0d1e-4b7a-8c55-2e6f0b9d4a11";
    let service_principals = s.scim.principals(PrincipalKind::ServicePrincipal);
    let created = service_principals
        .create(app, "etl-runner", None, &s.requests)
        .await
        .unwrap();
    let Created::New(id) = created else {
        panic!("expected a new service principal, got {created:?}");
    };

    let again = service_principals
        .create(&app.to_uppercase(), "etl-runner", None, &s.requests)
        .await
        .unwrap();
    assert_eq!(again, Created::AlreadyExists);

    let sp = service_principals
        .find_as::<ScimServicePrincipal>(&app.to_uppercase(), &s.requests)
        .await
        .unwrap()
        .expect("found by its application id");
    assert_eq!(sp.id, id);
    assert_eq!(sp.application_id, app);
    assert_eq!(sp.display_name.as_deref(), Some("etl-runner"));
    assert!(sp.active);
    let unknown = s
        .scim
        .principals(PrincipalKind::ServicePrincipal)
        .find_as::<ScimServicePrincipal>("00000000-0000-0000-0000-000000000000", &s.requests)
        .await
        .unwrap();
    assert_eq!(unknown, None);
}

#[tokio::test]
async fn service_principals_are_listed_to_the_end_across_small_pages_with_or_without_totals() {
    let s = setup().await;
    s.ws.scim.set_max_page_size(2);
    let apps: BTreeSet<String> = (0..5)
        .map(|i| format!("00000000-0000-0000-0000-00000000000{i}"))
        .collect();
    for (i, app) in apps.iter().enumerate() {
        s.ws.scim
            .add_service_principal(app, &format!("sp {i}"), i != 3);
    }

    let listed = s.scim.list_service_principals(&s.requests).await.unwrap();
    let got: BTreeSet<String> = listed.iter().map(|sp| sp.application_id.clone()).collect();
    assert_eq!(got, apps);
    assert_eq!(listed.iter().filter(|sp| !sp.active).count(), 1);
    assert_eq!(
        s.ws.scim.faults().count(&Method::GET, "/ServicePrincipals"),
        3
    );

    s.ws.scim.set_omit_total_results(true);
    s.ws.scim.faults().clear_log();
    let listed = s.scim.list_service_principals(&s.requests).await.unwrap();
    assert_eq!(listed.len(), 5);
    // Without totalResults only an empty page ends the listing.
    assert_eq!(
        s.ws.scim.faults().count(&Method::GET, "/ServicePrincipals"),
        4
    );
}

#[tokio::test]
async fn a_service_principal_is_deactivated_and_reactivated_whether_patch_answers_200_or_204() {
    let s = setup().await;
    let app = "3b0e1f7c-5a44-4c1d-9e0e-7d2a6c3f8b90";
    let id = s.ws.scim.add_service_principal(app, "reporting", true);
    let active = |s: &Setup| s.ws.scim.service_principals()[0].active;

    for answers_204 in [false, true] {
        s.ws.scim.set_patch_answers_204(answers_204);
        s.scim
            .principals(PrincipalKind::ServicePrincipal)
            .set_active(&id, app, false, &s.requests)
            .await
            .unwrap();
        assert!(!active(&s));
        s.scim
            .principals(PrincipalKind::ServicePrincipal)
            .set_active(&id, app, true, &s.requests)
            .await
            .unwrap();
        assert!(active(&s));
    }
    assert_eq!(
        statuses(&s.ws, &Method::PATCH, "/ServicePrincipals"),
        [200, 200, 204, 204]
    );
}

#[tokio::test]
async fn deleting_a_service_principal_twice_succeeds() {
    let s = setup().await;
    let app = "5d8e2b61-7f3a-4e90-a1c4-0b9f6e2d7c35";
    let id = s.ws.scim.add_service_principal(app, "old", true);
    let group = s.ws.scim.add_group("Team");
    s.ws.scim.add_member(&group, &id);

    for _ in 0..2 {
        s.scim
            .principals(PrincipalKind::ServicePrincipal)
            .delete(&id, app, &s.requests)
            .await
            .unwrap();
    }
    assert!(s.ws.scim.service_principals().is_empty());
    assert!(s.ws.scim.groups()[1].members.is_empty());
    assert_eq!(
        statuses(&s.ws, &Method::DELETE, "/ServicePrincipals"),
        [204, 404]
    );
}

#[tokio::test]
async fn deleting_a_user_twice_succeeds() {
    let s = setup().await;
    let id = s.ws.scim.add_user("gone@contoso.com", "Gone", true);
    for _ in 0..2 {
        s.scim
            .principals(PrincipalKind::User)
            .delete(&id, "gone@contoso.com", &s.requests)
            .await
            .unwrap();
    }
    assert!(
        s.ws.scim
            .users()
            .iter()
            .all(|u| u.user_name != "gone@contoso.com")
    );
    assert_eq!(statuses(&s.ws, &Method::DELETE, "/Users"), [204, 404]);
}

#[tokio::test]
async fn a_refused_write_names_what_failed_and_never_the_token() {
    let s = setup().await;
    let group = s.ws.scim.add_group("Team");
    s.ws.scim
        .faults()
        .inject(Fault::status(400).on_method(Method::PATCH), 1);
    let error = s
        .scim
        .add_members(&group, &[ScimId::from("1")], &s.requests)
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(matches!(error, ScimError::Api(_)), "{text}");
    assert!(text.contains("adding 1 member to group"), "{text}");
    assert!(!text.contains(&s.ws.pat), "the PAT appeared in an error");
    assert_eq!(s.requests.snapshot()["databricks"], 1);
}

/// A credential that hands out the sandbox's Azure Databricks tokens, as the managed identity would.
#[derive(Debug)]
struct DatabricksToken;

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for DatabricksToken {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        assert_eq!(
            scopes,
            [entra_databricks_sync::databricks::DATABRICKS_SCOPE]
        );
        let token = sandbox::identity::mint_token(
            sandbox::identity::DATABRICKS_RESOURCE,
            sandbox::identity::SYSTEM_IDENTITY,
            std::time::Duration::from_secs(3600),
        );
        let expires =
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1);
        Ok(azure_core::credentials::AccessToken::new(token, expires))
    }
}

#[tokio::test]
async fn me_with_the_apps_own_token_is_its_service_principal() {
    let world = sandbox::world::World::start().await.unwrap();
    let ws = world.add_workspace("pat-free").await.unwrap();
    let sp_id = ws.scim.admit_identity(
        sandbox::identity::SYSTEM_IDENTITY,
        "11111111-2222-3333-4444-555555555555",
    );
    let scim = entra_databricks_sync::databricks::Scim::new(
        super::client(&world),
        &entra_databricks_sync::config::WorkspaceUrl::parse(&ws.url).unwrap(),
        entra_databricks_sync::databricks::Bearer::Entra(std::sync::Arc::new(DatabricksToken)),
        1000.0,
    );
    let me = scim
        .me(&entra_databricks_sync::http::Requests::default())
        .await
        .unwrap();
    assert_eq!(
        (me.id.as_str(), me.kind),
        (sp_id.as_str(), PrincipalKind::ServicePrincipal)
    );
}
