//! `/ServicePrincipals`: Entra applications known to the workspace, keyed by `applicationId` (the Entra
//! `appId`). List (projected, paged to the end), find by application id, create (409 `Service principal
//! with application ID <x> already exists.` means it exists), set `active`, delete.

use serde::Deserialize;
use serde_json::json;

use super::listing::literal;
use super::{ExternalId, Scim, ScimError, ScimId, activation_verb, active_default};
use crate::http::{self, Requests};

const SERVICE_PRINCIPAL_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
const SERVICE_PRINCIPAL_ATTRIBUTES: &str = "id,applicationId,displayName,active,externalId";

/// A workspace service principal as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimServicePrincipal {
    pub id: ScimId,
    /// The Entra application (client) id.
    pub application_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Absent means active (SCIM's default).
    #[serde(default = "active_default")]
    pub active: bool,
    #[serde(default)]
    pub external_id: ExternalId,
}

/// What creating a service principal came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatedServicePrincipal {
    New(ScimServicePrincipal),
    /// 409: a service principal with this application id exists.
    AlreadyExists,
}

impl Scim {
    /// Every service principal of the workspace (`id`, `applicationId`, `displayName`, `active`).
    ///
    /// # Errors
    /// The list could not be read to the end; a partial list is never returned.
    pub async fn list_service_principals(
        &self,
        requests: &Requests,
    ) -> Result<Vec<ScimServicePrincipal>, ScimError> {
        self.list_all(
            "listing workspace service principals",
            "ServicePrincipals",
            SERVICE_PRINCIPAL_ATTRIBUTES,
            |sp: &ScimServicePrincipal| &sp.id,
            requests,
            |sp| sp,
        )
        .await
    }

    /// The service principal of this application id (compared case-insensitively), if any.
    ///
    /// # Errors
    /// The workspace could not be asked.
    pub async fn find_service_principal(
        &self,
        application_id: &str,
        requests: &Requests,
    ) -> Result<Option<ScimServicePrincipal>, ScimError> {
        let operation = format!("looking up service principal {application_id}");
        let filter = format!("applicationId eq {}", literal(application_id));
        let found: Vec<ScimServicePrincipal> = self
            .filtered(
                &operation,
                "ServicePrincipals",
                &filter,
                SERVICE_PRINCIPAL_ATTRIBUTES,
                requests,
            )
            .await?;
        Ok(found
            .into_iter()
            .find(|sp| sp.application_id.eq_ignore_ascii_case(application_id)))
    }

    /// Creates an active service principal for an Entra application, with `externalId` = the Entra
    /// service principal's object id when one is given.
    ///
    /// # Errors
    /// Any refusal but 409 (which means it exists).
    pub async fn create_service_principal(
        &self,
        application_id: &str,
        display_name: &str,
        external_id: Option<&uuid::Uuid>,
        requests: &Requests,
    ) -> Result<CreatedServicePrincipal, ScimError> {
        let operation = format!("creating service principal {application_id}");
        let mut body = json!({
            "schemas": [SERVICE_PRINCIPAL_SCHEMA],
            "applicationId": application_id,
            "active": true,
        });
        if !display_name.trim().is_empty() {
            body["displayName"] = json!(display_name);
        }
        if let Some(id) = external_id {
            body["externalId"] = json!(id.hyphenated().to_string());
        }
        match self
            .post(&operation, "ServicePrincipals", &body, requests)
            .await
        {
            Ok(response) => Ok(CreatedServicePrincipal::New(
                http::json(&operation, response).await?,
            )),
            Err(ScimError::Api(e)) if e.status() == Some(409) => {
                Ok(CreatedServicePrincipal::AlreadyExists)
            }
            Err(e) => Err(e),
        }
    }

    /// Sets `active` on a service principal. Accepts 200 with the resource and 204 without.
    ///
    /// # Errors
    /// The workspace refused.
    pub async fn set_service_principal_active(
        &self,
        id: &str,
        application_id: &str,
        active: bool,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let operation = format!(
            "{} service principal {application_id}",
            activation_verb(active)
        );
        let url = self.resource_url("ServicePrincipals", id);
        self.patch_active(&operation, &url, active, requests).await
    }

    /// Deletes a service principal from the workspace. One that is not there (404) counts as deleted.
    ///
    /// # Errors
    /// The workspace refused.
    pub async fn delete_service_principal(
        &self,
        id: &str,
        application_id: &str,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let operation = format!("removing service principal {application_id}");
        let url = self.resource_url("ServicePrincipals", id);
        self.delete(&operation, &url, requests).await
    }
}
