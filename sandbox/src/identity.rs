//! The App Service / Azure Functions managed-identity token endpoint (`IDENTITY_ENDPOINT`, API version
//! 2019-08-01) and the bearer tokens it issues.
//!
//! `GET /msi/token?api-version=2019-08-01&resource=<resource>[&client_id=<id>]` with the secret
//! `x-identity-header` answers `{access_token, expires_on, resource, token_type, client_id}`, `expires_on`
//! being a string of unix seconds as on App Service. Tokens are self-describing (`sbx.` + base64url JSON of
//! resource, identity, expiry and a nonce), so the other emulators check them with [`token_claims`] without
//! sharing state with this endpoint. They are not signed: the sandbox does not defend against forgery.
//! Tokens for Azure Storage (`https://storage.azure.com`) are JWT-shaped instead (a v1 issuer
//! `https://sts.windows.net/<tenant>/`, `aud`, `iat`, `nbf`, `exp`, and the same claims), because
//! Azurite, which serves storage here, reads them as Entra tokens ([`crate::azurite`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::faults::{self, Faults};

/// Resource (audience) of Microsoft Graph tokens.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Resource (audience) of Azure Key Vault tokens.
pub const KEY_VAULT_RESOURCE: &str = "https://vault.azure.net";
/// Resource (application id) of Azure Databricks tokens.
pub const DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
/// Resource (audience) of Azure Storage tokens (blobs and queues).
pub const STORAGE_RESOURCE: &str = "https://storage.azure.com";
/// The tenant named in the issuer of JWT-shaped tokens.
pub const TENANT_ID: &str = "72f988bf-0000-4000-8000-5a6e0b0c5e1d";
/// The identity named in tokens of the system-assigned managed identity.
pub const SYSTEM_IDENTITY: &str = "system";

const TOKEN_PREFIX: &str = "sbx.";
const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Who a token was issued to and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The resource as requested (e.g. `https://vault.azure.net`); compare with [`resource_matches`].
    pub resource: String,
    /// `"system"` or the client id of a user-assigned identity.
    pub identity: String,
}

/// One token issued by an [`IdentityEndpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub resource: String,
    /// The requested user-assigned identity; None for the system-assigned one.
    pub client_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    aud: String,
    idt: String,
    exp: i64,
    nonce: String,
}

/// Who a bearer token was issued to and for what, or None if it was not issued by an [`IdentityEndpoint`]
/// (or [`mint_token`]) or has expired.
pub fn token_claims(token: &str) -> Option<TokenClaims> {
    let payload = payload_of(token)?;
    (payload.exp > now()).then_some(TokenClaims {
        resource: payload.aud,
        identity: payload.idt,
    })
}

/// Whether a token's `resource` stands for `expected`: trailing slashes and a `/.default` suffix are ignored.
pub fn resource_matches(resource: &str, expected: &str) -> bool {
    fn normalize(resource: &str) -> &str {
        resource
            .strip_suffix("/.default")
            .unwrap_or(resource)
            .trim_end_matches('/')
    }
    normalize(resource).eq_ignore_ascii_case(normalize(expected))
}

/// A token for `resource` and `identity` (`"system"` or a client id) valid for `lifetime`, as the endpoint
/// would issue it: for tests that inject a credential instead of calling the endpoint.
pub fn mint_token(resource: &str, identity: &str, lifetime: Duration) -> String {
    let issued = now();
    let payload = Payload {
        aud: resource.to_owned(),
        idt: identity.to_owned(),
        exp: issued.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
        nonce: uuid::Uuid::new_v4().simple().to_string(),
    };
    if resource_matches(resource, STORAGE_RESOURCE) {
        // An Entra v1 access token's shape (header.claims.signature), as Azurite reads it.
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "sandbox"});
        let claims = serde_json::json!({
            "aud": STORAGE_RESOURCE,
            "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
            "iat": issued,
            "nbf": issued,
            "exp": payload.exp,
            "oid": identity,
            "tid": TENANT_ID,
            "idt": payload.idt,
            "nonce": payload.nonce,
            "ver": "1.0",
        });
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        return format!(
            "{}.{}.{}",
            part(&header),
            part(&claims),
            URL_SAFE_NO_PAD.encode(b"sandbox-unsigned")
        );
    }
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
}

