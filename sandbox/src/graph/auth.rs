//! Who may call the Graph emulator: a bearer token from [`crate::identity`] whose resource is
//! `https://graph.microsoft.com` (a trailing slash or `/.default` is tolerated), else 401
//! `InvalidAuthenticationToken`; identities denied with [`Tenant::deny`] get 403
//! `Authorization_RequestDenied`, as an app without `GroupMember.Read.All` would.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::{Tenant, error};
use crate::identity::{self, GRAPH_RESOURCE};

/// Bearer tokens from the identity emulator for Graph; denied identities get 403.
pub(super) async fn authenticate(
    State(tenant): State<Tenant>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        );
    };
    let Some(claims) = identity::token_claims(token) else {
        let message = "Access token validation failure: the token is malformed, expired or not from this tenant.";
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        );
    };
    if !identity::resource_matches(&claims.resource, GRAPH_RESOURCE) {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        );
    }
    if tenant
        .lock()
        .denied
        .contains(&claims.identity.to_ascii_lowercase())
    {
        return error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    next.run(request).await
}
