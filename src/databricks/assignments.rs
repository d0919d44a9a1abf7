//! Workspace permission assignments, at the account (`/api/2.0/accounts/{account_id}/workspaces/
//! {workspace_id}/permissionassignments`): which account principals and groups an identity-federated
//! workspace lets in, and as what. List (not paged), assign (`PUT …/principals/{id}` with
//! `{"permissions":["USER"]}` or `["ADMIN"]`), unassign (`DELETE`, 404 means done). The REST reference
//! warns that a PUT without `permissions`, with an empty list or with only unsupported values deletes
//! every permission of the principal: [`Permission`] makes such a body impossible to send. Reached
//! through [`Scim::assignments`], at the account's level only (docs/api-contract.md, "Databricks
//! account").

use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{CallKind, Level, Scim, ScimError, ScimId};
use crate::http::{self, Requests};

/// What a principal may do in a workspace it is assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `USER`: a member of the workspace's `users` group.
    User,
    /// `ADMIN`: a member of its `admins` group.
    Admin,
}

impl Permission {
    fn wire(self) -> &'static str {
        match self {
            Permission::User => "USER",
            Permission::Admin => "ADMIN",
        }
    }
}

/// Who an assignment is for, as the list names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    User(String),
    Group(String),
    /// Its `service_principal_name`.
    ServicePrincipal(String),
    /// None of the three names was given.
    Unnamed,
}

/// One assignment of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The account id of the principal or group.
    pub principal_id: ScimId,
    pub assignee: Assignee,
    pub display_name: Option<String>,
    /// `ADMIN` when listed, else `USER` when listed; `None` for an entry with neither (`UNKNOWN`, an
    /// entry carrying only an `error`).
    pub permission: Option<Permission>,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    permission_assignments: Vec<ListedAssignment>,
}

#[derive(Deserialize)]
struct ListedAssignment {
    principal: ListedPrincipal,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Deserialize)]
struct ListedPrincipal {
    /// An int64 in the reference; read as either a number or a string.
    principal_id: serde_json::Value,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    service_principal_name: Option<String>,
}

impl ListedAssignment {
    fn into_assignment(self) -> Option<Assignment> {
        let p = self.principal;
        let principal_id = match p.principal_id {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) if !s.is_empty() => s,
            _ => return None,
        };
        let assignee = match (p.user_name, p.group_name, p.service_principal_name) {
            (Some(name), ..) => Assignee::User(name),
            (None, Some(name), _) => Assignee::Group(name),
            (None, None, Some(name)) => Assignee::ServicePrincipal(name),
            (None, None, None) => Assignee::Unnamed,
        };
        let has = |wire: &str| self.permissions.iter().any(|p| p == wire);
        let permission = if has("ADMIN") {
            Some(Permission::Admin)
        } else if has("USER") {
            Some(Permission::User)
        } else {
            None
        };
        Some(Assignment {
            principal_id: ScimId::from(principal_id),
            assignee,
            display_name: p.display_name,
            permission,
        })
    }
}

/// Reads a permission assignment list exactly as [`Assignments::list`] does.
///
/// # Errors
/// The body is not a permission assignment list, or an entry has no principal id.
pub fn parse_assignments(body: &[u8]) -> Result<Vec<Assignment>, serde_json::Error> {
    let listed: Listed = serde_json::from_slice(body)?;
    listed.assignments().map_err(serde::de::Error::custom)
}

impl Listed {
    fn assignments(self) -> Result<Vec<Assignment>, &'static str> {
        (self.permission_assignments.into_iter())
            .map(|a| {
                a.into_assignment()
                    .ok_or("a permission assignment without a principal_id")
            })
            .collect()
    }
}

/// The permission assignments of one workspace, through the account's client.
pub struct Assignments<'a> {
    scim: &'a Scim,
    workspace_id: u64,
    /// `…/accounts/{account_id}/workspaces/{workspace_id}/permissionassignments`.
    root: Url,
}

