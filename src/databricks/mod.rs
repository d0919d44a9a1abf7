//! The Databricks SCIM API of one workspace (`/api/2.0/preview/scim/v2`, with the workspace's token)
//! or of the Databricks account (`/api/2.0/accounts/{account_id}/scim/v2` on the accounts host, with
//! the app's Entra token: [`Level`]; the account is what identity federation provisions into, and
//! what account mode will write, issue 17). This file is the client core: the `Scim` client, sending (the bearer, the pace, a
//! workspace that stopped answering), POST, PATCH and DELETE, and `ScimError`. Users and service
//! principals go through one path (`principals.rs`: list, find, create, set `active`, delete, the two
//! kinds told apart by a small table; their listed types in `users.rs` and `service_principals.rs`);
//! groups are in `groups.rs` (with their members' kinds, for admin protection, `nested.rs`), `/Me` in
//! `me.rs`, paging and filters in `listing.rs`, the credential in `bearer.rs`.
//! Only this module knows the SCIM wire format. Every request, retries included, waits for the
//! workspace's pace first (`pace.rs`: `scimRequestsPerSecond` is its ceiling; a 429 halves it and holds
//! the workspace for its `Retry-After`, clean answers grow it back), so one run never floods a workspace;
//! the account, which documents a limit per kind of call, has one such pace per kind ([`AccountPace`]).
//! The `parse_*` functions read one answer body the way the client does, without a workspace (the
//! fuzz targets in `fuzz/` use them).

mod assignments;
mod bearer;
mod groups;
mod listing;
mod me;
mod nested;
pub mod pace;
mod principals;
mod refusals;
mod service_principals;
mod users;

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use crate::config::{AccountRates, WorkspaceUrl};
use crate::http::{self, Api, ApiError, Requests};
use pace::{Admission, Answer, Pacer};
use refusals::account_deactivated_words;

pub use crate::principal::{ExternalId, PrincipalKind, ScimId};
pub use assignments::{Assignee, Assignment, Assignments, Permission, parse_assignments};
pub use bearer::{Bearer, DATABRICKS_SCOPE};
pub use groups::{GroupKind, MAX_MEMBERS_PER_PATCH, ScimGroup, parse_group, parse_group_page};
pub use listing::{ListPage, parse_list_page};
pub use me::{Me, parse_me};
pub use nested::{ClassifiedGroup, GroupMember, MemberKind, parse_classified_group};
pub use principals::{Created, Found, Principals, Resource};
pub use service_principals::ScimServicePrincipal;
pub use users::ScimUser;

const API: Api = Api::Databricks;
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Why a SCIM call failed, in words an operator can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScimError {
    #[error("the {} refused {credential} (HTTP 401: {hint})", level.place())]
    Unauthorized {
        level: Level,
        credential: &'static str,
        hint: &'static str,
        source: ApiError,
    },
    #[error(
        "{credential} may not manage users, groups or service principals in this {} ({source}): {needs}",
        level.place()
    )]
    Forbidden {
        level: Level,
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

    /// Whether the answer was 404: no such resource there.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Where a SCIM client's principals live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// One workspace's own SCIM API (`/api/2.0/preview/scim/v2`).
    Workspace,
    /// The Databricks account's SCIM API (`/api/2.0/accounts/{account_id}/scim/v2`): one identity for
    /// every workspace of the account.
    Account,
}

impl Level {
    /// "workspace", "Databricks account": where a refusal came from.
    fn place(self) -> &'static str {
        match self {
            Level::Workspace => "workspace",
            Level::Account => "Databricks account",
        }
    }

    /// "workspace", "account": what a listing is of.
    fn noun(self) -> &'static str {
        match self {
            Level::Workspace => "workspace",
            Level::Account => "account",
        }
    }
}

/// What kind of call a request is: the account documents a rate limit per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    /// One resource read by id (`GET …/Groups/{id}`, `/Me`).
    Get,
    /// A listing or a filtered look-up (`GET …/Users?…`, a workspace's permission assignments).
    List,
    Patch,
    /// POST, PUT, DELETE.
    Write,
}

/// The account's ceilings per kind of call, requests per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountPace {
    pub get: f64,
    pub list: f64,
    pub patch: f64,
    pub write: f64,
}

impl AccountPace {
    /// The account's pace: the documented limits per kind of call ([`AccountPace::default`]), or the
    /// configured ceilings (`account.requestsPerSecond`: one for every kind, or per kind with the
    /// others left at their default).
    pub fn configured(rates: Option<AccountRates>) -> AccountPace {
        let documented = AccountPace::default();
        match rates {
            None => documented,
            Some(AccountRates::Every(rate)) => AccountPace::uniform(rate),
            Some(AccountRates::PerKind(rates)) => AccountPace {
                get: rates.get.unwrap_or(documented.get),
                list: rates.list.unwrap_or(documented.list),
                patch: rates.patch.unwrap_or(documented.patch),
                write: rates.write.unwrap_or(documented.write),
            },
        }
    }

    /// `GET 18/s, LIST 3.6/s, PATCH 1.8/s, POST/PUT/DELETE 4.5/s`.
    pub fn describe(&self) -> String {
        format!(
            "GET {}/s, LIST {}/s, PATCH {}/s, POST/PUT/DELETE {}/s",
            self.get, self.list, self.patch, self.write
        )
    }

