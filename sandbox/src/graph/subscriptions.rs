//! Change-notification subscriptions on one group, as Microsoft Graph v1.0 serves them:
//! `POST /subscriptions`, `GET /subscriptions` (the caller's), `GET|PATCH|DELETE
//! /subscriptions/{id}` and `POST /subscriptions/{id}/reauthorize`; the notifications a group's
//! change sends, and lifecycle events for the tests to trigger ([`Tenant::send_lifecycle_event`]).
//! What goes out (validation handshake, batching, retries) is in [`super::delivery`].
//!
//! Sources: the microsoftgraph/microsoft-graph-docs-contrib repository (Learn's source), pages
//! `api-reference/v1.0/api/subscription-post-subscriptions.md`, `subscription-update.md`,
//! `subscription-list.md`, `subscription-get.md`, `subscription-reauthorize.md`,
//! `api-reference/v1.0/resources/subscription.md`, `changenotification.md`,
//! `concepts/change-notifications-delivery-webhooks.md`, `change-notifications-lifecycle-events.md`
//! and the includes `change-notifications-supported-resources-expanded.md`,
//! `change-notifications-subscription-lifetime.md`, `change-notifications-delivery-latency.md`;
//! answers users observed from the real service, in GitHub issues named where they are used.
//!
//! Followed, with its source:
//! - Creating a subscription on a group needs the application permission `Group.Read.All`
//!   (subscription-post-subscriptions, permissions table); without it ([`Permission::GroupReadAll`]
//!   revoked) 403 `ExtensionError` "Operation: Create; Exception: [Status Code: Forbidden; Reason:
//!   Forbidden]", the answer observed for a user subscription without its permission
//!   (microsoftgraph/msgraph-sdk-dotnet#365).
//! - `changeType` for groups: `updated` and/or `deleted`, comma-separated (subscription resource);
//!   another value is 400 `InvalidRequest` "Invalid 'changeType' attribute: 'created'."
//!   (microsoftgraph/microsoft-graph-docs#4819, for users). `notificationUrl` and
//!   `lifecycleNotificationUrl` must be https (subscription resource). `clientState` at most 128
//!   characters (subscription resource; the changeNotification page says 255). Group subscriptions
//!   last at most 41,760 minutes (subscription lifetime include); beyond, 400 `ExtensionError`
//!   "Subscription expiration can only be 41760 minutes in the future.", the form observed for
//!   Outlook's 4,230 (microsoftgraph/microsoft-graph-docs-contrib#7726). A missing
//!   `expirationDateTime`: 400 "expirationDateTime is a required property for subscription
//!   creation." (microsoft-graph-docs-contrib#7399). A body Graph cannot read (an unknown property
//!   name, a value of the wrong type, an unreadable date): 400 "Could not process subscription
//!   creation payload. Are all property names spelled and camelCased properly?"
//!   (microsoft-graph-docs#3041; that unknown names, too, get it is inferred from the message).
//! - `includeResourceData` is not available for groups (rich notifications' supported resources).
//! - At most 100 subscriptions on groups per app and tenant; more is 403 with a message naming the
//!   limit (supported-resources include). The per-app (50,000) and per-tenant (1,000) quotas do not
//!   apply to one app in one tenant before this one does.
//! - Validation of `notificationUrl`, and of `lifecycleNotificationUrl` by a second request even
//!   when it is the same URL (lifecycle-events page), before the subscription exists; if it fails,
//!   none is created and POST answers 400 ([`super::delivery`]).
//! - The answer: 201 and the subscription with `@odata.context` `…/$metadata#subscriptions/$entity`;
//!   the properties and their nulls as a real group subscription showed them in 2022
//!   (microsoft-graph-docs-contrib#1633): `resource` and `changeType` as sent, `notificationQueryOptions`,
//!   `encryptionCertificate`, `encryptionCertificateId`, `notificationUrlAppId` null when not given,
//!   `includeResourceData` null unless given, `latestSupportedTlsVersion` `v1_2` by default, and
//!   `expirationDateTime` in .NET's round-trip form without trailing zero digits.
//! - `GET /subscriptions` lists the subscriptions this app created, with `clientState` null ("not
//!   returned for security purposes", subscription-list); `GET /subscriptions/{id}` shows it.
//! - PATCH renews (`expirationDateTime`, same limits), 200 with the subscription; it also
//!   reauthorizes, as `POST …/reauthorize` (204) does (lifecycle-events page). Without
//!   `expirationDateTime`: 400 "Subscription must contain either the 'expirationDateTime' or
//!   'notificationUrl' property and its value." (microsoftgraph/msgraph-sdk-java#2323). DELETE: 204.
//!   An unknown id: 404 `ResourceNotFound` "The object was not found." (microsoftgraph/msgraph-sdk-php#221).
//! - A subscription not renewed in time is deleted: past its expiry it is 404 and gets nothing
//!   (delivery-webhooks page).
//! - A change to the group (a member added or removed, a rename) sends each of its live
//!   subscriptions whose `changeType` has `updated` one item: `subscriptionId`,
//!   `subscriptionExpirationDateTime`, `changeType` `updated`, `resource` `Groups/{id}`,
//!   `resourceData` {`@odata.type` `#Microsoft.Graph.Group`, `@odata.id` `Groups/{id}`, `id`,
//!   `organizationId`, `eventTime`, `sequenceNumber`}, `clientState` (when set) and `tenantId`: the
//!   shape of a real group notification (microsoft-graph-docs-contrib#7634, 2018), whose
//!   `subscriptionExpirationDateTime` has milliseconds and `+00:00` and whose `sequenceNumber` is the
//!   event time in .NET ticks. Membership changes of a group arrive as `updated` on it
//!   (microsoft-graph-docs-contrib#5505).
//! - Lifecycle notifications: `{subscriptionId, subscriptionExpirationDateTime, tenantId,
//!   clientState, lifecycleEvent}` to `lifecycleNotificationUrl`; for groups only
//!   `reauthorizationRequired` exists (lifecycle-events page).
//!
//! Unconfirmed, chosen here: the messages for a past expiry, a non-https URL, a long `clientState`,
//! `includeResourceData`, a resource the sandbox does not emulate and the quota; the answer for a
//! group that does not exist (404, the directory's message wrapped as `ExtensionError` wraps its
//! other causes) or an id that is not a GUID (400, likewise); the code of the errors whose observed
//! reports show only a message (`InvalidRequest` here); that another app's subscription is 404 to
//! this one; the item shape a `/groups/{id}/members` or `/groups` subscription would get
//! (`members@delta`, observed by users, not emulated: only `groups/{id}` is accepted); whether a
//! change inside a nested group notifies the groups containing it (nothing documents it: it does
//! not here); whether PATCH validates the URL again (it does not here); what PATCH answers for a
//! property other than `expirationDateTime` (400 here: `notificationUrl`, which newer docs allow
//! to change, is refused as not emulated rather than ignored; the others as not updatable). A
//! `clientState` is left out of an item when the subscription has none (Graph's examples always
//! show one).

