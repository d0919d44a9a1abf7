//! The Graph emulator's change-notification subscriptions over real HTTP: the tenant's router over
//! plain HTTP, and a notification endpoint served over TLS at a made-up Azure host name that the
//! tenant's outbound client trusts (the CA) and resolves (to the local address). Creation and its
//! validation handshake, every refused body, the quota, the permission, renewal, deletion, expiry,
//! notifications (shape, batching, retries, no propagation to parent groups) and lifecycle events.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::StatusCode;
use sandbox::graph::{
    DeliveryKind, LifecycleError, NewUser, Outcome, Permission, SubscriptionInfo, Tenant,
};
use sandbox::identity::{self, GRAPH_RESOURCE, TENANT_ID};
use sandbox::tls::{Authority, serve_plain, serve_tls};
use serde_json::{Value, json};

const HOST: &str = "func-test.azurewebsites.net";
const NOTIFY: &str = "https://func-test.azurewebsites.net/api/notify?code=function-key";
const LIFECYCLE: &str = "https://func-test.azurewebsites.net/api/lifecycle?code=function-key";
const UNREADABLE: &str = "Could not process subscription creation payload. Are all property names spelled and camelCased properly?";

/// How the endpoint answers a validation request.
#[derive(Clone, Copy)]
enum Validation {
    /// 200, `text/plain`, the decoded token.
    Echo,
    /// 200, `text/plain`, the token as it was encoded in the query.
    EchoEncoded,
    /// This status, the token as body.
    Status(u16),
}

/// One request the endpoint received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    body: String,
    /// The decoded `validationToken`, for a validation request.
    token: Option<String>,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct EndpointState {
    /// By path; [`Validation::Echo`] for the others.
    validation: HashMap<String, Validation>,
    /// The next notification answers (status, delay); 202 at once when empty.
    answers: VecDeque<(u16, Duration)>,
    received: Vec<Received>,
}

/// A webhook endpoint like the function app's.
#[derive(Clone, Default)]
struct Endpoint(Arc<Mutex<EndpointState>>);

impl Endpoint {
    fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(endpoint_handler)
            .with_state(self.clone())
    }

    fn validate(&self, path: &str, validation: Validation) {
        self.0
            .lock()
            .unwrap()
            .validation
            .insert(path.to_owned(), validation);
    }

    fn answer(&self, status: u16, delay: Duration) {
        self.0.lock().unwrap().answers.push_back((status, delay));
    }

    fn received(&self) -> Vec<Received> {
        self.0.lock().unwrap().received.clone()
    }

    fn validations(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.token.is_some())
            .collect()
    }

    /// Notification POSTs to `path`.
    fn posts(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.token.is_none() && r.path == path)
            .collect()
    }
}

async fn endpoint_handler(
    State(endpoint): State<Endpoint>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    let raw_token = query.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("validationToken="))
            .map(str::to_owned)
    });
    let token = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "validationToken")
            .map(|(_, v)| v.into_owned())
    });
    let received = Received {
        path: uri.path().to_owned(),
        query: query.clone(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        token: token.clone(),
        at: Instant::now(),
    };
    let (validation, answer) = {
        let mut state = endpoint.0.lock().unwrap();
        state.received.push(received);
        let validation = *state
            .validation
            .get(uri.path())
            .unwrap_or(&Validation::Echo);
        let answer = if token.is_none() {
            state.answers.pop_front()
        } else {
            None
        };
        (validation, answer)
    };
    if let Some(token) = token {
        let text = [("content-type", "text/plain; charset=utf-8")];
        return match validation {
            Validation::Echo => (AxumStatus::OK, text, token).into_response(),
            Validation::EchoEncoded => {
                (AxumStatus::OK, text, raw_token.unwrap_or_default()).into_response()
            }
            Validation::Status(status) => {
                (AxumStatus::from_u16(status).unwrap(), text, token).into_response()
            }
        };
    }
    let (status, delay) = answer.unwrap_or((202, Duration::ZERO));
    tokio::time::sleep(delay).await;
    AxumStatus::from_u16(status).unwrap().into_response()
}

