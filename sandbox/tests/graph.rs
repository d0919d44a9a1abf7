//! The Microsoft Graph emulator over real HTTP: authentication, group lookup, members (direct and
//! transitive, cast and uncast), `$select`, paging and `$count`.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use sandbox::faults::Fault;
use sandbox::graph::{NewUser, Tenant};
use sandbox::identity::{self, GRAPH_RESOURCE, IdentityEndpoint};
use serde_json::Value;

struct Graph {
    tenant: Tenant,
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Graph {
    async fn start() -> Graph {
        let tenant = Tenant::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let router = tenant.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let token = identity::mint_token(GRAPH_RESOURCE, "system", Duration::from_secs(3600));
        Graph {
            tenant,
            base,
            token,
            client: reqwest::Client::new(),
        }
    }

    /// GETs `url` (absolute, or a path under the base) with the token and optional ConsistencyLevel.
    async fn get_with(
        &self,
        url: &str,
        token: Option<&str>,
        eventual: bool,
    ) -> (StatusCode, Value) {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        let mut request = self.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if eventual {
            request = request.header("ConsistencyLevel", "eventual");
        }
        let response = request.send().await.expect("request");
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn get(&self, url: &str) -> (StatusCode, Value) {
        self.get_with(url, Some(&self.token), false).await
    }

    /// Follows `@odata.nextLink` as given; returns every page.
    async fn pages(&self, first: &str, eventual: bool) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(url) = next {
            let (status, page) = self.get_with(&url, Some(&self.token), eventual).await;
            assert_eq!(status, StatusCode::OK, "{url}: {page}");
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(page);
        }
        pages
    }
}

fn field(items: &Value, name: &str) -> BTreeSet<String> {
    items
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item[name].as_str().unwrap_or("").to_owned())
        .collect()
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[tokio::test]
async fn bearer_tokens_are_checked() {
    let graph = Graph::start().await;
    let (status, body) = graph.get_with("/v1.0/groups", None, false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["innerError"]["request-id"].is_string());

    let vault = identity::mint_token(
        identity::KEY_VAULT_RESOURCE,
        "system",
        Duration::from_secs(60),
    );
    assert_eq!(
        graph.get_with("/v1.0/groups", Some(&vault), false).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        graph
            .get_with("/v1.0/groups", Some("ey.fake.jwt"), false)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // A token from the identity endpoint, for the resource as the SDK derives it from the `/.default` scope.
    let endpoint = IdentityEndpoint::new("h");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let identity_base = format!("http://{}", listener.local_addr().expect("address"));
    let router = endpoint.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let issued: Value = graph
        .client
        .get(format!(
            "{identity_base}/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com/"
        ))
        .header("x-identity-header", "h")
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = issued["access_token"].as_str().expect("token");
    assert_eq!(
        graph.get_with("/v1.0/groups", Some(token), false).await.0,
        StatusCode::OK
    );

    graph.tenant.deny("system");
    let (status, body) = graph.get_with("/v1.0/groups", Some(token), false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
}

#[tokio::test]
async fn groups_by_display_name_and_by_id() {
    let graph = Graph::start().await;
    let unique = graph.tenant.add_group("Databricks-Group-Test");
    let dup_a = graph.tenant.add_group("Dup");
    let dup_b = graph.tenant.add_group("Dup");
    let quoted = graph.tenant.add_group("O'Brien's team");

    let query = |name: &str| {
        format!(
            "/v1.0/groups?$filter=displayName eq '{}'&$select=id,displayName",
            name.replace('\'', "''")
        )
    };
    let (status, body) = graph.get(&query("Databricks-Group-Test")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().expect("value").len(), 1);
    assert_eq!(
        body["value"][0],
        serde_json::json!({"id": unique, "displayName": "Databricks-Group-Test"})
    );
    assert!(
        body["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/v1.0/$metadata#groups(id,displayName)")
    );
    assert_eq!(
        field(
            &graph.get(&query("databricks-group-test")).await.1["value"],
            "id"
        ),
        set(&[&unique])
    );
    assert_eq!(
        field(&graph.get(&query("Dup")).await.1["value"], "id"),
        set(&[&dup_a, &dup_b])
    );
    assert_eq!(
        graph.get(&query("Nobody")).await.1["value"],
        serde_json::json!([])
    );
    assert_eq!(
        field(&graph.get(&query("O'Brien's team")).await.1["value"], "id"),
        set(&[&quoted])
    );

    // Form-encoded `$` (%24) and spaces (+), as url/reqwest produce them: keys and values are decoded.
    let params = [("$filter", "displayName eq 'Dup'"), ("$select", "id")];
    let url =
        url::Url::parse_with_params(&format!("{}/v1.0/groups", graph.base), params).expect("url");
    assert!(
        url.as_str().contains("%24filter=displayName+eq+%27Dup%27"),
        "{url}"
    );
    let (status, body) = graph.get(url.as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().map(Vec::len), Some(2));

    let (status, body) = graph
        .get("/v1.0/groups?$filter=displayName eq 'O'Brien's team'")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Invalid filter clause")
    );
    let (status, body) = graph.get("/v1.0/groups?$filter=colour eq 'red'").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");

    let (status, body) = graph
        .get(&format!(
            "/v1.0/groups/{unique}?$select=id,displayName,securityEnabled"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["displayName"], "Databricks-Group-Test");
    assert_eq!(body["securityEnabled"], true);
    assert!(body.get("mailNickname").is_none());
    let (status, body) = graph
        .get("/v1.0/groups/6d1b6a43-0000-4000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    let (status, body) = graph.get("/v1.0/groups/Databricks-Group-Test").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
}

#[tokio::test]
async fn transitive_members_flatten_nesting_and_survive_cycles() {
    let graph = Graph::start().await;
    let t = &graph.tenant;
    let (top, middle, bottom) = (
        t.add_group("top"),
        t.add_group("middle"),
        t.add_group("bottom"),
    );
    let alice = t.add_user(NewUser::member("alice@contoso.com", "Alice"));
    let bob = t.add_user(NewUser::member("bob@contoso.com", "Bob"));
    let carol = t.add_user(NewUser::guest("carol@fabrikam.com", "Carol"));
    let robot = t.add_service_principal("app-1", "Robot", true);
    t.add_member(&top, &alice);
    t.add_member(&top, &middle);
    t.add_member(&middle, &bob);
    t.add_member(&middle, &bottom);
    t.add_member(&bottom, &carol);
    t.add_member(&bottom, &alice);
    t.add_member(&bottom, &robot);
    t.add_member(&bottom, &top); // cycle

    let users =
        |relation: &str| format!("/v1.0/groups/{top}/{relation}/microsoft.graph.user?$select=id");
    let (status, direct) = graph.get(&users("members")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&direct["value"], "id"), set(&[&alice]));
    let (_, transitive) = graph.get(&users("transitiveMembers")).await;
    assert_eq!(
        transitive["value"].as_array().map(Vec::len),
        Some(3),
        "each user once: {transitive}"
    );
    assert_eq!(
        field(&transitive["value"], "id"),
        set(&[&alice, &bob, &carol])
    );
    assert!(transitive["value"][0].get("@odata.type").is_none());
    assert!(
        transitive["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("#users(id)")
    );

    let sps = format!(
        "/v1.0/groups/{top}/transitiveMembers/microsoft.graph.servicePrincipal?$select=id,appId,displayName,accountEnabled"
    );
    let (_, body) = graph.get(&sps).await;
    assert_eq!(
        body["value"],
        serde_json::json!([{"id": robot, "appId": "app-1", "displayName": "Robot", "accountEnabled": true}])
    );

    let (_, everything) = graph
        .get(&format!("/v1.0/groups/{top}/transitiveMembers?$select=id"))
        .await;
    let kinds: BTreeSet<(String, String)> = everything["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|item| {
            (
                item["id"].as_str().unwrap_or("").to_owned(),
                item["@odata.type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        (&alice, "user"),
        (&bob, "user"),
        (&carol, "user"),
        (&middle, "group"),
        (&bottom, "group"),
        (&robot, "servicePrincipal"),
    ];
    let expected: BTreeSet<(String, String)> = expected
        .iter()
        .map(|(id, kind)| ((*id).clone(), format!("#microsoft.graph.{kind}")))
        .collect();
    assert_eq!(kinds, expected);
    let (_, direct) = graph.get(&format!("/v1.0/groups/{top}/members")).await;
    assert_eq!(field(&direct["value"], "id"), set(&[&alice, &middle]));

    t.remove_member(&middle, &bottom);
    assert_eq!(
        field(
            &graph.get(&users("transitiveMembers")).await.1["value"],
            "id"
        ),
        set(&[&alice, &bob])
    );
    let (status, body) = graph
        .get("/v1.0/groups/6d1b6a43-0000-4000-8000-000000000000/transitiveMembers")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("Request_ResourceNotFound"))
    );
}

#[tokio::test]
async fn guests_and_disabled_users_with_select() {
    let graph = Graph::start().await;
    let t = &graph.tenant;
    let group = t.add_group("g");
    let guest = t.add_user(NewUser::guest("gina@fabrikam.com", "Gina"));
    let disabled = t.add_user(NewUser {
        mail: None,
        ..NewUser::member("dan@contoso.com", "Dan")
    });
    t.set_account_enabled(&disabled, false);
    t.add_member(&group, &guest);
    t.add_member(&group, &disabled);

    let select = "id,userPrincipalName,mail,displayName,accountEnabled,userType";
    let (_, body) = graph
        .get(&format!(
            "/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user?$select={select}"
        ))
        .await;
    assert_eq!(
        body["value"],
        serde_json::json!([
            {"id": guest, "userPrincipalName": "gina_fabrikam.com#EXT#@sandbox.onmicrosoft.com", "mail": "gina@fabrikam.com",
             "displayName": "Gina", "accountEnabled": true, "userType": "Guest"},
            {"id": disabled, "userPrincipalName": "dan@contoso.com", "mail": null, "displayName": "Dan",
             "accountEnabled": false, "userType": "Member"},
        ])
    );

    // Without $select Graph's default user properties lack accountEnabled and userType.
    let (_, body) = graph
        .get(&format!(
            "/v1.0/groups/{group}/members/microsoft.graph.user"
        ))
        .await;
    let first = body["value"][0].as_object().expect("object");
    assert!(first.contains_key("userPrincipalName") && first.contains_key("id"));
    assert!(!first.contains_key("accountEnabled") && !first.contains_key("userType"));

    let (_, body) = graph
        .get(&format!(
            "/v1.0/groups/{group}/members/microsoft.graph.user?$select=displayName"
        ))
        .await;
    assert_eq!(body["value"][0], serde_json::json!({"displayName": "Gina"}));
    let (status, body) = graph
        .get(&format!(
            "/v1.0/groups/{group}/members/microsoft.graph.user?$select=id,colour"
        ))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BadRequest"))
    );
}

async fn group_of(graph: &Graph, users: usize) -> String {
    let group = graph.tenant.add_group("big");
    for n in 0..users {
        let user = graph.tenant.add_user(NewUser::member(
            &format!("u{n}@contoso.com"),
            &format!("User {n}"),
        ));
        graph.tenant.add_member(&group, &user);
    }
    group
}

#[tokio::test]
async fn pages_read_after_a_change_see_the_tenant_as_it_is_now() {
    let graph = Graph::start().await;
    let group = group_of(&graph, 10).await;
    let url = format!("/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user?$top=4");
    let (_, first) = graph.get(&url).await;
    let next = first["@odata.nextLink"]
        .as_str()
        .expect("next link")
        .to_owned();
    let late = graph
        .tenant
        .add_user(NewUser::member("late@contoso.com", "Late"));
    graph.tenant.add_member(&group, &late);
    let mut upns = field(&first["value"], "userPrincipalName");
    for page in graph.pages(&next, false).await {
        upns.extend(field(&page["value"], "userPrincipalName"));
    }
    assert_eq!(upns.len(), 11, "{upns:?}");
    assert!(upns.contains("late@contoso.com"), "{upns:?}");
    let (_, again) = graph.get(&url).await;
    assert_eq!(again["value"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn paging_follows_next_links_as_given() {
    let graph = Graph::start().await;
    let group = group_of(&graph, 25).await;
    graph.tenant.set_max_page_size(7);
    let first = format!(
        "/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$top=999"
    );
    let pages = graph.pages(&first, false).await;
    assert_eq!(
        pages
            .iter()
            .map(|p| p["value"].as_array().map_or(0, Vec::len))
            .collect::<Vec<_>>(),
        [7, 7, 7, 4]
    );
    let upns: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| field(&p["value"], "userPrincipalName"))
        .collect();
    assert_eq!(upns.len(), 25);
    let next = pages[0]["@odata.nextLink"].as_str().expect("next link");
    assert!(next.starts_with(&format!(
        "{}/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user?",
        graph.base
    )));
    assert!(
        next.contains("$select=id,userPrincipalName&$top=999&$skiptoken="),
        "{next}"
    );

    let pages = graph
        .pages(
            &format!("/v1.0/groups/{group}/members/microsoft.graph.user?$top=5"),
            false,
        )
        .await;
    assert_eq!(pages.len(), 5);

    graph.tenant.set_max_page_size(999);
    assert_eq!(
        graph
            .pages(&format!("/v1.0/groups/{group}/members"), false)
            .await
            .len(),
        1
    );
    graph.tenant.set_public_base("https://graph.microsoft.com");
    let (_, body) = graph
        .get(&format!("/v1.0/groups/{group}/members?$top=10"))
        .await;
    let next = body["@odata.nextLink"].as_str().expect("next link");
    assert!(next.starts_with(&format!(
        "https://graph.microsoft.com/v1.0/groups/{group}/members?$top=10&$skiptoken="
    )));

    // Expired and tampered skiptokens.
    let local = next.replace("https://graph.microsoft.com", &graph.base);
    let (status, _) = graph.get(&format!("{local}x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    graph.tenant.expire_page_tokens();
    let (status, body) = graph.get(&local).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Directory_ExpiredPageToken"))
    );

    for top in ["1000", "0", "ten"] {
        let (status, _) = graph
            .get(&format!("/v1.0/groups/{group}/members?$top={top}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "$top={top}");
    }
}

#[tokio::test]
async fn count_needs_consistency_level_on_every_page() {
    let graph = Graph::start().await;
    let group = group_of(&graph, 12).await;
    graph.tenant.set_max_page_size(5);
    let first = format!(
        "/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user?$select=id&$count=true"
    );

    let (status, body) = graph.get(&first).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Request_BadRequest"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("ConsistencyLevel")
    );

    let (status, page) = graph.get_with(&first, Some(&graph.token), true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["@odata.count"], 12);
    let next = page["@odata.nextLink"].as_str().expect("next").to_owned();
    assert!(next.contains("$count=true"));
    assert_eq!(
        graph.get(&next).await.0,
        StatusCode::BAD_REQUEST,
        "the header is not carried over"
    );

    let pages = graph.pages(&first, true).await;
    assert_eq!(pages.len(), 3);
    assert!(pages[1..].iter().all(|p| p.get("@odata.count").is_none()));
}

#[tokio::test]
async fn faults_middleware_is_installed() {
    let graph = Graph::start().await;
    graph
        .tenant
        .faults()
        .inject(Fault::throttled("2").on_path("/transitiveMembers"), 1);
    let group = graph.tenant.add_group("g");
    let url = format!("{}/v1.0/groups/{group}/transitiveMembers", graph.base);
    let response = graph
        .client
        .get(&url)
        .bearer_auth(&graph.token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(graph.get(&url).await.0, StatusCode::OK);
    let log = graph.tenant.faults().log();
    assert_eq!(
        log.iter()
            .map(|r| (r.status, r.authorized))
            .collect::<Vec<_>>(),
        [(429, true), (200, true)]
    );
}