use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::delivery::{self, DeliveryKind};
use super::{GraphError, Inner, Object, Permission, Tenant, paging};
use crate::identity::{self, TENANT_ID};

/// Groups' (and every directory resource's) maximum subscription length.
const MAX_MINUTES: i64 = 41_760;
/// Subscriptions on groups per app and tenant.
const QUOTA: usize = 100;
/// The longest `clientState` a subscription takes, in characters.
const CLIENT_STATE_MAX: usize = 128;
/// Seconds from .NET's epoch (0001-01-01) to the Unix epoch, for `sequenceNumber` (ticks).
const DOTNET_EPOCH_SECONDS: i128 = 62_135_596_800;

const UNREADABLE: &str = "Could not process subscription creation payload. Are all property names spelled and camelCased properly?";
const NOT_FOUND: &str = "The object was not found.";

/// A live subscription, as the tests see it ([`Tenant::subscriptions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    pub id: String,
    /// The resource as the creator sent it (`groups/{id}`, `/Groups/{id}`, ...).
    pub resource: String,
    pub group_id: String,
    /// As sent, e.g. `updated` or `updated,deleted`.
    pub change_type: String,
    /// As sent, its query included.
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: SystemTime,
    /// The identity whose token created it (`"system"` or a client id).
    pub creator: String,
    /// How many times it was reauthorized (`POST …/reauthorize` or a PATCH).
    pub reauthorized: u32,
}

