//! What the SCIM calls are authorised with: a workspace-admin PAT from Key Vault, or the app's own Entra
//! token for Azure Databricks. Also how a 401 or 403 is explained, naming the credential but never
//! holding or showing its value.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use secrecy::SecretString;

use super::{Level, ScimError};
use crate::http::ApiError;

/// The Entra ID scope of Azure Databricks (its well-known application id), in every cloud.
pub const DATABRICKS_SCOPE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";

/// What a PAT's owner lacks when the workspace answers 403.
const PAT_NEEDS: &str = "the token's user (or service principal) must be a workspace admin: add it to the \
    workspace's `admins` group (workspace admin settings, Identity and access, Groups, admins), or store a \
    workspace admin's token in the Key Vault secret";

/// What the app's managed identity lacks when the workspace answers 403.
const IDENTITY_NEEDS: &str = "the app's managed identity must be added to the workspace as a service \
    principal (its application id, admin settings, Identity and access, Service principals) and be a member \
    of the workspace's `admins` group (docs/deploy.md, \"Or: no token at all\")";

/// What the app's managed identity lacks when the Databricks account answers 403.
const ACCOUNT_NEEDS: &str = "the app's managed identity must be added to the Databricks account as a \
    service principal (account console, User management, Service principals, Add, Microsoft Entra ID \
    managed, its client id) and hold the account admin role (its Roles tab) (docs/deploy.md)";

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
    pub(super) fn refusal(&self, error: ApiError, level: Level) -> ScimError {
        let (credential, hint, needs) = match (self, level) {
            (_, Level::Account) => (
                "the app's managed identity",
                "is it added to the Databricks account as a service principal with the account admin role?",
                ACCOUNT_NEEDS,
            ),
            (Bearer::Pat(_), Level::Workspace) => (
                "the token from Key Vault",
                "expired, revoked or for another workspace?",
                PAT_NEEDS,
            ),
            (Bearer::Entra(_), Level::Workspace) => (
                "the app's managed identity",
                "is it added to the workspace as a service principal with workspace admin rights?",
                IDENTITY_NEEDS,
            ),
        };
        match error.status() {
            Some(401) => ScimError::Unauthorized {
                level,
                credential,
                hint,
                source: error,
            },
            Some(403) => ScimError::Forbidden {
                level,
                credential,
                needs,
                source: error,
            },
            _ => ScimError::Api(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16) -> ApiError {
        ApiError::Status {
            operation: "listing workspace users".to_owned(),
            status,
            code: None,
            message: "User is not a workspace admin.".to_owned(),
            request_id: None,
            attempts: 1,
        }
    }

    #[test]
    fn a_403_to_a_pat_names_the_workspace_admin_role_and_where_to_grant_it_never_the_token() {
        let token = "dapi0123456789abcdef0123456789abcdef";
        let error = Bearer::Pat(SecretString::from(token)).refusal(refused(403), Level::Workspace);
        let words = error.to_string();
        assert!(matches!(error, ScimError::Forbidden { .. }), "{words}");
        crate::testing::assert_says(
            &words,
            &[
                "the token from Key Vault",
                "HTTP 403",
                "User is not a workspace admin.",
                "must be a workspace admin",
                "`admins` group",
                "Identity and access",
            ],
        );
        assert!(!words.contains(&token[..12]), "{words}");
    }

    #[test]
    fn a_403_to_the_managed_identity_says_to_add_it_as_a_service_principal_in_admins() {
        #[derive(Debug)]
        struct NoToken;
        #[async_trait::async_trait]
        impl TokenCredential for NoToken {
            async fn get_token(
                &self,
                _: &[&str],
                _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
            ) -> azure_core::Result<azure_core::credentials::AccessToken> {
                Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    "not in a test",
                ))
            }
        }
        let words = Bearer::Entra(Arc::new(NoToken))
            .refusal(refused(403), Level::Workspace)
            .to_string();
        crate::testing::assert_says(
            &words,
            &[
                "the app's managed identity",
                "HTTP 403",
                "added to the workspace as a service principal",
                "member of the workspace's `admins` group",
            ],
        );
        // Other refusals keep their own words.
        assert!(matches!(
            Bearer::Pat(SecretString::from("x")).refusal(refused(500), Level::Workspace),
            ScimError::Api(_)
        ));
    }

    #[test]
    fn a_refusal_by_the_account_names_the_account_admin_role_and_where_to_grant_it() {
        let bearer = Bearer::Pat(SecretString::from("a-token-of-the-identity"));
        let forbidden = bearer.refusal(refused(403), Level::Account).to_string();
        crate::testing::assert_says(
            &forbidden,
            &[
                "the app's managed identity",
                "in this Databricks account",
                "HTTP 403",
                "added to the Databricks account as a service principal",
                "account admin role",
            ],
        );
        let unauthorized = bearer.refusal(refused(401), Level::Account).to_string();
        crate::testing::assert_says(
            &unauthorized,
            &[
                "the Databricks account refused",
                "HTTP 401",
                "account admin role",
            ],
        );
        assert!(!format!("{forbidden}{unauthorized}").contains("a-token-of"));
    }
}
