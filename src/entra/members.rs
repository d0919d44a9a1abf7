//! Members of a group, transitive (`/transitiveMembers`, nesting flattened by Graph) or direct
//! (`/members`), cast to one type: users (`microsoft.graph.user`) or service principals
//! (`microsoft.graph.servicePrincipal`). Each listing asks for `$select`, `$top=999` and `$count`, and
//! follows `@odata.nextLink` to the end; paging that does not end (a repeated link, more pages than any
//! real listing) and pages that hold fewer items than the listing's `@odata.count` are errors, never a
//! truncated list.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::{Graph, GraphError, Group, Page};
use crate::http::{self, ApiError, Requests};

/// Pages one member listing may take before it is cut off as a loop (999 members a page).
const MAX_PAGES: usize = 2_000;
/// Members asked for per page (Graph's maximum `$top`).
const PAGE_SIZE: usize = 999;

/// Room to reserve for a listing whose first page announced `count` items: exactly that, so a large
/// group's list is not grown by doubling (which leaves up to half of it unused for the whole run), but
/// never more than paging could deliver, so a wrong count cannot make the client allocate much.
fn room_for(count: Option<u64>) -> usize {
    count
        .and_then(|c| usize::try_from(c).ok())
        .map_or(0, |c| c.min(MAX_PAGES * PAGE_SIZE))
}
const USER_FIELDS: &str = "id,userPrincipalName,mail,displayName,accountEnabled,userType";
const SERVICE_PRINCIPAL_FIELDS: &str = "id,appId,displayName,accountEnabled";

/// A user member of a group, with the fields that decide its Databricks user name. A run keeps each
/// person once ([`People`]) and shares the strings (`Arc`) with what is made of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: ObjectId,
    #[serde(default)]
    pub user_principal_name: Option<Arc<str>>,
    #[serde(default)]
    pub mail: Option<Arc<str>>,
    #[serde(default)]
    pub display_name: Option<Arc<str>>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub user_type: Option<UserType>,
}

/// An Entra object id: a GUID, kept in 16 bytes (a run holds one per person); any other text as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectId {
    Guid(uuid::Uuid),
    Text(Arc<str>),
}

impl From<&str> for ObjectId {
    fn from(text: &str) -> Self {
        match uuid::Uuid::parse_str(text) {
            // Only the form Graph writes (lower case, hyphenated) is kept as a GUID: the text round-trips.
            Ok(id) if id.hyphenated().to_string() == text => ObjectId::Guid(id),
            _ => ObjectId::Text(Arc::from(text)),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectId::Guid(id) => id.hyphenated().fmt(f),
            ObjectId::Text(text) => f.write_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ObjectId::from(text.as_ref()))
    }
}

/// `userType`: only whether the member is a guest matters (guests sign in with their mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    Member,
    Guest,
}

impl From<&str> for UserType {
    fn from(text: &str) -> Self {
        if text.eq_ignore_ascii_case("guest") {
            UserType::Guest
        } else {
            UserType::Member
        }
    }
}

impl<'de> Deserialize<'de> for UserType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(UserType::from(text.as_ref()))
    }
}

/// The user members read in one run, each person kept once however many groups (and nesting levels)
/// list them: a group's list is then pointers to shared members.
#[derive(Debug, Default)]
pub struct People {
    known: Mutex<HashSet<Known>>,
}

/// A kept member, found by its id.
#[derive(Debug)]
struct Known(Arc<Member>);

impl PartialEq for Known {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Known {}

impl Hash for Known {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl Borrow<ObjectId> for Known {
    fn borrow(&self) -> &ObjectId {
        &self.0.id
    }
}

impl People {
    /// The member kept for this member's id: the first one read in the run.
    pub fn keep(&self, mut member: Member) -> Arc<Member> {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = known.get(&member.id) {
            return Arc::clone(&kept.0);
        }
        // Most members' mail is their user principal name: keep that text once.
        if let (Some(upn), Some(mail)) = (&member.user_principal_name, &member.mail)
            && upn == mail
        {
            member.mail = Some(Arc::clone(upn));
        }
        let member = Arc::new(member);
        known.insert(Known(Arc::clone(&member)));
        member
    }

    /// Forgets every member (those still used elsewhere live on there).
    pub fn clear(&self) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        *known = HashSet::new();
    }
}

/// A service principal member of a group; its `appId` is the Databricks `applicationId`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalMember {
    /// The Entra object id.
    pub id: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
}

impl Graph {
    /// Every user member of the group: through nested groups when `nested`, else direct members only.
    ///
    /// # Errors
    /// Graph could not be read to the end; a partial list is never returned.
    pub async fn user_members(
        &self,
        group: &Group,
        nested: bool,
        requests: &Requests,
        people: &People,
    ) -> Result<Vec<Arc<Member>>, GraphError> {
        let operation = format!("listing members of group {:?}", group.display_name);
        self.members(
            operation,
            group,
            nested,
            ("microsoft.graph.user", USER_FIELDS),
            requests,
            |member| people.keep(member),
        )
        .await
    }

