//! The Graph endpoints: `/groups` (with `$filter`), `/groups/{id}`, and `/groups/{id}/members` or
//! `/transitiveMembers`, uncast (every kind, with `@odata.type`) or cast (`/microsoft.graph.user`, ...).
//! Transitive membership is flattened breadth-first: each principal once, nested groups included, cycles
//! safe, the group itself never listed. Unknown segments answer 400 "Resource not found for the segment".

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::objects::{self, Kind};
use super::{GraphError, Inner, Object, Tenant, paging, query};

const ALL_KINDS: &[Kind] = &[Kind::User, Kind::Group, Kind::ServicePrincipal];

/// The group `id` names (canonical id and object), or the 400 (not a GUID) / 404 Graph answers.
fn group<'a>(inner: &'a Inner, id: &str) -> Result<(String, &'a Object), GraphError> {
    let Ok(guid) = uuid::Uuid::parse_str(id) else {
        return Err(query::bad_request(
            "Request_BadRequest",
            &format!("Invalid object identifier '{id}'."),
        ));
    };
    let key = guid.hyphenated().to_string();
    match inner.objects.get(&key) {
        Some(object @ Object::Group { .. }) => Ok((key, object)),
        _ => {
            let message = format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            );
            Err(GraphError::new(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                &message,
            ))
        }
    }
}

/// Members of `group_id`, direct or flattened (each once, cycles safe, the group itself excluded).
fn member_ids(inner: &Inner, group_id: &str, transitive: bool) -> Result<Vec<String>, GraphError> {
    let (root, object) = group(inner, group_id)?;
    let Object::Group {
        members: direct, ..
    } = object
    else {
        return Ok(Vec::new());
    };
    if !transitive {
        return Ok(direct.clone());
    }
    let mut seen: HashSet<&str> = HashSet::from([root.as_str()]);
    let mut out = Vec::new();
    let mut queue: Vec<&String> = direct.iter().collect();
    let mut next = 0;
    while let Some(id) = queue.get(next).copied() {
        next += 1;
        if !seen.insert(id) {
            continue;
        }
        out.push(id.clone());
        if let Some(Object::Group { members, .. }) = inner.objects.get(id) {
            queue.extend(members.iter());
        }
    }
    Ok(out)
}

fn finish(result: Result<Response, GraphError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn list_groups(
    State(tenant): State<Tenant>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let listing = paging::Listing {
        kinds: &[Kind::Group],
        type_name: "microsoft.graph.group",
        entity_set: "groups",
        with_type: false,
    };
    finish(paging::list(&tenant, &headers, &uri, &listing, |inner| {
        Ok(inner
            .order
            .iter()
            .filter(|id| matches!(inner.objects.get(*id), Some(Object::Group { .. })))
            .cloned()
            .collect())
    }))
}

pub(super) async fn get_group(
    State(tenant): State<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    finish(single_group(&tenant, &id, &headers, &uri))
}

fn single_group(
    tenant: &Tenant,
    id: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, GraphError> {
    let options = query::parse(uri)?;
    let select = query::selection(&options, &[Kind::Group], "microsoft.graph.group")?;
    let inner = tenant.lock();
    let (key, object) = group(&inner, id)?;
    let base = paging::base(&inner, headers);
    let context = match &select {
        Some(select) => format!("{base}/v1.0/$metadata#groups({})/$entity", select.join(",")),
        None => format!("{base}/v1.0/$metadata#groups/$entity"),
    };
    let mut body = Map::from_iter([("@odata.context".to_owned(), Value::String(context))]);
    if let Value::Object(properties) = objects::render(&key, object, select.as_deref(), false) {
        body.extend(properties);
    }
    Ok(paging::json(Value::Object(body)))
}

fn relation(segment: &str) -> Result<bool, GraphError> {
    if segment.eq_ignore_ascii_case("members") {
        Ok(false)
    } else if segment.eq_ignore_ascii_case("transitiveMembers") {
        Ok(true)
    } else {
        Err(query::bad_request(
            "BadRequest",
            &format!("Resource not found for the segment '{segment}'."),
        ))
    }
}

pub(super) async fn list_members(
    State(tenant): State<Tenant>,
    Path((id, segment)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let listing = paging::Listing {
        kinds: ALL_KINDS,
        type_name: "microsoft.graph.directoryObject",
        entity_set: "directoryObjects",
        with_type: true,
    };
    finish(relation(&segment).and_then(|transitive| {
        paging::list(&tenant, &headers, &uri, &listing, |inner| {
            member_ids(inner, &id, transitive)
        })
    }))
}

pub(super) async fn list_members_cast(
    State(tenant): State<Tenant>,
    Path((id, segment, cast)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let result = relation(&segment).and_then(|transitive| {
        let kind = Kind::from_cast(&cast).ok_or_else(|| {
            query::bad_request(
                "BadRequest",
                &format!("Resource not found for the segment '{cast}'."),
            )
        })?;
        let kinds: &'static [Kind] = match kind {
            Kind::User => &[Kind::User],
            Kind::Group => &[Kind::Group],
            Kind::ServicePrincipal => &[Kind::ServicePrincipal],
        };
        let listing = paging::Listing {
            kinds,
            type_name: kind.type_name(),
            entity_set: kind.entity_set(),
            with_type: false,
        };
        paging::list(&tenant, &headers, &uri, &listing, |inner| {
            member_ids(inner, &id, transitive)
        })
    });
    finish(result)
}

pub(super) async fn unknown_segment(uri: Uri) -> Response {
    let segment = uri.path().rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    query::bad_request(
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
    )
    .into_response()
}
