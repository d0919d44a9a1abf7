//! Groups read with each member's kind, for admin protection: `admins` by display name, and the groups
//! nested in it by id (with `meta.resourceType`). A member's kind is in its `$ref` (`Users/<id>`,
//! `Groups/<id>`, `ServicePrincipals/<id>`), as the Databricks Terraform provider reads it
//! (`scim/data_group.go`); see docs/api-contract.md.

use serde::Deserialize;

use super::groups::GroupLookup;
use super::{CallKind, Scim, ScimError, ScimId};
use crate::http::{self, Requests};

/// What admin protection reads of a group (by id, `meta` too).
const CLASSIFIED_ATTRIBUTES: &str = "id,displayName,members";

/// What a group member is. Databricks says it in the member's `$ref` (`Users/<id>`, `Groups/<id>`,
/// `ServicePrincipals/<id>`: the Terraform provider's `scim/data_group.go` tells members apart by these
/// prefixes); without a `$ref`, RFC 7643's `type` (`User`, `Group`) is taken. Anything else is
/// [`MemberKind::Unknown`]: the caller must not guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    User,
    ServicePrincipal,
    Group,
    Unknown,
}

impl MemberKind {
    /// The kind a collection name says (`Users`, `Groups`, `ServicePrincipals`; RFC 7643's `User`,
    /// `Group`), case-insensitively.
    fn named(collection: &str) -> MemberKind {
        let is = |name: &str| collection.eq_ignore_ascii_case(name);
        if is("Users") || is("User") {
            MemberKind::User
        } else if is("ServicePrincipals") || is("ServicePrincipal") {
            MemberKind::ServicePrincipal
        } else if is("Groups") || is("Group") {
            MemberKind::Group
        } else {
            MemberKind::Unknown
        }
    }

    /// The kind a `$ref` names: the path segment before the id, relative (`Groups/7`) or absolute
    /// (`https://…/scim/v2/Groups/7`).
    fn of_ref(reference: &str) -> MemberKind {
        let mut segments = reference.trim().trim_end_matches('/').rsplit('/');
        match (segments.next(), segments.next()) {
            (Some(id), Some(collection)) if !id.is_empty() => MemberKind::named(collection),
            _ => MemberKind::Unknown,
        }
    }
}

/// A member with its kind and display name (`admins` and the groups in it are short: the names are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub id: ScimId,
    pub kind: MemberKind,
    pub display: Option<String>,
}

/// A group with each member's kind: what admin protection reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedGroup {
    pub id: ScimId,
    pub display_name: Option<String>,
    pub members: Vec<GroupMember>,
    /// `meta.resourceType` when the answer carries it: `WorkspaceGroup` (workspace-local) or `Group`
    /// (an account group).
    pub resource_type: Option<String>,
}

#[derive(Deserialize)]
struct KindedMember {
    value: ScimId,
    #[serde(default)]
    display: Option<String>,
    #[serde(rename = "$ref", default)]
    reference: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    resource_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClassifiedResource {
    id: ScimId,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    members: Option<Vec<KindedMember>>,
    #[serde(default)]
    meta: Option<Meta>,
}

impl GroupLookup for ClassifiedResource {
    const ATTRIBUTES: &'static str = CLASSIFIED_ATTRIBUTES;
    type Group = ClassifiedGroup;

    fn id(&self) -> &ScimId {
        &self.id
    }

    fn name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }

    /// As listed: a group without a name stays without one (the report says so).
    fn found(self, _asked_name: &str) -> ClassifiedGroup {
        self.into()
    }
}

impl From<ClassifiedResource> for ClassifiedGroup {
    fn from(resource: ClassifiedResource) -> Self {
        let members = (resource.members.unwrap_or_default().into_iter())
            .map(|m| GroupMember {
                kind: match (&m.reference, &m.kind) {
                    (Some(reference), _) => MemberKind::of_ref(reference),
                    (None, Some(kind)) => MemberKind::named(kind),
                    (None, None) => MemberKind::Unknown,
                },
                id: m.value,
                display: m.display,
            })
            .collect();
        ClassifiedGroup {
            id: resource.id,
            display_name: resource.display_name,
            members,
            resource_type: resource.meta.and_then(|m| m.resource_type),
        }
    }
}

/// Reads the answer to `GET Groups/{id}` exactly as [`Scim::get_group`] does.
///
/// # Errors
/// The body is not a group resource.
pub fn parse_classified_group(body: &[u8]) -> Result<ClassifiedGroup, serde_json::Error> {
    serde_json::from_slice::<ClassifiedResource>(body).map(ClassifiedGroup::from)
}

impl Scim {
    /// The group with exactly this display name, with each member's kind ([`MemberKind`]).
    ///
    /// # Errors
    /// The workspace could not be asked.
    pub async fn find_classified_group(
        &self,
        display_name: &str,
        requests: &Requests,
    ) -> Result<Option<ClassifiedGroup>, ScimError> {
        self.group_named::<ClassifiedResource>(display_name, requests)
            .await
    }

    /// One group by id (`GET Groups/{id}?attributes=id,displayName,members,meta`), each member with its
    /// kind, and `meta.resourceType`, as the Terraform provider reads nested groups (`data_group.go`).
    ///
    /// # Errors
    /// The workspace refused (404 for a group it does not serve, as an account group on an
    /// identity-federated workspace) or gave no usable answer.
    pub async fn get_group(
        &self,
        id: &str,
        requests: &Requests,
    ) -> Result<ClassifiedGroup, ScimError> {
        let operation = format!("reading group {id}");
        let mut url = self.resource_url("Groups", id);
        url.query_pairs_mut()
            .append_pair("attributes", &format!("{CLASSIFIED_ATTRIBUTES},meta"));
        let response = self
            .send(CallKind::Get, &operation, requests, || {
                self.client.get(url.clone())
            })
            .await?;
        let resource: ClassifiedResource = http::json(&operation, response).await?;
        Ok(resource.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_members_kind_is_its_ref_or_without_one_its_type_and_otherwise_unknown() {
        let body = r#"{"id":"1","displayName":"admins","members":[
            {"value":"2","display":"Ana","$ref":"Users/2"},
            {"value":"3","$ref":"ServicePrincipals/3"},
            {"value":"4","display":"leads","$ref":"Groups/4"},
            {"value":"5","$ref":"https://adb-1.azuredatabricks.net/api/2.0/preview/scim/v2/Groups/5"},
            {"value":"6","type":"Group"},
            {"value":"7","type":"User"},
            {"value":"8"},
            {"value":"9","$ref":"Things/9"},
            {"value":"10","$ref":"Groups/"},
            {"value":"11","type":"direct"}],
            "meta":{"resourceType":"WorkspaceGroup"}}"#;
        let group = parse_classified_group(body.as_bytes()).unwrap();
        let kinds: Vec<(&str, MemberKind)> = (group.members.iter())
            .map(|m| (m.id.as_str(), m.kind))
            .collect();
        use MemberKind::*;
        assert_eq!(
            kinds,
            [
                ("2", User),
                ("3", ServicePrincipal),
                ("4", Group),
                ("5", Group),
                ("6", Group),
                ("7", User),
                ("8", Unknown),
                ("9", Unknown),
                ("10", Unknown),
                ("11", Unknown),
            ]
        );
        assert_eq!(group.members[2].display.as_deref(), Some("leads"));
        assert_eq!(group.resource_type.as_deref(), Some("WorkspaceGroup"));
        let bare = parse_classified_group(br#"{"id":"1"}"#).unwrap();
        assert!(bare.members.is_empty() && bare.resource_type.is_none());
    }
}