    /// Every service principal member of the group: through nested groups when `nested`, else direct
    /// members only.
    ///
    /// # Errors
    /// Graph could not be read to the end; a partial list is never returned.
    pub async fn service_principal_members(
        &self,
        group: &Group,
        nested: bool,
        requests: &Requests,
    ) -> Result<Vec<ServicePrincipalMember>, GraphError> {
        let operation = format!(
            "listing service principal members of group {:?}",
            group.display_name
        );
        self.members(
            operation,
            group,
            nested,
            ("microsoft.graph.servicePrincipal", SERVICE_PRINCIPAL_FIELDS),
            requests,
            |member| member,
        )
        .await
    }

    /// The members of one type, `(cast, $select)`, read to the end, each made into what is kept.
    async fn members<T: DeserializeOwned, U>(
        &self,
        operation: String,
        group: &Group,
        nested: bool,
        (cast, fields): (&str, &str),
        requests: &Requests,
        keep: impl FnMut(T) -> U,
    ) -> Result<Vec<U>, GraphError> {
        let relation = if nested {
            "transitiveMembers"
        } else {
            "members"
        };
        let mut url = self.url(&["groups", &group.id, relation, cast]);
        url.query_pairs_mut()
            .append_pair("$select", fields)
            .append_pair("$top", &PAGE_SIZE.to_string())
            .append_pair("$count", "true");
        self.all_pages(operation, url, requests, keep).await
    }

    /// The items of `first` and of every page after it, following `@odata.nextLink` as given (it carries
    /// Graph's own skip token); `ConsistencyLevel` is sent on every page.
    ///
    /// # Errors
    /// A page could not be read, a next link is not a URL, paging does not end, or the pages hold
    /// fewer items than the listing's `@odata.count` (a page that lost items): a partial list is never
    /// returned, because deprovisioning decisions rest on it.
    async fn all_pages<T: DeserializeOwned, U>(
        &self,
        operation: String,
        first: Url,
        requests: &Requests,
        mut keep: impl FnMut(T) -> U,
    ) -> Result<Vec<U>, GraphError> {
        let protocol = |cause: String| {
            GraphError::Api(ApiError::Protocol {
                operation: operation.clone(),
                cause,
            })
        };
        let mut items = Vec::new();
        let mut counted = None;
        let mut seen_links = HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if !seen_links.insert(url.to_string()) {
                return Err(protocol(format!(
                    "paging did not end: @odata.nextLink leads back to a page already read (after {} page(s))",
                    seen_links.len()
                )));
            }
            if seen_links.len() > MAX_PAGES {
                return Err(protocol(format!(
                    "paging did not end after {MAX_PAGES} pages (an endless @odata.nextLink)"
                )));
            }
            let page: Page<T> = {
                // The semaphore is never closed; without a permit the page is read all the same.
                let _reading = self.pages.acquire().await.ok();
                let response = self.get(&operation, &url, requests).await?;
                http::json(&operation, response).await?
            };
            counted = counted.or(page.count);
            next = page.next_url().map_err(|e| ApiError::Decode {
                operation: operation.clone(),
                cause: format!("@odata.nextLink is not a URL: {e}"),
            })?;
            if items.is_empty() {
                items.reserve_exact(room_for(page.count).max(page.value.len()));
            }
            items.extend(page.value.into_iter().map(&mut keep));
        }
        // Members that join during the listing can make it longer than the count; never shorter,
        // unless members left in the seconds it took (the next run then reads it whole).
        if let Some(counted) = counted.filter(|&c| c > items.len() as u64) {
            return Err(protocol(format!(
                "the listing is incomplete: Graph counted {counted} (@odata.count) but its pages held {}",
                items.len()
            )));
        }
        // A count that was missing or too small left slack from doubling; the list lives for the run.
        items.shrink_to_fit();
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_reserved_is_the_announced_count_but_never_more_than_paging_can_deliver() {
        assert_eq!(room_for(Some(12_345)), 12_345);
        assert_eq!(room_for(None), 0);
        assert_eq!(room_for(Some(u64::MAX)), MAX_PAGES * PAGE_SIZE);
    }

    #[test]
    fn the_first_page_count_is_read_and_later_pages_have_none() {
        let first: Page<serde_json::Value> =
            serde_json::from_str(r#"{"@odata.count": 1500, "value": [{"id": "1"}], "@odata.nextLink": "https://x/next"}"#)
                .unwrap();
        let later: Page<serde_json::Value> = serde_json::from_str(r#"{"value": []}"#).unwrap();
        assert_eq!((first.count, later.count), (Some(1500), None));
    }
}
