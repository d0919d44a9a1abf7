//! Microsoft Graph v1.0 for one Entra ID tenant: users, groups (nesting allowed, cycles too), service
//! principals, the read endpoints a group sync uses, and change-notification subscriptions on a group.
//!
//! This module owns the tenant's state, its public builder API, the router and Graph's error shape.
//! The wire behaviour lives in submodules: `auth` (bearer tokens from [`crate::identity`]),
//! `objects` (how directory objects are represented), `query` (OData query options), `filter`
//! (the `$filter` subset), `listing` (the endpoints) and `paging` (pages, `@odata.count` and
//! `@odata.nextLink`). [`Tenant::revoke`] takes a permission from the app: members of its kind are
//! then listed with limited information, as Graph does, and without [`Permission::GroupReadAll`] no
//! subscription can be made.
//!
//! Subscriptions (`/subscriptions`, `/subscriptions/{id}`, `/subscriptions/{id}/reauthorize`; its
//! header lists what is followed, the sources and what is unconfirmed) are in `subscriptions`: a
//! group's change ([`Tenant::add_member`], [`Tenant::remove_member`], [`Tenant::rename_group`])
//! notifies that group's subscriptions, never those of the groups containing it. What they send
//! (the validation handshake, batched and retried notifications, lifecycle events) is in `delivery`,
//! through the client given with [`Tenant::set_outbound_client`]; the tests read it back with
//! [`Tenant::deliveries`] and [`Tenant::subscriptions`].

mod auth;
mod delivery;
mod filter;
mod listing;
mod objects;
mod paging;
mod query;
mod subscriptions;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::faults::{self, Faults};

pub use delivery::{Delivery, DeliveryKind, Outcome};
pub use subscriptions::{LifecycleError, SubscriptionInfo};

/// A user to add with [`Tenant::add_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub display_name: String,
    pub account_enabled: bool,
    /// `"Member"` or `"Guest"`.
    pub user_type: String,
}

impl NewUser {
    /// An enabled member whose mail is its UPN.
    pub fn member(user_principal_name: &str, display_name: &str) -> NewUser {
        NewUser {
            user_principal_name: user_principal_name.to_owned(),
            mail: Some(user_principal_name.to_owned()),
            display_name: display_name.to_owned(),
            account_enabled: true,
            user_type: "Member".to_owned(),
        }
    }

    /// An enabled B2B guest: UPN `alice_contoso.com#EXT#@<tenant>.onmicrosoft.com`, mail `alice@contoso.com`.
    pub fn guest(mail: &str, display_name: &str) -> NewUser {
        NewUser {
            user_principal_name: format!("{}#EXT#@sandbox.onmicrosoft.com", mail.replace('@', "_")),
            mail: Some(mail.to_owned()),
            display_name: display_name.to_owned(),
            account_enabled: true,
            user_type: "Guest".to_owned(),
        }
    }
}

/// A Graph application permission the app can lack ([`Tenant::revoke`]; every one is granted at
/// first). Without `User.Read.All` or `Application.Read.All`, listings still show members of that
/// kind, "with limited information": `@odata.type` and `id`, every other property null (Learn, group
/// `members` and `transitiveMembers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Users' properties (`userPrincipalName`, `mail`, ...).
    UserReadAll,
    /// Service principals' properties (`appId`, ...).
    ApplicationReadAll,
    /// `Group.Read.All`: creating a change-notification subscription on a group (403 without it).
    GroupReadAll,
}

/// A directory object of the tenant.
#[derive(Debug, Clone)]
enum Object {
    User {
        user: NewUser,
        created: String,
    },
    Group {
        display_name: String,
        members: Vec<String>,
        created: String,
    },
    ServicePrincipal {
        app_id: String,
        display_name: String,
        account_enabled: bool,
        created: String,
    },
}

/// Where a listing's `$skiptoken` leads: the next offset into the listing at `path`.
#[derive(Debug, Clone)]
struct PageToken {
    path: String,
    offset: usize,
}

/// Bumped by every change to objects or memberships: a cached listing of an older generation is stale.
type Generation = u64;

/// Listings kept between pages, at most this many.
const CACHED_LISTINGS: usize = 64;

