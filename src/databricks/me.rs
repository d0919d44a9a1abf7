//! `/Me`: the identity the token belongs to, which a sync must never deprovision.
//!
//! A user's token (a PAT) gives that user. A service principal's token (a managed identity's Entra token,
//! or a Databricks OAuth token of a service principal) gives a User-shaped resource whose `userName` is
//! the application id, a UUID: the Databricks Terraform provider tells the two apart that way
//! (`data_current_user.go`). Some answers carry `applicationId` or the ServicePrincipal schema
//! instead; any of the three makes it a service principal.

use serde::Deserialize;

use super::principals::SERVICE_PRINCIPAL_SCHEMA;
use super::{CallKind, Scim, ScimError, ScimId};
use crate::http::{self, Requests};
use crate::principal::PrincipalKind;

/// The token's own identity in the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The workspace id of the user or service principal.
    pub id: ScimId,
    pub kind: PrincipalKind,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MeResource {
    id: ScimId,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    application_id: Option<String>,
    #[serde(default)]
    schemas: Option<Vec<String>>,
}

impl MeResource {
    fn kind(&self) -> PrincipalKind {
        let has_application_id = self
            .application_id
            .as_deref()
            .is_some_and(|a| !a.trim().is_empty());
        let has_schema = self.schemas.iter().flatten().any(|s| {
            s.eq_ignore_ascii_case(SERVICE_PRINCIPAL_SCHEMA)
                || s.to_ascii_lowercase().ends_with(":serviceprincipal")
        });
        let name_is_uuid = self
            .user_name
            .as_deref()
            .is_some_and(|n| uuid::Uuid::parse_str(n.trim()).is_ok());
        if has_application_id || has_schema || name_is_uuid {
            PrincipalKind::ServicePrincipal
        } else {
            PrincipalKind::User
        }
    }
}

impl Scim {
    /// Who the token belongs to (`GET /Me`).
    ///
    /// # Errors
    /// The workspace refused or the answer has no `id`.
    pub async fn me(&self, requests: &Requests) -> Result<Me, ScimError> {
        let operation = "looking up the token's own identity";
        let url = self.url("Me");
        let response = self
            .send(CallKind::Get, operation, requests, || {
                self.client.get(url.clone())
            })
            .await?;
        let resource: MeResource = http::json(operation, response).await?;
        Ok(resource.into())
    }
}

impl From<MeResource> for Me {
    fn from(resource: MeResource) -> Me {
        Me {
            kind: resource.kind(),
            id: resource.id,
        }
    }
}

/// Reads the answer of `GET /Me` exactly as [`Scim::me`] does.
///
/// # Errors
/// The body is not a resource with an `id`.
pub fn parse_me(body: &[u8]) -> Result<Me, serde_json::Error> {
    serde_json::from_slice::<MeResource>(body).map(Me::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(body: &str) -> PrincipalKind {
        serde_json::from_str::<MeResource>(body).unwrap().kind()
    }

    #[test]
    fn a_user_token_is_a_user() {
        let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"1","userName":"admin@contoso.com","active":true}"#;
        assert_eq!(kind(body), PrincipalKind::User);
        assert_eq!(kind(r#"{"id":"1"}"#), PrincipalKind::User);
    }

    #[test]
    fn a_service_principal_is_known_by_its_uuid_user_name_application_id_or_schema() {
        let uuid_name = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2","userName":"9f3c1a52-0d1e-4b7a-8c55-2e6f0b9d4a11"}"#;
        let application_id = r#"{"id":"2","applicationId":"9f3c1a52-0d1e-4b7a-8c55-2e6f0b9d4a11","displayName":"sync"}"#;
        let schema =
            r#"{"id":"2","schemas":["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"]}"#;
        for body in [uuid_name, application_id, schema] {
            assert_eq!(kind(body), PrincipalKind::ServicePrincipal, "{body}");
        }
    }
}
