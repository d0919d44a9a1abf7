//! The Databricks workspace-level SCIM API (`/api/2.0/preview/scim/v2`) with the workspace's token.
//! This file holds the client core (pacing, sending, errors, PATCH and DELETE) and the users: list
//! (projected, paged to the end), find by name, create, set `active`, delete. Groups
//! (`groups.rs`; with their members' kinds, for admin protection, `nested.rs`), service principals (`service_principals.rs`) and `/Me` (`me.rs`) have their own
//! files, paging and filters are in `listing.rs`, the credential in `bearer.rs`.
//! Only this module knows the SCIM wire format. Every request, retries included, waits for the
//! workspace's pace first (`pace.rs`: `scimRequestsPerSecond` is its ceiling; a 429 halves it and holds
//! the workspace for its `Retry-After`, clean answers grow it back), so one run never floods a workspace.
//! The `parse_*` functions read one answer body the way the client does, without a workspace (the
//! fuzz targets in `fuzz/` use them).

mod bearer;
mod groups;
mod listing;
mod me;
mod nested;
pub mod pace;
mod refusals;
mod service_principals;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::config::WorkspaceUrl;
use crate::http::{self, ApiError, Requests};
use pace::{Admission, Answer, Pacer};
use refusals::{account_deactivated, account_deactivated_words};

pub use crate::principal::{ExternalId, PrincipalKind, ScimId};
pub use bearer::{Bearer, DATABRICKS_SCOPE};
pub use groups::{MAX_MEMBERS_PER_PATCH, ScimGroup, parse_group, parse_group_page};
pub use listing::{ListPage, parse_list_page};
pub use me::{Me, parse_me};
pub use nested::{ClassifiedGroup, GroupMember, MemberKind, parse_classified_group};
pub use service_principals::{CreatedServicePrincipal, ScimServicePrincipal};

const API: &str = "databricks";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER_ATTRIBUTES: &str = "id,userName,active,externalId";

/// A workspace user as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub id: ScimId,
    /// Shared (`Arc`): the sync keys principals by it, and one name is in several workspaces.
    pub user_name: std::sync::Arc<str>,
    /// Absent means active (SCIM's default).
    #[serde(default = "active_default")]
    pub active: bool,
    #[serde(default)]
    pub external_id: ExternalId,
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
    #[error(
        "{credential} may not manage users, groups or service principals in this workspace ({source}): {needs}"
    )]
    Forbidden {
        credential: &'static str,
        /// The missing permission and where to grant it.
        needs: &'static str,
        source: ApiError,
    },
    #[error("cannot get an Entra token for Azure Databricks with the app's identity: {0}")]
    Token(String),
    /// A reactivation answered 500: on an identity-federated workspace, what Databricks answers for a
    /// user deactivated in the Databricks account (see [`account_deactivated`]).
    #[error("{}", account_deactivated_words(user_name, *documented, source))]
    AccountDeactivated {
        user_name: String,
        /// The answer is the one the Databricks knowledge base shows for this case.
        documented: bool,
        source: ApiError,
    },
    #[error("{0}")]
    Api(ApiError),
}

impl From<ApiError> for ScimError {
    fn from(error: ApiError) -> Self {
        ScimError::Api(error)
    }
}

impl ScimError {
    /// The HTTP status of the workspace's answer, if there was one.
    fn status(&self) -> Option<u16> {
        match self {
            ScimError::Unauthorized { source, .. } | ScimError::Forbidden { source, .. } => {
                source.status()
            }
            ScimError::Api(error) | ScimError::AccountDeactivated { source: error, .. } => {
                error.status()
            }
            ScimError::Token(_) => None,
        }
    }
}

