//! Microsoft Graph change notifications: a workspace hears about a change in one of its Entra groups
//! within seconds instead of at the next timer tick.
//!
//! - [`Notifier::reconcile`] (`SyncSubscriptions`, on a timer): one Graph subscription per group a
//!   workspace reads (its configured groups, and with `nested` the groups nested in them, whose own
//!   changes Graph does not report on the parent), created, renewed once half its lifetime
//!   (`NOTIFICATION_LIFETIME_MINUTES`) has passed, and deleted when no workspace reads the group any
//!   more; then the registry (`notifications/registry.json` in the shared state: each subscription's
//!   group and expiry, each group's workspaces) is written for [`Notifier::receive`].
//! - [`Notifier::receive`] (`SyncNotify`, which Graph calls): each item's `clientState` is compared
//!   with the secret in Key Vault (refused items are counted, never logged with their content); a
//!   change of a known subscription's group puts one message per workspace of that group on the work
//!   queue, coalesced (`StateStore::enqueue`): a burst for one workspace makes one sync. Unknown
//!   subscriptions and workspaces no longer configured are acknowledged and ignored. A
//!   `reauthorizationRequired` lifecycle event renews the subscription at once and queues its
//!   workspaces (changes in the gap may be lost). It answers within Graph's 3 s: the work is queued,
//!   not done.
//!
//! The fail-closed rules are the sync's own: a queued sync is a full sync of one workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::Config;
use crate::entra::{Graph, GraphError, Subscription};
use crate::http::Requests;
use crate::keyvault::Secrets;
use crate::settings::Notifications;
use crate::state::work::{Reason, WorkMessage};
use crate::state::{StateError, StateStore};

/// Where the registry lives in the shared state.
pub const REGISTRY: &str = "notifications/registry.json";
/// Graph's limit of subscriptions on groups per app and tenant.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// How long the `clientState` read from Key Vault is used before it is read again.
const CLIENT_STATE_TTL: Duration = Duration::from_secs(600);

/// What [`Notifier::reconcile`] writes and [`Notifier::receive`] reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    /// Subscription id → its group and expiry.
    pub subscriptions: BTreeMap<String, Subscribed>,
    /// Entra group id → the workspaces that read it (configured or nested).
    pub groups: BTreeMap<String, BTreeSet<String>>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            subscriptions: BTreeMap::new(),
            groups: BTreeMap::new(),
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscribed {
    pub group_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
}

/// What one reconcile did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciled {
    pub groups: usize,
    pub created: Vec<String>,
    pub renewed: Vec<String>,
    pub deleted: Vec<String>,
    pub kept: usize,
    /// Groups left without a subscription (Graph's quota): the timer's runs still sync them.
    pub uncovered: Vec<String>,
    /// What failed, in words (the invocation fails when this is not empty).
    pub failures: Vec<String>,
}

/// What one notification POST did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    pub items: usize,
    /// Items whose `clientState` did not match.
    pub refused: usize,
    /// Items of subscriptions or workspaces the registry or configuration does not know.
    pub ignored: usize,
    /// Workspaces a message was queued for.
    pub queued: Vec<String>,
    /// Workspaces that already had a message waiting.
    pub coalesced: Vec<String>,
    /// Lifecycle events handled (`subscriptionId: event`).
    pub lifecycle: Vec<String>,
}

/// Why a notification POST was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Not Graph's shape: 400.
    #[error("the body is not a Graph notification batch: {0}")]
    Malformed(String),
    /// Nothing could be checked or recorded (Key Vault, the storage): 500, so that Graph retries.
    #[error("{0}")]
    NotRecorded(String),
}

/// Subscriptions and notifications of one process.
pub struct Notifier {
    settings: Notifications,
    graph: Graph,
    secrets: Secrets,
    state: Arc<StateStore>,
    config: Arc<Config>,
    client_state: Mutex<Option<(Instant, Arc<SecretString>)>>,
}

#[derive(Deserialize)]
struct Batch {
    value: Vec<Item>,
}

/// One item of a notification batch, as `SyncNotify` reads it (the rest is not used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub client_state: Option<String>,
    #[serde(default)]
    pub lifecycle_event: Option<String>,
}

