//! Reading SCIM lists: the ListResponse envelope (`Resources` in either case, `totalResults` optional),
//! whole listings paged by `startIndex`/`count` (advancing by what was received, each id kept once, a
//! contradicted `totalResults` ignored, cut off when paging does not advance or does not end),
//! filtered look-ups, and filter string literals. `Scim::list_all` asks for the pages; `Listing::take`
//! decides, page by page, whether the listing is complete, goes on, or cannot be trusted.

use hashbrown::HashTable;
use std::hash::BuildHasher;

use futures::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::{CallKind, Level, Scim, ScimError, ScimId};
use crate::http::{self, ApiError, Requests};

/// Resources asked for per page of a workspace (the Go SDK's value; the server may send fewer).
const PAGE_SIZE: usize = 10_000;
/// Resources asked for per page of the account: the REST reference gives `count` "<= 100" for the
/// account's lists (docs/api-contract.md, "Databricks account").
const ACCOUNT_PAGE_SIZE: usize = 100;
/// Pages one listing may take before it is cut off: at the account's 100 a page, 100,000 principals,
/// ten times the documented 10,000 users and service principals per account.
const MAX_PAGES: usize = 1_000;
/// Pages of the account asked for at once once the first page's `totalResults` says how many follow:
/// at 100 a page, one after another, 20,000 users take 200 round trips; the pace still decides how
/// fast they go (at the documented 240 LISTs a minute, concurrency changes nothing). 12, not more:
/// each page in flight holds a connection and its buffers (at 100,000 users 16 cost the steady run
/// about 1.5 MiB of resident memory; 8 left the 20,000-user steady run at 1 s; BENCHMARKS.md).
const ACCOUNT_PAGES_AT_ONCE: usize = 12;
/// Most resources reserved for ahead of time from a first page's `totalResults` (twenty full pages):
/// a wrong total cannot make the client allocate much.
const MAX_RESERVED: usize = 20 * PAGE_SIZE;

/// The ids listed so far: a table of positions in the items kept (four bytes each, where a set of ids
/// would copy every id of a workspace of 100,000 users, and a map from hash to position took sixteen);
/// an id is compared with the item a position stands for, so a hash collision never drops a resource.
struct Seen<S = std::hash::RandomState> {
    at: HashTable<u32>,
    state: S,
}

impl<S: BuildHasher + Default> Default for Seen<S> {
    fn default() -> Self {
        Seen {
            at: HashTable::new(),
            state: S::default(),
        }
    }
}

impl<S: BuildHasher> Seen<S> {
    /// Whether `id` is new; `items` are those kept so far (the next one kept is at `items.len()`).
    fn insert<T>(&mut self, id: &ScimId, items: &[T], id_of: fn(&T) -> &ScimId) -> bool {
        let hash = self.state.hash_one(id);
        let item = |at: u32| id_of(&items[at as usize]);
        if self.at.find(hash, |&at| item(at) == id).is_some() {
            return false;
        }
        // At most MAX_PAGES pages of PAGE_SIZE: far below u32::MAX.
        let next = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let state = &self.state;
        self.at
            .insert_unique(hash, next, |&at| state.hash_one(item(at)));
        true
    }

    /// Room for `more` ids.
    fn reserve<T>(&mut self, more: usize, items: &[T], id_of: fn(&T) -> &ScimId) {
        let state = &self.state;
        (self.at).reserve(more, |&at| state.hash_one(id_of(&items[at as usize])));
    }
}

/// One page of a SCIM ListResponse, as the client reads it.
#[derive(Debug, Deserialize)]
pub struct ListPage<T> {
    /// `totalResults`, when the server sends it.
    #[serde(rename = "totalResults", default)]
    pub total_results: Option<usize>,
    /// `Resources`: some servers spell it in lower case; an empty page may leave it out.
    #[serde(rename = "Resources", alias = "resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

/// Reads the body of a SCIM list answer (users: [`ScimUser`](super::ScimUser), service principals:
/// [`ScimServicePrincipal`](super::ScimServicePrincipal)) exactly as the client does.
///
/// # Errors
/// The body is not a ListResponse of `T`.
pub fn parse_list_page<T: DeserializeOwned>(body: &[u8]) -> Result<ListPage<T>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// A listing being read: what was kept, the ids seen, where the next page starts, and whether the
/// pages so far agree with their `totalResults`.
struct Listing<T> {
    items: Vec<T>,
    ids: Seen,
    start: usize,
    total_is_honest: bool,
}

impl<T> Listing<T> {
    fn new() -> Listing<T> {
        Listing {
            items: Vec::new(),
            ids: Seen::default(),
            start: 1,
            total_is_honest: true,
        }
    }

