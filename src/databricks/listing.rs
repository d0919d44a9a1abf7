//! Reading SCIM lists: the ListResponse envelope (`Resources` in either case, `totalResults` optional),
//! whole listings paged by `startIndex`/`count` (advancing by what was received, each id kept once,
//! cut off when paging does not end), filtered look-ups, and filter string literals.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Scim, ScimError};
use crate::http::{self, ApiError, Requests};

/// Resources asked for per page (the Go SDK's value; the server may send fewer).
const PAGE_SIZE: usize = 10_000;
/// Pages one listing may take before it is cut off (10,000 users per account is the documented limit).
const MAX_PAGES: usize = 1_000;
/// Most resources reserved for ahead of time from a first page's `totalResults` (twenty full pages):
/// a wrong total cannot make the client allocate much.
const MAX_RESERVED: usize = 20 * PAGE_SIZE;

#[derive(Deserialize)]
struct ListResponse<T> {
    #[serde(rename = "totalResults", default)]
    total_results: Option<usize>,
    // Some servers spell it in lower case; an empty page may leave it out.
    #[serde(rename = "Resources", alias = "resources", default = "Vec::new")]
    resources: Vec<T>,
}

impl Scim {
    /// Every resource of `collection` (`Users`, `ServicePrincipals`), projected to `attributes`.
    /// Stops on an empty page or once `totalResults` is reached; pages can shift while resources are
    /// added, so each id is kept once.
    ///
    /// # Errors
    /// The list could not be read to the end; a partial list is never returned.
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        operation: &str,
        collection: &str,
        attributes: &str,
        id_of: fn(&T) -> &str,
        requests: &Requests,
    ) -> Result<Vec<T>, ScimError> {
        let mut items = Vec::new();
        let mut ids = HashSet::new();
        let mut start = 1usize;
        for _ in 0..MAX_PAGES {
            let mut url = self.url(collection);
            url.query_pairs_mut()
                .append_pair("attributes", attributes)
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &PAGE_SIZE.to_string());
            let response = self
                .send(operation, requests, || self.client.get(url.clone()))
                .await?;
            let page: ListResponse<T> = http::json(operation, response).await?;
            if items.is_empty() {
                // The whole list at once rather than by doubling (which leaves up to half unused).
                let total = page.total_results.unwrap_or(0).min(MAX_RESERVED);
                items.reserve_exact(total.max(page.resources.len()));
            }
            let received = page.resources.len();
            items.extend(
                page.resources
                    .into_iter()
                    .filter(|item| ids.insert(id_of(item).to_owned())),
            );
            start += received;
            let done = received == 0 || page.total_results.is_some_and(|total| start > total);
            if done {
                items.shrink_to_fit();
                return Ok(items);
            }
        }
        Err(ScimError::Api(ApiError::Protocol {
            operation: operation.to_owned(),
            cause: format!("paging did not end after {MAX_PAGES} pages"),
        }))
    }

    /// The resources of `collection` matching `filter` (one request: a filter on a unique attribute
    /// matches at most a few), projected to `attributes`.
    ///
    /// # Errors
    /// The workspace could not be asked, or the answer is not a ListResponse.
    pub(super) async fn filtered<T: DeserializeOwned>(
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
        let response = self
            .send(operation, requests, || self.client.get(url.clone()))
            .await?;
        let page: ListResponse<T> = http::json(operation, response).await?;
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

    #[test]
    fn filter_literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("ana@contoso.com"), r#""ana@contoso.com""#);
        assert_eq!(literal(r#"Data "Eng""#), r#""Data \"Eng\"""#);
        assert_eq!(literal(r"a\b"), r#""a\\b""#);
    }

    #[test]
    fn list_responses_are_read_with_either_spelling_and_without_resources() {
        let upper: ListResponse<serde_json::Value> =
            serde_json::from_str(r#"{"totalResults":1,"Resources":[{"id":"1"}]}"#).unwrap();
        let lower: ListResponse<serde_json::Value> =
            serde_json::from_str(r#"{"resources":[{"id":"1"}]}"#).unwrap();
        let empty: ListResponse<serde_json::Value> =
            serde_json::from_str(r#"{"totalResults":0}"#).unwrap();
        assert_eq!((upper.total_results, upper.resources.len()), (Some(1), 1));
        assert_eq!((lower.total_results, lower.resources.len()), (None, 1));
        assert!(empty.resources.is_empty());
    }
}