/// SCIM client of one workspace, for one sync. Holds the token; has no `Debug`.
pub struct Scim {
    client: reqwest::Client,
    base: Url,
    bearer: Bearer,
    pacer: Pacer,
    /// Why the workspace is taken to have stopped answering: set by the first call that got no usable
    /// answer after all its retries. Calls after it are not sent, so a workspace that hangs costs one
    /// call's retries (a few in flight at once), not every pending change's, and the run ends, with
    /// its report, long before the function time-out.
    stopped: OnceLock<String>,
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
        Scim {
            client,
            base,
            bearer,
            pacer: Pacer::new(requests_per_second, tokio::time::Instant::now()),
            stopped: OnceLock::new(),
        }
    }

    /// How many independent writes to keep in flight so that the pace, not the round trip, bounds it: a
    /// quarter of a second's worth at the ceiling (round trips up to 250 ms), at least 4, at most 16.
    /// Each is a connection with its buffers (64 in five workspaces held 10 MiB); 16 still keep 1,000
    /// writes/s with round trips up to 16 ms. At the default ceiling (Databricks' documented 255
    /// requests a minute) it is 4: more would only wait in the pace's queue, and after a 429 every
    /// write in flight waits for the hold anyway.
    pub fn writes_in_flight(&self) -> usize {
        ((self.pacer.ceiling() / 4.0).ceil() as usize).clamp(4, 16)
    }

    /// A collection or endpoint under the SCIM root (`Users`, `Me`).
    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// One resource: `<collection>/<id>`, the id as one escaped path segment.
    fn resource_url(&self, collection: &str, id: &str) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push(collection).push(id);
        }
        url
    }

    /// Every request goes through here: the bearer, then `http::send_paced` (retries), each attempt
    /// admitted by the workspace's pace and refused once the workspace stopped answering.
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
        http::send_paced(self, API, operation, requests, build, scim_error)
            .await
            .map_err(|e| {
                if e.gave_up() {
                    let _ = self.stopped.set(e.to_string());
                }
                self.bearer.refusal(e)
            })
    }

    /// POSTs `body` to a collection.
    async fn post(
        &self,
        operation: &str,
        collection: &str,
        body: &Value,
        requests: &Requests,
    ) -> Result<reqwest::Response, ScimError> {
        let url = self.url(collection);
        let post = || {
            self.client
                .post(url.clone())
                .header("Content-Type", "application/scim+json")
                .json(body)
        };
        self.send(operation, requests, post).await
    }

    /// PATCHes a resource with these `Operations`. Accepts 200 with the resource and 204 without.
    async fn patch(
        &self,
        operation: &str,
        url: &Url,
        operations: Value,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": operations });
        let patch = || {
            self.client
                .patch(url.clone())
                .header("Content-Type", "application/scim+json")
                .json(&body)
        };
        self.send(operation, requests, patch).await.map(drop)
    }

    /// DELETEs a resource; 404 means it is gone already, which is what was asked.
    async fn delete(
        &self,
        operation: &str,
        url: &Url,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        match self
            .send(operation, requests, || self.client.delete(url.clone()))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every user of the workspace (`id`, `userName`, `active`); each user name is passed through
    /// `share` as its page is read (a run keeps one copy of each name).
    ///
    /// # Errors
    /// The list could not be read to the end; a partial list is never returned.
    pub async fn list_users(
        &self,
        requests: &Requests,
        share: &(dyn Fn(&Arc<str>) -> Arc<str> + Sync),
    ) -> Result<Vec<ScimUser>, ScimError> {
        self.list_all(
            "listing workspace users",
            "Users",
            USER_ATTRIBUTES,
            |u: &ScimUser| &u.id,
            requests,
            |mut user: ScimUser| {
                user.user_name = share(&user.user_name);
                user
            },
        )
        .await
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
        let filter = format!("userName eq {}", listing::literal(user_name));
        let found: Vec<ScimUser> = self
            .filtered(&operation, "Users", &filter, USER_ATTRIBUTES, requests)
            .await?;
        Ok(found
            .into_iter()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name)))
    }

    /// Creates an active user, with `externalId` = its Entra object id when one is given (what the
    /// Entra provisioning connector sets, and what Databricks' automatic identity management links by).
    ///
    /// # Errors
    /// Any refusal but 409 (which means the user exists).
    pub async fn create_user(
        &self,
        user_name: &str,
        display_name: &str,
        external_id: Option<&uuid::Uuid>,
        requests: &Requests,
    ) -> Result<Created, ScimError> {
        let operation = format!("creating user {user_name}");
        let mut body =
            json!({ "schemas": [USER_SCHEMA], "userName": user_name, "displayName": display_name });
        if let Some(id) = external_id {
            body["externalId"] = json!(id.hyphenated().to_string());
        }
        match self.post(&operation, "Users", &body, requests).await {
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
        let operation = format!("{} user {user_name}", activation_verb(active));
        let url = self.resource_url("Users", id);
        let result = self.patch_active(&operation, &url, active, requests).await;
        match result {
            Err(ScimError::Api(source)) if active => Err(account_deactivated(user_name, source)),
            other => other,
        }
    }

    /// PATCHes `active` in Databricks' form ([`replace_active`]). A server that follows RFC 7644 to the
    /// letter (`active` a single boolean) refuses a list with a 400; the same change is then sent once
    /// more as the RFC's bare boolean, so that any SCIM server can be kept in step. If that is refused
    /// too, the first refusal (to the documented form) is the error.
    pub(crate) async fn patch_active(
        &self,
        operation: &str,
        url: &Url,
        active: bool,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        match self
            .patch(operation, url, replace_active(active), requests)
            .await
        {
            Err(refused) if refused.status() == Some(400) => self
                .patch(operation, url, replace_active_rfc(active), requests)
                .await
                .map_err(|_| refused),
            other => other,
        }
    }

    /// Deletes a user from the workspace. A user that is not there (404) counts as deleted.
    ///
    /// # Errors
    /// The workspace refused.
    pub async fn delete_user(
        &self,
        id: &str,
        user_name: &str,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let operation = format!("removing user {user_name}");
        self.delete(&operation, &self.resource_url("Users", id), requests)
            .await
    }
}

