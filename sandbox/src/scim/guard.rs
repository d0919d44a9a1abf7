//! What stands in front of every SCIM handler: the bearer-token check and the rate limit (the throttle).
//!
//! Auth: `Authorization: Bearer <pat>` (scheme case-insensitive), or an Entra token for Azure Databricks
//! of an identity admitted with `ScimWorkspace::admit_identity`, or 401; the token is never echoed. The PAT
//! belongs to the admin user, so it stops working (401) once that user is deactivated or deleted, and
//! everything but `/Me` answers 403 once that user leaves the `admins` group: that is how a sync that
//! deprovisions its own identity breaks in the field. Requests that pass auth then take a token from a
//! bucket refilled at the configured rate (writes only: POST, PATCH, PUT, DELETE, or every request, as
//! set); an empty bucket answers 429 with `Retry-After` in whole seconds (at least 1) and Databricks'
//! SCIM error body. The throttle counts its 429s and its throttling episodes ([`ThrottleStats`]).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::ScimWorkspace;
use super::error::ScimError;
use super::store::ADMINS_GROUP;

/// Smallest accepted rate, so that `Retry-After` stays finite.
const MIN_RATE: f64 = 0.001;

/// A token bucket holding up to `max(1, rate)` tokens, refilled continuously at `rate` per second.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket. Non-finite or tiny rates are clamped to [`MIN_RATE`].
    pub fn new(per_second: f64) -> TokenBucket {
        let rate = if per_second.is_finite() {
            per_second.max(MIN_RATE)
        } else {
            MIN_RATE
        };
        let capacity = rate.ceil().max(1.0);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            updated: Instant::now(),
        }
    }

    /// Takes one token, or says how many whole seconds until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            // The cast is safe: the deficit is below one token and the rate at least MIN_RATE.
            Err((((1.0 - self.tokens) / self.rate).ceil() as u64).max(1))
        }
    }
}

/// Which requests a throttle takes a token for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// POST, PATCH, PUT and DELETE; reads are unlimited.
    Writes,
    /// Every request that passes auth, reads included.
    All,
}

/// What a throttle did. An episode begins with a 429 answered while none is open and lasts until the
/// throttle next lets a request through: every 429 in between (requests already in flight when the
/// first was answered, or a client that ignores `Retry-After`) belongs to it. A client that backs off
/// once per episode and honours `Retry-After` gets one 429 per episode, give or take what it had in
/// flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStats {
    /// Requests answered 429 by the throttle (injected faults not included).
    pub throttled: usize,
    pub episodes: usize,
    /// The most 429s any one episode had.
    pub most_in_an_episode: usize,
}

/// A token bucket over the requests in scope, and what it answered.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    bucket: TokenBucket,
    scope: ThrottleScope,
    stats: ThrottleStats,
    /// 429s of the open episode (0: none is open).
    in_episode: usize,
}

impl Throttle {
    pub fn new(per_second: f64, scope: ThrottleScope) -> Throttle {
        Throttle {
            bucket: TokenBucket::new(per_second),
            scope,
            stats: ThrottleStats::default(),
            in_episode: 0,
        }
    }

    pub fn stats(&self) -> ThrottleStats {
        self.stats
    }

    /// Lets a request through or answers it 429, counting episodes.
    pub fn admit(&mut self, write: bool, now: Instant) -> Result<(), ScimError> {
        if !write && self.scope == ThrottleScope::Writes {
            return Ok(());
        }
        match self.bucket.take(now) {
            Ok(()) => {
                self.in_episode = 0;
                Ok(())
            }
            Err(after) => {
                if self.in_episode == 0 {
                    self.stats.episodes += 1;
                }
                self.in_episode += 1;
                self.stats.throttled += 1;
                self.stats.most_in_an_episode = self.stats.most_in_an_episode.max(self.in_episode);
                Err(ScimError::throttled(after))
            }
        }
    }
}

