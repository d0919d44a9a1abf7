//! Azure Key Vault secrets: one [`KeyVault`] is one vault (`https://<name>.vault.azure.net`).
//!
//! Serves `GET /secrets/{name}[/{version}]?api-version=..` as the data plane does, with its challenge
//! authentication: a request without a bearer token gets 401 and the `WWW-Authenticate` challenge the Azure
//! SDK parses; tokens must come from [`crate::identity`] for `https://vault.azure.net`; identities without
//! the "Key Vault Secrets User" role get 403 `ForbiddenByRbac`. Secret values are never logged.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::faults::{self, Faults};
use crate::identity::{self, KEY_VAULT_RESOURCE};

struct Version {
    id: String,
    value: String,
    created: i64,
}

struct Secret {
    /// The name as first set (names are case-insensitive).
    name: String,
    /// Oldest first.
    versions: Vec<Version>,
}

struct Inner {
    secrets: HashMap<String, Secret>,
    denied: HashSet<String>,
    reads: usize,
}

/// One emulated vault. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct KeyVault {
    name: String,
    tenant_id: String,
    inner: Arc<Mutex<Inner>>,
    faults: Faults,
}

impl KeyVault {
    /// The vault's host will be `<vault_name>.vault.azure.net`.
    pub fn new(vault_name: &str) -> Self {
        let inner = Inner {
            secrets: HashMap::new(),
            denied: HashSet::new(),
            reads: 0,
        };
        KeyVault {
            name: vault_name.to_ascii_lowercase(),
            tenant_id: uuid::Uuid::new_v4().to_string(),
            inner: Arc::new(Mutex::new(inner)),
            faults: Faults::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/secrets/{*rest}", get(get_secret))
            .fallback(|| async {
                error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "The requested resource was not found.",
                )
            })
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                faults::layer,
            ))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// `https://<name>.vault.azure.net`, without a trailing slash.
    pub fn vault_url(&self) -> String {
        format!("https://{}.vault.azure.net", self.name)
    }

    /// The tenant named in the authentication challenge.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// Adds a new version of secret `name` (created if absent; older versions are kept) and returns its
    /// version id (32 hex characters).
    pub fn set_secret(&self, name: &str, value: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let version = Version {
            id: id.clone(),
            value: value.to_owned(),
            created: now(),
        };
        let mut inner = self.lock();
        let secret = inner
            .secrets
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Secret {
                name: name.to_owned(),
                versions: Vec::new(),
            });
        secret.versions.push(version);
        id
    }

    /// This identity (`"system"` or a client id) lacks the "Key Vault Secrets User" role: its reads get 403.
    pub fn deny(&self, identity: &str) {
        self.lock().denied.insert(identity.to_ascii_lowercase());
    }

    /// Gives a denied identity its role back.
    pub fn allow(&self, identity: &str) {
        self.lock().denied.remove(&identity.to_ascii_lowercase());
    }

    /// How many secret reads succeeded.
    pub fn reads(&self) -> usize {
        self.lock().reads
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn get_secret(
    State(vault): State<KeyVault>,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let identity = match authenticate(&vault, &headers) {
        Ok(identity) => identity,
        Err(response) => return *response,
    };
    match query.get("api-version").map(String::as_str) {
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                "The api-version query parameter is missing.",
            );
        }
        Some(v) if !supported_api_version(v) => {
            let message = format!(
                "The specified version ({v}) is not recognized. Consider using the latest supported version (2025-07-01)."
            );
            return error(StatusCode::BAD_REQUEST, "BadParameter", &message);
        }
        Some(_) => {}
    }
    // `{name}`, `{name}/` (the SDK's "latest" form) or `{name}/{version}`.
    let (name, version) = match rest.split_once('/') {
        None => (rest.as_str(), ""),
        Some((name, version)) => (name, version),
    };
    let mut inner = vault.lock();
    if inner.denied.contains(&identity.to_ascii_lowercase()) {
        return forbidden(&vault, &identity);
    }
    let found = inner
        .secrets
        .get(&name.to_ascii_lowercase())
        .and_then(|secret| {
            let chosen = match version {
                "" => secret.versions.last(),
                v => secret
                    .versions
                    .iter()
                    .find(|candidate| candidate.id.eq_ignore_ascii_case(v)),
            };
            chosen.map(|chosen| (secret.name.clone(), chosen))
        });
    let Some((name, chosen)) = found else {
        let shown = if version.is_empty() {
            name.to_owned()
        } else {
            format!("{name}/{version}")
        };
        let message = format!(
            "A secret with (name/id) {shown} was not found in this key vault. If you recently deleted this secret you \
             may be able to recover it using the correct recovery command. For help resolving this issue, please see \
             https://go.microsoft.com/fwlink/?linkid=2125182"
        );
        return error(StatusCode::NOT_FOUND, "SecretNotFound", &message);
    };
    let body = serde_json::json!({
        "value": chosen.value,
        "id": format!("{}/secrets/{name}/{}", vault.vault_url(), chosen.id),
        "attributes": {
            "enabled": true,
            "created": chosen.created,
            "updated": chosen.created,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        },
        "tags": {},
    });
    inner.reads += 1;
    Json(body).into_response()
}

fn supported_api_version(version: &str) -> bool {
    version.strip_prefix("7.").is_some_and(|minor| {
        minor
            .split('-')
            .next()
            .is_some_and(|m| m.parse::<u8>().is_ok())
    }) || matches!(version, "2016-10-01" | "2025-07-01")
}

/// The caller's identity, or the 401 answer (with the challenge) Key Vault gives.
fn authenticate(vault: &KeyVault, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let token = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(Box::new(unauthorized(
            vault,
            "AKV10000: Request is missing a Bearer or PoP token.",
        )));
    };
    let Some(claims) = identity::token_claims(token) else {
        return Err(Box::new(unauthorized(
            vault,
            "AKV10032: Invalid issuer or expired token.",
        )));
    };
    if !identity::resource_matches(&claims.resource, KEY_VAULT_RESOURCE) {
        let message = format!(
            "AKV10022: Invalid audience. Expected {KEY_VAULT_RESOURCE}, found: {}.",
            claims.resource
        );
        return Err(Box::new(unauthorized(vault, &message)));
    }
    Ok(claims.identity)
}

fn unauthorized(vault: &KeyVault, message: &str) -> Response {
    let challenge = format!(
        "Bearer authorization=\"https://login.microsoftonline.com/{}\", resource=\"{KEY_VAULT_RESOURCE}\"",
        vault.tenant_id
    );
    let mut response = error(StatusCode::UNAUTHORIZED, "Unauthorized", message);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert("www-authenticate", value);
    }
    response
}

fn forbidden(vault: &KeyVault, identity: &str) -> Response {
    let message = format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role \
         definitions were changed recently, please observe propagation time.\r\nCaller: identity={identity}\r\n\
         Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nResource: '{}'\r\nAssignment: (not found)\r\n\
         DenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {};location=westeurope\r\n",
        vault.vault_url(),
        vault.name
    );
    let body = serde_json::json!({
        "error": { "code": "Forbidden", "message": message, "innererror": { "code": "ForbiddenByRbac" } }
    });
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}
