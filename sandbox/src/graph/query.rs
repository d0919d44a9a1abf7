//! OData query options as Graph reads them: `$select` (case-insensitive names, unknown ones rejected),
//! `$filter` (see [`super::filter`]), `$top` (1..999), `$count` (needs `ConsistencyLevel: eventual`) and
//! `$skiptoken`. Option names are accepted with or without `$` and percent-encoded (`%24top`); options
//! the emulator does not implement (`$orderby`, `$search`, `$expand`, `$skip`) are refused with a 400
//! rather than silently ignored.

use axum::http::{HeaderMap, StatusCode, Uri};

use super::GraphError;
use super::filter::{self, Filter, FilterError};
use super::objects::{Kind, canonical_property};

const DEFAULT_PAGE_SIZE: usize = 100;

/// The OData query options of one request.
#[derive(Default)]
pub(super) struct Options {
    pub(super) select: Option<String>,
    pub(super) filter: Option<String>,
    pub(super) top: Option<String>,
    pub(super) count: bool,
    pub(super) skiptoken: Option<String>,
}

pub(super) fn bad_request(code: &'static str, message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, code, message)
}

pub(super) fn parse(uri: &Uri) -> Result<Options, GraphError> {
    let mut options = Options::default();
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let key = key.to_ascii_lowercase();
        match key.strip_prefix('$').unwrap_or(&key) {
            "select" => options.select = Some(value.into_owned()),
            "filter" => options.filter = Some(value.into_owned()),
            "top" => options.top = Some(value.into_owned()),
            "skiptoken" => options.skiptoken = Some(value.into_owned()),
            "count" => match value.to_ascii_lowercase().as_str() {
                "true" => options.count = true,
                "false" => options.count = false,
                _ => {
                    return Err(bad_request(
                        "BadRequest",
                        &format!("Invalid value '{value}' for $count."),
                    ));
                }
            },
            unsupported @ ("orderby" | "search" | "expand" | "skip") => {
                let message =
                    format!("The sandbox does not emulate ${unsupported} on this resource.");
                return Err(bad_request("Request_UnsupportedQuery", &message));
            }
            _ => {}
        }
    }
    Ok(options)
}

/// `$select` as canonical property names of `kinds`; `type_name` names the type in the error.
pub(super) fn selection(
    options: &Options,
    kinds: &[Kind],
    type_name: &str,
) -> Result<Option<Vec<&'static str>>, GraphError> {
    let Some(select) = &options.select else {
        return Ok(None);
    };
    let mut chosen = Vec::new();
    for name in select
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let Some(property) = canonical_property(kinds, name) else {
            let message =
                format!("Could not find a property named '{name}' on type '{type_name}'.");
            return Err(bad_request("BadRequest", &message));
        };
        if !chosen.contains(&property) {
            chosen.push(property);
        }
    }
    Ok(Some(chosen))
}

pub(super) fn parse_filter(
    options: &Options,
    kinds: &[Kind],
    resource: &str,
) -> Result<Option<Filter>, GraphError> {
    let Some(text) = &options.filter else {
        return Ok(None);
    };
    match filter::parse(text, kinds) {
        Ok(filter) => Ok(Some(filter)),
        Err(FilterError::Syntax(position)) => {
            let message =
                format!("Invalid filter clause: Syntax error at position {position} in '{text}'.");
            Err(bad_request("BadRequest", &message))
        }
        Err(FilterError::UnknownProperty(name)) => {
            let message = format!(
                "Unsupported or invalid query filter clause specified for property '{name}' of resource '{resource}'."
            );
            Err(bad_request("Request_UnsupportedQuery", &message))
        }
    }
}

pub(super) fn page_size(options: &Options, cap: usize) -> Result<usize, GraphError> {
    let Some(top) = &options.top else {
        return Ok(DEFAULT_PAGE_SIZE.min(cap));
    };
    match top.trim().parse::<i64>() {
        Ok(n @ 1..=999) => Ok(usize::try_from(n).unwrap_or(1).min(cap)),
        _ => {
            let message = format!(
                "Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
            );
            Err(bad_request("Request_BadRequest", &message))
        }
    }
}

fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("eventual"))
}

/// `$count=true` needs `ConsistencyLevel: eventual` on every request, next pages included.
pub(super) fn check_count(options: &Options, headers: &HeaderMap) -> Result<(), GraphError> {
    if options.count && !eventual(headers) {
        let message = "$count is not currently supported without the 'ConsistencyLevel: eventual' header \
                       (advanced query); send it on every page. Refer to https://aka.ms/graph-docs/advanced-queries";
        return Err(bad_request("Request_BadRequest", message));
    }
    Ok(())
}