struct Inner {
    /// Object ids in creation order, for stable listings.
    order: Vec<String>,
    objects: HashMap<String, Object>,
    public_base: Option<String>,
    max_page_size: usize,
    page_tokens: HashMap<String, PageToken>,
    denied: HashSet<String>,
    /// Permissions the app lacks: members of those kinds are listed with limited information.
    revoked: HashSet<Permission>,
    generation: Generation,
    /// The ids a listing matched (by path and query without `$skiptoken`), and when: the pages of one
    /// listing do not walk a large group's nesting again while nothing changed.
    listings: HashMap<String, (Generation, Arc<Vec<String>>)>,
    /// Change-notification subscriptions and their deliveries.
    subscriptions: subscriptions::Subscriptions,
}

impl Inner {
    /// Whether members of `kind` are shown with limited information (the app lacks the permission).
    fn limited(&self, kind: objects::Kind) -> bool {
        match kind {
            objects::Kind::User => self.revoked.contains(&Permission::UserReadAll),
            objects::Kind::ServicePrincipal => {
                self.revoked.contains(&Permission::ApplicationReadAll)
            }
            objects::Kind::Group => false,
        }
    }

    /// The ids matched by the listing `key`, from the cache while nothing changed, else `compute`d.
    fn listing(
        &mut self,
        key: String,
        compute: impl FnOnce(&Inner) -> Result<Vec<String>, GraphError>,
    ) -> Result<Arc<Vec<String>>, GraphError> {
        if let Some((generation, ids)) = self.listings.get(&key)
            && *generation == self.generation
        {
            return Ok(Arc::clone(ids));
        }
        let ids = Arc::new(compute(self)?);
        if self.listings.len() >= CACHED_LISTINGS {
            self.listings.clear();
        }
        self.listings
            .insert(key, (self.generation, Arc::clone(&ids)));
        Ok(ids)
    }
}

/// One Entra ID tenant as Microsoft Graph shows it. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Tenant {
    inner: Arc<Mutex<Inner>>,
    faults: Faults,
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant::new()
    }
}

