//! `/Groups`: workspace-local groups by display name. Find one (filter on `displayName`, exact name
//! only, case-insensitively as the workspace compares names), create one (409 `Group with name <x>
//! already exists.` adopts the existing group), add members in batches, remove one member, add
//! entitlements. Membership is written with PatchOp; PATCH may answer 200 with the group or 204.
//! Groups read with their members' kinds (admin protection) are in `nested.rs`.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::listing::{ListPage, literal, parse_list_page};
use super::{CallKind, Level, Scim, ScimError, ScimId};
use crate::http::{self, ApiError, Requests};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const GROUP_ATTRIBUTES: &str = "id,displayName,members,entitlements";
/// Members added per PATCH request (the batch size used in the field).
pub const MAX_MEMBERS_PER_PATCH: usize = 50;

/// A workspace group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroup {
    pub id: ScimId,
    pub display_name: String,
    /// Workspace ids of the direct members (users, service principals, groups).
    pub members: Vec<ScimId>,
    /// Entitlement values (`workspace-access`, ...).
    pub entitlements: Vec<String>,
}

/// A group as [`Scim::list_group_kinds`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKind {
    pub id: ScimId,
    pub display_name: String,
    /// `meta.resourceType`, when given.
    pub resource_type: Option<String>,
    /// Its entitlements in this workspace.
    pub entitlements: Vec<String>,
}

/// `{"value": ...}`, the shape of members (a workspace id; their `display` and `$ref` are not kept) and
/// entitlements (a name).
#[derive(Deserialize)]
struct Valued<T> {
    value: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupResource {
    id: ScimId,
    #[serde(default)]
    display_name: Option<String>,
    // Left out (or null) when empty.
    #[serde(default)]
    members: Option<Vec<Valued<ScimId>>>,
    #[serde(default)]
    entitlements: Option<Vec<Valued<String>>>,
}

/// A group resource as a look-up by display name projects it ([`Scim::group_named`]), and the group it
/// gives: members and entitlements here, members with their kinds in `nested.rs`.
pub(super) trait GroupLookup: DeserializeOwned + Send + 'static {
    /// The `attributes` the look-up asks for.
    const ATTRIBUTES: &'static str;
    type Group;
    fn id(&self) -> &ScimId;
    fn name(&self) -> Option<&str>;
    /// The group, named `asked_name` if the answer left its name out.
    fn found(self, asked_name: &str) -> Self::Group;
}

impl GroupLookup for GroupResource {
    const ATTRIBUTES: &'static str = GROUP_ATTRIBUTES;
    type Group = ScimGroup;

    fn id(&self) -> &ScimId {
        &self.id
    }

    fn name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }

    fn found(self, asked_name: &str) -> ScimGroup {
        self.into_group(asked_name)
    }
}

impl GroupResource {
    fn into_group(self, asked_name: &str) -> ScimGroup {
        ScimGroup {
            id: self.id,
            display_name: self.display_name.unwrap_or_else(|| asked_name.to_owned()),
            members: (self.members.unwrap_or_default().into_iter())
                .map(|m| m.value)
                .collect(),
            entitlements: (self.entitlements.unwrap_or_default().into_iter())
                .map(|v| v.value)
                .collect(),
        }
    }
}

/// The group of `found` named `display_name` (compared case-insensitively), if any.
fn named<R: GroupLookup>(found: Vec<R>, display_name: &str) -> Option<R::Group> {
    pick(found, display_name, R::name).map(|g| g.found(display_name))
}

/// The one of `found` whose name (`name_of`) is `display_name`, compared case-insensitively; should
/// names ever differ only in case, the exact spelling wins.
pub(super) fn pick<T>(
    found: Vec<T>,
    display_name: &str,
    name_of: impl Fn(&T) -> Option<&str>,
) -> Option<T> {
    let wanted = display_name.to_lowercase();
    let mut candidates: Vec<T> = found
        .into_iter()
        .filter(|g| name_of(g).is_some_and(|n| n.to_lowercase() == wanted))
        .collect();
    let exact = candidates
        .iter()
        .position(|g| name_of(g) == Some(display_name))
        .unwrap_or(0);
    (!candidates.is_empty()).then(|| candidates.swap_remove(exact))
}

/// Reads the answer to a group look-up by display name (a ListResponse of groups) exactly as
/// [`Scim::find_group`] does: the group named `display_name`, if listed.
///
/// # Errors
/// The body is not a ListResponse of groups.
pub fn parse_group_page(
    body: &[u8],
    display_name: &str,
) -> Result<Option<ScimGroup>, serde_json::Error> {
    let page: ListPage<GroupResource> = parse_list_page(body)?;
    Ok(named(page.resources, display_name))
}

