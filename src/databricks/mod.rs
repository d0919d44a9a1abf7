//! The Databricks workspace-level SCIM API (`/api/2.0/preview/scim/v2`) with the workspace's token:
//! list users (projected, paged to the end), find one by name, create one, set `active`.
//! Only this module knows the SCIM wire format. Every request waits for the workspace's client-side
//! rate limit first, so one run never floods a workspace.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::config::WorkspaceUrl;
use crate::http::{self, ApiError, Requests};

const API: &str = "databricks";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Users asked for per page (the Go SDK's value; the server may send fewer).
const PAGE_SIZE: usize = 10_000;
/// Pages one listing may take before it is cut off (10,000 users per account is the documented limit).
const MAX_PAGES: usize = 1_000;

/// A workspace user as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub id: String,
    pub user_name: String,
    /// Absent means active (SCIM's default).
    #[serde(default = "active_default")]
    pub active: bool,
}

fn active_default() -> bool {
    true
}

/// What creating a user came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(ScimUser),
    /// 409: the user name is taken (for instance by a user created at first sign-in).
    AlreadyExists,
}

/// Why a SCIM call failed, in words an operator can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScimError {
    #[error("the workspace refused {credential} (HTTP 401: {hint})")]
    Unauthorized {
        credential: &'static str,
        hint: &'static str,
        source: ApiError,
    },
    #[error("{credential} may not manage users (HTTP 403: it must be a workspace admin)")]
    Forbidden {
        credential: &'static str,
        source: ApiError,
    },
    #[error("cannot get an Entra token for Azure Databricks with the app's identity: {0}")]
    Token(String),
    #[error("{0}")]
    Api(ApiError),
}

impl From<ApiError> for ScimError {
    fn from(error: ApiError) -> Self {
        ScimError::Api(error)
    }
}

/// The Entra ID scope of Azure Databricks (its well-known application id), in every cloud.
pub const DATABRICKS_SCOPE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";

/// What the SCIM calls are authorised with.
pub enum Bearer {
    /// A workspace-admin personal access token (read from Key Vault).
    Pat(SecretString),
    /// An Entra token of the app's identity for Azure Databricks; fetched per call (the credential caches it).
    Entra(Arc<dyn TokenCredential>),
}

impl Bearer {
    async fn value(&self) -> Result<SecretString, ScimError> {
        match self {
            Bearer::Pat(token) => Ok(token.clone()),
            Bearer::Entra(credential) => credential
                .get_token(&[DATABRICKS_SCOPE], None)
                .await
                .map(|t| SecretString::from(t.token.secret().to_owned()))
                .map_err(|e| ScimError::Token(crate::auth::causes(&e))),
        }
    }

    /// How a refusal is explained: who was refused, and the likely cause.
    fn refusal(&self, error: ApiError) -> ScimError {
        let (credential, hint) = match self {
            Bearer::Pat(_) => (
                "the token from Key Vault",
                "expired, revoked or for another workspace?",
            ),
            Bearer::Entra(_) => (
                "the app's managed identity",
                "is it added to the workspace as a service principal with workspace admin rights?",
            ),
        };
        match error.status() {
            Some(401) => ScimError::Unauthorized {
                credential,
                hint,
                source: error,
            },
            Some(403) => ScimError::Forbidden {
                credential,
                source: error,
            },
            _ => ScimError::Api(error),
        }
    }
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(rename = "totalResults", default)]
    total_results: Option<usize>,
    // Some servers spell it in lower case.
    #[serde(rename = "Resources", alias = "resources", default)]
    resources: Vec<ScimUser>,
}

