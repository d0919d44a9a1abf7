//! The engine's first step: everything a workspace's plan needs, read before anything is written. The
//! run's token check, the workspace's bearer (its PAT from Key Vault, or the app's Entra token), its
//! configured groups' members from Graph (`groups.rs`; each read once per run through the run's
//! [`Memo`]s), the desired principals and mirrored groups they make, the workspace as it is
//! (`current.rs`) and the policy. Any read that fails fails the workspace ([`SyncError`]) before its first write.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::current::read_workspace;
use super::desired::{Desired, Incomplete, Names, Principals, Skipped, desired_users_in};
use super::engine::AzureRun;
use super::errors::{NamingError, SignInError, SyncError};
use super::groups::{GroupMembers, Unsettled};
use super::lifecycle::WorkspaceMemory;
use super::plan::{Current, DesiredGroup, Policy, RemovalHold};
use super::report::WorkspaceReport;
use crate::auth::check_token;
use crate::config::{SecretUrl, SyncOptions, Workspace, WorkspaceAuth};
use crate::databricks::{Bearer, Scim};
use crate::http::{Api, Requests};
use crate::keyvault::SecretError;

#[cfg(doc)]
use super::memo::Memo;

/// What a workspace's plan is made from.
pub struct Gathered {
    pub scim: Scim,
    pub desired: Desire,
    pub current: Current,
    pub policy: Policy,
}

/// The workspace's desired principals and mirrored groups, with what the report counts of them.
pub struct Desire {
    pub principals: Principals,
    pub groups: Vec<DesiredGroup>,
    pub users: usize,
    pub service_principals: usize,
    /// Members that make no principal, and why.
    pub skipped: Vec<Skipped>,
}

impl AzureRun {
    /// Reads what the workspace's plan needs; the groups read go into `report` as soon as they are.
    ///
    /// # Errors
    /// The first read that failed, or a mirrored group's name the sync must not use.
    pub(super) async fn gather(
        &self,
        workspace: &Workspace,
        requests: &Requests,
        report: &mut WorkspaceReport,
        memory: &mut WorkspaceMemory<'_>,
    ) -> Result<Gathered, SyncError> {
        self.sign_in().await?;
        let bearer = self.bearer(workspace, requests).await?;
        let entra = self.read_groups(workspace, requests).await?;
        report.groups = entra.reports;
        let desired = self
            .desire(workspace, entra.members, entra.mirrored, memory)
            .await?;
        let options = &workspace.options;
        let scim = self.workspace_scim(workspace, bearer);
        let names = &self.memory.names;
        let current = read_workspace(&scim, options, &desired.groups, requests, names).await?;
        let policy = self.policy(options, &entra.incomplete, &entra.unsettled);
        Ok(Gathered {
            scim,
            desired,
            current,
            policy,
        })
    }

    /// The workspace's own SCIM client, called with `bearer`, at the workspace's pace.
    pub(super) fn workspace_scim(&self, workspace: &Workspace, bearer: Bearer) -> Scim {
        let rate = workspace.options.scim_requests_per_second;
        Scim::new(self.client.clone(), &workspace.instance, bearer, rate)
    }

    /// Whether the credential gives tokens at all: checked once per run, before any service is called.
    pub(super) async fn sign_in(&self) -> Result<(), SignInError> {
        let check = || async {
            check_token(&self.credential, &self.identity, self.graph.scope())
                .await
                .map_err(SignInError)
        };
        self.signed_in.get_or((), check).await
    }

    /// What the workspace is called with: its PAT from Key Vault (read once per run per secret), or
    /// the app's own Entra token.
    pub(super) async fn bearer(
        &self,
        workspace: &Workspace,
        requests: &Requests,
    ) -> Result<Bearer, SecretError> {
        match &workspace.auth {
            WorkspaceAuth::ManagedIdentity => Ok(Bearer::Entra(Arc::clone(&self.credential))),
            WorkspaceAuth::Pat(url) => {
                let token = self.pat(url, requests).await?;
                let token = token.expose_secret().to_owned();
                Ok(Bearer::Pat(SecretString::from(token)))
            }
        }
    }

