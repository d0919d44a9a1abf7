//! What the Graph emulator sends out for its change-notification subscriptions (see
//! [`super::subscriptions`] for the subscriptions themselves and the sources): the validation
//! handshake of a new subscription's URLs, and the delivery of change and lifecycle notifications,
//! batched per URL, retried, and logged for the tests ([`Tenant::deliveries`]).
//!
//! Every request goes through the client given with [`Tenant::set_outbound_client`] (the world's
//! proxy and CA); without one, each attempt fails as an unreachable endpoint would.
//!
//! - **Validation** (Learn, "notificationUrl validation" include): `POST {url}` with
//!   `validationToken=<token>` appended to the query the URL already has, `Content-Type: text/plain;
//!   charset=utf-8`, no body. Accepted only if the answer comes within 10 s with status 200, a
//!   `text/plain` media type and the URL-decoded token, exactly, as its body. The token's text is
//!   the one Graph uses ("Validation: Testing client application reachability for subscription
//!   Request-Id: <guid>", as Graph's Event Hubs validation message shows it on Microsoft Q&A); it is
//!   form-encoded in the query (spaces as `+`): that Graph encodes webhook tokens exactly so is
//!   unconfirmed. Whether Graph enforces the answer's content type is unconfirmed (the docs require
//!   it).
//! - **Notifications** (Learn, change-notifications-delivery-webhooks): items for the same URL and
//!   kind are collected for a batching window ([`Tenant::set_notification_batching`], default
//!   100 ms) and POSTed as one `{"value": [...]}`, `Content-Type: application/json`, to the URL as
//!   given (its query kept). A settable delay before an item joins its batch
//!   ([`Tenant::set_notification_delay`], default none) stands for Graph's own latency, which Learn
//!   lists as "Unknown" for groups. An answer that is not 2xx within 3 s is retried, first after 1 s
//!   then doubling, up to [`Tenant::set_delivery_tries`] attempts (default 5; Graph retries for up
//!   to 4 hours, then drops the notification). An answer after more than 2,900 ms is marked slow, as
//!   Graph's throttling counts it; the throttling itself (a flagged endpoint delayed by 10 minutes at
//!   10 % slow answers, dropped at 15 %) is not emulated.
//! - Lifecycle notifications go the same way, in batches of their own.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{GraphError, Tenant};

/// How long Graph waits for the answer to a validation request.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Graph waits for the answer to a notification.
const NOTIFICATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Answers slower than this count as slow in Graph's throttling.
const SLOW: Duration = Duration::from_millis(2_900);
/// The wait before the first retry; each further retry waits twice as long.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Deliveries kept for [`Tenant::deliveries`], the oldest forgotten first.
const LOGGED_DELIVERIES: usize = 10_000;

const DEFAULT_BATCHING: Duration = Duration::from_millis(100);
const DEFAULT_TRIES: u32 = 5;

/// The error answer of a failed validation (400; observed in 2024 for a non-200 answer:
/// splunk/azure-functions-splunk#26). The code for the other two messages is assumed the same.
const VALIDATION_ERROR: &str = "ValidationError";
const NOT_200: &str = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
/// Observed: microsoftgraph/java-spring-webhooks-sample#82.
const MISMATCH: &str = "Subscription validation request failed. Response must exactly match validationToken query parameter.";
/// Observed: microsoftgraph/nodejs-webhooks-sample#350.
const TIMED_OUT: &str = "Subscription validation request timed out.";

/// What a POST carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// The handshake of a new subscription's `notificationUrl` or `lifecycleNotificationUrl`.
    Validation,
    /// Change notifications.
    Notification,
    /// Lifecycle notifications (`reauthorizationRequired`).
    Lifecycle,
}

/// How a POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered with this status.
    Answered(u16),
    /// No answer: no outbound client, a connection or TLS failure, or the time-out (the reason).
    Failed(String),
}

/// One POST the emulator sent (each attempt of a retried delivery is one).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The URL without its query (which may hold a function key).
    pub url: String,
    pub kind: DeliveryKind,
    /// How many items the body's `value` held (0 for a validation).
    pub item_count: usize,
    /// The items as sent.
    pub items: Vec<Value>,
    pub outcome: Outcome,
    /// Whether Graph would count it a success: 2xx within 3 s (a notification), 200 with the exact
    /// token as `text/plain` within 10 s (a validation).
    pub accepted: bool,
    /// Answered after more than 2,900 ms (Graph's "slow" for throttling).
    pub slow: bool,
    /// From sending to the answer (or the failure).
    pub duration: Duration,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it was sent.
    pub at: SystemTime,
}

