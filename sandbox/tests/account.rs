//! The Databricks account emulator (identity federation), driven over real HTTP: account SCIM, workspace
//! permission assignments, and what they federate into a workspace SCIM emulator; and the account
//! served by `sandbox::world` at accounts.azuredatabricks.net through the proxy.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sandbox::account::{Account, RateLimits};
use sandbox::identity::{DATABRICKS_RESOURCE, mint_token};
use sandbox::scim::{SCIM_ROOT, ScimWorkspace};
use sandbox::world::World;
use serde_json::{Value, json};

const ACCOUNT_ID: &str = "0d1f5d2e-7c3a-4b8e-9f11-2a6c0e4b7d90";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const WORKSPACE_ID: u64 = 6_234_138_917_436_196;
const PAT: &str = "dapi-account-test";

struct Setup {
    account: Account,
    /// `http://127.0.0.1:<port>`
    origin: String,
    token: String,
    http: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    origin
}

async fn spawn() -> Setup {
    let account = Account::new(ACCOUNT_ID);
    account.admit_identity("system");
    let origin = serve(account.router()).await;
    Setup {
        account,
        origin,
        token: mint_token(DATABRICKS_RESOURCE, "system", Duration::from_secs(3600)),
        http: reqwest::Client::new(),
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Answer {
        status,
        headers,
        body,
    }
}

impl Setup {
    /// A request to `path` under `/api/2.0/accounts/<account id>`.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}/api/2.0/accounts/{ACCOUNT_ID}{path}", self.origin);
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, &format!("/scim/v2{path}"), None)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, &format!("/scim/v2{path}"), Some(body))
            .await
    }

    async fn patch(&self, path: &str, operations: Value) -> Answer {
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": operations });
        self.call(Method::PATCH, &format!("/scim/v2{path}"), Some(body))
            .await
    }

    /// A PATCH that must answer 200; the resource it answers.
    async fn patch_ok(&self, path: &str, operations: Value) -> Value {
        let answer = self.patch(path, operations).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    async fn assign(&self, principal: &str, body: Value) -> Answer {
        let path =
            format!("/workspaces/{WORKSPACE_ID}/permissionassignments/principals/{principal}");
        self.call(Method::PUT, &path, Some(body)).await
    }

    async fn assignments(&self) -> Answer {
        let path = format!("/workspaces/{WORKSPACE_ID}/permissionassignments");
        self.call(Method::GET, &path, None).await
    }
}

fn replace(path: &str, value: Value) -> Value {
    json!([{ "op": "replace", "path": path, "value": value }])
}

/// Terraform's member addition, one operation per id.
fn add_members(ids: &[&str]) -> Value {
    ids.iter()
        .map(|id| json!({ "op": "add", "path": "members", "value": [{ "value": id }] }))
        .collect()
}