/// The middleware; installed with `from_fn_with_state(workspace, guard)`.
pub(crate) async fn guard(
    State(workspace): State<ScimWorkspace>,
    request: Request,
    next: Next,
) -> Response {
    let mut request = request;
    match admit(&workspace, &request) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// Who is calling: the id of the admin user (PAT) or of an admitted service principal; `/Me` answers it.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub String);

fn admit(workspace: &ScimWorkspace, request: &Request) -> Result<Caller, ScimError> {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let mut store = workspace.store();
    // The caller: the PAT's owner (the admin user), or a service principal calling with an Entra
    // token for Azure Databricks issued by the emulated identity endpoint.
    let principal = match token {
        Some(token) if token == workspace.pat() => {
            let admin = store.users.get(&store.admin_id).filter(|u| u.active);
            admin
                .map(|u| u.id.clone())
                .ok_or_else(ScimError::unauthorized)?
        }
        Some(token) => {
            let claims = crate::identity::token_claims(token)
                .filter(|c| {
                    crate::identity::resource_matches(
                        &c.resource,
                        crate::identity::DATABRICKS_RESOURCE,
                    )
                })
                .ok_or_else(ScimError::unauthorized)?;
            let application_id = store
                .settings
                .entra_identities
                .get(&claims.identity)
                .cloned();
            let sp = application_id
                .and_then(|a| store.service_principal_for(&a))
                .filter(|sp| sp.active);
            sp.map(|sp| sp.id.clone())
                .ok_or_else(ScimError::unauthorized)?
        }
        None => return Err(ScimError::unauthorized()),
    };
    let is_admin = store
        .groups_of(&principal)
        .iter()
        .any(|g| g.display_name == ADMINS_GROUP);
    if !is_admin && !request.uri().path().ends_with("/Me") {
        return Err(ScimError::forbidden(
            "Only workspace admins can manage users, groups and service principals.",
        ));
    }
    let write = matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    if let Some(throttle) = store.throttle.as_mut() {
        throttle.admit(write, Instant::now())?;
    }
    Ok(Caller(principal))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_sustained_burst_gets_the_capacity_then_the_rate_and_is_told_when_to_come_back() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100.0);
        // 1,000 attempts a second for three seconds: 100 at once, then 100 a second.
        let mut accepted = 0;
        let mut waits = Vec::new();
        for ms in 0..3_000u64 {
            match bucket.take(start + Duration::from_millis(ms)) {
                Ok(()) => accepted += 1,
                Err(after) => waits.push(after),
            }
        }
        assert!((399..=401).contains(&accepted), "{accepted}");
        assert!(waits.iter().all(|&s| s == 1), "whole seconds, at least 1");
        // A slow rate: the wait is the time to the next token, rounded up.
        let mut slow = TokenBucket::new(0.25);
        assert_eq!(slow.take(start), Ok(()));
        assert_eq!(slow.take(start), Err(4));
        assert_eq!(slow.take(start + Duration::from_secs(4)), Ok(()));
    }

    #[test]
    fn an_episode_is_every_429_until_the_throttle_lets_a_request_through_again() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut throttle = Throttle::new(1.0, ThrottleScope::All);
        assert!(throttle.admit(false, at(0)).is_ok(), "the burst");
        // Three refused in a row (one, then two in flight): one episode.
        for ms in [10, 20, 30] {
            let refused = throttle.admit(false, at(ms)).unwrap_err();
            assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(refused.retry_after, Some(1));
        }
        assert!(throttle.admit(true, at(1_000)).is_ok());
        // Refused again after a request got through: a second episode, of one.
        assert!(throttle.admit(true, at(1_100)).is_err());
        assert_eq!(
            throttle.stats(),
            ThrottleStats {
                throttled: 4,
                episodes: 2,
                most_in_an_episode: 3
            }
        );
        // A writes-only throttle lets every read through and counts nothing for it.
        let mut writes = Throttle::new(1.0, ThrottleScope::Writes);
        assert!(writes.admit(true, at(0)).is_ok());
        assert!((0..5).all(|_| writes.admit(false, at(1)).is_ok()));
        assert!(writes.admit(true, at(1)).is_err());
    }
}
