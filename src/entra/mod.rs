//! Microsoft Graph, for reading Entra ID groups: resolve a configured group (display name or object
//! id) here, and list its user or service principal members, transitive or direct (`members.rs`).
//! Object ids are `principal::ObjectId` (re-exported here).
//! Only this module knows Graph's wire format (`$filter` quoting, `@odata.nextLink` paging,
//! `ConsistencyLevel`, error JSON).
//! The `parse_*` functions read one answer body the way the client does, without Graph (the fuzz
//! targets in `fuzz/` use them).

mod members;
mod subscriptions;

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::GroupRef;
use crate::http::{self, Api, ApiError, Requests};

pub use crate::principal::ObjectId;
pub use members::{Listed, Member, People, Person, ServicePrincipalMember, Shortfall, UserType};
pub use subscriptions::Subscription;

const API: Api = Api::Graph;
/// Member pages read at once, over the whole run. A page of 999 members is about 250 KB of JSON plus
/// the connection's read buffer (up to 400 KB): 20 groups read at once held 16 MB of it at 100,000
/// users. Eight keep Graph's latency hidden (BENCHMARKS.md) and stay well inside its throttling limits.
const PAGES_IN_FLIGHT: usize = 8;

/// A group as found in Entra ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: String,
}

/// Why a group could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    #[error("Entra ID group {reference:?} was not found")]
    GroupNotFound { reference: String },
    #[error("Entra ID group name {reference:?} is ambiguous: {} groups have it ({}); use the object id instead", .candidates.len(), .candidates.join(", "))]
    AmbiguousGroup {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("Microsoft Graph refused the app's identity ({source}): {needs}")]
    Forbidden {
        source: ApiError,
        /// The missing permission and where to grant it ([`Call::needs`]).
        needs: &'static str,
    },
    #[error("Microsoft Graph: {0}")]
    Api(#[from] ApiError),
    #[error("cannot get a token for Microsoft Graph: {0}")]
    Token(String),
}

/// What a Graph request is for, so that a 403 names the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// `GET groups?$filter=displayName eq '…'` or `GET groups/{id}`.
    FindGroup,
    /// `GET groups/{id}/transitiveMembers/…` or `…/members/…`, and their next pages.
    ListMembers,
    /// `GET|POST /subscriptions`, `PATCH|DELETE /subscriptions/{id}` (change notifications on groups).
    Subscriptions,
    /// Creating or renewing a subscription on a group.
    Subscribe,
}

/// Where a Microsoft Graph application permission is granted to the app's identity (a macro, so that
/// `concat!` can join it to each call's words).
macro_rules! grant {
    () => {
        "Graph permissions are granted to the app's managed identity as application permissions (app \
         roles) of Microsoft Graph: the deployment does so (grantGraphAppRoles), or see docs/deploy.md, \"Grant the Microsoft \
         Graph roles without Bicep\""
    };
}

impl Call {
    /// The least-privileged application permission for the call, as Microsoft Learn lists it ("List
    /// groups", "Get group", "List group members", "List group transitive members";
    /// docs/api-contract.md), and where to grant it.
    fn needs(self) -> &'static str {
        match self {
            Call::FindGroup => concat!(
                "looking up a group by name or object id needs the application permission \
                 GroupMember.Read.All (the least privileged; Group.Read.All or Directory.Read.All also \
                 allow it); ",
                grant!()
            ),
            Call::ListMembers => concat!(
                "listing a group's members needs the application permission GroupMember.Read.All (the \
                 least privileged; Group.Read.All or Directory.Read.All also allow it), and \
                 Member.Read.Hidden for a group whose membership is hidden; ",
                grant!()
            ),
            Call::Subscriptions | Call::Subscribe => concat!(
                "change notifications on a group need the application permission Group.Read.All \
                 (Microsoft Graph, \"Create subscription\": GroupMember.Read.All is not enough); ",
                grant!()
            ),
        }
    }

    /// A refusal of this call, in words: a 403 names what is missing.
    fn refused(self, error: ApiError) -> GraphError {
        match error.status() {
            Some(403) => GraphError::Forbidden {
                source: error,
                needs: self.needs(),
            },
            _ => GraphError::Api(error),
        }
    }
}