struct Fixture {
    tenant: Tenant,
    base: String,
    token: String,
    endpoint: Endpoint,
    client: reqwest::Client,
    group: String,
}

impl Fixture {
    /// A tenant with a group, served over plain HTTP, whose outbound client reaches the endpoint.
    async fn start() -> Fixture {
        let fixture = Fixture::without_client().await;
        let authority = Authority::new().unwrap();
        let config = authority.server_config(&[HOST]).unwrap();
        let address = serve_tls(fixture.endpoint.router(), config).await.unwrap();
        let ca = reqwest::Certificate::from_pem(authority.ca_pem().as_bytes()).unwrap();
        let outbound = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_merge([ca])
            .resolve(HOST, address)
            .build()
            .unwrap();
        fixture.tenant.set_outbound_client(outbound);
        fixture
    }

    /// The same, with no outbound client given to the tenant.
    async fn without_client() -> Fixture {
        let tenant = Tenant::new();
        let group = tenant.add_group("Data Engineers");
        let address = serve_plain(tenant.router()).await.unwrap();
        Fixture {
            tenant,
            base: format!("http://{address}"),
            token: token_for("system"),
            endpoint: Endpoint::default(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            group,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        token: &str,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create_as(&self, body: &Value, token: &str) -> (StatusCode, Value) {
        let body = serde_json::to_vec(body).unwrap();
        self.call(
            reqwest::Method::POST,
            "/v1.0/subscriptions",
            Some(body),
            token,
        )
        .await
    }

    async fn create(&self, body: &Value) -> (StatusCode, Value) {
        self.create_as(body, &self.token).await
    }

    /// Creates a subscription that must succeed; returns its id.
    async fn subscribe(&self, body: &Value) -> String {
        let (status, answer) = self.create(body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None, &self.token)
            .await
    }

    async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let body = serde_json::to_vec(body).unwrap();
        self.call(reqwest::Method::PATCH, path, Some(body), &self.token)
            .await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None, &self.token)
            .await
    }

    fn user(&self, name: &str) -> String {
        self.tenant
            .add_user(NewUser::member(&format!("{name}@contoso.com"), name))
    }

    fn subscription(&self, id: &str) -> SubscriptionInfo {
        self.tenant
            .subscriptions()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap()
    }
}

fn token_for(identity: &str) -> String {
    identity::mint_token(GRAPH_RESOURCE, identity, Duration::from_secs(3600))
}

/// `minutes` from now, as RFC 3339.
fn in_minutes(minutes: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A valid request for a subscription on `group`.
fn request(group: &str) -> Value {
    json!({
        "changeType": "updated",
        "notificationUrl": NOTIFY,
        "resource": format!("groups/{group}"),
        "expirationDateTime": in_minutes(60),
        "clientState": "secret-client-state",
    })
}

/// Waits (up to 10 s) until `f` gives something.
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = f() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_error(answer: &Value, code: &str, message: &str) {
    assert_eq!(answer["error"]["code"], code, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(message),
        "{answer}"
    );
    assert!(
        answer["error"]["innerError"]["request-id"].is_string(),
        "{answer}"
    );
}

#[tokio::test]
async fn a_subscription_is_created_once_its_urls_echo_the_validation_token() {
    let f = Fixture::start().await;
    let mut body = request(&f.group);
    body["lifecycleNotificationUrl"] = json!(NOTIFY);
    let (status, answer) = f.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    // Two validation requests even though both URLs are the same, each with its own token, the
    // function key kept in the query.
    let validations = f.endpoint.validations();
    assert_eq!(validations.len(), 2);
    assert_ne!(validations[0].token, validations[1].token);
    for v in &validations {
        assert_eq!(v.path, "/api/notify");
        let query = v.query.as_deref().unwrap();
        assert!(
            query.starts_with("code=function-key&validationToken="),
            "{query}"
        );
        assert_eq!(v.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        let token = v.token.as_deref().unwrap();
        assert!(token.starts_with("Validation: Testing client application reachability"));
    }
    let logged: Vec<_> = f.tenant.deliveries();
    assert_eq!(logged.len(), 2);
    assert!(logged.iter().all(|d| d.kind == DeliveryKind::Validation
        && d.accepted
        && d.outcome == Outcome::Answered(200)
        && d.url == "https://func-test.azurewebsites.net/api/notify"));

    // The answer: every property of the v1.0 resource, null where unset.
    let id = answer["id"].as_str().unwrap();
    assert!(
        answer["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#subscriptions/$entity")
    );
    assert_eq!(answer["resource"], format!("groups/{}", f.group));
    assert_eq!(answer["changeType"], "updated");
    assert_eq!(answer["clientState"], "secret-client-state");
    assert_eq!(answer["notificationUrl"], NOTIFY);
    assert_eq!(answer["lifecycleNotificationUrl"], NOTIFY);
    assert_eq!(answer["latestSupportedTlsVersion"], "v1_2");
    for null in [
        "includeResourceData",
        "notificationQueryOptions",
        "encryptionCertificate",
        "encryptionCertificateId",
        "notificationUrlAppId",
    ] {
        assert!(answer[null].is_null(), "{null}: {answer}");
    }
    for guid in ["applicationId", "creatorId"] {
        assert!(uuid::Uuid::parse_str(answer[guid].as_str().unwrap()).is_ok());
    }
    assert!(
        answer["expirationDateTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let live = f.tenant.subscriptions();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, id);
    assert_eq!(live[0].group_id, f.group);
    assert_eq!(live[0].creator, "system");
    assert_eq!(live[0].client_state.as_deref(), Some("secret-client-state"));

    // GET shows it whole; the list hides clientState.
    let (status, one) = f.get(&format!("/v1.0/subscriptions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["clientState"], "secret-client-state");
    assert_eq!(one["expirationDateTime"], answer["expirationDateTime"]);
    let (status, list) = f.get("/v1.0/subscriptions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#subscriptions")
    );
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(list["value"][0]["id"], id);
    assert!(list["value"][0]["clientState"].is_null());
}

#[tokio::test]
async fn a_failed_validation_creates_nothing() {
    let f = Fixture::start().await;
    let cases = [
        (
            Validation::EchoEncoded,
            "Response must exactly match validationToken query parameter.",
        ),
        (
            Validation::Status(500),
            "Notification endpoint must respond with 200 OK to validation request.",
        ),
        (
            Validation::Status(202),
            "Notification endpoint must respond with 200 OK to validation request.",
        ),
    ];
    for (validation, message) in cases {
        f.endpoint.validate("/api/notify", validation);
        let (status, answer) = f.create(&request(&f.group)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_error(&answer, "ValidationError", message);
        assert!(f.tenant.subscriptions().is_empty());
    }
    // The notification URL passes, the lifecycle URL does not: nothing either.
    f.endpoint.validate("/api/notify", Validation::Echo);
    f.endpoint
        .validate("/api/lifecycle", Validation::Status(404));
    let mut body = request(&f.group);
    body["lifecycleNotificationUrl"] = json!(LIFECYCLE);
    let (status, answer) = f.create(&body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(f.tenant.subscriptions().is_empty());
    let last = f.tenant.deliveries().pop().unwrap();
    assert_eq!(
        last.url,
        "https://func-test.azurewebsites.net/api/lifecycle"
    );
    assert_eq!(last.outcome, Outcome::Answered(404));
    assert!(!last.accepted);

    // Without an outbound client the endpoint cannot be reached at all.
    let f = Fixture::without_client().await;
    let (status, answer) = f.create(&request(&f.group)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_error(&answer, "ValidationError", "must respond with 200 OK");
    assert!(f.tenant.subscriptions().is_empty());
    assert!(matches!(
        &f.tenant.deliveries()[0].outcome,
        Outcome::Failed(reason) if reason.contains("set_outbound_client")
    ));
}

/// A change to a valid request body.
type Edit = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn bodies_graph_refuses_are_refused_before_the_endpoint_is_asked() {
    let f = Fixture::start().await;
    let group = f.group.clone();
    let missing_group = uuid::Uuid::new_v4().to_string();
    let edits: Vec<(&str, Edit, StatusCode, &str, String)> = vec![
        (
            "no changeType",
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("changeType"))),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "changeType is a required property for subscription creation.".into(),
        ),
        (
            "created",
            Box::new(|b| b["changeType"] = json!("created")),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Invalid 'changeType' attribute: 'created'.".into(),
        ),
        (
            "updated,created",
            Box::new(|b| b["changeType"] = json!("updated,created")),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Invalid 'changeType' attribute: 'created'.".into(),
        ),
        (
            "no notificationUrl",
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("notificationUrl"))),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "notificationUrl is a required property".into(),
        ),
        (
            "http notificationUrl",
            Box::new(|b| {
                b["notificationUrl"] = json!("http://func-test.azurewebsites.net/api/notify")
            }),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "notificationUrl must be an absolute https URL.".into(),
        ),
        (
            "http lifecycleNotificationUrl",
            Box::new(|b| {
                b["lifecycleNotificationUrl"] = json!("http://func-test.azurewebsites.net/api/l")
            }),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "lifecycleNotificationUrl must be an absolute https URL.".into(),
        ),
        (
            "no resource",
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("resource"))),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "resource is a required property".into(),
        ),
        (
            "all groups",
            Box::new(|b| b["resource"] = json!("groups")),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The sandbox emulates subscriptions on one group only".into(),
        ),
        (
            "members",
            Box::new(move |b| b["resource"] = json!(format!("groups/{group}/members"))),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The sandbox emulates subscriptions on one group only".into(),
        ),
        (
            "users",
            Box::new(|b| b["resource"] = json!("users")),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The sandbox emulates subscriptions on one group only".into(),
        ),
        (
            "not a guid",
            Box::new(|b| b["resource"] = json!("groups/data-engineers")),
            StatusCode::BAD_REQUEST,
            "ExtensionError",
            "Invalid object identifier 'data-engineers'".into(),
        ),
        (
            "no such group",
            Box::new({
                let missing = missing_group.clone();
                move |b| b["resource"] = json!(format!("groups/{missing}"))
            }),
            StatusCode::NOT_FOUND,
            "ExtensionError",
            format!("Resource '{missing_group}' does not exist"),
        ),
        (
            "no expirationDateTime",
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("expirationDateTime"))),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "expirationDateTime is a required property for subscription creation.".into(),
        ),
        (
            "expired",
            Box::new(|b| b["expirationDateTime"] = json!(in_minutes(-1))),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Subscription expiration must be in the future.".into(),
        ),
        (
            "too far",
            Box::new(|b| b["expirationDateTime"] = json!(in_minutes(41_761))),
            StatusCode::BAD_REQUEST,
            "ExtensionError",
            "Subscription expiration can only be 41760 minutes in the future.".into(),
        ),
        (
            "not a date",
            Box::new(|b| b["expirationDateTime"] = json!("2030-02-30")),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            UNREADABLE.into(),
        ),
        (
            "long clientState",
            Box::new(|b| b["clientState"] = json!("x".repeat(129))),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "clientState can be at most 128 characters long.".into(),
        ),
        (
            "rich notifications",
            Box::new(|b| b["includeResourceData"] = json!(true)),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "includeResourceData is not supported".into(),
        ),
        (
            "unknown property",
            Box::new(|b| b["notificationURL"] = json!(NOTIFY)),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            UNREADABLE.into(),
        ),
        (
            "wrong type",
            Box::new(|b| b["changeType"] = json!(["updated"])),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            UNREADABLE.into(),
        ),
        (
            "not an object",
            Box::new(|b| *b = json!([])),
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            UNREADABLE.into(),
        ),
    ];
    for (case, edit, status, code, message) in edits {
        let mut body = request(&f.group);
        edit(&mut body);
        let (answered, answer) = f.create(&body).await;
        assert_eq!(answered, status, "{case}: {answer}");
        assert_error(&answer, code, &message);
    }
    let (status, answer) = f
        .call(
            reqwest::Method::POST,
            "/v1.0/subscriptions",
            Some(b"{not json".to_vec()),
            &f.token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "InvalidRequest", UNREADABLE);
    assert!(f.endpoint.received().is_empty(), "the endpoint was asked");
    assert!(f.tenant.subscriptions().is_empty());

    // The forms Graph takes.
    let mut body = request(&f.group);
    body["resource"] = json!(format!("/Groups/{}", f.group));
    body["changeType"] = json!("updated,deleted");
    body["clientState"] = json!("é".repeat(128));
    body["expirationDateTime"] = json!(in_minutes(41_759));
    body["@odata.type"] = json!("#microsoft.graph.subscription");
    body["latestSupportedTlsVersion"] = json!("v1_3");
    body["includeResourceData"] = json!(false);
    let (status, answer) = f.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["resource"], format!("/Groups/{}", f.group));
    assert_eq!(answer["latestSupportedTlsVersion"], "v1_3");
    assert_eq!(answer["includeResourceData"], false);
}