    /// The same ceiling for every kind of call.
    pub fn uniform(requests_per_second: f64) -> AccountPace {
        AccountPace {
            get: requests_per_second,
            list: requests_per_second,
            patch: requests_per_second,
            write: requests_per_second,
        }
    }
}

/// 90 % of the account SCIM limits as transcribed from Databricks' "Resource limits" page (GET 20/s,
/// LIST 240/min, PATCH 2/s, POST/PUT/DELETE 5/s; docs/api-contract.md, "Databricks account": the
/// table itself could not be read, so the client stays below it); permission assignment PUTs fall
/// under writes (5/s in Databricks Labs' ucx, "as per docs").
impl Default for AccountPace {
    fn default() -> Self {
        AccountPace {
            get: 18.0,
            list: 3.6,
            patch: 1.8,
            write: 4.5,
        }
    }
}

/// A client's pace: one for every call to a workspace (its one documented limit, for GET, paces
/// everything), one per kind of call at the account.
enum Paces {
    One(Pacer),
    /// Get, List, Patch, Write.
    PerKind(Box<[Pacer; 4]>),
}

impl Paces {
    fn of(&self, kind: CallKind) -> &Pacer {
        match self {
            Paces::One(pacer) => pacer,
            Paces::PerKind(pacers) => &pacers[kind as usize],
        }
    }
}

/// SCIM client of one workspace or of the account, for one sync. Holds the token; has no `Debug`.
pub struct Scim {
    client: reqwest::Client,
    level: Level,
    base: Url,
    bearer: Bearer,
    paces: Paces,
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
        let pace = Paces::One(Pacer::new(requests_per_second, Instant::now()));
        Scim::at(client, Level::Workspace, base, bearer, pace)
    }

    /// The SCIM client of the Databricks account `account_id` at `accounts_host`
    /// (`https://accounts.azuredatabricks.net` in Azure's public cloud), authorised by an Entra token
    /// of an account admin.
    pub fn account(
        client: reqwest::Client,
        accounts_host: &Url,
        account_id: &str,
        bearer: Bearer,
        pace: AccountPace,
    ) -> Scim {
        let mut base = accounts_host.clone();
        base.set_query(None);
        base.set_fragment(None);
        if let Ok(mut path) = base.path_segments_mut() {
            path.clear()
                .extend(["api", "2.0", "accounts", account_id, "scim", "v2", ""]);
        }
        let now = Instant::now();
        let paces = Paces::PerKind(Box::new(
            [pace.get, pace.list, pace.patch, pace.write].map(|rate| Pacer::new(rate, now)),
        ));
        Scim::at(client, Level::Account, base, bearer, paces)
    }

    fn at(client: reqwest::Client, level: Level, base: Url, bearer: Bearer, paces: Paces) -> Scim {
        Scim {
            client,
            level,
            base,
            bearer,
            paces,
            stopped: OnceLock::new(),
        }
    }

    /// Where this client's principals live.
    pub fn level(&self) -> Level {
        self.level
    }

    /// How many independent writes to keep in flight so that the pace, not the round trip, bounds it: a
    /// quarter of a second's worth at the ceiling (round trips up to 250 ms), at least 4, at most 16.
    /// Each is a connection with its buffers (64 in five workspaces held 10 MiB); 16 still keep 1,000
    /// writes/s with round trips up to 16 ms. At the default ceiling (Databricks' documented 255
    /// requests a minute) it is 4: more would only wait in the pace's queue, and after a 429 every
    /// write in flight waits for the hold anyway.
    pub fn writes_in_flight(&self) -> usize {
        let ceiling = self.paces.of(CallKind::Patch).ceiling();
        ((ceiling / 4.0).ceil() as usize).clamp(4, 16)
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
        kind: CallKind,
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
        let paced = Paced {
            scim: self,
            pacer: self.paces.of(kind),
        };
        http::send_paced(&paced, API, operation, requests, build, scim_error)
            .await
            .map_err(|e| {
                if e.gave_up() {
                    let _ = self.stopped.set(e.to_string());
                }
                self.bearer.refusal(e, self.level)
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
        self.send(CallKind::Write, operation, requests, post).await
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
        self.send(CallKind::Patch, operation, requests, patch)
            .await
            .map(drop)
    }

    /// DELETEs a resource; 404 means it is gone already, which is what was asked.
    async fn delete(
        &self,
        operation: &str,
        url: &Url,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        match self
            .send(CallKind::Write, operation, requests, || {
                self.client.delete(url.clone())
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// One request's pace: the client's pacer for its kind of call.
struct Paced<'a> {
    scim: &'a Scim,
    pacer: &'a Pacer,
}

/// Each attempt waits for its pace; after the wait, one that would go to a workspace (or account)
/// that stopped answering is not sent.
impl http::Pace for Paced<'_> {
    type Ticket = Admission;

    async fn admit(&self) -> Result<Admission, String> {
        let admission = self.pacer.admit().await;
        match self.scim.stopped.get() {
            Some(why) => Err(format!(
                "not sent: the {} stopped answering ({why})",
                self.scim.level.place()
            )),
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
        if self.pacer.answered(admission, answer, Instant::now()) {
            tracing::warn!(
                api = API.name(),
                "the {} throttled (429): its pace is cut to {:.2} requests/s of {}, nothing sent for {} ms",
                self.scim.level.place(),
                self.pacer.rate(),
                self.pacer.ceiling(),
                retry_after.unwrap_or(Duration::from_secs(1)).as_millis()
            );
        }
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