/// Why [`Tenant::send_lifecycle_event`] sent nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// No live subscription has this id.
    UnknownSubscription(String),
    /// The subscription was created without a `lifecycleNotificationUrl`.
    NoLifecycleUrl(String),
    /// Not a lifecycle event Graph sends for groups (only `reauthorizationRequired`).
    UnsupportedEvent(String),
    /// Called outside a tokio runtime: nothing can be sent.
    NoRuntime,
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::UnknownSubscription(id) => write!(f, "no live subscription {id}"),
            LifecycleError::NoLifecycleUrl(id) => {
                write!(f, "subscription {id} has no lifecycleNotificationUrl")
            }
            LifecycleError::UnsupportedEvent(event) => write!(
                f,
                "Graph sends no '{event}' lifecycle event for groups (only reauthorizationRequired)"
            ),
            LifecycleError::NoRuntime => f.write_str("no tokio runtime to send from"),
        }
    }
}

impl std::error::Error for LifecycleError {}

/// One subscription in the tenant.
struct Subscription {
    id: String,
    resource: String,
    group_id: String,
    change_type: String,
    notification_url: String,
    lifecycle_url: Option<String>,
    client_state: Option<String>,
    expiration: OffsetDateTime,
    /// The creating identity, lower case.
    creator: String,
    include_resource_data: Option<bool>,
    latest_tls: String,
    encryption_certificate: Option<String>,
    encryption_certificate_id: Option<String>,
    notification_url_app_id: Option<String>,
    reauthorized: u32,
}

impl Subscription {
    fn notifies_updates(&self) -> bool {
        self.change_type
            .split(',')
            .any(|kind| kind.trim() == "updated")
    }
}

/// The ids Graph shows for an app: its application (client) id and its service principal's id.
#[derive(Clone)]
struct App {
    application_id: String,
    service_principal_id: String,
}

/// The tenant's subscriptions and what they send.
#[derive(Default)]
pub(super) struct Subscriptions {
    /// In creation order.
    live: Vec<Subscription>,
    apps: HashMap<String, App>,
    pub(super) delivery: delivery::State,
}

impl Subscriptions {
    /// Forgets the subscriptions past their expiry, as Graph deletes them.
    fn purge(&mut self, now: OffsetDateTime) {
        self.live.retain(|s| s.expiration > now);
    }

    /// The caller's live subscription `id`, after a purge.
    fn find_mut(&mut self, id: &str, caller: &str) -> Option<&mut Subscription> {
        self.purge(OffsetDateTime::now_utc());
        self.live
            .iter_mut()
            .find(|s| s.id.eq_ignore_ascii_case(id) && s.creator == caller)
    }

    /// The ids shown for `identity`'s app: a client id is its own application id; the system
    /// identity gets one made up, kept for the tenant's life, as is each service principal id.
    fn app(&mut self, identity: &str) -> App {
        self.apps
            .entry(identity.to_owned())
            .or_insert_with(|| App {
                application_id: match uuid::Uuid::parse_str(identity) {
                    Ok(id) => id.hyphenated().to_string(),
                    Err(_) => uuid::Uuid::new_v4().to_string(),
                },
                service_principal_id: uuid::Uuid::new_v4().to_string(),
            })
            .clone()
    }
}

