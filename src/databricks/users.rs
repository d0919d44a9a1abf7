//! `/Users`: the workspace's users as listed ([`ScimUser`], keyed by `userName`), and their listing with
//! each name shared across the run. Every request is the one principal path's (`principals.rs`:
//! `scim.principals(PrincipalKind::User)`).

use std::sync::Arc;

use serde::Deserialize;

use super::principals::active_default;
use super::{ExternalId, Scim, ScimError, ScimId};
use crate::http::Requests;
use crate::principal::PrincipalKind;

/// A workspace user as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub id: ScimId,
    /// Shared (`Arc`): the sync keys principals by it, and one name is in several workspaces.
    pub user_name: Arc<str>,
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
    /// Every user of the workspace (`id`, `userName`, `active`, `externalId`); each user name is passed
    /// through `share` as its page is read (a run keeps one copy of each name).
    ///
    /// # Errors
    /// The list could not be read to the end; a partial list is never returned.
    pub async fn list_users(
        &self,
        requests: &Requests,
        share: &(dyn Fn(&Arc<str>) -> Arc<str> + Sync),
    ) -> Result<Vec<ScimUser>, ScimError> {
        let keep = |mut user: ScimUser| {
            user.user_name = share(&user.user_name);
            user
        };
        self.principals(PrincipalKind::User)
            .list(requests, keep)
            .await
    }
}
