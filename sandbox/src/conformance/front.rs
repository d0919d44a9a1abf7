//! The TLS front of a peer SCIM server: what the real `handler` reaches as
//! `https://<workspace host>/api/2.0/preview/scim/v2/...` (served with [`crate::tls::serve_tls`]
//! behind the proxy). Its router relays every request (method, path under the SCIM root, query,
//! headers including `Authorization`, body) to the peer over plain HTTP and the peer's answer
//! (status, headers, body) back, unchanged but for two things the conformance steps need:
//! - every request is logged with the peer's status ([`Faults`] request log), so a step can count
//!   writes ("a second run writes nothing") and see the peer's own 409;
//! - user names given to [`Front::hide`] are removed from UNFILTERED `GET .../Users` answers (with
//!   `totalResults` lowered to match), as Databricks does with a user just created at first sign-in:
//!   the product does not see the user, POSTs, gets the peer's real 409, then finds the user by
//!   filter, which is never hidden.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use url::Url;

use super::loopback;
use crate::faults::{self, Faults, LoggedRequest};
use crate::scim::SCIM_ROOT;

/// Headers that describe one hop, never relayed (`host` and `content-length` are rewritten).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

struct Shared {
    /// "127.0.0.1:port" of the peer.
    authority: String,
    /// The peer's SCIM root path (what `/api/2.0/preview/scim/v2` maps to), without a trailing slash.
    root: String,
    hidden: Mutex<HashSet<String>>,
    log: Faults,
}

/// One peer's front. Cheap to clone; clones share the log and the hidden names.
#[derive(Clone)]
pub struct Front {
    shared: Arc<Shared>,
}

impl Front {
    /// A front for the peer whose SCIM root is `peer` (e.g. `http://127.0.0.1:8080/api/2.0/preview/scim/v2`).
    ///
    /// # Errors
    /// `peer` is not an `http://host:port/...` URL.
    pub fn new(peer: &str) -> Result<Front, String> {
        let url = Url::parse(peer).map_err(|e| format!("--peer {peer}: {e}"))?;
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(format!("--peer {peer}: needs a host"));
        };
        if url.scheme() != "http" {
            return Err(format!("--peer {peer}: the peer must speak plain http"));
        }
        Ok(Front {
            shared: Arc::new(Shared {
                authority: format!("{host}:{port}"),
                root: url.path().trim_end_matches('/').to_owned(),
                hidden: Mutex::new(HashSet::new()),
                log: Faults::default(),
            }),
        })
    }

    /// The router to serve at the workspace host.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(relay)
            .layer(from_fn_with_state(self.shared.log.clone(), faults::layer))
            .with_state(self.clone())
    }

    /// Hides `user_name` (any case) from unfiltered user listings.
    pub fn hide(&self, user_name: &str) {
        self.hidden().insert(user_name.to_ascii_lowercase());
    }

    /// Shows every user again (Databricks lists a just-in-time user once its caches catch up).
    pub fn show_all(&self) {
        self.hidden().clear();
    }

    /// Every request relayed so far, with the peer's status.
    pub fn log(&self) -> Vec<LoggedRequest> {
        self.shared.log.log()
    }

    pub fn clear_log(&self) {
        self.shared.log.clear_log();
    }

    fn hidden(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.shared
            .hidden
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a request log entry is a write.
pub fn is_write(request: &LoggedRequest) -> bool {
    matches!(
        request.method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    )
}

fn bad_gateway(detail: String) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        format!("conformance front: {detail}\n"),
    )
        .into_response()
}

async fn relay(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rest) = uri.path().strip_prefix(SCIM_ROOT) else {
        return (
            StatusCode::NOT_FOUND,
            "conformance front: not a SCIM path\n",
        )
            .into_response();
    };
    let shared = &front.shared;
    let mut target = format!("{}{rest}", shared.root);
    if let Some(query) = uri.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut forwarded: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    if let Some(host) = headers.get("host").and_then(|h| h.to_str().ok()) {
        forwarded.push(("x-forwarded-host".to_owned(), host.to_owned()));
    }
    forwarded.push(("x-forwarded-proto".to_owned(), "https".to_owned()));
    let answer = match loopback::send(
        &shared.authority,
        method.as_str(),
        &target,
        &forwarded,
        &body,
    )
    .await
    {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(format!("peer at {} failed: {e}", shared.authority)),
    };
    let mut body = answer.body.clone();
    let unfiltered_user_list = method == Method::GET
        && rest.trim_end_matches('/') == "/Users"
        && !uri
            .query()
            .unwrap_or_default()
            .split('&')
            .any(|p| p.starts_with("filter="));
    if unfiltered_user_list && answer.status == 200 {
        let hidden = front.hidden().clone();
        if let Some(json) = without_hidden(&answer.json(), &hidden) {
            body = Bytes::from(json.to_string());
        }
    }
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in &answer.headers {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The list answer without the hidden users (`None`: nothing to hide or not a list).
fn without_hidden(list: &Value, hidden: &HashSet<String>) -> Option<Value> {
    if hidden.is_empty() {
        return None;
    }
    let mut list = list.clone();
    let key = ["Resources", "resources"]
        .into_iter()
        .find(|k| list.get(k).is_some_and(Value::is_array))?;
    let resources = list.get_mut(key)?.as_array_mut()?;
    let before = resources.len();
    resources.retain(|r| {
        let name = r
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        !hidden.contains(&name.to_ascii_lowercase())
    });
    let removed = before - resources.len();
    if removed == 0 {
        return None;
    }
    if let Some(total) = list.get("totalResults").and_then(Value::as_u64) {
        list["totalResults"] = Value::from(total.saturating_sub(removed as u64));
    }
    Some(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hidden_users_leave_the_list_and_its_total() {
        let hidden: HashSet<String> = ["jit@contoso.com".to_owned()].into();
        let list = json!({"totalResults": 2, "itemsPerPage": 2, "Resources": [
            {"id": "1", "userName": "ana@contoso.com"}, {"id": "2", "userName": "JIT@contoso.com"}]});
        let shown = without_hidden(&list, &hidden).unwrap();
        assert_eq!(shown["totalResults"], 1);
        assert_eq!(
            shown["Resources"],
            json!([{"id": "1", "userName": "ana@contoso.com"}])
        );
        assert!(without_hidden(&shown, &hidden).is_none());
    }
}