impl Tenant {
    /// The live subscriptions, in creation order.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let mut inner = self.lock();
        inner.subscriptions.purge(OffsetDateTime::now_utc());
        inner
            .subscriptions
            .live
            .iter()
            .map(|s| SubscriptionInfo {
                id: s.id.clone(),
                resource: s.resource.clone(),
                group_id: s.group_id.clone(),
                change_type: s.change_type.clone(),
                notification_url: s.notification_url.clone(),
                lifecycle_notification_url: s.lifecycle_url.clone(),
                client_state: s.client_state.clone(),
                expiration: s.expiration.into(),
                creator: s.creator.clone(),
                reauthorized: s.reauthorized,
            })
            .collect()
    }

    /// Makes subscription `id` expire now, as if it had not been renewed: it is gone (404) and gets
    /// nothing more. False if there was no live subscription `id`.
    pub fn expire_subscription(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let before = inner.subscriptions.live.len();
        inner
            .subscriptions
            .live
            .retain(|s| !s.id.eq_ignore_ascii_case(id));
        inner.subscriptions.purge(OffsetDateTime::now_utc());
        inner.subscriptions.live.len() < before
    }

    /// Sends the lifecycle event `event` (for groups, only `reauthorizationRequired`) for
    /// subscription `subscription_id` to its `lifecycleNotificationUrl`, asynchronously.
    pub fn send_lifecycle_event(
        &self,
        subscription_id: &str,
        event: &str,
    ) -> Result<(), LifecycleError> {
        if event != "reauthorizationRequired" {
            return Err(LifecycleError::UnsupportedEvent(event.to_owned()));
        }
        let (url, item) = {
            let mut inner = self.lock();
            inner.subscriptions.purge(OffsetDateTime::now_utc());
            let subscription = inner
                .subscriptions
                .live
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(subscription_id))
                .ok_or_else(|| LifecycleError::UnknownSubscription(subscription_id.to_owned()))?;
            let url = subscription
                .lifecycle_url
                .clone()
                .ok_or_else(|| LifecycleError::NoLifecycleUrl(subscription.id.clone()))?;
            let mut item = Map::new();
            item.insert("subscriptionId".into(), json!(subscription.id));
            item.insert(
                "subscriptionExpirationDateTime".into(),
                json!(notification_time(subscription.expiration)),
            );
            item.insert("tenantId".into(), json!(TENANT_ID));
            if let Some(state) = &subscription.client_state {
                item.insert("clientState".into(), json!(state));
            }
            item.insert("lifecycleEvent".into(), json!(event));
            (url, Value::Object(item))
        };
        delivery::enqueue(self, DeliveryKind::Lifecycle, url, vec![item])
            .map_err(|_| LifecycleError::NoRuntime)
    }

    /// Group `group_id` changed (its members or its properties): one `updated` item for each of its
    /// live subscriptions that asked for updates, batched per notification URL. Groups containing
    /// it are not notified.
    pub(super) fn group_changed(&self, group_id: &str) {
        let now = OffsetDateTime::now_utc();
        let mut by_url: Vec<(String, Vec<Value>)> = Vec::new();
        {
            let mut inner = self.lock();
            inner.subscriptions.purge(now);
            for subscription in &inner.subscriptions.live {
                if subscription.group_id != group_id || !subscription.notifies_updates() {
                    continue;
                }
                let item = change_item(subscription, now);
                match by_url
                    .iter_mut()
                    .find(|(url, _)| *url == subscription.notification_url)
                {
                    Some((_, items)) => items.push(item),
                    None => by_url.push((subscription.notification_url.clone(), vec![item])),
                }
            }
        }
        for (url, items) in by_url {
            if let Err(delivery::NoRuntime) =
                delivery::enqueue(self, DeliveryKind::Notification, url.clone(), items.clone())
            {
                delivery::record_unsent(self, DeliveryKind::Notification, &url, items);
            }
        }
    }
}

/// The change notification for `subscription`'s group, changed at `at`.
fn change_item(subscription: &Subscription, at: OffsetDateTime) -> Value {
    let resource = format!("Groups/{}", subscription.group_id);
    let ticks = at.unix_timestamp_nanos() / 100 + DOTNET_EPOCH_SECONDS * 10_000_000;
    let mut item = Map::new();
    item.insert("subscriptionId".into(), json!(subscription.id));
    item.insert(
        "subscriptionExpirationDateTime".into(),
        json!(notification_time(subscription.expiration)),
    );
    item.insert("changeType".into(), json!("updated"));
    item.insert("resource".into(), json!(resource));
    item.insert(
        "resourceData".into(),
        json!({
            "@odata.type": "#Microsoft.Graph.Group",
            "@odata.id": resource,
            "id": subscription.group_id,
            "organizationId": TENANT_ID,
            "eventTime": round_trip_time(at, false),
            "sequenceNumber": i64::try_from(ticks).unwrap_or(i64::MAX),
        }),
    );
    if let Some(state) = &subscription.client_state {
        item.insert("clientState".into(), json!(state));
    }
    item.insert("tenantId".into(), json!(TENANT_ID));
    Value::Object(item)
}

/// `2018-11-22T01:47:00.2455823Z`: .NET's round-trip form (7 fractional digits), with the trailing
/// zero digits dropped when `trim` (Graph's `expirationDateTime`: `2022-11-07T14:00:00Z`).
fn round_trip_time(at: OffsetDateTime, trim: bool) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let seconds = at
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    let digits = format!("{:07}", at.nanosecond() / 100);
    let digits = if trim {
        digits.trim_end_matches('0')
    } else {
        digits.as_str()
    };
    if digits.is_empty() {
        format!("{seconds}Z")
    } else {
        format!("{seconds}.{digits}Z")
    }
}