impl Scim {
    /// The permission assignments of the workspace `workspace_id`; `None` for a workspace's own client
    /// (assignments are made at the account).
    pub fn assignments(&self, workspace_id: u64) -> Option<Assignments<'_>> {
        if self.level != Level::Account {
            return None;
        }
        // The SCIM root is `…/accounts/{account_id}/scim/v2/`: two levels up is the account's.
        let path = format!("../../workspaces/{workspace_id}/permissionassignments");
        let root = self.base.join(&path).ok()?;
        Some(Assignments {
            scim: self,
            workspace_id,
            root,
        })
    }
}

impl Assignments<'_> {
    fn principal_url(&self, principal_id: &str) -> Url {
        let mut url = self.root.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.push("principals").push(principal_id);
        }
        url
    }

    /// Every assignment of the workspace (one request: the list is not paged).
    ///
    /// # Errors
    /// The account refused, or the answer is not an assignment list.
    pub async fn list(&self, requests: &Requests) -> Result<Vec<Assignment>, ScimError> {
        let operation = format!("listing the assignments of workspace {}", self.workspace_id);
        let response = (self.scim)
            .send(CallKind::List, &operation, requests, || {
                self.scim.client.get(self.root.clone())
            })
            .await?;
        let listed: Listed = http::json(&operation, response).await?;
        listed.assignments().map_err(|cause| {
            ScimError::Api(http::ApiError::Protocol {
                operation,
                cause: cause.to_owned(),
            })
        })
    }

    /// Assigns the principal or group `principal_id` (an account id) with `permission`; a principal
    /// assigned already gets that permission.
    ///
    /// # Errors
    /// The account refused (a workspace without identity federation: 400).
    pub async fn assign(
        &self,
        principal_id: &str,
        permission: Permission,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let operation = format!(
            "assigning {principal_id} to workspace {} as {}",
            self.workspace_id,
            permission.wire()
        );
        let url = self.principal_url(principal_id);
        // Never an empty list: the reference says it deletes every permission of the principal.
        let body = json!({ "permissions": [permission.wire()] });
        let put = || self.scim.client.put(url.clone()).json(&body);
        (self.scim)
            .send(CallKind::Write, &operation, requests, put)
            .await
            .map(drop)
    }

    /// Takes back the assignment of `principal_id`; 404 means there is none, which is what was asked.
    ///
    /// # Errors
    /// The account refused.
    pub async fn unassign(&self, principal_id: &str, requests: &Requests) -> Result<(), ScimError> {
        let operation = format!(
            "removing the assignment of {principal_id} to workspace {}",
            self.workspace_id
        );
        let url = self.principal_url(principal_id);
        self.scim.delete(&operation, &url, requests).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_read_by_kind_of_principal_with_admin_winning_over_user() {
        let body = br#"{"permission_assignments":[
            {"principal":{"principal_id":11,"display_name":"Ana","user_name":"ana@contoso.com"},"permissions":["USER"]},
            {"principal":{"principal_id":"12","display_name":"Eng","group_name":"Eng"},"permissions":["USER","ADMIN"]},
            {"principal":{"principal_id":13,"service_principal_name":"9f3c1a52-0d1e-4b7a-8c55-2e6f0b9d4a11"},"permissions":["UNKNOWN"]},
            {"principal":{"principal_id":14},"error":"Principal 14 not in workspace"}
        ]}"#;
        let listed = parse_assignments(body).unwrap();
        let seen: Vec<(&str, &Assignee, Option<Permission>)> = (listed.iter())
            .map(|a| (a.principal_id.as_str(), &a.assignee, a.permission))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "11",
                    &Assignee::User("ana@contoso.com".into()),
                    Some(Permission::User)
                ),
                (
                    "12",
                    &Assignee::Group("Eng".into()),
                    Some(Permission::Admin)
                ),
                (
                    "13",
                    &Assignee::ServicePrincipal("9f3c1a52-0d1e-4b7a-8c55-2e6f0b9d4a11".into()),
                    None
                ),
                ("14", &Assignee::Unnamed, None),
            ]
        );
        assert_eq!(parse_assignments(b"{}").unwrap(), []);
        assert!(parse_assignments(br#"{"permission_assignments":[{"principal":{}}]}"#).is_err());
        assert!(parse_assignments(br#"{"permission_assignments":5}"#).is_err());
        assert!(parse_assignments(b"not json").is_err());
    }
}