/// The outbound side of the tenant's subscriptions.
pub(super) struct State {
    client: Option<reqwest::Client>,
    batching: Duration,
    delay: Duration,
    tries: u32,
    /// Items waiting for their batch to be sent, by kind and URL (query included).
    pending: HashMap<(DeliveryKind, String), Vec<Value>>,
    log: VecDeque<Delivery>,
}

impl Default for State {
    fn default() -> Self {
        State {
            client: None,
            batching: DEFAULT_BATCHING,
            delay: Duration::ZERO,
            tries: DEFAULT_TRIES,
            pending: HashMap::new(),
            log: VecDeque::new(),
        }
    }
}

impl State {
    fn record(&mut self, delivery: Delivery) {
        if self.log.len() >= LOGGED_DELIVERIES {
            self.log.pop_front();
        }
        self.log.push_back(delivery);
    }
}

/// No tokio runtime to send from: the change happened outside one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NoRuntime;

impl Tenant {
    /// The HTTPS client the emulator sends validations and notifications with (for the sandbox:
    /// one that trusts the world's CA and goes through its proxy). Without one, every attempt fails.
    pub fn set_outbound_client(&self, client: reqwest::Client) {
        self.lock().subscriptions.delivery.client = Some(client);
    }

    /// Every POST sent so far (validations, notifications, lifecycle notifications, each attempt),
    /// oldest first; the last 10,000 are kept.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock()
            .subscriptions
            .delivery
            .log
            .iter()
            .cloned()
            .collect()
    }

    /// How long items for one URL are collected before they are POSTed together (default 100 ms).
    pub fn set_notification_batching(&self, window: Duration) {
        self.lock().subscriptions.delivery.batching = window;
    }

    /// An extra delay before a notification joins its batch, standing for Graph's own notification
    /// latency (undocumented for groups; default none).
    pub fn set_notification_delay(&self, delay: Duration) {
        self.lock().subscriptions.delivery.delay = delay;
    }

    /// How many attempts a notification gets before it is dropped (default 5; at least 1).
    pub fn set_delivery_tries(&self, tries: u32) {
        self.lock().subscriptions.delivery.tries = tries.max(1);
    }
}

/// `url` without its query and fragment (for the log).
fn without_query(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// Whether a `Content-Type` value names the `text/plain` media type.
fn is_text_plain(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/plain"))
}

fn validation_failed(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, VALIDATION_ERROR, message)
}

/// The validation handshake with `url` (a subscription's `notificationUrl` or
/// `lifecycleNotificationUrl`, already checked to be an https URL): Ok if the endpoint echoed the
/// token as Graph requires, else the 400 the create request answers.
pub(super) async fn validate(tenant: &Tenant, url: &str) -> Result<(), GraphError> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = url::Url::parse(url).map_err(|_| validation_failed(NOT_200))?;
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let client = tenant.lock().subscriptions.delivery.client.clone();
    let at = SystemTime::now();
    let started = Instant::now();
    let answer = match client {
        None => Err(no_client()),
        Some(client) => {
            let exchange = async {
                let response = client
                    .post(target)
                    .header("content-type", "text/plain; charset=utf-8")
                    .send()
                    .await?;
                let status = response.status().as_u16();
                let text_plain = is_text_plain(
                    response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok()),
                );
                let body = response.text().await?;
                Ok::<_, reqwest::Error>((status, text_plain, body))
            };
            match tokio::time::timeout(VALIDATION_TIMEOUT, exchange).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(e)) => Err(crate::tls::error_chain(&e)),
                Err(_) => Err(format!(
                    "no answer within {} s",
                    VALIDATION_TIMEOUT.as_secs()
                )),
            }
        }
    };
    let duration = started.elapsed();
    let (outcome, result) = match answer {
        Ok((status, text_plain, body)) => {
            let result = if status != 200 {
                Err(validation_failed(NOT_200))
            } else if !text_plain || body != token {
                Err(validation_failed(MISMATCH))
            } else {
                Ok(())
            };
            (Outcome::Answered(status), result)
        }
        Err(reason) => {
            let message = if duration >= VALIDATION_TIMEOUT {
                TIMED_OUT
            } else {
                NOT_200
            };
            (Outcome::Failed(reason), Err(validation_failed(message)))
        }
    };
    tenant.lock().subscriptions.delivery.record(Delivery {
        url: without_query(url),
        kind: DeliveryKind::Validation,
        item_count: 0,
        items: Vec::new(),
        outcome,
        accepted: result.is_ok(),
        slow: duration > SLOW,
        duration,
        attempt: 1,
        at,
    });
    result
}

fn no_client() -> String {
    "no outbound client: the tenant was given none (Tenant::set_outbound_client)".to_owned()
}