#[tokio::test]
async fn an_app_holds_at_most_100_subscriptions_on_groups() {
    let f = Fixture::start().await;
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids.push(f.subscribe(&request(&f.group)).await);
    }
    let (status, answer) = f.create(&request(&f.group)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_error(&answer, "ExtensionError", "limit of 100 subscriptions");
    assert_eq!(
        f.endpoint.validations().len(),
        100,
        "the 101st was not validated"
    );

    // Another app in the tenant has its own quota, and sees only its own subscriptions.
    let other = token_for("0b5e3c1f-6a0e-4a59-9b1f-6f0f6a3c2d11");
    let (status, answer) = f.create_as(&request(&f.group), &other).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(
        answer["applicationId"],
        "0b5e3c1f-6a0e-4a59-9b1f-6f0f6a3c2d11"
    );
    let theirs = answer["id"].as_str().unwrap().to_owned();
    let (_, list) = f
        .call(reqwest::Method::GET, "/v1.0/subscriptions", None, &other)
        .await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    let (status, _) = f.get(&format!("/v1.0/subscriptions/{theirs}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One deleted, one expired: two places free.
    let (status, _) = f.delete(&format!("/v1.0/subscriptions/{}", ids[0])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(f.tenant.expire_subscription(&ids[1]));
    f.subscribe(&request(&f.group)).await;
    f.subscribe(&request(&f.group)).await;
    let (status, _) = f.create(&request(&f.group)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn without_group_read_all_a_subscription_is_forbidden() {
    let f = Fixture::start().await;
    f.tenant.revoke(Permission::GroupReadAll);
    let (status, answer) = f.create(&request(&f.group)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_error(
        &answer,
        "ExtensionError",
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]",
    );
    assert!(f.endpoint.received().is_empty());
    f.tenant.grant(Permission::GroupReadAll);
    f.subscribe(&request(&f.group)).await;
}

#[tokio::test]
async fn patch_renews_within_the_limits_and_reauthorizes() {
    let f = Fixture::start().await;
    let id = f.subscribe(&request(&f.group)).await;
    let path = format!("/v1.0/subscriptions/{id}");

    let (status, answer) = f
        .patch(
            &path,
            &json!({"expirationDateTime": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "ExtensionError", "41760 minutes");
    let (status, answer) = f
        .patch(&path, &json!({"expirationDateTime": in_minutes(-5)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&answer, "InvalidRequest", "must be in the future");
    let (status, answer) = f.patch(&path, &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(
        &answer,
        "InvalidRequest",
        "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property and its value.",
    );
    let (status, _) = f
        .patch(
            &path,
            &json!({"expirationDateTime": in_minutes(90), "clientState": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f.patch(&path, &json!({"notificationUrl": NOTIFY})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        f.subscription(&id).reauthorized,
        0,
        "a refused PATCH changes nothing"
    );

    let renewed = time::OffsetDateTime::now_utc() + time::Duration::minutes(41_000);
    let renewed = renewed.replace_nanosecond(0).unwrap();
    let (status, answer) = f
        .patch(
            &path,
            &json!({"expirationDateTime": renewed.format(&time::format_description::well_known::Rfc3339).unwrap()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let expected = renewed
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap();
    assert_eq!(answer["expirationDateTime"], expected);
    assert_eq!(answer["id"], id.as_str());
    let live = f.subscription(&id);
    assert_eq!(live.reauthorized, 1);
    assert_eq!(live.expiration, std::time::SystemTime::from(renewed));
    assert!(
        f.endpoint.validations().len() == 1,
        "a renewal is not validated again"
    );

    let (status, answer) = f
        .patch(
            "/v1.0/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            &json!({"expirationDateTime": in_minutes(90)}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "ResourceNotFound", "The object was not found.");
}

#[tokio::test]
async fn deleted_and_expired_subscriptions_are_gone_and_get_nothing() {
    let f = Fixture::start().await;
    let deleted = f.subscribe(&request(&f.group)).await;
    let expired = f.subscribe(&request(&f.group)).await;
    let (status, answer) = f.delete(&format!("/v1.0/subscriptions/{deleted}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert!(f.tenant.expire_subscription(&expired));
    for gone in [&deleted, &expired] {
        let path = format!("/v1.0/subscriptions/{gone}");
        let (status, answer) = f.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&answer, "ResourceNotFound", "The object was not found.");
        let (status, _) = f.delete(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = f
            .call(
                reqwest::Method::POST,
                &format!("{path}/reauthorize"),
                None,
                &f.token,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert!(f.tenant.subscriptions().is_empty());
    assert!(!f.tenant.expire_subscription(&expired));

    let user = f.user("alice");
    f.tenant.add_member(&f.group, &user);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(f.endpoint.posts("/api/notify").is_empty());
    assert!(
        f.tenant
            .deliveries()
            .iter()
            .all(|d| d.kind == DeliveryKind::Validation)
    );
}

#[tokio::test]
async fn a_membership_change_sends_one_notification_to_each_subscription_of_the_group() {
    let f = Fixture::start().await;
    let id = f.subscribe(&request(&f.group)).await;
    let mut bare = request(&f.group);
    bare.as_object_mut().unwrap().remove("clientState");
    bare["notificationUrl"] = json!("https://func-test.azurewebsites.net/api/other");
    let bare_id = f.subscribe(&bare).await;
    let deletes_only = {
        let mut body = request(&f.group);
        body["changeType"] = json!("deleted");
        f.subscribe(&body).await
    };
    let user = f.user("alice");

    f.tenant.add_member(&f.group, &user);
    let post = until("the notification", || f.endpoint.posts("/api/notify").pop()).await;
    assert_eq!(post.query.as_deref(), Some("code=function-key"));
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    let items = post.json()["value"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    let resource = format!("Groups/{}", f.group);
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["changeType"], "updated");
    assert_eq!(item["resource"], resource);
    assert_eq!(item["clientState"], "secret-client-state");
    assert_eq!(item["tenantId"], TENANT_ID);
    let data = &item["resourceData"];
    assert_eq!(data["@odata.type"], "#Microsoft.Graph.Group");
    assert_eq!(data["@odata.id"], resource);
    assert_eq!(data["id"], f.group.as_str());
    assert_eq!(data["organizationId"], TENANT_ID);
    assert!(data["sequenceNumber"].as_i64().unwrap() > 0);
    let expiry = item["subscriptionExpirationDateTime"].as_str().unwrap();
    assert!(expiry.ends_with("+00:00"), "{expiry}");

    // The subscription without clientState gets an item without it; the one that asked only for
    // deletions gets nothing.
    let other = until("the other notification", || {
        f.endpoint.posts("/api/other").pop()
    })
    .await;
    let other = other.json();
    assert_eq!(other["value"][0]["subscriptionId"], bare_id.as_str());
    assert!(other["value"][0].get("clientState").is_none(), "{other}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.endpoint.posts("/api/notify").len(), 1);
    assert!(
        !f.endpoint
            .received()
            .iter()
            .any(|r| r.body.contains(&deletes_only))
    );

    // The log: one accepted notification per URL, the URL without its query.
    let notifications: Vec<_> = f
        .tenant
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == DeliveryKind::Notification)
        .collect();
    assert_eq!(notifications.len(), 2);
    let first = notifications
        .iter()
        .find(|d| d.url == "https://func-test.azurewebsites.net/api/notify")
        .unwrap();
    assert!(first.accepted && !first.slow);
    assert_eq!(
        (first.attempt, first.item_count, &first.outcome),
        (1, 1, &Outcome::Answered(202))
    );
    assert_eq!(first.items, items);

    // Adding a member twice changes nothing and notifies nothing; removing and renaming notify.
    f.tenant.add_member(&f.group, &user);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.endpoint.posts("/api/notify").len(), 1);
    f.tenant.remove_member(&f.group, &user);
    until("the removal's notification", || {
        (f.endpoint.posts("/api/notify").len() == 2).then_some(())
    })
    .await;
    f.tenant.rename_group(&f.group, "Data Engineering");
    until("the rename's notification", || {
        (f.endpoint.posts("/api/notify").len() == 3).then_some(())
    })
    .await;
}

#[tokio::test]
async fn quick_changes_are_batched_per_url() {
    let f = Fixture::start().await;
    f.tenant
        .set_notification_batching(Duration::from_millis(300));
    let first = f.subscribe(&request(&f.group)).await;
    let second = f.subscribe(&request(&f.group)).await;
    for n in 0..5 {
        let user = f.user(&format!("user{n}"));
        f.tenant.add_member(&f.group, &user);
    }
    let posts = until("ten items", || {
        let posts = f.endpoint.posts("/api/notify");
        let items: usize = posts
            .iter()
            .map(|p| p.json()["value"].as_array().unwrap().len())
            .sum();
        (items == 10).then_some(posts)
    })
    .await;
    assert!(posts.len() < 5, "{} POSTs for 5 changes", posts.len());
    // Items of both subscriptions travel in the same POST.
    let ids: Vec<Value> = posts[0].json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["subscriptionId"].clone())
        .collect();
    assert!(ids.contains(&json!(first)) && ids.contains(&json!(second)));
}

#[tokio::test]
async fn the_notification_delay_holds_delivery_back() {
    let f = Fixture::start().await;
    f.tenant.set_notification_batching(Duration::ZERO);
    f.tenant.set_notification_delay(Duration::from_millis(500));
    f.subscribe(&request(&f.group)).await;
    let user = f.user("alice");
    let changed = Instant::now();
    f.tenant.add_member(&f.group, &user);
    let post = until("the notification", || f.endpoint.posts("/api/notify").pop()).await;
    assert!(post.at.duration_since(changed) >= Duration::from_millis(500));
}

#[tokio::test]
async fn a_change_in_a_nested_group_does_not_notify_its_parent() {
    let f = Fixture::start().await;
    let child = f.tenant.add_group("Data Engineers (contractors)");
    f.tenant.add_member(&f.group, &child);
    f.subscribe(&request(&f.group)).await;
    let user = f.user("alice");
    f.tenant.add_member(&child, &user);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(f.endpoint.posts("/api/notify").is_empty());
    f.tenant.add_member(&f.group, &user);
    until("the parent's own change", || {
        f.endpoint.posts("/api/notify").pop()
    })
    .await;
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_back_off() {
    let f = Fixture::start().await;
    f.subscribe(&request(&f.group)).await;
    f.endpoint.answer(500, Duration::ZERO);
    f.endpoint.answer(202, Duration::from_millis(3_200));
    f.endpoint.answer(200, Duration::ZERO);
    let user = f.user("alice");
    f.tenant.add_member(&f.group, &user);
    let attempts = until("the third attempt", || {
        let attempts: Vec<_> = f
            .tenant
            .deliveries()
            .into_iter()
            .filter(|d| d.kind == DeliveryKind::Notification)
            .collect();
        (attempts.len() == 3).then_some(attempts)
    })
    .await;
    assert_eq!(
        attempts.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(attempts[0].outcome, Outcome::Answered(500));
    assert!(matches!(&attempts[1].outcome, Outcome::Failed(reason) if reason.contains("3 s")));
    assert!(attempts[1].slow && !attempts[1].accepted);
    assert_eq!(attempts[2].outcome, Outcome::Answered(200));
    assert!(attempts[2].accepted);
    // First retry after 1 s, the second 2 s after the (3 s) time-out.
    let gap = |a: usize| {
        attempts[a + 1]
            .at
            .duration_since(attempts[a].at)
            .unwrap()
            .saturating_sub(attempts[a].duration)
    };
    assert!(gap(0) >= Duration::from_millis(990), "{:?}", gap(0));
    assert!(gap(1) >= Duration::from_millis(1_990), "{:?}", gap(1));
    let bodies: Vec<String> = f
        .endpoint
        .posts("/api/notify")
        .into_iter()
        .map(|p| p.body)
        .collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "each attempt sends the same items"
    );

    // With two tries, a notification is dropped after the second failure.
    f.tenant.set_delivery_tries(2);
    for _ in 0..3 {
        f.endpoint.answer(503, Duration::ZERO);
    }
    f.tenant.remove_member(&f.group, &user);
    until("two more attempts", || {
        (f.endpoint.posts("/api/notify").len() == 5).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(f.endpoint.posts("/api/notify").len(), 5);
}

#[tokio::test]
async fn lifecycle_events_go_to_the_lifecycle_url_and_reauthorization_is_recorded() {
    let f = Fixture::start().await;
    let mut body = request(&f.group);
    body["lifecycleNotificationUrl"] = json!(LIFECYCLE);
    let id = f.subscribe(&body).await;
    let without = f.subscribe(&request(&f.group)).await;

    f.tenant
        .send_lifecycle_event(&id, "reauthorizationRequired")
        .unwrap();
    let post = until("the lifecycle notification", || {
        f.endpoint.posts("/api/lifecycle").pop()
    })
    .await;
    assert_eq!(post.query.as_deref(), Some("code=function-key"));
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    let sent = post.json();
    let item = &sent["value"][0];
    assert_eq!(sent["value"].as_array().unwrap().len(), 1);
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(item["tenantId"], TENANT_ID);
    assert_eq!(item["clientState"], "secret-client-state");
    assert!(item["subscriptionExpirationDateTime"].is_string());
    assert!(item.get("changeType").is_none() && item.get("resourceData").is_none());
    assert!(f.endpoint.posts("/api/notify").is_empty());
    until("the logged lifecycle delivery", || {
        f.tenant
            .deliveries()
            .into_iter()
            .find(|d| d.kind == DeliveryKind::Lifecycle && d.accepted)
    })
    .await;

    assert_eq!(
        f.tenant
            .send_lifecycle_event(&without, "reauthorizationRequired"),
        Err(LifecycleError::NoLifecycleUrl(without.clone()))
    );
    assert_eq!(
        f.tenant.send_lifecycle_event(&id, "missed"),
        Err(LifecycleError::UnsupportedEvent("missed".into()))
    );
    assert!(matches!(
        f.tenant.send_lifecycle_event(
            "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            "reauthorizationRequired"
        ),
        Err(LifecycleError::UnknownSubscription(_))
    ));

    // Reauthorize (204), then renew: both count.
    let (status, answer) = f
        .call(
            reqwest::Method::POST,
            &format!("/v1.0/subscriptions/{id}/reauthorize"),
            None,
            &f.token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert_eq!(f.subscription(&id).reauthorized, 1);
    let (status, _) = f
        .patch(
            &format!("/v1.0/subscriptions/{id}"),
            &json!({"expirationDateTime": in_minutes(120)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.subscription(&id).reauthorized, 2);
    assert_eq!(f.subscription(&without).reauthorized, 0);
}