/// The claims of a token of either form.
fn payload_of(token: &str) -> Option<Payload> {
    if let Some(encoded) = token.strip_prefix(TOKEN_PREFIX) {
        return serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok();
    }
    let mut parts = token.split('.');
    let (_, claims, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn expiry_of(token: &str) -> Option<i64> {
    Some(payload_of(token)?.exp)
}

struct Inner {
    identity_header: String,
    system_client_id: String,
    user_assigned: HashSet<String>,
    issued: Vec<IssuedToken>,
    /// The access tokens handed out, for tests that search outputs for them.
    tokens: Vec<String>,
    lifetime: Duration,
}

/// The managed-identity endpoint of one function app. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct IdentityEndpoint {
    inner: Arc<Mutex<Inner>>,
    faults: Faults,
}

impl IdentityEndpoint {
    /// `identity_header` is the secret `IDENTITY_HEADER` value callers must send as `x-identity-header`.
    pub fn new(identity_header: &str) -> Self {
        let inner = Inner {
            identity_header: identity_header.to_owned(),
            system_client_id: uuid::Uuid::new_v4().to_string(),
            user_assigned: HashSet::new(),
            issued: Vec::new(),
            tokens: Vec::new(),
            lifetime: DEFAULT_LIFETIME,
        };
        IdentityEndpoint {
            inner: Arc::new(Mutex::new(inner)),
            faults: Faults::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `GET /msi/token`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/msi/token", get(token))
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                faults::layer,
            ))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Makes the user-assigned identity with this client id known to the app.
    pub fn allow_user_assigned(&self, client_id: &str) {
        self.lock()
            .user_assigned
            .insert(client_id.to_ascii_lowercase());
    }

    /// The client id reported for the system-assigned identity.
    pub fn system_client_id(&self) -> String {
        self.lock().system_client_id.clone()
    }

    /// Lifetime of the tokens issued from now on (default 24 h, as App Service).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().lifetime = lifetime;
    }

    /// Every token issued so far, in order.
    pub fn issued(&self) -> Vec<IssuedToken> {
        self.lock().issued.clone()
    }

    /// The values of the access tokens issued so far (secrets: for tests that make sure no output
    /// shows them).
    pub fn access_tokens(&self) -> Vec<String> {
        self.lock().tokens.clone()
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
    resource: Option<String>,
    client_id: Option<String>,
    principal_id: Option<String>,
    object_id: Option<String>,
    mi_res_id: Option<String>,
    msi_res_id: Option<String>,
}

async fn token(
    State(endpoint): State<IdentityEndpoint>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let mut inner = endpoint.lock();
    let Some(sent) = headers.get("x-identity-header") else {
        return error(StatusCode::BAD_REQUEST, "Missing X-IDENTITY-HEADER.");
    };
    if sent.as_bytes() != inner.identity_header.as_bytes() {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: invalid X-IDENTITY-HEADER.",
        );
    }
    if query.api_version.as_deref() != Some("2019-08-01") {
        return error(
            StatusCode::BAD_REQUEST,
            "Unsupported or missing api-version: use 2019-08-01.",
        );
    }
    let Some(resource) = query.resource.filter(|r| !r.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "Missing resource.");
    };
    let other_id = [
        &query.principal_id,
        &query.object_id,
        &query.mi_res_id,
        &query.msi_res_id,
    ];
    if other_id.iter().any(|id| id.is_some()) {
        // Only client ids are registered here: any other selector names an identity the app lacks.
        return error(
            StatusCode::BAD_REQUEST,
            "Unable to load the proper Managed Identity.",
        );
    }
    let (identity, client_id) = match &query.client_id {
        None => (SYSTEM_IDENTITY.to_owned(), inner.system_client_id.clone()),
        Some(id) if inner.user_assigned.contains(&id.to_ascii_lowercase()) => {
            (id.clone(), id.clone())
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Unable to load the proper Managed Identity.",
            );
        }
    };
    let access_token = mint_token(&resource, &identity, inner.lifetime);
    let expires_on = expiry_of(&access_token).unwrap_or_default();
    inner.issued.push(IssuedToken {
        resource: resource.clone(),
        client_id: query.client_id,
    });
    inner.tokens.push(access_token.clone());
    Json(serde_json::json!({
        "access_token": access_token,
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id,
    }))
    .into_response()
}

/// App Service's error shape: `{"statusCode": 400, "message": "...", "correlationId": "..."}`.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "statusCode": status.as_u16(),
        "message": message,
        "correlationId": uuid::Uuid::new_v4().to_string(),
    });
    (status, Json(body)).into_response()
}
