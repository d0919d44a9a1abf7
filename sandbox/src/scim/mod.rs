//! A stateful emulator of one Azure Databricks workspace's SCIM API (`/api/2.0/preview/scim/v2/{Users,
//! Groups,ServicePrincipals,Me}`), faithful to ../shared/reference/databricks-scim.md, unpleasant parts
//! included: eventual consistency of LIST, just-in-time users that LIST does not show but POST conflicts
//! with, server-side page caps, throttling (writes, or every request) with `Retry-After`, PATCH
//! answering 200 or 204, empty multi-valued attributes and empty `Resources` left out. This module owns the public handle
//! ([`ScimWorkspace`]): construction, routing, seeding and inspection for tests, and the switches.
//!
//! The workspace starts with the PAT owner `admin@contoso.com` (returned by `/Me`) in the built-in `admins`
//! group; no `users` system group is emulated, so group listings hold only `admins` and what tests add.
//! Groups nest (in `admins` too), and a member shows its kind in `$ref` (`Users/<id>`, `Groups/<id>`,
//! `ServicePrincipals/<id>`, as the Terraform provider reads it). An account group (identity federation)
//! can be a member of a workspace group, `admins` included, without being served: `GET Groups/<id>`
//! answers 404 for it, and LIST does not show it ([`ScimWorkspace::nest_account_group`]). An account
//! ([`crate::account`]) federates into the workspace the principals assigned to it, with their account
//! ids, and its assigned account groups, which LIST then shows with `meta.resourceType` `Group`, and
//! GET and PATCH serve for their entitlements in this workspace only ([`federation`],
//! [`account_groups`]); a POST of a user or service principal on such a workspace adds it to the
//! account and assigns it here.
//! Every answer is `application/json`; errors are SCIM error documents ([`error`]).

mod account_groups;
pub(crate) mod error;
pub(crate) mod federation;
pub(crate) mod fields;
pub(crate) mod filter;
mod groups;
pub(crate) mod guard;
pub(crate) mod members;
mod membership;
pub(crate) mod patch;
pub(crate) mod query;
pub(crate) mod render;
mod service_principals;
mod snapshot;
pub(crate) mod store;
mod users;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::faults::{self, Faults};
use error::ScimError;
use guard::Throttle;
use store::Store;

pub use guard::{ThrottleScope, ThrottleStats};
pub use snapshot::{GroupSnapshot, ServicePrincipalSnapshot, UserSnapshot};
pub use store::{ADMIN_USER_NAME, DEFAULT_MAX_PAGE_SIZE};

/// Where the workspace SCIM API lives on a workspace host.
pub const SCIM_ROOT: &str = "/api/2.0/preview/scim/v2";

struct Shared {
    pat: String,
    faults: Faults,
    store: Mutex<Store>,
}

/// One emulated workspace. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct ScimWorkspace {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ScimWorkspace {
    /// Never prints the PAT.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = self.store();
        f.debug_struct("ScimWorkspace")
            .field("users", &store.users.iter().count())
            .field("groups", &store.groups.iter().count())
            .field(
                "service_principals",
                &store.service_principals.iter().count(),
            )
            .finish_non_exhaustive()
    }
}

impl ScimWorkspace {
    /// A workspace whose admin PAT is `pat`.
    pub fn new(pat: &str) -> ScimWorkspace {
        ScimWorkspace {
            shared: Arc::new(Shared {
                pat: pat.to_owned(),
                faults: Faults::default(),
                store: Mutex::new(Store::new()),
            }),
        }
    }

    /// The API under [`SCIM_ROOT`], behind the fault middleware (outermost, so it logs every request),
    /// then auth and the write-rate limit. Unknown paths answer 404, wrong methods 405, both as SCIM errors.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                &format!("{SCIM_ROOT}/Users"),
                get(users::list).post(users::create),
            )
            .route(
                &format!("{SCIM_ROOT}/Users/{{id}}"),
                get(users::get)
                    .put(users::replace)
                    .patch(users::patch)
                    .delete(users::delete),
            )
            .route(&format!("{SCIM_ROOT}/Me"), get(users::me))
            .route(
                &format!("{SCIM_ROOT}/Groups"),
                get(groups::list).post(groups::create),
            )
            .route(
                &format!("{SCIM_ROOT}/Groups/{{id}}"),
                get(groups::get)
                    .put(groups::replace)
                    .patch(groups::patch)
                    .delete(groups::delete),
            )
            .route(
                &format!("{SCIM_ROOT}/ServicePrincipals"),
                get(service_principals::list).post(service_principals::create),
            )
            .route(
                &format!("{SCIM_ROOT}/ServicePrincipals/{{id}}"),
                get(service_principals::get)
                    .put(service_principals::replace)
                    .patch(service_principals::patch)
                    .delete(service_principals::delete),
            )
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(no_such_path)
            .layer(from_fn_with_state(self.clone(), guard::guard))
            .layer(from_fn_with_state(self.faults().clone(), faults::layer))
            .with_state(self.clone())
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Server-side cap on `count` (default [`DEFAULT_MAX_PAGE_SIZE`]); also the page size when `count` is absent.
    pub fn set_max_page_size(&self, n: usize) {
        self.store().settings.max_page_size = n;
    }

    /// Resources created through the API from now on show in LIST (and filter) results only `d` after
    /// their creation; GET by id sees them at once. Seeded resources are never delayed.
    pub fn set_visibility_delay(&self, d: Duration) {
        self.store().settings.visibility_delay = d;
    }

    /// Token bucket over POST/PATCH/PUT/DELETE (`None`: unlimited, the default). Burst capacity is
    /// `max(1, ceil(per_second))`; rates below 0.001/s count as 0.001/s. Replaces any throttle set
    /// before, and its counts.
    pub fn set_write_rate(&self, per_second: Option<f64>) {
        self.store().throttle = per_second.map(|rate| Throttle::new(rate, ThrottleScope::Writes));
    }

    /// The same token bucket over every request, reads included: a workspace throttled as Databricks
    /// documents it (a rate per workspace for SCIM GET; the emulator applies it to writes too).
    pub fn set_request_rate(&self, per_second: Option<f64>) {
        self.store().throttle = per_second.map(|rate| Throttle::new(rate, ThrottleScope::All));
    }

    /// The throttle's 429s and episodes since it was set (all zero without one).
    pub fn throttling(&self) -> ThrottleStats {
        self.store()
            .throttle
            .as_ref()
            .map(Throttle::stats)
            .unwrap_or_default()
    }

    /// PATCH answers 204 with no body instead of 200 with the resource.
    pub fn set_patch_answers_204(&self, yes: bool) {
        self.store().settings.patch_answers_204 = yes;
    }

    /// ListResponses leave out `totalResults` (some Databricks endpoints do): clients must page until an
    /// empty page.
    pub fn set_omit_total_results(&self, yes: bool) {
        self.store().settings.omit_total_results = yes;
    }

    pub(crate) fn pat(&self) -> &str {
        &self.shared.pat
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer to a successful PATCH: the resource (rendered only then), or 204 when switched.
    pub(crate) fn patched(
        &self,
        store: &Store,
        resource: impl FnOnce() -> Result<Value, ScimError>,
    ) -> Result<Response, ScimError> {
        if store.settings.patch_answers_204 {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Ok(Json(resource()?).into_response())
        }
    }
}

async fn no_such_path(uri: Uri) -> ScimError {
    ScimError::no_such_path(uri.path())
}

async fn method_not_allowed() -> ScimError {
    ScimError::method_not_allowed()
}
