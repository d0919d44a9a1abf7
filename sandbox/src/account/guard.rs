//! What stands in front of every account handler: the bearer token (an Entra token for Azure
//! Databricks, `2ff814a6-…`, from the emulated identity endpoint, of an identity admitted as account
//! admin; else 401, or 403 for an identity that is not an account admin), the account id in the path
//! (another one: 404) and, when switched on, a rate limit per request kind with 429 and `Retry-After`
//! in whole seconds. Errors take the shape of the API asked: SCIM error documents under `/scim/v2/`,
//! `{"error_code","message"}` elsewhere.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::identity::{DATABRICKS_RESOURCE, resource_matches, token_claims};
use crate::scim::error::ScimError;
use crate::scim::guard::TokenBucket;

use super::Account;
use super::rest::RestError;

/// Requests per second of each kind before the account answers 429. The numbers Databricks documents
/// for the account SCIM API could not be read from the primary page; [`RateLimits::INDICATIVE`] holds
/// the secondary ones (unconfirmed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// GET of one resource.
    pub get: f64,
    /// GET of a collection (SCIM LIST, the permission assignment list).
    pub list: f64,
    pub patch: f64,
    /// POST, PUT and DELETE.
    pub write: f64,
}

impl RateLimits {
    /// GET 20/s, LIST 240/min, PATCH 2/s, POST/PUT/DELETE 5/s.
    pub const INDICATIVE: RateLimits = RateLimits {
        get: 20.0,
        list: 4.0,
        patch: 2.0,
        write: 5.0,
    };
}

/// One token bucket per request kind, and how many requests they refused.
pub(crate) struct Limits {
    buckets: [TokenBucket; 4],
    pub throttled: usize,
}

impl Limits {
    pub fn new(rates: RateLimits) -> Limits {
        Limits {
            buckets: [rates.get, rates.list, rates.patch, rates.write].map(TokenBucket::new),
            throttled: 0,
        }
    }
}

/// Which bucket a request takes from.
fn bucket(method: &Method, path: &str) -> usize {
    let collection = [
        "/Users",
        "/Groups",
        "/ServicePrincipals",
        "/permissionassignments",
    ]
    .iter()
    .any(|end| path.ends_with(end));
    match *method {
        Method::GET if collection => 1,
        Method::GET => 0,
        Method::PATCH => 2,
        _ => 3,
    }
}

/// The middleware; installed with `from_fn_with_state(account, guard)`.
pub(crate) async fn guard(
    State(account): State<Account>,
    request: Request,
    next: Next,
) -> Response {
    let scim = request.uri().path().contains("/scim/v2/");
    match admit(&account, &request) {
        Ok(()) => next.run(request).await,
        Err(Refusal::Unauthorized) if scim => ScimError::unauthorized().into_response(),
        Err(Refusal::Unauthorized) => RestError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Invalid access token or no access token supplied.",
        )
        .into_response(),
        Err(Refusal::Forbidden) if scim => {
            ScimError::forbidden("Only account admins can manage account identities.")
                .into_response()
        }
        Err(Refusal::Forbidden) => RestError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Only account admins can manage workspace permission assignments.",
        )
        .into_response(),
        Err(Refusal::NoAccount(id)) if scim => {
            ScimError::not_found(format!("Account {id} not found.")).into_response()
        }
        Err(Refusal::NoAccount(id)) => {
            RestError::not_found(format!("Account {id} does not exist.")).into_response()
        }
        Err(Refusal::Throttled(after)) if scim => ScimError::throttled(after).into_response(),
        Err(Refusal::Throttled(after)) => RestError {
            retry_after: Some(after),
            ..RestError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "REQUEST_LIMIT_EXCEEDED",
                "Too many requests. Please wait a moment and try again.",
            )
        }
        .into_response(),
    }
}

enum Refusal {
    Unauthorized,
    Forbidden,
    NoAccount(String),
    Throttled(u64),
}

fn admit(account: &Account, request: &Request) -> Result<(), Refusal> {
    let token = (request.headers().get("authorization"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let claims = token
        .and_then(token_claims)
        .filter(|c| resource_matches(&c.resource, DATABRICKS_RESOURCE))
        .ok_or(Refusal::Unauthorized)?;
    let mut state = account.state();
    if !state.admins.contains(&claims.identity) {
        return Err(Refusal::Forbidden);
    }
    let path = request.uri().path();
    // Other paths are left to the router's fallback (404 `No API found`).
    if let Some(rest) = path.strip_prefix("/api/2.0/accounts/") {
        let asked = rest.split('/').next().unwrap_or_default();
        if asked != account.account_id() {
            return Err(Refusal::NoAccount(asked.to_owned()));
        }
    }
    if let Some(limits) = state.limits.as_mut() {
        let kind = bucket(request.method(), path);
        if let Err(after) = limits.buckets[kind].take(Instant::now()) {
            limits.throttled += 1;
            return Err(Refusal::Throttled(after));
        }
    }
    Ok(())
}