/// Reads the answer to creating the group `display_name` (the group resource) exactly as
/// [`Scim::create_group`] does.
///
/// # Errors
/// The body is not a group resource.
pub fn parse_group(body: &[u8], display_name: &str) -> Result<ScimGroup, serde_json::Error> {
    serde_json::from_slice::<GroupResource>(body).map(|g| g.into_group(display_name))
}

/// `[{"value": v}, ...]`.
fn valued<T: serde::Serialize>(values: &[&T]) -> Value {
    Value::Array(values.iter().map(|v| json!({ "value": v })).collect())
}

/// `values` in order, each once.
fn distinct<T: AsRef<str>>(values: &[T]) -> Vec<&T> {
    let mut seen = HashSet::new();
    values
        .iter()
        .filter(|v: &&T| seen.insert((*v).as_ref()))
        .collect()
}

impl Scim {
    /// The group with exactly this display name (compared case-insensitively), with its members and
    /// entitlements.
    ///
    /// # Errors
    /// The workspace could not be asked.
    pub async fn find_group(
        &self,
        display_name: &str,
        requests: &Requests,
    ) -> Result<Option<ScimGroup>, ScimError> {
        self.group_named::<GroupResource>(display_name, requests)
            .await
    }

    /// The group with exactly this display name (compared case-insensitively) as `R` projects it. The
    /// account's group LIST leaves `members` out (documented since 2025-08-22): there the group found is
    /// read once more by id, as the Terraform provider does.
    pub(super) async fn group_named<R: GroupLookup>(
        &self,
        display_name: &str,
        requests: &Requests,
    ) -> Result<Option<R::Group>, ScimError> {
        let found: Vec<R> = self
            .groups_named(display_name, R::ATTRIBUTES, requests)
            .await?;
        let Some(group) = pick(found, display_name, R::name) else {
            return Ok(None);
        };
        let group = match self.level {
            Level::Workspace => group,
            Level::Account => self.read_group::<R>(group.id(), requests).await?,
        };
        Ok(Some(group.found(display_name)))
    }

    /// One group by id, projected as `R`.
    async fn read_group<R: GroupLookup>(
        &self,
        id: &str,
        requests: &Requests,
    ) -> Result<R, ScimError> {
        let operation = format!("reading group {id}");
        let mut url = self.resource_url("Groups", id);
        url.query_pairs_mut()
            .append_pair("attributes", R::ATTRIBUTES);
        let response = self
            .send(CallKind::Get, &operation, requests, || {
                self.client.get(url.clone())
            })
            .await?;
        Ok(http::json(&operation, response).await?)
    }