/// `2018-11-24T18:13:08.914+00:00`: how a group notification carried its subscription's expiry.
fn notification_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let seconds = at
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    format!("{seconds}.{:03}+00:00", at.millisecond())
}

fn finish(result: Result<Response, GraphError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn invalid(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn not_found() -> GraphError {
    GraphError::new(StatusCode::NOT_FOUND, "ResourceNotFound", NOT_FOUND)
}

/// The identity in the request's bearer token (lower case). The authentication middleware has let
/// only valid tokens through; a request without one is answered as it answers them.
fn caller(headers: &HeaderMap) -> Result<String, GraphError> {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .and_then(|token| identity::token_claims(token.trim()))
        .map(|claims| claims.identity.to_ascii_lowercase())
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty.",
            )
        })
}

/// A valid create request.
struct Request {
    change_type: String,
    notification_url: String,
    lifecycle_url: Option<String>,
    resource: String,
    group_id: String,
    expiration: OffsetDateTime,
    client_state: Option<String>,
    include_resource_data: Option<bool>,
    latest_tls: Option<String>,
    encryption_certificate: Option<String>,
    encryption_certificate_id: Option<String>,
    notification_url_app_id: Option<String>,
}

/// A JSON object body, or the "could not process" 400.
fn object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(UNREADABLE)),
    }
}

/// The string property `name`: None if absent or null; the "could not process" 400 if not a string.
fn string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(UNREADABLE)),
    }
}

fn required(map: &Map<String, Value>, name: &str) -> Result<String, GraphError> {
    string(map, name)?.ok_or_else(|| {
        invalid(&format!(
            "{name} is a required property for subscription creation."
        ))
    })
}

/// An `expirationDateTime` value within the groups' limits.
fn expiration(value: &str, now: OffsetDateTime) -> Result<OffsetDateTime, GraphError> {
    let at = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid(UNREADABLE))?;
    if at <= now {
        return Err(invalid("Subscription expiration must be in the future."));
    }
    if at > now + time::Duration::minutes(MAX_MINUTES) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ExtensionError",
            &format!("Subscription expiration can only be {MAX_MINUTES} minutes in the future."),
        ));
    }
    // Graph keeps .NET's precision: 100 ns.
    Ok(at
        .replace_nanosecond(at.nanosecond() / 100 * 100)
        .unwrap_or(at))
}

/// A notification or lifecycle URL: absolute and https.
fn https_url(value: &str, name: &str) -> Result<String, GraphError> {
    match url::Url::parse(value) {
        Ok(url) if url.scheme() == "https" && url.host_str().is_some() => Ok(value.to_owned()),
        _ => Err(invalid(&format!("{name} must be an absolute https URL."))),
    }
}

/// The group a `resource` names: `groups/{id}` or `/groups/{id}`, `groups` in any case.
fn group_of(resource: &str) -> Result<String, GraphError> {
    let path = resource.strip_prefix('/').unwrap_or(resource);
    let mut segments = path.split('/');
    let (Some(collection), Some(id), None) = (segments.next(), segments.next(), segments.next())
    else {
        return Err(invalid(&format!(
            "The sandbox emulates subscriptions on one group only ('groups/{{id}}'), not on '{resource}'."
        )));
    };
    if !collection.eq_ignore_ascii_case("groups") {
        return Err(invalid(&format!(
            "The sandbox emulates subscriptions on one group only ('groups/{{id}}'), not on '{resource}'."
        )));
    }
    uuid::Uuid::parse_str(id)
        .map(|guid| guid.hyphenated().to_string())
        .map_err(|_| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "ExtensionError",
                &format!(
                    "Operation: Create; Exception: [Status Code: BadRequest; Reason: Invalid object identifier '{id}'.]"
                ),
            )
        })
}

/// The properties of a subscription a create request may carry; the read-only ones are ignored.
const READ_ONLY: &[&str] = &["id", "applicationId", "creatorId"];

