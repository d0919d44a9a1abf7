//! Graph: service principal members of a group, transitive or direct, read across pages.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use entra_databricks_sync::entra::{Graph, Group, ServicePrincipalMember};
use entra_databricks_sync::http::Requests;
use sandbox::graph::NewUser;
use sandbox::identity::{GRAPH_RESOURCE, SYSTEM_IDENTITY, mint_token};
use sandbox::world::World;
use url::Url;

use super::client;

/// A credential that hands out the sandbox's Graph tokens, as the managed identity would.
#[derive(Debug)]
struct GraphToken;

#[async_trait::async_trait]
impl TokenCredential for GraphToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let token = mint_token(GRAPH_RESOURCE, SYSTEM_IDENTITY, Duration::from_secs(3600));
        let expires =
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1);
        Ok(AccessToken::new(token, expires))
    }
}

#[tokio::test]
async fn graph_lists_service_principal_members_transitively_or_directly_across_pages() {
    let world = World::start().await.unwrap();
    let t = &world.tenant;
    t.set_max_page_size(2);
    let group = t.add_group("Databricks-Automation");
    let nested = t.add_group("Pipelines");
    let direct_apps = ["app-a", "app-b", "app-c"];
    for app in direct_apps {
        let sp = t.add_service_principal(app, &format!("{app} name"), app != "app-b");
        t.add_member(&group, &sp);
    }
    for app in ["app-d", "app-e"] {
        let sp = t.add_service_principal(app, app, true);
        t.add_member(&nested, &sp);
    }
    let user = t.add_user(NewUser::member("ana@contoso.com", "Ana"));
    t.add_member(&group, &user);
    t.add_member(&group, &nested);

    let graph = Graph::new(
        client(&world),
        &Url::parse("https://graph.microsoft.com").unwrap(),
        Arc::new(GraphToken),
    );
    let group = Group {
        id: group,
        display_name: "Databricks-Automation".to_owned(),
    };
    let requests = Requests::default();
    let apps = |members: &[ServicePrincipalMember]| {
        members
            .iter()
            .map(|m| m.app_id.clone().unwrap())
            .collect::<BTreeSet<_>>()
    };

    let transitive = graph
        .service_principal_members(&group, true, &requests)
        .await
        .unwrap()
        .items;
    assert_eq!(
        apps(&transitive),
        BTreeSet::from(["app-a", "app-b", "app-c", "app-d", "app-e"].map(String::from))
    );
    let b = transitive
        .iter()
        .find(|m| m.app_id.as_deref() == Some("app-b"))
        .unwrap();
    assert_eq!(b.display_name.as_deref(), Some("app-b name"));
    assert_eq!(b.account_enabled, Some(false));

    let direct = graph
        .service_principal_members(&group, false, &requests)
        .await
        .unwrap()
        .items;
    assert_eq!(apps(&direct), BTreeSet::from(direct_apps.map(String::from)));

    let listings = |relation: &str| {
        t.faults()
            .log()
            .iter()
            .filter(|r| {
                r.path
                    .ends_with(&format!("/{relation}/microsoft.graph.servicePrincipal"))
            })
            .count()
    };
    // Five on pages of two, then three on pages of two.
    assert_eq!((listings("transitiveMembers"), listings("members")), (3, 2));

    let people = entra_databricks_sync::entra::People::default();
    let users = graph
        .user_members(&group, true, &requests, &people)
        .await
        .unwrap()
        .items;
    let upns: Vec<_> = users.iter().map(|u| u.user_principal_name()).collect();
    assert_eq!(upns, [Some("ana@contoso.com")]);
}