    /// The groups a `displayName eq` filter finds (names compare case-insensitively, so there may be
    /// more than one), projected to `attributes`.
    pub(super) async fn groups_named<T: DeserializeOwned + Send + 'static>(
        &self,
        display_name: &str,
        attributes: &str,
        requests: &Requests,
    ) -> Result<Vec<T>, ScimError> {
        let operation = format!("looking up group {display_name:?}");
        let filter = format!("displayName eq {}", literal(display_name));
        self.filtered(&operation, "Groups", &filter, attributes, requests)
            .await
    }

    /// Creates a group with these entitlements; if the name is taken (409), the existing group is
    /// returned as it is (its entitlements may differ: compare and add).
    ///
    /// # Errors
    /// Any refusal but 409; or 409 while the existing group is not listed yet (listings are
    /// eventually consistent): a later run finds it.
    pub async fn create_group(
        &self,
        display_name: &str,
        entitlements: &[String],
        requests: &Requests,
    ) -> Result<ScimGroup, ScimError> {
        let operation = format!("creating group {display_name:?}");
        let mut body = json!({ "schemas": [GROUP_SCHEMA], "displayName": display_name });
        let entitlements = distinct(entitlements);
        if !entitlements.is_empty() {
            body["entitlements"] = valued(&entitlements);
        }
        match self.post(&operation, "Groups", &body, requests).await {
            Ok(response) => {
                let created: GroupResource = http::json(&operation, response).await?;
                Ok(created.into_group(display_name))
            }
            Err(ScimError::Api(e)) if e.status() == Some(409) => {
                match self.find_group(display_name, requests).await? {
                    Some(group) => Ok(group),
                    None => Err(ScimError::Api(ApiError::Protocol {
                        operation,
                        cause:
                            "the workspace says the group exists (HTTP 409) but does not list it \
                                yet; a later run will find it"
                                .to_owned(),
                    })),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The account's groups that hold the `account_admin` role (their members are account admins):
    /// every group listed with `id,displayName,roles`, kept when `roles` has it (Terraform's
    /// `databricks_group_role`). Groups with members (`members` is never in an account group listing).
    ///
    /// # Errors
    /// The list could not be read to the end.
    pub async fn list_account_admin_groups(
        &self,
        requests: &Requests,
    ) -> Result<Vec<(ScimId, String)>, ScimError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Listed {
            id: ScimId,
            #[serde(default)]
            display_name: Option<String>,
            #[serde(
                default,
                rename = "roles",
                deserialize_with = "super::principals::account_admin"
            )]
            account_admin: bool,
        }
        let operation = format!("listing {} groups with their roles", self.level.noun());
        fn id(g: &Listed) -> &ScimId {
            &g.id
        }
        let listed = (self.list_all(
            &operation,
            "Groups",
            "id,displayName,roles",
            id,
            requests,
            |g| g,
        ))
        .await?;
        Ok((listed.into_iter())
            .filter(|g| g.account_admin)
            .map(|g| (g.id, g.display_name.unwrap_or_default()))
            .collect())
    }

    /// Adds members (workspace ids of users, service principals or groups) to a group, at most
    /// [`MAX_MEMBERS_PER_PATCH`] per request; repeated ids are sent once, an empty list sends nothing.
    ///
    /// # Errors
    /// The first batch the workspace refused; the batches before it stay applied (adding is idempotent).
    pub async fn add_members(
        &self,
        group_id: &str,
        member_ids: &[ScimId],
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let url = self.resource_url("Groups", group_id);
        for batch in distinct(member_ids).chunks(MAX_MEMBERS_PER_PATCH) {
            let operation = format!(
                "adding {} to group {group_id}",
                counted(batch.len(), "member")
            );
            let operations = json!([{ "op": "add", "path": "members", "value": valued(batch) }]);
            self.patch(&operation, &url, operations, requests).await?;
        }
        Ok(())
    }

    /// Removes one member from a group (`members[value eq "<id>"]`).
    ///
    /// # Errors
    /// The workspace refused (a group that does not exist is a 404).
    pub async fn remove_member(
        &self,
        group_id: &str,
        member_id: &str,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let operation = format!("removing member {member_id} from group {group_id}");
        let path = format!("members[value eq {}]", literal(member_id));
        let url = self.resource_url("Groups", group_id);
        let operations = json!([{ "op": "remove", "path": path }]);
        self.patch(&operation, &url, operations, requests).await
    }

    /// Every group a workspace lists, with its kind (`meta.resourceType`: `WorkspaceGroup` for a
    /// workspace-local group, `Group` for an account group assigned to an identity-federated workspace,
    /// as ucx's `_list_workspace_groups` reads it) and its entitlements in this workspace; no members.
    ///
    /// # Errors
    /// The list could not be read to the end.
    pub async fn list_group_kinds(&self, requests: &Requests) -> Result<Vec<GroupKind>, ScimError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Listed {
            id: ScimId,
            #[serde(default)]
            display_name: Option<String>,
            #[serde(default)]
            meta: Option<Meta>,
            #[serde(default)]
            entitlements: Option<Vec<Valued<String>>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            #[serde(default)]
            resource_type: Option<String>,
        }
        fn id(g: &Listed) -> &ScimId {
            &g.id
        }
        let operation = format!("listing the {} groups with their kinds", self.level.noun());
        let attributes = "id,displayName,meta,entitlements";
        let listed = (self.list_all(&operation, "Groups", attributes, id, requests, |g| g)).await?;
        Ok((listed.into_iter())
            .map(|g| GroupKind {
                id: g.id,
                display_name: g.display_name.unwrap_or_default(),
                resource_type: g.meta.and_then(|m| m.resource_type),
                entitlements: (g.entitlements.unwrap_or_default().into_iter())
                    .map(|v| v.value)
                    .collect(),
            })
            .collect())
    }

    /// Adds entitlements to a group (those it has already are kept); an empty list sends nothing.
    ///
    /// # Errors
    /// The workspace refused (an unknown entitlement is a 400).
    pub async fn add_entitlements(
        &self,
        group_id: &str,
        values: &[String],
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let values = distinct(values);
        if values.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
        let operation = format!(
            "adding entitlements {} to group {group_id}",
            names.join(", ")
        );
        let url = self.resource_url("Groups", group_id);
        let operations = json!([{ "op": "add", "path": "entitlements", "value": valued(&values) }]);
        self.patch(&operation, &url, operations, requests).await
    }
}

fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_without_members_or_entitlements_reads_as_empty_lists() {
        let group: GroupResource =
            serde_json::from_str(r#"{"id":"7","displayName":"Eng","members":null}"#).unwrap();
        let group = group.into_group("eng");
        assert_eq!(group.display_name, "Eng");
        assert!(group.members.is_empty() && group.entitlements.is_empty());
    }

    #[test]
    fn members_and_entitlements_are_read_as_their_values() {
        let body = r#"{"id":"7","displayName":"Eng","members":[{"value":"1","display":"Ana","$ref":"Users/1"}],"entitlements":[{"value":"workspace-access"}]}"#;
        let group = serde_json::from_str::<GroupResource>(body)
            .unwrap()
            .into_group("Eng");
        assert_eq!(group.members, ["1"]);
        assert_eq!(group.entitlements, ["workspace-access"]);
    }
}