    async fn pat(
        &self,
        url: &SecretUrl,
        requests: &Requests,
    ) -> Result<Arc<SecretString>, SecretError> {
        let read = || async {
            requests.add(Api::KeyVault, 1);
            self.secrets.read(url).await.map(Arc::new)
        };
        self.tokens.get_or(url.to_string(), read).await
    }

    /// The workspace's desired principals and mirrored groups, made in the workspace's turn
    /// ([`WorkspaceMemory`]), after which it needs no group member.
    pub(super) async fn desire(
        &self,
        workspace: &Workspace,
        members: Vec<GroupMembers>,
        mirrored: Vec<(String, GroupMembers)>,
        memory: &mut WorkspaceMemory<'_>,
    ) -> Result<Desire, NamingError> {
        memory.members_gathered().await;
        let names = &self.memory.names;
        let mut desired = desired_of(&members, &workspace.options, names);
        let groups = desired_groups(mirrored, &desired, workspace, names)?;
        memory.desired_made(members);
        let (users, service_principals) = (desired.users.len(), desired.service_principals.len());
        let skipped = std::mem::take(&mut desired.skipped);
        let principals = desired.into_principals();
        memory.principals_made();
        Ok(Desire {
            principals,
            groups,
            users,
            service_principals,
            skipped,
        })
    }

    pub(super) fn policy(
        &self,
        options: &SyncOptions,
        incomplete: &Incomplete,
        unsettled: &Unsettled,
    ) -> Policy {
        Policy {
            managed_group: options.managed_group.clone(),
            deprovision: options.deprovision,
            max_deprovision: options.max_deprovision,
            allow_deprovision: self.run.allow_deprovision,
            // Members Graph could not show make the read incomplete: nothing is removed on it. A
            // count Graph's listing fell short of, twice: removals wait for a read that agrees.
            hold_removals: RemovalHold::of(incomplete.reason(), unsettled.reason()),
        }
    }
}

/// The workspace groups that mirror the configured Entra groups: each group's members that are desired
/// principals of the workspace, and the workspace's entitlements. A name that would change a group the
/// sync must not own (the marker group, `admins`, `users`) is an error.
fn desired_groups(
    mirrored: Vec<(String, GroupMembers)>,
    desired: &Desired,
    workspace: &Workspace,
    names: &Names,
) -> Result<Vec<DesiredGroup>, NamingError> {
    let mut groups: Vec<DesiredGroup> = Vec::new();
    for (name, members) in mirrored {
        let reserved = [workspace.options.managed_group.as_str(), "admins", "users"];
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
            return Err(NamingError::Reserved { name });
        }
        if groups.iter().any(|g| g.name.eq_ignore_ascii_case(&name)) {
            return Err(NamingError::Twice { name });
        }
        let members = desired_of([&members], &workspace.options, names)
            .into_principals()
            .into_keys()
            .filter(|key| desired.contains(key))
            .collect();
        groups.push(DesiredGroup {
            name,
            members,
            entitlements: workspace.options.entitlements.clone(),
        });
    }
    Ok(groups)
}

/// The principals some groups' members make, under the workspace's options.
fn desired_of<'a>(
    groups: impl IntoIterator<Item = &'a GroupMembers> + Clone,
    options: &SyncOptions,
    names: &Names,
) -> Desired {
    let users = groups
        .clone()
        .into_iter()
        .flat_map(|g| g.users.items.iter());
    let mut desired = desired_users_in(users, options, names);
    if options.include_service_principals {
        let service_principals = groups
            .into_iter()
            .flat_map(|g| g.service_principals.items.iter());
        desired.add_service_principals(service_principals, options);
    }
    desired
}
