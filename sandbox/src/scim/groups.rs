//! `/Groups`: workspace-local groups. Names are unique case-insensitively (409 `Group with name <x> already
//! exists.`). Members are users, service principals or groups that exist (else 400 `invalidValue`); a group
//! cannot contain one of its ancestors. PATCH `add` on `members` needs an array of `{"value": id}` (a bare
//! string is `invalidSyntax`, as on the service); `remove` takes `members[value eq "<id>"]` or a value array,
//! and removing a non-member is not an error. The built-in `admins` group cannot be renamed or deleted (403).
//! A PATCH is all or nothing: it changes the group in place, and puts it back as it was when an operation
//! or a check fails (see [`super::members`]), so that it costs the size of the change, not of the group.
//! Groups created here are workspace-local (`meta.resourceType` `WorkspaceGroup`) on an identity-federated
//! workspace too. An account group assigned to the workspace is listed, and GET and PATCH serve its
//! entitlements in this workspace, nothing more ([`super::account_groups`]); PUT and DELETE of it, and of
//! any other account group, answer 404.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::ScimWorkspace;
use super::account_groups;
use super::error::{ScimError, parse_body};
use super::fields::{self, check_entitlements};
use super::filter::{AttrValue, Filterable, Kind, Schema};
use super::members::Journal;
use super::patch::{self, OpKind, PatchOp};
use super::query::{ListQuery, Projection};
use super::render;
use super::store::{ADMINS_GROUP, Group, Store, listed};

const FILTERABLE: Schema = &[
    ("displayname", Kind::Text { ignore_case: true }),
    ("id", Kind::Text { ignore_case: false }),
];

impl Filterable for Group {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match name {
            "displayname" => Some(AttrValue::Text(&self.display_name)),
            "id" => Some(AttrValue::Text(&self.id)),
            _ => None,
        }
    }
}

pub(crate) fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("Group with id {id} not found."))
}

fn system_group() -> ScimError {
    ScimError::forbidden(format!(
        "The {ADMINS_GROUP} group is a system group: it cannot be renamed or deleted."
    ))
}

pub(crate) async fn list(
    State(ws): State<ScimWorkspace>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let store = ws.store();
    let query = ListQuery::parse(query.as_deref(), FILTERABLE, store.settings.max_page_size)?;
    let now = Instant::now();
    // Workspace groups, then the account groups assigned to the workspace (identity federation).
    let federated =
        (store.account_groups.iter()).filter(|g| store.federated.listed_groups.contains(&g.id));
    let matches: Vec<&Group> = (store.groups.iter().chain(federated))
        .filter(|g| listed(g.listed_from, now) && query.matches(*g))
        .collect();
    // Who is in which group only when the answer shows it.
    let memberships = if query.projection.returns("groups") {
        store.memberships()
    } else {
        render::Memberships::new()
    };
    Ok(query.respond(
        &matches,
        |g| render::group(g, &store, &memberships),
        store.settings.omit_total_results,
    ))
}

pub(crate) async fn get(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let store = ws.store();
    if store.groups.get(&id).is_none() {
        return account_groups::get(&store, &id, query.as_deref());
    }
    let body = rendered(&store, &id)?;
    Ok(Json(Projection::from_query(query.as_deref()).apply(body)).into_response())
}

pub(crate) async fn create(
    State(ws): State<ScimWorkspace>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut group = group_from(&body)?;
    let mut store = ws.store();
    if store.group_named(&group.display_name).is_some() {
        return Err(ScimError::conflict(format!(
            "Group with name {} already exists.",
            group.display_name
        )));
    }
    store.check_members(None, group.members.iter())?;
    group.id = store.new_id();
    group.listed_from = store.listed_from(true);
    let id = group.id.clone();
    store.groups.insert(group);
    Ok((StatusCode::CREATED, Json(rendered(&store, &id)?)).into_response())
}

pub(crate) async fn replace(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = parse_body(&body)?;
    let mut group = group_from(&body)?;
    let mut store = ws.store();
    let existing = store.groups.get(&id).ok_or_else(|| not_found(&id))?;
    group.id.clone_from(&existing.id);
    group.listed_from = existing.listed_from;
    commit(&mut store, group)?;
    Ok(Json(rendered(&store, &id)?).into_response())
}

