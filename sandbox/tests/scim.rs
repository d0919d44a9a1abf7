//! The Databricks workspace SCIM emulator, driven over real HTTP: the router served on 127.0.0.1:0 and
//! called with reqwest, as the product's SCIM client will call it.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sandbox::faults::Fault;
use sandbox::scim::{SCIM_ROOT, ScimWorkspace};
use serde_json::{Value, json};

const PAT: &str = "dapi0123456789abcdef-test";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const SP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Workspace {
    scim: ScimWorkspace,
    base: String,
    http: reqwest::Client,
}

async fn spawn() -> Workspace {
    let scim = ScimWorkspace::new(PAT);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}{SCIM_ROOT}", listener.local_addr().unwrap());
    let router = scim.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Workspace {
        scim,
        base,
        http: reqwest::Client::new(),
    }
}

/// Status, headers and JSON body (`Null` when there is none).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Workspace {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(PAT);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, operations: Value) -> Answer {
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": operations });
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn create_user(&self, user_name: &str) -> String {
        let answer = self
            .post("/Users", json!({ "schemas": [USER_SCHEMA], "userName": user_name, "displayName": user_name }))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// userNames of a LIST answer, in order.
    async fn user_names(&self, query: &str) -> Vec<String> {
        let answer = self.get(&format!("/Users?{query}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        resources(&answer.body)
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
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

/// `Resources` of a ListResponse; the emulator leaves the key out on an empty page.
fn resources(list: &Value) -> Vec<Value> {
    list.get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
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
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

fn is_databricks_like_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0')
}

// --- auth ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn requests_without_the_right_bearer_token_get_a_401_scim_error_that_never_echoes_the_token()
{
    let ws = spawn().await;
    let missing = answer(
        ws.http
            .get(format!("{}/Users", ws.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_scim_error(&missing, 401, None);
    let wrong = ws
        .http
        .get(format!("{}/Users", ws.base))
        .bearer_auth("dapi-wrong-token");
    let wrong = answer(wrong.send().await.unwrap()).await;
    assert_scim_error(&wrong, 401, None);
    assert!(!wrong.body.to_string().contains("dapi-wrong-token"));
    assert_eq!(wrong.headers["www-authenticate"], "Bearer");
    assert_eq!(ws.get("/Users").await.status, StatusCode::OK);
}

// --- users ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_created_user_is_lower_cased_read_back_by_id_and_listed_with_only_the_projected_attributes()
 {
    let ws = spawn().await;
    let created = ws
        .post("/Users", json!({ "schemas": [USER_SCHEMA], "userName": "Ana@Contoso.com", "displayName": "Ana" }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap();
    assert!(is_databricks_like_id(id), "{id}");
    assert_eq!(created.body["userName"], "ana@contoso.com");
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["emails"][0]["value"], "ana@contoso.com");

    let read = ws.get(&format!("/Users/{id}")).await;
    assert_eq!(read.body, created.body);

    let list = ws
        .get("/Users?filter=userName%20eq%20%22ana@contoso.com%22&attributes=id,userName,active")
        .await;
    assert_eq!(
        list.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(list.body["totalResults"], 1);
    let listed = &resources(&list.body)[0];
    let mut keys: Vec<&str> = listed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["active", "id", "schemas", "userName"]);

    let slim = ws
        .get(&format!(
            "/Users/{id}?excludedAttributes=emails,displayName"
        ))
        .await;
    assert!(slim.body.get("emails").is_none() && slim.body.get("displayName").is_none());
    assert_eq!(slim.body["id"], id);
    assert_scim_error(&ws.get("/Users/1234567890123456").await, 404, None);
}

#[tokio::test]
async fn creating_an_existing_user_name_in_another_case_answers_409_with_the_service_message() {
    let ws = spawn().await;
    ws.create_user("ana@contoso.com").await;
    let again = ws
        .post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "userName": "ANA@contoso.com" }),
        )
        .await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    assert_eq!(
        again.body["detail"],
        "User with username ana@contoso.com already exists."
    );
    assert_eq!(ws.scim.users().len(), 2, "admin and ana");
}

#[tokio::test]
async fn a_just_in_time_user_is_missing_from_list_and_filters_yet_conflicts_on_create() {
    let ws = spawn().await;
    ws.scim.hide_from_list("Bob@contoso.com");
    assert_eq!(ws.user_names("").await, ["admin@contoso.com"]);
    assert!(
        ws.user_names("filter=userName eq \"bob@contoso.com\"")
            .await
            .is_empty()
    );
    let create = ws
        .post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "userName": "bob@contoso.com" }),
        )
        .await;
    assert_scim_error(&create, 409, Some("uniqueness"));
    assert_eq!(
        create.body["detail"],
        "User with username bob@contoso.com already exists."
    );
    ws.scim.show_in_list("bob@contoso.com");
    assert_eq!(
        ws.user_names("filter=userName eq \"bob@contoso.com\"")
            .await,
        ["bob@contoso.com"]
    );
}

#[tokio::test]
async fn active_is_patched_only_in_the_forms_databricks_clients_send_and_a_bare_boolean_is_refused()
{
    let ws = spawn().await;
    let id = ws.create_user("ana@contoso.com").await;
    let sp = ws
        .post(
            "/ServicePrincipals",
            json!({ "schemas": [SP_SCHEMA], "applicationId": "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a" }),
        )
        .await;
    let sp = sp.body["id"].as_str().unwrap().to_owned();
    for path in [format!("/Users/{id}"), format!("/ServicePrincipals/{sp}")] {
        // The Terraform provider's and the knowledge base's form.
        let off = json!([{ "op": "replace", "path": "active", "value": [{ "value": "false" }] }]);
        let off = ws.patch(&path, off).await;
        assert_eq!(
            (off.status, off.body["active"].clone()),
            (StatusCode::OK, json!(false))
        );
        // The Python SDK example's string, and Entra's capitalised operation name.
        let on = json!([{ "op": "Replace", "path": "active", "value": "true" }]);
        assert_eq!(ws.patch(&path, on).await.body["active"], true);
        // No Databricks source sends a bare JSON boolean, with or without a path: refused, unchanged.
        for bare in [
            json!([{ "op": "replace", "path": "active", "value": false }]),
            json!([{ "op": "replace", "value": { "active": false } }]),
            json!([{ "op": "replace", "path": "active", "value": [{ "value": false }] }]),
        ] {
            assert_scim_error(&ws.patch(&path, bare).await, 400, Some("invalidValue"));
        }
        assert_eq!(ws.get(&path).await.body["active"], true);
    }
    assert_eq!(
        ws.user_names("filter=active eq true and userName eq \"ana@contoso.com\"")
            .await,
        ["ana@contoso.com"]
    );
    let pathless = json!([{ "op": "replace", "value": { "displayName": "Ana B" } }]);
    let renamed = ws.patch(&format!("/Users/{id}"), pathless).await;
    assert_eq!(renamed.body["displayName"], "Ana B");
}

#[tokio::test]
async fn a_user_deactivated_in_the_account_cannot_be_reactivated_here_until_the_account_does_it() {
    let ws = spawn().await;
    let id = ws.create_user("ana@contoso.com").await;
    let path = format!("/Users/{id}");
    ws.scim.deactivate_in_account("ana@contoso.com");
    assert_eq!(
        ws.user_names("filter=active eq false").await,
        ["ana@contoso.com"]
    );
    let on = json!([{ "op": "replace", "path": "active", "value": [{ "value": "true" }] }]);
    let refused = ws.patch(&path, on.clone()).await;
    // The knowledge base's answer: a SCIM error, `status` a string, a Java cast error as `detail`.
    assert_scim_error(&refused, 500, None);
    assert_eq!(
        refused.body["detail"],
        "class java.lang.String cannot be cast to class java.lang.Boolean (java.lang.String and \
         java.lang.Boolean are in module java.base of loader 'bootstrap')"
    );
    assert_eq!(ws.get(&path).await.body["active"], false);
    // Other changes still work; deactivating again is no reactivation.
    let off = json!([{ "op": "replace", "path": "active", "value": [{ "value": "false" }] }]);
    assert_eq!(ws.patch(&path, off).await.status, StatusCode::OK);
    // The account admin reactivates the user in the account: the workspace may now do it too.
    ws.scim.reactivate_in_account("ana@contoso.com");
    assert_eq!(ws.get(&path).await.body["active"], false);
    assert_eq!(ws.patch(&path, on).await.body["active"], true);
}

#[tokio::test]
async fn patch_answers_204_without_a_body_when_switched_and_the_change_still_lands() {
    let ws = spawn().await;
    let id = ws.create_user("ana@contoso.com").await;
    ws.scim.set_patch_answers_204(true);
    let answer = ws
        .patch(
            &format!("/Users/{id}"),
            json!([{ "op": "replace", "path": "active", "value": [{ "value": "false" }] }]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.body, Value::Null);
    assert!(!ws.scim.users().iter().find(|u| u.id == id).unwrap().active);
}

#[tokio::test]
async fn user_names_and_emails_cannot_be_patched_and_entitlements_can() {
    let ws = spawn().await;
    let path = format!("/Users/{}", ws.create_user("ana@contoso.com").await);
    let rename = json!([{ "op": "replace", "path": "userName", "value": "x@contoso.com" }]);
    assert_scim_error(&ws.patch(&path, rename).await, 400, Some("mutability"));
    let email = json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "x@contoso.com" }]);
    assert_scim_error(&ws.patch(&path, email).await, 400, Some("mutability"));
    let add = json!([{ "op": "add", "path": "entitlements", "value": [{ "value": "workspace-access" }, { "value": "databricks-sql-access" }] }]);
    assert_eq!(
        ws.patch(&path, add).await.body["entitlements"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let remove = json!([{ "op": "remove", "path": "entitlements[value eq \"workspace-access\"]" }]);
    ws.patch(&path, remove).await;
    assert_eq!(ws.scim.users()[1].entitlements, ["databricks-sql-access"]);
    let bogus = json!([{ "op": "add", "path": "entitlements", "value": [{ "value": "root" }] }]);
    assert_scim_error(&ws.patch(&path, bogus).await, 400, Some("invalidValue"));
}

#[tokio::test]
async fn put_replaces_a_user_but_not_its_user_name() {
    let ws = spawn().await;
    let path = format!("/Users/{}", ws.create_user("ana@contoso.com").await);
    let body = json!({ "schemas": [USER_SCHEMA], "userName": "Ana@contoso.com", "displayName": "Ana Lima", "active": false });
    let put = ws.call(Method::PUT, &path, Some(body)).await;
    assert_eq!(
        (
            put.status,
            put.body["displayName"].clone(),
            put.body["active"].clone()
        ),
        (StatusCode::OK, json!("Ana Lima"), json!(false))
    );
    let renamed = json!({ "schemas": [USER_SCHEMA], "userName": "other@contoso.com" });
    assert_scim_error(
        &ws.call(Method::PUT, &path, Some(renamed)).await,
        400,
        Some("mutability"),
    );
}

#[tokio::test]
async fn deleting_a_user_answers_204_drops_its_memberships_and_a_second_delete_is_404() {
    let ws = spawn().await;
    let id = ws.create_user("ana@contoso.com").await;
    let group = ws.scim.add_group("analysts");
    ws.scim.add_member(&group, &id);
    let delete = ws.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(
        (delete.status, delete.body),
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert!(ws.scim.groups().iter().all(|g| !g.members.contains(&id)));
    assert_scim_error(
        &ws.call(Method::DELETE, &format!("/Users/{id}"), None).await,
        404,
        None,
    );
}

#[tokio::test]
async fn deactivating_the_pat_owner_locks_the_sync_out() {
    let ws = spawn().await;
    let me = ws.get("/Me").await;
    assert_eq!(me.body["userName"], "admin@contoso.com");
    assert_eq!(me.body["groups"][0]["display"], "admins");
    assert_eq!(me.body["id"], ws.scim.admin_user_id());
    let path = format!("/Users/{}", ws.scim.admin_user_id());
    ws.patch(
        &path,
        json!([{ "op": "replace", "path": "active", "value": [{ "value": "false" }] }]),
    )
    .await;
    assert_scim_error(&ws.get("/Users").await, 401, None);
}

// --- paging and filters ----------------------------------------------------------------------------------

#[tokio::test]
async fn paging_under_a_server_cap_of_7_walks_every_user_exactly_once() {
    let ws = spawn().await;
    for n in 0..22 {
        ws.scim
            .add_user(&format!("user{n:02}@contoso.com"), "", true);
    }
    ws.scim.set_max_page_size(7);
    let mut seen = Vec::new();
    let mut start = 1;
    let mut pages = 0;
    loop {
        let page = ws
            .get(&format!(
                "/Users?startIndex={start}&count=100&attributes=userName"
            ))
            .await
            .body;
        assert_eq!(
            (page["totalResults"].clone(), page["startIndex"].clone()),
            (json!(23), json!(start))
        );
        let items = resources(&page);
        assert_eq!(page["itemsPerPage"], items.len());
        if items.is_empty() {
            break;
        }
        assert!(items.len() <= 7);
        pages += 1;
        start += items.len();
        seen.extend(
            items
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(pages, 4);
    let all: Vec<String> = ws.scim.users().into_iter().map(|u| u.user_name).collect();
    assert_eq!(seen, all);
    let beyond = ws.get("/Users?startIndex=100").await.body;
    assert_eq!(
        (beyond["totalResults"].clone(), beyond.get("Resources")),
        (json!(23), None)
    );
    let none = ws.get("/Users?count=0").await.body;
    assert_eq!(
        (none["totalResults"].clone(), none["itemsPerPage"].clone()),
        (json!(23), json!(0))
    );
    assert_eq!(
        resources(&ws.get("/Users?count=3&startIndex=0").await.body).len(),
        3
    );
}

#[tokio::test]
async fn filters_support_eq_ne_co_sw_and_or_and_active_case_insensitively() {
    let ws = spawn().await;
    ws.scim.add_user("ana@contoso.com", "Ana Lima", true);
    ws.scim.add_user("bob@fabrikam.com", "Bob Stone", false);
    ws.scim.add_user("carl@contoso.com", "Carl Ana", true);
    let names = |q: &'static str| ws.user_names(q);
    assert_eq!(
        names("filter=userName eq \"ANA@contoso.com\"").await,
        ["ana@contoso.com"]
    );
    assert_eq!(
        names("filter=displayName co \"ana\"").await,
        ["ana@contoso.com", "carl@contoso.com"]
    );
    assert_eq!(
        names("filter=userName sw \"b\"").await,
        ["bob@fabrikam.com"]
    );
    assert_eq!(names("filter=active eq false").await, ["bob@fabrikam.com"]);
    assert_eq!(names("filter=userName co \"contoso\" and active eq true and userName ne \"admin@contoso.com\"").await, [
        "ana@contoso.com",
        "carl@contoso.com"
    ]);
    assert_eq!(
        names("filter=userName eq \"bob@fabrikam.com\" or displayName sw \"carl\"").await,
        ["bob@fabrikam.com", "carl@contoso.com"]
    );
    assert!(
        names("filter=userName eq \"nobody@contoso.com\"")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn filters_with_single_quotes_unknown_attributes_or_operators_are_invalid_filters() {
    let ws = spawn().await;
    for filter in [
        "userName eq 'ana@contoso.com'",
        "emails eq \"ana@contoso.com\"",
        "userName gt \"a\"",
        "userName pr",
        "active eq \"true\"",
        "userName eq \"a\" and",
        "userName eq \"a\" garbage",
    ] {
        let answer = ws.get(&format!("/Users?filter={}", encoded(filter))).await;
        assert_scim_error(&answer, 400, Some("invalidFilter"));
    }
    let groups = ws
        .get(&format!("/Groups?filter={}", encoded("userName eq \"x\"")))
        .await;
    assert_scim_error(&groups, 400, Some("invalidFilter"));
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn answer_of(request: reqwest::RequestBuilder) -> Answer {
    answer(request.send().await.unwrap()).await
}

#[tokio::test]
async fn users_created_through_the_api_are_listed_only_after_the_visibility_delay() {
    let ws = spawn().await;
    ws.scim.set_visibility_delay(Duration::from_millis(400));
    let id = ws.create_user("late@contoso.com").await;
    let filter = "filter=userName eq \"late@contoso.com\"";
    let hidden = ws.get(&format!("/Users?{filter}")).await.body;
    assert_eq!(
        (hidden["totalResults"].clone(), hidden.get("Resources")),
        (json!(0), None)
    );
    assert_eq!(ws.get(&format!("/Users/{id}")).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(ws.user_names(filter).await, ["late@contoso.com"]);
}

// --- groups ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creations_and_replacements_that_do_not_declare_their_resource_schema_are_refused() {
    let ws = spawn().await;
    let before = ws.get("/Users").await.body["totalResults"].clone();
    let bodies = [
        ("/Users", json!({ "userName": "ana@contoso.com" })),
        (
            "/Users",
            json!({ "schemas": [GROUP_SCHEMA], "userName": "ana@contoso.com" }),
        ),
        ("/Groups", json!({ "displayName": "analysts" })),
        (
            "/ServicePrincipals",
            json!({ "schemas": [USER_SCHEMA], "applicationId": "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a" }),
        ),
    ];
    for (path, body) in bodies {
        let refused = ws.post(path, body.clone()).await;
        assert_scim_error(&refused, 400, Some("invalidSyntax"));
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("must declare the schema"),
            "{path} {body}: {}",
            refused.body
        );
    }
    assert_eq!(
        ws.get("/Users").await.body["totalResults"],
        before,
        "nothing was created"
    );
    let ana = ws.create_user("ana@contoso.com").await;
    let put = (ws.call(
        Method::PUT,
        &format!("/Users/{ana}"),
        Some(json!({ "userName": "ana@contoso.com" })),
    ))
    .await;
    assert_scim_error(&put, 400, Some("invalidSyntax"));
}

#[tokio::test]
async fn group_members_are_added_as_an_array_and_a_bare_string_is_invalid_syntax() {
    let ws = spawn().await;
    let created = ws
        .post(
            "/Groups",
            json!({ "schemas": [GROUP_SCHEMA], "displayName": "analysts" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["meta"]["resourceType"], "WorkspaceGroup");
    assert!(created.body.get("members").is_none());
    let group = format!("/Groups/{}", created.body["id"].as_str().unwrap());
    let (ana, bob) = (
        ws.create_user("ana@contoso.com").await,
        ws.create_user("bob@contoso.com").await,
    );
    let bare = json!([{ "op": "add", "path": "members", "value": ana }]);
    let rejected = ws.patch(&group, bare).await;
    assert_scim_error(&rejected, 400, Some("invalidSyntax"));
    assert_eq!(
        rejected.body["detail"],
        "Request is unparsable, syntactically incorrect, or violates schema."
    );
    let add =
        json!([{ "op": "add", "path": "members", "value": [{ "value": ana }, { "value": bob }] }]);
    let added = ws.patch(&group, add).await;
    assert_eq!(added.status, StatusCode::OK);
    assert_eq!(
        added.body["members"][0],
        json!({ "value": ana, "display": "ana@contoso.com", "$ref": format!("Users/{ana}") })
    );
    assert_eq!(
        ws.get(&format!("/Users/{ana}")).await.body["groups"][0]["display"],
        "analysts"
    );
    let unknown =
        json!([{ "op": "add", "path": "members", "value": [{ "value": "1111111111111111" }] }]);
    assert_scim_error(&ws.patch(&group, unknown).await, 400, Some("invalidValue"));
}

#[tokio::test]
async fn members_are_removed_by_value_filter_and_removing_a_non_member_is_fine() {
    let ws = spawn().await;
    let group = ws.scim.add_group("analysts");
    let (ana, bob) = (
        ws.scim.add_user("ana@contoso.com", "Ana", true),
        ws.scim.add_user("bob@contoso.com", "Bob", true),
    );
    ws.scim.add_member(&group, &ana);
    ws.scim.add_member(&group, &bob);
    let remove =
        |id: &str| json!([{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }]);
    assert_eq!(
        ws.patch(&format!("/Groups/{group}"), remove(&ana))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        ws.patch(&format!("/Groups/{group}"), remove(&ana))
            .await
            .status,
        StatusCode::OK
    );
    let snapshot = ws
        .scim
        .groups()
        .into_iter()
        .find(|g| g.id == group)
        .unwrap();
    assert_eq!(snapshot.members, [bob]);
}

#[tokio::test]
async fn groups_nest_but_never_in_a_cycle_and_admins_cannot_be_deleted() {
    let ws = spawn().await;
    let outer = ws.scim.add_group("outer");
    let inner = ws.scim.add_group("inner");
    ws.scim.add_member(&outer, &inner);
    let cycle = json!([{ "op": "add", "path": "members", "value": [{ "value": outer }] }]);
    assert_scim_error(
        &ws.patch(&format!("/Groups/{inner}"), cycle).await,
        400,
        Some("invalidValue"),
    );
    let admins = ws
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == "admins")
        .unwrap();
    assert_eq!(admins.members, [ws.scim.admin_user_id()]);
    assert_scim_error(
        &ws.call(Method::DELETE, &format!("/Groups/{}", admins.id), None)
            .await,
        403,
        None,
    );
    assert_eq!(
        ws.call(Method::DELETE, &format!("/Groups/{outer}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn duplicate_groups_and_service_principals_answer_409_with_the_service_messages() {
    let ws = spawn().await;
    ws.scim.add_group("analysts");
    let group = ws
        .post(
            "/Groups",
            json!({ "schemas": [GROUP_SCHEMA], "displayName": "Analysts" }),
        )
        .await;
    assert_scim_error(&group, 409, Some("uniqueness"));
    assert_eq!(
        group.body["detail"],
        "Group with name Analysts already exists."
    );
    let app = "6d2f3c1e-0000-4000-8000-00000000abcd";
    let sp = json!({ "schemas": [SP_SCHEMA], "applicationId": app, "displayName": "etl" });
    let created = ws.post("/ServicePrincipals", sp.clone()).await;
    assert_eq!(
        (created.status, created.body["active"].clone()),
        (StatusCode::CREATED, json!(true))
    );
    let again = ws.post("/ServicePrincipals", sp).await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    assert_eq!(
        again.body["detail"],
        format!("Service principal with application ID {app} already exists.")
    );
    let found = ws
        .get(&format!(
            "/ServicePrincipals?filter=applicationId eq \"{}\"",
            app.to_uppercase()
        ))
        .await;
    assert_eq!(found.body["totalResults"], 1);
    let id = created.body["id"].as_str().unwrap();
    let off = json!([{ "op": "replace", "path": "active", "value": [{ "value": "false" }] }]);
    assert_eq!(
        ws.patch(&format!("/ServicePrincipals/{id}"), off)
            .await
            .body["active"],
        false
    );
    assert!(!ws.scim.service_principals()[0].active);
}

// --- the service around the resources -------------------------------------------------------------------

#[tokio::test]
async fn writes_over_the_rate_limit_answer_429_with_an_integer_retry_after_while_reads_go_on() {
    let ws = spawn().await;
    ws.scim.set_write_rate(Some(1.0));
    assert_eq!(
        ws.post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "userName": "a@contoso.com" })
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let throttled = ws
        .post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "userName": "b@contoso.com" }),
        )
        .await;
    assert_scim_error(&throttled, 429, None);
    let retry_after: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(ws.get("/Users").await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        ws.post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "userName": "b@contoso.com" })
        )
        .await
        .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_fault_middleware_answers_injected_faults_and_logs_every_request() {
    let ws = spawn().await;
    ws.scim
        .faults()
        .inject(Fault::status(503).on_path("/Users"), 1);
    assert_eq!(
        ws.get("/Users").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(ws.get("/Users").await.status, StatusCode::OK);
    answer_of(ws.http.get(format!("{}/Groups", ws.base))).await;
    assert_eq!(ws.scim.faults().count(&Method::GET, "/Users"), 2);
    let log = ws.scim.faults().log();
    let last = log.last().unwrap();
    assert_eq!(
        (last.status, last.authorized, last.path.as_str()),
        (401, false, "/api/2.0/preview/scim/v2/Groups")
    );
}

#[tokio::test]
async fn unknown_paths_wrong_methods_bad_json_and_unsupported_patch_ops_are_scim_errors() {
    let ws = spawn().await;
    assert_scim_error(&ws.get("/Widgets").await, 404, None);
    assert_scim_error(&ws.call(Method::DELETE, "/Users", None).await, 405, None);
    let garbage = ws
        .http
        .post(format!("{}/Users", ws.base))
        .bearer_auth(PAT)
        .body("{not json");
    assert_scim_error(
        &answer_of(garbage.header("content-type", "application/scim+json")).await,
        400,
        Some("invalidSyntax"),
    );
    let missing = ws
        .post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "displayName": "nobody" }),
        )
        .await;
    assert_scim_error(&missing, 400, Some("invalidValue"));
    let id = ws.create_user("ana@contoso.com").await;
    let moved = ws
        .patch(
            &format!("/Users/{id}"),
            json!([{ "op": "move", "path": "active", "value": false }]),
        )
        .await;
    assert_scim_error(&moved, 400, Some("invalidSyntax"));
    let no_schema = ws
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({ "Operations": [] })),
        )
        .await;
    assert_scim_error(&no_schema, 400, Some("invalidSyntax"));
}

/// Groups nested in `admins` show as `Groups/<id>` members and are served; an account group made a
/// member of `admins` shows the same way, but the workspace API does not serve it (404 with the SCIM
/// error body), lists it nowhere and refuses it as a new member.
#[tokio::test]
async fn admins_shows_nested_groups_and_account_groups_by_ref_and_serves_only_workspace_groups() {
    let ws = spawn().await;
    let admins = ws
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == "admins")
        .unwrap()
        .id;
    let leads = ws.scim.add_group("leads");
    let ana = ws.scim.add_user("ana@contoso.com", "Ana", true);
    ws.scim.add_member(&leads, &ana);
    ws.scim.add_member(&admins, &leads);
    let bo = ws.scim.add_user("bo@contoso.com", "Bo", true);
    let platform = ws.scim.add_account_group("platform-admins", &[&bo]);
    ws.scim.nest_account_group(&admins, &platform);

    let read = ws
        .get(&format!(
            "/Groups/{admins}?attributes=id,displayName,members,meta"
        ))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let refs: Vec<(&str, &str)> = read.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["$ref"].as_str().unwrap(), m["display"].as_str().unwrap()))
        .collect();
    let admin = ws.scim.admin_user_id();
    assert_eq!(
        refs,
        [
            (format!("Users/{admin}").as_str(), "Workspace Admin"),
            (format!("Groups/{leads}").as_str(), "leads"),
            (format!("Groups/{platform}").as_str(), "platform-admins"),
        ]
    );
    assert_eq!(read.body["meta"]["resourceType"], "WorkspaceGroup");

    let nested = ws
        .get(&format!(
            "/Groups/{leads}?attributes=id,displayName,members,meta"
        ))
        .await;
    assert_eq!(nested.status, StatusCode::OK);
    assert_eq!(nested.body["members"][0]["$ref"], format!("Users/{ana}"));
    assert_eq!(nested.body["meta"]["resourceType"], "WorkspaceGroup");

    let account = ws.get(&format!("/Groups/{platform}")).await;
    assert_scim_error(&account, 404, None);
    let listed = ws.get("/Groups").await;
    assert!(
        resources(&listed.body)
            .iter()
            .all(|g| g["displayName"] != "platform-admins"),
        "{}",
        listed.body
    );
    let filtered = ws
        .get(&format!(
            "/Groups?filter={}",
            encoded("displayName eq \"platform-admins\"")
        ))
        .await;
    assert!(resources(&filtered.body).is_empty(), "{}", filtered.body);
    let add = json!([{ "op": "add", "path": "members", "value": [{ "value": platform }] }]);
    assert_scim_error(
        &ws.patch(&format!("/Groups/{leads}"), add).await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &ws.call(Method::DELETE, &format!("/Groups/{platform}"), None)
            .await,
        404,
        None,
    );
}
