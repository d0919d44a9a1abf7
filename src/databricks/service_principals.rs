//! `/ServicePrincipals`: Entra applications known to the workspace as listed ([`ScimServicePrincipal`],
//! keyed by `applicationId`, the Entra `appId`), and their listing. Every request is the one principal
//! path's (`principals.rs`: `scim.principals(PrincipalKind::ServicePrincipal)`).

use serde::Deserialize;

use super::principals::active_default;
use super::{ExternalId, Scim, ScimError, ScimId};
use crate::http::Requests;
use crate::principal::PrincipalKind;

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
    /// At the account: `roles` holds `account_admin` (listed only there: `Principals::list`).
    #[serde(
        default,
        rename = "roles",
        deserialize_with = "super::principals::account_admin"
    )]
    pub account_admin: bool,
}

impl Scim {
    /// Every service principal of the workspace (`id`, `applicationId`, `displayName`, `active`,
    /// `externalId`).
    ///
    /// # Errors
    /// The list could not be read to the end; a partial list is never returned.
    pub async fn list_service_principals(
        &self,
        requests: &Requests,
    ) -> Result<Vec<ScimServicePrincipal>, ScimError> {
        self.principals(PrincipalKind::ServicePrincipal)
            .list(requests, |sp| sp)
            .await
    }
}