fn parse_create(body: &[u8], now: OffsetDateTime) -> Result<Request, GraphError> {
    let map = object(body)?;
    for (name, value) in &map {
        let known = matches!(
            name.as_str(),
            "changeType"
                | "notificationUrl"
                | "lifecycleNotificationUrl"
                | "resource"
                | "expirationDateTime"
                | "clientState"
                | "includeResourceData"
                | "latestSupportedTlsVersion"
                | "encryptionCertificate"
                | "encryptionCertificateId"
                | "notificationUrlAppId"
                | "notificationQueryOptions"
                | "notificationContentType"
        ) || READ_ONLY.contains(&name.as_str());
        let odata_type = name == "@odata.type"
            && value
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("#microsoft.graph.subscription"));
        if !known && !odata_type {
            return Err(invalid(UNREADABLE));
        }
    }
    let include_resource_data = match map.get("includeResourceData") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid(UNREADABLE)),
    };
    for name in READ_ONLY {
        string(&map, name)?;
    }
    let expiration_value = required(&map, "expirationDateTime")?;
    let change_type = required(&map, "changeType")?;
    let notification_url = required(&map, "notificationUrl")?;
    let resource = required(&map, "resource")?;
    let lifecycle_url = string(&map, "lifecycleNotificationUrl")?;
    let client_state = string(&map, "clientState")?;
    let latest_tls = string(&map, "latestSupportedTlsVersion")?;
    let query_options = string(&map, "notificationQueryOptions")?;
    let content_type = string(&map, "notificationContentType")?;
    let encryption_certificate = string(&map, "encryptionCertificate")?;
    let encryption_certificate_id = string(&map, "encryptionCertificateId")?;
    let notification_url_app_id = string(&map, "notificationUrlAppId")?;

    for kind in change_type.split(',') {
        let kind = kind.trim();
        if kind != "updated" && kind != "deleted" {
            return Err(invalid(&format!(
                "Invalid 'changeType' attribute: '{kind}'."
            )));
        }
    }
    let notification_url = https_url(&notification_url, "notificationUrl")?;
    let lifecycle_url = lifecycle_url
        .map(|url| https_url(&url, "lifecycleNotificationUrl"))
        .transpose()?;
    if let Some(state) = &client_state
        && state.chars().count() > CLIENT_STATE_MAX
    {
        return Err(invalid(&format!(
            "clientState can be at most {CLIENT_STATE_MAX} characters long."
        )));
    }
    if let Some(version) = &latest_tls
        && !matches!(version.as_str(), "v1_0" | "v1_1" | "v1_2" | "v1_3")
    {
        return Err(invalid(&format!(
            "Invalid 'latestSupportedTlsVersion' attribute: '{version}'."
        )));
    }
    if include_resource_data == Some(true) {
        return Err(invalid(
            "includeResourceData is not supported for the resource 'groups'.",
        ));
    }
    if query_options.is_some() {
        return Err(invalid(
            "notificationQueryOptions is supported only for Universal Print resources.",
        ));
    }
    if let Some(content_type) = &content_type
        && !content_type.eq_ignore_ascii_case("application/json")
    {
        return Err(invalid(&format!(
            "Invalid 'notificationContentType' attribute: '{content_type}'."
        )));
    }
    let expiration = expiration(&expiration_value, now)?;
    let group_id = group_of(&resource)?;
    Ok(Request {
        change_type,
        notification_url,
        lifecycle_url,
        resource,
        group_id,
        expiration,
        client_state,
        include_resource_data,
        latest_tls,
        encryption_certificate,
        encryption_certificate_id,
        notification_url_app_id,
    })
}

/// 404 unless `group_id` is a group of the tenant.
fn check_group(inner: &Inner, group_id: &str) -> Result<(), GraphError> {
    match inner.objects.get(group_id) {
        Some(Object::Group { .. }) => Ok(()),
        _ => Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "ExtensionError",
            &format!(
                "Operation: Create; Exception: [Status Code: NotFound; Reason: Resource '{group_id}' does not exist or one of its queried reference-property objects are not present.]"
            ),
        )),
    }
}

/// 403 once `caller` has its 100 subscriptions on groups.
fn check_quota(subscriptions: &Subscriptions, caller: &str) -> Result<(), GraphError> {
    let held = subscriptions
        .live
        .iter()
        .filter(|s| s.creator == caller)
        .count();
    if held >= QUOTA {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ExtensionError",
            &format!(
                "Operation: Create; Exception: [Status Code: Forbidden; Reason: The limit of {QUOTA} subscriptions on groups per application and tenant has been reached.]"
            ),
        ));
    }
    Ok(())
}