/// SCIM client of one workspace. Holds the token; has no `Debug`.
pub struct Scim {
    client: reqwest::Client,
    base: Url,
    bearer: Bearer,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl Scim {
    pub fn new(
        client: reqwest::Client,
        instance: &WorkspaceUrl,
        bearer: Bearer,
        requests_per_second: f64,
    ) -> Scim {
        let mut base = instance.as_url().clone();
        base.set_path("/api/2.0/preview/scim/v2/");
        let period = Duration::from_secs_f64(1.0 / requests_per_second.max(0.001));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Scim {
            client,
            base,
            bearer,
            limiter: Arc::new(RateLimiter::direct(quota)),
        }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    async fn send(
        &self,
        operation: &str,
        requests: &Requests,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ScimError> {
        let token = self.bearer.value().await?;
        let build = || {
            build()
                .bearer_auth(token.expose_secret())
                .header("Accept", "application/json")
        };
        // The limiter paces calls; the retries of one call are paced by their back-off instead.
        self.limiter.until_ready().await;
        http::send(API, operation, requests, build, scim_error)
            .await
            .map_err(|e| self.bearer.refusal(e))
    }

    /// Every user of the workspace (`id`, `userName`, `active`).
    ///
    /// # Errors
    /// The list could not be read to the end; a partial list is never returned.
    pub async fn list_users(&self, requests: &Requests) -> Result<Vec<ScimUser>, ScimError> {
        let operation = "listing workspace users";
        let mut users = Vec::new();
        let mut ids = HashSet::new();
        let mut start = 1usize;
        for _ in 0..MAX_PAGES {
            let mut url = self.url("Users");
            url.query_pairs_mut()
                .append_pair("attributes", "id,userName,active")
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &PAGE_SIZE.to_string());
            let response = self
                .send(operation, requests, || self.client.get(url.clone()))
                .await?;
            let page: ListResponse = http::json(operation, response).await?;
            let received = page.resources.len();
            // Pages can shift while users are added: keep each id once.
            users.extend(
                page.resources
                    .into_iter()
                    .filter(|u| ids.insert(u.id.clone())),
            );
            start += received;
            let done = received == 0 || page.total_results.is_some_and(|total| start > total);
            if done {
                return Ok(users);
            }
        }
        Err(ScimError::Api(ApiError::Protocol {
            operation: operation.to_owned(),
            cause: format!("paging did not end after {MAX_PAGES} pages"),
        }))
    }

    /// The user with this name, if any.
    ///
    /// # Errors
    /// The workspace could not be asked.
    pub async fn find_user(
        &self,
        user_name: &str,
        requests: &Requests,
    ) -> Result<Option<ScimUser>, ScimError> {
        let operation = format!("looking up user {user_name}");
        let mut url = self.url("Users");
        url.query_pairs_mut()
            .append_pair(
                "filter",
                &format!("userName eq \"{}\"", user_name.replace('"', "\\\"")),
            )
            .append_pair("attributes", "id,userName,active");
        let response = self
            .send(&operation, requests, || self.client.get(url.clone()))
            .await?;
        let page: ListResponse = http::json(&operation, response).await?;
        Ok(page
            .resources
            .into_iter()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name)))
    }

    /// Creates an active user.
    ///
    /// # Errors
    /// Any refusal but 409 (which means the user exists).
    pub async fn create_user(
        &self,
        user_name: &str,
        display_name: &str,
        requests: &Requests,
    ) -> Result<Created, ScimError> {
        let operation = format!("creating user {user_name}");
        let body =
            json!({ "schemas": [USER_SCHEMA], "userName": user_name, "displayName": display_name });
        let url = self.url("Users");
        let post = || {
            self.client
                .post(url.clone())
                .header("Content-Type", "application/scim+json")
                .json(&body)
        };
        match self.send(&operation, requests, post).await {
            Ok(response) => Ok(Created::New(http::json(&operation, response).await?)),
            Err(ScimError::Api(e)) if e.status() == Some(409) => Ok(Created::AlreadyExists),
            Err(e) => Err(e),
        }
    }

    /// Sets `active` on a user. Accepts 200 with the resource and 204 without.
    ///
    /// # Errors
    /// The workspace refused.
    pub async fn set_active(
        &self,
        id: &str,
        user_name: &str,
        active: bool,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let verb = if active {
            "reactivating"
        } else {
            "deactivating"
        };
        let operation = format!("{verb} user {user_name}");
        let body = json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{ "op": "replace", "path": "active", "value": active }],
        });
        let url = self.url(&format!("Users/{id}"));
        let patch = || {
            self.client
                .patch(url.clone())
                .header("Content-Type", "application/scim+json")
                .json(&body)
        };
        self.send(&operation, requests, patch).await.map(drop)
    }
}

/// SCIM's error JSON: `{"detail", "status": "409", "scimType"}`; Databricks also answers
/// `{"error_code", "message"}` outside SCIM.
fn scim_error(body: &str) -> (Option<String>, String) {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return (None, body.chars().take(200).collect());
    };
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let code = text("scimType").or_else(|| text("error_code"));
    let message = text("detail")
        .or_else(|| text("message"))
        .unwrap_or_else(|| body.chars().take(200).collect());
    (code, message)
}