    /// Takes one page in: `Ok(true)` once the listing is complete, `Err(cause)` when the pages cannot
    /// be a complete listing.
    fn take(
        &mut self,
        page: ListPage<T>,
        id_of: fn(&T) -> &ScimId,
        keep: impl Fn(T) -> T,
    ) -> Result<bool, String> {
        if self.items.is_empty() {
            // The whole list at once rather than by doubling (which leaves up to half unused).
            let total = page.total_results.unwrap_or(0).min(MAX_RESERVED);
            self.items.reserve_exact(total.max(page.resources.len()));
            (self.ids).reserve(total.max(page.resources.len()), &self.items, id_of);
        }
        let received = page.resources.len();
        let known = self.items.len();
        for item in page.resources {
            if self.ids.insert(id_of(&item), &self.items, id_of) {
                self.items.push(keep(item));
            }
        }
        let start = self.start;
        match (received, page.total_results) {
            // A workspace always has a user (the token's own, at least): an empty first page that
            // counts some is a broken answer, not an empty workspace.
            (0, Some(total)) if start == 1 && total > 0 => {
                return Err(format!(
                    "the first page is empty while totalResults is {total}"
                ));
            }
            (0, _) => return Ok(true),
            _ if self.items.len() == known => {
                return Err(format!(
                    "paging does not advance: the page at startIndex {start} holds only resources \
                     listed already (does the server ignore startIndex?)"
                ));
            }
            _ => {}
        }
        if page
            .total_results
            .is_some_and(|total| start - 1 + received > total)
        {
            self.total_is_honest = false;
        }
        self.start += received;
        Ok(self.total_is_honest && page.total_results.is_some_and(|total| self.start > total))
    }

    fn finish(mut self) -> Vec<T> {
        self.items.shrink_to_fit();
        self.items
    }
}

impl Scim {
    /// Every resource of `collection` (`Users`, `ServicePrincipals`), projected to `attributes`.
    /// Stops on an empty page or once `totalResults` is reached; pages can shift while resources are
    /// added, so each id is kept once. A `totalResults` that the pages contradict (smaller than what
    /// was received) is ignored, and paging goes on to an empty page.
    ///
    /// # Errors
    /// The list could not be read to the end: a page failed, the first page is empty while
    /// `totalResults` says there is something, a page brings nothing new (the server ignores
    /// `startIndex`), or paging does not end. A partial list is never returned.
    /// Resources asked for per page at this client's level.
    fn page_size(&self) -> usize {
        match self.level {
            Level::Workspace => PAGE_SIZE,
            Level::Account => ACCOUNT_PAGE_SIZE,
        }
    }