/// The subscription as Graph shows it; `clientState` hidden in listings.
fn render(subscription: &Subscription, app: &App, hide_client_state: bool) -> Map<String, Value> {
    let client_state = if hide_client_state {
        None
    } else {
        subscription.client_state.as_deref()
    };
    let value = json!({
        "id": subscription.id,
        "resource": subscription.resource,
        "applicationId": app.application_id,
        "changeType": subscription.change_type,
        "clientState": client_state,
        "notificationUrl": subscription.notification_url,
        "notificationQueryOptions": null,
        "lifecycleNotificationUrl": subscription.lifecycle_url,
        "expirationDateTime": round_trip_time(subscription.expiration, true),
        "creatorId": app.service_principal_id,
        "includeResourceData": subscription.include_resource_data,
        "latestSupportedTlsVersion": subscription.latest_tls,
        "encryptionCertificate": subscription.encryption_certificate,
        "encryptionCertificateId": subscription.encryption_certificate_id,
        "notificationUrlAppId": subscription.notification_url_app_id,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// One subscription as an answer body, with its `@odata.context`.
fn entity(base: &str, subscription: &Subscription, app: &App) -> Value {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{base}/v1.0/$metadata#subscriptions/$entity")),
    );
    body.extend(render(subscription, app, false));
    Value::Object(body)
}

pub(super) async fn create(
    State(tenant): State<Tenant>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    finish(create_subscription(&tenant, &headers, &body).await)
}

async fn create_subscription(
    tenant: &Tenant,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    let caller = caller(headers)?;
    let request = parse_create(body, OffsetDateTime::now_utc())?;
    // Everything that can be refused without the endpoint, before it is asked.
    let admitted = |inner: &mut Inner| {
        if inner.revoked.contains(&Permission::GroupReadAll) {
            return Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]",
            ));
        }
        check_group(inner, &request.group_id)?;
        inner.subscriptions.purge(OffsetDateTime::now_utc());
        check_quota(&inner.subscriptions, &caller)
    };
    admitted(&mut tenant.lock())?;
    delivery::validate(tenant, &request.notification_url).await?;
    if let Some(url) = &request.lifecycle_url {
        delivery::validate(tenant, url).await?;
    }
    let mut inner = tenant.lock();
    // The state may have changed while the endpoint was asked.
    admitted(&mut inner)?;
    let app = inner.subscriptions.app(&caller);
    let subscription = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        resource: request.resource,
        group_id: request.group_id,
        change_type: request.change_type,
        notification_url: request.notification_url,
        lifecycle_url: request.lifecycle_url,
        client_state: request.client_state,
        expiration: request.expiration,
        creator: caller,
        include_resource_data: request.include_resource_data,
        latest_tls: request.latest_tls.unwrap_or_else(|| "v1_2".to_owned()),
        encryption_certificate: request.encryption_certificate,
        encryption_certificate_id: request.encryption_certificate_id,
        notification_url_app_id: request.notification_url_app_id,
        reauthorized: 0,
    };
    let base = paging::base(&inner, headers);
    let body = entity(&base, &subscription, &app);
    inner.subscriptions.live.push(subscription);
    Ok((StatusCode::CREATED, paging::json(body)).into_response())
}

pub(super) async fn list(State(tenant): State<Tenant>, headers: HeaderMap) -> Response {
    finish(caller(&headers).map(|caller| {
        let mut inner = tenant.lock();
        inner.subscriptions.purge(OffsetDateTime::now_utc());
        let app = inner.subscriptions.app(&caller);
        let value: Vec<Value> = inner
            .subscriptions
            .live
            .iter()
            .filter(|s| s.creator == caller)
            .map(|s| Value::Object(render(s, &app, true)))
            .collect();
        let base = paging::base(&inner, &headers);
        paging::json(json!({
            "@odata.context": format!("{base}/v1.0/$metadata#subscriptions"),
            "value": value,
        }))
    }))
}

pub(super) async fn get_one(
    State(tenant): State<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    finish(caller(&headers).and_then(|caller| {
        let mut inner = tenant.lock();
        let app = inner.subscriptions.app(&caller);
        let base = paging::base(&inner, &headers);
        let subscription = inner
            .subscriptions
            .find_mut(&id, &caller)
            .ok_or_else(not_found)?;
        Ok(paging::json(entity(&base, subscription, &app)))
    }))
}

pub(super) async fn update(
    State(tenant): State<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    finish(update_subscription(&tenant, &id, &headers, &body))
}

