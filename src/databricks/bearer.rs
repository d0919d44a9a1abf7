//! What the SCIM calls are authorised with: a workspace-admin PAT from Key Vault, or the app's own Entra
//! token for Azure Databricks. Also how a 401 or 403 is explained, naming the credential but never
//! holding or showing its value.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use secrecy::SecretString;

use super::ScimError;
use crate::http::ApiError;

/// The Entra ID scope of Azure Databricks (its well-known application id), in every cloud.
pub const DATABRICKS_SCOPE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";

/// What the SCIM calls are authorised with.
pub enum Bearer {
    /// A workspace-admin personal access token (read from Key Vault).
    Pat(SecretString),
    /// An Entra token of the app's identity for Azure Databricks; fetched per call (the credential caches it).
    Entra(Arc<dyn TokenCredential>),
}

impl Bearer {
    pub(super) async fn value(&self) -> Result<SecretString, ScimError> {
        match self {
            Bearer::Pat(token) => Ok(token.clone()),
            Bearer::Entra(credential) => credential
                .get_token(&[DATABRICKS_SCOPE], None)
                .await
                .map(|t| SecretString::from(t.token.secret().to_owned()))
                .map_err(|e| ScimError::Token(crate::auth::causes(&e))),
        }
    }

    /// How a refusal is explained: who was refused, and the likely cause.
    pub(super) fn refusal(&self, error: ApiError) -> ScimError {
        let (credential, hint) = match self {
            Bearer::Pat(_) => (
                "the token from Key Vault",
                "expired, revoked or for another workspace?",
            ),
            Bearer::Entra(_) => (
                "the app's managed identity",
                "is it added to the workspace as a service principal with workspace admin rights?",
            ),
        };
        match error.status() {
            Some(401) => ScimError::Unauthorized {
                credential,
                hint,
                source: error,
            },
            Some(403) => ScimError::Forbidden {
                credential,
                source: error,
            },
            _ => ScimError::Api(error),
        }
    }
}
