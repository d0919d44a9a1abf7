//! Microsoft Graph change-notification subscriptions on groups (`/subscriptions`), and the groups
//! nested in a group (whose own membership changes must be subscribed to separately: Graph documents
//! no notification of a parent for a change in a nested group).
//!
//! Sources: "Create subscription" (https://learn.microsoft.com/graph/api/subscription-post-subscriptions,
//! body `changeType`, `notificationUrl`, `lifecycleNotificationUrl`, `resource`, `expirationDateTime`,
//! `clientState`; permission for groups: `Group.Read.All`), "Update subscription" (PATCH with
//! `expirationDateTime`), "Delete subscription" (204), "List subscriptions" (the app's own), the
//! subscription resource (maximum lifetime for groups 41,760 minutes), "List group transitive members"
//! (cast to `microsoft.graph.group`). docs/api-contract.md has the table.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::{Call, Graph, GraphError, Page};
use crate::http::{self, Requests};

/// A subscription as Graph lists it (the fields the app uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub resource: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expiration_date_time: OffsetDateTime,
    /// Graph returns it; the app compares it without its query (the function key).
    #[serde(default)]
    pub notification_url: Option<String>,
}

impl Subscription {
    /// The group id of a `groups/{id}` resource (any case, with or without the leading slash).
    pub fn group_id(&self) -> Option<&str> {
        let resource = self.resource.trim_start_matches('/');
        let (collection, id) = resource.split_once('/')?;
        (collection.eq_ignore_ascii_case("groups") && !id.is_empty() && !id.contains('/'))
            .then_some(id)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewSubscription<'a> {
    change_type: &'a str,
    notification_url: &'a str,
    lifecycle_notification_url: &'a str,
    resource: String,
    #[serde(with = "time::serde::rfc3339")]
    expiration_date_time: OffsetDateTime,
    client_state: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Renewal {
    #[serde(with = "time::serde::rfc3339")]
    expiration_date_time: OffsetDateTime,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

impl Graph {
    /// The app's subscriptions (every page).
    ///
    /// # Errors
    /// Graph could not be read.
    pub async fn subscriptions(
        &self,
        requests: &Requests,
    ) -> Result<Vec<Subscription>, GraphError> {
        let operation = "listing the app's change-notification subscriptions";
        let mut url = self.url(&["subscriptions"]);
        let mut all = Vec::new();
        for _ in 0..1000 {
            let response = self
                .get(Call::Subscriptions, operation, &url, requests)
                .await?;
            let page: Page<Subscription> = http::json(operation, response).await?;
            let next = page.next_url();
            all.extend(page.value);
            match next {
                Ok(Some(next)) if same_origin(&next, &self.base) => url = next,
                Ok(None) => return Ok(all),
                _ => {
                    return Err(GraphError::Api(http::ApiError::Decode {
                        operation: operation.to_owned(),
                        cause: "an @odata.nextLink that is not a URL of this Graph endpoint".into(),
                    }));
                }
            }
        }
        Err(GraphError::Api(http::ApiError::Decode {
            operation: operation.to_owned(),
            cause: "more than 1000 pages of subscriptions".into(),
        }))
    }

    /// Subscribes to membership changes of group `group_id` until `expires`. Graph first checks the
    /// notification URL (its validation request must be answered by `SyncNotify`).
    ///
    /// # Errors
    /// Graph refused (a 403 names `Group.Read.All`), in words without the URL's query.
    pub async fn subscribe(
        &self,
        group_id: &str,
        notification_url: &Url,
        client_state: &str,
        expires: OffsetDateTime,
        requests: &Requests,
    ) -> Result<Subscription, GraphError> {
        let operation = format!("subscribing to group {group_id}'s changes");
        let body = NewSubscription {
            change_type: "updated,deleted",
            notification_url: notification_url.as_str(),
            // The same URL: SyncNotify tells lifecycle events from change notifications.
            lifecycle_notification_url: notification_url.as_str(),
            resource: format!("groups/{group_id}"),
            expiration_date_time: expires,
            client_state,
        };
        let url = self.url(&["subscriptions"]);
        let response = self
            .send(
                Call::Subscribe,
                &operation,
                reqwest::Method::POST,
                &url,
                Some(&body),
                requests,
            )
            .await?;
        http::json(&operation, response)
            .await
            .map_err(GraphError::from)
    }

    /// Extends subscription `id` to `expires` (this also reauthorizes it).
    ///
    /// # Errors
    /// Graph refused; a 404 means the subscription is gone (expired or deleted).
    pub async fn renew(
        &self,
        id: &str,
        expires: OffsetDateTime,
        requests: &Requests,
    ) -> Result<Subscription, GraphError> {
        let operation = format!("renewing subscription {id}");
        let url = self.url(&["subscriptions", id]);
        let body = Renewal {
            expiration_date_time: expires,
        };
        let response = self
            .send(
                Call::Subscribe,
                &operation,
                reqwest::Method::PATCH,
                &url,
                Some(&body),
                requests,
            )
            .await?;
        http::json(&operation, response)
            .await
            .map_err(GraphError::from)
    }

    /// Deletes subscription `id` (already gone is fine).
    ///
    /// # Errors
    /// Graph refused.
    pub async fn unsubscribe(&self, id: &str, requests: &Requests) -> Result<(), GraphError> {
        let operation = format!("deleting subscription {id}");
        let url = self.url(&["subscriptions", id]);
        match self
            .send::<()>(
                Call::Subscribe,
                &operation,
                reqwest::Method::DELETE,
                &url,
                None,
                requests,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(GraphError::Api(e)) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The ids of the groups nested in `group_id`, at any depth (every page).
    ///
    /// # Errors
    /// Graph could not be read.
    pub async fn nested_groups(
        &self,
        group_id: &str,
        requests: &Requests,
    ) -> Result<Vec<String>, GraphError> {
        let operation = format!("listing the groups nested in group {group_id}");
        let mut url = self.url(&[
            "groups",
            group_id,
            "transitiveMembers",
            "microsoft.graph.group",
        ]);
        url.query_pairs_mut()
            .append_pair("$select", "id")
            .append_pair("$top", "999");
        let mut ids = Vec::new();
        for _ in 0..1000 {
            let response = self
                .get(Call::ListMembers, &operation, &url, requests)
                .await?;
            let page: Page<Id> = http::json(&operation, response).await?;
            let next = page.next_url();
            ids.extend(page.value.into_iter().map(|g| g.id));
            match next {
                Ok(Some(next)) if same_origin(&next, &self.base) => url = next,
                Ok(None) => return Ok(ids),
                _ => {
                    return Err(GraphError::Api(http::ApiError::Decode {
                        operation,
                        cause: "an @odata.nextLink that is not a URL of this Graph endpoint".into(),
                    }));
                }
            }
        }
        Err(GraphError::Api(http::ApiError::Decode {
            operation,
            cause: "more than 1000 pages of nested groups".into(),
        }))
    }

    async fn send<B: Serialize + Sync>(
        &self,
        call: Call,
        operation: &str,
        method: reqwest::Method,
        url: &Url,
        body: Option<&B>,
        requests: &Requests,
    ) -> Result<reqwest::Response, GraphError> {
        let token = self.token().await?;
        let build = || {
            let request = self
                .client
                .request(method.clone(), url.clone())
                .bearer_auth(&token)
                .header("Accept", "application/json");
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        http::send_paced(
            &http::Unpaced,
            super::API,
            operation,
            requests,
            build,
            super::graph_error,
        )
        .await
        .map_err(|e| call.refused(e))
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriptions_group_is_read_from_its_resource() {
        let subscription = |resource: &str| Subscription {
            id: "s".into(),
            resource: resource.into(),
            expiration_date_time: OffsetDateTime::UNIX_EPOCH,
            notification_url: None,
        };
        assert_eq!(subscription("groups/g1").group_id(), Some("g1"));
        assert_eq!(subscription("/Groups/g1").group_id(), Some("g1"));
        assert_eq!(subscription("groups").group_id(), None);
        assert_eq!(subscription("users/u1").group_id(), None);
        assert_eq!(subscription("groups/g1/members").group_id(), None);
    }
}