fn update_subscription(
    tenant: &Tenant,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    let caller = caller(headers)?;
    let mut inner = tenant.lock();
    let app = inner.subscriptions.app(&caller);
    let base = paging::base(&inner, headers);
    let subscription = inner
        .subscriptions
        .find_mut(id, &caller)
        .ok_or_else(not_found)?;
    let map = object(body)?;
    for name in map.keys() {
        match name.as_str() {
            "expirationDateTime" | "@odata.type" => {}
            "notificationUrl" => {
                return Err(invalid(
                    "The sandbox does not emulate changing a subscription's notificationUrl.",
                ));
            }
            _ => {
                return Err(invalid(&format!(
                    "Only expirationDateTime can be updated, not '{name}'."
                )));
            }
        }
    }
    let Some(value) = string(&map, "expirationDateTime")? else {
        return Err(invalid(
            "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property and its value.",
        ));
    };
    subscription.expiration = expiration(&value, OffsetDateTime::now_utc())?;
    subscription.reauthorized += 1;
    Ok(paging::json(entity(&base, subscription, &app)))
}

pub(super) async fn delete(
    State(tenant): State<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    finish(caller(&headers).and_then(|caller| {
        let mut inner = tenant.lock();
        let subscriptions = &mut inner.subscriptions;
        subscriptions.find_mut(&id, &caller).ok_or_else(not_found)?;
        subscriptions
            .live
            .retain(|s| !(s.id.eq_ignore_ascii_case(&id) && s.creator == caller));
        Ok(StatusCode::NO_CONTENT.into_response())
    }))
}

pub(super) async fn reauthorize(
    State(tenant): State<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    finish(caller(&headers).and_then(|caller| {
        let mut inner = tenant.lock();
        let subscription = inner
            .subscriptions
            .find_mut(&id, &caller)
            .ok_or_else(not_found)?;
        subscription.reauthorized += 1;
        Ok(StatusCode::NO_CONTENT.into_response())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn times_are_written_as_graph_writes_them() {
        assert_eq!(
            round_trip_time(at("2022-11-07T14:00:00.0000000Z"), true),
            "2022-11-07T14:00:00Z"
        );
        assert_eq!(
            round_trip_time(at("2016-11-20T18:23:45.9356913Z"), true),
            "2016-11-20T18:23:45.9356913Z"
        );
        assert_eq!(
            round_trip_time(at("2018-11-22T01:47:00.24558Z"), false),
            "2018-11-22T01:47:00.2455800Z"
        );
        assert_eq!(
            notification_time(at("2018-11-24T18:13:08.914Z")),
            "2018-11-24T18:13:08.914+00:00"
        );
    }

    #[test]
    fn the_sequence_number_is_the_event_time_in_dotnet_ticks() {
        // The pair observed in a real group notification (microsoft-graph-docs-contrib#7634).
        let time = at("2018-11-22T01:47:00.2455823Z");
        let ticks = time.unix_timestamp_nanos() / 100 + DOTNET_EPOCH_SECONDS * 10_000_000;
        assert_eq!(ticks, 636_784_480_202_455_823);
    }

    #[test]
    fn only_one_group_is_a_resource() {
        let id = "0b5e3c1f-6a0e-4a59-9b1f-6f0f6a3c2d11";
        assert_eq!(group_of(&format!("groups/{id}")).unwrap(), id);
        assert_eq!(group_of(&format!("/Groups/{id}")).unwrap(), id);
        assert_eq!(
            group_of("groups/nope").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        for resource in ["groups", "/users/x", &format!("groups/{id}/members")] {
            assert_eq!(
                group_of(resource).unwrap_err().code,
                "InvalidRequest",
                "{resource}"
            );
        }
    }

    #[test]
    fn expiry_is_bounded_by_the_groups_maximum() {
        let now = at("2026-01-01T00:00:00Z");
        assert!(expiration("2026-01-29T23:59:00Z", now).is_ok());
        assert!(expiration("2026-01-30T00:00:00Z", now).is_ok());
        assert_eq!(
            expiration("2026-01-30T00:00:01Z", now).unwrap_err().code,
            "ExtensionError"
        );
        assert_eq!(
            expiration("2025-12-31T23:59:59Z", now).unwrap_err().code,
            "InvalidRequest"
        );
        assert_eq!(expiration("tomorrow", now).unwrap_err().message, UNREADABLE);
    }
}