/// Reads a notification POST's body (`{"value": [...]}`) exactly as [`Notifier::receive`] does.
///
/// # Errors
/// The body is not a batch, in serde's words.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Item>, String> {
    serde_json::from_slice::<Batch>(body)
        .map(|b| b.value)
        .map_err(|e| e.to_string())
}

/// Equal without an early exit on the first difference (a timing side channel on the secret).
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

impl Notifier {
    pub fn new(
        settings: Notifications,
        graph: Graph,
        secrets: Secrets,
        state: Arc<StateStore>,
        config: Arc<Config>,
    ) -> Notifier {
        Notifier {
            settings,
            graph,
            secrets,
            state,
            config,
            client_state: Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &Notifications {
        &self.settings
    }

    async fn client_state(&self, fresh: bool) -> Result<Arc<SecretString>, String> {
        if !fresh {
            let cached = self
                .client_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((at, value)) = cached.as_ref()
                && at.elapsed() < CLIENT_STATE_TTL
            {
                return Ok(Arc::clone(value));
            }
        }
        let value = Arc::new(
            self.secrets
                .read(&self.settings.client_state)
                .await
                .map_err(|e| format!("the notifications' clientState could not be read: {e}"))?,
        );
        if value.expose_secret().len() > 128 {
            return Err(format!(
                "the notifications' clientState ({}) is longer than Graph's 128 characters",
                self.settings.client_state
            ));
        }
        *self
            .client_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), Arc::clone(&value)));
        Ok(value)
    }

    async fn registry(&self) -> Result<Registry, StateError> {
        Ok(match self.state.read_json(REGISTRY).await? {
            Some(value) => serde_json::from_value(value).unwrap_or_default(),
            None => Registry::default(),
        })
    }

    /// Handles one notification POST from Graph (not a validation request: `SyncNotify` answers
    /// those itself).
    ///
    /// # Errors
    /// A body that is not a batch, or nothing could be checked or recorded.
    pub async fn receive(
        &self,
        body: &[u8],
        requests: &Requests,
    ) -> Result<Received, ReceiveError> {
        let batch: Batch =
            serde_json::from_slice(body).map_err(|e| ReceiveError::Malformed(e.to_string()))?;
        let mut received = Received {
            items: batch.value.len(),
            ..Received::default()
        };
        let mut secret = self
            .client_state(false)
            .await
            .map_err(ReceiveError::NotRecorded)?;
        let matches = |secret: &SecretString, item: &Item| {
            item.client_state
                .as_deref()
                .is_some_and(|sent| same(sent, secret.expose_secret()))
        };
        // A rotated secret: read it again once before refusing.
        if batch.value.iter().any(|i| !matches(&secret, i)) {
            secret = self
                .client_state(true)
                .await
                .map_err(ReceiveError::NotRecorded)?;
        }
        let valid: Vec<&Item> = batch.value.iter().filter(|i| matches(&secret, i)).collect();
        received.refused = batch.value.len() - valid.len();
        if valid.is_empty() {
            return Ok(received);
        }
        let registry = self
            .registry()
            .await
            .map_err(|e| ReceiveError::NotRecorded(e.to_string()))?;
        // Workspace → the groups whose change concerns it.
        let mut affected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for item in valid {
            let Some(subscription) = item.subscription_id.as_deref() else {
                received.ignored += 1;
                continue;
            };
            let Some(subscribed) = registry.subscriptions.get(subscription) else {
                received.ignored += 1;
                continue;
            };
            if let Some(event) = &item.lifecycle_event {
                received.lifecycle.push(format!("{subscription}: {event}"));
                if event == "reauthorizationRequired" {
                    let expires = self.expiry();
                    if let Err(e) = self.graph.renew(subscription, expires, requests).await {
                        tracing::error!(
                            subscription,
                            "reauthorizing subscription {subscription} failed ({e}); SyncSubscriptions will try again"
                        );
                    }
                }
            }
            let workspaces = registry
                .groups
                .get(&subscribed.group_id)
                .into_iter()
                .flatten()
                .filter(|w| self.config.workspace(w).is_some())
                .collect::<Vec<_>>();
            if workspaces.is_empty() {
                received.ignored += 1;
            }
            for workspace in workspaces {
                affected
                    .entry(workspace.clone())
                    .or_default()
                    .insert(subscribed.group_id.clone());
            }
        }
        let now = rfc3339(OffsetDateTime::now_utc());
        let sends = affected.into_iter().map(|(workspace, groups)| {
            let message = WorkMessage {
                workspace,
                reason: Reason::Notification,
                groups: groups.into_iter().collect(),
                requested_at: Some(now.clone()),
            };
            async move {
                let sent = self.state.enqueue(&message, true).await;
                (message.workspace, sent)
            }
        });
        let mut failures = Vec::new();
        for (workspace, sent) in futures::future::join_all(sends).await {
            match sent {
                Ok(true) => received.queued.push(workspace),
                Ok(false) => received.coalesced.push(workspace),
                Err(e) => failures.push(format!("{workspace}: {e}")),
            }
        }
        if failures.is_empty() {
            Ok(received)
        } else {
            Err(ReceiveError::NotRecorded(format!(
                "the work could not be queued for {} workspace(s): {}",
                failures.len(),
                failures.join("; ")
            )))
        }
    }

    fn expiry(&self) -> OffsetDateTime {
        let minutes = i64::try_from(self.settings.lifetime_minutes).unwrap_or(i64::MAX);
        OffsetDateTime::now_utc() + time::Duration::minutes(minutes)
    }

    /// Whether a subscription expiring at `expires` is due for renewal: half its lifetime is gone.
    fn due(&self, expires: OffsetDateTime) -> bool {
        let lifetime = i64::try_from(self.settings.lifetime_minutes).unwrap_or(i64::MAX);
        expires - OffsetDateTime::now_utc() < time::Duration::seconds(lifetime.saturating_mul(30))
    }

    fn ours(&self, subscription: &Subscription) -> bool {
        let Some(url) = subscription
            .notification_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
        else {
            return false;
        };
        let mine = &self.settings.url;
        url.scheme() == mine.scheme()
            && url.host_str() == mine.host_str()
            && url.port_or_known_default() == mine.port_or_known_default()
            && url.path().eq_ignore_ascii_case(mine.path())
    }

    /// Makes the subscriptions match the groups the workspaces read, and writes the registry.
    ///
    /// # Errors
    /// The groups or the app's subscriptions could not be read, or the registry not written; failures
    /// of single subscriptions are in the result's `failures`.
    pub async fn reconcile(&self, requests: &Requests) -> Result<Reconciled, String> {
        let client_state = self.client_state(true).await?;
        // Group → workspaces, configured groups first (they are the ones kept under the quota).
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for workspace in &self.config.workspaces {
            for reference in &workspace.access_groups {
                let group = self
                    .graph
                    .resolve(reference, requests)
                    .await
                    .map_err(|e| format!("{}: {e}", workspace.name))?;
                if !groups.contains_key(&group.id) {
                    order.push(group.id.clone());
                }
                groups
                    .entry(group.id.clone())
                    .or_default()
                    .insert(workspace.name.to_string());
            }
        }
        let configured = order.clone();
        for group in &configured {
            let readers: Vec<String> = groups.get(group).into_iter().flatten().cloned().collect();
            let nested_wanted = readers
                .iter()
                .any(|w| self.config.workspace(w).is_some_and(|ws| ws.options.nested));
            if !nested_wanted {
                continue;
            }
            for nested in self
                .graph
                .nested_groups(group, requests)
                .await
                .map_err(|e| e.to_string())?
            {
                if !groups.contains_key(&nested) {
                    order.push(nested.clone());
                }
                let entry = groups.entry(nested).or_default();
                for reader in &readers {
                    let nested_for_reader = self
                        .config
                        .workspace(reader)
                        .is_some_and(|ws| ws.options.nested);
                    if nested_for_reader {
                        entry.insert(reader.clone());
                    }
                }
            }
        }
        let existing: Vec<Subscription> = self
            .graph
            .subscriptions(requests)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|s| self.ours(s))
            .collect();
        let mut report = Reconciled {
            groups: order.len(),
            ..Reconciled::default()
        };
        let mut registry = Registry {
            subscriptions: BTreeMap::new(),
            groups: groups.clone(),
            updated_at: OffsetDateTime::now_utc(),
        };
        let covered: BTreeSet<&String> = order.iter().take(MAX_SUBSCRIPTIONS).collect();
        report.uncovered = order.iter().skip(MAX_SUBSCRIPTIONS).cloned().collect();
        // Subscriptions for groups no longer read, and duplicates: deleted.
        let mut kept: BTreeMap<String, Subscription> = BTreeMap::new();
        for subscription in existing {
            let group = subscription.group_id().map(str::to_owned);
            let wanted = group.as_ref().is_some_and(|g| covered.contains(g));
            let better = group
                .as_ref()
                .and_then(|g| kept.get(g))
                .is_none_or(|k| k.expiration_date_time < subscription.expiration_date_time);
            // A subscription to an old URL (another function key): replaced. Only when Graph shows the
            // query at all (not documented): a URL listed without one is taken as current.
            let current_url = (subscription.notification_url.as_deref())
                .and_then(|u| url::Url::parse(u).ok())
                .is_none_or(|listed| listed.query().is_none() || listed == self.settings.url);
            let drop = match (&group, wanted && current_url, better) {
                (Some(g), true, true) => kept.insert(g.clone(), subscription),
                _ => Some(subscription),
            };
            if let Some(gone) = drop {
                match self.graph.unsubscribe(&gone.id, requests).await {
                    Ok(()) => report.deleted.push(gone.id),
                    Err(e) => report
                        .failures
                        .push(format!("deleting subscription {}: {e}", gone.id)),
                }
            }
        }
        for group in order.iter().take(MAX_SUBSCRIPTIONS) {
            let current = kept.remove(group);
            let result = match current {
                Some(s) if !self.due(s.expiration_date_time) => {
                    report.kept += 1;
                    Ok(s)
                }
                Some(s) => match self.graph.renew(&s.id, self.expiry(), requests).await {
                    Ok(renewed) => {
                        report.renewed.push(renewed.id.clone());
                        Ok(renewed)
                    }
                    // Gone in between (expired, deleted): made again.
                    Err(GraphError::Api(e)) if e.status() == Some(404) => {
                        self.create(group, &client_state, requests, &mut report)
                            .await
                    }
                    Err(e) => Err(format!(
                        "renewing subscription {} (group {group}): {e}",
                        s.id
                    )),
                },
                None => {
                    self.create(group, &client_state, requests, &mut report)
                        .await
                }
            };
            match result {
                Ok(s) => {
                    registry.subscriptions.insert(
                        s.id.clone(),
                        Subscribed {
                            group_id: group.clone(),
                            expires: s.expiration_date_time,
                        },
                    );
                }
                Err(e) => report.failures.push(e),
            }
        }
        self.state
            .write_json(REGISTRY, &registry)
            .await
            .map_err(|e| e.to_string())?;
        Ok(report)
    }

    async fn create(
        &self,
        group: &str,
        client_state: &SecretString,
        requests: &Requests,
        report: &mut Reconciled,
    ) -> Result<Subscription, String> {
        match self
            .graph
            .subscribe(
                group,
                &self.settings.url,
                client_state.expose_secret(),
                self.expiry(),
                requests,
            )
            .await
        {
            Ok(s) => {
                report.created.push(s.id.clone());
                Ok(s)
            }
            Err(e) => Err(format!(
                "subscribing to group {group}: {}",
                self.redacted(&e.to_string())
            )),
        }
    }

    /// `text` without the notification URL's query (the function key), should Graph quote it.
    fn redacted(&self, text: &str) -> String {
        match self.settings.url.query() {
            Some(query) if !query.is_empty() => text.replace(query, "…"),
            _ => text.to_owned(),
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_states_compare_whole() {
        assert!(same("s3cret", "s3cret"));
        assert!(!same("s3cret", "s3creT"));
        assert!(!same("s3cret", "s3cret!"));
        assert!(!same("", "x"));
        assert!(same("", ""));
    }
}
