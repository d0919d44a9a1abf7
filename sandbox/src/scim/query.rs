//! Query parameters of reads and the ListResponse: `filter`, `startIndex` (1-based), `count` (capped by the
//! workspace's maximum page size), `attributes` / `excludedAttributes` projection (RFC 7644 §3.9: `id` and
//! `schemas` are always returned; `name.givenName`-style sub-attributes work on objects and on arrays of
//! objects). Parameter names are matched case-insensitively. Like Databricks, an empty page has no
//! `Resources` key at all.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::{Filter, Filterable, Schema};

pub(crate) const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Attributes that projection never removes.
const ALWAYS_RETURNED: [&str; 2] = ["id", "schemas"];

/// Parameters of a list request.
pub(crate) struct ListQuery {
    filter: Option<Filter>,
    start_index: usize,
    count: usize,
    pub projection: Projection,
}

impl ListQuery {
    /// Reads the raw query string of a LIST request.
    pub fn parse(
        raw: Option<&str>,
        schema: Schema,
        max_page_size: usize,
    ) -> Result<Self, ScimError> {
        let params = params(raw);
        let filter = match param(&params, "filter").map(str::trim) {
            Some(text) if !text.is_empty() => Some(Filter::parse(text, schema)?),
            _ => None,
        };
        // RFC 7644 §3.4.2.4: startIndex below 1 means 1, a negative count means 0.
        let start_index = number(&params, "startIndex")?.map_or(1, |n| n.max(1));
        let count = number(&params, "count")?.map_or(max_page_size as i64, |n| n.max(0));
        Ok(ListQuery {
            filter,
            start_index: usize::try_from(start_index).unwrap_or(usize::MAX),
            count: usize::try_from(count).unwrap_or(0).min(max_page_size),
            projection: Projection::from_params(&params),
        })
    }

    pub fn matches(&self, item: &impl Filterable) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(item))
    }

    /// Pages `matches`, renders and projects the page, and wraps it in a ListResponse.
    pub fn respond<T>(
        &self,
        matches: &[&T],
        render: impl Fn(&T) -> Value,
        omit_total: bool,
    ) -> Response {
        let page: Vec<Value> = matches
            .iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|item| self.projection.apply(render(item)))
            .collect();
        let mut body = json!({
            "schemas": [LIST_SCHEMA],
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
        });
        if let Some(object) = body.as_object_mut() {
            if !omit_total {
                object.insert("totalResults".to_owned(), Value::from(matches.len()));
            }
            if !page.is_empty() {
                object.insert("Resources".to_owned(), Value::Array(page));
            }
        }
        Json(body).into_response()
    }
}

/// `attributes` / `excludedAttributes`, lower-cased.
#[derive(Debug, Default)]
pub(crate) struct Projection {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Projection {
    pub fn from_query(raw: Option<&str>) -> Projection {
        Projection::from_params(&params(raw))
    }

    fn from_params(params: &[(String, String)]) -> Projection {
        let list = |name| {
            param(params, name)
                .map(|v| {
                    v.split(',')
                        .map(|a| a.trim().to_ascii_lowercase())
                        .filter(|a| !a.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        Projection {
            include: list("attributes"),
            exclude: list("excludedAttributes"),
        }
    }

    /// Whether `attribute` (lower case, top level) can be in a projected resource: a listing need not
    /// work out what the projection drops.
    pub fn returns(&self, attribute: &str) -> bool {
        let prefix = format!("{attribute}.");
        let included = self.include.is_empty()
            || self
                .include
                .iter()
                .any(|a| a == attribute || a.starts_with(&prefix));
        included && !self.exclude.iter().any(|a| a == attribute)
    }

    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(object) = resource else {
            return resource;
        };
        let mut kept = Map::new();
        for (key, value) in object {
            let lower = key.to_ascii_lowercase();
            if ALWAYS_RETURNED.contains(&lower.as_str()) {
                kept.insert(key, value);
                continue;
            }
            let value = if self.include.is_empty() {
                Some(value)
            } else {
                select(&self.include, &lower, value, true)
            };
            if let Some(value) = value.and_then(|v| select(&self.exclude, &lower, v, false)) {
                kept.insert(key, value);
            }
        }
        Value::Object(kept)
    }
}

/// Applies the paths of `list` that concern the attribute `name` to `value`, keeping (`keep`) or dropping
/// what they name; `None` drops the whole attribute.
fn select(list: &[String], name: &str, value: Value, keep: bool) -> Option<Value> {
    if list.iter().any(|path| path == name) {
        return keep.then_some(value);
    }
    let prefix = format!("{name}.");
    let subs: Vec<&str> = list
        .iter()
        .filter_map(|p| p.strip_prefix(&prefix))
        .collect();
    if subs.is_empty() {
        return (!keep).then_some(value);
    }
    let filter_object = |object: Map<String, Value>| -> Map<String, Value> {
        object
            .into_iter()
            .filter(|(k, _)| subs.contains(&k.to_ascii_lowercase().as_str()) == keep)
            .collect()
    };
    match value {
        Value::Object(object) => Some(Value::Object(filter_object(object))),
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(object) => Value::Object(filter_object(object)),
                    other => other,
                })
                .collect(),
        )),
        other => (!keep).then_some(other),
    }
}

/// Decoded query parameters, in order.
fn params(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn number(params: &[(String, String)], name: &str) -> Result<Option<i64>, ScimError> {
    param(params, name)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ScimError::invalid_value(format!("{name} must be an integer, not '{v}'."))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projection_returns_what_it_includes_and_not_what_it_excludes() {
        let projected = Projection::from_query(Some("attributes=id,userName,active"));
        assert!(!projected.returns("groups"));
        assert!(projected.returns("username"));
        let sub = Projection::from_query(Some("attributes=groups.display"));
        assert!(sub.returns("groups"));
        let excluded = Projection::from_query(Some("excludedAttributes=groups"));
        assert!(!excluded.returns("groups"));
        assert!(Projection::default().returns("groups"));
    }
}