/// Queues `items` for `url`: after the notification delay they join the URL's batch, which is
/// POSTed once its window has passed. Never blocks; needs a tokio runtime to send from.
pub(super) fn enqueue(
    tenant: &Tenant,
    kind: DeliveryKind,
    url: String,
    items: Vec<Value>,
) -> Result<(), NoRuntime> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| NoRuntime)?;
    let delay = tenant.lock().subscriptions.delivery.delay;
    if delay.is_zero() {
        join_batch(tenant, &handle, kind, url, items);
    } else {
        let tenant = tenant.clone();
        let runtime = handle.clone();
        handle.spawn(async move {
            tokio::time::sleep(delay).await;
            join_batch(&tenant, &runtime, kind, url, items);
        });
    }
    Ok(())
}

/// Records that `items` for `url` could not even be queued (no runtime to send from).
pub(super) fn record_unsent(tenant: &Tenant, kind: DeliveryKind, url: &str, items: Vec<Value>) {
    tracing::warn!(
        url = %without_query(url),
        "sandbox graph: a notification was not sent: no tokio runtime"
    );
    tenant.lock().subscriptions.delivery.record(Delivery {
        url: without_query(url),
        kind,
        item_count: items.len(),
        items,
        outcome: Outcome::Failed("no tokio runtime to send from".to_owned()),
        accepted: false,
        slow: false,
        duration: Duration::ZERO,
        attempt: 1,
        at: SystemTime::now(),
    });
}

/// Adds `items` to the open batch for (`kind`, `url`), or opens one and schedules its POST.
fn join_batch(
    tenant: &Tenant,
    handle: &tokio::runtime::Handle,
    kind: DeliveryKind,
    url: String,
    items: Vec<Value>,
) {
    let key = (kind, url);
    let window = {
        let mut inner = tenant.lock();
        let delivery = &mut inner.subscriptions.delivery;
        if let Some(batch) = delivery.pending.get_mut(&key) {
            batch.extend(items);
            return;
        }
        delivery.pending.insert(key.clone(), items);
        delivery.batching
    };
    let tenant = tenant.clone();
    handle.spawn(async move {
        tokio::time::sleep(window).await;
        let items = tenant
            .lock()
            .subscriptions
            .delivery
            .pending
            .remove(&key)
            .unwrap_or_default();
        if !items.is_empty() {
            let (kind, url) = key;
            send(&tenant, kind, &url, items).await;
        }
    });
}

/// POSTs one batch, retrying as Graph does until it is accepted or the tries are spent.
async fn send(tenant: &Tenant, kind: DeliveryKind, url: &str, items: Vec<Value>) {
    let body = match serde_json::to_vec(&json!({ "value": items })) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "sandbox graph: a notification could not be serialized");
            return;
        }
    };
    let mut wait = FIRST_RETRY;
    let mut attempt = 1;
    loop {
        let (client, tries) = {
            let inner = tenant.lock();
            let delivery = &inner.subscriptions.delivery;
            (delivery.client.clone(), delivery.tries)
        };
        let at = SystemTime::now();
        let started = Instant::now();
        let outcome = match client {
            None => Outcome::Failed(no_client()),
            Some(client) => {
                let request = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send();
                match tokio::time::timeout(NOTIFICATION_TIMEOUT, request).await {
                    Ok(Ok(response)) => Outcome::Answered(response.status().as_u16()),
                    Ok(Err(e)) => Outcome::Failed(crate::tls::error_chain(&e)),
                    Err(_) => Outcome::Failed(format!(
                        "no answer within {} s",
                        NOTIFICATION_TIMEOUT.as_secs()
                    )),
                }
            }
        };
        let duration = started.elapsed();
        let accepted = matches!(outcome, Outcome::Answered(status) if (200..300).contains(&status));
        tenant.lock().subscriptions.delivery.record(Delivery {
            url: without_query(url),
            kind,
            item_count: items.len(),
            items: items.clone(),
            outcome,
            accepted,
            slow: duration > SLOW,
            duration,
            attempt,
            at,
        });
        if accepted || attempt >= tries {
            if !accepted {
                tracing::info!(url = %without_query(url), attempt, "sandbox graph: a notification was dropped after its last attempt");
            }
            return;
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_shows_no_query() {
        assert_eq!(
            without_query("https://func.example.net/api/notify?code=secret"),
            "https://func.example.net/api/notify"
        );
        assert_eq!(without_query("not a url?code=x"), "not a url");
    }

    #[test]
    fn text_plain_is_a_media_type_with_parameters_allowed() {
        assert!(is_text_plain(Some("text/plain")));
        assert!(is_text_plain(Some("Text/Plain; charset=utf-8")));
        assert!(!is_text_plain(Some("application/json")));
        assert!(!is_text_plain(None));
    }
}