fn resources(list: &Value) -> Vec<Value> {
    list.get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn strings(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect()
}

fn assert_scim_error(answer: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    assert_eq!(answer.body["schemas"], json!([ERROR_SCHEMA]));
    assert_eq!(answer.body["status"], json!(status.to_string()));
    assert_eq!(
        answer.body["scimType"].as_str(),
        scim_type,
        "{}",
        answer.body
    );
}

fn assert_rest_error(answer: &Answer, status: u16, code: &str, message: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    assert_eq!(answer.body["error_code"], json!(code), "{}", answer.body);
    let text = answer.body["message"].as_str().unwrap();
    assert!(text.contains(message), "{text}");
}

// --- account SCIM -------------------------------------------------------------------------------------

#[tokio::test]
async fn lists_are_paged_by_start_index_and_at_most_100_a_page() {
    let s = spawn().await;
    for i in 0..230 {
        s.account.add_user(&format!("user{i:03}@contoso.com"), "");
    }
    for query in ["", "?count=10000", "?count=101"] {
        let page = s.get(&format!("/Users{query}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body["itemsPerPage"], json!(100), "{query}");
        assert_eq!(page.body["totalResults"], json!(230));
    }
    // As the Go SDK pages: startIndex = startIndex + len(Resources), until an empty page.
    let mut start = 1;
    let mut seen = Vec::new();
    loop {
        let page = s.get(&format!("/Users?startIndex={start}&count=100")).await;
        assert_eq!(
            page.body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
        assert_eq!(page.body["startIndex"], json!(start));
        let items = resources(&page.body);
        if items.is_empty() {
            break;
        }
        start += items.len();
        seen.extend(strings(&items, "userName"));
    }
    assert_eq!(seen.len(), 230);
    assert_eq!(seen[0], "user000@contoso.com");
    assert_eq!(seen[229], "user229@contoso.com");
    let last = s.get("/Users?startIndex=201&count=50").await;
    assert_eq!(resources(&last.body).len(), 30);
}

#[tokio::test]
async fn filters_select_by_user_name_application_id_and_display_name_with_projection() {
    let s = spawn().await;
    s.account.add_user("ada@contoso.com", "Ada");
    s.account.add_user("bo@contoso.com", "Bo");
    let app = "5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f";
    s.account.add_service_principal(app, "sync");
    s.account
        .add_service_principal("6a1d5b8f-2e3c-4d4e-9f0a-1b2c3d4e5f60", "other");
    s.account.add_group("Data Engineers", &[]);
    s.account.add_group("Analysts", &[]);

    let users = s
        .get("/Users?filter=userName%20eq%20%22ADA%40contoso.com%22")
        .await;
    assert_eq!(
        strings(&resources(&users.body), "userName"),
        ["ada@contoso.com"]
    );
    let sps = s
        .get(&format!(
            "/ServicePrincipals?filter=applicationId eq \"{app}\""
        ))
        .await;
    let sps = resources(&sps.body);
    assert_eq!(strings(&sps, "displayName"), ["sync"]);
    assert_eq!(sps[0]["active"], json!(true));
    let groups = s
        .get("/Groups?filter=displayName eq \"Data Engineers\"")
        .await;
    let groups = resources(&groups.body);
    assert_eq!(strings(&groups, "displayName"), ["Data Engineers"]);
    assert_eq!(groups[0]["meta"], json!({ "resourceType": "Group" }));

    // Projection: id always comes back; excluded attributes do not.
    let projected = s
        .get("/Users?attributes=id,userName&filter=userName eq \"bo@contoso.com\"")
        .await;
    let bo = &resources(&projected.body)[0];
    let mut keys: Vec<&String> = bo.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let excluded = s.get("/Users?excludedAttributes=emails,active").await;
    assert!(
        resources(&excluded.body)
            .iter()
            .all(|u| u.get("emails").is_none() && u.get("active").is_none())
    );
    // A filter in a form the service does not take.
    let bad = s.get("/Users?filter=userName eq 'ada@contoso.com'").await;
    assert_scim_error(&bad, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn duplicates_answer_409_with_the_details_terraform_matches() {
    let s = spawn().await;
    let user = json!({ "userName": "Ada@Contoso.com", "displayName": "Ada", "active": true,
        "externalId": "9d2e5f7a-0000-4c1e-8a4b-6f3e2d1c0b9a" });
    let created = s.post("/Users", user.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["externalId"], user["externalId"]);
    assert_eq!(created.body["userName"], json!("ada@contoso.com"));
    let again = s
        .post("/Users", json!({ "userName": "ADA@contoso.com" }))
        .await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    assert_eq!(
        again.body["detail"],
        json!("User with email ada@contoso.com already exists in this account")
    );

    let app = "5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f";
    let sp = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"],
        "applicationId": app, "displayName": "sync", "active": true });
    assert_eq!(
        s.post("/ServicePrincipals", sp.clone()).await.status,
        StatusCode::CREATED
    );
    let again = s.post("/ServicePrincipals", sp).await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    assert_eq!(
        again.body["detail"],
        json!(format!(
            "Service principal with application ID {app} already exists."
        ))
    );

    let group = json!({ "displayName": "Analysts", "externalId": "g-1" });
    assert_eq!(
        s.post("/Groups", group.clone()).await.status,
        StatusCode::CREATED
    );
    let again = s.post("/Groups", group).await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    assert_eq!(
        again.body["detail"],
        json!("Group with name Analysts already exists.")
    );

    // externalId: at most 64 characters.
    let long = s
        .post(
            "/Users",
            json!({ "userName": "x@contoso.com", "externalId": "e".repeat(65) }),
        )
        .await;
    assert_scim_error(&long, 400, Some("invalidValue"));
}

#[tokio::test]
async fn a_group_list_has_no_members_and_a_group_get_has_them_with_refs() {
    let s = spawn().await;
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let sp = s
        .account
        .add_service_principal("5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f", "sync");
    let inner = s.account.add_group("inner", &[]);
    let outer = s.account.add_group("outer", &[&ada, &sp, &inner]);

    for query in ["", "?attributes=id,displayName,members"] {
        let list = s.get(&format!("/Groups{query}")).await;
        assert!(
            resources(&list.body)
                .iter()
                .all(|g| g.get("members").is_none()),
            "{}",
            list.body
        );
    }
    let one = s.get(&format!("/Groups/{outer}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(
        one.body["members"],
        json!([
            { "$ref": format!("Users/{ada}"), "value": ada, "display": "Ada" },
            { "$ref": format!("ServicePrincipals/{sp}"), "value": sp, "display": "sync" },
            { "$ref": format!("Groups/{inner}"), "value": inner, "display": "inner" },
        ])
    );
    let members_only = s.get(&format!("/Groups/{outer}?attributes=members")).await;
    assert_eq!(members_only.body["members"].as_array().unwrap().len(), 3);
    assert_eq!(
        s.get("/Groups/1234567890123456").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_user_patch_takes_the_forms_databricks_clients_send_and_refuses_a_bare_boolean() {
    let s = spawn().await;
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let user = format!("/Users/{ada}");
    // Deactivate as Terraform does, reactivate as the Python SDK example does.
    let off = s
        .patch_ok(&user, replace("active", json!([{ "value": "false" }])))
        .await;
    assert_eq!(off["active"], json!(false));
    let on = s.patch_ok(&user, replace("active", json!("true"))).await;
    assert_eq!(on["active"], json!(true));
    let bare = s.patch(&user, replace("active", json!(false))).await;
    assert_scim_error(&bare, 400, Some("invalidValue"));

    // Roles add / remove (Terraform's user role).
    let role = json!([{ "op": "add", "path": "roles", "value": [{ "value": "account_admin" }] }]);
    let admin = s.patch_ok(&user, role).await;
    assert_eq!(admin["roles"], json!([{ "value": "account_admin" }]));
    let unrole = json!([{ "op": "remove", "path": "roles[value eq \"account_admin\"]" }]);
    assert!(s.patch_ok(&user, unrole).await.get("roles").is_none());
    // userName cannot change: the change is ignored.
    let renamed = s
        .patch_ok(&user, replace("userName", json!("x@contoso.com")))
        .await;
    assert_eq!(renamed["userName"], json!("ada@contoso.com"));
    let unsupported = s.patch(&user, replace("owner", json!("x"))).await;
    assert_scim_error(&unsupported, 400, Some("invalidPath"));
    // No PatchOp schema.
    let body = json!({ "Operations": [] });
    let no_schema = s
        .call(Method::PATCH, &format!("/scim/v2{user}"), Some(body))
        .await;
    assert_scim_error(&no_schema, 400, Some("invalidSyntax"));
    // PUT is not emulated.
    let put = s
        .call(Method::PUT, &format!("/scim/v2{user}"), Some(json!({})))
        .await;
    assert_scim_error(&put, 405, None);
}

#[tokio::test]
async fn group_members_are_patched_as_terraform_and_the_knowledge_base_do_all_or_nothing() {
    let s = spawn().await;
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let bo = s.account.add_user("bo@contoso.com", "Bo");
    let group = s.account.add_group("g", &[]);
    let path = format!("/Groups/{group}");

    s.patch_ok(&path, add_members(&[&ada])).await;
    let kb = json!([{ "op": "add", "value": { "members": [{ "value": bo }] } }]);
    s.patch_ok(&path, kb).await;
    assert_eq!(s.account.members(&group), [ada.as_str(), bo.as_str()]);
    let remove = json!([{ "op": "remove", "path": format!("members[value eq \"{ada}\"]") }]);
    s.patch_ok(&path, remove).await;
    assert_eq!(s.account.members(&group), [bo.as_str()]);

    // Refused: a bare id as value; an unknown member (nothing changes); the group in itself.
    let bare_id = json!([{ "op": "add", "path": "members", "value": ada }]);
    assert_scim_error(&s.patch(&path, bare_id).await, 400, Some("invalidSyntax"));
    let unknown = add_members(&[&ada, "1111111111111111"]);
    assert_scim_error(&s.patch(&path, unknown).await, 400, Some("invalidValue"));
    assert_eq!(s.account.members(&group), [bo.as_str()]);
    let cycle = add_members(&[&group]);
    assert_scim_error(&s.patch(&path, cycle).await, 400, Some("invalidValue"));

    // Switched to the SDKs' form: 204 without a body, the change made all the same.
    s.account.set_patch_answers_204(true);
    let quiet = s.patch(&path, add_members(&[&ada])).await;
    assert_eq!(
        (quiet.status, quiet.body),
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(s.account.members(&group), [bo.as_str(), ada.as_str()]);
}

#[tokio::test]
async fn another_account_is_404_and_only_account_admins_get_in() {
    let s = spawn().await;
    let url = format!("{}/api/2.0/accounts/another/scim/v2/Users", s.origin);
    let other = answer(s.http.get(&url).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_scim_error(&other, 404, None);
    let own = format!("{}{}/Users", s.origin, s.account.scim_root());
    let none = answer(s.http.get(&own).send().await.unwrap()).await;
    assert_scim_error(&none, 401, None);
    let stranger = mint_token(
        DATABRICKS_RESOURCE,
        "c0ffee00-0000-4000-8000-000000000000",
        Duration::from_secs(60),
    );
    let denied = answer(s.http.get(&own).bearer_auth(stranger).send().await.unwrap()).await;
    assert_scim_error(&denied, 403, None);
    let nothing = s.call(Method::GET, "/nothing", None).await;
    assert_rest_error(&nothing, 404, "ENDPOINT_NOT_FOUND", "/nothing");
}

#[tokio::test]
async fn rate_limits_are_off_by_default_and_answer_429_with_retry_after_when_on() {
    let s = spawn().await;
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let operations = json!([{ "op": "replace", "path": "displayName", "value": "A" }]);
    for _ in 0..10 {
        assert_eq!(
            s.patch(&format!("/Users/{ada}"), operations.clone())
                .await
                .status,
            StatusCode::OK
        );
    }
    assert_eq!(s.account.throttled(), 0);
    // The indicative numbers, with PATCH slowed to one per 10 s so that timing cannot matter.
    let limits = RateLimits {
        patch: 0.1,
        ..RateLimits::INDICATIVE
    };
    assert_eq!(
        (
            RateLimits::INDICATIVE.get,
            RateLimits::INDICATIVE.list * 60.0
        ),
        (20.0, 240.0)
    );
    s.account.set_rate_limits(Some(limits));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let answer = s.patch(&format!("/Users/{ada}"), operations.clone()).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert_scim_error(&answer, 429, None);
            let after: u64 = answer.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=10).contains(&after), "{after}");
        }
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(statuses, [200, 429, 429], "a burst of one");
    assert_eq!(s.account.throttled(), 2);
    assert_eq!(
        s.get(&format!("/Users/{ada}")).await.status,
        StatusCode::OK,
        "GET has its own bucket"
    );
}

// --- permission assignments ---------------------------------------------------------------------------

#[tokio::test]
async fn permission_assignments_are_put_and_listed_with_their_principals() {
    let s = spawn().await;
    s.account
        .add_workspace(WORKSPACE_ID, &ScimWorkspace::new(PAT));
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let app = "5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f";
    let sp = s.account.add_service_principal(app, "sync");
    let group = s.account.add_group("Analysts", &[]);

    let put = s.assign(&ada, json!({ "permissions": ["USER"] })).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let principal = json!({ "principal_id": ada.parse::<i64>().unwrap(), "display_name": "Ada",
        "user_name": "ada@contoso.com" });
    assert_eq!(
        put.body,
        json!({ "principal": principal, "permissions": ["USER"] })
    );
    let both = s
        .assign(&sp, json!({ "permissions": ["USER", "ADMIN"] }))
        .await;
    assert_eq!(both.body["permissions"], json!(["ADMIN"]), "ADMIN wins");
    s.assign(&group, json!({ "permissions": ["USER"] })).await;

    let list = s.assignments().await;
    let items = list.body["permission_assignments"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let by_id: HashMap<String, &Value> = items
        .iter()
        .map(|a| {
            (
                a["principal"]["principal_id"].as_i64().unwrap().to_string(),
                a,
            )
        })
        .collect();
    assert_eq!(
        by_id[&sp]["principal"]["service_principal_name"],
        json!(app)
    );
    assert_eq!(by_id[&sp]["permissions"], json!(["ADMIN"]));
    assert_eq!(by_id[&group]["principal"]["group_name"], json!("Analysts"));
    let path = format!("/workspaces/{WORKSPACE_ID}/permissionassignments/permissions");
    let levels = s.call(Method::GET, &path, None).await.body["permissions"].clone();
    let levels = strings(levels.as_array().unwrap(), "permission_level");
    assert_eq!(levels, ["USER", "ADMIN"]);
}

#[tokio::test]
async fn an_empty_missing_or_unsupported_permission_list_deletes_the_assignment_as_delete_does() {
    let s = spawn().await;
    s.account
        .add_workspace(WORKSPACE_ID, &ScimWorkspace::new(PAT));
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let sp = s
        .account
        .add_service_principal("5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f", "sync");
    let group = s.account.add_group("Analysts", &[]);
    for id in [&ada, &sp, &group] {
        s.assign(id, json!({ "permissions": ["USER"] })).await;
    }
    let emptied = s.assign(&ada, json!({ "permissions": [] })).await;
    assert_eq!(emptied.status, StatusCode::OK);
    assert_eq!(emptied.body["permissions"], json!([]));
    assert_eq!(s.assign(&sp, json!({})).await.status, StatusCode::OK);
    s.assign(&group, json!({ "permissions": ["user", "OWNER"] }))
        .await;
    assert_eq!(s.account.assignments(WORKSPACE_ID), []);
    assert_eq!(
        s.assignments().await.body,
        json!({ "permission_assignments": [] })
    );

    s.assign(&ada, json!({ "permissions": ["ADMIN"] })).await;
    let path = format!("/workspaces/{WORKSPACE_ID}/permissionassignments/principals/{ada}");
    let deleted = s.call(Method::DELETE, &path, None).await;
    assert_eq!((deleted.status, deleted.body), (StatusCode::OK, json!({})));
    assert_eq!(s.account.assignments(WORKSPACE_ID), []);
    let unknown = s
        .assign("1111111111111111", json!({ "permissions": ["USER"] }))
        .await;
    assert_rest_error(&unknown, 404, "RESOURCE_DOES_NOT_EXIST", "1111111111111111");
    let not_a_number = s.assign("ada", json!({ "permissions": ["USER"] })).await;
    assert_rest_error(
        &not_a_number,
        400,
        "INVALID_PARAMETER_VALUE",
        "principal_id",
    );
}

#[tokio::test]
async fn a_workspace_without_identity_federation_answers_400() {
    let s = spawn().await;
    s.account.add_unfederated_workspace(WORKSPACE_ID);
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let put = s.assign(&ada, json!({ "permissions": ["USER"] })).await;
    assert_rest_error(
        &put,
        400,
        "BAD_REQUEST",
        "Permission assignment APIs are not available for this workspace",
    );
    assert_rest_error(&s.assignments().await, 400, "BAD_REQUEST", "not available");
    let unknown = s
        .call(Method::GET, "/workspaces/42/permissionassignments", None)
        .await;
    assert_rest_error(&unknown, 404, "RESOURCE_DOES_NOT_EXIST", "42");
}

// --- federation ---------------------------------------------------------------------------------------

/// A workspace SCIM emulator served on loopback, with a GET helper.
struct WorkspaceView {
    base: String,
    http: reqwest::Client,
}

impl WorkspaceView {
    async fn serve(workspace: &ScimWorkspace) -> WorkspaceView {
        WorkspaceView {
            base: format!("{}{SCIM_ROOT}", serve(workspace.router()).await),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(PAT)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Any request to `path` under the workspace's SCIM root, whatever it answers.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, url).bearer_auth(PAT);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, operations: Value) -> Answer {
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": operations });
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn read(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn listed(&self, endpoint: &str, key: &str) -> Vec<String> {
        strings(&resources(&self.get(&format!("/{endpoint}")).await), key)
    }
}

/// An account with one registered workspace served on loopback: Ada, Bo, Cy, a service principal,
/// `inner` ⊃ {Bo, sp} and `outer` ⊃ {inner}; Ada and `outer` assigned USER.
struct Federated {
    s: Setup,
    workspace: ScimWorkspace,
    view: WorkspaceView,
    ada: String,
    bo: String,
    cy: String,
    sp: String,
    inner: String,
    outer: String,
}

async fn federated() -> Federated {
    let s = spawn().await;
    let workspace = ScimWorkspace::new(PAT);
    workspace.add_group("local-team");
    let view = WorkspaceView::serve(&workspace).await;
    s.account.add_workspace(WORKSPACE_ID, &workspace);
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let bo = s.account.add_user("bo@contoso.com", "Bo");
    let cy = s.account.add_user("cy@contoso.com", "Cy");
    let sp = s
        .account
        .add_service_principal("5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f", "sync");
    let inner = s.account.add_group("inner", &[&bo, &sp]);
    let outer = s.account.add_group("outer", &[&inner]);
    assert_eq!(
        view.listed("Users", "userName").await,
        ["admin@contoso.com"],
        "nothing assigned yet"
    );
    s.assign(&ada, json!({ "permissions": ["USER"] })).await;
    s.assign(&outer, json!({ "permissions": ["USER"] })).await;
    Federated {
        s,
        workspace,
        view,
        ada,
        bo,
        cy,
        sp,
        inner,
        outer,
    }
}

#[tokio::test]
async fn assigned_principals_appear_in_the_workspace_directly_and_through_nested_groups() {
    let Federated {
        s,
        view,
        bo,
        cy,
        sp,
        inner,
        outer,
        ..
    } = federated().await;
    let users = ["admin@contoso.com", "ada@contoso.com", "bo@contoso.com"];
    assert_eq!(view.listed("Users", "userName").await, users);
    let found = resources(
        &view
            .get("/Users?filter=userName eq \"bo@contoso.com\"")
            .await,
    );
    assert_eq!(found[0]["id"], json!(bo), "the account id");
    assert_eq!(view.listed("ServicePrincipals", "id").await, [sp.as_str()]);

    let groups = resources(&view.get("/Groups").await);
    let kinds: Vec<(&str, &str)> = groups
        .iter()
        .map(|g| {
            (
                g["displayName"].as_str().unwrap(),
                g["meta"]["resourceType"].as_str().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("admins", "WorkspaceGroup"),
        ("local-team", "WorkspaceGroup"),
        ("outer", "Group"),
    ];
    assert_eq!(kinds, expected);
    assert_eq!(groups[2]["id"], json!(outer));
    let member = json!({ "value": inner, "display": "inner", "$ref": format!("Groups/{inner}") });
    assert_eq!(groups[2]["members"], json!([member]));
    let filtered = view.get("/Groups?filter=displayName eq \"outer\"").await;
    assert_eq!(resources(&filtered).len(), 1);

    // Cy joins inner through the account API: Cy is in the workspace.
    s.patch_ok(&format!("/Groups/{inner}"), add_members(&[&cy]))
        .await;
    assert!(
        view.listed("Users", "userName")
            .await
            .contains(&"cy@contoso.com".to_owned())
    );
}

#[tokio::test]
async fn account_deactivation_admin_and_unassignment_reach_the_workspace() {
    let Federated {
        s,
        workspace,
        view,
        ada,
        outer,
        ..
    } = federated().await;
    let off = replace("active", json!([{ "value": "false" }]));
    s.patch_ok(&format!("/Users/{ada}"), off).await;
    assert_eq!(
        view.get(&format!("/Users/{ada}")).await["active"],
        json!(false)
    );

    // ADMIN puts the principal in the workspace's admins; taking it back takes it out.
    let admins = |workspace: &ScimWorkspace| {
        let groups = workspace.groups().into_iter();
        groups
            .filter(|g| g.display_name == "admins")
            .flat_map(|g| g.members)
            .collect::<Vec<_>>()
    };
    s.assign(&ada, json!({ "permissions": ["ADMIN"] })).await;
    assert!(admins(&workspace).contains(&ada));
    s.assign(&ada, json!({ "permissions": [] })).await;
    assert!(!admins(&workspace).contains(&ada));

    let path = format!("/workspaces/{WORKSPACE_ID}/permissionassignments/principals/{outer}");
    s.call(Method::DELETE, &path, None).await;
    assert_eq!(
        view.listed("Users", "userName").await,
        ["admin@contoso.com"]
    );
    assert_eq!(
        view.listed("ServicePrincipals", "id").await,
        Vec::<String>::new()
    );
    assert_eq!(
        view.listed("Groups", "displayName").await,
        ["admins", "local-team"]
    );
}

// --- workspace-level SCIM on a federated workspace ---------------------------------------------------

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// `(principal id, permission)` of the workspace's assignments, as the account's API lists them.
async fn listed_assignments(s: &Setup) -> Vec<(String, String)> {
    let list = s.assignments().await;
    let items = list.body["permission_assignments"].as_array().unwrap();
    items
        .iter()
        .map(|a| {
            let id = a["principal"]["principal_id"].as_i64().unwrap().to_string();
            (id, a["permissions"][0].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_workspace_post_on_a_federated_workspace_creates_the_principal_at_the_account_and_assigns_it()
 {
    let Federated {
        s, workspace, view, ..
    } = federated().await;
    let dee = json!({ "schemas": [USER_SCHEMA], "userName": "Dee@Contoso.com", "displayName": "Dee",
        "externalId": "9d2e5f7a-0000-4c1e-8a4b-6f3e2d1c0b9a", "active": true,
        "entitlements": [{ "value": "workspace-access" }] });
    let created = view.post("/Users", dee.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(s.account.user_id("dee@contoso.com"), Some(id.clone()));
    assert_eq!(created.body["userName"], json!("dee@contoso.com"));
    assert_eq!(created.body["entitlements"], dee["entitlements"]);
    // At the account: the same id, the body's fields, a USER assignment to the workspace.
    let at_account = s.get(&format!("/Users/{id}")).await;
    assert_eq!(at_account.status, StatusCode::OK);
    assert_eq!(
        (
            &at_account.body["displayName"],
            &at_account.body["externalId"],
            &at_account.body["active"]
        ),
        (&dee["displayName"], &dee["externalId"], &json!(true))
    );
    assert!(
        at_account.body.get("entitlements").is_none(),
        "per workspace"
    );
    assert!(
        listed_assignments(&s)
            .await
            .contains(&(id.clone(), "USER".to_owned()))
    );
    // The workspace lists it with the account id; a second POST is the workspace's 409.
    let found = view
        .get("/Users?filter=userName eq \"dee@contoso.com\"")
        .await;
    assert_eq!(strings(&resources(&found), "id"), [id.as_str()]);
    let again = view.post("/Users", dee).await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    let dees = s.account.users().into_iter();
    assert_eq!(dees.filter(|u| u.user_name == "dee@contoso.com").count(), 1);

    // A service principal the same way.
    let app = "7b3c9d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
    let sp = json!({ "schemas": [SP_SCHEMA], "applicationId": app, "displayName": "etl",
        "active": true });
    let created = view.post("/ServicePrincipals", sp.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let sp_id = created.body["id"].as_str().unwrap().to_owned();
    let at_account = s
        .get(&format!(
            "/ServicePrincipals?filter=applicationId eq \"{app}\""
        ))
        .await;
    assert_eq!(
        strings(&resources(&at_account.body), "id"),
        [sp_id.as_str()]
    );
    assert!(
        listed_assignments(&s)
            .await
            .contains(&(sp_id.clone(), "USER".to_owned()))
    );
    assert!(workspace.service_principals().iter().any(|p| p.id == sp_id));
    assert_scim_error(
        &view.post("/ServicePrincipals", sp).await,
        409,
        Some("uniqueness"),
    );

    // Refusals change nothing at the account: an unknown group to join, an externalId too long for it.
    let unknown_group = json!({ "schemas": [USER_SCHEMA], "userName": "eve@contoso.com",
        "groups": [{ "value": "1111111111111111" }] });
    assert_scim_error(
        &view.post("/Users", unknown_group).await,
        400,
        Some("invalidValue"),
    );
    let long = json!({ "schemas": [USER_SCHEMA], "userName": "eve@contoso.com",
        "externalId": "e".repeat(65) });
    assert_scim_error(&view.post("/Users", long).await, 400, Some("invalidValue"));
    assert_eq!(s.account.user_id("eve@contoso.com"), None);
    // Nor does a POST the account never sees (no schema).
    let no_schema = json!({ "userName": "eve@contoso.com" });
    assert_scim_error(
        &view.post("/Users", no_schema).await,
        400,
        Some("invalidSyntax"),
    );
    assert_eq!(s.account.user_id("eve@contoso.com"), None);
}

#[tokio::test]
async fn an_account_principal_not_in_the_workspace_is_taken_not_duplicated() {
    let Federated {
        s,
        view,
        ada,
        bo,
        cy,
        sp,
        ..
    } = federated().await;
    // Cy is in the account, not in the workspace: the POST takes Cy as the account has Cy.
    let body = json!({ "schemas": [USER_SCHEMA], "userName": "CY@contoso.com",
        "displayName": "Someone else", "externalId": "x" });
    let linked = view.post("/Users", body).await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    assert_eq!(linked.body["id"], json!(cy));
    assert_eq!(linked.body["displayName"], json!("Cy"), "the account's");
    let cys = s.account.users().into_iter();
    let cys: Vec<_> = cys.filter(|u| u.user_name == "cy@contoso.com").collect();
    assert_eq!((cys.len(), cys[0].external_id.clone()), (1, None));
    assert!(
        listed_assignments(&s)
            .await
            .contains(&(cy.clone(), "USER".to_owned()))
    );
    assert!(
        view.listed("Users", "id").await.contains(&cy),
        "the workspace lists Cy"
    );

    // In the workspace already (assigned directly, or through a group): 409, no assignment made.
    for name in ["ada@contoso.com", "bo@contoso.com"] {
        let body = json!({ "schemas": [USER_SCHEMA], "userName": name });
        assert_scim_error(&view.post("/Users", body).await, 409, Some("uniqueness"));
    }
    let assigned: Vec<String> = (listed_assignments(&s).await.into_iter())
        .map(|(id, _)| id)
        .collect();
    assert!(assigned.contains(&ada) && !assigned.contains(&bo));
    let body = json!({ "schemas": [SP_SCHEMA],
        "applicationId": "5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f" });
    let through_group = view.post("/ServicePrincipals", body).await;
    assert_scim_error(&through_group, 409, Some("uniqueness"));
    assert!(
        !s.account
            .assignments(WORKSPACE_ID)
            .iter()
            .any(|(id, _)| *id == sp)
    );

    // An account service principal outside the workspace is taken too.
    let app = "6a1d5b8f-2e3c-4d4e-9f0a-1b2c3d4e5f60";
    let other = s.account.add_service_principal(app, "other");
    let body = json!({ "schemas": [SP_SCHEMA], "applicationId": app, "displayName": "x" });
    let linked = view.post("/ServicePrincipals", body).await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    assert_eq!(linked.body["id"], json!(other));
    assert_eq!(
        s.account
            .assignments(WORKSPACE_ID)
            .iter()
            .find(|(id, _)| *id == other),
        Some(&(other.clone(), "USER"))
    );
}

#[tokio::test]
async fn workspace_groups_stay_local_with_account_principals_as_members() {
    let Federated { s, view, ada, .. } = federated().await;
    let body = json!({ "schemas": [GROUP_SCHEMA], "displayName": "team",
        "members": [{ "value": ada }] });
    let created = view.post("/Groups", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["meta"],
        json!({ "resourceType": "WorkspaceGroup" })
    );
    let member = json!({ "value": ada, "display": "Ada", "$ref": format!("Users/{ada}") });
    assert_eq!(created.body["members"], json!([member]));
    assert_eq!(s.account.group_id("team"), None, "not at the account");
}

#[tokio::test]
async fn a_workspace_not_registered_with_an_account_creates_its_own_principals() {
    let s = spawn().await;
    let account_ada = s.account.add_user("ada@contoso.com", "Ada");
    s.account.add_unfederated_workspace(WORKSPACE_ID + 1);
    let workspace = ScimWorkspace::new(PAT);
    let view = WorkspaceView::serve(&workspace).await;
    let body = json!({ "schemas": [USER_SCHEMA], "userName": "ada@contoso.com" });
    let created = view.post("/Users", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_ne!(created.body["id"], json!(account_ada));
    let body =
        json!({ "schemas": [SP_SCHEMA], "applicationId": "7b3c9d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e" });
    assert_eq!(
        view.post("/ServicePrincipals", body).await.status,
        StatusCode::CREATED
    );
    assert_eq!(s.account.users().len(), 1);
    let sps = s.get("/ServicePrincipals").await;
    assert_eq!(sps.body["totalResults"], json!(0));
}

// --- entitlements of an assigned account group through the workspace ---------------------------------

/// Terraform's `databricks_entitlements` on a group: `replace` on create and update, `remove` with the
/// values on delete (`scim/resource_entitlement.go`).
fn entitlements(op: &str, values: &[&str]) -> Value {
    let values: Vec<Value> = values.iter().map(|v| json!({ "value": v })).collect();
    json!([{ "op": op, "path": "entitlements", "value": values }])
}

#[tokio::test]
async fn an_assigned_account_groups_entitlements_are_patched_and_read_through_the_workspace() {
    let Federated {
        s,
        workspace,
        view,
        outer,
        ..
    } = federated().await;
    let path = format!("/Groups/{outer}");
    let patched = view
        .patch(&path, entitlements("add", &["workspace-access"]))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let expected = json!({ "schemas": [GROUP_SCHEMA], "id": outer, "displayName": "outer",
        "entitlements": [{ "value": "workspace-access" }], "meta": { "resourceType": "Group" } });
    assert_eq!(patched.body, expected, "no members");
    let read = view.read(&format!("{path}?attributes=entitlements")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.body,
        json!({ "schemas": [GROUP_SCHEMA], "id": outer,
            "entitlements": [{ "value": "workspace-access" }] })
    );

    // Terraform's replace, then its remove with values, then a filtered remove.
    let replace = entitlements(
        "replace",
        &["allow-cluster-create", "databricks-sql-access"],
    );
    assert_eq!(view.patch(&path, replace).await.status, StatusCode::OK);
    assert_eq!(
        workspace.account_group_entitlements(&outer),
        ["allow-cluster-create", "databricks-sql-access"]
    );
    let remove = entitlements("remove", &["allow-cluster-create"]);
    assert_eq!(view.patch(&path, remove).await.status, StatusCode::OK);
    assert_eq!(
        workspace.account_group_entitlements(&outer),
        ["databricks-sql-access"]
    );
    let filtered =
        json!([{ "op": "remove", "path": "entitlements[value eq \"databricks-sql-access\"]" }]);
    let emptied = view.patch(&path, filtered).await;
    assert_eq!(emptied.status, StatusCode::OK);
    assert!(
        emptied.body.get("entitlements").is_none(),
        "{}",
        emptied.body
    );

    // Checked as a workspace group's: an unknown value is refused, all or nothing.
    let mixed = json!([
        { "op": "add", "path": "entitlements", "value": [{ "value": "workspace-access" }] },
        { "op": "add", "path": "entitlements", "value": [{ "value": "be-root" }] },
    ]);
    assert_scim_error(&view.patch(&path, mixed).await, 400, Some("invalidValue"));
    assert!(workspace.account_group_entitlements(&outer).is_empty());

    // Kept when the account changes the group; seen neither at the account nor in another workspace.
    workspace.set_account_group_entitlements(&outer, &["workspace-access"]);
    let cy = s.account.user_id("cy@contoso.com").unwrap();
    let inner = s.account.group_id("inner").unwrap();
    s.patch_ok(&format!("/Groups/{inner}"), add_members(&[&cy]))
        .await;
    assert_eq!(
        workspace.account_group_entitlements(&outer),
        ["workspace-access"]
    );
    let listed = view.get("/Groups?filter=displayName eq \"outer\"").await;
    assert_eq!(
        resources(&listed)[0]["entitlements"],
        json!([{ "value": "workspace-access" }])
    );
    let at_account = s.get(&format!("/Groups/{outer}")).await;
    assert!(at_account.body.get("entitlements").is_none());
    let second = ScimWorkspace::new(PAT);
    s.account.add_workspace(WORKSPACE_ID + 1, &second);
    s.account.assign(WORKSPACE_ID + 1, &outer, "USER");
    assert!(second.account_group_entitlements(&outer).is_empty());
    assert_eq!(
        workspace.account_group_entitlements(&outer),
        ["workspace-access"]
    );
}

#[tokio::test]
async fn everything_else_about_an_account_group_in_the_workspace_still_answers_404() {
    let Federated {
        s,
        workspace,
        view,
        ada,
        inner,
        outer,
        ..
    } = federated().await;
    let path = format!("/Groups/{outer}");
    workspace.set_account_group_entitlements(&outer, &["workspace-access"]);
    // Reads that would show members: the product's admin protection, a plain GET, a sub-attribute.
    for query in [
        "?attributes=id,displayName,members,meta",
        "",
        "?attributes=members.value",
    ] {
        let read = view.read(&format!("{path}{query}")).await;
        assert_scim_error(&read, 404, None);
    }
    let without_members = view
        .read(&format!("{path}?excludedAttributes=members"))
        .await;
    assert_eq!(without_members.status, StatusCode::OK);
    assert_eq!(without_members.body["displayName"], json!("outer"));
    assert!(without_members.body.get("members").is_none());

    // Membership and name changes, alone or beside an entitlement change: 404, nothing changed.
    let member = json!([{ "op": "add", "path": "members", "value": [{ "value": ada }] }]);
    let rename = json!([{ "op": "replace", "path": "displayName", "value": "x" }]);
    let both = json!([
        { "op": "remove", "path": "entitlements[value eq \"workspace-access\"]" },
        { "op": "remove", "path": format!("members[value eq \"{inner}\"]") },
    ]);
    for operations in [member, rename, both] {
        assert_scim_error(&view.patch(&path, operations).await, 404, None);
    }
    assert_eq!(
        workspace.account_group_entitlements(&outer),
        ["workspace-access"]
    );
    assert_eq!(s.account.members(&outer), [inner.as_str()]);
    let put = json!({ "schemas": [GROUP_SCHEMA], "displayName": "outer" });
    assert_scim_error(&view.call(Method::PUT, &path, Some(put)).await, 404, None);
    assert_scim_error(&view.call(Method::DELETE, &path, None).await, 404, None);

    // An account group nested in an assigned one, and one not assigned at all: not served.
    let unassigned = s.account.add_group("unassigned", &[]);
    for id in [&inner, &unassigned] {
        let read = view
            .read(&format!("/Groups/{id}?attributes=entitlements"))
            .await;
        assert_scim_error(&read, 404, None);
        let grant = entitlements("add", &["workspace-access"]);
        assert_scim_error(
            &view.patch(&format!("/Groups/{id}"), grant).await,
            404,
            None,
        );
    }
    assert!(workspace.account_group_entitlements(&inner).is_empty());
}

// --- the world ----------------------------------------------------------------------------------------

#[tokio::test]
async fn the_world_serves_the_account_at_its_host_through_the_proxy() {
    let world = World::start().await.unwrap();
    let ws = world.add_workspace("federated").await.unwrap();
    let account = world.add_account(ACCOUNT_ID).await.unwrap();
    account.admit_identity("system");
    account.add_workspace(ws.workspace_id(), &ws.scim);
    let ada = account.add_user("ada@contoso.com", "Ada");

    let env: HashMap<String, String> = world.handler_env().into_iter().collect();
    let bundle = std::fs::read(&env["SSL_CERT_FILE"]).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::https(&env["HTTPS_PROXY"]).unwrap())
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&bundle).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = mint_token(DATABRICKS_RESOURCE, "system", Duration::from_secs(3600));
    let base = format!("https://accounts.azuredatabricks.net/api/2.0/accounts/{ACCOUNT_ID}");
    let users = client
        .get(format!("{base}/scim/v2/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
    let users: Value = users.json().await.unwrap();
    assert_eq!(strings(&resources(&users), "id"), [ada.as_str()]);
    let assigned = client
        .put(format!(
            "{base}/workspaces/{}/permissionassignments/principals/{ada}",
            ws.workspace_id()
        ))
        .bearer_auth(&token)
        .json(&json!({ "permissions": ["USER"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(assigned.status(), StatusCode::OK);
    assert!(ws.scim.users().iter().any(|u| u.id == ada));
    assert!(
        world
            .connects()
            .iter()
            .any(|c| c == "accounts.azuredatabricks.net:443")
    );
    assert_eq!(account.faults().count(&Method::GET, "/scim/v2/Users"), 1);
}

#[tokio::test]
async fn an_account_deactivation_reaches_every_workspace_and_reactivation_goes_account_first() {
    let s = spawn().await;
    let (first, second) = (ScimWorkspace::new(PAT), ScimWorkspace::new(PAT));
    let second_id = WORKSPACE_ID + 1;
    s.account.add_workspace(WORKSPACE_ID, &first);
    s.account.add_workspace(second_id, &second);
    let ada = s.account.add_user("ada@contoso.com", "Ada");
    let group = s.account.add_group("everyone", &[&ada]);
    s.assign(&ada, json!({ "permissions": ["USER"] })).await;
    let path = format!("/workspaces/{second_id}/permissionassignments/principals/{group}");
    s.call(Method::PUT, &path, Some(json!({ "permissions": ["USER"] })))
        .await;
    let active = |workspace: &ScimWorkspace| {
        let users = workspace.users().into_iter();
        users
            .filter(|u| u.id == ada)
            .map(|u| u.active)
            .collect::<Vec<bool>>()
    };
    assert_eq!((active(&first), active(&second)), (vec![true], vec![true]));

    let user = format!("/Users/{ada}");
    s.patch_ok(&user, replace("active", json!([{ "value": "false" }])))
        .await;
    assert_eq!(
        (active(&first), active(&second)),
        (vec![false], vec![false])
    );
    // The workspace cannot reactivate Ada before the account does (the workspace emulator's 500).
    let base = format!("{}{SCIM_ROOT}", serve(first.router()).await);
    let reactivate = json!({ "schemas": [PATCH_SCHEMA],
        "Operations": [{ "op": "replace", "path": "active", "value": [{ "value": "true" }] }] });
    let http = reqwest::Client::new();
    let request = || {
        http.patch(format!("{base}/Users/{ada}"))
            .bearer_auth(PAT)
            .json(&reactivate)
    };
    assert_eq!(request().send().await.unwrap().status().as_u16(), 500);
    s.patch_ok(&user, replace("active", json!("true"))).await;
    assert_eq!(
        active(&first),
        [false],
        "active again only once the workspace reactivates"
    );
    assert_eq!(request().send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(active(&first), [true]);
}