pub(crate) async fn patch(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let operations = patch::parse(&body)?;
    let mut store = ws.store();
    if store.groups.get(&id).is_none() {
        account_groups::patch(&mut store, &id, &operations)?;
        return ws.patched(&store, || account_groups::rendered(&store, &id));
    }
    patch_in_place(&mut store, &id, &operations)?;
    ws.patched(&store, || rendered(&store, &id))
}

/// Applies `operations` to the group `id`, then checks its name and its new members; on any failure the
/// group is as it was. The name and the entitlements (a few short strings) are saved whole; the changes to
/// the members are journaled and undone.
fn patch_in_place(store: &mut Store, id: &str, operations: &[PatchOp]) -> Result<(), ScimError> {
    let group = store.groups.get_mut(id).ok_or_else(|| not_found(id))?;
    let saved = (group.display_name.clone(), group.entitlements.clone());
    let mut journal = Journal::default();
    let result = operations
        .iter()
        .try_for_each(|op| apply(group, op, &mut journal))
        .and_then(|()| {
            let group = store.groups.get(id).ok_or_else(|| not_found(id))?;
            check_name(store, id, &saved.0, &group.display_name)?;
            store.check_members(Some(id), journal.added(&group.members))
        });
    if result.is_err()
        && let Some(group) = store.groups.get_mut(id)
    {
        (group.display_name, group.entitlements) = saved;
        journal.undo(&mut group.members);
    }
    result
}

