//! The managed-identity endpoint and the Key Vault emulator over real HTTP, as the Azure SDK and the
//! product see them.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::StatusCode;
use sandbox::faults::Fault;
use sandbox::identity::{self, IdentityEndpoint, IssuedToken, KEY_VAULT_RESOURCE, TokenClaims};
use sandbox::keyvault::KeyVault;
use serde_json::Value;

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// GET `{base}/msi/token` as azure_identity 1.0 sends it.
async fn token_request(
    base: &str,
    header: Option<&str>,
    query: &[(&str, &str)],
) -> reqwest::Response {
    let url = url::Url::parse_with_params(&format!("{base}/msi/token"), query).expect("url");
    let mut request = reqwest::Client::new().get(url).header("metadata", "true");
    if let Some(header) = header {
        request = request.header("x-identity-header", header);
    }
    request.send().await.expect("token request")
}

#[tokio::test]
async fn identity_endpoint_issues_self_describing_tokens() {
    let endpoint = IdentityEndpoint::new("s3cret");
    endpoint.allow_user_assigned("11111111-2222-3333-4444-555555555555");
    let base = serve(endpoint.router()).await;

    let query = [
        ("api-version", "2019-08-01"),
        ("resource", KEY_VAULT_RESOURCE),
    ];
    let response = token_request(&base, Some("s3cret"), &query).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let expires_on = body["expires_on"].as_str().expect("expires_on is a string");
    let expires_on: i64 = expires_on.parse().expect("unix seconds");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(expires_on > now + 3600, "{expires_on}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], KEY_VAULT_RESOURCE);
    assert_eq!(body["client_id"], endpoint.system_client_id());
    let token = body["access_token"].as_str().expect("token");
    let claims = identity::token_claims(token).expect("claims");
    assert_eq!(
        claims,
        TokenClaims {
            resource: KEY_VAULT_RESOURCE.into(),
            identity: "system".into()
        }
    );

    let user_assigned = [
        ("api-version", "2019-08-01"),
        ("resource", "https://graph.microsoft.com"),
        ("client_id", "11111111-2222-3333-4444-555555555555"),
    ];
    let body: Value = token_request(&base, Some("s3cret"), &user_assigned)
        .await
        .json()
        .await
        .expect("json");
    let claims =
        identity::token_claims(body["access_token"].as_str().expect("token")).expect("claims");
    assert_eq!(claims.identity, "11111111-2222-3333-4444-555555555555");
    assert_eq!(body["client_id"], "11111111-2222-3333-4444-555555555555");

    assert_eq!(
        endpoint.issued(),
        vec![
            IssuedToken {
                resource: KEY_VAULT_RESOURCE.into(),
                client_id: None
            },
            IssuedToken {
                resource: "https://graph.microsoft.com".into(),
                client_id: Some("11111111-2222-3333-4444-555555555555".into())
            },
        ]
    );
    assert_eq!(endpoint.faults().log().len(), 2);
}

#[tokio::test]
async fn identity_endpoint_rejects_wrong_header_unknown_identity_and_bad_queries() {
    let endpoint = IdentityEndpoint::new("s3cret");
    let base = serve(endpoint.router()).await;
    let query = [
        ("api-version", "2019-08-01"),
        ("resource", KEY_VAULT_RESOURCE),
    ];

    assert_eq!(
        token_request(&base, Some("guess"), &query).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_request(&base, None, &query).await.status(),
        StatusCode::BAD_REQUEST
    );

    let unknown = [
        ("api-version", "2019-08-01"),
        ("resource", KEY_VAULT_RESOURCE),
        ("client_id", "not-assigned"),
    ];
    let response = token_request(&base, Some("s3cret"), &unknown).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["statusCode"], 400);
    assert_eq!(
        body["message"],
        "Unable to load the proper Managed Identity."
    );

    let object_id = [
        ("api-version", "2019-08-01"),
        ("resource", KEY_VAULT_RESOURCE),
        ("object_id", "x"),
    ];
    assert_eq!(
        token_request(&base, Some("s3cret"), &object_id)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let no_resource = [("api-version", "2019-08-01")];
    assert_eq!(
        token_request(&base, Some("s3cret"), &no_resource)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let old_version = [
        ("api-version", "2017-09-01"),
        ("resource", KEY_VAULT_RESOURCE),
    ];
    assert_eq!(
        token_request(&base, Some("s3cret"), &old_version)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert!(endpoint.issued().is_empty());
}

#[test]
fn tokens_expire_and_foreign_tokens_are_rejected() {
    assert!(identity::token_claims("eyJhbGciOiJIUzI1NiJ9.e30.sig").is_none());
    assert!(identity::token_claims("sbx.bm90IGpzb24").is_none());
    let expired = identity::mint_token(KEY_VAULT_RESOURCE, "system", Duration::ZERO);
    assert!(identity::token_claims(&expired).is_none());
    assert!(identity::resource_matches(
        "https://vault.azure.net/",
        KEY_VAULT_RESOURCE
    ));
    assert!(identity::resource_matches(
        "https://vault.azure.net/.default",
        KEY_VAULT_RESOURCE
    ));
    assert!(!identity::resource_matches(
        "https://graph.microsoft.com",
        KEY_VAULT_RESOURCE
    ));
}

struct Vault {
    vault: KeyVault,
    base: String,
    client: reqwest::Client,
}

impl Vault {
    async fn start() -> Vault {
        let vault = KeyVault::new("kv-sync-test");
        let base = serve(vault.router()).await;
        Vault {
            vault,
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let (status, headers) = (response.status(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

fn vault_token(identity: &str) -> String {
    identity::mint_token(KEY_VAULT_RESOURCE, identity, Duration::from_secs(3600))
}

#[tokio::test]
async fn challenge_then_secret_with_a_token_from_the_identity_endpoint() {
    let kv = Vault::start().await;
    let version = kv.vault.set_secret("dbx-token-prod", "dapi-123");

    let (status, headers, body) = kv
        .get("/secrets/dbx-token-prod/?api-version=2025-07-01", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let expected = format!(
        "Bearer authorization=\"https://login.microsoftonline.com/{}\", resource=\"https://vault.azure.net\"",
        kv.vault.tenant_id()
    );
    assert_eq!(headers["www-authenticate"], expected.as_str());
    assert_eq!(body["error"]["code"], "Unauthorized");

    let endpoint = IdentityEndpoint::new("h");
    let identity_base = serve(endpoint.router()).await;
    let query = [
        ("api-version", "2019-08-01"),
        ("resource", "https://vault.azure.net"),
    ];
    let issued: Value = token_request(&identity_base, Some("h"), &query)
        .await
        .json()
        .await
        .expect("json");
    let token = issued["access_token"].as_str().expect("token");

    let (status, _, body) = kv
        .get(
            "/secrets/dbx-token-prod/?api-version=2025-07-01",
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], "dapi-123");
    assert_eq!(
        body["id"],
        format!("https://kv-sync-test.vault.azure.net/secrets/dbx-token-prod/{version}")
    );
    assert_eq!(body["attributes"]["enabled"], true);
    assert_eq!(body["attributes"]["recoveryLevel"], "Recoverable+Purgeable");
    assert!(body["attributes"]["created"].is_i64() && body["attributes"]["updated"].is_i64());
    assert_eq!(kv.vault.reads(), 1);

    let log = kv.vault.faults().log();
    assert_eq!(
        log.iter()
            .map(|r| (r.status, r.authorized))
            .collect::<Vec<_>>(),
        [(401, false), (200, true)]
    );
}

#[tokio::test]
async fn latest_and_explicit_versions() {
    let kv = Vault::start().await;
    let first = kv.vault.set_secret("pat", "one");
    let second = kv.vault.set_secret("pat", "two");
    assert_eq!(first.len(), 32);
    assert!(first.chars().all(|c| c.is_ascii_hexdigit()) && first != second);
    let token = vault_token("system");

    for path in [
        "/secrets/pat/?api-version=7.5",
        "/secrets/pat?api-version=7.4",
        "/secrets/PAT/?api-version=2025-07-01",
    ] {
        let (status, _, body) = kv.get(path, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["value"], "two", "{path}");
    }
    let (status, _, body) = kv
        .get(
            &format!("/secrets/pat/{first}?api-version=7.5"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], "one");
    assert!(
        body["id"]
            .as_str()
            .expect("id")
            .ends_with(&format!("/secrets/pat/{first}"))
    );
    assert_eq!(kv.vault.reads(), 4);
}

#[tokio::test]
async fn missing_secret_denied_identity_wrong_audience_and_bad_api_version() {
    let kv = Vault::start().await;
    kv.vault.set_secret("pat", "value");
    let token = vault_token("system");

    let (status, _, body) = kv.get("/secrets/nope/?api-version=7.5", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "SecretNotFound");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("A secret with (name/id) nope was not found")
    );
    let unknown_version = "/secrets/pat/0123456789abcdef0123456789abcdef?api-version=7.5";
    assert_eq!(
        kv.get(unknown_version, Some(&token)).await.0,
        StatusCode::NOT_FOUND
    );

    kv.vault.deny("22222222-0000-0000-0000-000000000000");
    let denied = vault_token("22222222-0000-0000-0000-000000000000");
    let (status, _, body) = kv.get("/secrets/pat/?api-version=7.5", Some(&denied)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Forbidden");
    assert_eq!(body["error"]["innererror"]["code"], "ForbiddenByRbac");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Caller is not authorized")
    );

    let graph = identity::mint_token(
        identity::GRAPH_RESOURCE,
        "system",
        Duration::from_secs(3600),
    );
    let (status, headers, body) = kv.get("/secrets/pat/?api-version=7.5", Some(&graph)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(body["error"]["code"], "Unauthorized");
    assert_eq!(
        kv.get("/secrets/pat/?api-version=7.5", Some("forged"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        kv.get("/secrets/pat/", Some(&token)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        kv.get("/secrets/pat/?api-version=1.0", Some(&token))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(kv.vault.reads(), 0);
}

#[tokio::test]
async fn faults_middleware_is_installed() {
    let kv = Vault::start().await;
    kv.vault.set_secret("pat", "value");
    kv.vault.faults().inject(Fault::throttled("3"), 1);
    let (status, headers, _) = kv
        .get(
            "/secrets/pat/?api-version=7.5",
            Some(&vault_token("system")),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(
        kv.get(
            "/secrets/pat/?api-version=7.5",
            Some(&vault_token("system"))
        )
        .await
        .0,
        StatusCode::OK
    );
    let log = kv.vault.faults().log();
    assert_eq!(log[0].query.as_deref(), Some("api-version=7.5"));
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 200]);
}
