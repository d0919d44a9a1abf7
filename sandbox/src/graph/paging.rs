//! One page of a listing: `@odata.context`, `@odata.count` (first page only), `value` and
//! `@odata.nextLink`. Pages hold min(`$top` or 100, the server cap) items; the next link is the absolute
//! request URL with the other query options kept exactly as sent plus an opaque `$skiptoken`. Tokens are
//! kept server-side (path + offset) and are base64, so the link carries them percent-encoded: a client
//! that follows the link as given works, one that rebuilds it may not.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::objects::{self, Kind};
use super::{GraphError, Inner, PageToken, Tenant, query};

const CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

pub(super) fn base(inner: &Inner, headers: &HeaderMap) -> String {
    inner.public_base.clone().unwrap_or_else(|| {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    })
}

pub(super) fn json(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// What one listing endpoint serves.
pub(super) struct Listing {
    /// Kinds whose properties `$select`/`$filter` may name; items of other kinds are left out.
    pub(super) kinds: &'static [Kind],
    pub(super) type_name: &'static str,
    pub(super) entity_set: &'static str,
    pub(super) with_type: bool,
}

pub(super) fn list(
    tenant: &Tenant,
    headers: &HeaderMap,
    uri: &Uri,
    listing: &Listing,
    ids: impl FnOnce(&Inner) -> Result<Vec<String>, GraphError>,
) -> Result<Response, GraphError> {
    let options = query::parse(uri)?;
    let select = query::selection(&options, listing.kinds, listing.type_name)?;
    let filter = query::parse_filter(&options, listing.kinds, listing.entity_set)?;
    query::check_count(&options, headers)?;
    let mut inner = tenant.lock();
    let size = query::page_size(&options, inner.max_page_size)?;
    let offset = match &options.skiptoken {
        None => 0,
        Some(token) => match inner.page_tokens.get(token) {
            Some(page) if page.path == uri.path() => page.offset,
            Some(_) => {
                return Err(query::bad_request(
                    "Request_BadRequest",
                    "The $skiptoken does not belong to this request.",
                ));
            }
            None => {
                let message = "The specified page token value has expired and can no longer be included in your request.";
                return Err(query::bad_request("Directory_ExpiredPageToken", message));
            }
        },
    };
    // Every match is counted, only the page is rendered; the matches are kept for the next pages while
    // the tenant does not change.
    let key = format!("{}?{}", uri.path(), kept_query(uri).join("&"));
    let matched = inner.listing(key, |inner| {
        Ok(ids(inner)?
            .into_iter()
            .filter(|id| {
                inner.objects.get(id).is_some_and(|object| {
                    listing.kinds.contains(&Kind::of(object))
                        && filter
                            .as_ref()
                            .is_none_or(|f| f.matches(&objects::full(id, object)))
                })
            })
            .collect())
    })?;
    let total = matched.len();
    let end = offset.saturating_add(size).min(total);
    let page: Vec<Value> = matched
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| {
            let object = inner.objects.get(id)?;
            if inner.limited(Kind::of(object)) {
                return Some(objects::render_limited(id, object, select.as_deref()));
            }
            Some(objects::render(
                id,
                object,
                select.as_deref(),
                listing.with_type,
            ))
        })
        .collect();
    let base = base(&inner, headers);
    let mut body = Map::new();
    let context = match &select {
        Some(select) => format!(
            "{base}/v1.0/$metadata#{}({})",
            listing.entity_set,
            select.join(",")
        ),
        None => format!("{base}/v1.0/$metadata#{}", listing.entity_set),
    };
    body.insert("@odata.context".to_owned(), Value::String(context));
    if options.count && options.skiptoken.is_none() {
        body.insert("@odata.count".to_owned(), Value::from(total));
    }
    if end < total {
        let token = new_token();
        inner.page_tokens.insert(
            token.clone(),
            PageToken {
                path: uri.path().to_owned(),
                offset: end,
            },
        );
        body.insert(
            "@odata.nextLink".to_owned(),
            Value::String(next_link(&base, uri, &token)),
        );
    }
    body.insert("value".to_owned(), Value::Array(page));
    Ok(json(Value::Object(body)))
}

fn new_token() -> String {
    let mut bytes = uuid::Uuid::new_v4().into_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&bytes[..26])
}

/// The query options of the request but `$skiptoken`, as sent.
fn kept_query(uri: &Uri) -> Vec<&str> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
            !matches!(key.as_str(), "$skiptoken" | "%24skiptoken" | "skiptoken")
        })
        .collect()
}

/// The request URL with every query option but `$skiptoken` kept as sent, and the new token.
fn next_link(base: &str, uri: &Uri, token: &str) -> String {
    let kept = kept_query(uri);
    let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    let mut query = kept.join("&");
    if !query.is_empty() {
        query.push('&');
    }
    format!("{base}{}?{query}$skiptoken={token}", uri.path())
}