/// One page of a Graph collection, as the client reads it.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// `value`; an empty page may leave it out.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// `@odata.nextLink`: the next page, when there is one.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    /// The listing's size (first page only, when `$count=true` was asked).
    #[serde(rename = "@odata.count", default)]
    pub count: Option<u64>,
}

impl<T> Page<T> {
    /// The next page's URL, as given (it carries Graph's own skip token).
    ///
    /// # Errors
    /// `@odata.nextLink` is not a URL.
    pub fn next_url(&self) -> Result<Option<Url>, url::ParseError> {
        self.next_link.as_deref().map(Url::parse).transpose()
    }
}

/// Reads the body of a Graph page (members: [`Member`], [`ServicePrincipalMember`]) exactly as the
/// client does.
///
/// # Errors
/// The body is not a page of `T`.
pub fn parse_page<T: DeserializeOwned>(body: &[u8]) -> Result<Page<T>, serde_json::Error> {
    serde_json::from_slice(body)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupItem {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

impl From<GroupItem> for Group {
    fn from(item: GroupItem) -> Group {
        Group {
            display_name: item.display_name.unwrap_or_default(),
            id: item.id,
        }
    }
}

/// Reads the answer to a group look-up by object id (`GET /groups/{id}`) exactly as
/// [`Graph::resolve`] does.
///
/// # Errors
/// The body is not a group with an `id`.
pub fn parse_group(body: &[u8]) -> Result<Group, serde_json::Error> {
    serde_json::from_slice::<GroupItem>(body).map(Group::from)
}

/// Reads the answer to a group look-up by display name (a page of groups) exactly as
/// [`Graph::resolve`] does: every group listed.
///
/// # Errors
/// The body is not a page of groups.
pub fn parse_group_page(body: &[u8]) -> Result<Page<Group>, serde_json::Error> {
    let page: Page<GroupItem> = parse_page(body)?;
    Ok(Page {
        value: page.value.into_iter().map(Group::from).collect(),
        next_link: page.next_link,
        count: page.count,
    })
}

/// A Microsoft Graph client for one endpoint (public or national cloud).
#[derive(Clone)]
pub struct Graph {
    client: reqwest::Client,
    base: Url,
    scope: String,
    credential: Arc<dyn TokenCredential>,
    /// Permits for [`PAGES_IN_FLIGHT`].
    pages: Arc<tokio::sync::Semaphore>,
}

impl Graph {
    /// `endpoint` is `https://graph.microsoft.com` or a national cloud's equivalent.
    pub fn new(
        client: reqwest::Client,
        endpoint: &Url,
        credential: Arc<dyn TokenCredential>,
    ) -> Graph {
        let root = endpoint.as_str().trim_end_matches('/');
        let base = Url::parse(&format!("{root}/v1.0/")).unwrap_or_else(|_| endpoint.clone());
        Graph {
            client,
            base,
            scope: format!("{root}/.default"),
            credential,
            pages: Arc::new(tokio::sync::Semaphore::new(PAGES_IN_FLIGHT)),
        }
    }

    /// The token scope of this endpoint (`https://graph.microsoft.com/.default`).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    async fn token(&self) -> Result<String, GraphError> {
        let token = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| GraphError::Token(e.to_string()))?;
        Ok(token.token.secret().to_owned())
    }

    async fn get(
        &self,
        call: Call,
        operation: &str,
        url: &Url,
        requests: &Requests,
    ) -> Result<reqwest::Response, GraphError> {
        let token = self.token().await?;
        let build = || {
            self.client
                .get(url.clone())
                .bearer_auth(&token)
                .header("ConsistencyLevel", "eventual")
                .header("Accept", "application/json")
        };
        http::send_paced(&http::Unpaced, API, operation, requests, build, graph_error)
            .await
            .map_err(|e| call.refused(e))
    }

    /// Finds the configured group.
    ///
    /// # Errors
    /// No such group, several groups with that name, or Graph could not be read.
    pub async fn resolve(
        &self,
        reference: &GroupRef,
        requests: &Requests,
    ) -> Result<Group, GraphError> {
        let operation = format!("looking up group {:?}", reference.to_string());
        match reference {
            GroupRef::ObjectId(id) => {
                let mut url = self.url(&["groups", &id.to_string()]);
                url.query_pairs_mut()
                    .append_pair("$select", "id,displayName");
                match self.get(Call::FindGroup, &operation, &url, requests).await {
                    Ok(response) => {
                        let item: GroupItem = http::json(&operation, response).await?;
                        Ok(item.into())
                    }
                    Err(GraphError::Api(e)) if e.status() == Some(404) => {
                        Err(GraphError::GroupNotFound {
                            reference: reference.to_string(),
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            GroupRef::DisplayName(name) => {
                let mut url = self.url(&["groups"]);
                url.query_pairs_mut()
                    .append_pair(
                        "$filter",
                        &format!("displayName eq '{}'", name.replace('\'', "''")),
                    )
                    .append_pair("$select", "id,displayName");
                let response = self
                    .get(Call::FindGroup, &operation, &url, requests)
                    .await?;
                let page: Page<GroupItem> = http::json(&operation, response).await?;
                match page.value.as_slice() {
                    [] => Err(GraphError::GroupNotFound {
                        reference: name.clone(),
                    }),
                    [one] => Ok(one.clone().into()),
                    many => Err(GraphError::AmbiguousGroup {
                        reference: name.clone(),
                        candidates: many.iter().map(|g| g.id.clone()).collect(),
                    }),
                }
            }
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// Graph's error JSON: `{"error": {"code", "message"}}`.
fn graph_error(body: &str) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(e) => (e.error.code, e.error.message.unwrap_or_default()),
        Err(_) => (None, body.chars().take(200).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(operation: &str, status: u16) -> ApiError {
        ApiError::Status {
            operation: operation.to_owned(),
            status,
            code: Some("Authorization_RequestDenied".to_owned()),
            message: "Insufficient privileges to complete the operation.".to_owned(),
            request_id: None,
            attempts: 1,
        }
    }

    #[test]
    fn a_403_names_the_least_privileged_permission_of_the_call_and_where_to_grant_it() {
        let cases: [(Call, &str, &[&str], Option<&str>); 2] = [
            (
                Call::FindGroup,
                "looking up group \"Finance\"",
                &[
                    "looking up group \"Finance\": HTTP 403 Authorization_RequestDenied",
                    "GroupMember.Read.All (the least privileged",
                    "Group.Read.All",
                    "app's managed identity",
                    "Grant the Microsoft Graph roles without Bicep",
                ],
                Some("Member.Read.Hidden"),
            ),
            (
                Call::ListMembers,
                "listing members of group \"Finance\"",
                &[
                    "listing members of group \"Finance\": HTTP 403",
                    "GroupMember.Read.All (the least privileged",
                    "Member.Read.Hidden for a group whose membership is hidden",
                    "app's managed identity",
                ],
                None,
            ),
        ];
        for (call, operation, needles, absent) in cases {
            let words = call.refused(refused(operation, 403)).to_string();
            crate::testing::assert_says(&words, needles);
            if let Some(absent) = absent {
                assert!(!words.contains(absent), "{words}");
            }
        }
    }

    #[test]
    fn other_refusals_are_not_said_to_be_a_missing_permission() {
        for status in [401, 404, 429, 500] {
            let error = Call::ListMembers.refused(refused("listing", status));
            assert!(matches!(error, GraphError::Api(_)), "{status}: {error}");
        }
    }
}
