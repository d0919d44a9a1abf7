//! The faults that need the emulator's real answer: listing pages rewritten (Graph's `value`,
//! `@odata.nextLink`, `@odata.count`; SCIM's `Resources`, `totalResults`, `startIndex`) and an answer
//! cut off mid-body. A page marker (`sbxPage`) keeps an endless `@odata.nextLink` new on every page;
//! it is taken off the request before the emulator sees it.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Uri, header};
use axum::response::Response;
use futures::StreamExt as _;
use serde_json::Value;

use super::Kind;

/// The query parameter an endless next link counts pages with.
const PAGE_MARKER: &str = "sbxPage";
/// Answers larger than this are passed on unchanged.
const MAX_BODY: usize = 16 * 1024 * 1024;

fn with_query(request: Request, keep: impl Fn(&str) -> bool) -> Request {
    let (mut parts, body) = request.into_parts();
    let Some(query) = parts.uri.query() else {
        return Request::from_parts(parts, body);
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| keep(pair.split('=').next().unwrap_or("")))
        .collect();
    let path_and_query = if kept.is_empty() {
        parts.uri.path().to_owned()
    } else {
        format!("{}?{}", parts.uri.path(), kept.join("&"))
    };
    let mut uri = parts.uri.clone().into_parts();
    uri.path_and_query = path_and_query.parse().ok();
    if let Ok(rebuilt) = Uri::from_parts(uri) {
        parts.uri = rebuilt;
    }
    Request::from_parts(parts, body)
}

/// The request without the endless-paging marker.
pub(super) fn strip_page_marker(request: Request) -> Request {
    if request
        .uri()
        .query()
        .is_some_and(|q| q.contains(PAGE_MARKER))
    {
        with_query(request, |name| name != PAGE_MARKER)
    } else {
        request
    }
}

/// The request without `startIndex` (any case).
pub(super) fn without_start_index(request: Request) -> Request {
    with_query(request, |name| !name.eq_ignore_ascii_case("startIndex"))
}

/// `https://<Host><path>?<query>`: the URL the client asked for.
pub(super) fn absolute_url(request: &Request) -> String {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    format!("https://{host}{path_and_query}")
}

fn items_key(page: &serde_json::Map<String, Value>) -> Option<&'static str> {
    ["value", "Resources", "resources"]
        .into_iter()
        .find(|k| page.get(*k).is_some_and(Value::is_array))
}

/// `answer` with its listing page changed as `kind` says; `url` is the URL that was asked for.
/// Answers that are not a JSON object (errors included) pass unchanged.
pub(super) async fn rewrite(answer: Response, kind: &Kind, url: Option<&str>) -> Response {
    if !answer.status().is_success() {
        return answer;
    }
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(Value::Object(mut page)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let items = items_key(&page);
    match kind {
        Kind::EmptyPage => {
            match items {
                Some("value") => {
                    page.insert("value".to_owned(), Value::Array(Vec::new()));
                }
                Some(key) => {
                    // SCIM leaves `Resources` out of an empty page.
                    page.remove(key);
                    page.insert("itemsPerPage".to_owned(), Value::from(0));
                }
                None => {}
            }
            page.remove("@odata.nextLink");
        }
        Kind::TruncatedPage => {
            if let Some(Value::Array(list)) = items.and_then(|k| page.get_mut(k)) {
                let keep = list.len() / 2;
                list.truncate(keep);
                if page.contains_key("itemsPerPage") {
                    page.insert("itemsPerPage".to_owned(), Value::from(keep));
                }
            }
        }
        Kind::RepeatedNextLink => {
            if let Some(url) = url {
                page.insert("@odata.nextLink".to_owned(), Value::from(url));
            }
        }
        Kind::ForeignNextLink(origin) => {
            let moved = (page.get("@odata.nextLink").and_then(Value::as_str))
                .and_then(|link| url::Url::parse(link).ok())
                .map(|link| {
                    let rest = &link[url::Position::BeforePath..];
                    format!("{origin}{rest}")
                });
            if let Some(moved) = moved {
                page.insert("@odata.nextLink".to_owned(), Value::from(moved));
            }
        }
        Kind::EndlessNextLink => {
            if let Some(url) = url {
                page.insert("@odata.nextLink".to_owned(), Value::from(next_page(url)));
            }
        }
        Kind::TotalResults(total) => {
            page.insert("totalResults".to_owned(), Value::from(*total));
        }
        // Only the first page of a Graph listing carries a count; later pages are left as they are.
        Kind::ODataCount(count) if page.contains_key("@odata.count") => {
            page.insert("@odata.count".to_owned(), Value::from(*count));
        }
        _ => {}
    }
    let body = serde_json::to_vec(&Value::Object(page)).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// `url` with the page marker set to a new value.
fn next_page(url: &str) -> String {
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{PAGE_MARKER}={marker}")
}

/// `answer` with its full `Content-Length` but only the first half of its body; then the connection
/// is closed (the body fails after a pause that lets the first half reach the client).
pub(super) async fn cut_off(answer: Response) -> Response {
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    if let Ok(length) = HeaderValue::from_str(&bytes.len().to_string()) {
        parts.headers.insert(header::CONTENT_LENGTH, length);
    }
    let chunks = futures::stream::iter([Ok::<Bytes, std::io::Error>(half)]).chain(
        futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err(std::io::Error::other(
                "injected fault: the answer is cut off",
            ))
        }),
    );
    Response::from_parts(parts, Body::from_stream(chunks))
}