    pub(super) async fn list_all<T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &str,
        collection: &str,
        attributes: &str,
        id_of: fn(&T) -> &ScimId,
        requests: &Requests,
        keep: impl Fn(T) -> T,
    ) -> Result<Vec<T>, ScimError> {
        let protocol = |cause: String| {
            ScimError::Api(ApiError::Protocol {
                operation: operation.to_owned(),
                cause,
            })
        };
        let mut listing = Listing::new();
        let url_at = |start: usize| {
            let mut url = self.url(collection);
            url.query_pairs_mut()
                .append_pair("attributes", attributes)
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &self.page_size().to_string());
            url
        };
        let mut pages = 0;
        // The first page alone: its `totalResults` says how many pages follow.
        let first = self.page(operation, &url_at(1), requests).await?;
        pages += 1;
        let (total, stride) = (first.total_results, first.resources.len());
        if listing.take(first, id_of, &keep).map_err(protocol)? {
            return Ok(listing.finish());
        }
        if self.level == Level::Account
            && let Some(total) = total
        {
            // The pages the total announces, asked for a few at once and taken in order; the first
            // page's size is the server's. A page that comes short (the list shifted, or the server
            // sends fewer) makes the next one start elsewhere: the rest is then read one by one.
            let asked: Vec<(usize, Url)> = (listing.start..=total)
                .step_by(stride.max(1))
                .take(MAX_PAGES - pages)
                .map(|start| (start, url_at(start)))
                .collect();
            let page = |(start, url): (usize, Url)| async move {
                (start, self.page(operation, &url, requests).await)
            };
            let mut answers = futures::stream::iter(asked)
                .map(page)
                .buffered(ACCOUNT_PAGES_AT_ONCE);
            while let Some((start, page)) = answers.next().await {
                if start != listing.start {
                    break;
                }
                pages += 1;
                if listing.take(page?, id_of, &keep).map_err(protocol)? {
                    return Ok(listing.finish());
                }
            }
        }
        while pages < MAX_PAGES {
            let page = self
                .page(operation, &url_at(listing.start), requests)
                .await?;
            pages += 1;
            if listing.take(page, id_of, &keep).map_err(protocol)? {
                return Ok(listing.finish());
            }
        }
        Err(protocol(format!(
            "paging did not end after {MAX_PAGES} pages"
        )))
    }

    /// One page of a list, read as it arrives.
    async fn page<T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &str,
        url: &Url,
        requests: &Requests,
    ) -> Result<ListPage<T>, ScimError> {
        let response = self
            .send(CallKind::List, operation, requests, || {
                self.client.get(url.clone())
            })
            .await?;
        Ok(http::json(operation, response).await?)
    }

    /// The resources of `collection` matching `filter` (one request: a filter on a unique attribute
    /// matches at most a few), projected to `attributes`.
    ///
    /// # Errors
    /// The workspace could not be asked, or the answer is not a ListResponse.
    pub(super) async fn filtered<T: DeserializeOwned + Send + 'static>(
        &self,
        operation: &str,
        collection: &str,
        filter: &str,
        attributes: &str,
        requests: &Requests,
    ) -> Result<Vec<T>, ScimError> {
        let mut url = self.url(collection);
        url.query_pairs_mut()
            .append_pair("filter", filter)
            .append_pair("attributes", attributes);
        let page: ListPage<T> = self.page(operation, &url, requests).await?;
        Ok(page.resources)
    }
}

/// `text` as a SCIM filter string: double-quoted, with `\` and `"` escaped (RFC 7644 §3.4.2.2 uses
/// JSON string rules).
pub(super) fn literal(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes every id alike: every look-up is a collision.
    #[derive(Default)]
    struct Constant;

    impl BuildHasher for Constant {
        type Hasher = Constant;
        fn build_hasher(&self) -> Constant {
            Constant
        }
    }

    impl std::hash::Hasher for Constant {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn ids_seen_are_told_apart_even_when_their_hashes_collide() {
        fn id(item: &ScimId) -> &ScimId {
            item
        }
        let mut items: Vec<ScimId> = Vec::new();
        let mut seen = Seen::<Constant>::default();
        for value in ["1", "2", "1", "3", "2"] {
            let value = ScimId::from(value);
            if seen.insert(&value, &items, id) {
                items.push(value);
            }
        }
        assert_eq!(items, ["1", "2", "3"]);
        let mut seen = Seen::<std::hash::RandomState>::default();
        let mut items: Vec<ScimId> = Vec::new();
        for value in ["a", "b", "a"] {
            let value = ScimId::from(value);
            if seen.insert(&value, &items, id) {
                items.push(value);
            }
        }
        assert_eq!(items, ["a", "b"]);
    }

    #[test]
    fn filter_literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("ana@contoso.com"), r#""ana@contoso.com""#);
        assert_eq!(literal(r#"Data "Eng""#), r#""Data \"Eng\"""#);
        assert_eq!(literal(r"a\b"), r#""a\\b""#);
    }

    #[test]
    fn list_responses_are_read_with_either_spelling_and_without_resources() {
        let upper: ListPage<serde_json::Value> =
            serde_json::from_str(r#"{"totalResults":1,"Resources":[{"id":"1"}]}"#).unwrap();
        let lower: ListPage<serde_json::Value> =
            serde_json::from_str(r#"{"resources":[{"id":"1"}]}"#).unwrap();
        let empty: ListPage<serde_json::Value> =
            serde_json::from_str(r#"{"totalResults":0}"#).unwrap();
        assert_eq!((upper.total_results, upper.resources.len()), (Some(1), 1));
        assert_eq!((lower.total_results, lower.resources.len()), (None, 1));
        assert!(empty.resources.is_empty());
    }
}
