//! What an identity-federated workspace's own SCIM API does at the account: a workspace-level `POST
//! Users` or `POST ServicePrincipals` adds the principal to the account ("Workspace admins can add
//! users, groups, and service principals to the Databricks account using workspace-level SCIM APIs",
//! archive/workspace-level-scim) and assigns it to the workspace, as [`AccountLink`] describes. The
//! account's principal with that user name or application id is taken when there is one; else a new one
//! is made from the body (`userName`/`applicationId`, `displayName`, `externalId` checked as the
//! account checks it, `active`, and for a user `emails` and `name`). The link holds the account weakly:
//! the account holds the workspace.

use std::sync::{Arc, Weak};

use crate::scim::error::ScimError;
use crate::scim::federation::AccountLink;
use crate::scim::store::{ServicePrincipal, User};

use super::resources::check_external_id;
use super::state::{AccountServicePrincipal, AccountUser, Permission, State};
use super::{Account, Shared};

pub(crate) struct WorkspaceLink {
    account: Weak<Shared>,
    workspace_id: u64,
}

impl WorkspaceLink {
    pub(crate) fn new(account: &Account, workspace_id: u64) -> Arc<WorkspaceLink> {
        Arc::new(WorkspaceLink {
            account: Arc::downgrade(&account.shared),
            workspace_id,
        })
    }

    /// Under the account's lock: `check`, the principal `principal` finds or makes, its assignment to
    /// the workspace (`USER` unless it has one), and the federation of the change.
    fn add(
        &self,
        check: &dyn Fn() -> Result<(), ScimError>,
        principal: impl FnOnce(&mut State) -> Result<String, ScimError>,
    ) -> Option<Result<String, ScimError>> {
        let account = Account {
            shared: self.account.upgrade()?,
        };
        let mut state = account.state();
        state.workspaces.get(&self.workspace_id)?.scim.as_ref()?;
        let added = check().and_then(|()| principal(&mut state));
        if let (Ok(id), Some(workspace)) = (&added, state.workspaces.get_mut(&self.workspace_id)) {
            (workspace.assignments.entry(id.clone())).or_insert(Permission::User);
            account.federate(&state);
        }
        Some(added)
    }
}

impl AccountLink for WorkspaceLink {
    fn add_user(
        &self,
        wanted: &User,
        check: &dyn Fn() -> Result<(), ScimError>,
    ) -> Option<Result<String, ScimError>> {
        self.add(check, |state| {
            if let Some(user) = state.user_named(&wanted.user_name) {
                return Ok(user.id.clone());
            }
            check_external_id(wanted.external_id.as_deref())?;
            let id = state.new_id();
            state.users.insert(AccountUser {
                id: id.clone(),
                user_name: wanted.user_name.to_lowercase(),
                display_name: wanted.display_name.clone(),
                name: wanted.name.clone(),
                emails: wanted.emails.clone(),
                external_id: wanted.external_id.clone(),
                active: wanted.active,
                roles: Vec::new(),
            });
            Ok(id)
        })
    }

    fn add_service_principal(
        &self,
        wanted: &ServicePrincipal,
        check: &dyn Fn() -> Result<(), ScimError>,
    ) -> Option<Result<String, ScimError>> {
        self.add(check, |state| {
            if let Some(sp) = state.service_principal_for(&wanted.application_id) {
                return Ok(sp.id.clone());
            }
            check_external_id(wanted.external_id.as_deref())?;
            let id = state.new_id();
            state.service_principals.insert(AccountServicePrincipal {
                id: id.clone(),
                application_id: wanted.application_id.clone(),
                display_name: wanted.display_name.clone(),
                external_id: wanted.external_id.clone(),
                active: wanted.active,
                roles: Vec::new(),
            });
            Ok(id)
        })
    }
}