/// Each attempt waits for the workspace's pace; after the wait, one that would go to a workspace that
/// stopped answering is not sent.
impl http::Pace for Scim {
    type Ticket = Admission;

    async fn admit(&self) -> Result<Admission, String> {
        let admission = self.pacer.admit().await;
        match self.stopped.get() {
            Some(why) => Err(format!("not sent: the workspace stopped answering ({why})")),
            None => Ok(admission),
        }
    }

    fn answered(
        &self,
        admission: Admission,
        status: Option<reqwest::StatusCode>,
        retry_after: Option<Duration>,
    ) {
        let answer = Answer::of(status, retry_after);
        if self
            .pacer
            .answered(admission, answer, tokio::time::Instant::now())
        {
            tracing::warn!(
                api = API,
                "the workspace throttled (429): its pace is cut to {:.2} requests/s of {}, nothing sent for {} ms",
                self.pacer.rate(),
                self.pacer.ceiling(),
                retry_after.unwrap_or(Duration::from_secs(1)).as_millis()
            );
        }
    }
}

fn activation_verb(active: bool) -> &'static str {
    if active {
        "reactivating"
    } else {
        "deactivating"
    }
}

/// The PATCH operations that set `active`, in the form Databricks' own clients send: the value as a
/// list of one `{"value": "true"|"false"}` (the Terraform provider's `PatchRequestWithValue("replace",
/// "active", "false")`, the Databricks knowledge base's reactivation), never a bare JSON boolean, which no
/// Databricks source shows (docs/api-contract.md).
fn replace_active(active: bool) -> Value {
    json!([{ "op": "replace", "path": "active", "value": [{ "value": active.to_string() }] }])
}

/// The same in RFC 7644's form (`active` is a single boolean): only after a 400 to [`replace_active`].
fn replace_active_rfc(active: bool) -> Value {
    json!([{ "op": "replace", "path": "active", "value": active }])
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