pub(crate) async fn delete(
    State(ws): State<ScimWorkspace>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let mut store = ws.store();
    let group = store.groups.get(&id).ok_or_else(|| not_found(&id))?;
    if group.display_name == ADMINS_GROUP {
        return Err(system_group());
    }
    store.groups.remove(&id);
    store.forget_member(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Stores `group` over the group with its id, after checking its name and its new members.
fn commit(store: &mut Store, group: Group) -> Result<(), ScimError> {
    let existing = store
        .groups
        .get(&group.id)
        .ok_or_else(|| not_found(&group.id))?;
    check_name(
        store,
        &group.id,
        &existing.display_name,
        &group.display_name,
    )?;
    let added = group
        .members
        .iter()
        .filter(|m| !existing.members.contains(m));
    store.check_members(Some(&group.id), added)?;
    if let Some(slot) = store.groups.get_mut(&group.id) {
        *slot = group;
    }
    Ok(())
}

/// Fails if the group `id` may not go from the name `before` to `after`: `admins` keeps its name, and
/// names are unique (the group itself may carry `after` already).
fn check_name(store: &Store, id: &str, before: &str, after: &str) -> Result<(), ScimError> {
    if before == after {
        return Ok(());
    }
    if before == ADMINS_GROUP {
        return Err(system_group());
    }
    if store.other_group_named(after, id).is_some() {
        return Err(ScimError::conflict(format!(
            "Group with name {after} already exists."
        )));
    }
    Ok(())
}

fn rendered(store: &Store, id: &str) -> Result<Value, ScimError> {
    let group = store.groups.get(id).ok_or_else(|| not_found(id))?;
    Ok(render::group(group, store, &store.memberships_of(id)))
}

/// A group (without id) from a POST or PUT body.
fn group_from(body: &Map<String, Value>) -> Result<Group, ScimError> {
    fields::declares(body, render::GROUP_SCHEMA)?;
    Ok(Group {
        id: String::new(),
        display_name: fields::required_text(body, "displayName")?,
        members: fields::list(body, "members")?.into_iter().collect(),
        entitlements: fields::entitlements(body)?,
        listed_from: None,
    })
}

fn apply(group: &mut Group, op: &PatchOp, journal: &mut Journal) -> Result<(), ScimError> {
    match op.path.attribute.as_str() {
        "members" => patch::apply_to_members(&mut group.members, op, journal),
        "entitlements" => check_entitlements(&patch::apply_to_list(&mut group.entitlements, op)?),
        "displayname" if op.path.filter.is_none() && op.kind != OpKind::Remove => {
            match op.value()?.as_str().filter(|s| !s.trim().is_empty()) {
                Some(name) => {
                    group.display_name = name.to_owned();
                    Ok(())
                }
                None => Err(ScimError::invalid_value(
                    "displayName must be a non-empty string.",
                )),
            }
        }
        _ => Err(op.unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::members::walks;
    use super::super::users;
    use super::*;

    const SIZE: usize = 100_000;

    fn body(operations: Value) -> Bytes {
        let body = json!({ "schemas": [patch::PATCH_SCHEMA], "Operations": operations });
        Bytes::from(body.to_string())
    }

    fn values(ids: &[String]) -> Value {
        ids.iter().map(|id| json!({ "value": id })).collect()
    }

    async fn patch_group(ws: &ScimWorkspace, id: &str, operations: Value) -> Result<(), ScimError> {
        let answer = patch(State(ws.clone()), Path(id.to_owned()), body(operations)).await?;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        Ok(())
    }

    fn snapshot(ws: &ScimWorkspace, id: &str) -> (String, Vec<String>) {
        let group = ws.groups().into_iter().find(|g| g.id == id).unwrap();
        (group.display_name, group.members)
    }

    /// The benchmark's case: a group of 100,000 members changed by 50 at a time, with PATCH answering
    /// 204. No request walks the members (counted where they are walked, `Members::iter`), the order
    /// stays the order of addition, repeats are dropped, and a PATCH that fails leaves the group as it was.
    #[tokio::test]
    async fn patching_a_large_group_costs_the_change_and_is_all_or_nothing() {
        let ws = ScimWorkspace::new("pat");
        ws.set_patch_answers_204(true);
        let group = ws.add_group("marker");
        let users: Vec<String> = (0..SIZE + 60)
            .map(|i| ws.add_user(&format!("user{i}@contoso.com"), "", true))
            .collect();
        for user in &users[..SIZE] {
            ws.add_member(&group, user);
        }
        let (seeded, new) = users.split_at(SIZE);
        let walks_before = walks::so_far();

        // 50 new members, with repeats and members already there: added once each, last, in order.
        let mut batch = new[..50].to_vec();
        batch.extend([new[0].clone(), seeded[7].clone(), seeded[SIZE - 1].clone()]);
        let add = json!([{ "op": "add", "path": "members", "value": values(&batch) }]);
        patch_group(&ws, &group, add).await.unwrap();

        // Everything or nothing: a rename, a removal and more additions, then an unknown member.
        let failing = json!([
            { "op": "replace", "path": "displayName", "value": "renamed" },
            { "op": "remove", "path": format!("members[value eq \"{}\"]", seeded[3]) },
            { "op": "add", "path": "members", "value": values(&new[50..]) },
            { "op": "add", "path": "members", "value": [{ "value": "1111111111111111" }] },
        ]);
        let error = patch_group(&ws, &group, failing).await.unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.detail, "Principal 1111111111111111 not found.");
        // The same when the last check to fail is the name's.
        let other = ws.add_group("other");
        let conflict = json!([
            { "op": "remove", "path": "members", "value": values(&seeded[..2]) },
            { "op": "add", "path": "members", "value": values(&seeded[..1]) },
            { "op": "replace", "path": "displayName", "value": "OTHER" },
        ]);
        let error = patch_group(&ws, &group, conflict).await.unwrap_err();
        assert_eq!(error.status, StatusCode::CONFLICT);
        assert_eq!(error.detail, "Group with name OTHER already exists.");

        // A removal by the usual filter, and a user created into the group.
        let remove =
            json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", seeded[5]) }]);
        patch_group(&ws, &group, remove).await.unwrap();
        let user = json!({ "schemas": [render::USER_SCHEMA], "userName": "late@contoso.com",
            "groups": [{ "value": group }] });
        let created = users::create(State(ws.clone()), Bytes::from(user.to_string()))
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(walks::so_far(), walks_before, "no request walked a group");

        let late = ws
            .store()
            .user_named("late@contoso.com")
            .unwrap()
            .id
            .clone();
        let mut expected: Vec<String> = seeded.to_vec();
        expected.remove(5);
        expected.extend(new[..50].iter().cloned());
        expected.push(late);
        assert_eq!(snapshot(&ws, &group), ("marker".to_owned(), expected));
        assert!(
            walks::so_far() > walks_before,
            "a snapshot walks, and that counts"
        );
        assert_ne!(other, group);
    }
}