impl Tenant {
    pub fn new() -> Self {
        let inner = Inner {
            order: Vec::new(),
            objects: HashMap::new(),
            public_base: None,
            max_page_size: 999,
            page_tokens: HashMap::new(),
            denied: HashSet::new(),
            revoked: HashSet::new(),
            generation: 0,
            listings: HashMap::new(),
            subscriptions: subscriptions::Subscriptions::default(),
        };
        Tenant {
            inner: Arc::new(Mutex::new(inner)),
            faults: Faults::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, to change objects or memberships: cached listings become stale.
    fn lock_to_change(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.lock();
        inner.generation += 1;
        inner
    }

    /// Routes under `/v1.0/...`, behind the faults middleware and bearer-token authentication.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1.0/groups", get(listing::list_groups))
            .route("/v1.0/groups/{id}", get(listing::get_group))
            .route("/v1.0/groups/{id}/{relation}", get(listing::list_members))
            .route(
                "/v1.0/groups/{id}/{relation}/{cast}",
                get(listing::list_members_cast),
            )
            .route(
                "/v1.0/subscriptions",
                get(subscriptions::list).post(subscriptions::create),
            )
            .route(
                "/v1.0/subscriptions/{id}",
                get(subscriptions::get_one)
                    .patch(subscriptions::update)
                    .delete(subscriptions::delete),
            )
            .route(
                "/v1.0/subscriptions/{id}/reauthorize",
                post(subscriptions::reauthorize),
            )
            .fallback(listing::unknown_segment)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                auth::authenticate,
            ))
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                faults::layer,
            ))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Base of absolute `@odata.nextLink` and `@odata.context` URLs, e.g. `https://graph.microsoft.com`
    /// (default: `http://<Host header>`).
    pub fn set_public_base(&self, base: &str) {
        self.lock().public_base = Some(base.trim_end_matches('/').to_owned());
    }

    /// The server's page cap (default 999, as Graph for directory objects).
    pub fn set_max_page_size(&self, n: usize) {
        self.lock().max_page_size = n.max(1);
    }

    /// Forgets every `$skiptoken` handed out, as if they had expired: following them gives 400.
    pub fn expire_page_tokens(&self) {
        self.lock().page_tokens.clear();
    }

    /// This identity (`"system"` or a client id) lacks the Graph application permissions: 403.
    pub fn deny(&self, identity: &str) {
        self.lock().denied.insert(identity.to_ascii_lowercase());
    }

    /// The app lacks this permission (every caller: the tenant has one app): members of its kind are
    /// listed with limited information.
    pub fn revoke(&self, permission: Permission) {
        self.lock().revoked.insert(permission);
    }

    /// The app has this permission again.
    pub fn grant(&self, permission: Permission) {
        self.lock().revoked.remove(&permission);
    }

    pub fn add_user(&self, user: NewUser) -> String {
        self.insert(Object::User {
            user,
            created: now(),
        })
    }

    /// Display names need not be unique.
    pub fn add_group(&self, display_name: &str) -> String {
        self.insert(Object::Group {
            display_name: display_name.to_owned(),
            members: Vec::new(),
            created: now(),
        })
    }

    pub fn add_service_principal(
        &self,
        app_id: &str,
        display_name: &str,
        account_enabled: bool,
    ) -> String {
        self.insert(Object::ServicePrincipal {
            app_id: app_id.to_owned(),
            display_name: display_name.to_owned(),
            account_enabled,
            created: now(),
        })
    }

    /// The id of the first group (in creation order) with this display name.
    pub fn group_id(&self, display_name: &str) -> Option<String> {
        let inner = self.lock();
        inner.order.iter().find(|id| {
            matches!(inner.objects.get(*id), Some(Object::Group { display_name: name, .. }) if name == display_name)
        }).cloned()
    }

    /// The id of the user with this user principal name (case-insensitive).
    pub fn user_id(&self, user_principal_name: &str) -> Option<String> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .find(|id| {
                matches!(inner.objects.get(*id), Some(Object::User { user, .. })
                    if user.user_principal_name.eq_ignore_ascii_case(user_principal_name))
            })
            .cloned()
    }

    /// Renames a group (its id stays); its subscriptions are notified.
    pub fn rename_group(&self, group_id: &str, display_name: &str) {
        let renamed = match self.lock_to_change().objects.get_mut(group_id) {
            Some(Object::Group {
                display_name: name, ..
            }) => {
                *name = display_name.to_owned();
                true
            }
            _ => false,
        };
        if renamed {
            self.group_changed(group_id);
        }
    }

    fn insert(&self, object: Object) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut inner = self.lock_to_change();
        inner.order.push(id.clone());
        inner.objects.insert(id.clone(), object);
        id
    }

    /// Adds a user, group (nesting) or service principal to a group's direct members (once); the
    /// group's subscriptions (not those of the groups containing it) are notified.
    /// Panics if either id is unknown: that is a mistake in the test.
    pub fn add_member(&self, group_id: &str, member_id: &str) {
        let added = {
            let mut inner = self.lock_to_change();
            assert!(
                inner.objects.contains_key(member_id),
                "add_member: unknown member {member_id}"
            );
            match inner.objects.get_mut(group_id) {
                Some(Object::Group { members, .. }) => {
                    let new = !members.iter().any(|m| m == member_id);
                    if new {
                        members.push(member_id.to_owned());
                    }
                    new
                }
                _ => panic!("add_member: {group_id} is not a group"),
            }
        };
        if added {
            self.group_changed(group_id);
        }
    }

    /// Removes a direct member; if it was one, the group's subscriptions are notified.
    pub fn remove_member(&self, group_id: &str, member_id: &str) {
        let removed = match self.lock_to_change().objects.get_mut(group_id) {
            Some(Object::Group { members, .. }) => {
                let before = members.len();
                members.retain(|m| m != member_id);
                members.len() < before
            }
            _ => false,
        };
        if removed {
            self.group_changed(group_id);
        }
    }

    /// Enables or disables a user's (or service principal's) account.
    pub fn set_account_enabled(&self, user_id: &str, enabled: bool) {
        match self.lock_to_change().objects.get_mut(user_id) {
            Some(Object::User { user, .. }) => user.account_enabled = enabled,
            Some(Object::ServicePrincipal {
                account_enabled, ..
            }) => *account_enabled = enabled,
            _ => {}
        }
    }
}

fn now() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A Graph error answer (see [`error`]).
#[derive(Debug)]
struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, message: &str) -> GraphError {
        GraphError {
            status,
            code,
            message: message.to_owned(),
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        error(self.status, self.code, &self.message)
    }
}

/// Graph's error shape, with the `innerError` diagnostics Graph adds.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let date = time::OffsetDateTime::now_utc()
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    let body = serde_json::json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": { "date": date, "request-id": request_id, "client-request-id": request_id },
        }
    });
    (status, Json(body)).into_response()
}
